// Tests of the stability judgement on exact windows: drift as the least-squares slope, noise as the residual
// rms, the limits, and configuration errors (stability.ts). Not sampling (measurement.test.ts).

import { describe, expect, it } from 'vitest';
import { DEFAULT_STABILITY, checkStabilityCriteria, judgeStability, type TimedMv } from '../../../devices/ph-meter/stability.ts';
import { isMedtwinError } from '../../../src/errors.ts';

const US_PER_S = 1_000_000;
/** n samples a second apart from t0, mV given by f(seconds since t0). */
const window = (n: number, f: (s: number) => number, t0 = 1_000 * US_PER_S): TimedMv[] => Array.from({ length: n }, (_, i) => ({ atUs: t0 + i * US_PER_S, mv: f(i) }));

describe('judgeStability', () => {
  it('a flat signal is stable with drift 0 and noise 0 once the window is full', () => {
    expect(judgeStability(window(10, () => 12.5))).toEqual({ stable: true, driftMvPerMin: 0, noiseMvRms: 0, samples: 10 });
    expect(judgeStability(window(9, () => 12.5))).toEqual({ stable: false, driftMvPerMin: 0, noiseMvRms: 0, samples: 9 });
  });

  it('drift is the slope in mV/min: a ramp of 0.9 mV/min passes, 1.1 mV/min does not', () => {
    const slow = judgeStability(window(10, (s) => 100 + (0.9 / 60) * s));
    expect(slow.driftMvPerMin).toBeCloseTo(0.9, 9);
    expect(slow.noiseMvRms).toBeCloseTo(0, 9);
    expect(slow.stable).toBe(true);
    const fast = judgeStability(window(10, (s) => 100 - (1.1 / 60) * s));
    expect(fast.driftMvPerMin).toBeCloseTo(-1.1, 9);
    expect(fast.stable).toBe(false);
  });

  it('noise is the rms of the residuals with n − 2 degrees of freedom', () => {
    // ±a alternating over 10 samples: the fitted slope is small but not zero; compute the exact residuals.
    const a = 0.25;
    const w = window(10, (s) => (s % 2 === 0 ? a : -a));
    const v = judgeStability(w);
    const ts = w.map((_, i) => i / 60);
    const tMean = ts.reduce((x, y) => x + y, 0) / 10;
    const eMean = w.reduce((x, s) => x + s.mv, 0) / 10;
    const slope = ts.reduce((acc, t, i) => acc + (t - tMean) * (w[i]!.mv - eMean), 0) / ts.reduce((acc, t) => acc + (t - tMean) ** 2, 0);
    const sse = w.reduce((acc, s, i) => acc + (s.mv - (eMean + slope * (ts[i]! - tMean))) ** 2, 0);
    expect(v.driftMvPerMin).toBeCloseTo(slope, 12);
    expect(v.noiseMvRms).toBeCloseTo(Math.sqrt(sse / 8), 12);
    // About a·√(10/8) = 0.28 mV less what the slope takes: just under the 0.3 mV limit.
    expect(v.noiseMvRms!).toBeGreaterThan(0.25);
    expect(v.noiseMvRms!).toBeLessThan(0.3);
    expect(v.stable).toBe(Math.abs(slope) <= 1 && v.noiseMvRms! <= 0.3);
    // Twice the amplitude is noise over the limit.
    expect(judgeStability(window(10, (s) => (s % 2 === 0 ? 2 * a : -2 * a))).stable).toBe(false);
  });

  it('says nothing with fewer than two samples or no time between them', () => {
    expect(judgeStability([])).toEqual({ stable: false, driftMvPerMin: undefined, noiseMvRms: undefined, samples: 0 });
    expect(judgeStability(window(1, () => 1))).toEqual({ stable: false, driftMvPerMin: undefined, noiseMvRms: undefined, samples: 1 });
    expect(judgeStability([{ atUs: 5, mv: 1 }, { atUs: 5, mv: 2 }, { atUs: 5, mv: 3 }]).driftMvPerMin).toBeUndefined();
    expect(judgeStability(window(2, (s) => s)).noiseMvRms).toBeUndefined();
  });

  it('uses the criteria it is given', () => {
    const w = window(5, (s) => (s / 60) * 3); // 3 mV/min
    expect(judgeStability(w, { windowSamples: 5, maxDriftMvPerMin: 3.5, maxNoiseMvRms: 0.1 }).stable).toBe(true);
    expect(judgeStability(w, { windowSamples: 5, maxDriftMvPerMin: 2.5, maxNoiseMvRms: 0.1 }).stable).toBe(false);
    expect(judgeStability(w, { windowSamples: 6, maxDriftMvPerMin: 3.5, maxNoiseMvRms: 0.1 }).stable).toBe(false);
  });
});

describe('checkStabilityCriteria', () => {
  it.each([
    [{ ...DEFAULT_STABILITY, windowSamples: 2 }],
    [{ ...DEFAULT_STABILITY, windowSamples: 3.5 }],
    [{ ...DEFAULT_STABILITY, windowSamples: 1001 }],
    [{ ...DEFAULT_STABILITY, maxDriftMvPerMin: -1 }],
    [{ ...DEFAULT_STABILITY, maxNoiseMvRms: Number.NaN }],
    [{ ...DEFAULT_STABILITY, maxNoiseMvRms: Number.POSITIVE_INFINITY }],
  ])('refuses %j with ph.config', (c) => {
    let error: unknown;
    try {
      checkStabilityCriteria(c);
    } catch (e) {
      error = e;
    }
    expect(isMedtwinError(error) && error.code).toBe('ph.config');
  });

  it('accepts the defaults: 10 samples, 1.0 mV/min, 0.3 mV rms', () => {
    expect(DEFAULT_STABILITY).toEqual({ windowSamples: 10, maxDriftMvPerMin: 1.0, maxNoiseMvRms: 0.3 });
    expect(() => checkStabilityCriteria(DEFAULT_STABILITY)).not.toThrow();
  });
});
