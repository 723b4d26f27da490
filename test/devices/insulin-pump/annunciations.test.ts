// Tests of the pump's annunciations: Pending → Snoozed → re-raised exactly on the virtual clock →
// Confirmed, the reported one, refusals, and survival of reboots and power cuts (ids.md §1.3, §7). Not the codec.

import { describe, expect, it } from 'vitest';
import { KW31Z_SECTOR_BYTES, Kw31zFlash, PowerCutError } from '../../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { RING_LOGS, STORE_KEYS } from '../../../src/firmware/store-keys.ts';
import { World } from '../../../src/sim/world.ts';
import { RecordStore } from '../../../src/storage/record-store.ts';
import {
  ANNUNCIATION_STATUS_CODES,
  ANNUNCIATION_TYPES,
  Annunciations,
  decodeAnnunciations,
  encodeAnnunciations,
  type AnnunciationChange,
} from '../../../devices/insulin-pump/annunciations.ts';

const S = 1_000_000;
const SNOOZE_US = 300 * S;

function rig() {
  const world = new World({ seed: 6 });
  const flash = new Kw31zFlash({ device: 'pump', ledger: new Kw31zLedger('pump', () => world.nowUs), sizeBytes: 3 * KW31Z_SECTOR_BYTES });
  const changes: Array<AnnunciationChange & { atUs: number }> = [];
  const boot = () => {
    const store = RecordStore.open(flash, { firstSector: 0, sectorCount: 3, ringLogs: RING_LOGS });
    if (!store.ok) throw new Error(store.code);
    return { store: store.value, ann: new Annunciations({ store: store.value, alarm: world.alarm(), snoozeUs: SNOOZE_US, onChange: (c) => changes.push({ ...c, atUs: world.nowUs }) }) };
  };
  return { world, flash, changes, boot };
}

describe('annunciation lifecycle (ids.md §7 Snooze / Confirm)', () => {
  it('raises Pending, snoozes, re-raises exactly after the snooze time, confirms', () => {
    const { world, changes, boot } = rig();
    const { ann } = boot();
    world.runUntil(10 * S);
    const raised = ann.raise('occlusionDetected');
    if (!raised.ok) throw new Error(raised.code);
    const id = raised.value.instanceId;
    expect(raised.value).toMatchObject({ status: 'pending', type: 'occlusionDetected' });
    expect(ann.current()?.instanceId).toBe(id);
    world.runUntil(20 * S);
    expect(ann.snooze(id)).toMatchObject({ ok: true, value: { status: 'snoozed', snoozedUntilUs: 20 * S + SNOOZE_US } });
    world.runUntil(20 * S + SNOOZE_US - 1);
    expect(ann.get(id)?.status).toBe('snoozed');
    world.runUntil(20 * S + SNOOZE_US);
    expect(ann.get(id)?.status).toBe('pending');
    expect(ann.confirm(id)).toMatchObject({ ok: true });
    expect(ann.current()).toBeUndefined();
    expect(changes.map((c) => [c.cause, c.annunciation.status, c.atUs])).toEqual([
      ['raised', 'pending', 10 * S],
      ['snoozed', 'snoozed', 20 * S],
      ['re-raised', 'pending', 20 * S + SNOOZE_US],
      ['confirmed', 'confirmed', 20 * S + SNOOZE_US],
    ]);
    expect(world.scheduler.pending).toBe(0);
  });

  it('a confirm during the snooze cancels the re-raise', () => {
    const { world, changes, boot } = rig();
    const { ann } = boot();
    const id = (ann.raise('reservoirLow') as { value: { instanceId: number } }).value.instanceId;
    ann.snooze(id);
    world.runFor(S);
    ann.confirm(id);
    world.runFor(2 * SNOOZE_US);
    expect(changes.map((c) => c.cause)).toEqual(['raised', 'snoozed', 'confirmed']);
  });

  it('snoozing again restarts the snooze time', () => {
    const { world, boot } = rig();
    const { ann } = boot();
    const id = (ann.raise('batteryLow') as { value: { instanceId: number } }).value.instanceId;
    ann.snooze(id);
    world.runFor(100 * S);
    ann.snooze(id);
    world.runFor(SNOOZE_US - 1);
    expect(ann.get(id)?.status).toBe('snoozed');
    world.runFor(1);
    expect(ann.get(id)?.status).toBe('pending');
  });

  it.each<[string, (a: Annunciations, id: number) => unknown, string]>([
    ['snooze an unknown ID', (a) => a.snooze(999), 'procedure-not-applicable'],
    ['confirm an unknown ID', (a) => a.confirm(999), 'procedure-not-applicable'],
    ['confirm twice', (a, id) => (a.confirm(id), a.confirm(id)), 'procedure-not-applicable'],
    ['snooze a confirmed one', (a, id) => (a.confirm(id), a.snooze(id)), 'procedure-not-applicable'],
    ['snooze a non-u16 ID', (a) => a.snooze(0x10000), 'invalid-operand'],
    ['raise with too much AuxInfo', (a) => a.raise('systemIssue', [1, 2, 3, 4, 5, 6]), 'invalid-operand'],
    ['raise with AuxInfo beyond u16', (a) => a.raise('systemIssue', [0x10000]), 'invalid-operand'],
    ['raise an unknown type', (a) => a.raise('nope' as never), 'invalid-operand'],
  ])('refuses to %s', (_, act, code) => {
    const { boot } = rig();
    const { ann } = boot();
    const id = (ann.raise('occlusionDetected') as { value: { instanceId: number } }).value.instanceId;
    expect(act(ann, id)).toMatchObject({ ok: false, code });
  });

  it('reports Pending before Snoozed, then by priority (occlusion over reservoir low), then oldest', () => {
    const { boot } = rig();
    const { ann } = boot();
    const low = (ann.raise('reservoirLow') as { value: { instanceId: number } }).value.instanceId;
    const occ = (ann.raise('occlusionDetected') as { value: { instanceId: number } }).value.instanceId;
    expect(ann.current()?.instanceId).toBe(occ);
    ann.snooze(occ);
    expect(ann.current()?.instanceId).toBe(low);
    expect(ann.active().map((a) => a.type)).toEqual(['reservoirLow', 'occlusionDetected']);
  });

  it('keeps one per type, and never reuses an Instance ID', () => {
    const { boot } = rig();
    const { ann } = boot();
    const a = ann.raise('occlusionDetected');
    const b = ann.raise('occlusionDetected');
    expect(a.ok && b.ok && a.value.instanceId === b.value.instanceId).toBe(true);
    const ids = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const r = ann.raise('tbrOver');
      if (!r.ok) throw new Error(r.code);
      ids.add(r.value.instanceId);
      ann.confirm(r.value.instanceId);
    }
    expect(ids.size).toBe(20);
    expect(ids.has(a.ok ? a.value.instanceId : -1)).toBe(false);
  });

  it('uses the IDS values (ids.md §5)', () => {
    expect(ANNUNCIATION_STATUS_CODES).toEqual({ pending: 0x33, snoozed: 0x3c, confirmed: 0x55 });
    expect(ANNUNCIATION_TYPES).toMatchObject({ occlusionDetected: 0x003c, reservoirEmpty: 0x005a, reservoirLow: 0x0066, batteryLow: 0x00c3, tbrOver: 0x0330 });
  });
});

describe('annunciations across reboots', () => {
  it('keeps unconfirmed ones, re-arms the snooze to its original deadline, and numbers on', () => {
    const { world, changes, boot } = rig();
    const first = boot().ann;
    const occ = (first.raise('occlusionDetected', [0x0102]) as { value: { instanceId: number } }).value.instanceId;
    const low = (first.raise('reservoirLow') as { value: { instanceId: number } }).value.instanceId;
    const conf = (first.raise('batteryMedium') as { value: { instanceId: number } }).value.instanceId;
    first.confirm(conf);
    world.runUntil(50 * S);
    first.snooze(low);
    const deadlineUs = 50 * S + SNOOZE_US;
    first.stop(); // power off: RAM and timers gone
    world.runUntil(100 * S);
    const { ann } = boot();
    expect(ann.boot).toEqual({ source: 'restored' });
    expect(ann.active()).toEqual([
      { instanceId: occ, type: 'occlusionDetected', status: 'pending', snoozedUntilUs: 0, auxInfo: [0x0102] },
      { instanceId: low, type: 'reservoirLow', status: 'snoozed', snoozedUntilUs: deadlineUs, auxInfo: [] },
    ]);
    changes.length = 0;
    world.runUntil(deadlineUs - 1);
    expect(ann.get(low)?.status).toBe('snoozed');
    world.runUntil(deadlineUs);
    expect(ann.get(low)?.status).toBe('pending');
    expect(changes.map((c) => [c.cause, c.atUs])).toEqual([['re-raised', deadlineUs]]);
    const next = ann.raise('batteryLow');
    expect(next.ok && next.value.instanceId).toBe(conf + 1);
  });

  it('re-raises at boot a snooze whose time passed while the pump was off', () => {
    const { world, boot } = rig();
    const first = boot().ann;
    const id = (first.raise('reservoirEmpty') as { value: { instanceId: number } }).value.instanceId;
    first.snooze(id);
    first.stop();
    world.runFor(2 * SNOOZE_US);
    const { ann } = boot();
    world.runFor(0);
    expect(ann.get(id)?.status).toBe('pending');
  });

  it('bounds a snooze that a restarted clock would stretch, so it never lasts longer than the snooze time', () => {
    const { world, flash, boot } = rig();
    world.runUntil(10_000 * S);
    const first = boot().ann;
    const id = (first.raise('reservoirLow') as { value: { instanceId: number } }).value.instanceId;
    first.snooze(id);
    first.stop();
    // A new chip clock from 0, same flash.
    const world2 = new World({ seed: 6 });
    const store = RecordStore.open(flash, { firstSector: 0, sectorCount: 3, ringLogs: RING_LOGS });
    if (!store.ok) throw new Error(store.code);
    const ann = new Annunciations({ store: store.value, alarm: world2.alarm(), snoozeUs: SNOOZE_US });
    expect(ann.get(id)?.snoozedUntilUs).toBe(SNOOZE_US);
    world2.runUntil(SNOOZE_US);
    expect(ann.get(id)?.status).toBe('pending');
  });

  it('raises System Issue when the record cannot be read, rather than showing nothing', () => {
    const { boot } = rig();
    const { store } = boot();
    store.put(STORE_KEYS.pumpAnnunciations, new Uint8Array([7, 7]));
    const { ann } = boot();
    expect(ann.boot).toMatchObject({ source: 'corrupt', code: 'length' });
    expect(ann.current()?.type).toBe('systemIssue');
  });

  it('a power cut at every flash operation of raise / snooze / confirm leaves the old state or the new one', () => {
    const world = new World({ seed: 9 });
    const SECTORS = 3;
    const newFlash = () => new Kw31zFlash({ device: 'pump', ledger: new Kw31zLedger('pump', () => world.nowUs), sizeBytes: SECTORS * KW31Z_SECTOR_BYTES });
    const bootOn = (f: Kw31zFlash) => {
      const store = RecordStore.open(f, { firstSector: 0, sectorCount: SECTORS, ringLogs: RING_LOGS });
      if (!store.ok) throw new Error(store.code);
      return new Annunciations({ store: store.value, alarm: world.alarm(), snoozeUs: SNOOZE_US });
    };
    const flashWith = (image: Uint8Array) => {
      const f = newFlash();
      for (let s = 0; s < SECTORS; s++) {
        const r = f.program(s * KW31Z_SECTOR_BYTES, image.subarray(s * KW31Z_SECTOR_BYTES, (s + 1) * KW31Z_SECTOR_BYTES));
        if (!r.ok) throw new Error(r.code);
      }
      return f;
    };
    const ops: Array<(a: Annunciations) => void> = [];
    for (let i = 0; i < 40; i++) {
      ops.push((a) => void a.raise(i % 2 === 0 ? 'occlusionDetected' : 'batteryLow', [i]));
      ops.push((a) => void a.snooze(a.active()[0]?.instanceId ?? 1));
      if (i % 3 !== 0) ops.push((a) => void a.confirm(a.active().at(-1)?.instanceId ?? 1));
    }
    const flash = newFlash();
    let ann = bootOn(flash);
    let cuts = 0;
    let sawOld = 0;
    let sawNew = 0;
    for (const op of ops) {
      world.runFor(S);
      const image = flash.read(0, flash.geometry.sizeBytes);
      if (!image.ok) throw new Error('read');
      const before = JSON.stringify(ann.active());
      const n0 = flash.opsCount;
      op(ann);
      const n = flash.opsCount - n0;
      const after = JSON.stringify(ann.active());
      for (let k = 0; k <= n; k++) {
        const f = flashWith(image.value);
        const a = bootOn(f);
        expect(JSON.stringify(a.active())).toBe(before);
        f.armPowerCut(k);
        if (k < n) expect(() => op(a)).toThrow(PowerCutError);
        else op(a);
        a.stop();
        f.restorePower();
        const seen = JSON.stringify(bootOn(f).active());
        if (seen !== before && seen !== after) throw new Error(`cut after ${k} of ${n}: ${seen}, expected ${before} or ${after}`);
        // The record's commit word is the last flash operation: before it, the old state; after, the new.
        expect(seen).toBe(k < n ? before : after);
        if (seen === before && before !== after) sawOld += 1;
        if (seen === after && before !== after) sawNew += 1;
        cuts += 1;
      }
      ann.stop();
      ann = bootOn(flash); // and an ordinary reboot keeps the new state
      expect(JSON.stringify(ann.active())).toBe(after);
    }
    expect(flash.eraseCounts().some((c) => c > 0)).toBe(true); // cuts inside garbage collection too
    expect(sawOld).toBeGreaterThan(0);
    expect(sawNew).toBeGreaterThan(0);
    expect(cuts).toBeGreaterThan(150);
  });
});

describe('annunciations record encoding', () => {
  it('round-trips and refuses malformed records', () => {
    const state = { nextInstanceId: 9, active: [{ instanceId: 3, type: 'occlusionDetected' as const, status: 'snoozed' as const, snoozedUntilUs: 5, auxInfo: [1, 2] }] };
    const bytes = encodeAnnunciations(state);
    expect(decodeAnnunciations(bytes)).toEqual({ ok: true, value: state });
    expect(decodeAnnunciations(bytes.subarray(0, bytes.length - 1))).toMatchObject({ ok: false, code: 'length' });
    const badStatus = bytes.slice();
    badStatus[8] = 0x55; // Confirmed is never stored
    expect(decodeAnnunciations(badStatus)).toMatchObject({ ok: false, code: 'value' });
    const badVersion = bytes.slice();
    badVersion[0] = 2;
    expect(decodeAnnunciations(badVersion)).toMatchObject({ ok: false, code: 'version' });
  });
});

