// Tests for the hash-chained audit log (docs/protocol.md §9) on a real KW31Z flash and record
// store, and for the chain verifier against each kind of tampering. Not the lockout's use of it.

import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_EVENTS,
  AUDIT_HASH_BYTES,
  AUDIT_HEADER_BYTES,
  auditGenesis,
  decodeAuditRecord,
  verifyAuditChain,
} from '../../src/firmware/audit-log.ts';
import { STORE_LOGS } from '../../src/firmware/store-keys.ts';
import { hash, must, rig, SERIAL, US_PER_S } from './fixtures.ts';

const verify = (records: Uint8Array[]) => verifyAuditChain(records, { serial: SERIAL, hash });
const clone = (records: Uint8Array[]) => records.map((r) => r.slice());
/** XOR one byte of record `index` (of a clone). */
function flip(records: Uint8Array[], index: number, at: number, xor: number): void {
  const rec = records[index]!;
  rec[at] = rec[at]! ^ xor;
}

/** A log of `n` records, one second apart, with details of varying length. */
function logOf(n: number) {
  const r = rig();
  const store = r.openStore();
  const log = r.openAudit(store);
  for (let i = 0; i < n; i++) {
    r.world.runFor(US_PER_S);
    must(log.append(i % 2 === 0 ? 'session.opened' : 'command.refused', i % 3 === 0 ? undefined : 'clinician', Uint8Array.from({ length: i % 7 }, (_, j) => i + j)));
  }
  return { r, store, log, records: log.read(1, 255) };
}

describe('audit log on flash', () => {
  it('appends records laid out as §9 and reads them back whole', () => {
    const r = rig();
    const log = r.openAudit(r.openStore());
    r.world.runUntil(1_234_567);
    expect(log.append('boot', undefined)).toEqual({ ok: true, value: 1 });
    r.world.runUntil(2_000_000);
    expect(log.append('breakglass.used', 'emergency', Uint8Array.of(1, 7, 0, 0, 0, 0x08, 0x07))).toEqual({ ok: true, value: 2 });
    expect(log.append(0x0123, 'service', Uint8Array.of(0xaa))).toEqual({ ok: true, value: 3 });
    const [first, second, third] = log.read(1, 10);
    // seq 1, time 1_234_567 µs = 0x12D687, event 0x0001, role 0, D 0, then SHA-256(genesis ‖ bytes 0..15).
    expect([...first!.subarray(0, 16)]).toEqual([1, 0, 0, 0, 0x87, 0xd6, 0x12, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0]);
    const genesis = sha256(new TextEncoder().encode(`medtwin-audit-v1${SERIAL}`));
    expect(auditGenesis(SERIAL, hash)).toEqual(genesis);
    const h1 = sha256(Uint8Array.from([...genesis, ...first!.subarray(0, 16)]));
    expect(first!.subarray(16)).toEqual(h1);
    expect(decodeAuditRecord(second!)).toEqual({
      ok: true,
      value: { seq: 2, timeUs: 2_000_000, event: AUDIT_EVENTS['breakglass.used'], role: 14, detail: Uint8Array.of(1, 7, 0, 0, 0, 8, 7), hash: second!.subarray(23) },
    });
    expect(second!.subarray(23)).toEqual(sha256(Uint8Array.from([...h1, ...second!.subarray(0, 23)])));
    expect(decodeAuditRecord(third!)).toMatchObject({ ok: true, value: { seq: 3, event: 0x0123, role: 3 } });
    expect(verify([first!, second!, third!])).toMatchObject({ ok: true, count: 3, last: { seq: 3 } });
  });

  it('continues the chain after a reboot', () => {
    const { r, records } = logOf(10);
    const again = r.openAudit(r.openStore());
    expect(again.lastSeq).toBe(10);
    expect(again.headHash).toEqual(records[9]!.subarray(records[9]!.length - AUDIT_HASH_BYTES));
    expect(again.append('session.ended', 'patient')).toEqual({ ok: true, value: 11 });
    expect(verify(again.read(1, 100))).toMatchObject({ ok: true, count: 11 });
  });

  it('reads pages, and a verifier anchored on the last page checks the next one', () => {
    const { log } = logOf(12);
    const page1 = log.read(1, 5);
    const page2 = log.read(6, 5);
    expect(page1.map((b) => decodeAuditRecord(b).ok && b[0])).toEqual([1, 2, 3, 4, 5]);
    expect(page2.map((b) => b[0])).toEqual([6, 7, 8, 9, 10]);
    expect(log.read(11, 5).length).toBe(2);
    expect(log.read(13, 5)).toEqual([]);
    expect(log.read(1, 0)).toEqual([]);
    const v1 = verify(page1);
    if (!v1.ok) throw new Error('page 1');
    expect(verifyAuditChain(page2, { serial: SERIAL, hash, genesis: v1.last! })).toMatchObject({ ok: true, count: 5 });
    // The same anchor refuses a page that starts late.
    expect(verifyAuditChain(log.read(7, 4), { serial: SERIAL, hash, genesis: v1.last! })).toMatchObject({ ok: false, code: 'gap', atSeq: 6 });
  });

  it.each([
    { name: 'an event below 0x0100 that is not in the table', event: 0x0002, detail: 0, code: 'unknown-event' },
    { name: 'an event beyond u16', event: 0x10000, detail: 0, code: 'unknown-event' },
    { name: 'a detail longer than 255 bytes', event: AUDIT_EVENTS.boot, detail: 256, code: 'detail-too-long' },
  ])('refuses $name with $code and writes nothing', ({ event, detail, code }) => {
    const r = rig();
    const log = r.openAudit(r.openStore());
    const ops = r.flash.opsCount;
    expect(log.append(event, undefined, new Uint8Array(detail))).toMatchObject({ ok: false, code });
    expect(r.flash.opsCount).toBe(ops);
    expect(log.append('boot', undefined, new Uint8Array(255))).toEqual({ ok: true, value: 1 });
  });
});

describe('audit chain verifier: each kind of tampering', () => {
  const { records } = logOf(8);

  it('accepts the untouched chain and an empty one', () => {
    expect(verify(records)).toMatchObject({ ok: true, count: 8 });
    expect(verify([])).toEqual({ ok: true, count: 0, last: undefined });
  });

  it('a removed record is a gap at its sequence number', () => {
    const t = clone(records);
    t.splice(3, 1);
    expect(verify(t)).toMatchObject({ ok: false, code: 'gap', atSeq: 4 });
  });

  it('two swapped records are out of order at the first misplaced sequence number', () => {
    const t = clone(records);
    [t[2], t[5]] = [t[5]!, t[2]!];
    expect(verify(t)).toMatchObject({ ok: false, code: 'order', atSeq: 3 });
    const u = clone(records);
    [u[6], u[7]] = [u[7]!, u[6]!];
    expect(verify(u)).toMatchObject({ ok: false, code: 'order', atSeq: 7 });
  });

  it('a record repeated later is out of order', () => {
    const t = clone(records);
    t.splice(5, 0, t[1]!.slice());
    expect(verify(t)).toMatchObject({ ok: false, code: 'order', atSeq: 6 });
  });

  it('one edited byte of a detail is an edit of that record', () => {
    const t = clone(records);
    flip(t, 4, AUDIT_HEADER_BYTES, 0x01);
    expect(decodeAuditRecord(records[4]!)).toMatchObject({ ok: true, value: { seq: 5 } });
    expect(verify(t)).toMatchObject({ ok: false, code: 'edited', atSeq: 5 });
  });

  it('an edited hash is an edit of that record', () => {
    const t = clone(records);
    flip(t, 6, t[6]!.length - 1, 0x80);
    expect(verify(t)).toMatchObject({ ok: false, code: 'edited', atSeq: 7 });
  });

  it('an edited time, event or role is an edit; an edited sequence number too', () => {
    for (const offset of [4, 10, 12, 14]) {
      const t = clone(records);
      flip(t, 2, offset, 0x10);
      expect(verify(t)).toMatchObject({ ok: false, code: 'edited', atSeq: 3 });
    }
    const t = clone(records);
    t[2]![0] = 9; // seq 3 → 9, followed by 4
    expect(verify(t)).toMatchObject({ ok: false, code: 'edited', atSeq: 3 });
    const u = clone(records);
    u[2]![0] = 2; // seq 3 → 2: not the genuine record 2
    expect(verify(u)).toMatchObject({ ok: false, code: 'edited', atSeq: 3 });
  });

  it('a wrong detail length or a cut record is malformed', () => {
    const t = clone(records);
    flip(t, 3, 15, 0x01);
    expect(verify(t)).toMatchObject({ ok: false, code: 'malformed', atSeq: 4 });
    const u = clone(records);
    u[5] = u[5]!.subarray(0, 20);
    expect(verify(u)).toMatchObject({ ok: false, code: 'malformed', atSeq: 6 });
  });

  it('a removed first record passes as a truncated head, unless the verifier anchors at the genesis', () => {
    expect(verify(records.slice(1))).toMatchObject({ ok: true, count: 7, headTruncated: { firstSeq: 2 } });
    const genesis = { seq: 0, hash: auditGenesis(SERIAL, hash) };
    expect(verifyAuditChain(records.slice(1), { serial: SERIAL, hash, genesis })).toMatchObject({ ok: false, code: 'gap', atSeq: 1 });
  });

  it('another device serial gives another genesis: the first record fails', () => {
    expect(verifyAuditChain(records, { serial: 'PU000002', hash })).toMatchObject({ ok: false, code: 'edited', atSeq: 1 });
  });

  it('detects any single-byte edit anywhere (seeded property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: records.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (index, at, xor) => {
        const t = clone(records);
        flip(t, index, at % t[index]!.length, xor);
        expect(verify(t).ok).toBe(false);
      }),
      { seed: 42, numRuns: 1_000 },
    );
  });
});

describe('audit log as a ring', () => {
  it('drops the oldest records when flash fills; the rest verifies with a truncated head', () => {
    const r = rig({ sectorCount: 3 });
    const store = r.openStore();
    const log = r.openAudit(store);
    for (let i = 0; i < 300; i++) {
      r.world.runFor(1_000);
      must(log.append('record.rejected', 'patient', new Uint8Array(20).fill(i & 0xff)));
    }
    const records = r.openAudit(r.openStore()).read(1, 1_000);
    const firstSeq = decodeAuditRecord(records[0]!).ok ? records[0]![0]! | (records[0]![1]! << 8) : 0;
    expect(firstSeq).toBeGreaterThan(1);
    expect(records.length).toBeLessThan(300);
    expect(decodeAuditRecord(records[records.length - 1]!)).toMatchObject({ ok: true, value: { seq: 300 } });
    expect(verify(records)).toMatchObject({ ok: true, count: records.length, headTruncated: { firstSeq }, last: { seq: 300 } });
    // Tampering behind a truncated head is still caught, from the second record on.
    const t = clone(records);
    flip(t, 1, AUDIT_HEADER_BYTES + 3, 1);
    expect(verify(t)).toMatchObject({ ok: false, code: 'edited', atSeq: firstSeq + 1 });
    const u = clone(records);
    u.splice(10, 1);
    expect(verify(u)).toMatchObject({ ok: false, code: 'gap', atSeq: firstSeq + 10 });
    // And the log keeps appending after a reboot, chained to what survived.
    const again = r.openAudit(r.openStore());
    expect(again.append('boot', undefined)).toEqual({ ok: true, value: 301 });
    expect(verify(again.read(firstSeq, 1_000))).toMatchObject({ ok: true, last: { seq: 301 } });
    expect(store.readLog(STORE_LOGS.audit).length).toBeGreaterThan(0);
  });
});
