// The simulated pump mechanism: a stepper pushing the plunger, a line-pressure sensor, injectable occlusion.
// Not the delivery engine: rates, reservoir and occlusion detection are the pump firmware's.

import type { Ledger, Meters } from '../ledger.ts';
import type { PumpMotor, PumpMotorClient } from '../motor.ts';
import { fail, okVoid, type HalResult } from '../result.ts';
import { MedtwinError } from '../../src/errors.ts';
import type { Rng } from '../../src/sim/random.ts';
import type { World } from '../../src/sim/world.ts';
import { KW31Z_COSTS, type CostTable } from './costs.ts';

/** 0.05 U of U-100 insulin per step (the contract in hal/motor.ts). */
export const MILLIUNITS_PER_STEP = 50;

/**
 * Mechanical time of one step: coil pulse, gear train and plunger settle (assumption: 100 ms).
 * This is how long the motor is busy, not the delivery rate: the firmware paces step() calls
 * (a 1.5 U/min bolus is one step every 2 s), so only a fast bolus runs back to back.
 */
export const MOTOR_STEP_US = 100_000;

/** Line-pressure rise per step pushed against a blocked line, kPa (assumption). */
export const OCCLUSION_KPA_PER_STEP = 15;

/** Sensor noise on the pressure read after a run, kPa rms (assumption). */
export const PRESSURE_NOISE_KPA_SIGMA = 0.5;

/** Reported to 0.1 kPa: the resolution of a small gauge-pressure sensor (assumption). */
const PRESSURE_RESOLUTION_PER_KPA = 10;

export interface Kw31zPumpMotorOptions {
  readonly device: string;
  readonly world: World;
  readonly ledger: Ledger;
  /** Default OCCLUSION_KPA_PER_STEP. */
  readonly occlusionKpaPerStep?: number;
  /** Default PRESSURE_NOISE_KPA_SIGMA; 0 gives an ideal sensor. */
  readonly pressureNoiseKpaSigma?: number;
  readonly costs?: CostTable;
}

interface Run {
  readonly requested: number;
  done: number;
  stopRequested: boolean;
}

/**
 * step(n) makes one step every MOTOR_STEP_US, charging each as it completes, then reports
 * stepsDone(n, pressureKpa). stop() lets the step in progress finish — a stepper stopped
 * mid-step loses its position — and then reports the steps made, so a count of steps is
 * always a count of whole 0.05 U doses.
 *
 * Pressure: baseline 0 kPa, plus OCCLUSION_KPA_PER_STEP for every step made while the line
 * is occluded (held until clearOcclusion releases it), plus Gaussian sensor noise from the
 * seeded stream 'motor', clamped at 0 and rounded to 0.1 kPa.
 */
export class Kw31zPumpMotor implements PumpMotor {
  readonly milliUnitsPerStep = MILLIUNITS_PER_STEP;
  private readonly device: string;
  private readonly world: World;
  private readonly ledger: Ledger;
  private readonly rng: Rng;
  private readonly stepMeters: Meters;
  private readonly occlusionKpaPerStep: number;
  private readonly noiseKpaSigma: number;
  private client: PumpMotorClient | undefined;
  private run: Run | undefined;
  private occluded = false;
  /** Pressure built up against an occlusion, kPa. */
  private trappedKpa = 0;
  private stepsTotal = 0;

  constructor(opts: Kw31zPumpMotorOptions) {
    this.device = opts.device;
    this.world = opts.world;
    this.ledger = opts.ledger;
    this.rng = opts.world.random.stream(opts.device, 'motor');
    const costs = opts.costs ?? KW31Z_COSTS;
    this.stepMeters = { motorSteps: 1, cpuCycles: Math.round(costs.motorCyclesPerStep.value) };
    this.occlusionKpaPerStep = opts.occlusionKpaPerStep ?? OCCLUSION_KPA_PER_STEP;
    this.noiseKpaSigma = opts.pressureNoiseKpaSigma ?? PRESSURE_NOISE_KPA_SIGMA;
    if (!(this.occlusionKpaPerStep >= 0) || !(this.noiseKpaSigma >= 0)) {
      throw new MedtwinError('motor.config', 'occlusion rise and pressure noise must be ≥ 0 kPa');
    }
  }

  /** Steps made since power-up (world side: the plunger's travel, for tests and reports). */
  get totalSteps(): number {
    return this.stepsTotal;
  }

  /**
   * The plunger's position: every step made since the mechanism was built. Kept by the
   * world, not the firmware, so a firmware reboot reads the same figure.
   */
  positionSteps(): number {
    return this.stepsTotal;
  }

  get moving(): boolean {
    return this.run !== undefined;
  }

  setClient(client: PumpMotorClient): void {
    this.client = client;
  }

  step(steps: number): HalResult {
    if (!Number.isInteger(steps) || steps <= 0) return fail('invalid', `steps must be a positive integer, got ${steps}`);
    if (this.client === undefined) return fail('off', 'no client: nobody would hear stepsDone');
    if (this.run !== undefined) return fail('busy', `moving: ${this.run.done} of ${this.run.requested} steps made`);
    this.run = { requested: steps, done: 0, stopRequested: false };
    this.scheduleStep();
    if (this.world.trace.wants('motor')) this.world.trace.record(this.device, 'motor', 'step', { steps });
    return okVoid;
  }

  stop(): void {
    if (this.run === undefined || this.run.stopRequested) return;
    this.run.stopRequested = true;
    if (this.world.trace.wants('motor')) this.world.trace.record(this.device, 'motor', 'stop', { done: this.run.done });
  }

  /** World side: block the line; each step from now on raises the pressure. */
  injectOcclusion(): void {
    this.occluded = true;
    if (this.world.trace.wants('motor')) this.world.trace.record(this.device, 'motor', 'occlusion', {});
  }

  /** World side: clear the blockage; the trapped pressure is released at once. */
  clearOcclusion(): void {
    this.occluded = false;
    this.trappedKpa = 0;
    if (this.world.trace.wants('motor')) this.world.trace.record(this.device, 'motor', 'occlusion.clear', {});
  }

  private scheduleStep(): void {
    this.world.scheduler.schedule(MOTOR_STEP_US, () => this.stepMade(), 'motor.step');
  }

  private stepMade(): void {
    const run = this.run;
    if (run === undefined) throw new MedtwinError('motor.state', `${this.device}: a step completed with no run`);
    run.done++;
    this.stepsTotal++;
    if (this.occluded) this.trappedKpa += this.occlusionKpaPerStep;
    this.ledger.charge('motor', this.stepMeters);
    if (run.done < run.requested && !run.stopRequested) {
      this.scheduleStep();
      return;
    }
    this.run = undefined;
    const pressureKpa = this.readPressureKpa();
    if (this.world.trace.wants('motor')) {
      this.world.trace.record(this.device, 'motor', 'done', { steps: run.done, requested: run.requested, pressureKpa });
    }
    this.client!.stepsDone(run.done, pressureKpa);
  }

  private readPressureKpa(): number {
    // One draw per read whatever the sigma, so the stream does not depend on configuration.
    const kpa = this.trappedKpa + this.noiseKpaSigma * this.rng.normal();
    return kpa <= 0 ? 0 : Math.round(kpa * PRESSURE_RESOLUTION_PER_KPA) / PRESSURE_RESOLUTION_PER_KPA;
  }
}
