// Tests for the downstream check of GLP exports (glp-verify.ts) on exports made by a real GlpLog:
// each kind of tampering after retrieval — a field edited, records swapped, removed in the middle
// and at either end, a record from another meter — gets its exact code and sequence number; an
// export that "left the phone" as bytes still verifies; any one-byte change anywhere is refused.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ecdsaP256Sign } from '../../../src/crypto/index.ts';
import { Manufacturer } from '../../../src/session/manufacturer.ts';
import { decodeGlpCheckpoint, encodeGlpCheckpoint, glpCheckpointSignedBytes } from '../../../devices/ph-meter/glp-checkpoint.ts';
import { decodeGlpExport, encodeGlpExport, type GlpExport } from '../../../devices/ph-meter/glp-export.ts';
import { decodeGlpRecord, encodeGlpBody, encodeGlpRecord, glpChainHash, glpGenesisHash, GLP_BODY_BYTES } from '../../../devices/ph-meter/glp-record.ts';
import { verifyGlpExport, type GlpVerifyOptions } from '../../../devices/ph-meter/glp-verify.ts';
import type { GlpLog } from '../../../devices/ph-meter/glp-log.ts';
import { glpRig, MANUFACTURER, must, readingAt, SERIAL, US_PER_S } from './glp-fixtures.ts';

const OPTS: GlpVerifyOptions = { rootPublicKey: MANUFACTURER.rootPublicKey, expectedSerial: SERIAL };

function meter(serial: string, n: number): GlpLog {
  const rig = glpRig({ serial });
  const log = rig.openLog();
  for (let i = 0; i < n; i++) {
    rig.world.runFor(60 * US_PER_S);
    must(log.append(readingAt(i + (serial === SERIAL ? 0 : 100))));
  }
  return log;
}

// Meter A with 10 records; the export is "≥ 3", so neither end is the log's start.
const A = meter(SERIAL, 10);
const B = meter('PH000002', 10);
const EXPORT = must(A.query({ operator: 'gte', minSeq: 3 }));
const ALL = must(A.query({ operator: 'all' }));

/** A copy of EXPORT's records (index 0 is seq 3). */
const records = (): Uint8Array[] => EXPORT.records.map((r) => r.slice());
const withRecords = (rs: Uint8Array[], base: GlpExport = EXPORT): GlpExport => ({ ...base, records: rs });
const at = (seq: number) => seq - 3;
function editByte(seq: number, offset: number, xor = 0x02): GlpExport {
  const rs = records();
  rs[at(seq)]![offset] = rs[at(seq)]![offset]! ^ xor;
  return withRecords(rs);
}

describe('GLP export: what verifies', () => {
  it('an untampered export verifies and reports the run, the newest record and the anchor for next time', () => {
    const v = verifyGlpExport(EXPORT, OPTS);
    expect(v).toMatchObject({ ok: true, serial: SERIAL, firstSeq: 3, lastSeq: 10, newestSeq: 10 });
    if (!v.ok) return;
    expect(v.records.map((r) => r.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(v.records).toEqual(EXPORT.records.map((r) => must(decodeGlpRecord(r))));
    expect(v.last).toEqual({ seq: 10, hash: A.headHash });
  });

  it('still verifies after it left the phone: serialized to bytes, carried, decoded', () => {
    const bytes = encodeGlpExport(EXPORT);
    expect(bytes.length).toBe(8 + 138 + 156 + 8 * 76);
    const carried = Uint8Array.from(bytes); // a copy in another buffer, as after a network hop
    const back = must(decodeGlpExport(carried));
    expect(back.records).toEqual(EXPORT.records);
    expect(verifyGlpExport(back, OPTS)).toEqual(verifyGlpExport(EXPORT, OPTS));
    expect(verifyGlpExport(carried, OPTS)).toMatchObject({ ok: true, firstSeq: 3, lastSeq: 10 });
  });
});

describe('GLP export: a record edited after retrieval is "edited" at its sequence number', () => {
  it.each([
    ['flags', 2],
    ['time', 8],
    ['pH', 20],
    ['mV', 24],
    ['temperature', 28],
    ['calibration offset', 30],
    ['calibration id', 32],
    ['calibration time', 36],
    ['calibration slope', 40],
    ['calibration points', 42],
    ['stored hash', 50],
  ] as const)('one field of a middle record: %s', (_, offset) => {
    expect(verifyGlpExport(editByte(6, offset), OPTS)).toMatchObject({ ok: false, code: 'edited', atSeq: 6 });
  });

  it('the first and the last record', () => {
    expect(verifyGlpExport(editByte(3, 20), OPTS)).toMatchObject({ ok: false, code: 'edited', atSeq: 3 });
    expect(verifyGlpExport(editByte(10, 20), OPTS)).toMatchObject({ ok: false, code: 'edited', atSeq: 10 });
  });

  it('a pH value rewritten and the field re-encoded properly (a plausible forgery)', () => {
    const rs = records();
    const r = must(decodeGlpRecord(rs[at(7)]!));
    rs[at(7)] = encodeGlpRecord({ ...r, phMilli: r.phMilli! + 100 }, r.hash);
    expect(verifyGlpExport(withRecords(rs), OPTS)).toMatchObject({ ok: false, code: 'edited', atSeq: 7 });
  });

  it('a record renumbered to hide a removal', () => {
    // 6 removed, 7 renumbered as 6, 8 as 7, …: the numbers run on, the chain does not.
    const rs = records().filter((_, i) => i !== at(6));
    const renumbered = rs.map((b) => {
      const r = must(decodeGlpRecord(b));
      return r.seq > 6 ? encodeGlpRecord({ ...r, seq: r.seq - 1 }, r.hash) : b;
    });
    expect(verifyGlpExport(withRecords(renumbered), OPTS)).toMatchObject({ ok: false, code: 'edited', atSeq: 6 });
  });

  it('an edit with every later hash recomputed: the chain no longer reaches the signed head', () => {
    const rs = records();
    let prev: Uint8Array = rs[at(5)]!.slice(GLP_BODY_BYTES);
    for (let seq = 6; seq <= 10; seq++) {
      const r = must(decodeGlpRecord(rs[at(seq)]!));
      const fields = seq === 6 ? { ...r, tempCentiC: 3_700 } : r;
      const hash = glpChainHash(prev, encodeGlpBody(fields));
      rs[at(seq)] = encodeGlpRecord(fields, hash);
      prev = hash;
    }
    expect(verifyGlpExport(withRecords(rs), OPTS)).toMatchObject({ ok: false, code: 'edited', atSeq: 10 });
  });

  it('a reserved byte set is a malformed record at its place', () => {
    expect(verifyGlpExport(editByte(5, 43), OPTS)).toMatchObject({ ok: false, code: 'malformed', atSeq: 5 });
  });
});

describe('GLP export: reordered', () => {
  const swapped = (a: number, b: number): GlpExport => {
    const rs = records();
    [rs[at(a)], rs[at(b)]] = [rs[at(b)]!, rs[at(a)]!];
    return withRecords(rs);
  };
  it.each([
    [5, 6, 5],
    [3, 4, 3],
    [9, 10, 9],
    [3, 10, 3],
    [4, 8, 4],
  ])('records %i and %i swapped → reordered at %i', (a, b, first) => {
    expect(verifyGlpExport(swapped(a, b), OPTS)).toMatchObject({ ok: false, code: 'reordered', atSeq: first });
  });

  it('an earlier record repeated in place of a later one', () => {
    const rs = records();
    rs[at(8)] = rs[at(5)]!.slice();
    expect(verifyGlpExport(withRecords(rs), OPTS)).toMatchObject({ ok: false, code: 'reordered', atSeq: 8 });
  });
});

describe('GLP export: removed', () => {
  const without = (...seqs: number[]): GlpExport => withRecords(records().filter((_, i) => !seqs.includes(i + 3)));
  it.each([
    ['a middle record', [6], 6],
    ['two middle records', [6, 7], 6],
    ['the last record', [10], 10],
    ['the last two', [9, 10], 9],
    ['the first record', [3], 3],
    ['all of them', [3, 4, 5, 6, 7, 8, 9, 10], 3],
  ] as const)('%s → removed at its sequence number', (_, seqs, atSeq) => {
    expect(verifyGlpExport(without(...seqs), OPTS)).toMatchObject({ ok: false, code: 'removed', atSeq });
  });

  it('a checkpoint edited to hide the removal of the last record no longer verifies', () => {
    const cp = must(decodeGlpCheckpoint(EXPORT.checkpoint));
    const lower = encodeGlpCheckpoint({ ...cp, lastSeq: 9, headHash: EXPORT.records[at(9)]!.slice(GLP_BODY_BYTES) }, cp.signature);
    expect(verifyGlpExport({ ...without(10), checkpoint: lower }, OPTS)).toMatchObject({ ok: false, code: 'bad-signature' });
  });

  it('a record added after the last one is extra', () => {
    const rs = records();
    rs.push(rs[rs.length - 1]!.slice());
    expect(verifyGlpExport(withRecords(rs), OPTS)).toMatchObject({ ok: false, code: 'extra', atSeq: 11 });
  });
});

describe('GLP export: another meter', () => {
  const B_ALL = must(B.query({ operator: 'all' }));

  it('a record from another meter’s log spliced in is refused as wrong-device at its place', () => {
    const rs = records();
    rs[at(6)] = B_ALL.records[5]!.slice(); // B's record 6
    expect(must(decodeGlpRecord(rs[at(6)]!)).seq).toBe(6);
    expect(verifyGlpExport(withRecords(rs), OPTS)).toMatchObject({ ok: false, code: 'wrong-device', atSeq: 6 });
    // With its serial rewritten to A's, the chain refuses it instead.
    const r = must(decodeGlpRecord(B_ALL.records[5]!));
    rs[at(6)] = encodeGlpRecord({ ...r, serial: SERIAL }, r.hash);
    expect(verifyGlpExport(withRecords(rs), OPTS)).toMatchObject({ ok: false, code: 'edited', atSeq: 6 });
  });

  it('another meter’s whole export is wrong-device when A is expected, and fine on its own', () => {
    expect(verifyGlpExport(B_ALL, OPTS)).toMatchObject({ ok: false, code: 'wrong-device' });
    expect(verifyGlpExport(B_ALL, { rootPublicKey: MANUFACTURER.rootPublicKey })).toMatchObject({ ok: true, serial: 'PH000002' });
  });

  it('mixing certificate, checkpoint and records of two meters is wrong-device', () => {
    expect(verifyGlpExport({ ...ALL, checkpoint: B_ALL.checkpoint }, OPTS)).toMatchObject({ ok: false, code: 'wrong-device' });
    expect(verifyGlpExport({ ...ALL, certificate: B_ALL.certificate }, { rootPublicKey: MANUFACTURER.rootPublicKey })).toMatchObject({ ok: false, code: 'wrong-device' });
    expect(verifyGlpExport({ ...B_ALL, certificate: ALL.certificate, checkpoint: ALL.checkpoint }, OPTS)).toMatchObject({ ok: false, code: 'wrong-device', atSeq: 1 });
  });
});

describe('GLP export: signatures and certificates', () => {
  it('a checkpoint whose signature was changed is bad-signature', () => {
    const cp = EXPORT.checkpoint.slice();
    cp[120] = cp[120]! ^ 0x80;
    expect(verifyGlpExport({ ...EXPORT, checkpoint: cp }, OPTS)).toMatchObject({ ok: false, code: 'bad-signature' });
  });

  it('a checkpoint naming meter A signed with another key is bad-signature', () => {
    const cp = must(decodeGlpCheckpoint(EXPORT.checkpoint));
    const forger = new Manufacturer('glp-test').issueDeviceIdentity('PH000002', 'ph-meter').identityPrivateKey;
    const forged = encodeGlpCheckpoint(cp, ecdsaP256Sign(forger, glpCheckpointSignedBytes(cp.bytes)));
    expect(verifyGlpExport({ ...EXPORT, checkpoint: forged }, OPTS)).toMatchObject({ ok: false, code: 'bad-signature' });
  });

  it('a certificate not from the manufacturer root, or not a pH meter’s, is refused', () => {
    const rogue = new Manufacturer('rogue').issueDeviceIdentity(SERIAL, 'ph-meter').certificate;
    expect(verifyGlpExport({ ...EXPORT, certificate: rogue }, OPTS)).toMatchObject({ ok: false, code: 'certificate' });
    const pump = MANUFACTURER.issueDeviceIdentity(SERIAL, 'insulin-pump').certificate;
    expect(verifyGlpExport({ ...EXPORT, certificate: pump }, OPTS)).toMatchObject({ ok: false, code: 'certificate' });
    expect(verifyGlpExport(EXPORT, { ...OPTS, rootPublicKey: new Manufacturer('rogue').rootPublicKey })).toMatchObject({ ok: false, code: 'certificate' });
  });

  it('export bytes that do not parse are malformed', () => {
    const bytes = encodeGlpExport(EXPORT);
    expect(verifyGlpExport(bytes.subarray(0, bytes.length - 1), OPTS)).toMatchObject({ ok: false, code: 'malformed' });
    expect(decodeGlpExport(new Uint8Array(10))).toMatchObject({ ok: false, code: 'malformed' });
    const v2 = bytes.slice();
    v2[0] = 2;
    expect(verifyGlpExport(v2, OPTS)).toMatchObject({ ok: false, code: 'malformed' });
  });
});

describe('GLP export: continuing from the last record accepted (previous)', () => {
  const first = verifyGlpExport(must(A.query({ operator: 'lte', maxSeq: 5 })), OPTS);
  if (!first.ok) throw new Error(first.code);
  const previous = first.last;

  it('the next retrieval from previous + 1 verifies; one that starts late is removed at previous + 1', () => {
    expect(previous.seq).toBe(5);
    expect(verifyGlpExport(must(A.query({ operator: 'gte', minSeq: 6 })), { ...OPTS, previous })).toMatchObject({ ok: true, firstSeq: 6, lastSeq: 10 });
    // The phone asked for ≥ 7 and passed that on as the sync: record 6 never reaches the server.
    expect(verifyGlpExport(must(A.query({ operator: 'gte', minSeq: 7 })), { ...OPTS, previous })).toMatchObject({ ok: false, code: 'removed', atSeq: 6 });
  });

  it('an overlapping retrieval verifies when it holds the same record, and is edited when it does not', () => {
    expect(verifyGlpExport(ALL, { ...OPTS, previous })).toMatchObject({ ok: true, firstSeq: 1, lastSeq: 10 });
    const wrong = { seq: 5, hash: new Uint8Array(32).fill(7) };
    expect(verifyGlpExport(ALL, { ...OPTS, previous: wrong })).toMatchObject({ ok: false, code: 'edited', atSeq: 5 });
    expect(verifyGlpExport(must(A.query({ operator: 'gte', minSeq: 6 })), { ...OPTS, previous: wrong })).toMatchObject({ ok: false, code: 'edited', atSeq: 5 });
  });

  it('the genesis as previous demands the log from record 1', () => {
    const genesis = { seq: 0, hash: glpGenesisHash(SERIAL) };
    expect(verifyGlpExport(ALL, { ...OPTS, previous: genesis })).toMatchObject({ ok: true, firstSeq: 1 });
    expect(verifyGlpExport(EXPORT, { ...OPTS, previous: genesis })).toMatchObject({ ok: false, code: 'removed', atSeq: 1 });
  });

  it('a meter whose newest record is older than one accepted before has lost records', () => {
    expect(verifyGlpExport(ALL, { ...OPTS, previous: { seq: 12, hash: previous.hash } })).toMatchObject({ ok: false, code: 'removed', atSeq: 11 });
  });
});

describe('GLP export fuzz', () => {
  const bytes = encodeGlpExport(must(A.query({ operator: 'range', minSeq: 4, maxSeq: 6 })));
  it('every one-byte change anywhere in the exported bytes is refused, never thrown', () => {
    fc.assert(
      fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), (offset, xor) => {
        const b = bytes.slice();
        b[offset] = b[offset]! ^ xor;
        expect(verifyGlpExport(b, OPTS).ok).toBe(false);
      }),
      { seed: 0x6e59, numRuns: 300 },
    );
    expect(verifyGlpExport(bytes, OPTS).ok).toBe(true);
  });

  it('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
        expect(verifyGlpExport(b, OPTS)).toMatchObject({ ok: false, code: 'malformed' });
      }),
      { seed: 0x6e5a, numRuns: 2_000 },
    );
  });
});
