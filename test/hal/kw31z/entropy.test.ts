// Tests for the simulated KW31Z TRNG: seeded determinism per device and purpose, length errors
// that change nothing, exact ledger charges, and a trace without the bytes. Not statistical tests.

import { describe, expect, it } from 'vitest';
import { KW31Z_TRNG_MAX_BYTES, Kw31zTrng } from '../../../hal/kw31z/entropy.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import type { Activity } from '../../../hal/ledger.ts';
import type { HalResult } from '../../../hal/result.ts';
import { World } from '../../../src/sim/world.ts';

function setup(seed = 'trng-test', device = 'ph-meter') {
  const world = new World({ seed });
  const ledger = new Kw31zLedger(device, () => world.nowUs);
  const trng = new Kw31zTrng({ device, world, ledger });
  const meters = (a: Activity) => ledger.summary().activities.find((x) => x.activity === a)!.meters;
  return { world, ledger, trng, meters };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
function value(r: HalResult<Uint8Array>): Uint8Array {
  if (!r.ok) throw new Error(`getBytes failed: ${r.code}`);
  return r.value;
}

describe('Kw31zTrng bytes', () => {
  it('gives the bytes of the world stream (device, "trng") — pinned for seed "trng-test"', () => {
    const { trng } = setup();
    // Golden: changes only if src/sim/random.ts changes, which would also change every trace.
    expect(hex(value(trng.getBytes(8)))).toBe('1ef61a0f4c8c6bce');
  });

  it('is the same for the same seed and device, and continues the stream call after call', () => {
    const a = setup();
    const b = setup();
    const first = value(a.trng.getBytes(16));
    const second = value(a.trng.getBytes(16));
    expect(value(b.trng.getBytes(16))).toEqual(first);
    expect(value(b.trng.getBytes(16))).toEqual(second);
    expect(second).not.toEqual(first);
    const reference = new World({ seed: 'trng-test' }).random.stream('ph-meter', 'trng');
    expect(first).toEqual(reference.bytes(16));
    expect(second).toEqual(reference.bytes(16));
  });

  it('differs for another device, another seed and another purpose', () => {
    const mine = value(setup().trng.getBytes(16));
    expect(value(setup('trng-test', 'pump').trng.getBytes(16))).not.toEqual(mine);
    expect(value(setup('other-seed').trng.getBytes(16))).not.toEqual(mine);
    expect(new World({ seed: 'trng-test' }).random.stream('ph-meter', 'adc').bytes(16)).not.toEqual(mine);
  });

  it('is not shifted by other streams of the same device being drawn first', () => {
    const a = setup();
    a.world.random.stream('ph-meter', 'adc').bytes(100);
    expect(value(a.trng.getBytes(8))).toEqual(value(setup().trng.getBytes(8)));
  });

  it('accepts 1 and 4096 bytes, and draws whole 32-bit words (3 + 3 bytes is not 6)', () => {
    const { trng } = setup();
    expect(value(trng.getBytes(1))).toHaveLength(1);
    expect(value(trng.getBytes(KW31Z_TRNG_MAX_BYTES))).toHaveLength(4096);
    const split = setup();
    const six = value(setup().trng.getBytes(6));
    const threeThree = new Uint8Array([...value(split.trng.getBytes(3)), ...value(split.trng.getBytes(3))]);
    expect(threeThree.subarray(0, 3)).toEqual(six.subarray(0, 3));
    expect(threeThree.subarray(3)).not.toEqual(six.subarray(3));
  });
});

describe('Kw31zTrng errors', () => {
  it.each([
    [0, 'invalid'],
    [-1, 'invalid'],
    [1.5, 'invalid'],
    [Number.NaN, 'invalid'],
    [KW31Z_TRNG_MAX_BYTES + 1, 'size'],
  ])('getBytes(%s) fails with %s, charges nothing and does not advance the stream', (length, code) => {
    const { trng, meters } = setup();
    expect(trng.getBytes(length)).toMatchObject({ ok: false, code });
    expect(meters('crypto').cpuCycles).toBe(0);
    expect(value(trng.getBytes(8))).toEqual(value(setup().trng.getBytes(8)));
  });
});

describe('Kw31zTrng ledger and trace', () => {
  it('charges crypto cpuCycles = bytes × trngCyclesPerByte, nothing else', () => {
    const { trng, meters } = setup();
    value(trng.getBytes(32));
    value(trng.getBytes(5));
    expect(KW31Z_COSTS.trngCyclesPerByte.value).toBe(400);
    expect(meters('crypto')).toMatchObject({ cpuCycles: 37 * 400, aesBlocksHw: 0, adcConversions: 0 });
    for (const a of ['radio', 'flash', 'sensing', 'motor', 'app'] as const) expect(meters(a).cpuCycles).toBe(0);
  });

  it('traces the length, never the bytes', () => {
    const { world, trng } = setup();
    const bytes = value(trng.getBytes(16));
    expect(world.trace.filter({ layer: 'crypto', kind: 'trng.read' }).map((r) => r.fields)).toEqual([{ length: 16 }]);
    expect(world.trace.toJsonLines()).not.toContain(hex(bytes).slice(0, 8));
  });
});
