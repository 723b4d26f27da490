// Tests for the LE Secure Connections toolbox f4 f5 f6 g2 h6: Core spec Vol 3 Part H Appendix D
// sample data (MSB-first), the Linux self-test arrays (LSB-first) through toLsbFirst/fromLsbFirst,
// and every wrong input length. Not P-256 (p256.test.ts).

import { describe, expect, it } from 'vitest';
import {
  aesCmac,
  f4,
  f5,
  f6,
  formatNumericComparison,
  fromLsbFirst,
  g2,
  h6,
  toLsbFirst,
} from '../../src/crypto/index.ts';
import { fromHex, hex, loadVectors } from './helpers.ts';

type Fields = Record<string, string>;
interface ToolboxFile {
  toolbox: {
    f4: { spec: Fields; linuxKernelLsbFirst: Fields };
    f5: { spec: Fields; linuxKernelLsbFirst: Fields };
    f6: { spec: Fields; linuxKernelLsbFirst: Fields };
    g2: { spec: Fields; derived: { g2_decimal: number; numericComparisonValue: number } };
    h6: { spec: Fields; linuxKernelLsbFirst: Fields };
  };
}

const T = loadVectors<ToolboxFile>('le_sc_toolbox.json').toolbox;
const s = (f: Fields, k: string): Uint8Array => {
  const v = f[k];
  if (v === undefined) throw new Error(`vector field ${k} missing`);
  return fromHex(v);
};
const SRC = 'Core Vol 3 Part H Appendix D';
const LINUX = 'Linux net/bluetooth/smp.c self-test, LSB-first';

/**
 * Every vector entry these tests use, by id; each test below checks one. The count is
 * asserted so a vector added to the file and not wired in fails here (no silent skips).
 */
const USED = [
  'f4/spec',
  'f4/linux',
  'f5/spec.T',
  'f5/spec.M_MacKey',
  'f5/spec.M_LTK',
  'f5/spec',
  'f5/linux',
  'f6/spec',
  'f6/linux',
  'g2/spec.cmac',
  'g2/spec',
  'h6/spec',
  'h6/linux',
];

describe(`LE SC toolbox vectors (test/vectors/le_sc_toolbox.json: ${SRC})`, () => {
  it('uses every toolbox entry in the file: 5 spec sets, 4 Linux LSB-first sets, nothing skipped', () => {
    const names = Object.keys(T).sort();
    expect(names).toEqual(['f4', 'f5', 'f6', 'g2', 'h6']);
    const withLinux = names.filter((n) => 'linuxKernelLsbFirst' in (T as Record<string, object>)[n]!);
    expect(withLinux).toEqual(['f4', 'f5', 'f6', 'h6']);
    const inFile = [...names.map((n) => `${n}/spec`), ...withLinux.map((n) => `${n}/linux`)];
    const skipped = inFile.filter((e) => !USED.includes(e));
    expect(skipped).toEqual([]);
    expect(inFile).toHaveLength(9);
  });

  it(`f4/spec (§2.2.6, ${SRC})`, () => {
    const v = T.f4.spec;
    expect(hex(f4(s(v, 'U'), s(v, 'V'), s(v, 'X'), s(v, 'Z')))).toBe(v.out);
  });

  it(`f4/linux (${LINUX})`, () => {
    const l = T.f4.linuxKernelLsbFirst;
    const out = f4(fromLsbFirst(s(l, 'U')), fromLsbFirst(s(l, 'V')), fromLsbFirst(s(l, 'X')), Uint8Array.of(0));
    expect(hex(toLsbFirst(out))).toBe(l.out);
  });

  it(`f5/spec.T: T = AES-CMAC_SALT(W) (§2.2.7, ${SRC})`, () => {
    const v = T.f5.spec;
    expect(hex(aesCmac(s(v, 'SALT'), s(v, 'W')))).toBe(v.T);
  });

  it(`f5/spec.M_MacKey and f5/spec.M_LTK: the message blocks under T give MacKey and LTK (${SRC})`, () => {
    const v = T.f5.spec;
    expect(hex(aesCmac(s(v, 'T'), s(v, 'M_MacKey')))).toBe(v.MacKey);
    expect(hex(aesCmac(s(v, 'T'), s(v, 'M_LTK')))).toBe(v.LTK);
    expect(v.M_MacKey).toBe(`00${v.keyID}${v.N1}${v.N2}${v.A1}${v.A2}${v.Length}`);
  });

  it(`f5/spec (§2.2.7, ${SRC})`, () => {
    const v = T.f5.spec;
    const { macKey, ltk } = f5(s(v, 'W'), s(v, 'N1'), s(v, 'N2'), s(v, 'A1'), s(v, 'A2'));
    expect(hex(macKey)).toBe(v.MacKey);
    expect(hex(ltk)).toBe(v.LTK);
  });

  it(`f5/linux (${LINUX})`, () => {
    const l = T.f5.linuxKernelLsbFirst;
    const { macKey, ltk } = f5(fromLsbFirst(s(l, 'W')), fromLsbFirst(s(l, 'N1')), fromLsbFirst(s(l, 'N2')), fromLsbFirst(s(l, 'A1')), fromLsbFirst(s(l, 'A2')));
    expect(hex(toLsbFirst(macKey))).toBe(l.MacKey);
    expect(hex(toLsbFirst(ltk))).toBe(l.LTK);
  });

  it(`f6/spec (§2.2.8, ${SRC})`, () => {
    const v = T.f6.spec;
    expect(hex(f6(s(v, 'W'), s(v, 'N1'), s(v, 'N2'), s(v, 'R'), s(v, 'IOcap'), s(v, 'A1'), s(v, 'A2')))).toBe(v.out);
  });

  it(`f6/linux (${LINUX}; N1, N2, A1, A2 from the f5 arrays)`, () => {
    const l = T.f6.linuxKernelLsbFirst;
    const l5 = T.f5.linuxKernelLsbFirst;
    const out = f6(
      fromLsbFirst(s(l, 'W')),
      fromLsbFirst(s(l5, 'N1')),
      fromLsbFirst(s(l5, 'N2')),
      fromLsbFirst(s(l, 'R')),
      fromLsbFirst(s(l, 'IOcap')),
      fromLsbFirst(s(l5, 'A1')),
      fromLsbFirst(s(l5, 'A2')),
    );
    expect(hex(toLsbFirst(out))).toBe(l.out);
  });

  it(`g2/spec.cmac: the full CMAC and its low 32 bits (§2.2.9, ${SRC})`, () => {
    const v = T.g2.spec;
    const tag = aesCmac(s(v, 'X'), Uint8Array.from([...s(v, 'U'), ...s(v, 'V'), ...s(v, 'Y')]));
    expect(hex(tag)).toBe(v.cmac);
    expect(hex(tag.subarray(12))).toBe(v.g2);
    expect(Number.parseInt(v.g2!, 16)).toBe(T.g2.derived.g2_decimal);
  });

  it(`g2/spec: the six-digit value 2f9ed5ba mod 10^6 = 938554 (§2.2.9, ${SRC})`, () => {
    const v = T.g2.spec;
    const value = g2(s(v, 'U'), s(v, 'V'), s(v, 'X'), s(v, 'Y'));
    expect(value).toBe(938554);
    expect(value).toBe(T.g2.derived.numericComparisonValue);
    expect(formatNumericComparison(value)).toBe('938554');
  });

  it(`h6/spec (§2.2.10, ${SRC})`, () => {
    const v = T.h6.spec;
    expect(hex(h6(s(v, 'W'), s(v, 'keyID')))).toBe(v.out);
  });

  it(`h6/linux (${LINUX})`, () => {
    const l = T.h6.linuxKernelLsbFirst;
    expect(hex(toLsbFirst(h6(fromLsbFirst(s(l, 'W')), fromLsbFirst(s(l, 'keyID')))))).toBe(l.out);
  });
});

describe('byte order helpers', () => {
  it('toLsbFirst / fromLsbFirst reverse octets into a copy and leave the input alone', () => {
    const msb = Uint8Array.of(1, 2, 3, 4, 5);
    const lsb = toLsbFirst(msb);
    expect([...lsb]).toEqual([5, 4, 3, 2, 1]);
    expect([...msb]).toEqual([1, 2, 3, 4, 5]);
    expect([...fromLsbFirst(lsb)]).toEqual([1, 2, 3, 4, 5]);
    expect(toLsbFirst(new Uint8Array(0))).toHaveLength(0);
  });

  it('the Linux LSB-first arrays are exactly the byte-reversed spec values', () => {
    expect(hex(toLsbFirst(s(T.f4.spec, 'U')))).toBe(T.f4.linuxKernelLsbFirst.U);
    expect(hex(toLsbFirst(s(T.f5.spec, 'A1')))).toBe(T.f5.linuxKernelLsbFirst.A1);
    expect(hex(toLsbFirst(s(T.f6.spec, 'IOcap')))).toBe(T.f6.linuxKernelLsbFirst.IOcap);
  });

  it('formatNumericComparison zero-pads and rejects out-of-range values', () => {
    expect(formatNumericComparison(0)).toBe('000000');
    expect(formatNumericComparison(4521)).toBe('004521');
    expect(formatNumericComparison(999999)).toBe('999999');
    for (const bad of [-1, 1_000_000, 1.5, Number.NaN]) expect(() => formatNumericComparison(bad)).toThrow(RangeError);
  });
});

describe('toolbox input lengths → params', () => {
  const b = (n: number) => new Uint8Array(n);
  const ok = { u: b(32), v: b(32), k: b(16), n: b(16), z: b(1), a: b(7), io: b(3), id: b(4), w32: b(32) };
  // [function, argument, call with that argument one byte short, call one byte long]
  const cases: [string, () => unknown, () => unknown][] = [
    ['f4 U', () => f4(b(31), ok.v, ok.k, ok.z), () => f4(b(33), ok.v, ok.k, ok.z)],
    ['f4 V', () => f4(ok.u, b(31), ok.k, ok.z), () => f4(ok.u, b(33), ok.k, ok.z)],
    ['f4 X', () => f4(ok.u, ok.v, b(15), ok.z), () => f4(ok.u, ok.v, b(17), ok.z)],
    ['f4 Z', () => f4(ok.u, ok.v, ok.k, b(0)), () => f4(ok.u, ok.v, ok.k, b(2))],
    ['f5 W', () => f5(b(31), ok.n, ok.n, ok.a, ok.a), () => f5(b(33), ok.n, ok.n, ok.a, ok.a)],
    ['f5 N1', () => f5(ok.w32, b(15), ok.n, ok.a, ok.a), () => f5(ok.w32, b(17), ok.n, ok.a, ok.a)],
    ['f5 N2', () => f5(ok.w32, ok.n, b(15), ok.a, ok.a), () => f5(ok.w32, ok.n, b(17), ok.a, ok.a)],
    ['f5 A1', () => f5(ok.w32, ok.n, ok.n, b(6), ok.a), () => f5(ok.w32, ok.n, ok.n, b(8), ok.a)],
    ['f5 A2', () => f5(ok.w32, ok.n, ok.n, ok.a, b(6)), () => f5(ok.w32, ok.n, ok.n, ok.a, b(8))],
    ['f6 W', () => f6(b(15), ok.n, ok.n, ok.n, ok.io, ok.a, ok.a), () => f6(b(17), ok.n, ok.n, ok.n, ok.io, ok.a, ok.a)],
    ['f6 N1', () => f6(ok.k, b(15), ok.n, ok.n, ok.io, ok.a, ok.a), () => f6(ok.k, b(17), ok.n, ok.n, ok.io, ok.a, ok.a)],
    ['f6 N2', () => f6(ok.k, ok.n, b(15), ok.n, ok.io, ok.a, ok.a), () => f6(ok.k, ok.n, b(17), ok.n, ok.io, ok.a, ok.a)],
    ['f6 R', () => f6(ok.k, ok.n, ok.n, b(15), ok.io, ok.a, ok.a), () => f6(ok.k, ok.n, ok.n, b(17), ok.io, ok.a, ok.a)],
    ['f6 IOcap', () => f6(ok.k, ok.n, ok.n, ok.n, b(2), ok.a, ok.a), () => f6(ok.k, ok.n, ok.n, ok.n, b(4), ok.a, ok.a)],
    ['f6 A1', () => f6(ok.k, ok.n, ok.n, ok.n, ok.io, b(6), ok.a), () => f6(ok.k, ok.n, ok.n, ok.n, ok.io, b(8), ok.a)],
    ['f6 A2', () => f6(ok.k, ok.n, ok.n, ok.n, ok.io, ok.a, b(6)), () => f6(ok.k, ok.n, ok.n, ok.n, ok.io, ok.a, b(8))],
    ['g2 U', () => g2(b(31), ok.v, ok.k, ok.n), () => g2(b(33), ok.v, ok.k, ok.n)],
    ['g2 V', () => g2(ok.u, b(31), ok.k, ok.n), () => g2(ok.u, b(33), ok.k, ok.n)],
    ['g2 X', () => g2(ok.u, ok.v, b(15), ok.n), () => g2(ok.u, ok.v, b(17), ok.n)],
    ['g2 Y', () => g2(ok.u, ok.v, ok.k, b(15)), () => g2(ok.u, ok.v, ok.k, b(17))],
    ['h6 W', () => h6(b(15), ok.id), () => h6(b(17), ok.id)],
    ['h6 keyID', () => h6(ok.k, b(3)), () => h6(ok.k, b(5))],
  ];

  it.each(cases)('%s one byte short and one byte long', (name, short, long) => {
    for (const call of [short, long]) {
      expect(call, name).toThrow(expect.objectContaining({ code: 'params', message: expect.stringContaining(name) }));
    }
  });

  it('the same calls with the right lengths do not throw (so the failures above are the lengths)', () => {
    expect(f4(ok.u, ok.v, ok.k, ok.z)).toHaveLength(16);
    expect(f5(ok.w32, ok.n, ok.n, ok.a, ok.a).ltk).toHaveLength(16);
    expect(f6(ok.k, ok.n, ok.n, ok.n, ok.io, ok.a, ok.a)).toHaveLength(16);
    expect(g2(ok.u, ok.v, ok.k, ok.n)).toBeLessThan(1_000_000);
    expect(h6(ok.k, ok.id)).toHaveLength(16);
  });
});
