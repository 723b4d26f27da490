// Tests for the GLP log on a real KW31Z flash and record store (glp-log.ts): appends and RACP-style
// queries, retention until acknowledged, reboot recovery, bad input, and the ledger cost of the
// integrity design (the figures in glp-log.ts's header). Not tampering (glp-verify.test.ts).

import { describe, expect, it } from 'vitest';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { STORE_KEYS, STORE_LOGS } from '../../../src/firmware/store-keys.ts';
import { MedtwinError } from '../../../src/errors.ts';
import { decodeGlpCheckpoint } from '../../../devices/ph-meter/glp-checkpoint.ts';
import { GLP_DEFAULT_CAPACITY, GlpLog, type GlpQuery } from '../../../devices/ph-meter/glp-log.ts';
import { decodeGlpRecord, glpGenesisHash } from '../../../devices/ph-meter/glp-record.ts';
import { verifyGlpExport } from '../../../devices/ph-meter/glp-verify.ts';
import { glpRig, MANUFACTURER, must, readingAt, SERIAL, US_PER_S, type GlpRig } from './glp-fixtures.ts';

const verify = (log: GlpLog, q: GlpQuery = { operator: 'all' }) => verifyGlpExport(must(log.query(q)), { rootPublicKey: MANUFACTURER.rootPublicKey, expectedSerial: SERIAL });
const seqsOf = (records: readonly Uint8Array[]) => records.map((r) => must(decodeGlpRecord(r)).seq);
const cryptoCycles = (rig: GlpRig) => rig.ledger.summary().activities.find((a) => a.activity === 'crypto')!.meters.cpuCycles;

/** Append `n` readings, 30 s apart. */
function fill(rig: GlpRig, log: GlpLog, n: number, from = 0): number[] {
  const seqs: number[] = [];
  for (let i = from; i < from + n; i++) {
    rig.world.runFor(30 * US_PER_S);
    seqs.push(must(log.append(readingAt(i))));
  }
  return seqs;
}

describe('GLP log: append and query', () => {
  it('numbers records from 1, stamps them with the device clock and serial, and chains them from the genesis', () => {
    const rig = glpRig();
    const log = rig.openLog();
    expect([log.lastSeq, log.firstSeq, log.unsyncedCount, log.capacity]).toEqual([0, 1, 0, GLP_DEFAULT_CAPACITY]);
    expect(log.headHash).toEqual(glpGenesisHash(SERIAL));
    rig.world.runUntil(12_345_678);
    expect(log.append(readingAt(0))).toEqual({ ok: true, value: 1 });
    const r1 = must(decodeGlpRecord(log.record(1)!));
    expect(r1).toEqual({ version: 1, seq: 1, timeS: 12, serial: SERIAL, ...readingAt(0), hash: log.headHash });
    expect(fill(rig, log, 4, 1)).toEqual([2, 3, 4, 5]);
    expect([log.lastSeq, log.unsyncedCount]).toEqual([5, 5]);
    const v = verify(log);
    expect(v).toMatchObject({ ok: true, serial: SERIAL, firstSeq: 1, lastSeq: 5, newestSeq: 5 });
    if (!v.ok) return;
    expect(v.records.map((r) => r.timeS)).toEqual([12, 42, 72, 102, 132]);
    expect(v.records.map((r) => r.phMilli)).toEqual([0, 1, 2, 3, 4].map((i) => readingAt(i).phMilli));
    expect(v.last).toEqual({ seq: 5, hash: log.headHash });
  });

  it('answers all, ≥, ≤, range and last N with the contiguous run and a checkpoint over exactly it', () => {
    const rig = glpRig();
    const log = rig.openLog();
    fill(rig, log, 12);
    const cases: Array<[GlpQuery, number[]]> = [
      [{ operator: 'all' }, [1, 12]],
      [{ operator: 'gte', minSeq: 9 }, [9, 12]],
      [{ operator: 'gte', minSeq: 0 }, [1, 12]],
      [{ operator: 'lte', maxSeq: 4 }, [1, 4]],
      [{ operator: 'lte', maxSeq: 99 }, [1, 12]],
      [{ operator: 'range', minSeq: 4, maxSeq: 7 }, [4, 7]],
      [{ operator: 'range', minSeq: 10, maxSeq: 99 }, [10, 12]],
      [{ operator: 'range', minSeq: 6, maxSeq: 6 }, [6, 6]],
      [{ operator: 'last', count: 3 }, [10, 12]],
      [{ operator: 'last', count: 50 }, [1, 12]],
    ];
    for (const [q, [first, last]] of cases) {
      const e = must(log.query(q));
      const want = Array.from({ length: last! - first! + 1 }, (_, i) => first! + i);
      expect(seqsOf(e.records), JSON.stringify(q)).toEqual(want);
      expect(must(log.count(q)), JSON.stringify(q)).toBe(want.length);
      expect(seqsOf(must(log.records(q)))).toEqual(want);
      const cp = must(decodeGlpCheckpoint(e.checkpoint));
      expect([cp.firstSeq, cp.lastSeq, cp.newestSeq]).toEqual([first, last, 12]);
      expect(cp.anchorHash).toEqual(first === 1 ? glpGenesisHash(SERIAL) : log.record(first! - 1)!.subarray(44));
      expect(cp.headHash).toEqual(log.record(last!)!.subarray(44));
      expect(verifyGlpExport(e, { rootPublicKey: MANUFACTURER.rootPublicKey })).toMatchObject({ ok: true, firstSeq: first, lastSeq: last, newestSeq: 12 });
    }
  });

  it('answers queries that select nothing or make no sense with RACP codes', () => {
    const rig = glpRig();
    const log = rig.openLog();
    expect(log.query({ operator: 'all' })).toEqual({ ok: false, code: 'no-records-found' });
    expect(log.count({ operator: 'all' })).toEqual({ ok: true, value: 0 });
    fill(rig, log, 3);
    expect(log.query({ operator: 'gte', minSeq: 4 })).toEqual({ ok: false, code: 'no-records-found' });
    expect(log.count({ operator: 'gte', minSeq: 4 })).toEqual({ ok: true, value: 0 });
    expect(log.query({ operator: 'range', minSeq: 3, maxSeq: 2 })).toMatchObject({ ok: false, code: 'invalid-operand' });
    expect(log.query({ operator: 'last', count: 0 })).toMatchObject({ ok: false, code: 'invalid-operand' });
    expect(log.query({ operator: 'gte', minSeq: -1 })).toMatchObject({ ok: false, code: 'invalid-operand' });
    expect(log.query({ operator: 'lte', maxSeq: 1.5 })).toMatchObject({ ok: false, code: 'invalid-operand' });
    expect(log.query({ operator: 'first' } as unknown as GlpQuery)).toMatchObject({ ok: false, code: 'operator-not-supported' });
    expect(log.checkpoint(2, 4)).toMatchObject({ ok: false, code: 'invalid-operand' });
    expect(log.checkpoint(0, 1)).toMatchObject({ ok: false, code: 'invalid-operand' });
  });

  it('refuses bad readings and times with a code and writes nothing', () => {
    const rig = glpRig();
    const log = rig.openLog();
    fill(rig, log, 2);
    const ops = rig.flash.opsCount;
    expect(log.append({ ...readingAt(0), phMilli: 7.5 })).toMatchObject({ ok: false, code: 'invalid-reading' });
    expect(log.append({ ...readingAt(0), flags: ['held', 'stable'] })).toMatchObject({ ok: false, code: 'invalid-reading' });
    const late = glpRig();
    late.world.runUntil(2 ** 32 * US_PER_S);
    expect(late.openLog().append(readingAt(0))).toMatchObject({ ok: false, code: 'time' });
    expect(rig.flash.opsCount).toBe(ops);
    expect(log.lastSeq).toBe(2);
    expect(log.append(readingAt(2))).toEqual({ ok: true, value: 3 });
  });

  it('says "full" when the store has no room, and stays consistent', () => {
    const rig = glpRig({ storeSectors: 2 }); // one sector in use + the spare: 2032 bytes, 21 records of 96
    const log = rig.openLog({ capacity: 100 });
    let last: ReturnType<GlpLog['append']> = { ok: true, value: 0 };
    let n = 0;
    while (last.ok) {
      last = log.append(readingAt(n++));
    }
    expect(last).toMatchObject({ ok: false, code: 'full' });
    expect(log.lastSeq).toBe(20); // 16 bytes of sector header, 28 of state record, 20 × 96 of records
    expect(verify(log)).toMatchObject({ ok: true, lastSeq: 20 });
    const again = rig.openLog({ capacity: 100 });
    expect(again.lastSeq).toBe(20);
  });
});

describe('GLP log: retention until acknowledged', () => {
  it('refuses the append after `capacity` unacknowledged records and overwrites only acknowledged ones', () => {
    const rig = glpRig();
    const log = rig.openLog({ capacity: 5 });
    fill(rig, log, 5);
    const ops = rig.flash.opsCount;
    expect(log.append(readingAt(5))).toMatchObject({ ok: false, code: 'unsynced-full' });
    expect(rig.flash.opsCount).toBe(ops);
    expect(log.acknowledge(2)).toEqual({ ok: true, value: 2 });
    expect([log.acknowledgedSeq, log.unsyncedCount]).toEqual([2, 3]);
    expect(fill(rig, log, 2, 5)).toEqual([6, 7]);
    expect(log.append(readingAt(7))).toMatchObject({ ok: false, code: 'unsynced-full' });
    // 6 slots: record 1 was overwritten by 7; record 2 stays as the anchor of 3, the oldest a query returns.
    expect(log.firstSeq).toBe(3);
    expect(log.record(1)).toBeUndefined();
    expect(must(decodeGlpRecord(log.record(2)!)).seq).toBe(2);
    expect(must(log.count({ operator: 'all' }))).toBe(5);
    expect(log.query({ operator: 'lte', maxSeq: 2 })).toEqual({ ok: false, code: 'no-records-found' });
    const v = verify(log);
    expect(v).toMatchObject({ ok: true, firstSeq: 3, lastSeq: 7 });
    expect(log.checkpoint(2, 7)).toMatchObject({ ok: false, code: 'invalid-operand' });
  });

  it('acknowledgements only move forward, stop at the newest record and survive a reboot', () => {
    const rig = glpRig();
    const store = rig.openStore();
    const log = rig.openLog({ capacity: 4, store });
    fill(rig, log, 3);
    expect(log.acknowledge(4)).toMatchObject({ ok: false, code: 'invalid-operand' });
    expect(log.acknowledge(2)).toEqual({ ok: true, value: 2 });
    const ops = rig.flash.opsCount;
    expect(log.acknowledge(1)).toEqual({ ok: true, value: 2 });
    expect(log.acknowledge(2)).toEqual({ ok: true, value: 2 });
    expect(rig.flash.opsCount).toBe(ops); // nothing new to write
    expect([...store.get(STORE_KEYS.phGlpState)!]).toEqual([1, 0, 4, 0, 2, 0, 0, 0]);
    const rebooted = rig.openLog({ capacity: 4 });
    expect([rebooted.lastSeq, rebooted.acknowledgedSeq, rebooted.unsyncedCount]).toEqual([3, 2, 1]);
  });

  it('keeps unacknowledged records through garbage collection brought on by other writers', () => {
    // The reason for slots instead of a ring log: an audit flood makes the store collect every
    // sector many times over, and a ring would have dropped these records with their sectors.
    const rig = glpRig({ storeSectors: 4 });
    const store = rig.openStore();
    const log = rig.openLog({ capacity: 10, store });
    fill(rig, log, 10);
    const erasesBefore = rig.flash.eraseCounts().reduce((a, b) => a + b, 0);
    for (let i = 0; i < 400; i++) must(store.append(STORE_LOGS.audit, new Uint8Array(60).fill(i & 0xff)));
    expect(rig.flash.eraseCounts().reduce((a, b) => a + b, 0) - erasesBefore).toBeGreaterThan(12);
    expect(store.readLog(STORE_LOGS.audit).length).toBeLessThan(400); // the ring did drop its own oldest
    const v = verify(rig.openLog({ capacity: 10 }));
    expect(v).toMatchObject({ ok: true, firstSeq: 1, lastSeq: 10 });
  });

  it('refuses to reopen slots laid out for another capacity', () => {
    const rig = glpRig();
    fill(rig, rig.openLog({ capacity: 8 }), 2);
    expect(() => rig.openLog({ capacity: 9 })).toThrow(MedtwinError);
    expect(() => rig.openLog({ capacity: 0 })).toThrow(/capacity/);
    expect(rig.openLog({ capacity: 8 }).lastSeq).toBe(2);
  });
});

describe('GLP log: reboot recovery', () => {
  it('recovers the newest record and chain head, and the chain runs on across reboots and slot wraps', () => {
    const rig = glpRig({ storeSectors: 3 });
    let log = rig.openLog({ capacity: 7 });
    for (let round = 0; round < 12; round++) {
      fill(rig, log, 5, round * 5);
      const head = log.headHash;
      must(log.acknowledge(log.lastSeq - 2));
      log = rig.openLog({ capacity: 7 });
      expect(log.lastSeq).toBe(round * 5 + 5);
      expect(log.headHash).toEqual(head);
      expect(log.acknowledgedSeq).toBe(round * 5 + 3);
      const v = verify(log);
      expect(v).toMatchObject({ ok: true, firstSeq: Math.max(1, log.lastSeq - 6), lastSeq: log.lastSeq });
    }
    expect(rig.flash.eraseCounts().some((n) => n > 0)).toBe(true); // the store collected along the way
  });

  it('an export taken before a reboot and one after chain onto each other (previous)', () => {
    const rig = glpRig();
    const log = rig.openLog();
    fill(rig, log, 4);
    const first = verify(log);
    if (!first.ok) throw new Error(first.code);
    const after = rig.openLog();
    fill(rig, after, 3, 4);
    const next = verifyGlpExport(must(after.query({ operator: 'gte', minSeq: first.last.seq + 1 })), { rootPublicKey: MANUFACTURER.rootPublicKey, previous: first.last });
    expect(next).toMatchObject({ ok: true, firstSeq: 5, lastSeq: 7 });
  });
});

describe('GLP log: the ledger cost of integrity (figures of the glp-log.ts header)', () => {
  it('an append costs 2 SHA-256 blocks of CPU and 24 longword programs; a checkpoint one ECDSA signature', () => {
    const rig = glpRig();
    const log = rig.openLog();
    fill(rig, log, 1); // the first append also writes the state record and opens a sector
    const before = rig.ledger.summary();
    must(log.append(readingAt(1)));
    const after = rig.ledger.summary();
    const delta = (activity: string, meter: 'cpuCycles' | 'flashProgramOps') =>
      after.activities.find((a) => a.activity === activity)!.meters[meter] - before.activities.find((a) => a.activity === activity)!.meters[meter];
    const hashCycles = delta('crypto', 'cpuCycles');
    expect(hashCycles).toBe(2 * KW31Z_COSTS.sha256CyclesPer64Bytes.value);
    expect(hashCycles).toBe(16_800);
    // Footprint 16 header + 76 data + 4 commit = 96 bytes = 24 longwords, one FTFA program each.
    expect(delta('flash', 'flashProgramOps')).toBe(24);
    const cpuUj = rig.ledger.microJoules({ ...zero(), cpuCycles: hashCycles });
    const flashUj = rig.ledger.microJoules({ ...zero(), flashProgramOps: 24, cpuCycles: delta('flash', 'cpuCycles') });
    expect(cpuUj).toBeCloseTo(3.78, 6); // 16,800 × 3.0 mA × 3.6 V / 48 MHz
    expect(flashUj).toBeCloseTo(25.272, 6); // 24 × (65 µs × 1.5 mA × 3.6 V + 3,120 stalled cycles)

    const c0 = cryptoCycles(rig);
    must(log.query({ operator: 'all' }));
    const signCycles = cryptoCycles(rig) - c0;
    expect(signCycles).toBe(KW31Z_COSTS.ecdsaSignCycles.value + 2 * KW31Z_COSTS.sha256CyclesPer64Bytes.value);
    expect(signCycles / KW31Z_COSTS.cpuClockHz.value).toBeCloseTo(1.00035, 5);
    expect(rig.ledger.microJoules({ ...zero(), cpuCycles: signCycles })).toBeCloseTo(10_803.78, 4);
    // Asking again before anything changes reuses the signature; a new record needs a new one.
    must(log.query({ operator: 'all' }));
    expect(cryptoCycles(rig) - c0).toBe(signCycles);
    must(log.count({ operator: 'all' }));
    must(log.records({ operator: 'all' }));
    expect(cryptoCycles(rig) - c0).toBe(signCycles);
    must(log.append(readingAt(2)));
    must(log.query({ operator: 'all' }));
    expect(cryptoCycles(rig) - c0).toBe(2 * signCycles + hashCycles);
  });
});

function zero() {
  return { cpuCycles: 0, radioTxUs: 0, radioRxUs: 0, flashProgramOps: 0, flashEraseOps: 0, adcConversions: 0, motorSteps: 0, aesBlocksHw: 0, sleepUs: 0 };
}
