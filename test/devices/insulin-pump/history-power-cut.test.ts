// A power cut at every flash program/erase boundary of a history append (ring garbage collection
// included): after the reboot the appended group is wholly there or absent, and numbering goes on. Not RACP tests.

import { describe, expect, it } from 'vitest';
import { KW31Z_SECTOR_BYTES, Kw31zFlash, PowerCutError } from '../../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { RING_LOGS } from '../../../src/firmware/store-keys.ts';
import { RecordStore } from '../../../src/storage/record-store.ts';
import { History, type HistoryEvent } from '../../../devices/insulin-pump/history.ts';

const SECTORS = 3;
const US_PER_S = 1_000_000;

function newFlash(clock: { nowUs(): number }): Kw31zFlash {
  return new Kw31zFlash({ device: 'pump', ledger: new Kw31zLedger('pump', () => clock.nowUs()), sizeBytes: SECTORS * KW31Z_SECTOR_BYTES });
}

function boot(flash: Kw31zFlash, clock: { nowUs(): number }): History {
  const store = RecordStore.open(flash, { firstSector: 0, sectorCount: SECTORS, ringLogs: RING_LOGS });
  if (!store.ok) throw new Error(store.code);
  return History.open({ store: store.value, clock });
}

function imageOf(flash: Kw31zFlash): Uint8Array {
  const r = flash.read(0, flash.geometry.sizeBytes);
  if (!r.ok) throw new Error('read');
  return r.value;
}

function flashWith(clock: { nowUs(): number }, image: Uint8Array): Kw31zFlash {
  const flash = newFlash(clock);
  for (let s = 0; s < SECTORS; s++) {
    const r = flash.program(s * KW31Z_SECTOR_BYTES, image.subarray(s * KW31Z_SECTOR_BYTES, (s + 1) * KW31Z_SECTOR_BYTES));
    if (!r.ok) throw new Error(`program: ${r.code}`);
  }
  return flash;
}

/** Single records and two-record groups, with time passing so periodic Reference Times come in. */
function groupAt(i: number): HistoryEvent[] {
  if (i % 3 === 2) {
    return [
      { type: 'bolusProgrammed1', bolusId: i, bolusType: 0x33, fastMilliunits: 1_000 + i, extendedMilliunits: 0, durationMin: 0 },
      { type: 'bolusProgrammed2', reasonFlags: 0x10 },
    ];
  }
  return [{ type: 'reservoirRemainingChanged', remainingMilliunits: 300_000 - i }];
}

interface Checkpoint {
  readonly i: number;
  readonly atUs: number;
  readonly image: Uint8Array;
  readonly before: number[];
  readonly after: number[];
  readonly nextBefore: number;
  readonly nextAfter: number;
  readonly ops: number;
  readonly collected: boolean;
}

describe('history power cut at every flash operation of an append', () => {
  it('leaves each appended group wholly there or absent, loses nothing the ring would keep, and numbers on', () => {
    let nowUs = 0;
    const clock = { nowUs: () => nowUs };
    const flash = newFlash(clock);
    let h = boot(flash, clock);
    const points: Checkpoint[] = [];
    const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
    for (let i = 0; i < 200; i++) {
      nowUs += 97 * US_PER_S;
      const image = imageOf(flash);
      const before = h.records().map((r) => r.seq);
      const nextBefore = h.nextSeq;
      const opsBefore = flash.opsCount;
      const erasesBefore = sum(flash.eraseCounts());
      const r = h.appendGroup(groupAt(i));
      if (!r.ok) throw new Error(r.code);
      points.push({
        i,
        atUs: nowUs,
        image,
        before,
        after: h.records().map((x) => x.seq),
        nextBefore,
        nextAfter: h.nextSeq,
        ops: flash.opsCount - opsBefore,
        collected: sum(flash.eraseCounts()) > erasesBefore,
      });
      h = i % 50 === 49 ? boot(flash, clock) : h; // a few clean reboots along the way
    }
    expect(points.filter((p) => p.collected).length).toBeGreaterThan(2);

    let cuts = 0;
    let absent = 0;
    let present = 0;
    for (const p of points) {
      for (let k = 0; k <= p.ops; k++) {
        nowUs = p.atUs;
        const f = flashWith(clock, p.image);
        const hist = boot(f, clock);
        expect(hist.nextSeq).toBe(p.nextBefore);
        f.armPowerCut(k);
        let cut = false;
        try {
          hist.appendGroup(groupAt(p.i));
        } catch (e) {
          if (!(e instanceof PowerCutError)) throw e;
          cut = true;
        }
        expect(cut).toBe(k < p.ops);
        f.restorePower();
        cuts += 1;

        const where = `append ${p.i}, cut after ${k} of ${p.ops} flash ops`;
        const rebooted = boot(f, clock);
        const seqs = rebooted.records().map((r) => r.seq);
        const added = p.after.filter((s) => s >= p.nextBefore);
        const got = seqs.filter((s) => s >= p.nextBefore);
        if (got.length === 0) {
          absent += 1;
          expect(rebooted.nextSeq, where).toBe(p.nextBefore);
        } else {
          present += 1;
          expect(got, where).toEqual(added); // the whole group, nothing else
          expect(rebooted.nextSeq, where).toBe(p.nextAfter);
        }
        if (k === p.ops) expect(got, where).toEqual(added);
        // Nothing lost that the uncut append kept; nothing that was not there before.
        const kept = p.after.filter((s) => s < p.nextBefore);
        for (const s of kept) expect(seqs, `${where}: seq ${s}`).toContain(s);
        for (const s of seqs.filter((x) => x < p.nextBefore)) expect(p.before, where).toContain(s);
        // The sequence goes on from whatever landed.
        const next = rebooted.appendGroup([{ type: 'primingStarted', programmedMilliunits: 1 }]);
        if (!next.ok) throw new Error(`${where}: ${next.code}`);
        expect(next.value[0], where).toBe(got.length === 0 ? p.nextBefore : p.nextAfter);
      }
    }
    expect(absent).toBeGreaterThan(0);
    expect(present).toBeGreaterThan(0);
    expect(cuts).toBeGreaterThan(600);
  });
});
