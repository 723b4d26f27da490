// Test helpers for the IDS codec: hex conversion, the rejection cases every valid message implies, and
// fast-check arbitraries generated from the codec's own field layouts. Not a test file.

import fc from 'fast-check';
import type { Field, MessageDef, Value } from '../../../../devices/insulin-pump/ids/codec.ts';
import { ANNUNCIATION_TYPE } from '../../../../devices/insulin-pump/ids/enums.ts';

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A milli-value that some SFLOAT holds exactly: mantissa × 10^(exponent+3). */
export const sfloatMilli = (unsigned: boolean): fc.Arbitrary<number> =>
  fc.oneof(
    { arbitrary: fc.constant(0), weight: 1 },
    { arbitrary: fc.tuple(fc.integer({ min: unsigned ? 0 : -2045, max: 2045 }), fc.integer({ min: -3, max: 4 })).map(([m, e]) => (m === 0 ? 0 : m * 10 ** (e + 3))), weight: 3 },
  );

const floatMilli = fc.tuple(fc.integer({ min: 0, max: 2 ** 23 - 3 }), fc.integer({ min: -3, max: 2 })).map(([m, e]) => (m === 0 ? 0 : m * 10 ** (e + 3)));

const INT: Record<string, [number, number]> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffffffff],
  s8: [-0x80, 0x7f],
  s16: [-0x8000, 0x7fff],
  s32: [-0x80000000, 0x7fffffff],
};

const dateTime = fc.record({
  year: fc.oneof(fc.constant(0), fc.integer({ min: 1582, max: 9999 })),
  month: fc.integer({ min: 0, max: 12 }),
  day: fc.integer({ min: 0, max: 31 }),
  hours: fc.integer({ min: 0, max: 23 }),
  minutes: fc.integer({ min: 0, max: 59 }),
  seconds: fc.integer({ min: 0, max: 59 }),
});

/** Arbitrary entries [name, value] for one non-optional field. */
function fieldArb(f: Field): fc.Arbitrary<Array<[string, unknown]>> {
  switch (f.k) {
    case 'u8':
    case 'u16':
    case 'u32':
    case 's8':
    case 's16':
    case 's32': {
      const [lo, hi] = INT[f.k]!;
      let a: fc.Arbitrary<number> = f.allowed ? fc.constantFrom(...f.allowed) : fc.integer({ min: f.min ?? lo, max: f.max ?? hi });
      if (f.mask !== undefined) {
        const mask = f.mask;
        a = a.map((x) => x & mask);
      }
      return a.map((x) => [[f.n, x]]);
    }
    case 'enum': {
      const names = Object.keys(f.t.codes).filter((n) => !f.refuse?.includes(n));
      return fc.constantFrom(...names).map((x) => [[f.n, x]]);
    }
    case 'annunciationType':
      return fc.constantFrom(...Object.values(ANNUNCIATION_TYPE.codes), 0xf00f, 0xfff0).map((x) => [[f.n, x]]);
    case 'sfloat': {
      const a = f.nan ? fc.oneof(sfloatMilli(f.unsigned ?? false), fc.constant(null)) : sfloatMilli(f.unsigned ?? false);
      return a.map((x) => [[f.n, x]]);
    }
    case 'float':
      return floatMilli.map((x) => [[f.n, x]]);
    case 'bytes':
      return fc.uint8Array({ minLength: f.len, maxLength: f.len }).map((x) => [[f.n, x]]);
    case 'flags':
      return fc.tuple(...Object.keys(f.bits).map((n) => fc.boolean().map((b): [string, unknown] => [n, b]))).map((xs) => xs);
    case 'opt':
      return fieldArb(f.f);
    case 'list':
      return fc.array(f.item === 'u8' ? fc.integer({ min: 0, max: 0xff }) : fc.integer({ min: 0, max: 0xffff }), { minLength: f.min, maxLength: f.max }).map((x) => [[f.n, x]]);
    case 'cappedList':
      return fc
        .integer({ min: 0, max: 0xff })
        .chain((count) => fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: Math.min(count, f.cap), maxLength: Math.min(count, f.cap) }).map((xs) => [[f.countName, count], [f.n, xs]] as Array<[string, unknown]>));
    case 'blocks': {
      const block: fc.Arbitrary<Value> = f.range
        ? fc.record({ durationMinutes: fc.integer({ min: 0, max: 0xffff }), lowerMilli: sfloatMilli(false), upperMilli: sfloatMilli(false) })
        : fc.record({ durationMinutes: fc.integer({ min: 0, max: 0xffff }), valueMilli: sfloatMilli(false) });
      return fc.array(block, { minLength: 1, maxLength: 1 + f.presence.length }).map((x) => [[f.n, x]]);
    }
    case 'dateTime':
      return dateTime.map((x) => [[f.n, x]]);
    case 'templateStatus':
      return fc
        .tuple(fc.integer({ min: 0, max: 0xff }), fc.array(fc.record({ configurable: fc.boolean(), configured: fc.boolean() }), { minLength: 1, maxLength: 44 }))
        .map(([m, ts]) => [['maxSupportedTimeBlocks', m], [f.n, ts]]);
    case 'rest':
      return fc.uint8Array({ maxLength: f.max }).map((x) => [[f.n, x]]);
  }
}

/** A valid value of `def` (its `check` holds), with `head` (e.g. `{ op: name }`) merged in. */
export function messageArb(def: MessageDef, head: Value): fc.Arbitrary<Value> {
  const bits = [...new Set(def.fields.flatMap((f) => (f.k === 'opt' ? [f.bit] : [])))];
  return fc
    .tuple(fc.tuple(...bits.map(() => fc.boolean())), fc.tuple(...def.fields.map(fieldArb)))
    .map(([present, entries]) => {
      const on = new Set(bits.filter((_, i) => present[i]));
      const v: Value = { ...head };
      def.fields.forEach((f, i) => {
        if (f.k === 'opt' && (!on.has(f.bit) || (f.requires !== undefined && !on.has(f.requires)))) return;
        for (const [n, x] of entries[i]!) v[n] = x;
      });
      return v;
    })
    .filter((v) => def.check?.(v) === undefined);
}
