import { describe, expect, it } from 'vitest';
import { RandomStreams, Rng } from '../../src/sim/random.ts';

describe('RandomStreams', () => {
  it('gives the same sequence for the same seed, device and purpose', () => {
    const a = new RandomStreams('7').stream('pump-1', 'adc');
    const b = new RandomStreams('7').stream('pump-1', 'adc');
    expect(Array.from({ length: 8 }, () => a.nextU32())).toEqual(Array.from({ length: 8 }, () => b.nextU32()));
  });

  it('separates streams by seed, device and purpose', () => {
    const first = (seed: string, dev: string, purpose: string) => new RandomStreams(seed).stream(dev, purpose).nextU32();
    const base = first('7', 'pump-1', 'adc');
    expect(first('8', 'pump-1', 'adc')).not.toBe(base);
    expect(first('7', 'pump-2', 'adc')).not.toBe(base);
    expect(first('7', 'pump-1', 'trng')).not.toBe(base);
  });

  it('returns the same stream object when asked twice, so consumers never replay each other', () => {
    const r = new RandomStreams('1');
    expect(r.stream('d', 'p')).toBe(r.stream('d', 'p'));
  });

  it('keeps int() within bounds and hits both ends', () => {
    const g = new Rng('bounds');
    const seen = new Set<number>();
    for (let i = 0; i < 1_000; i++) {
      const v = g.int(3, 6);
      expect(v).toBeGreaterThanOrEqual(3);
      expect(v).toBeLessThanOrEqual(6);
      seen.add(v);
    }
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it('fills odd-length byte arrays deterministically', () => {
    expect(new Rng('x').bytes(7)).toEqual(new Rng('x').bytes(7));
    expect(new Rng('x').bytes(7)).not.toEqual(new Rng('y').bytes(7));
  });
});
