// Tests for the GLP record codec (glp-record.ts): the documented layout byte by byte, the chain hash
// against an independent SHA-256, each malformed input's code, rounding from the meter's units, and
// fuzzing (random bytes never throw; valid records round-trip; whatever decodes re-encodes to itself).

import { sha256 as refSha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import {
  checkGlpReading,
  decodeGlpRecord,
  encodeGlpBody,
  encodeGlpRecord,
  GLP_BODY_BYTES,
  GLP_FLAGS,
  GLP_RECORD_BYTES,
  glpChainHash,
  glpGenesisHash,
  glpReadingFrom,
  NO_VALUE_I16,
  NO_VALUE_I32,
  type GlpRecordFields,
} from '../../../devices/ph-meter/glp-record.ts';

const FIELDS: GlpRecordFields = {
  seq: 0x01020304,
  timeS: 0x0a0b0c0d,
  serial: 'PH000001',
  phMilli: 7_003,
  mvCenti: -1_234,
  tempCentiC: 2_500,
  flags: ['stable', 'manual-temperature', 'calibration-warning'],
  calibration: { id: 5, slopeCentiPercent: 9_850, offsetCentiMv: -250, timeS: 1_000, points: 3 },
};
const HASH = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
const ascii = (s: string) => [...new TextEncoder().encode(s)];

describe('GLP record layout (version 1)', () => {
  it('puts every field where the header says, little-endian', () => {
    const bytes = encodeGlpRecord(FIELDS, HASH);
    expect(bytes.length).toBe(76);
    expect([...bytes.subarray(0, GLP_BODY_BYTES)]).toEqual([
      0x01, 0x00, 0x45, 0x00, // version, reserved, flags bits 0 (stable), 2 (manual temperature), 6 (calibration warning)
      0x04, 0x03, 0x02, 0x01, // seq
      0x0d, 0x0c, 0x0b, 0x0a, // time, s
      ...ascii('PH000001'),
      0x5b, 0x1b, 0x00, 0x00, // 7003 milli-pH
      0x2e, 0xfb, 0xff, 0xff, // −12.34 mV
      0xc4, 0x09, // 25.00 °C
      0x06, 0xff, // calibration offset −2.50 mV
      0x05, 0x00, 0x00, 0x00, // calibration id
      0xe8, 0x03, 0x00, 0x00, // calibration time 1000 s
      0x7a, 0x26, // slope 98.50 %
      0x03, 0x00, // 3 buffers, reserved
    ]);
    expect(bytes.subarray(GLP_BODY_BYTES)).toEqual(HASH);
    expect(decodeGlpRecord(bytes)).toEqual({ ok: true, value: { version: 1, ...FIELDS, hash: HASH } });
  });

  it('writes "no value" and "no calibration" as the header defines them', () => {
    const bytes = encodeGlpBody({ ...FIELDS, phMilli: undefined, mvCenti: undefined, tempCentiC: undefined, calibration: undefined, flags: ['electrode-fault', 'temperature-fault'] });
    expect([...bytes.subarray(2, 4)]).toEqual([0x00, 0x03]); // bits 8 and 9
    expect([...bytes.subarray(20, 30)]).toEqual([0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x80, 0x00, 0x80]);
    // offset 0, id 0, time 0, slope 10000 = 0x2710 (the ideal line), 0 points.
    expect([...bytes.subarray(30, 44)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x27, 0, 0]);
    const d = decodeGlpRecord(Uint8Array.from([...bytes, ...HASH]));
    expect(d).toMatchObject({ ok: true, value: { phMilli: undefined, mvCenti: undefined, tempCentiC: undefined, calibration: undefined, flags: ['electrode-fault', 'temperature-fault'] } });
  });
});

describe('the chain hash', () => {
  it('genesis is SHA-256("medtwin-glp-v1" ‖ serial) and a record hash SHA-256(prev ‖ body)', () => {
    const genesis = glpGenesisHash('PH000001');
    expect(genesis).toEqual(refSha256(Uint8Array.from(ascii('medtwin-glp-v1PH000001'))));
    expect(glpGenesisHash('PH000002')).not.toEqual(genesis);
    const body = encodeGlpBody(FIELDS);
    expect(glpChainHash(genesis, body)).toEqual(refSha256(Uint8Array.from([...genesis, ...body])));
  });

  it('charges 2 SHA-256 blocks per record (76 bytes hashed) to the ledger', () => {
    const ledger = new Kw31zLedger('meter', () => 0);
    glpChainHash(glpGenesisHash('PH000001'), encodeGlpBody(FIELDS), { cost: { ledger, costs: KW31Z_COSTS } });
    // ⌈(76 + 9) / 64⌉ = 2 compressions (FIPS 180-4 §5.1.1) × 8,400 cycles (costs.ts).
    expect(ledger.summary().activities.find((a) => a.activity === 'crypto')!.meters.cpuCycles).toBe(2 * KW31Z_COSTS.sha256CyclesPer64Bytes.value);
  });
});

describe('decoding malformed records', () => {
  const good = encodeGlpRecord(FIELDS, HASH);
  const patched = (at: number, ...bytes: number[]) => {
    const b = good.slice();
    b.set(bytes, at);
    return b;
  };
  it.each([
    ['too short', good.subarray(0, 75), 'length'],
    ['too long', Uint8Array.from([...good, 0]), 'length'],
    ['empty', new Uint8Array(0), 'length'],
    ['version 2', patched(0, 2), 'version'],
    ['version 0', patched(0, 0), 'version'],
    ['reserved byte 1', patched(1, 1), 'reserved'],
    ['reserved byte 43', patched(43, 0x80), 'reserved'],
    ['reserved flag bit 10', patched(2, 0x45, 0x04), 'flags'],
    ['reserved flag bit 15', patched(3, 0x80), 'flags'],
    ['sequence 0', patched(4, 0, 0, 0, 0), 'sequence'],
    ['serial with a space', patched(12, 0x20), 'serial'],
    ['serial with DEL', patched(19, 0x7f), 'serial'],
    ['calibration 6 points', patched(42, 6), 'calibration'],
    ['calibration 0 points with an id', patched(42, 0), 'calibration'],
    ['no calibration but a slope', patched(32, 0, 0, 0, 0), 'calibration'],
  ] as const)('%s → %s', (_, bytes, code) => {
    expect(decodeGlpRecord(bytes)).toMatchObject({ ok: false, code });
  });

  it('answers a non-byte-string with a code, not a throw', () => {
    expect(decodeGlpRecord('x' as unknown as Uint8Array)).toMatchObject({ ok: false, code: 'length' });
  });
});

describe('readings the codec refuses to write', () => {
  const reading = { phMilli: 7_000, mvCenti: 0, tempCentiC: 2_500, flags: ['stable'] as const, calibration: undefined };
  it.each([
    ['pH is the no-value code', { ...reading, phMilli: NO_VALUE_I32 }, /phMilli/],
    ['pH not an integer', { ...reading, phMilli: 7.5 }, /phMilli/],
    ['mV beyond i32', { ...reading, mvCenti: 2 ** 31 }, /mvCenti/],
    ['temperature is the no-value code', { ...reading, tempCentiC: NO_VALUE_I16 }, /tempCentiC/],
    ['temperature beyond i16', { ...reading, tempCentiC: 40_000 }, /tempCentiC/],
    ['NaN', { ...reading, phMilli: Number.NaN }, /phMilli/],
    ['unknown flag', { ...reading, flags: ['stable', 'wet'] }, /unknown flag/],
    ['flags out of order', { ...reading, flags: ['held', 'stable'] }, /order/],
    ['flag twice', { ...reading, flags: ['stable', 'stable'] }, /repeated/],
    ['calibration id 0', { ...reading, calibration: { id: 0, slopeCentiPercent: 10_000, offsetCentiMv: 0, timeS: 0, points: 1 } }, /calibration id/],
    ['calibration 0 points', { ...reading, calibration: { id: 1, slopeCentiPercent: 10_000, offsetCentiMv: 0, timeS: 0, points: 0 } }, /points/],
    ['calibration slope beyond u16', { ...reading, calibration: { id: 1, slopeCentiPercent: 70_000, offsetCentiMv: 0, timeS: 0, points: 2 } }, /slope/],
    ['calibration offset beyond i16', { ...reading, calibration: { id: 1, slopeCentiPercent: 9_000, offsetCentiMv: -40_000, timeS: 0, points: 2 } }, /offset/],
  ])('%s', (_, r, detail) => {
    expect(checkGlpReading(r as never)).toMatch(detail);
    expect(() => encodeGlpBody({ ...(r as never as GlpRecordFields), seq: 1, timeS: 0, serial: 'PH000001' })).toThrow(RangeError);
  });

  it('accepts the extremes of every range', () => {
    expect(checkGlpReading({ phMilli: NO_VALUE_I32 + 1, mvCenti: 2 ** 31 - 1, tempCentiC: NO_VALUE_I16 + 1, flags: [...GLP_FLAGS], calibration: { id: 2 ** 32 - 1, slopeCentiPercent: 0xffff, offsetCentiMv: -0x8000, timeS: 2 ** 32 - 1, points: 5 } })).toBeUndefined();
  });
});

describe('from the meter’s units', () => {
  it('rounds half away from zero to milli-pH, 0.01 mV, 0.01 °C, 0.01 % and puts flags in order', () => {
    // Binary-exact halves, so the test is about the rounding rule and not float noise.
    expect(
      glpReadingFrom({
        ph: 7.0625, // 7062.5 milli-pH
        mv: -0.125, // −12.5 centi-mV: Math.round alone would give −12
        tempC: 25.125, // 2512.5 centi-°C
        flags: ['calibration-warning', 'stable'],
        calibration: { id: 3, line: { slopeFraction: 0.984375, offsetMv: -2.515625 }, timeS: 600, points: 2 },
      }),
    ).toEqual({
      phMilli: 7_063,
      mvCenti: -13,
      tempCentiC: 2_513,
      flags: ['stable', 'calibration-warning'],
      calibration: { id: 3, slopeCentiPercent: 9_844, offsetCentiMv: -252, timeS: 600, points: 2 },
    });
  });

  it('keeps missing values missing and gives +0, not −0', () => {
    const r = glpReadingFrom({ ph: undefined, mv: -0.001, tempC: undefined, flags: [], calibration: undefined });
    expect(r).toEqual({ phMilli: undefined, mvCenti: 0, tempCentiC: undefined, flags: [], calibration: undefined });
    expect(Object.is(r.mvCenti, 0)).toBe(true);
  });
});

// ─── fuzz ───────────────────────────────────────────────────────────────────────────────────────

const i32 = fc.integer({ min: NO_VALUE_I32 + 1, max: 2 ** 31 - 1 });
const i16 = fc.integer({ min: NO_VALUE_I16 + 1, max: 0x7fff });
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const serialArb = fc.array(fc.integer({ min: 0x21, max: 0x7e }), { minLength: 8, maxLength: 8 }).map((cs) => String.fromCharCode(...cs));
const fieldsArb: fc.Arbitrary<GlpRecordFields> = fc.record({
  seq: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
  timeS: u32,
  serial: serialArb,
  phMilli: fc.option(i32, { nil: undefined }),
  mvCenti: fc.option(i32, { nil: undefined }),
  tempCentiC: fc.option(i16, { nil: undefined }),
  flags: fc.subarray([...GLP_FLAGS]),
  calibration: fc.option(
    fc.record({ id: fc.integer({ min: 1, max: 2 ** 32 - 1 }), slopeCentiPercent: fc.integer({ min: 0, max: 0xffff }), offsetCentiMv: fc.integer({ min: -0x8000, max: 0x7fff }), timeS: u32, points: fc.integer({ min: 1, max: 5 }) }),
    { nil: undefined },
  ),
});
const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('GLP record fuzz', () => {
  it('valid records round-trip', () => {
    fc.assert(
      fc.property(fieldsArb, hashArb, (f, h) => {
        expect(decodeGlpRecord(encodeGlpRecord(f, h))).toEqual({ ok: true, value: { version: 1, ...f, hash: h } });
      }),
      { seed: 0x61c0, numRuns: 2_000 },
    );
  });

  it('random bytes never throw, and whatever decodes re-encodes to the same bytes', () => {
    let decoded = 0;
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ minLength: GLP_RECORD_BYTES, maxLength: GLP_RECORD_BYTES })), (bytes) => {
        const d = decodeGlpRecord(bytes);
        if (!d.ok) {
          expect(['length', 'version', 'reserved', 'flags', 'sequence', 'serial', 'calibration']).toContain(d.code);
          return;
        }
        decoded += 1;
        expect(encodeGlpRecord(d.value, d.value.hash)).toEqual(bytes);
      }),
      { seed: 0x61c1, numRuns: 3_000 },
    );
    expect(decoded).toBe(0); // uniformly random bytes are almost never a record: version must be 1 …
  });

  it('valid records with bytes mutated never throw and decode only to what re-encodes to them', () => {
    let decoded = 0;
    fc.assert(
      fc.property(fieldsArb, hashArb, fc.array(fc.tuple(fc.nat(GLP_RECORD_BYTES - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }), (f, h, flips) => {
        const bytes = encodeGlpRecord(f, h);
        for (const [at, xor] of flips) bytes[at] = bytes[at]! ^ xor;
        const d = decodeGlpRecord(bytes);
        if (d.ok) {
          decoded += 1;
          expect(encodeGlpRecord(d.value, d.value.hash)).toEqual(bytes);
        }
      }),
      { seed: 0x61c2, numRuns: 3_000 },
    );
    expect(decoded).toBeGreaterThan(1_000); // … but most mutations of a real one still parse: the chain must catch them (glp-verify)
  });
});
