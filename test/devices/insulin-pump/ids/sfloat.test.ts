// Tests for SFLOAT / FLOAT (ids.md §8; GSS §2.1.1): worked examples, special values, the exact milli-unit
// conversion and its rounding helper. Not the message layouts that use them.

import { describe, expect, it } from 'vitest';
import {
  decodeFloat,
  decodeFloatMilli,
  decodeSfloat,
  decodeSfloatMilli,
  encodeFloatMilli,
  encodeSfloat,
  encodeSfloatMilli,
  FLOAT_NAN,
  floatSpecial,
  roundMilliToFloat,
  roundMilliToSfloat,
  SFLOAT_NAN,
  SFLOAT_NEGATIVE_INFINITY,
  SFLOAT_NRES,
  SFLOAT_POSITIVE_INFINITY,
  SFLOAT_RESERVED,
  sfloatHoldsMilli,
  sfloatSpecial,
  sfloatToNumber,
} from '../../../../devices/insulin-pump/ids/sfloat.ts';

describe('SFLOAT worked examples (ids.md §8)', () => {
  it.each([
    ['2.5 IU, exponent −1', 2500, -1, 0xf019],
    ['100, exponent 0', 100_000, 0, 0x0064],
    ['1.5', 1500, -1, 0xf00f],
    ['0.5', 500, -1, 0xf005],
    ['−0.5', -500, -1, 0xfffb],
    ['150.0 preferring exponent 0', 150_000, 0, 0x0096],
    ['150.0 with the most precision', 150_000, -3, 0xf5dc],
    ['1.0 IU/h as §9 example 6 encodes it', 1000, -1, 0xf00a],
    ['0 is always 0x0000', 0, -1, 0x0000],
    ['1 mU (most precision)', 1, -3, 0xd001],
    ['2045 mU fits exponent −3', 2045, -3, 0xd7fd],
    ['300 IU preferring −1 takes exponent 0', 300_000, -1, 0x012c],
  ])('%s', (_name, milli, exp, raw) => {
    expect(encodeSfloatMilli(milli, exp)).toBe(raw);
    expect(decodeSfloatMilli(raw)).toEqual({ ok: true, value: milli });
  });

  it('decodes 0xF019 into exponent −1, mantissa 25 = 2.5', () => {
    expect(decodeSfloat(0xf019)).toEqual({ kind: 'number', mantissa: 25, exponent: -1 });
    expect(sfloatToNumber(0xf019)).toBeCloseTo(2.5);
  });

  it('defaults to the most precision that fits', () => {
    expect(encodeSfloatMilli(2500)).toBe(encodeSfloat(250, -2));
    expect(encodeSfloatMilli(12_340)).toBe(encodeSfloat(1234, -2));
  });
});

describe('SFLOAT special values (GSS Table 2.1)', () => {
  it.each([
    ['nan', SFLOAT_NAN, NaN],
    ['nres', SFLOAT_NRES, NaN],
    ['+inf', SFLOAT_POSITIVE_INFINITY, Infinity],
    ['-inf', SFLOAT_NEGATIVE_INFINITY, -Infinity],
    ['reserved', SFLOAT_RESERVED, NaN],
  ] as const)('%s = 0x%s', (kind, raw, num) => {
    expect(sfloatSpecial(kind)).toBe(raw);
    expect(decodeSfloat(raw)).toEqual({ kind });
    expect(sfloatToNumber(raw)).toBe(num);
    expect(decodeSfloatMilli(raw).ok).toBe(false);
  });

  it('treats a reserved mantissa with a non-zero exponent as reserved, not a number', () => {
    expect(decodeSfloat(0x17ff)).toEqual({ kind: 'reserved' });
    expect(decodeSfloat(0xf800)).toEqual({ kind: 'reserved' });
  });

  it('never encodes a reserved mantissa', () => {
    expect(() => encodeSfloat(2046, 0)).toThrow(RangeError);
    expect(() => encodeSfloat(-2046, 0)).toThrow(RangeError);
    expect(() => encodeSfloat(1, 8)).toThrow(RangeError);
    expect(() => encodeSfloat(1, -9)).toThrow(RangeError);
  });
});

describe('SFLOAT ↔ milli-units: exact, or refused', () => {
  it.each([
    ['2046 mU (2.046 IU): mantissa 2046 is reserved, 204.6 not whole', 2046],
    ['12 345 mU (12.345 IU): five significant digits', 12_345],
    ['a fraction', 1.5],
    ['beyond 2045 × 10^7 IU', 2046 * 10 ** 10],
  ])('refuses to encode %s', (_name, milli) => {
    expect(() => encodeSfloatMilli(milli)).toThrow(RangeError);
    expect(sfloatHoldsMilli(milli)).toBe(false);
  });

  it.each([
    ['0.0005 IU (mantissa 5, exponent −4)', encodeSfloat(5, -4)],
    ['1e-8 IU', encodeSfloat(1, -8)],
  ])('refuses to decode %s as milli-units', (_name, raw) => {
    expect(decodeSfloatMilli(raw)).toMatchObject({ ok: false });
  });

  it('decodes sub-milli exponents when the value is whole milli-units', () => {
    expect(decodeSfloatMilli(encodeSfloat(10, -4))).toEqual({ ok: true, value: 1 });
    expect(decodeSfloatMilli(encodeSfloat(2000, -8))).toEqual({ ok: false, detail: expect.any(String) });
  });

  it('holds the largest value 2045 × 10^7 IU exactly', () => {
    const milli = 2045 * 10 ** 10;
    expect(decodeSfloatMilli(encodeSfloatMilli(milli))).toEqual({ ok: true, value: milli });
  });

  it.each([
    [2045, 2045],
    [2046, 2050],
    [20_455, 20_500],
    [52_345, 52_300],
    [52_350, 52_400],
    [-52_350, -52_400],
    [1_234_567, 1_235_000],
  ])('roundMilliToSfloat(%i) = %i (nearest, half away from zero)', (milli, rounded) => {
    expect(roundMilliToSfloat(milli)).toBe(rounded);
    expect(sfloatHoldsMilli(rounded)).toBe(true);
  });
});

describe('FLOAT (Get Delivered Insulin, §4.5.2.13)', () => {
  it('holds 80 000.00 IU with exponent −2', () => {
    const raw = encodeFloatMilli(80_000_000, -2);
    expect(raw).toBe(0xfe7a1200);
    expect(decodeFloat(raw)).toEqual({ kind: 'number', mantissa: 8_000_000, exponent: -2 });
    expect(decodeFloatMilli(raw)).toEqual({ ok: true, value: 80_000_000 });
  });

  it('has the FLOAT special values', () => {
    expect(floatSpecial('nan')).toBe(FLOAT_NAN);
    expect(decodeFloat(0x00800000)).toEqual({ kind: 'nres' });
    expect(decodeFloat(0x007ffffe)).toEqual({ kind: '+inf' });
    expect(decodeFloat(0x00800002)).toEqual({ kind: '-inf' });
    expect(decodeFloat(0x00800001)).toEqual({ kind: 'reserved' });
    expect(decodeFloatMilli(FLOAT_NAN).ok).toBe(false);
  });

  it('rounds beyond 8 388 605 mantissa steps', () => {
    expect(roundMilliToFloat(123_456_789)).toBe(123_456_800);
    expect(() => encodeFloatMilli(123_456_789)).toThrow(RangeError);
  });
});
