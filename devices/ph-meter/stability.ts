// Stability of the electrode signal: drift and noise of the last N mV samples, judged against a criterion.
// Pure numbers; not the sampling (measurement.machine.ts) nor what a stable reading is used for.
//
// Method: the least-squares line of mV on time over the window. Its slope is the drift (mV/min); the rms of the
// residuals about it (n − 2 degrees of freedom) is the noise. A settling electrode fails on drift, a noisy or
// wandering one on noise (and usually on drift too).
//
// Default criterion: 10 samples (10 s at the 1 s sampling period), drift ≤ 1.0 mV/min, noise ≤ 0.3 mV rms.
// The drift figure is the common lab-meter endpoint convention — METTLER TOLEDO's "medium" criterion, signal
// change < 0.1 mV in 6 s (≈ 1 mV/min), as we know it from its Seven-series instructions (not re-read here);
// 1 mV/min is 0.017 pH/min. The noise bound sits between a healthy glass electrode behind a 16-bit converter
// (tens of µV, electrode.ts NEW_PROBE 10 µV rms, OLD_PROBE 50 µV) and the clogged-junction fault's 0.5 mV rms
// (electrode.ts UNSTABLE_NOISE_UV_RMS). Both are configurable per device (MeasurementConfig.stability).

import { MedtwinError } from '../../src/errors.ts';

export interface StabilityCriteria {
  /** Samples in the window (≥ 3: the noise needs n − 2 ≥ 1). */
  readonly windowSamples: number;
  readonly maxDriftMvPerMin: number;
  readonly maxNoiseMvRms: number;
}

export const DEFAULT_STABILITY: StabilityCriteria = Object.freeze({ windowSamples: 10, maxDriftMvPerMin: 1.0, maxNoiseMvRms: 0.3 });

/** A configuration error, not an input: MedtwinError('ph.config'). */
export function checkStabilityCriteria(c: StabilityCriteria): void {
  if (!Number.isInteger(c.windowSamples) || c.windowSamples < 3 || c.windowSamples > 1000) {
    throw new MedtwinError('ph.config', `stability window must be 3..1000 samples, got ${c.windowSamples}`);
  }
  if (!(c.maxDriftMvPerMin > 0) || !Number.isFinite(c.maxDriftMvPerMin)) throw new MedtwinError('ph.config', `drift limit must be > 0 mV/min, got ${c.maxDriftMvPerMin}`);
  if (!(c.maxNoiseMvRms > 0) || !Number.isFinite(c.maxNoiseMvRms)) throw new MedtwinError('ph.config', `noise limit must be > 0 mV, got ${c.maxNoiseMvRms}`);
}

export interface TimedMv {
  readonly atUs: number;
  readonly mv: number;
}

export interface StabilityVerdict {
  readonly stable: boolean;
  /** Undefined until the window has two samples at different times. */
  readonly driftMvPerMin: number | undefined;
  /** Undefined until the window has three samples. */
  readonly noiseMvRms: number | undefined;
  readonly samples: number;
}

const US_PER_MIN = 60_000_000;

/** Judge the window (oldest first). Stable only with a full window inside both limits. */
export function judgeStability(window: readonly TimedMv[], criteria: StabilityCriteria = DEFAULT_STABILITY): StabilityVerdict {
  const n = window.length;
  if (n < 2) return { stable: false, driftMvPerMin: undefined, noiseMvRms: undefined, samples: n };
  // Times relative to the first sample, in minutes: µs since boot squared would lose precision.
  const t0 = window[0]!.atUs;
  const ts = window.map((s) => (s.atUs - t0) / US_PER_MIN);
  const tMean = ts.reduce((a, b) => a + b, 0) / n;
  const eMean = window.reduce((a, s) => a + s.mv, 0) / n;
  let stt = 0;
  let ste = 0;
  for (let i = 0; i < n; i++) {
    stt += (ts[i]! - tMean) ** 2;
    ste += (ts[i]! - tMean) * (window[i]!.mv - eMean);
  }
  if (!(stt > 0)) return { stable: false, driftMvPerMin: undefined, noiseMvRms: undefined, samples: n };
  const driftMvPerMin = ste / stt;
  let noiseMvRms: number | undefined;
  if (n >= 3) {
    let sse = 0;
    for (let i = 0; i < n; i++) sse += (window[i]!.mv - (eMean + driftMvPerMin * (ts[i]! - tMean))) ** 2;
    noiseMvRms = Math.sqrt(sse / (n - 2));
  }
  const stable =
    n >= criteria.windowSamples &&
    Math.abs(driftMvPerMin) <= criteria.maxDriftMvPerMin &&
    noiseMvRms !== undefined &&
    noiseMvRms <= criteria.maxNoiseMvRms;
  return { stable, driftMvPerMin, noiseMvRms, samples: n };
}
