// The glass pH electrode as a physical model on the world's clock: the solution it sits in, its
// potential by Nernst with its own offset and slope, response time, noise, drift, ageing and faults.
// Not firmware (the meter only sees volts on an ADC pin: front-end.ts, sensors.ts), nor the buffers'
// pH at a temperature (buffers.ts): the electrode is told the solution's actual pH.
//
// Model (DESIGN §6; sign convention and S(T) from nernst.ts):
//   line(t)   = { slope₀ − slopeLossPerDay·age(t), offset₀ + offsetGrowthMvPerDay·age(t) + driftMvPerHour·h(t) }
//   target(t) = offset(t) − slope(t)·S(T)·(pH − 7)              (mvFromPh through the electrode's own line)
//   E(t)      = target(t) + A·exp(−(t − t₀)/τ),  τ = t90 / ln 10  (first-order response to the last change at t₀)
//   output    = E(t) + wander(t) [unstable only] + σ·N(0,1)       (one draw per read, from the stream 'electrode')
// age(t) = ageDays + days since the model was built; h(t) = hours since the model was built.
// At a change (immerse, or time 0) A is set so that E is continuous: the glass does not jump.

import { MedtwinError } from '../../src/errors.ts';
import type { Rng } from '../../src/sim/random.ts';
import type { World } from '../../src/sim/world.ts';
import { mvFromPh, type CalibrationLine } from './nernst.ts';

const US_PER_HOUR = 3_600_000_000;
const US_PER_DAY = 24 * US_PER_HOUR;

/** What the probe is dipped in: its actual pH at its actual temperature (a beaker the scenario moves the probe to). */
export interface Solution {
  readonly ph: number;
  readonly tempC: number;
}

/** Aqueous samples a lab meter meets; outside this a scenario has made a mistake (MedtwinError 'electrode.solution'). */
export const SOLUTION_PH_RANGE = Object.freeze({ min: -2, max: 16 });
export const SOLUTION_TEMP_C_RANGE = Object.freeze({ min: -10, max: 110 });

/** An electrode's character. Offset and slope are the electrode's when new (age 0); ageing moves them. */
export interface ElectrodeSpec {
  /** mV at pH 7 when new (the isopotential point: the same at every temperature). */
  readonly offsetMv: number;
  /** Slope efficiency when new, as a fraction of the Nernst slope (1 = 100 %). */
  readonly slopeFraction: number;
  /** Time to reach 90 % of a step change, µs. */
  readonly t90Us: number;
  /** White noise at the electrode, µV rms (thermal noise of a ~100 MΩ membrane plus pickup). */
  readonly noiseUvRms: number;
  /** Slow offset creep (reference junction), mV per hour since the model was built. */
  readonly driftMvPerHour: number;
  /** Age at the start of the run, days. */
  readonly ageDays: number;
  /** Slope efficiency lost per day of age (gel-layer wear of the glass membrane). */
  readonly slopeLossPerDay: number;
  /** Offset gained per day of age, mV (reference electrolyte depletion, junction fouling). */
  readonly offsetGrowthMvPerDay: number;
}

/**
 * Ageing rates (assumption: a general-purpose combination electrode lasts 12–18 months in daily
 * use and is discarded when calibration fails; 0.03 %/day takes 99 % to 85 % in about 15 months).
 */
export const SLOPE_LOSS_PER_DAY = 0.0003;
export const OFFSET_GROWTH_MV_PER_DAY = 0.05;

/**
 * A new electrode: within the acceptance window with margin (DESIGN §6: accept 85–105 %, |offset| ≤ 60 mV;
 * warn below 92 % or beyond 30 mV). Offset +4 mV and slope 99 % are typical of a fresh lab electrode
 * (non-zero so a sign error in any layer shows); t90 5 s; 10 µV rms; drift 0.02 mV/h (about 0.5 mV a day).
 */
export const NEW_PROBE: ElectrodeSpec = Object.freeze({
  offsetMv: 4,
  slopeFraction: 0.99,
  t90Us: 5_000_000,
  noiseUvRms: 10,
  driftMvPerHour: 0.02,
  ageDays: 0,
  slopeLossPerDay: SLOPE_LOSS_PER_DAY,
  offsetGrowthMvPerDay: OFFSET_GROWTH_MV_PER_DAY,
});

/**
 * The same electrode 540 days (18 months) on. It FAILS calibration acceptance:
 *  - slope 0.99 − 540 × 0.0003 = 0.828 (82.8 %) < 85 %  → fail (DESIGN §6);
 *  - offset 4 + 540 × 0.05 = 31 mV > 30 mV               → a warning on its own (not a failure: < 60 mV).
 * Old glass is also sluggish and noisier: t90 30 s, 50 µV rms, drift 0.1 mV/h.
 */
export const OLD_PROBE: ElectrodeSpec = Object.freeze({
  ...NEW_PROBE,
  ageDays: 540,
  t90Us: 30_000_000,
  noiseUvRms: 50,
  driftMvPerHour: 0.1,
});

/**
 * Faults a scenario can inject:
 * - 'dead-open': cable or connector broken, electrode unplugged: no potential at all. The front end's
 *   high-impedance input is pulled to its rail (front-end.ts), so the ADC reads pinned: detected per sample.
 * - 'dead-shorted': cracked membrane, inner and outer solutions in contact: a flat 0 mV whatever the
 *   solution (noise only). One sample cannot tell it from pH 7; calibration does (slope ≈ 0 %).
 * - 'unstable': clogged junction or static: a low-frequency wander of several mV plus broadband noise
 *   of UNSTABLE_NOISE_UV_RMS, so no stability criterion holds.
 */
export type ElectrodeFault = 'none' | 'dead-open' | 'dead-shorted' | 'unstable';
export const ELECTRODE_FAULTS: readonly ElectrodeFault[] = Object.freeze(['none', 'dead-open', 'dead-shorted', 'unstable']);

/**
 * The unstable electrode's wander: three incommensurate sines (amplitude mV, period s), phases drawn at
 * injection. Sized so that no window is stable by a lab criterion: a line fitted to ten 1 Hz samples
 * leaves ≥ 0.7 mV rms of residual in every window (measured: 6 seeds × 1 h against stability.ts),
 * over twice the default 0.3 mV noise bound; shorter or sparser windows that see less of it see
 * drifts of mV per minute instead.
 */
export const UNSTABLE_WANDER = Object.freeze([
  Object.freeze({ amplitudeMv: 2.0, periodS: 53 }),
  Object.freeze({ amplitudeMv: 1.5, periodS: 19 }),
  Object.freeze({ amplitudeMv: 2.0, periodS: 7 }),
]);
/** The unstable electrode's broadband noise, µV rms (in place of the spec's). */
export const UNSTABLE_NOISE_UV_RMS = 500;

/** The electrode's true line after `ageDays` of ageing (no drift): what a perfect calibration would find. */
export function agedLine(spec: ElectrodeSpec, ageDays: number): CalibrationLine {
  const slope = spec.slopeFraction - spec.slopeLossPerDay * ageDays;
  return { slopeFraction: slope > 0 ? slope : 0, offsetMv: spec.offsetMv + spec.offsetGrowthMvPerDay * ageDays };
}

export interface PhElectrodeOptions {
  readonly world: World;
  /** The device the probe belongs to: its random stream and trace. */
  readonly device: string;
  readonly spec: ElectrodeSpec;
  /** Where it starts, settled; default pH 7.00 at 25 °C. */
  readonly solution?: Solution;
}

function checkSolution(s: Solution): void {
  if (!(s.ph >= SOLUTION_PH_RANGE.min && s.ph <= SOLUTION_PH_RANGE.max)) {
    throw new MedtwinError('electrode.solution', `pH must be ${SOLUTION_PH_RANGE.min}..${SOLUTION_PH_RANGE.max}, got ${s.ph}`);
  }
  if (!(s.tempC >= SOLUTION_TEMP_C_RANGE.min && s.tempC <= SOLUTION_TEMP_C_RANGE.max)) {
    throw new MedtwinError(
      'electrode.solution',
      `temperature must be ${SOLUTION_TEMP_C_RANGE.min}..${SOLUTION_TEMP_C_RANGE.max} °C, got ${s.tempC}`,
    );
  }
}

function checkSpec(spec: ElectrodeSpec): void {
  const finite = Object.entries(spec).find(([, v]) => typeof v !== 'number' || !Number.isFinite(v));
  if (finite !== undefined) throw new MedtwinError('electrode.config', `${finite[0]} must be a finite number, got ${finite[1]}`);
  if (!(spec.slopeFraction > 0)) throw new MedtwinError('electrode.config', `slope must be > 0, got ${spec.slopeFraction}`);
  if (!(spec.t90Us > 0)) throw new MedtwinError('electrode.config', `t90 must be > 0 µs, got ${spec.t90Us}`);
  if (spec.noiseUvRms < 0 || spec.ageDays < 0 || spec.slopeLossPerDay < 0) {
    throw new MedtwinError('electrode.config', 'noise, age and slope loss must be ≥ 0');
  }
}

export class PhElectrode {
  readonly spec: ElectrodeSpec;
  private readonly world: World;
  private readonly device: string;
  private readonly rng: Rng;
  private readonly tauUs: number;
  private readonly builtUs: number;
  private solutionNow: Solution;
  /** Time of the last change and the transient amplitude A left at it (mV). */
  private changeUs: number;
  private transientMv = 0;
  private faultNow: ElectrodeFault = 'none';
  private wanderPhases: readonly number[] = [];

  constructor(opts: PhElectrodeOptions) {
    checkSpec(opts.spec);
    const solution = opts.solution ?? { ph: 7, tempC: 25 };
    checkSolution(solution);
    this.spec = opts.spec;
    this.world = opts.world;
    this.device = opts.device;
    this.rng = opts.world.random.stream(opts.device, 'electrode');
    this.tauUs = opts.spec.t90Us / Math.LN10;
    this.builtUs = opts.world.nowUs;
    this.changeUs = this.builtUs;
    this.solutionNow = { ph: solution.ph, tempC: solution.tempC };
  }

  get solution(): Solution {
    return this.solutionNow;
  }

  get fault(): ElectrodeFault {
    return this.faultNow;
  }

  /** Age at `nowUs`, days. */
  ageDaysAt(nowUs: number): number {
    return this.spec.ageDays + (nowUs - this.builtUs) / US_PER_DAY;
  }

  /** The electrode's true line at `nowUs`: ageing plus drift. */
  lineAt(nowUs: number): CalibrationLine {
    const aged = agedLine(this.spec, this.ageDaysAt(nowUs));
    return { slopeFraction: aged.slopeFraction, offsetMv: aged.offsetMv + this.spec.driftMvPerHour * ((nowUs - this.builtUs) / US_PER_HOUR) };
  }

  /** The settled potential in the current solution at `nowUs` (where the response is heading). */
  targetMvAt(nowUs: number): number {
    return mvFromPh(this.solutionNow.ph, this.solutionNow.tempC, this.lineAt(nowUs));
  }

  /** The healthy electrode's noise-free potential at `nowUs`: target plus what is left of the last transient. */
  responseMvAt(nowUs: number): number {
    if (nowUs < this.changeUs) {
      throw new MedtwinError('electrode.time', `${this.device}: asked for ${nowUs} µs, before the last change at ${this.changeUs} µs`);
    }
    return this.targetMvAt(nowUs) + this.transientMv * Math.exp(-(nowUs - this.changeUs) / this.tauUs);
  }

  /**
   * What the electrode puts on the front end's input at `nowUs`, mV; undefined with 'dead-open'
   * (no galvanic path: the potential is undefined and the front end decides what it reads).
   * Draws one noise value per call whatever the fault, so the stream does not depend on faults.
   */
  mvAt(nowUs: number): number | undefined {
    const n = this.rng.normal();
    switch (this.faultNow) {
      case 'dead-open':
        return undefined;
      case 'dead-shorted':
        return (this.spec.noiseUvRms / 1000) * n;
      case 'unstable':
        return this.responseMvAt(nowUs) + this.wanderMvAt(nowUs) + (UNSTABLE_NOISE_UV_RMS / 1000) * n;
      case 'none':
        return this.responseMvAt(nowUs) + (this.spec.noiseUvRms / 1000) * n;
    }
  }

  /** Move the probe into `solution` now; the potential heads to the new value with the electrode's t90. */
  immerse(solution: Solution): void {
    checkSolution(solution);
    const now = this.world.nowUs;
    const from = this.responseMvAt(now);
    this.solutionNow = { ph: solution.ph, tempC: solution.tempC };
    this.changeUs = now;
    this.transientMv = from - this.targetMvAt(now);
    if (this.world.trace.wants('probe')) {
      this.world.trace.record(this.device, 'probe', 'immerse', { ph: solution.ph, tempC: solution.tempC });
    }
  }

  /** Inject (or clear, with 'none') a fault now. */
  setFault(fault: ElectrodeFault): void {
    if (!ELECTRODE_FAULTS.includes(fault)) throw new MedtwinError('electrode.fault', `no electrode fault "${String(fault)}"`);
    if (fault === 'unstable' && this.faultNow !== 'unstable') {
      this.wanderPhases = UNSTABLE_WANDER.map(() => 2 * Math.PI * this.rng.nextFloat());
    }
    this.faultNow = fault;
    if (this.world.trace.wants('probe')) this.world.trace.record(this.device, 'probe', 'electrode.fault', { fault });
  }

  private wanderMvAt(nowUs: number): number {
    const s = nowUs / 1_000_000;
    let mv = 0;
    UNSTABLE_WANDER.forEach((w, i) => {
      mv += w.amplitudeMv * Math.sin((2 * Math.PI * s) / w.periodS + this.wanderPhases[i]!);
    });
    return mv;
  }
}
