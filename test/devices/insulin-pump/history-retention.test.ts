// The pump's rings keep their retention on the pump's flash (issue 6): IDS history, audit log and delivery
// journal sharing one record store of the pump's size, run until the store has wrapped several times. Not RACP tests.

import { describe, expect, it } from 'vitest';
import { KW31Z_SECTOR_BYTES } from '../../../hal/kw31z/flash.ts';
import { History, type HistoryEvent } from '../../../devices/insulin-pump/history.ts';
import { PUMP_FLASH_BYTES } from '../../../scenarios/therapy/day-in-the-life.ts';
import { sha256 } from '../../../src/crypto/index.ts';
import { AuditLog, verifyAuditChain } from '../../../src/firmware/audit-log.ts';
import { AUDIT_KEEP_ENTRIES, PUMP_HISTORY_KEEP_ENTRIES, STORE_LOGS } from '../../../src/firmware/store-keys.ts';
import { must, pulsesOf, rig, startTherapy, US_PER_H, US_PER_S } from './delivery-fixtures.ts';

const SERIAL = 'PU000042';
/** The pump's record store: every sector of its flash but the last (the write-once area; index.ts). */
const STORE_SECTORS = PUMP_FLASH_BYTES / KW31Z_SECTOR_BYTES - 1;
/**
 * 2 U/h at 50 mU a pulse for 6 days: 40 pulses an hour, two journal entries of 128 bytes of flash
 * each, 288 U of a 300 U reservoir.
 */
const BASAL_MILLIUNITS_PER_HOUR = 2_000;
const HOURS = 144;
/** One history entry every 2 minutes (30 an hour, 4,320 in all), one audit record every 6 minutes (1,440). */
const HISTORY_EVERY_S = 120;
const AUDIT_EVERY_S = 360;

/** Events as the pump records them (index.ts), one per entry (the fewest records an entry holds). */
function eventAt(i: number): HistoryEvent {
  switch (i % 4) {
    case 0:
      return { type: 'bolusDelivered1', bolusId: i & 0xffff, bolusType: 0x33, deliveredFastMilliunits: 1_000 + i, deliveredExtendedMilliunits: 0, effectiveDurationMin: 0 };
    case 1:
      return { type: 'annunciationStatusChanged1', instanceId: i & 0xffff, annunciationType: 0x000f, status: 0x33 };
    case 2:
      return { type: 'therapyControlStateChanged', oldState: 0x33, newState: 0x3c };
    default:
      return { type: 'reservoirRemainingChanged', remainingMilliunits: 300_000 - i };
  }
}

describe('pump history retention on the pump flash', () => {
  it(`keeps ≥ ${PUMP_HISTORY_KEEP_ENTRIES} history records and ${AUDIT_KEEP_ENTRIES} audit records while the journal wraps the store, oldest gone first, across a reboot`, () => {
    const r = rig({ sectors: STORE_SECTORS, traceMotor: false });
    const clock = r.alarm;
    let history = History.open({ store: r.fw.store, clock });
    let audit = must(AuditLog.open({ store: r.fw.store, serial: SERIAL, hash: sha256, clock }));
    startTherapy(r.fw, { fillMilliUnits: 300_000, basalMilliUnitsPerHour: BASAL_MILLIUNITS_PER_HOUR });

    let appended = 0;
    let audited = 0;
    const startUs = r.world.nowUs;
    for (let s = 0; s < HOURS * 3_600; s += HISTORY_EVERY_S) {
      r.world.runFor(HISTORY_EVERY_S * US_PER_S);
      must(history.append(eventAt(appended++)));
      if ((s + HISTORY_EVERY_S) % AUDIT_EVERY_S === 0) {
        must(audit.append(0x0100, undefined, Uint8Array.of(audited & 0xff)));
        audited += 1;
      }
    }
    expect(r.world.nowUs - startUs).toBe(HOURS * US_PER_H);
    const store = r.fw.store;

    // The store went round several times: every sector erased at least 3 times.
    const erases = r.flash.eraseCounts().slice(0, STORE_SECTORS);
    expect(Math.min(...erases)).toBeGreaterThanOrEqual(3);
    // The journal did the churning: a pulse is two entries of 128 bytes of flash.
    const pulses = pulsesOf(r.fw.events).length;
    // 5,760 due; the last falls due at the very end of the run and is still stepping (see the reboot).
    expect(pulses).toBe((HOURS * BASAL_MILLIUNITS_PER_HOUR) / 50 - 1);
    // The retention fit: no ring entry was given up for room.
    expect(store.ringEntriesYielded).toBe(0);

    const check = (h: History) => {
      const records = h.records();
      const seqs = records.map((x) => x.seq);
      expect(records.length).toBeGreaterThanOrEqual(3_000);
      // Oldest gone first: the newest record is the last appended, and the run down from it has no gap.
      expect(seqs.at(-1)).toBe(h.nextSeq - 1);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
      // Appended: one record per event and 144 Reference Times (the first, at 120 s, then one an
      // hour after it: the 145th would fall 120 s after the end). The first records are gone.
      expect(h.nextSeq).toBe(appended + HOURS);
      expect(seqs[0]).toBeGreaterThan(0);
      // Everything the ring keeps is there: at least PUMP_HISTORY_KEEP_ENTRIES entries.
      expect(r.fw.store.readLog(STORE_LOGS.pumpHistory).length).toBeGreaterThanOrEqual(PUMP_HISTORY_KEEP_ENTRIES);
      // The newest record is the last event appended, with its values.
      expect(records.at(-1)!.event).toEqual(eventAt(appended - 1));
      return records;
    };
    const before = check(history);
    const auditBefore = store.readLog(STORE_LOGS.audit).map((e) => e.value);
    expect(auditBefore.length).toBeGreaterThanOrEqual(AUDIT_KEEP_ENTRIES);
    expect(audit.lastSeq).toBe(audited);

    // A reboot (power lost): the store, journal and engine come back from flash.
    r.reboot();
    history = History.open({ store: r.fw.store, clock });
    audit = must(AuditLog.open({ store: r.fw.store, serial: SERIAL, hash: sha256, clock }));
    expect(check(history)).toEqual(before);
    const auditAfter = r.fw.store.readLog(STORE_LOGS.audit).map((e) => e.value);
    expect(auditAfter).toEqual(auditBefore);
    // The audit chain verifies from its oldest kept record (the head the ring dropped is reported).
    const verified = verifyAuditChain(auditAfter, { serial: SERIAL, hash: sha256 });
    expect(verified).toMatchObject({ ok: true, count: auditAfter.length, headTruncated: { firstSeq: audited - auditAfter.length + 1 } });
    // Numbering goes on after the reboot.
    const nextSeq = history.nextSeq;
    expect(history.append(eventAt(appended))).toEqual({ ok: true, value: nextSeq });
    expect(must(audit.append(0x0100, undefined))).toBe(audited + 1);
    // The journal's newest entry (keep 1) is the intent of the pulse the reboot cut: completed
    // from the plunger, so the journal carries every pulse across the reboot.
    expect(r.fw.journal.reconciliation).toEqual({ kind: 'completed-intent', pulseKind: 'basal', madeSteps: 1, bolusId: 0 });
    expect(r.fw.journal.pulses().basal).toBe(pulses + 1);
  });
});
