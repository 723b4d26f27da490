// A scripted ProbeReader for the pH machines' tests: a signal generator on a real World's clock whose mV is
// mvFromPh through a stated electrode line, with optional first-order settling, seeded noise and a wander.
// Not the sensors (devices/ph-meter/sensors.ts reads the simulated ADC) and not a mock: it answers split-phase,
// later, on the scheduler, exactly as the contract in probe.ts says.

import { mvFromPh, type CalibrationLine } from '../../../devices/ph-meter/nernst.ts';
import type { ProbeFault, ProbeReader, ProbeSample } from '../../../devices/ph-meter/probe.ts';
import type { Rng } from '../../../src/sim/random.ts';
import type { World } from '../../../src/sim/world.ts';

export interface Beaker {
  readonly ph: number;
  readonly tempC: number;
}

export interface ScriptedProbeOptions {
  readonly world: World;
  /** The electrode: E = offset − slope·S(T)·(pH − 7). */
  readonly line: CalibrationLine;
  readonly beaker?: Beaker;
  /** Time from read() to the sample, µs (two ADC conversions and their settling). Default 2 ms. */
  readonly latencyUs?: number;
  /** First-order response time constant after each immerse, µs; 0 = the new potential at once. */
  readonly tauUs?: number;
  /** Gaussian noise, mV rms, from the world's stream ('probe', 'scripted'). Default 0. */
  readonly noiseMvRms?: number;
}

export interface Wander {
  readonly amplitudeMv: number;
  readonly periodS: number;
}

export class ScriptedProbe implements ProbeReader {
  line: CalibrationLine;
  /** Reads started (busy refusals not counted). */
  reads = 0;
  private readonly world: World;
  private readonly rng: Rng;
  private readonly latencyUs: number;
  private readonly tauUs: number;
  private readonly noiseMvRms: number;
  private beakerNow: Beaker;
  private changeUs: number;
  private fromMv: number;
  private faults: ProbeFault[] = [];
  private wander: Wander | undefined;
  private forcedMv: number | undefined;
  private inFlight = false;

  constructor(opts: ScriptedProbeOptions) {
    this.world = opts.world;
    this.line = opts.line;
    this.rng = opts.world.random.stream('probe', 'scripted');
    this.latencyUs = opts.latencyUs ?? 2_000;
    this.tauUs = opts.tauUs ?? 0;
    this.noiseMvRms = opts.noiseMvRms ?? 0;
    this.beakerNow = opts.beaker ?? { ph: 7, tempC: 25 };
    this.changeUs = opts.world.nowUs;
    this.fromMv = this.targetMv();
  }

  get beaker(): Beaker {
    return this.beakerNow;
  }

  /** The settled potential in the current beaker (what a perfect reading would show). */
  targetMv(): number {
    return mvFromPh(this.beakerNow.ph, this.beakerNow.tempC, this.line);
  }

  /** The noise-free potential at `atUs`. */
  cleanMvAt(atUs: number): number {
    const target = this.targetMv();
    if (this.tauUs === 0) return target;
    return target + (this.fromMv - target) * Math.exp(-(atUs - this.changeUs) / this.tauUs);
  }

  /** Move the probe to another beaker now; with tauUs the potential settles from where it was. */
  immerse(beaker: Beaker): void {
    const now = this.world.nowUs;
    this.fromMv = this.cleanMvAt(now);
    this.changeUs = now;
    this.beakerNow = beaker;
  }

  /** Faults every following sample reports (empty = healthy). */
  setFaults(faults: readonly ProbeFault[]): void {
    this.faults = [...faults];
  }

  setWander(wander: Wander | undefined): void {
    this.wander = wander;
  }

  /** Report this mV whatever the beaker (a front end near its rail), or undefined to stop. */
  forceMv(mv: number | undefined): void {
    this.forcedMv = mv;
  }

  read(done: (sample: ProbeSample) => void): { readonly ok: true } | { readonly ok: false; readonly code: 'busy' } {
    if (this.inFlight) return { ok: false, code: 'busy' };
    this.inFlight = true;
    this.reads++;
    this.world.alarm().setAlarm(this.latencyUs, () => {
      this.inFlight = false;
      done(this.sampleNow());
    });
    return { ok: true };
  }

  private sampleNow(): ProbeSample {
    const atUs = this.world.nowUs;
    const noise = this.noiseMvRms * this.rng.normal(); // drawn every sample, so faults do not shift the stream
    const faults = [...this.faults];
    const dead = faults.includes('electrode-dead');
    const tempFault = faults.includes('temperature-open') || faults.includes('temperature-short');
    let mv: number | undefined;
    if (!dead) {
      const wander = this.wander === undefined ? 0 : this.wander.amplitudeMv * Math.sin((2 * Math.PI * atUs) / (this.wander.periodS * 1e6));
      mv = this.forcedMv ?? this.cleanMvAt(atUs) + wander + noise;
    }
    return { atUs, mv, tempC: tempFault ? undefined : this.beakerNow.tempC, faults };
  }
}
