// The pump's therapy machine: therapy control state (Stop/Pause/Run) and operational state with IDS's rules
// (ids.md §5, §3.3, §7), and the `Therapy` service firmware calls. Not delivery logic (profiles, TBR, boluses, pulses): the DeliveryPort does that.
//
// What the machine decides (ids.md §5 Therapy Control State / Operational State, §3.3 "0x74"):
//   - Run needs a reservoir that is filled (not empty) and a primed line; anything else is
//     "procedure not applicable". Boluses only in Run; TBR in Run or Pause.
//   - No priming and no reservoir change unless Stop; no configuration (basal activation, template
//     writes, max bolus…) while Run (§5: "Run (no configuration such as priming)").
//   - Stop and Pause are always accepted, whatever the state, and reach the DeliveryPort at once
//     (before the command's answer); Pause while stopped keeps Stop (the safer of the two).
//   - Occlusion, reservoir empty or removed, and a failed start stop therapy.
//
// Operational state, as this project reads IDS §4.2.2.1 (the lead may refine it):
//   off        switched off: nothing but `device.on`
//   standby    no usable reservoir (none, or empty)
//   preparing  a new reservoir is in: rewind / sniff until `preparing.done`
//   waiting    reservoir ready, line not primed: waiting for priming
//   priming    priming runs (Start Priming) until `priming.done`, Stop Priming, Stop or Pause
//   ready      primed: therapy can Run; Run and Pause are always `ready`
// A (re)boot always starts in Stop (safe state); the composition passes what it knows of the
// reservoir and the line in the input.

import { and, assertEvent, assign, createActor, emit, not, or, setup, stateIn, type Actor } from 'xstate';

// ─── IDS vocabulary (ids.md §5; the lead may swap these for the IDS codec's enums) ────────────

export type TherapyControlState = 'stop' | 'pause' | 'run';
export type OperationalState = 'off' | 'standby' | 'preparing' | 'priming' | 'waiting' | 'ready';

/** IDS Therapy Control State values (ids.md §5, §4.2.1.1). */
export const THERAPY_CONTROL_STATE_CODES: Readonly<Record<TherapyControlState, number>> = { stop: 0x33, pause: 0x3c, run: 0x55 };
/** IDS Operational State values (ids.md §5, §4.2.2.1). */
export const OPERATIONAL_STATE_CODES: Readonly<Record<OperationalState, number>> = {
  off: 0x33,
  standby: 0x3c,
  preparing: 0x55,
  priming: 0x5a,
  waiting: 0x66,
  ready: 0x96,
};

/** A U100 reservoir of 3 mL holds 300 IU; a fill level above that is out of range (§3.3 "0x73"). */
export const RESERVOIR_CAPACITY_MILLIUNITS = 300_000;
/** One priming run delivers at most this much (an infusion set's cannula and tube take ~0.3–2 U). */
export const MAX_PRIMING_MILLIUNITS = 25_000;

/**
 * Why a command was refused, as an IDS-style code (ids.md §3.3, Table 4.38); the lead maps them
 * to CCP Response Code values (0x71 … 0x76).
 */
export type TherapyRefusalCode =
  | 'invalid-operand'
  | 'procedure-not-completed'
  | 'parameter-out-of-range'
  | 'procedure-not-applicable'
  | 'plausibility-check-failed'
  | 'max-bolus-number-reached';

export type TherapyResultCode = 'ok' | TherapyRefusalCode;

/** What exactly was not applicable (for the audit log and tests; not sent over the air). */
export type RefusalReason =
  | 'device-off'
  | 'no-reservoir'
  | 'not-primed'
  | 'not-ready'
  | 'therapy-not-stopped'
  | 'therapy-not-running'
  | 'running'
  | 'preparing'
  | 'priming'
  | 'not-priming'
  | 'fill-out-of-range'
  | 'amount-out-of-range'
  | 'delivery-port';

// ─── the delivery port ───────────────────────────────────────────────────────────────────────

export type BolusKind = 'fast' | 'extended' | 'multiwave';

/** Set Bolus as the delivery engine needs it (ids.md §3.2); amounts in milliunits (0.001 IU). */
export interface BolusRequest {
  readonly kind: BolusKind;
  readonly fastMilliunits: number;
  readonly extendedMilliunits: number;
  readonly durationMin: number;
  readonly delayMin?: number;
}

/** Set TBR Adjustment (ids.md §3.2): absolute in mU/h, relative in percent (150 = ×1.5). */
export type TbrRequest =
  | { readonly kind: 'absolute'; readonly milliunitsPerHour: number; readonly durationMin: number; readonly change: boolean }
  | { readonly kind: 'relative'; readonly percent: number; readonly durationMin: number; readonly change: boolean };

export type DeliveryResult<T = undefined> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: TherapyRefusalCode; readonly detail?: string };

/**
 * What the therapy machine tells the delivery engine. Every call is synchronous and answers
 * with a result value; the engine applies its hard limits and bookkeeping (max bolus, active
 * TBR, bolus IDs) and refuses with a code. Contract for safety: `pause()` and `stop()` halt
 * every motor movement — basal, boluses and priming — before they return (issue 6: "Stop/Pause
 * always takes effect within one pulse").
 */
export interface DeliveryPort {
  /** Begin (or, after Pause, resume) delivery of the active basal profile and pending TBR. */
  start(opts: { readonly resume: boolean }): DeliveryResult;
  /** Suspend delivery; the engine keeps what Pause owes (§5: missed insulin comes on Run). */
  pause(): DeliveryResult;
  /** Stop delivery: cancels boluses, nothing is owed. */
  stop(): DeliveryResult;
  /** Start Priming (§7: delivers the amount and stops by itself; reports back `priming.done`). */
  prime(amountMilliunits: number): DeliveryResult;
  /** Stop Priming (§7: at once). */
  stopPriming(): DeliveryResult;
  /** Activate basal rate profile template `templateNumber` (IDS Activate Profile Templates). */
  setBasalProfile(templateNumber: number): DeliveryResult;
  setTbr(tbr: TbrRequest): DeliveryResult;
  cancelTbr(): DeliveryResult;
  /** Program a bolus; the engine assigns the Bolus ID (§7). */
  bolus(bolus: BolusRequest): DeliveryResult<{ readonly bolusId: number }>;
  cancelBolus(bolusId: number): DeliveryResult;
}

// ─── machine types ───────────────────────────────────────────────────────────────────────────

export type ReservoirState = 'none' | 'filled' | 'empty';

/** Configuration changes the machine only gates (the data lives elsewhere). */
export type ConfigKind = 'basal-template' | 'profile-template' | 'tbr-template' | 'bolus-template' | 'max-bolus' | 'reset-template-status' | 'reservoir-operation-time';

export interface TherapyContext {
  readonly reservoir: ReservoirState;
  /** Fill level of the current reservoir as set (Set Initial Reservoir Fill Level), mU; 0 = none. */
  readonly fillMilliunits: number;
  /** The line is primed from the current reservoir. */
  readonly primed: boolean;
  /** Set Flight Mode (ids.md §3: no operand; only a local action leaves it, §5 note). */
  readonly flightMode: boolean;
}

export interface TherapyInput {
  readonly reservoir?: ReservoirState;
  readonly fillMilliunits?: number;
  readonly primed?: boolean;
  readonly flightMode?: boolean;
}

export type TherapyEvent =
  | { type: 'therapy.run' }
  | { type: 'therapy.pause' }
  | { type: 'therapy.stop' }
  | { type: 'reservoir.filled'; fillMilliunits: number }
  | { type: 'reservoir.removed' }
  | { type: 'reservoir.empty' }
  | { type: 'occlusion.detected' }
  | { type: 'preparing.done' }
  | { type: 'priming.start'; amountMilliunits: number }
  | { type: 'priming.stop' }
  | { type: 'priming.done' }
  | { type: 'config.change'; kind: ConfigKind }
  | { type: 'basal.activate'; templateNumber: number }
  | { type: 'tbr.set'; tbr: TbrRequest }
  | { type: 'tbr.cancel' }
  | { type: 'bolus.set'; bolus: BolusRequest }
  | { type: 'bolus.cancel'; bolusId: number }
  | { type: 'device.off' }
  | { type: 'device.on' }
  | { type: 'flight.enter' }
  | { type: 'flight.exit' }
  /** The DeliveryPort refused to start or prime: back to a safe Stop. */
  | { type: 'delivery.failed' };

/** Commands for the DeliveryPort (one per port method), a refusal, or a notice. */
export type TherapyEmitted =
  | { type: 'delivery.start'; resume: boolean }
  | { type: 'delivery.pause' }
  | { type: 'delivery.stop' }
  | { type: 'delivery.prime'; amountMilliunits: number }
  | { type: 'delivery.stopPriming' }
  | { type: 'delivery.setBasalProfile'; templateNumber: number }
  | { type: 'delivery.setTbr'; tbr: TbrRequest }
  | { type: 'delivery.cancelTbr' }
  | { type: 'delivery.bolus'; bolus: BolusRequest }
  | { type: 'delivery.cancelBolus'; bolusId: number }
  | { type: 'command.refused'; code: TherapyRefusalCode; reason: RefusalReason }
  | { type: 'config.accepted'; kind: ConfigKind };

type RefuseParams = { code: TherapyRefusalCode; reason: RefusalReason };
const refuse = (code: TherapyRefusalCode, reason: RefusalReason) => ({ type: 'refuse' as const, params: { code, reason } });
const notApplicable = (reason: RefusalReason) => refuse('procedure-not-applicable', reason);

export const therapyMachine = setup({
  types: {
    context: {} as TherapyContext,
    events: {} as TherapyEvent,
    input: {} as TherapyInput,
    emitted: {} as TherapyEmitted,
  },
  guards: {
    /** A reservoir is in and holds insulin (§3.3 0x74: "Run with no reservoir inserted"). */
    hasReservoir: ({ context }) => context.reservoir === 'filled',
    isPrimed: ({ context }) => context.primed,
    notRunning: not(stateIn('#therapy.run')),
    isStopped: stateIn('#therapy.stop'),
    isRunning: stateIn('#therapy.run'),
    therapyActive: or([stateIn('#therapy.run'), stateIn('#therapy.pause')]),
    isOff: stateIn('#therapy.stop.off'),
    isPreparing: stateIn('#therapy.stop.preparing'),
    isPriming: stateIn('#therapy.stop.priming'),
    fillInRange: ({ event }) =>
      event.type === 'reservoir.filled' && Number.isInteger(event.fillMilliunits) && event.fillMilliunits > 0 && event.fillMilliunits <= RESERVOIR_CAPACITY_MILLIUNITS,
    primingAmountInRange: ({ event }) =>
      event.type === 'priming.start' && Number.isInteger(event.amountMilliunits) && event.amountMilliunits > 0 && event.amountMilliunits <= MAX_PRIMING_MILLIUNITS,
  },
  actions: {
    // Pure context updates.
    noteReservoir: assign(({ event }) => {
      assertEvent(event, 'reservoir.filled');
      return { reservoir: 'filled' as const, fillMilliunits: event.fillMilliunits };
    }),
    forgetReservoir: assign({ reservoir: 'none' as const, fillMilliunits: 0 }),
    markReservoirEmpty: assign({ reservoir: 'empty' as const }),
    markPrimed: assign({ primed: true }),
    markUnprimed: assign({ primed: false }),
    enterFlightMode: assign({ flightMode: true }),
    exitFlightMode: assign({ flightMode: false }),
    // Commands for the DeliveryPort: emitted, then run by `Therapy` right after the step.
    commandStart: emit({ type: 'delivery.start' as const, resume: false }),
    commandResume: emit({ type: 'delivery.start' as const, resume: true }),
    commandPause: emit({ type: 'delivery.pause' as const }),
    commandStop: emit({ type: 'delivery.stop' as const }),
    commandPrime: emit(({ event }) => {
      assertEvent(event, 'priming.start');
      return { type: 'delivery.prime' as const, amountMilliunits: event.amountMilliunits };
    }),
    commandStopPriming: emit({ type: 'delivery.stopPriming' as const }),
    commandSetBasalProfile: emit(({ event }) => {
      assertEvent(event, 'basal.activate');
      return { type: 'delivery.setBasalProfile' as const, templateNumber: event.templateNumber };
    }),
    commandSetTbr: emit(({ event }) => {
      assertEvent(event, 'tbr.set');
      return { type: 'delivery.setTbr' as const, tbr: event.tbr };
    }),
    commandCancelTbr: emit({ type: 'delivery.cancelTbr' as const }),
    commandBolus: emit(({ event }) => {
      assertEvent(event, 'bolus.set');
      return { type: 'delivery.bolus' as const, bolus: event.bolus };
    }),
    commandCancelBolus: emit(({ event }) => {
      assertEvent(event, 'bolus.cancel');
      return { type: 'delivery.cancelBolus' as const, bolusId: event.bolusId };
    }),
    acceptConfig: emit(({ event }) => {
      assertEvent(event, 'config.change');
      return { type: 'config.accepted' as const, kind: event.kind };
    }),
    refuse: emit((_, params: RefuseParams) => ({ type: 'command.refused' as const, code: params.code, reason: params.reason })),
  },
}).createMachine({
  id: 'therapy',
  context: ({ input }) => ({
    reservoir: input.reservoir ?? 'none',
    fillMilliunits: input.reservoir === 'filled' ? (input.fillMilliunits ?? 0) : 0,
    // A primed line without a filled reservoir cannot be trusted after a reboot.
    primed: input.reservoir === 'filled' && input.primed === true,
    flightMode: input.flightMode ?? false,
  }),
  initial: 'stop',
  // Rules that hold in every state; a state's own handler (below) takes precedence.
  on: {
    'therapy.stop': { actions: 'commandStop' },
    'therapy.pause': { actions: 'commandPause' }, // while stopped: stays Stop, still reaches the port
    'therapy.run': [
      { guard: 'isOff', actions: notApplicable('device-off') },
      { guard: not('hasReservoir'), actions: notApplicable('no-reservoir') },
      { guard: not('isPrimed'), actions: notApplicable('not-primed') },
      { actions: notApplicable('not-ready') },
    ],
    'reservoir.filled': [
      { guard: not('isStopped'), actions: notApplicable('therapy-not-stopped') },
      { guard: 'isOff', actions: notApplicable('device-off') },
      { guard: 'isPriming', actions: notApplicable('priming') },
      { guard: not('fillInRange'), actions: refuse('parameter-out-of-range', 'fill-out-of-range') },
      { target: '#therapy.stop.preparing', actions: ['noteReservoir', 'markUnprimed'] },
    ],
    'reservoir.removed': { target: '#therapy.stop.standby', actions: ['forgetReservoir', 'markUnprimed', 'commandStop'] },
    'reservoir.empty': { target: '#therapy.stop.standby', actions: ['markReservoirEmpty', 'markUnprimed', 'commandStop'] },
    // An occluded line must be cleared and primed again before Run.
    'occlusion.detected': { target: '#therapy.stop.resolve', actions: ['markUnprimed', 'commandStop'] },
    'delivery.failed': { actions: 'commandStop' },
    'priming.start': [
      { guard: not('isStopped'), actions: notApplicable('therapy-not-stopped') },
      { guard: 'isOff', actions: notApplicable('device-off') },
      { guard: not('hasReservoir'), actions: notApplicable('no-reservoir') },
      { guard: 'isPreparing', actions: notApplicable('preparing') },
      { guard: 'isPriming', actions: notApplicable('priming') },
      { guard: not('primingAmountInRange'), actions: refuse('parameter-out-of-range', 'amount-out-of-range') },
      { target: '#therapy.stop.priming', actions: ['markUnprimed', 'commandPrime'] },
    ],
    // §3.3 0x74: "Stop Priming when not started or already finished".
    'priming.stop': { actions: notApplicable('not-priming') },
    'config.change': [{ guard: 'notRunning', actions: 'acceptConfig' }, { actions: notApplicable('running') }],
    'basal.activate': [{ guard: 'notRunning', actions: 'commandSetBasalProfile' }, { actions: notApplicable('running') }],
    'tbr.set': [{ guard: 'therapyActive', actions: 'commandSetTbr' }, { actions: notApplicable('therapy-not-running') }],
    'tbr.cancel': { actions: 'commandCancelTbr' },
    'bolus.set': [{ guard: 'isRunning', actions: 'commandBolus' }, { actions: notApplicable('therapy-not-running') }],
    'bolus.cancel': { actions: 'commandCancelBolus' },
    'device.off': [
      { guard: not('isStopped'), actions: notApplicable('therapy-not-stopped') },
      { guard: 'isPriming', actions: notApplicable('priming') },
      { target: '#therapy.stop.off', actions: 'commandStop' },
    ],
    'flight.enter': { actions: 'enterFlightMode' },
    'flight.exit': { actions: 'exitFlightMode' },
  },
  states: {
    stop: {
      initial: 'resolve',
      states: {
        /** Picks the operational state from the reservoir and the line (never stays here). */
        resolve: {
          always: [
            { guard: and(['hasReservoir', 'isPrimed']), target: 'ready' },
            { guard: 'hasReservoir', target: 'waiting' },
            { target: 'standby' },
          ],
        },
        off: {
          on: {
            'device.on': { target: 'resolve' },
            // Facts still count while off, but do not switch the pump on.
            'reservoir.removed': { actions: ['forgetReservoir', 'markUnprimed', 'commandStop'] },
            'reservoir.empty': { actions: ['markReservoirEmpty', 'markUnprimed', 'commandStop'] },
            'occlusion.detected': { actions: ['markUnprimed', 'commandStop'] },
            'device.off': { actions: 'commandStop' },
          },
        },
        standby: {},
        preparing: {
          on: { 'preparing.done': { target: 'waiting' } },
        },
        waiting: {},
        priming: {
          on: {
            'priming.done': { target: 'ready', actions: 'markPrimed' },
            'priming.stop': { target: 'waiting', actions: 'commandStopPriming' },
            // Stop and Pause halt the priming motor too (DeliveryPort contract); the line is not primed.
            'therapy.stop': { target: 'waiting', actions: 'commandStop' },
            'therapy.pause': { target: 'waiting', actions: 'commandPause' },
            'delivery.failed': { target: 'waiting', actions: 'commandStop' },
          },
        },
        ready: {
          on: {
            'therapy.run': { guard: and(['hasReservoir', 'isPrimed']), target: '#therapy.run', actions: 'commandStart' },
          },
        },
      },
    },
    run: {
      on: {
        'therapy.run': { actions: [] }, // already running: Success, nothing to do
        'therapy.pause': { target: 'pause', actions: 'commandPause' },
        'therapy.stop': { target: '#therapy.stop.resolve', actions: 'commandStop' },
        'delivery.failed': { target: '#therapy.stop.resolve', actions: 'commandStop' },
      },
    },
    pause: {
      on: {
        'therapy.run': { guard: and(['hasReservoir', 'isPrimed']), target: 'run', actions: 'commandResume' },
        'therapy.stop': { target: '#therapy.stop.resolve', actions: 'commandStop' },
        'delivery.failed': { target: '#therapy.stop.resolve', actions: 'commandStop' },
      },
    },
  },
});

export type TherapyMachine = typeof therapyMachine;

// ─── the service firmware calls ──────────────────────────────────────────────────────────────

export type TherapyResult<T = undefined> =
  | { readonly ok: true; readonly code: 'ok'; readonly value: T }
  | { readonly ok: false; readonly code: TherapyRefusalCode; readonly reason: RefusalReason; readonly detail?: string };

export interface TherapyStatus {
  readonly therapyControlState: TherapyControlState;
  readonly operationalState: OperationalState;
  /** IDD Status flag bit 0 (ids.md §1.2): a reservoir is in, even an empty one. */
  readonly reservoirAttached: boolean;
  readonly reservoir: ReservoirState;
  readonly primed: boolean;
  readonly flightMode: boolean;
}

export interface TherapyStateChange {
  readonly from: TherapyStatus;
  readonly to: TherapyStatus;
}

export interface TherapyOptions {
  readonly port: DeliveryPort;
  readonly input?: TherapyInput;
  /**
   * Called after a step that changed the therapy control state, the operational state or the
   * reservoir — once the DeliveryPort has been told (history, IDD Status Changed bits 0–2).
   */
  readonly onChange?: (change: TherapyStateChange) => void;
  /** Every refusal, for the audit log. */
  readonly onRefused?: (event: TherapyEvent, code: TherapyRefusalCode, reason: RefusalReason) => void;
}

type PortOutcome = DeliveryResult<unknown>;

/**
 * The therapy machine as firmware uses it. Each method sends one event, then runs the commands
 * the step emitted against the DeliveryPort — synchronously, before it returns, so Stop and Pause
 * have reached the motor when the answer goes out. Side effects never run inside XState (a
 * PowerCutError must reach the caller as the chip dying; see src/firmware/lockout-store.ts).
 */
export class Therapy {
  private readonly port: DeliveryPort;
  private readonly actor: Actor<typeof therapyMachine>;
  private readonly queue: TherapyEmitted[] = [];
  private readonly onChange: ((change: TherapyStateChange) => void) | undefined;
  private readonly onRefused: TherapyOptions['onRefused'];

  constructor(opts: TherapyOptions) {
    this.port = opts.port;
    this.onChange = opts.onChange;
    this.onRefused = opts.onRefused;
    this.actor = createActor(therapyMachine, { input: opts.input ?? {} });
    this.actor.on('*', (e) => this.queue.push(e));
    this.actor.start();
  }

  // IDS Command Control Point procedures (ids.md §3).

  /** Set Therapy Control State (0x0F5A). */
  setTherapyControlState(state: TherapyControlState): TherapyResult {
    return this.voidResult(this.step({ type: `therapy.${state}` }));
  }
  /** Set Flight Mode (0x0F66). */
  setFlightMode(): TherapyResult {
    return this.voidResult(this.step({ type: 'flight.enter' }));
  }
  /** Start Priming (0x127B). */
  startPriming(amountMilliunits: number): TherapyResult {
    return this.voidResult(this.step({ type: 'priming.start', amountMilliunits }));
  }
  /** Stop Priming (0x1284). */
  stopPriming(): TherapyResult {
    return this.voidResult(this.step({ type: 'priming.stop' }));
  }
  /** Set Initial Reservoir Fill Level (0x128B): a new reservoir of this fill is in. */
  setInitialReservoirFillLevel(fillMilliunits: number): TherapyResult {
    return this.voidResult(this.step({ type: 'reservoir.filled', fillMilliunits }));
  }
  /** Activate Profile Templates (0x122E) for a basal rate template. */
  activateBasalProfile(templateNumber: number): TherapyResult {
    return this.voidResult(this.step({ type: 'basal.activate', templateNumber }));
  }
  /** Any other configuration (template writes, max bolus, …): ok when it may be applied now. */
  configure(kind: ConfigKind): TherapyResult {
    return this.voidResult(this.step({ type: 'config.change', kind }));
  }
  /** Set TBR Adjustment (0x0FFF). */
  setTbr(tbr: TbrRequest): TherapyResult {
    return this.voidResult(this.step({ type: 'tbr.set', tbr }));
  }
  /** Cancel TBR Adjustment (0x1111). */
  cancelTbr(): TherapyResult {
    return this.voidResult(this.step({ type: 'tbr.cancel' }));
  }
  /** Set Bolus (0x114B): the Bolus ID comes from the delivery engine. */
  setBolus(bolus: BolusRequest): TherapyResult<{ readonly bolusId: number }> {
    const r = this.step({ type: 'bolus.set', bolus });
    if (!r.ok) return r;
    const v = r.value as { bolusId?: unknown } | undefined;
    if (typeof v?.bolusId !== 'number') throw new Error('DeliveryPort.bolus answered ok without a bolus ID');
    return { ok: true, code: 'ok', value: { bolusId: v.bolusId } };
  }
  /** Cancel Bolus (0x1178). */
  cancelBolus(bolusId: number): TherapyResult {
    return this.voidResult(this.step({ type: 'bolus.cancel', bolusId }));
  }

  // Facts from the device (engine, sensors, buttons): they are not refused, only applied.

  primingDone(): void {
    this.step({ type: 'priming.done' });
  }
  preparingDone(): void {
    this.step({ type: 'preparing.done' });
  }
  occlusionDetected(): void {
    this.step({ type: 'occlusion.detected' });
  }
  reservoirEmpty(): void {
    this.step({ type: 'reservoir.empty' });
  }
  reservoirRemoved(): void {
    this.step({ type: 'reservoir.removed' });
  }
  /** The local flight-mode switch (IDS has no op code to leave it, ids.md §5). */
  exitFlightMode(): void {
    this.step({ type: 'flight.exit' });
  }
  switchOff(): TherapyResult {
    return this.voidResult(this.step({ type: 'device.off' }));
  }
  switchOn(): void {
    this.step({ type: 'device.on' });
  }

  /** Send any machine event (tests, and firmware glue that already speaks events). */
  send(event: TherapyEvent): TherapyResult<unknown> {
    return this.step(event);
  }

  status(): TherapyStatus {
    return statusOf(this.actor.getSnapshot());
  }

  stop(): void {
    this.actor.stop();
  }

  private voidResult(r: TherapyResult<unknown>): TherapyResult {
    return r.ok ? { ok: true, code: 'ok', value: undefined } : r;
  }

  private step(event: TherapyEvent): TherapyResult<unknown> {
    const before = this.status();
    this.actor.send(event);
    let result: TherapyResult<unknown> = { ok: true, code: 'ok', value: undefined };
    let failedStart: PortOutcome | undefined;
    for (let e = this.queue.shift(); e !== undefined; e = this.queue.shift()) {
      if (e.type === 'command.refused') {
        result = { ok: false, code: e.code, reason: e.reason };
        this.onRefused?.(event, e.code, e.reason);
        continue;
      }
      if (e.type === 'config.accepted') continue;
      const outcome = this.run(e);
      if (!outcome.ok) {
        result = outcome.detail === undefined ? { ok: false, code: outcome.code, reason: 'delivery-port' } : { ok: false, code: outcome.code, reason: 'delivery-port', detail: outcome.detail };
        // A start or priming the engine refused leaves the machine in a state it is not in: back to Stop.
        if ((e.type === 'delivery.start' || e.type === 'delivery.prime') && failedStart === undefined) {
          failedStart = outcome;
          this.actor.send({ type: 'delivery.failed' });
        }
      } else if (result.ok) result = { ok: true, code: 'ok', value: outcome.value };
    }
    const after = this.status();
    if (!sameStatus(before, after)) this.onChange?.({ from: before, to: after });
    return result;
  }

  private run(e: Exclude<TherapyEmitted, { type: 'command.refused' | 'config.accepted' }>): PortOutcome {
    const p = this.port;
    switch (e.type) {
      case 'delivery.start':
        return p.start({ resume: e.resume });
      case 'delivery.pause':
        return p.pause();
      case 'delivery.stop':
        return p.stop();
      case 'delivery.prime':
        return p.prime(e.amountMilliunits);
      case 'delivery.stopPriming':
        return p.stopPriming();
      case 'delivery.setBasalProfile':
        return p.setBasalProfile(e.templateNumber);
      case 'delivery.setTbr':
        return p.setTbr(e.tbr);
      case 'delivery.cancelTbr':
        return p.cancelTbr();
      case 'delivery.bolus':
        return p.bolus(e.bolus);
      case 'delivery.cancelBolus':
        return p.cancelBolus(e.bolusId);
    }
  }
}

type TherapySnapshot = ReturnType<Actor<typeof therapyMachine>['getSnapshot']>;

/** Therapy control state and operational state of a snapshot (ids.md §1.2 IDD Status). */
export function statusOf(snap: TherapySnapshot): TherapyStatus {
  const c = snap.context;
  const therapyControlState: TherapyControlState = snap.matches('run') ? 'run' : snap.matches('pause') ? 'pause' : 'stop';
  let operationalState: OperationalState = 'ready';
  if (therapyControlState === 'stop') {
    const sub = (snap.value as { stop?: string }).stop;
    operationalState = sub === 'off' || sub === 'standby' || sub === 'preparing' || sub === 'priming' || sub === 'waiting' ? sub : 'ready';
  }
  return { therapyControlState, operationalState, reservoirAttached: c.reservoir !== 'none', reservoir: c.reservoir, primed: c.primed, flightMode: c.flightMode };
}

const sameStatus = (a: TherapyStatus, b: TherapyStatus): boolean =>
  a.therapyControlState === b.therapyControlState &&
  a.operationalState === b.operationalState &&
  a.reservoir === b.reservoir &&
  a.primed === b.primed &&
  a.flightMode === b.flightMode;
