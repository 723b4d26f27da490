// Delivery engine: 0.05 U pulses for basal, TBR and boluses on the Alarm, hard limits per pulse, occlusion, reservoir, battery.
// Not the therapy machine: IDS states, roles, bolus IDs and history belong to the caller; this obeys plain commands.
//
// Timing model (all on the Alarm, integer microseconds):
// - Basal accrues continuously at the rate in force; a pulse is made when a whole pulse has
//   accrued. Pulse k of a constant rate R mU/h from t0 is at t0 + ⌈k × 50 mU × 1 h / R⌉, so an
//   hour's R/50 pulses are evenly spaced, and the fraction left over at a rate change, a TBR,
//   a pause or an hour boundary carries on: never lost, never doubled. Accrual is kept as an
//   exact integer (mU × µs/h × 100, the 100 for relative TBR percentages).
// - A fast bolus is one pulse every BOLUS_PULSE_INTERVAL_US, the first at once. An extended
//   bolus of N pulses over D is a pulse at t0 + ⌈j × D / N⌉, j = 1..N (the last at t0 + D). A
//   multiwave bolus is its fast part, then its extended part over D from the last fast pulse.
// - One motor run is one step (one pulse). When two streams are due together the motor makes
//   them one after the other, 100 ms apart; each stream keeps its nominal schedule (no drift).
// - stop()/pause() cancel the pending pulse synchronously, so no pulse starts after the
//   request; a step already moving finishes (a stepper stopped mid-step loses its position).
//   Both cancel an active bolus (it is never resumed: the user programs it again); stop also
//   ends the temporary basal, pause lets it run out its time.
// - After a reboot the engine starts 'stopped' with no bolus and no TBR: therapy resumes only
//   when the user (the therapy machine) starts it again. Never a resumed bolus.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';
import type { PumpMotor, PumpMotorClient } from '../../hal/motor.ts';
import type { Power } from '../../hal/power.ts';
import { MedtwinError } from '../../src/errors.ts';
import type { DeliveryJournal, PulseCounts, PulseKind } from './delivery-journal.ts';
import { US_PER_HOUR } from './delivery-journal.ts';
import {
  checkBasalRate,
  checkBolus,
  checkDaily,
  DEFAULT_LIMITS,
  validateLimits,
  type HardLimits,
  type LimitCode,
} from './limits.ts';

/** One pulse every 2 s: 0.05 U / 2 s = 1.5 U/min, a common pump bolus speed (assumption). */
export const BOLUS_PULSE_INTERVAL_US = 2_000_000;
/** Line pressure at which an occlusion is declared, kPa (assumption: ≈ 80 σ of the sensor noise). */
export const OCCLUSION_THRESHOLD_KPA = 40;
/** A rise of at least this much on each of two pulses in a row is an occlusion trend, kPa (assumption: ≈ 11 σ of a difference of two noisy reads). */
export const OCCLUSION_RISE_KPA = 8;
/**
 * Against the simulated line (+15 kPa a pulse), the trend fires on the second pulse after the
 * blockage when a reading before it exists, the threshold on the third in any case.
 */
export const OCCLUSION_DETECT_MAX_PULSES = 3;
/** Reservoir-low warning at 20 U left (assumption: about a day for most adults). */
export const RESERVOIR_LOW_MILLIUNITS = 20_000;
/**
 * Insulin on board: each bolus pulse acts linearly to zero over 4 h (assumption: a common
 * duration-of-insulin-action setting for rapid-acting analogues). Basal is the baseline the
 * patient's needs were set against, so only bolus insulin counts, as most pumps report it.
 */
export const INSULIN_ACTION_MINUTES = 240;
/** Longest temporary basal or extended bolus (assumption: 24 h, IDS durations are minutes). */
export const MAX_DURATION_MINUTES = 24 * 60;
/** Relative temporary basal range, % (assumption: 0–250 %; the max-basal limit binds first anyway). */
export const MAX_TBR_PERCENT = 250;

const US_PER_MINUTE = 60_000_000;
const PERCENT = 100;

export type EngineState = 'stopped' | 'paused' | 'running';
export type StopReason = 'user' | 'occlusion' | 'reservoir-empty' | 'motor-fault' | 'journal' | 'limit';
export type EngineErrorCode = LimitCode | 'invalid' | 'not-running' | 'stopped' | 'bolus-active' | 'no-bolus' | 'reservoir-empty' | 'journal';
export type EngineResult<T = void> = { ok: true; value: T } | { ok: false; code: EngineErrorCode; detail?: string };

export type BolusRequest =
  | { readonly kind: 'fast'; readonly bolusId: number; readonly amountMilliUnits: number }
  | { readonly kind: 'extended'; readonly bolusId: number; readonly amountMilliUnits: number; readonly durationMinutes: number }
  | {
      readonly kind: 'multiwave';
      readonly bolusId: number;
      readonly fastMilliUnits: number;
      readonly extendedMilliUnits: number;
      readonly durationMinutes: number;
    };

export type TempBasalRequest =
  | { readonly kind: 'absolute'; readonly rateMilliUnitsPerHour: number; readonly durationMinutes: number }
  | { readonly kind: 'relative'; readonly percent: number; readonly durationMinutes: number };

export type DeliveryEvent =
  | { readonly type: 'pulse'; readonly kind: PulseKind; readonly bolusId: number; readonly startedAtUs: number; readonly steps: number; readonly pressureKpa: number }
  | { readonly type: 'state.changed'; readonly state: EngineState; readonly reason: StopReason }
  | ({ readonly type: 'bolus.done'; readonly bolusId: number; readonly deliveredMilliUnits: number } & BolusParts)
  | ({
      readonly type: 'bolus.cancelled';
      readonly bolusId: number;
      readonly deliveredMilliUnits: number;
      readonly programmedMilliUnits: number;
      readonly reason: StopReason | 'pause' | 'stop';
    } & BolusParts)
  | { readonly type: 'tbr.done' }
  | { readonly type: 'tbr.cancelled' }
  | { readonly type: 'occlusion'; readonly pressureKpa: number }
  | { readonly type: 'reservoir.low'; readonly remainingMilliUnits: number }
  | { readonly type: 'reservoir.empty'; readonly remainingMilliUnits: number }
  | { readonly type: 'battery.low'; readonly levelPercent: number }
  | { readonly type: 'limit.reached'; readonly code: LimitCode; readonly pulseKind: PulseKind }
  | { readonly type: 'motor.fault'; readonly code: string }
  | { readonly type: 'journal.failed'; readonly code: string };

export type DeliveryListener = (event: DeliveryEvent) => void;

export interface DeliveryEngineOptions {
  readonly alarm: Alarm;
  readonly motor: PumpMotor;
  readonly power: Power;
  readonly journal: DeliveryJournal;
  /** Default DEFAULT_LIMITS; must lie within the absolute bounds (throws otherwise: configuration). */
  readonly limits?: HardLimits;
  readonly reservoirLowMilliUnits?: number;
  readonly bolusPulseIntervalUs?: number;
}

/** What a finished bolus delivered, by part (IDS Bolus Delivered: fast and extended amounts, effective duration). */
export interface BolusParts {
  readonly kind: BolusRequest['kind'];
  readonly deliveredFastMilliUnits: number;
  readonly deliveredExtendedMilliUnits: number;
  /** Minutes the extended part ran, to its last pulse settled (0 for a fast bolus), to the nearest minute. */
  readonly effectiveDurationMinutes: number;
}

export interface ActiveBolus {
  readonly bolusId: number;
  readonly kind: BolusRequest['kind'];
  readonly programmedMilliUnits: number;
  readonly deliveredMilliUnits: number;
  /** The fast and extended parts, programmed and delivered (pulses started), mU. */
  readonly fast: { readonly programmedMilliUnits: number; readonly deliveredMilliUnits: number };
  readonly extended: { readonly programmedMilliUnits: number; readonly deliveredMilliUnits: number; readonly durationMinutes: number };
}

export interface TempBasalStatus {
  readonly request: TempBasalRequest;
  readonly endUs: number;
}

interface Bolus {
  readonly id: number;
  readonly kind: BolusRequest['kind'];
  readonly fastPulses: number;
  readonly extendedPulses: number;
  readonly extendedDurationUs: number;
  readonly fastStartUs: number;
  /** Pulses started (each started pulse completes: a step in progress always finishes). */
  fastStarted: number;
  extendedStarted: number;
  /** When the extended part's clock starts: at once for 'extended', after the fast part for 'multiwave'. */
  extendedStartUs: number | undefined;
}

interface TempBasal {
  readonly request: TempBasalRequest;
  readonly endUs: number;
  readonly timer: AlarmId;
}

interface InFlight {
  readonly kind: PulseKind;
  readonly bolusId: number;
  readonly part: 'basal' | 'fast' | 'extended';
  readonly startedAtUs: number;
}

const okVoid: EngineResult = { ok: true, value: undefined };
const fail = (code: EngineErrorCode, detail?: string): { ok: false; code: EngineErrorCode; detail?: string } =>
  detail === undefined ? { ok: false, code } : { ok: false, code, detail };

const isDurationMinutes = (m: number): boolean => Number.isInteger(m) && m >= 1 && m <= MAX_DURATION_MINUTES;

export class DeliveryEngine implements PumpMotorClient {
  private readonly alarm: Alarm;
  private readonly motor: PumpMotor;
  private readonly power: Power;
  private readonly journal: DeliveryJournal;
  private readonly reservoirLowMilliUnits: number;
  private readonly bolusPulseIntervalUs: number;
  private readonly milliUnitsPerPulse: number;
  /** Accrual that makes one pulse: 50 mU × µs/h × 100 (see the header). */
  private readonly pulseAccrual: number;
  private readonly listeners: DeliveryListener[] = [];

  private limits: HardLimits;
  private engineState: EngineState = 'stopped';
  private profileRateMilliUnitsPerHour = 0;
  private tempBasal: TempBasal | undefined;
  private bolus: Bolus | undefined;
  private inFlight: InFlight | undefined;
  private timer: AlarmId | undefined;
  private disposed = false;

  private basalAccrual = 0;
  private basalAccruedToUs = 0;
  /** The program in force when the accrual last crossed a whole pulse: the pulse's kind. */
  private basalCrossedKind: PulseKind | undefined;

  private pressureHistoryKpa: number[] = [];
  private reservoirLowReported = false;
  private batteryLowReported = false;
  private dailyLimitReported = false;
  private basalClampReported = false;
  /** Completion instants of bolus pulses within the action time, for insulin on board. */
  private bolusPulseTimesUs: number[] = [];

  constructor(opts: DeliveryEngineOptions) {
    this.alarm = opts.alarm;
    this.motor = opts.motor;
    this.power = opts.power;
    this.journal = opts.journal;
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    const bounds = validateLimits(this.limits);
    if (!bounds.ok) throw new MedtwinError('pump.limits', `delivery engine limits: ${bounds.detail ?? bounds.code}`);
    this.reservoirLowMilliUnits = opts.reservoirLowMilliUnits ?? RESERVOIR_LOW_MILLIUNITS;
    this.bolusPulseIntervalUs = opts.bolusPulseIntervalUs ?? BOLUS_PULSE_INTERVAL_US;
    this.milliUnitsPerPulse = this.motor.milliUnitsPerStep;
    this.pulseAccrual = this.milliUnitsPerPulse * US_PER_HOUR * PERCENT;
    this.basalAccruedToUs = this.alarm.nowUs();
    // Insulin on board survives a reboot as far as the journal's history still reaches back.
    const sinceUs = this.alarm.nowUs() - INSULIN_ACTION_MINUTES * US_PER_MINUTE;
    for (const e of this.journal.history()) {
      if (e.phase === 'settled' && (e.kind === 'bolusFast' || e.kind === 'bolusExtended') && e.atUs > sinceUs) {
        for (let i = 0; i < e.steps; i++) this.bolusPulseTimesUs.push(e.atUs);
      }
    }
    // reservoir.low is raised again by start() after a reboot: the annunciation lived in RAM.
    this.motor.setClient(this);
  }

  // ─── observation ─────────────────────────────────────────────────────────────────────────

  /** Subscribe to annunciation-worthy events; returns the unsubscribe function. */
  onEvent(listener: DeliveryListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  get state(): EngineState {
    return this.engineState;
  }

  get currentLimits(): HardLimits {
    return this.limits;
  }

  /** Pulses delivered per kind (from the journal, so they match the plunger after a reboot). */
  pulses(): Readonly<PulseCounts> {
    return this.journal.pulses();
  }

  reservoirRemainingMilliUnits(): number {
    return this.journal.reservoirRemainingMilliUnits();
  }

  deliveredLast24hMilliUnits(): number {
    return this.journal.deliveredLast24hMilliUnits(this.alarm.nowUs());
  }

  get basalRateMilliUnitsPerHour(): number {
    return this.profileRateMilliUnitsPerHour;
  }

  /** The basal rate in force (TBR applied, clamped to max basal), mU/h; may be fractional for a relative TBR. */
  get effectiveBasalRateMilliUnitsPerHour(): number {
    return this.effectiveRateCenti() / PERCENT;
  }

  get activeTempBasal(): TempBasalStatus | undefined {
    return this.tempBasal === undefined ? undefined : { request: this.tempBasal.request, endUs: this.tempBasal.endUs };
  }

  get activeBolus(): ActiveBolus | undefined {
    const b = this.bolus;
    if (b === undefined) return undefined;
    return {
      bolusId: b.id,
      kind: b.kind,
      programmedMilliUnits: (b.fastPulses + b.extendedPulses) * this.milliUnitsPerPulse,
      deliveredMilliUnits: (b.fastStarted + b.extendedStarted) * this.milliUnitsPerPulse,
      fast: { programmedMilliUnits: b.fastPulses * this.milliUnitsPerPulse, deliveredMilliUnits: b.fastStarted * this.milliUnitsPerPulse },
      extended: { programmedMilliUnits: b.extendedPulses * this.milliUnitsPerPulse, deliveredMilliUnits: b.extendedStarted * this.milliUnitsPerPulse, durationMinutes: b.extendedDurationUs / US_PER_MINUTE },
    };
  }

  /**
   * Bolus insulin still acting, mU, rounded down: Σ 50 mU × (1 − age / INSULIN_ACTION_MINUTES)
   * over bolus pulses younger than the action time (the linear model above).
   */
  insulinOnBoardMilliUnits(): number {
    const nowUs = this.alarm.nowUs();
    const actionUs = INSULIN_ACTION_MINUTES * US_PER_MINUTE;
    this.bolusPulseTimesUs = this.bolusPulseTimesUs.filter((t) => nowUs - t < actionUs);
    let scaled = 0;
    for (const t of this.bolusPulseTimesUs) scaled += this.milliUnitsPerPulse * (actionUs - (nowUs - t));
    return Math.floor(scaled / actionUs);
  }

  // ─── commands ────────────────────────────────────────────────────────────────────────────

  /** The clinician's limits, within the absolute bounds; they apply from the next pulse. */
  setLimits(limits: HardLimits): EngineResult {
    const bounds = validateLimits(limits);
    if (!bounds.ok) return bounds;
    this.advanceBasal();
    this.limits = limits;
    this.rearm();
    return okVoid;
  }

  /** The profile rate in force (the delivery port's basal schedule calls this at each block boundary). */
  setBasalRate(rateMilliUnitsPerHour: number): EngineResult {
    if (!Number.isInteger(rateMilliUnitsPerHour)) return fail('invalid', `basal rate ${rateMilliUnitsPerHour} is not whole mU/h`);
    const check = checkBasalRate(this.limits, rateMilliUnitsPerHour);
    if (!check.ok) return check;
    this.advanceBasal();
    this.profileRateMilliUnitsPerHour = rateMilliUnitsPerHour;
    this.rearm();
    return okVoid;
  }

  /** Start (or replace) a temporary basal; refused when stopped. The rate it gives must be within max basal. */
  setTempBasal(request: TempBasalRequest): EngineResult {
    if (this.engineState === 'stopped') return fail('stopped', 'no temporary basal while therapy is stopped');
    if (!isDurationMinutes(request.durationMinutes)) return fail('invalid', `duration ${request.durationMinutes} min outside 1..${MAX_DURATION_MINUTES}`);
    let rate: number;
    if (request.kind === 'absolute') {
      if (!Number.isInteger(request.rateMilliUnitsPerHour)) return fail('invalid', 'TBR rate is not whole mU/h');
      rate = request.rateMilliUnitsPerHour;
    } else {
      if (!Number.isInteger(request.percent) || request.percent < 0 || request.percent > MAX_TBR_PERCENT) {
        return fail('out-of-bounds', `TBR ${request.percent} % outside 0..${MAX_TBR_PERCENT}`);
      }
      rate = (this.profileRateMilliUnitsPerHour * request.percent) / PERCENT;
    }
    const check = checkBasalRate(this.limits, rate);
    if (!check.ok) return check;
    this.advanceBasal();
    if (this.tempBasal !== undefined) this.alarm.cancel(this.tempBasal.timer);
    const durationUs = request.durationMinutes * US_PER_MINUTE;
    const timer = this.alarm.setAlarm(durationUs, () => this.tempBasalOver());
    this.tempBasal = { request, endUs: this.alarm.nowUs() + durationUs, timer };
    this.rearm();
    return okVoid;
  }

  cancelTempBasal(): EngineResult {
    if (this.tempBasal === undefined) return fail('invalid', 'no temporary basal is active');
    this.endTempBasal();
    this.emit({ type: 'tbr.cancelled' });
    this.rearm();
    return okVoid;
  }

  /**
   * Program a bolus (running only, one at a time). Amounts are whole pulses (multiples of
   * 50 mU); the whole bolus must fit max bolus and, with the last 24 h, max daily.
   */
  startBolus(request: BolusRequest): EngineResult<{ bolusId: number }> {
    if (this.engineState !== 'running') return fail('not-running', `therapy is ${this.engineState}`);
    if (this.bolus !== undefined) return fail('bolus-active', `bolus ${this.bolus.id} is active`);
    if (!Number.isInteger(request.bolusId) || request.bolusId < 1 || request.bolusId > 0xffff) return fail('invalid', `bolus id ${request.bolusId}`);
    const fastMilliUnits = request.kind === 'fast' ? request.amountMilliUnits : request.kind === 'multiwave' ? request.fastMilliUnits : 0;
    const extendedMilliUnits =
      request.kind === 'extended' ? request.amountMilliUnits : request.kind === 'multiwave' ? request.extendedMilliUnits : 0;
    const durationMinutes = request.kind === 'fast' ? 0 : request.durationMinutes;
    for (const part of [fastMilliUnits, extendedMilliUnits]) {
      if (!Number.isInteger(part) || part < 0 || part % this.milliUnitsPerPulse !== 0) {
        return fail('invalid', `bolus part ${part} mU is not a whole number of ${this.milliUnitsPerPulse} mU pulses`);
      }
    }
    if (request.kind === 'multiwave' && (fastMilliUnits === 0 || extendedMilliUnits === 0)) return fail('invalid', 'a multiwave bolus needs both parts');
    if (request.kind !== 'fast' && !isDurationMinutes(durationMinutes)) return fail('invalid', `duration ${durationMinutes} min outside 1..${MAX_DURATION_MINUTES}`);
    const check = checkBolus(this.limits, { deliveredLast24hMilliUnits: this.deliveredLast24hMilliUnits(), committedMilliUnits: 0 }, fastMilliUnits + extendedMilliUnits);
    if (!check.ok) return check;
    // Journaled before it can pulse, so a power cut always knows which bolus it interrupted.
    const journaled = this.journal.beginBolus(request.bolusId);
    if (!journaled.ok) return fail('journal', journaled.code);
    const nowUs = this.alarm.nowUs();
    this.bolus = {
      id: request.bolusId,
      kind: request.kind,
      fastPulses: fastMilliUnits / this.milliUnitsPerPulse,
      extendedPulses: extendedMilliUnits / this.milliUnitsPerPulse,
      extendedDurationUs: durationMinutes * US_PER_MINUTE,
      fastStartUs: nowUs,
      fastStarted: 0,
      extendedStarted: 0,
      extendedStartUs: request.kind === 'extended' ? nowUs : undefined,
    };
    this.rearm();
    return { ok: true, value: { bolusId: request.bolusId } };
  }

  /** Cancel the active bolus; a pulse already moving completes and is counted as delivered. */
  cancelBolus(bolusId: number): EngineResult {
    if (this.bolus === undefined || this.bolus.id !== bolusId) return fail('no-bolus', `bolus ${bolusId} is not active`);
    this.dropBolus('user');
    this.rearm();
    return okVoid;
  }

  /** A new reservoir, while stopped. */
  fillReservoir(milliUnits: number): EngineResult {
    if (this.engineState !== 'stopped') return fail('invalid', 'fill the reservoir with therapy stopped');
    if (!Number.isInteger(milliUnits) || milliUnits < 0) return fail('invalid', `fill ${milliUnits} mU`);
    const w = this.journal.recordFill(milliUnits);
    if (!w.ok) return fail('journal', w.code);
    this.reservoirLowReported = false;
    return okVoid;
  }

  /** Run (from stopped or paused). Needs at least one pulse in the reservoir. */
  start(): EngineResult {
    if (this.engineState === 'running') return okVoid;
    if (this.journal.reservoirRemainingMilliUnits() < this.milliUnitsPerPulse) return fail('reservoir-empty', 'the reservoir holds less than one pulse');
    this.engineState = 'running';
    this.basalAccruedToUs = this.alarm.nowUs();
    this.emit({ type: 'state.changed', state: 'running', reason: 'user' });
    this.checkBattery();
    this.checkReservoirLow();
    this.rearm();
    return okVoid;
  }

  /** Pause: no pulse starts after this call; the bolus is cancelled; a TBR keeps its clock. */
  pause(): EngineResult {
    if (this.engineState !== 'running') return okVoid;
    this.halt('paused', 'user');
    return okVoid;
  }

  /** Stop: no pulse starts after this call; bolus and TBR are cancelled. Always possible. */
  stop(): EngineResult {
    if (this.engineState === 'stopped') return okVoid;
    this.halt('stopped', 'user');
    return okVoid;
  }

  /** The firmware died (power cut, reset): disarm everything, write nothing, hear nothing more. */
  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) this.alarm.cancel(this.timer);
    if (this.tempBasal !== undefined) this.alarm.cancel(this.tempBasal.timer);
    this.timer = undefined;
  }

  // ─── the motor ───────────────────────────────────────────────────────────────────────────

  stepsDone(stepsDone: number, pressureKpa: number): void {
    if (this.disposed) return;
    const f = this.inFlight;
    // A run this firmware did not start (one the previous boot left moving): nothing to settle.
    if (f === undefined) return;
    this.inFlight = undefined;
    const nowUs = this.alarm.nowUs();
    const w = this.journal.settlePulse(stepsDone);
    const b = this.bolus;
    if (b !== undefined && b.id === f.bolusId && stepsDone === 0) {
      // Only a stop can end a run early; a pulse that was not made is not delivered.
      if (f.part === 'fast') b.fastStarted -= 1;
      else if (f.part === 'extended') b.extendedStarted -= 1;
    }
    if (f.part !== 'basal') for (let i = 0; i < stepsDone; i++) this.bolusPulseTimesUs.push(nowUs);
    if (stepsDone > 0) this.dailyLimitReported = false;
    this.emit({ type: 'pulse', kind: f.kind, bolusId: f.bolusId, startedAtUs: f.startedAtUs, steps: stepsDone, pressureKpa });
    // A bolus whose last pulse just landed is done, even if this pulse also ends therapy below.
    if (b !== undefined && this.bolus === b) {
      if (f.part === 'fast' && b.fastStarted === b.fastPulses && b.extendedPulses > 0 && b.extendedStartUs === undefined) {
        b.extendedStartUs = nowUs;
      }
      if (b.fastStarted === b.fastPulses && b.extendedStarted === b.extendedPulses) {
        this.bolus = undefined;
        this.emit({ type: 'bolus.done', bolusId: b.id, deliveredMilliUnits: (b.fastPulses + b.extendedPulses) * this.milliUnitsPerPulse, ...this.partsOf(b) });
        // After the listeners recorded it (history): a cut in between leaves it open, and recorded.
        this.journal.endBolus(b.id);
      }
    }
    if (!w.ok) {
      this.emit({ type: 'journal.failed', code: w.code });
      this.halt('stopped', 'journal');
      return;
    }
    if (this.detectOcclusion(pressureKpa)) {
      this.emit({ type: 'occlusion', pressureKpa });
      this.halt('stopped', 'occlusion');
      return;
    }
    this.checkReservoirLow();
    if (this.journal.reservoirRemainingMilliUnits() < this.milliUnitsPerPulse) {
      this.emit({ type: 'reservoir.empty', remainingMilliUnits: this.journal.reservoirRemainingMilliUnits() });
      this.halt('stopped', 'reservoir-empty');
      return;
    }
    this.checkBattery();
    this.rearm();
  }

  // ─── pacing ──────────────────────────────────────────────────────────────────────────────

  /** Basal rate in force × 100 (centi-mU/h), clamped to max basal. */
  private effectiveRateCenti(): number {
    const t = this.tempBasal?.request;
    const raw =
      t === undefined
        ? this.profileRateMilliUnitsPerHour * PERCENT
        : t.kind === 'absolute'
          ? t.rateMilliUnitsPerHour * PERCENT
          : this.profileRateMilliUnitsPerHour * t.percent;
    return Math.min(raw, this.limits.maxBasalRateMilliUnitsPerHour * PERCENT);
  }

  private currentBasalKind(): PulseKind {
    return this.tempBasal === undefined ? 'basal' : 'tempBasal';
  }

  private rawRateExceedsMax(): boolean {
    const t = this.tempBasal?.request;
    const raw =
      t === undefined
        ? this.profileRateMilliUnitsPerHour * PERCENT
        : t.kind === 'absolute'
          ? t.rateMilliUnitsPerHour * PERCENT
          : this.profileRateMilliUnitsPerHour * t.percent;
    return raw > this.limits.maxBasalRateMilliUnitsPerHour * PERCENT;
  }

  /** Accrue basal at the rate in force up to now; call before anything that changes the rate. */
  private advanceBasal(): void {
    const nowUs = this.alarm.nowUs();
    if (this.engineState === 'running') {
      const before = this.basalAccrual;
      this.basalAccrual += this.effectiveRateCenti() * (nowUs - this.basalAccruedToUs);
      // A pulse belongs to the program during which it became due (a TBR's last pulse can be
      // made just after the TBR ended, in the same microsecond).
      if (before < this.pulseAccrual && this.basalAccrual >= this.pulseAccrual) this.basalCrossedKind = this.currentBasalKind();
    }
    this.basalAccruedToUs = nowUs;
  }

  private basalDueUs(): number | undefined {
    const rate = this.effectiveRateCenti();
    if (this.basalAccrual >= this.pulseAccrual) return this.basalAccruedToUs;
    if (rate === 0) return undefined;
    return this.basalAccruedToUs + Math.ceil((this.pulseAccrual - this.basalAccrual) / rate);
  }

  private bolusDue(): { part: 'fast' | 'extended'; atUs: number } | undefined {
    const b = this.bolus;
    if (b === undefined) return undefined;
    if (b.fastStarted < b.fastPulses) return { part: 'fast', atUs: b.fastStartUs + b.fastStarted * this.bolusPulseIntervalUs };
    if (b.extendedStartUs !== undefined && b.extendedStarted < b.extendedPulses) {
      const j = b.extendedStarted + 1;
      return { part: 'extended', atUs: b.extendedStartUs + Math.ceil((j * b.extendedDurationUs) / b.extendedPulses) };
    }
    return undefined;
  }

  /** Arm the one pulse timer for the earliest due stream; nothing while not running or moving. */
  private rearm(): void {
    if (this.timer !== undefined) this.alarm.cancel(this.timer);
    this.timer = undefined;
    if (this.disposed || this.engineState !== 'running' || this.inFlight !== undefined) return;
    this.advanceBasal();
    const basal = this.basalDueUs();
    const bolus = this.bolusDue()?.atUs;
    const due = basal === undefined ? bolus : bolus === undefined ? basal : Math.min(basal, bolus);
    if (due === undefined) return;
    this.timer = this.alarm.setAlarm(Math.max(0, due - this.alarm.nowUs()), () => this.dispatch());
  }

  private dispatch(): void {
    this.timer = undefined;
    if (this.disposed || this.engineState !== 'running' || this.inFlight !== undefined) return;
    this.advanceBasal();
    const nowUs = this.alarm.nowUs();
    const basal = this.basalDueUs();
    const bolus = this.bolusDue();
    const basalReady = basal !== undefined && basal <= nowUs;
    const bolusReady = bolus !== undefined && bolus.atUs <= nowUs;
    // Both due: the one due first; a tie goes to basal (deterministic either way).
    if (basalReady && (!bolusReady || this.basalNominalDueUs() <= bolus.atUs)) this.basalPulse();
    else if (bolusReady) this.bolusPulse(bolus.part);
    else this.rearm();
  }

  /** When the pulse that has accrued was due: now minus the overshoot at the current rate. */
  private basalNominalDueUs(): number {
    const rate = this.effectiveRateCenti();
    if (rate === 0) return this.basalAccruedToUs;
    return this.basalAccruedToUs - Math.floor((this.basalAccrual - this.pulseAccrual) / rate);
  }

  private basalPulse(): void {
    // The accrued pulse is consumed whether or not it is made: insulin refused by a limit is
    // not owed later (catching up after a limit would be a burst).
    this.basalAccrual -= this.pulseAccrual;
    const kind: PulseKind = this.basalCrossedKind ?? this.currentBasalKind();
    this.basalCrossedKind = this.basalAccrual >= this.pulseAccrual ? this.currentBasalKind() : undefined;
    if (this.rawRateExceedsMax() && !this.basalClampReported) {
      this.basalClampReported = true;
      this.emit({ type: 'limit.reached', code: 'max-basal', pulseKind: kind });
    } else if (!this.rawRateExceedsMax()) {
      this.basalClampReported = false;
    }
    const daily = this.checkPulseDaily();
    if (!daily.ok) {
      if (!this.dailyLimitReported) {
        this.dailyLimitReported = true;
        this.emit({ type: 'limit.reached', code: daily.code, pulseKind: kind });
      }
      this.rearm();
      return;
    }
    this.makePulse(kind, 0, 'basal');
  }

  private bolusPulse(part: 'fast' | 'extended'): void {
    const b = this.bolus!;
    const kind: PulseKind = part === 'fast' ? 'bolusFast' : 'bolusExtended';
    // Defence in depth: the whole bolus was checked when programmed; the limits may have been
    // lowered since, and a bug above must not be able to push more than max bolus.
    const startedMilliUnits = (b.fastStarted + b.extendedStarted) * this.milliUnitsPerPulse;
    let refusal: LimitCode | undefined;
    if (startedMilliUnits + this.milliUnitsPerPulse > this.limits.maxBolusMilliUnits) refusal = 'max-bolus';
    else {
      const daily = this.checkPulseDaily();
      if (!daily.ok) refusal = daily.code;
    }
    if (refusal !== undefined) {
      this.emit({ type: 'limit.reached', code: refusal, pulseKind: kind });
      this.dropBolus('limit');
      this.rearm();
      return;
    }
    if (!this.makePulse(kind, b.id, part)) return;
    if (part === 'fast') b.fastStarted += 1;
    else b.extendedStarted += 1;
  }

  private checkPulseDaily() {
    return checkDaily(this.limits, { deliveredLast24hMilliUnits: this.deliveredLast24hMilliUnits(), committedMilliUnits: 0 }, this.milliUnitsPerPulse);
  }

  /** Intent, then the step; false when the pulse was not started (therapy is then stopped). */
  private makePulse(kind: PulseKind, bolusId: number, part: InFlight['part']): boolean {
    if (this.journal.reservoirRemainingMilliUnits() < this.milliUnitsPerPulse) {
      this.emit({ type: 'reservoir.empty', remainingMilliUnits: this.journal.reservoirRemainingMilliUnits() });
      this.halt('stopped', 'reservoir-empty');
      return false;
    }
    const intent = this.journal.beginPulse(kind, bolusId, 1);
    if (!intent.ok) {
      this.emit({ type: 'journal.failed', code: intent.code });
      this.halt('stopped', 'journal');
      return false;
    }
    const r = this.motor.step(1);
    if (!r.ok) {
      // Nothing moved: close the intent with zero steps so the journal stays exact.
      this.journal.settlePulse(0);
      this.emit({ type: 'motor.fault', code: r.code });
      this.halt('stopped', 'motor-fault');
      return false;
    }
    this.inFlight = { kind, bolusId, part, startedAtUs: this.alarm.nowUs() };
    return true;
  }

  // ─── halting, TBR, bolus ─────────────────────────────────────────────────────────────────

  private halt(state: 'stopped' | 'paused', reason: StopReason): void {
    if (this.timer !== undefined) this.alarm.cancel(this.timer);
    this.timer = undefined;
    // The step in progress finishes and is settled by stepsDone; no new one starts.
    if (this.inFlight !== undefined) this.motor.stop();
    this.advanceBasal();
    const wasState = this.engineState;
    this.engineState = state;
    if (this.bolus !== undefined) this.dropBolus(reason === 'user' ? (state === 'paused' ? 'pause' : 'stop') : reason);
    if (state === 'stopped' && this.tempBasal !== undefined) {
      this.endTempBasal();
      this.emit({ type: 'tbr.cancelled' });
    }
    if (wasState !== state) this.emit({ type: 'state.changed', state, reason });
  }

  private partsOf(b: NonNullable<DeliveryEngine['bolus']>): BolusParts {
    const ranUs = b.extendedStartUs === undefined || b.extendedPulses === 0 ? 0 : this.alarm.nowUs() - b.extendedStartUs;
    return {
      kind: b.kind,
      deliveredFastMilliUnits: b.fastStarted * this.milliUnitsPerPulse,
      deliveredExtendedMilliUnits: b.extendedStarted * this.milliUnitsPerPulse,
      effectiveDurationMinutes: Math.round(ranUs / US_PER_MINUTE),
    };
  }

  private dropBolus(reason: StopReason | 'pause' | 'stop'): void {
    const b = this.bolus!;
    this.bolus = undefined;
    this.emit({
      type: 'bolus.cancelled',
      bolusId: b.id,
      deliveredMilliUnits: (b.fastStarted + b.extendedStarted) * this.milliUnitsPerPulse,
      programmedMilliUnits: (b.fastPulses + b.extendedPulses) * this.milliUnitsPerPulse,
      reason,
      ...this.partsOf(b),
    });
    // As for bolus.done: closed in the journal once the listeners have recorded it.
    this.journal.endBolus(b.id);
  }

  private endTempBasal(): void {
    this.advanceBasal();
    if (this.tempBasal !== undefined) this.alarm.cancel(this.tempBasal.timer);
    this.tempBasal = undefined;
  }

  private tempBasalOver(): void {
    if (this.disposed || this.tempBasal === undefined) return;
    this.advanceBasal();
    this.tempBasal = undefined;
    this.emit({ type: 'tbr.done' });
    this.rearm();
  }

  // ─── sensors ─────────────────────────────────────────────────────────────────────────────

  /** Threshold, or two rises in a row of OCCLUSION_RISE_KPA each (see the constants). */
  private detectOcclusion(pressureKpa: number): boolean {
    const h = this.pressureHistoryKpa;
    h.push(pressureKpa);
    if (h.length > 3) h.shift();
    const [a, b, c] = h;
    const trend = a !== undefined && b !== undefined && c !== undefined && b - a >= OCCLUSION_RISE_KPA && c - b >= OCCLUSION_RISE_KPA;
    if (pressureKpa >= OCCLUSION_THRESHOLD_KPA || trend) {
      this.pressureHistoryKpa = [];
      return true;
    }
    return false;
  }

  private checkReservoirLow(): void {
    const remaining = this.journal.reservoirRemainingMilliUnits();
    if (remaining <= this.reservoirLowMilliUnits && !this.reservoirLowReported) {
      this.reservoirLowReported = true;
      this.emit({ type: 'reservoir.low', remainingMilliUnits: remaining });
    }
  }

  private checkBattery(): void {
    const b = this.power.battery();
    if (b.low && !this.batteryLowReported) this.emit({ type: 'battery.low', levelPercent: b.levelPercent });
    this.batteryLowReported = b.low;
  }

  private emit(event: DeliveryEvent): void {
    for (const l of this.listeners.slice()) l(event);
  }
}
