// Tests for the session codecs (docs/protocol.md §5, §7): every message and plaintext round-trips
// with its exact bytes, and every malformed input is refused with code 'malformed', never a throw.
// Not the record crypto (record-layer.test.ts).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodePlaintext,
  decodeRecordHeader,
  decodeSessionMessage,
  encodeBreakGlassHello,
  encodePlaintext,
  encodeRecordHeader,
  encodeSessionAccept,
  encodeSessionChallenge,
  encodeSessionFailed,
  encodeSessionHello,
  encodeSessionProof,
  MAX_RECORD_SEQUENCE,
  type RecordPlaintext,
} from '../../src/session/wire-session.ts';
import { hex, toHex } from './session-fixture.ts';

const ID = hex('000102030405060708090a0b0c0d0e0f');
const N16 = hex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');

describe('session messages: exact bytes (docs/protocol.md §5.1, §5.4, §7)', () => {
  it.each([
    ['SESSION_HELLO', encodeSessionHello({ clientId: ID, nc: N16 }), '20' + toHex(ID) + toHex(N16)],
    ['SESSION_CHALLENGE', encodeSessionChallenge(N16), '21' + toHex(N16)],
    ['SESSION_PROOF', encodeSessionProof(N16), '22' + toHex(N16)],
    ['SESSION_ACCEPT', encodeSessionAccept({ pd: N16, role: 'clinician', idleTimeoutS: 300 }), '23' + toHex(N16) + '02' + '2c01'],
    ['BREAK_GLASS_HELLO', encodeBreakGlassHello({ index: 7, notAfterS: 0x6553ff10, nc: N16 }), '28' + '07000000' + '10ff5365' + toHex(N16)],
    ['SESSION_FAILED 0x02', encodeSessionFailed({ reason: 2 }), '2f02'],
    ['SESSION_FAILED 0x03', encodeSessionFailed({ reason: 3, remainingS: 61 }), '2f033d000000'],
  ])('%s', (_name, bytes, expected) => {
    expect(toHex(bytes)).toBe(expected);
    const d = decodeSessionMessage(bytes);
    expect(d.ok).toBe(true);
  });

  it('decodes fields back', () => {
    expect(decodeSessionMessage(encodeSessionHello({ clientId: ID, nc: N16 }))).toEqual({ ok: true, value: { type: 'hello', hello: { clientId: ID, nc: N16 } } });
    expect(decodeSessionMessage(encodeSessionAccept({ pd: N16, role: 'emergency', idleTimeoutS: 65535 }))).toEqual({
      ok: true,
      value: { type: 'accept', accept: { pd: N16, role: 'emergency', idleTimeoutS: 65535 } },
    });
    expect(decodeSessionMessage(encodeBreakGlassHello({ index: 0xffffffff, notAfterS: 1, nc: N16 }))).toEqual({
      ok: true,
      value: { type: 'break-glass-hello', hello: { index: 0xffffffff, notAfterS: 1, nc: N16 } },
    });
    expect(decodeSessionMessage(hex('2f033d000000'))).toEqual({ ok: true, value: { type: 'failed', failed: { reason: 3, remainingS: 61 } } });
  });

  it.each([
    ['empty', ''],
    ['hello one short', '20' + '00'.repeat(31)],
    ['hello one long', '20' + '00'.repeat(33)],
    ['challenge short', '21' + '00'.repeat(15)],
    ['proof long', '22' + '00'.repeat(17)],
    ['accept with an unknown role', '23' + '00'.repeat(16) + '07' + '2c01'],
    ['break-glass hello short', '28' + '00'.repeat(23)],
    ['failed without reason', '2f'],
    ['failed with an undefined reason', '2f09'],
    ['failed 0x03 without seconds', '2f03'],
    ['failed 0x02 with trailing bytes', '2f0200'],
    ['record shorter than header + tag', '30' + '00'.repeat(13)],
    ['not a session type', '01'],
    ['reserved session type', '24' + '00'.repeat(16)],
  ])('refuses %s as malformed', (_name, h) => {
    expect(decodeSessionMessage(hex(h))).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('never throws on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const r = decodeSessionMessage(b);
        expect(typeof r.ok).toBe('boolean');
        const p = decodePlaintext(b);
        expect(typeof p.ok).toBe('boolean');
      }),
      { seed: 7, numRuns: 500 },
    );
  });
});

describe('RECORD header (docs/protocol.md §5.3)', () => {
  it.each([
    [{ epoch: 0, direction: 0 as const, seq: 1 }, '30000000000001'],
    [{ epoch: 3, direction: 1 as const, seq: 1 }, '30038000000001'],
    [{ epoch: 255, direction: 0 as const, seq: 0x12_3456_789a }, '30ff123456789a'],
    [{ epoch: 0, direction: 1 as const, seq: MAX_RECORD_SEQUENCE }, '3000ffffffffff'],
  ])('%o ↔ %s (40 bits big-endian: direction bit, then 39-bit sequence)', (h, expected) => {
    expect(toHex(encodeRecordHeader(h))).toBe(expected);
    expect(decodeRecordHeader(hex(expected))).toEqual({ ok: true, value: h });
  });

  it('refuses out-of-range fields when encoding and a short or foreign header when decoding', () => {
    expect(() => encodeRecordHeader({ epoch: 256, direction: 0, seq: 1 })).toThrow(RangeError);
    expect(() => encodeRecordHeader({ epoch: 0, direction: 0, seq: MAX_RECORD_SEQUENCE + 1 })).toThrow(RangeError);
    expect(decodeRecordHeader(hex('300000'))).toMatchObject({ ok: false, code: 'malformed' });
    expect(decodeRecordHeader(hex('31000000000001'))).toMatchObject({ ok: false, code: 'malformed' });
  });
});

describe('record plaintexts (docs/protocol.md §5.4)', () => {
  const cases: Array<[RecordPlaintext, string]> = [
    [{ kind: 'request', requestId: 0x0102, command: 0x0010, payload: hex('aabb') }, '01' + '0201' + '1000' + 'aabb'],
    [{ kind: 'response', requestId: 0xffff, status: 2, payload: new Uint8Array(0) }, '02' + 'ffff' + '02'],
    [{ kind: 'event', event: 0x0203, payload: hex('01') }, '03' + '0302' + '01'],
    [{ kind: 'rekey-request', nd: N16 }, '10' + toHex(N16)],
    [{ kind: 'rekey-response', nc: N16 }, '11' + toHex(N16)],
    [{ kind: 'close' }, '12'],
  ];
  it.each(cases)('%o ↔ %s', (p, expected) => {
    expect(toHex(encodePlaintext(p))).toBe(expected);
    expect(decodePlaintext(hex(expected))).toEqual({ ok: true, value: p });
  });

  it.each([
    ['empty', ''],
    ['request too short', '01020110'],
    ['response too short', '020201'],
    ['event too short', '0302'],
    ['rekey request short', '10' + '00'.repeat(15)],
    ['rekey response long', '11' + '00'.repeat(17)],
    ['close with a byte', '1200'],
    ['unknown kind', '04'],
  ])('refuses %s', (_name, h) => {
    expect(decodePlaintext(hex(h))).toMatchObject({ ok: false, code: 'malformed' });
  });
});
