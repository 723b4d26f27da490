// Tests for the GLP export container (glp-export.ts): layout, refusals, and that random bytes never
// throw. Not whether an export is genuine (glp-verify.test.ts).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeGlpExport, encodeGlpExport, GLP_EXPORT_HEADER_BYTES } from '../../../devices/ph-meter/glp-export.ts';

const part = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const EXPORT = { certificate: part(138, 0xc1), checkpoint: part(156, 0xc2), records: [part(76, 0x01), part(76, 0x02)] };

describe('GLP export container', () => {
  it('is header ‖ certificate ‖ checkpoint ‖ records, count little-endian', () => {
    const b = encodeGlpExport(EXPORT);
    expect(b.length).toBe(8 + 138 + 156 + 2 * 76);
    expect([...b.subarray(0, GLP_EXPORT_HEADER_BYTES)]).toEqual([1, 0, 0, 0, 2, 0, 0, 0]);
    expect(b.subarray(8, 146)).toEqual(EXPORT.certificate);
    expect(b.subarray(146, 302)).toEqual(EXPORT.checkpoint);
    expect(b.subarray(302, 378)).toEqual(EXPORT.records[0]);
    expect(b.subarray(378)).toEqual(EXPORT.records[1]);
    expect(decodeGlpExport(b)).toEqual({ ok: true, value: EXPORT });
    expect(decodeGlpExport(encodeGlpExport({ ...EXPORT, records: [] }))).toEqual({ ok: true, value: { ...EXPORT, records: [] } });
  });

  it.each([
    ['short', (b: Uint8Array) => b.subarray(0, 301)],
    ['one byte more', (b: Uint8Array) => Uint8Array.from([...b, 0])],
    ['count says 3', (b: Uint8Array) => b.map((x, i) => (i === 4 ? 3 : x))],
    ['version 0', (b: Uint8Array) => b.map((x, i) => (i === 0 ? 0 : x))],
    ['reserved', (b: Uint8Array) => b.map((x, i) => (i === 2 ? 1 : x))],
  ])('refuses %s as malformed', (_, patch) => {
    expect(decodeGlpExport(patch(encodeGlpExport(EXPORT)))).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('refuses to encode parts of the wrong size', () => {
    expect(() => encodeGlpExport({ ...EXPORT, checkpoint: part(155, 0) })).toThrow(RangeError);
    expect(() => encodeGlpExport({ ...EXPORT, records: [part(75, 0)] })).toThrow(RangeError);
  });

  it('random bytes never throw; what decodes re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 600 }),
          fc.tuple(fc.nat(5), fc.uint8Array({ minLength: 302, maxLength: 302 })).map(([n, rest]) => {
            const b = new Uint8Array(302 + n * 76);
            b.set(rest);
            b.set([1, 0, 0, 0, n, 0, 0, 0]);
            return b;
          }),
        ),
        (b) => {
          const d = decodeGlpExport(b);
          if (d.ok) expect(encodeGlpExport(d.value)).toEqual(b);
          else expect(d.code).toBe('malformed');
        },
      ),
      { seed: 0xe8, numRuns: 2_000 },
    );
  });
});
