// Reference model for the pump's session property tests: what each IDS command sent over the session should get
// (which verdicts are allowed), and what the accepted ones programmed. Not the pump: written from docs/protocol.md
// §6.1 and ids.md §3.3 / §5 without importing the pump's tables, so it can disagree with the code under test.
//
// Time: the pump handles a request at some instant between the phone sending it (tS) and the answer arriving
// (tA). Where that matters the model is generous: over [tS, tA] the basal rate it counts is the larger of the
// rates before and after the command; a TBR or priming run ends somewhere in [tS + D, tA + D], and the driver
// never sends a command inside such a window (it waits until the window closed), so the model's state is exact
// outside the two things it cannot know: whether the daily limit cut a bolus short, and in which hour bucket a
// request falls when [tS, tA] straddles an hour boundary. There it allows both verdicts.

import type { CcpRequest } from '../../../devices/insulin-pump/ids/index.ts';

export type Who = 'patient' | 'clinician' | 'service' | 'emergency';

/** The least role of each CCP opcode this test sends (docs/protocol.md §6.1), restated, not imported. */
export const LEAST_ROLE: Readonly<Partial<Record<CcpRequest['op'], Exclude<Who, 'emergency'>>>> = {
  setTherapyControlState: 'patient',
  setFlightMode: 'patient',
  snoozeAnnunciation: 'patient',
  confirmAnnunciation: 'patient',
  setTbrAdjustment: 'patient',
  cancelTbrAdjustment: 'patient',
  setBolus: 'patient',
  cancelBolus: 'patient',
  getAvailableBoluses: 'patient',
  getActivatedProfileTemplates: 'patient',
  getMaxBolusAmount: 'patient',
  writeBasalRateProfileTemplate: 'clinician',
  activateProfileTemplates: 'clinician',
  setMaxBolusAmount: 'clinician',
  startPriming: 'service',
  stopPriming: 'service',
  setInitialReservoirFillLevel: 'service',
};
const RANK: Readonly<Record<Who, number>> = { emergency: 0, patient: 1, clinician: 2, service: 3 };
export const mayRun = (who: Who, op: CcpRequest['op']): boolean => {
  const least = LEAST_ROLE[op];
  if (least === undefined) throw new Error(`no least role for ${op} in the test's table`);
  return who !== 'emergency' && RANK[who] >= RANK[least];
};

/** The pump's factory limits (devices/insulin-pump/limits.ts DEFAULT_LIMITS), restated; the test checks they hold. */
export const MAX_BOLUS_DEFAULT_MU = 10_000;
export const MAX_BASAL_MU_PER_H = 2_000;
export const MAX_DAILY_MU = 50_000;
/** Absolute device bounds (limits.ts), restated. */
export const ABSOLUTE_MAX_BOLUS_MU = 25_000;
export const RESERVOIR_CAPACITY_MU = 300_000;
export const MAX_PRIMING_MU = 25_000;
export const MAX_DURATION_MIN = 24 * 60;
export const MAX_TBR_PERCENT = 250;

export const PULSE_MU = 50;
export const STEP_US = 100_000;
export const BOLUS_PULSE_US = 2_000_000;
export const US_PER_MIN = 60_000_000;
export const US_PER_H = 3_600_000_000;
/** Basal accrual of one pulse in the model's units: mU × µs/h × 100 (rates are kept ×100 for relative TBRs). */
export const PULSE_ACCRUAL = BigInt(PULSE_MU) * BigInt(US_PER_H) * 100n;

/** What a request got: the session refused the role, no IDS answer, a CCP Response Code, or an op-specific answer. */
export type Verdict =
  | 'role'
  | 'no-answer'
  | 'ok'
  | 'notPermittedNow'
  | 'success'
  | 'invalidOperand'
  | 'parameterOutOfRange'
  | 'procedureNotApplicable'
  | 'procedureNotCompleted'
  | 'maximumBolusNumberReached'
  | 'opCodeNotSupported'
  | 'plausibilityCheckFailed';

export interface BolusWindow {
  readonly id: number;
  readonly pulses: number;
  readonly amountMu: number;
  readonly maxBolusMu: number;
  readonly tS: number;
  /** Its last pulse cannot be done before this (unless a limit cut it short). */
  readonly earliestEndUs: number;
  /** …and is surely done by this. */
  readonly latestEndUs: number;
  /** Ended by a command (its answer's instant) or an automatic stop; undefined while it may run. */
  haltUs: number | undefined;
}

interface Tbr {
  readonly kind: 'absolute' | 'relative';
  /** mU/h (absolute) or percent (relative). */
  readonly value: number;
  readonly endLoUs: number;
  readonly endHiUs: number;
}

interface Priming {
  readonly amountMu: number;
  readonly endLoUs: number;
  readonly endHiUs: number;
}

/** Motor completions the model may look at (the motor's own trace): done instant and steps. */
export interface MotorView {
  /** Steps completed at or before `tUs`. */
  doneBy(tUs: number): number;
  /** The pump's 24 h figure at `tUs` as ids.md / limits.ts define it, from the motor: hour buckets hourOf(t) − 24 … now. */
  bucketedLast24hMu(tUs: number): number;
  /** Instants of completions in (fromUs, toUs], in order. */
  doneIn(fromUs: number, toUs: number): readonly number[];
}

const hourOf = (t: number): number => Math.floor(t / US_PER_H);

export class PumpModel {
  tcs: 'stop' | 'pause' | 'run' = 'stop';
  reservoir: 'none' | 'filled' | 'empty' = 'none';
  /** Insulin in the reservoir when `fillAtSteps` steps had been made. */
  reservoirMu = 0;
  fillAtSteps = 0;
  primed = false;
  priming: Priming | undefined;
  readonly templates = new Map<number, number>();
  activeTemplate = 0;
  profileMuPerH = 0;
  tbr: Tbr | undefined;
  maxBolusMu = MAX_BOLUS_DEFAULT_MU;
  nextBolusId = 1;
  bolus: BolusWindow | undefined;
  readonly boluses: BolusWindow[] = [];
  /** Basal the accepted commands programmed, as [from, to) segments at an upper-bound rate ×100 (mU/h × 100). */
  readonly basal: { fromUs: number; toUs: number; rateCenti: number }[] = [];
  private atUs = 0;

  constructor(private readonly motor: MotorView) {}

  // ─── time ────────────────────────────────────────────────────────────────────────────────

  /** Instants the driver must not send at: a TBR or priming end whose exact instant the model does not know. */
  blackout(): readonly [number, number][] {
    const w: [number, number][] = [];
    if (this.tbr !== undefined) w.push([this.tbr.endLoUs, this.tbr.endHiUs]);
    if (this.priming !== undefined) w.push([this.priming.endLoUs, this.priming.endHiUs]);
    return w;
  }

  private rateCenti(t: number): number {
    if (this.tcs !== 'run') return 0;
    const profile = this.profileMuPerH * 100;
    const tb = this.tbr;
    let r = profile;
    if (tb !== undefined) {
      const tbrRate = tb.kind === 'absolute' ? tb.value * 100 : this.profileMuPerH * tb.value;
      // From endLo the TBR may be over: count the larger of the two.
      r = t >= tb.endLoUs ? Math.max(tbrRate, profile) : tbrRate;
    }
    // The engine clamps the rate in force to max basal (a relative TBR of a later, higher profile).
    return Math.min(r, MAX_BASAL_MU_PER_H * 100);
  }

  private segment(fromUs: number, toUs: number, rateCenti: number): void {
    if (toUs <= fromUs) return;
    const last = this.basal[this.basal.length - 1];
    if (last !== undefined && last.toUs === fromUs && last.rateCenti === rateCenti) last.toUs = toUs;
    else this.basal.push({ fromUs, toUs, rateCenti });
  }

  /**
   * Move the model to `t`: basal accrues (at no less than `floorCenti`), TBR and priming end, a bolus runs out,
   * an empty reservoir stops therapy.
   */
  advance(t: number, floorCenti = 0): void {
    while (this.atUs < t) {
      let to = t;
      const cuts = [this.tbr?.endLoUs, this.tbr?.endHiUs, this.priming?.endHiUs].filter((x): x is number => x !== undefined && x > this.atUs && x < to);
      // The reservoir running dry stops the pump at the completion that left less than a pulse.
      const dry = this.tcs === 'run' ? this.dryAt(this.atUs, t) : undefined;
      if (dry !== undefined) cuts.push(dry);
      for (const c of cuts) to = Math.min(to, c);
      this.segment(this.atUs, to, Math.max(floorCenti, this.rateCenti(this.atUs)));
      this.atUs = to;
      if (this.tbr !== undefined && this.atUs >= this.tbr.endHiUs) this.tbr = undefined;
      if (this.priming !== undefined && this.atUs >= this.priming.endHiUs) this.primingDone();
      if (dry !== undefined && this.atUs === dry) this.reservoirRanDry(dry);
    }
    if (this.bolus !== undefined && this.bolus.latestEndUs <= t) this.bolus = undefined;
  }

  private remainingAt(t: number): number {
    return this.reservoirMu - (this.motor.doneBy(t) - this.fillAtSteps) * PULSE_MU;
  }

  private dryAt(fromUs: number, toUs: number): number | undefined {
    if (this.reservoir !== 'filled') return undefined;
    for (const d of this.motor.doneIn(fromUs, toUs)) if (this.remainingAt(d) < PULSE_MU) return d;
    return undefined;
  }

  private reservoirRanDry(t: number): void {
    this.endBolus(t);
    this.tcs = 'stop';
    this.tbr = undefined;
    this.reservoir = 'empty';
    this.primed = false;
  }

  private primingDone(): void {
    const p = this.priming!;
    this.priming = undefined;
    // The primed insulin left the reservoir (delivery-port.ts: recorded as a new, smaller fill).
    const left = Math.max(0, this.remainingAt(this.atUs) - p.amountMu);
    this.reservoirMu = left;
    this.fillAtSteps = this.motor.doneBy(this.atUs);
    this.primed = true;
  }

  /** Stop and Pause halt priming too (therapy.machine.ts DeliveryPort contract): the line is not primed. */
  private cancelPriming(): void {
    if (this.priming === undefined) return;
    this.priming = undefined;
    this.primed = false;
  }

  private endBolus(t: number): void {
    if (this.bolus !== undefined) this.bolus.haltUs = Math.min(t, this.bolus.latestEndUs);
    this.bolus = undefined;
  }

  // ─── verdicts ────────────────────────────────────────────────────────────────────────────

  private get ready(): boolean {
    return this.reservoir === 'filled' && this.primed && this.priming === undefined;
  }

  /** A bolus that may still be running at `t` is surely running unless a limit could have cut it. */
  private bolusSurelyActive(t: number): boolean {
    const b = this.bolus;
    if (b === undefined || t >= b.earliestEndUs) return false;
    const worstDaily = this.motor.doneBy(t) * PULSE_MU + b.amountMu + Math.ceil(((b.latestEndUs - b.tS) * MAX_BASAL_MU_PER_H) / US_PER_H) + PULSE_MU;
    return worstDaily <= MAX_DAILY_MU;
  }

  /** The verdicts an IDS CCP request may get from `who` at [tS, tA] (asked once the answer came; the hour bucket is checked at both ends). */
  expectCcp(who: Who, m: CcpRequest, tS: number, tA: number): ReadonlySet<Verdict> {
    const one = (v: Verdict): ReadonlySet<Verdict> => new Set([v]);
    if (who === 'emergency') return one('role'); // ids.ccp is not an emergency command (§6.1)
    if (!mayRun(who, m.op)) return one('role');
    switch (m.op) {
      case 'setTherapyControlState':
        if (m.state !== 'run') return one('success');
        if (this.tcs === 'run') return one('success');
        if (this.tcs === 'pause') return one(this.remainingAt(tS) >= PULSE_MU ? 'success' : 'procedureNotApplicable');
        return one(this.ready && this.remainingAt(tS) >= PULSE_MU ? 'success' : 'procedureNotApplicable');
      case 'setFlightMode':
        return one('success');
      case 'snoozeAnnunciation':
      case 'confirmAnnunciation':
        // Which annunciations exist is the engine's business (TBR over, max delivery…): any IDS answer.
        return new Set(['ok', 'invalidOperand', 'procedureNotApplicable']);
      case 'setTbrAdjustment': {
        if (m.tbrType === 'relative' && m.adjustmentMilli % 10 !== 0) return one('invalidOperand');
        if (this.tcs === 'stop') return one('procedureNotApplicable');
        if (m.durationMinutes < 1 || m.durationMinutes > MAX_DURATION_MIN) return one('invalidOperand');
        let rate: number;
        if (m.tbrType === 'absolute') rate = m.adjustmentMilli;
        else {
          const pct = m.adjustmentMilli / 10;
          if (pct > MAX_TBR_PERCENT) return one('parameterOutOfRange');
          rate = (this.profileMuPerH * pct) / 100;
        }
        return one(rate > MAX_BASAL_MU_PER_H ? 'parameterOutOfRange' : 'success');
      }
      case 'cancelTbrAdjustment':
        // ids.md §3.3: Cancel TBR with none active → 0x74.
        return one(this.tbr !== undefined ? 'success' : 'procedureNotApplicable');
      case 'setBolus':
        return this.expectBolus(m, tS, tA);
      case 'cancelBolus': {
        const b = this.bolus;
        if (b === undefined || b.id !== m.bolusId) return one('procedureNotApplicable');
        return this.bolusSurelyActive(tS) ? one('ok') : new Set(['ok', 'procedureNotApplicable']);
      }
      case 'getAvailableBoluses':
      case 'getActivatedProfileTemplates':
      case 'getMaxBolusAmount':
        return one('ok');
      case 'writeBasalRateProfileTemplate': {
        // The streams write whole-day templates of one rate, in one or two blocks (time-of-day
        // profiles are checked against the integral in basal-schedule.test.ts, not here).
        const first = m.blocks[0];
        if (first === undefined) return one('plausibilityCheckFailed');
        if (m.templateNumber < 1 || m.templateNumber > 3) return one('parameterOutOfRange');
        if (m.blocks.some((b) => b.valueMilli > MAX_BASAL_MU_PER_H)) return one('parameterOutOfRange');
        return one(this.tcs === 'run' ? 'procedureNotApplicable' : 'ok');
      }
      case 'activateProfileTemplates': {
        // ids.md §3.3, §3.7.2.19: all or nothing; an invalid or unconfigured template number, two of
        // one type (basal 1–3), or Run → 0x74 procedure not applicable. ISF/I2CHO/glucose templates
        // (4–12) are never written by these streams, so activating one is unconfigured.
        const basal = m.templateNumbers.filter((n) => n >= 1 && n <= 3);
        const refused = this.tcs === 'run' || basal.length > 1 || m.templateNumbers.some((n) => !(n >= 1 && n <= 3 && this.templates.has(n)));
        return refused ? one('procedureNotApplicable') : one('ok');
      }
      case 'setMaxBolusAmount':
        if (this.tcs === 'run') return one('procedureNotApplicable');
        return one(m.maxBolusAmountMilliUnits > ABSOLUTE_MAX_BOLUS_MU ? 'parameterOutOfRange' : 'success');
      case 'startPriming':
        if (this.tcs !== 'stop' || this.reservoir !== 'filled' || this.priming !== undefined) return one('procedureNotApplicable');
        if (m.amountMilliUnits <= 0 || m.amountMilliUnits > MAX_PRIMING_MU) return one('parameterOutOfRange');
        if (m.amountMilliUnits % PULSE_MU !== 0) return one('invalidOperand');
        return one(this.remainingAt(tS) < m.amountMilliUnits ? 'procedureNotApplicable' : 'success');
      case 'stopPriming':
        return one(this.priming !== undefined ? 'success' : 'procedureNotApplicable');
      case 'setInitialReservoirFillLevel':
        if (this.tcs !== 'stop' || this.priming !== undefined) return one('procedureNotApplicable');
        return one(m.fillLevelMilliUnits <= 0 || m.fillLevelMilliUnits > RESERVOIR_CAPACITY_MU ? 'parameterOutOfRange' : 'success');
      default:
        throw new Error(`the model has no rule for ${m.op}`);
    }
  }

  private expectBolus(m: Extract<CcpRequest, { op: 'setBolus' }>, tS: number, tA: number): ReadonlySet<Verdict> {
    const total = m.fastAmountMilliUnits + m.extendedAmountMilliUnits;
    // Hard limits first, whatever the state (§6.1: "whatever the role"): max bolus, then max daily.
    if (total <= 0 || total > Math.min(ABSOLUTE_MAX_BOLUS_MU, this.maxBolusMu)) return new Set(['parameterOutOfRange']);
    const out = new Set<Verdict>();
    const b = this.bolus;
    const committedMax = b === undefined ? 0 : b.amountMu;
    const d24 = [this.motor.bucketedLast24hMu(tS), this.motor.bucketedLast24hMu(tA)];
    const overDaily = d24.map((d) => d + total > MAX_DAILY_MU);
    const mayBeOverDaily = overDaily.some((x) => x) || (b !== undefined && Math.max(...d24) + total + committedMax > MAX_DAILY_MU);
    const surelyOverDaily = overDaily.every((x) => x);
    if (mayBeOverDaily) out.add('parameterOutOfRange');
    if (surelyOverDaily) return out;
    if (this.tcs !== 'run') {
      out.add('procedureNotApplicable');
      return out;
    }
    const parts = [m.fastAmountMilliUnits, m.extendedAmountMilliUnits];
    const shapeBad =
      (m.delayMinutes !== undefined && m.delayMinutes !== 0) ||
      parts.some((p) => p % PULSE_MU !== 0) ||
      (m.bolusType === 'multiwave' && parts.some((p) => p === 0)) ||
      (m.bolusType !== 'fast' && (m.durationMinutes < 1 || m.durationMinutes > MAX_DURATION_MIN));
    // A bolus still running (0x76) and a shape this pump refuses (0x71): IDS orders neither first.
    if (b !== undefined) out.add('maximumBolusNumberReached');
    if (shapeBad) out.add('invalidOperand');
    else if (b === undefined || !this.bolusSurelyActive(tS)) out.add('ok');
    return out;
  }

  // ─── accepted commands ───────────────────────────────────────────────────────────────────

  /**
   * Apply what a request did, given its verdict. `tS`/`tA`: sent / answered. The model was advanced to tS
   * before the request; this accrues [tS, tA] at the larger rate of before and after and moves to tA.
   */
  applyCcp(m: CcpRequest, v: Verdict, tS: number, tA: number, bolusId?: number): void {
    const before = this.rateCenti(tS);
    const accepted = v === 'success' || v === 'ok';
    if (accepted) this.mutate(m, tS, tA, bolusId);
    // Run refused from Pause (the reservoir ran out): the machine falls back to Stop (therapy.machine.ts delivery.failed).
    if (!accepted && m.op === 'setTherapyControlState' && m.state === 'run' && this.tcs === 'pause') {
      this.tcs = 'stop';
      this.tbr = undefined;
    }
    this.advance(tA, before);
  }

  /** Stop or Pause from any path (ids.stop, therapy.stop/suspend, CCP): always accepted. */
  applyHalt(state: 'stop' | 'pause', tS: number, tA: number): void {
    this.applyCcp({ op: 'setTherapyControlState', state }, 'success', tS, tA);
  }

  private mutate(m: CcpRequest, tS: number, tA: number, bolusId: number | undefined): void {
    switch (m.op) {
      case 'setTherapyControlState':
        if (m.state === 'stop') {
          if (this.tcs !== 'stop') this.endBolus(tA);
          this.tbr = undefined;
          this.cancelPriming();
          this.tcs = 'stop';
        } else if (m.state === 'pause') {
          if (this.tcs === 'run') {
            this.endBolus(tA);
            this.tcs = 'pause';
          }
          this.cancelPriming();
        } else if (m.state === 'run') this.tcs = 'run';
        return;
      case 'setTbrAdjustment':
        this.tbr = {
          kind: m.tbrType === 'absolute' ? 'absolute' : 'relative',
          value: m.tbrType === 'absolute' ? m.adjustmentMilli : m.adjustmentMilli / 10,
          endLoUs: tS + m.durationMinutes * US_PER_MIN,
          endHiUs: tA + m.durationMinutes * US_PER_MIN,
        };
        return;
      case 'cancelTbrAdjustment':
        this.tbr = undefined;
        return;
      case 'setBolus': {
        if (bolusId === undefined) throw new Error('an accepted bolus without its ID');
        const fast = m.fastAmountMilliUnits / PULSE_MU;
        const ext = m.extendedAmountMilliUnits / PULSE_MU;
        const durUs = m.bolusType === 'fast' ? 0 : m.durationMinutes * US_PER_MIN;
        const fastUs = fast === 0 ? 0 : (fast - 1) * BOLUS_PULSE_US;
        const w: BolusWindow = {
          id: bolusId,
          pulses: fast + ext,
          amountMu: m.fastAmountMilliUnits + m.extendedAmountMilliUnits,
          maxBolusMu: this.maxBolusMu,
          tS,
          earliestEndUs: tS + fastUs + durUs + STEP_US,
          // A pulse can wait for one in flight (100 ms); no drift (delivery-engine.ts); plus a second of margin.
          latestEndUs: tA + fastUs + durUs + 4 * STEP_US + 1_000_000,
          haltUs: undefined,
        };
        this.bolus = w;
        this.boluses.push(w);
        this.nextBolusId = bolusId === 0xffff ? 1 : bolusId + 1;
        return;
      }
      case 'cancelBolus':
        this.endBolus(tA);
        return;
      case 'writeBasalRateProfileTemplate': {
        const rate = m.blocks[0]!.valueMilli;
        this.templates.set(m.templateNumber, rate);
        if (this.activeTemplate === m.templateNumber) this.profileMuPerH = rate;
        return;
      }
      case 'activateProfileTemplates':
        for (const n of m.templateNumbers) {
          this.activeTemplate = n;
          this.profileMuPerH = this.templates.get(n)!;
        }
        return;
      case 'setMaxBolusAmount':
        this.maxBolusMu = m.maxBolusAmountMilliUnits;
        return;
      case 'startPriming': {
        const durUs = (m.amountMilliUnits / PULSE_MU) * STEP_US;
        this.priming = { amountMu: m.amountMilliUnits, endLoUs: tS + durUs, endHiUs: tA + durUs };
        this.primed = false;
        return;
      }
      case 'stopPriming':
        this.priming = undefined;
        this.primed = false;
        return;
      case 'setInitialReservoirFillLevel':
        this.reservoir = 'filled';
        this.reservoirMu = m.fillLevelMilliUnits;
        this.fillAtSteps = this.motor.doneBy(tA);
        this.primed = false;
        return;
      default:
        return;
    }
  }

  /** IDD Status operational state as the model sees it (ids.md §5; therapy.machine.ts's reading). */
  get operationalState(): 'standby' | 'waiting' | 'priming' | 'ready' {
    if (this.tcs !== 'stop') return 'ready';
    if (this.priming !== undefined) return 'priming';
    if (this.reservoir !== 'filled') return 'standby';
    return this.primed ? 'ready' : 'waiting';
  }

  /** Basal programmed over [fromUs, toUs), in the units of PULSE_ACCRUAL. */
  basalAccrual(fromUs: number, toUs: number): bigint {
    let a = 0n;
    for (const s of this.basal) {
      const lo = Math.max(s.fromUs, fromUs);
      const hi = Math.min(s.toUs, toUs);
      if (hi > lo) a += BigInt(s.rateCenti) * BigInt(hi - lo);
    }
    return a;
  }

  /** Whole basal pulses programmed over [fromUs, toUs). */
  basalPulses(fromUs: number, toUs: number): number {
    return Number(this.basalAccrual(fromUs, toUs) / PULSE_ACCRUAL);
  }

  get nowUs(): number {
    return this.atUs;
  }
}

export { hourOf };
