// The therapy machine's DeliveryPort over the DeliveryEngine: bolus IDs, the active basal template followed by time of day, priming, and the meter of programmed insulin.
// Not the IDS procedures or roles (ids-commands.ts), the templates and their write transactions (profile-templates.ts), nor the pulse pacing and hard limits themselves (delivery-engine.ts).
//
// Decisions (issue 6):
// - Bolus IDs are assigned here, 1, 2, … 0xFFFF then 1 again, going on after a reboot from the last
//   one the delivery journal holds (`firstBolusId`): IDS §7 wants an ID unique for each programmed
//   bolus, and the history's Bolus Delivered records are told apart by it (index.ts, after a cut).
// - A basal rate template is up to 24 time blocks covering the day (profile-templates.ts). The
//   active one is followed by time of day (basal-schedule.ts: midnight = device time 0): at each
//   block boundary the engine gets the block's rate, accruing the old rate exactly up to the
//   boundary. It is followed whatever the therapy state, so Run starts at the block in force; a
//   relative TBR applies to the block in force (the engine multiplies its current profile rate).
// - Every block of a template must be within max basal when it is activated (or rewritten while
//   active): otherwise "parameter out of range". Should the limit be lowered below a block later,
//   that block runs at max basal (the engine would refuse the rate; the lower of the two is the safe one).
// - The active basal template is persisted (profile-templates.ts), so after a reboot the profile
//   is followed again at once; therapy itself still starts in Stop (therapy.machine.ts).
// - Priming does not move the simulated plunger: the journal has no priming pulse kind, and a
//   plunger moved outside a journal intent reads as "unattributed" delivery at the next boot. So
//   priming takes the motor time it would take (amount / 50 mU × the step time), then records the
//   reservoir as (remaining − primed) with `fillReservoir` — the primed insulin left the reservoir
//   but went into the tubing, not the patient — and reports done. The energy of the priming steps
//   is charged through `chargePrimingSteps`. A priming pulse kind in the journal is the real fix.
// - A bolus delay (Set Bolus "Delay Time") is not supported: refused as invalid operand.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';
import { BasalSchedule, type BlockInForce } from './basal-schedule.ts';
import type { DeliveryEngine, EngineErrorCode, EngineResult } from './delivery-engine.ts';
import type { ProfileBlock, ProfileWrite } from './ids/command-cp.ts';
import { checkBasalRate } from './limits.ts';
import type { ProfileTemplates, TemplateWriteResult } from './profile-templates.ts';
import type { BolusRequest, DeliveryPort, DeliveryResult, TbrRequest, TherapyRefusalCode } from './therapy.machine.ts';

export interface EngineDeliveryPortOptions {
  readonly engine: DeliveryEngine;
  readonly alarm: Alarm;
  /** The pump's profile templates (the basal ones are followed here); their active basal template is followed from boot. */
  readonly templates: ProfileTemplates;
  /** One pulse, mU (the motor's milliUnitsPerStep). */
  readonly milliUnitsPerPulse: number;
  /** Motor time of one priming pulse, µs (the motor's step time). */
  readonly primingPulseUs: number;
  /** Charge the energy of `steps` priming steps (the motor's cost). */
  readonly chargePrimingSteps?: (steps: number) => void;
  /** Called when a priming run completed (the composition tells the therapy machine). */
  readonly onPrimingDone?: (primedMilliUnits: number) => void;
  /** Called when the reservoir could not be recorded after priming (the line is not primed). */
  readonly onPrimingFailed?: (code: string) => void;
  /** The first Bolus ID to assign (default 1): the one after the journal's last, at boot. */
  readonly firstBolusId?: number;
}

const OK: DeliveryResult = { ok: true, value: undefined };

/** Engine refusal → the therapy machine's IDS-style code. */
export function refusalOf(code: EngineErrorCode): TherapyRefusalCode {
  switch (code) {
    case 'max-bolus':
    case 'max-basal':
    case 'max-daily':
    case 'out-of-bounds':
      return 'parameter-out-of-range';
    case 'invalid':
      return 'invalid-operand';
    case 'bolus-active':
      return 'max-bolus-number-reached';
    case 'journal':
      return 'procedure-not-completed';
    case 'not-running':
    case 'stopped':
    case 'no-bolus':
    case 'reservoir-empty':
      return 'procedure-not-applicable';
  }
}

function fromEngine(r: EngineResult): DeliveryResult {
  if (r.ok) return OK;
  return r.detail === undefined ? { ok: false, code: refusalOf(r.code) } : { ok: false, code: refusalOf(r.code), detail: `${r.code}: ${r.detail}` };
}

/**
 * Insulin programmed, integrated exactly: basal as ∫ rate in force dt while the engine runs
 * (sampled after every change, so each interval uses the rate that held during it), boluses as
 * the amounts the engine accepted. Delivered insulin can never exceed it (whole pulses only).
 */
export class ProgrammedMeter {
  /** mU × µs/h: exact integer accrual of the basal integral. */
  private basalScaled = 0;
  private lastUs: number;
  private running = false;
  private rateMilliUnitsPerHour = 0;
  bolusMilliUnits = 0;

  constructor(
    private readonly engine: DeliveryEngine,
    private readonly alarm: Alarm,
  ) {
    this.lastUs = alarm.nowUs();
    this.sample();
  }

  /** Accrue up to now at the rate sampled last, then sample the engine again. */
  accrue(): void {
    const now = this.alarm.nowUs();
    if (this.running) this.basalScaled += this.rateMilliUnitsPerHour * (now - this.lastUs);
    this.lastUs = now;
    this.sample();
  }

  /** Basal programmed so far, mU (rounded down). */
  get basalMilliUnits(): number {
    this.accrue();
    return Math.floor(this.basalScaled / 3_600_000_000);
  }

  private sample(): void {
    this.running = this.engine.state === 'running';
    this.rateMilliUnitsPerHour = this.engine.effectiveBasalRateMilliUnitsPerHour;
  }
}

export class EngineDeliveryPort implements DeliveryPort {
  readonly programmed: ProgrammedMeter;
  private readonly schedule: BasalSchedule;
  private nextBolusId: number;
  private priming: { readonly timer: AlarmId; readonly amount: number } | undefined;
  /** The engine's answer to the last rate the schedule applied (follow() reports it). */
  private lastApply: DeliveryResult = OK;

  constructor(private readonly opts: EngineDeliveryPortOptions) {
    const first = opts.firstBolusId ?? 1;
    this.nextBolusId = Number.isInteger(first) && first >= 1 && first <= 0xffff ? first : 1;
    this.programmed = new ProgrammedMeter(opts.engine, opts.alarm);
    opts.engine.onEvent(() => this.programmed.accrue());
    this.schedule = new BasalSchedule({ alarm: opts.alarm, apply: (rate) => this.applyBlockRate(rate) });
    // Boot: the persisted active template is followed again (its blocks were checked when activated).
    const active = opts.templates.basal(opts.templates.activeOf('basal'));
    if (active !== undefined) this.schedule.follow(active);
  }

  // ─── basal templates (written by ids-commands.ts, activated through the therapy machine) ───

  /**
   * One Write Basal Rate Profile Template record (profile-templates.ts checks the transaction).
   * Every block must be within max basal (a limit: "parameter out of range", transaction
   * discarded). A completed rewrite of the active template is followed at once (the therapy
   * machine only lets configuration through when not running).
   */
  writeBasalTemplate(record: ProfileWrite<ProfileBlock>): TemplateWriteResult<ProfileBlock> {
    const over = this.overMaxBasal(record.blocks);
    if (over !== undefined) {
      this.opts.templates.abandon();
      return { ok: false, code: 'parameter-out-of-range', detail: over };
    }
    const w = this.opts.templates.write('basal', record);
    if (w.ok && w.completed && w.templateNumber === this.activeBasalTemplate) this.schedule.follow(w.blocks);
    return w;
  }

  /** A configured basal template's blocks, or undefined. */
  basalTemplate(templateNumber: number): readonly ProfileBlock[] | undefined {
    return this.opts.templates.basal(templateNumber);
  }

  /** The active basal template, 0 = none. */
  get activeBasalTemplate(): number {
    return this.opts.templates.activeOf('basal');
  }

  /** The block of the active template in force now, or undefined with none active. */
  basalBlockInForce(): BlockInForce | undefined {
    return this.schedule.current();
  }

  /** The firmware died (power cut, reset): no boundary timer left armed. */
  dispose(): void {
    this.schedule.stop();
    this.cancelPriming();
  }

  get primingActive(): boolean {
    return this.priming !== undefined;
  }

  // ─── DeliveryPort ─────────────────────────────────────────────────────────────────────────

  start(_opts: { readonly resume: boolean }): DeliveryResult {
    return this.mutate(() => this.opts.engine.start());
  }

  pause(): DeliveryResult {
    this.cancelPriming();
    return this.mutate(() => this.opts.engine.pause());
  }

  stop(): DeliveryResult {
    this.cancelPriming();
    return this.mutate(() => this.opts.engine.stop());
  }

  prime(amountMilliunits: number): DeliveryResult {
    const { engine, alarm } = this.opts;
    if (this.priming !== undefined) return { ok: false, code: 'procedure-not-applicable', detail: 'priming already runs' };
    if (amountMilliunits % this.opts.milliUnitsPerPulse !== 0) return { ok: false, code: 'invalid-operand', detail: `priming ${amountMilliunits} mU is not whole pulses` };
    if (engine.reservoirRemainingMilliUnits() < amountMilliunits) return { ok: false, code: 'procedure-not-applicable', detail: 'the reservoir holds less than the priming amount' };
    const pulses = amountMilliunits / this.opts.milliUnitsPerPulse;
    const timer = alarm.setAlarm(pulses * this.opts.primingPulseUs, () => this.primingFinished());
    this.priming = { timer, amount: amountMilliunits };
    return OK;
  }

  stopPriming(): DeliveryResult {
    this.cancelPriming();
    return OK;
  }

  setBasalProfile(templateNumber: number): DeliveryResult {
    const blocks = this.opts.templates.basal(templateNumber);
    if (blocks === undefined) return { ok: false, code: 'procedure-not-applicable', detail: `basal template ${templateNumber} is not configured` };
    const over = this.overMaxBasal(blocks);
    if (over !== undefined) return { ok: false, code: 'parameter-out-of-range', detail: over };
    const a = this.opts.templates.activate(templateNumber);
    if (!a.ok) return a;
    this.schedule.follow(blocks);
    return this.lastApply;
  }

  setTbr(tbr: TbrRequest): DeliveryResult {
    return this.mutate(() =>
      this.opts.engine.setTempBasal(
        tbr.kind === 'absolute'
          ? { kind: 'absolute', rateMilliUnitsPerHour: tbr.milliunitsPerHour, durationMinutes: tbr.durationMin }
          : { kind: 'relative', percent: tbr.percent, durationMinutes: tbr.durationMin },
      ),
    );
  }

  cancelTbr(): DeliveryResult {
    // ids.md §3.3: Cancel TBR with none active is "procedure not applicable" (the engine calls it invalid).
    if (this.opts.engine.activeTempBasal === undefined) return { ok: false, code: 'procedure-not-applicable', detail: 'no temporary basal is active' };
    return this.mutate(() => this.opts.engine.cancelTempBasal());
  }

  bolus(b: BolusRequest): DeliveryResult<{ readonly bolusId: number }> {
    if (b.delayMin !== undefined && b.delayMin !== 0) return { ok: false, code: 'invalid-operand', detail: 'a bolus delay is not supported' };
    const bolusId = this.nextBolusId;
    const { engine } = this.opts;
    const r = this.mutate(() =>
      engine.startBolus(
        b.kind === 'fast'
          ? { kind: 'fast', bolusId, amountMilliUnits: b.fastMilliunits }
          : b.kind === 'extended'
            ? { kind: 'extended', bolusId, amountMilliUnits: b.extendedMilliunits, durationMinutes: b.durationMin }
            : { kind: 'multiwave', bolusId, fastMilliUnits: b.fastMilliunits, extendedMilliUnits: b.extendedMilliunits, durationMinutes: b.durationMin },
      ),
    );
    if (!r.ok) return r;
    this.nextBolusId = bolusId === 0xffff ? 1 : bolusId + 1;
    this.programmed.bolusMilliUnits += b.fastMilliunits + b.extendedMilliunits;
    return { ok: true, value: { bolusId } };
  }

  cancelBolus(bolusId: number): DeliveryResult {
    return this.mutate(() => this.opts.engine.cancelBolus(bolusId));
  }

  // ─── internals ────────────────────────────────────────────────────────────────────────────

  /** The first block above max basal, as a detail; undefined when every block is within it. */
  private overMaxBasal(blocks: readonly ProfileBlock[]): string | undefined {
    const limits = this.opts.engine.currentLimits;
    const i = blocks.findIndex((b) => !checkBasalRate(limits, b.valueMilli).ok);
    return i < 0 ? undefined : `max-basal: block ${i + 1} at ${blocks[i]!.valueMilli} mU/h > ${limits.maxBasalRateMilliUnitsPerHour} mU/h`;
  }

  /** The schedule's rate into the engine; above a limit lowered since activation, max basal instead (header). */
  private applyBlockRate(rate: number): void {
    let r = this.mutate(() => this.opts.engine.setBasalRate(rate));
    if (!r.ok) {
      const max = this.opts.engine.currentLimits.maxBasalRateMilliUnitsPerHour;
      if (rate > max) r = this.mutate(() => this.opts.engine.setBasalRate(max));
    }
    this.lastApply = r;
  }

  private mutate(f: () => EngineResult<unknown>): DeliveryResult {
    this.programmed.accrue();
    const r = f();
    this.programmed.accrue();
    return fromEngine(r as EngineResult);
  }

  private cancelPriming(): void {
    if (this.priming === undefined) return;
    this.opts.alarm.cancel(this.priming.timer);
    this.priming = undefined;
  }

  private primingFinished(): void {
    const p = this.priming;
    if (p === undefined) return;
    this.priming = undefined;
    const { engine } = this.opts;
    this.opts.chargePrimingSteps?.(p.amount / this.opts.milliUnitsPerPulse);
    const left = engine.reservoirRemainingMilliUnits() - p.amount;
    const r = engine.fillReservoir(Math.max(0, left));
    // Unrecorded, the reservoir would show more insulin than it holds: the line is not primed.
    if (!r.ok) this.opts.onPrimingFailed?.(r.code);
    else this.opts.onPrimingDone?.(p.amount);
  }
}
