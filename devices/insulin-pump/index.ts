// The insulin pump composed: SecureDevice (shared firmware) + therapy machine + delivery engine + journal + annunciations + history, IDS over the session.
// Not the world (scenarios/ build boards, phones and air) nor any part's own logic: each part is in its own module and tested there.
//
// One record store: SecureDevice opens it on the board flash; the journal, annunciations and
// history live in the same store (`device.store`), not a second one.
//
// Event routing (engine → rest), in the order the engine emits them:
//   occlusion        → annunciation Occlusion Detected; then state.changed(stopped, occlusion) → therapy.occlusionDetected()
//   reservoir.low    → annunciation Reservoir Low (AuxInfo1 = remaining in 0.1 U)
//   reservoir.empty  → annunciation Reservoir Empty; then state.changed(…, reservoir-empty) → therapy.reservoirEmpty()
//   battery.low      → annunciation Battery Low
//   motor.fault / journal.failed → Mechanical / System Issue; then state.changed → therapy Stop
//   limit.reached    → annunciation Max Delivery (a pulse or bolus refused: never exceeded)
//   bolus.done / bolus.cancelled → history Bolus Delivered (cancelled by the device: annunciation Bolus Canceled)
//                    (the engine closes the bolus in the journal after this: see "After a power cut")
//   tbr.done         → annunciation TBR Over
//   and to every open session, as events (status-notifier.ts): IDD Status Changed with the flags
//   of what changed (therapy/operational state, reservoir, annunciation, active bolus, active basal,
//   history recorded) and, when an annunciation changes, the Annunciation Status to show now
// The therapy machine is told of engine stops only on state.changed, which the engine emits after
// it has halted: telling it earlier would stop the engine from inside the engine's own halt.
//
// After a power cut (issue 6): the journal reconciles itself with the plunger; a bolus it still
// holds open was interrupted, so its Bolus Delivered record is written now with what the plunger
// delivered of it — unless the history already has one for that ID (the cut fell between the
// record and the journal's close); Bolus IDs go on after the journal's last one, so that test is
// exact. Therapy starts in Stop, line not primed (therapy.machine.ts): nothing moves on its own.

import type { Alarm } from '../../hal/alarm.ts';
import { MOTOR_STEP_US, Kw31zPumpMotor } from '../../hal/kw31z/motor.ts';
import type { Kw31zBoard } from '../../hal/kw31z/board.ts';
import { uuid16 } from '../../src/ble/uuid.ts';
import { sha256, type BudgetReport } from '../../src/crypto/index.ts';
import { MedtwinError } from '../../src/errors.ts';
import { SecureDevice, type TherapyPort } from '../../src/firmware/secure-device.ts';
import type { CommandResult } from '../../src/session/commands.ts';
import { RESPONSE_STATUS } from '../../src/session/wire-session.ts';
import type { World } from '../../src/sim/world.ts';
import { Annunciations, ANNUNCIATION_TYPES, ANNUNCIATION_STATUS_CODES, type AnnunciationChange, type AnnunciationType } from './annunciations.ts';
import { DeliveryEngine, type DeliveryEvent } from './delivery-engine.ts';
import { DeliveryJournal } from './delivery-journal.ts';
import { EngineDeliveryPort } from './delivery-port.ts';
import { History, type HistoryEvent } from './history.ts';
import { idsCommands } from './ids-commands.ts';
import { BOLUS_TYPE } from './ids/enums.ts';
import { StatusNotifier, type StatusChangedFlag } from './status-notifier.ts';
import type { HardLimits } from './limits.ts';
import { loadLimits } from './limits-store.ts';
import { ProfileTemplates } from './profile-templates.ts';
import { Therapy, THERAPY_CONTROL_STATE_CODES, OPERATIONAL_STATE_CODES, type TherapyStateChange } from './therapy.machine.ts';

export { IDS_COMMANDS } from './ids-commands.ts';

export interface InsulinPumpOptions {
  readonly world: World;
  /** A KW31Z board whose flash is already provisioned (identity in the write-once area). */
  readonly board: Kw31zBoard;
  readonly serial: string;
  /** Record store sectors; default 0..(flash sectors − 2): the last sector is the write-once area. */
  readonly store?: { readonly firstSector: number; readonly sectorCount: number };
  /** The factory limits, used until a clinician sets some (then the stored ones); default DEFAULT_LIMITS (the engine's). */
  readonly limits?: HardLimits;
  /** Advertising interval, µs; default 1 s (a pump is found rarely, and saves its cell). */
  readonly advertisingIntervalUs?: number;
  /**
   * The pump mechanism (stepper and plunger). It is hardware, not firmware: a reboot after a power
   * cut passes the same one, whose position the journal reconciles with. Default: a new one.
   */
  readonly motor?: Kw31zPumpMotor;
  /** Keep the world's trace for this device (default: the world's own setting). */
  readonly onPairingBudget?: (report: BudgetReport) => void;
  readonly onSecurityAlarm?: (reason: string) => void;
}

export interface InsulinPump {
  readonly device: SecureDevice;
  readonly therapy: Therapy;
  readonly engine: DeliveryEngine;
  readonly journal: DeliveryJournal;
  readonly port: EngineDeliveryPort;
  /** Basal, ISF, I2CHO and target glucose profile templates, in the record store. */
  readonly templates: ProfileTemplates;
  readonly annunciations: Annunciations;
  /** IDD Status Changed flags and the events that tell open sessions of changes. */
  readonly notifier: StatusNotifier;
  readonly history: History;
  readonly motor: Kw31zPumpMotor;
  readonly alarm: Alarm;
  /** Every annunciation raised since boot, in order (type and instance). */
  readonly raised: readonly { readonly type: AnnunciationType; readonly instanceId: number; readonly atUs: number }[];
  /** History appends that failed (the store full or failing): counted, never thrown. */
  readonly historyFailures: number;
}

const done = (): CommandResult => ({ status: RESPONSE_STATUS.ok, payload: new Uint8Array(0) });

export function createInsulinPump(opts: InsulinPumpOptions): InsulinPump {
  const { world, board } = opts;
  const flashSectors = Math.floor(board.flash.geometry.sizeBytes / board.flash.geometry.sectorBytes);
  const store = opts.store ?? { firstSector: 0, sectorCount: flashSectors - 1 };
  const cost = { ledger: board.ledger, costs: board.costs };
  // Late-bound: SecureDevice is built first (it opens the store the other parts need).
  let therapy: Therapy | undefined;
  let engine: DeliveryEngine | undefined;
  const port: TherapyPort = {
    stop: () => {
      const r = therapy?.setTherapyControlState('stop');
      // Defence in depth: Stop always reaches the motor, whatever the machine said.
      if (r === undefined || !r.ok) engine?.stop();
      return done();
    },
    suspend: () => {
      const r = therapy?.setTherapyControlState('pause');
      if (r === undefined || !r.ok) engine?.pause();
      return done();
    },
    resume: () => {
      const r = therapy?.setTherapyControlState('run');
      return r?.ok === true ? done() : { status: RESPONSE_STATUS.notPermittedNow, payload: new Uint8Array(0) };
    },
  };
  const parts: { pump?: InsulinPump; annunciations?: Annunciations } = {};
  const device = new SecureDevice({
    hal: { alarm: board.alarm, radio: board.radio, flash: board.flash, entropy: board.entropy, display: board.display, buttons: board.buttons, power: board.power, ledger: board.ledger, costs: board.costs },
    device: board.device,
    trace: world.trace,
    model: { manufacturerName: 'medtwin', modelNumber: 'MT-PUMP', serialNumber: opts.serial, firmwareRevision: '0.1.0' },
    appearance: 0x0d41,
    advertising: { intervalUs: opts.advertisingIntervalUs ?? 1_000_000, data: { flags: 0x06, serviceUuids: [uuid16(0x183a)], localName: 'medtwin pump' } },
    store,
    therapy: port,
    sha256: (b) => sha256(b, { cost }),
    commands: idsCommands(() => {
      if (parts.pump === undefined) throw new MedtwinError('pump.boot', 'a command before the pump finished booting');
      return parts.pump;
    }),
    // A template write transaction does not outlive the connection that opened it (IDP §4.15.4.1).
    onLinkClosed: () => parts.pump?.templates.abandon(),
    ...(opts.onPairingBudget ? { onPairingBudget: opts.onPairingBudget } : {}),
    ...(opts.onSecurityAlarm ? { onSecurityAlarm: opts.onSecurityAlarm } : {}),
  });

  // IDD Status Changed and Annunciation Status, as events to every open session (status-notifier.ts).
  const notifier = new StatusNotifier({ broadcast: (event, payload) => device.broadcast(event, payload) });
  const motor = opts.motor ?? new Kw31zPumpMotor({ device: board.device, world, ledger: board.ledger, costs: board.costs });
  const opened = DeliveryJournal.open({ store: device.store, motor, alarm: board.alarm });
  if (!opened.ok) throw new MedtwinError('pump.journal', `delivery journal: ${opened.code}`);
  const journal = opened.value;
  let historyFailures = 0;
  const history = History.open({ store: device.store, clock: board.alarm });
  const record = (e: HistoryEvent): void => {
    const r = history.append(e);
    if (!r.ok) historyFailures++;
  };
  const bolusDelivered = (bolusId: number, deliveredMilliUnits: number): HistoryEvent => ({
    type: 'bolusDelivered1',
    bolusId,
    // After a cut the journal knows the bolus's pulses, not their split: type Undetermined, all in the fast field.
    bolusType: BOLUS_TYPE.codes.undetermined,
    deliveredFastMilliunits: deliveredMilliUnits,
    deliveredExtendedMilliunits: 0,
    effectiveDurationMin: 0,
  });
  // A bolus the power cut interrupted (see the header): recorded once, then closed.
  const interrupted = journal.openBolus;
  if (interrupted !== undefined) {
    const recorded = history.records().some((r) => r.event.type === 'bolusDelivered1' && r.event.bolusId === interrupted.bolusId);
    const r = recorded ? undefined : history.append(bolusDelivered(interrupted.bolusId, interrupted.pulses * motor.milliUnitsPerStep));
    // Not recorded (the store failing): left open, to be recorded at the next boot.
    if (r === undefined || r.ok) journal.endBolus(interrupted.bolusId);
    else historyFailures++;
  }
  const raised: { type: AnnunciationType; instanceId: number; atUs: number }[] = [];
  const annunciations = new Annunciations({
    store: device.store,
    alarm: board.alarm,
    onChange: (c: AnnunciationChange) => {
      const a = c.annunciation;
      if (c.cause === 'raised') raised.push({ type: a.type, instanceId: a.instanceId, atUs: board.alarm.nowUs() });
      record({ type: 'annunciationStatusChanged1', instanceId: a.instanceId, annunciationType: ANNUNCIATION_TYPES[a.type], status: ANNUNCIATION_STATUS_CODES[a.status] });
      notifier.changed('annunciationStatusChanged', 'historyEventRecorded');
      notifier.annunciation(parts.annunciations?.current());
    },
  });
  parts.annunciations = annunciations;
  // The limits the clinician set survive a reboot (limits-store.ts); the options' are the factory's.
  const limits = loadLimits(device.store) ?? opts.limits;
  engine = new DeliveryEngine({ alarm: board.alarm, motor, power: board.power, journal, ...(limits ? { limits } : {}) });
  const eng = engine;
  const templates = ProfileTemplates.open({ store: device.store });
  const delivery = new EngineDeliveryPort({
    engine: eng,
    alarm: board.alarm,
    templates,
    milliUnitsPerPulse: motor.milliUnitsPerStep,
    primingPulseUs: MOTOR_STEP_US,
    firstBolusId: journal.lastBolusId === 0xffff ? 1 : journal.lastBolusId + 1,
    chargePrimingSteps: (steps) => board.ledger.charge('motor', { motorSteps: steps }),
    onPrimingDone: (mU) => {
      record({ type: 'primingDone', deliveredMilliunits: mU, reason: 0x33 });
      therapy?.primingDone();
    },
    onPrimingFailed: () => {
      annunciations.raise('primingIssue');
      therapy?.send({ type: 'delivery.failed' });
    },
  });
  const reservoirState = journal.reservoirRemainingMilliUnits() > 0 ? ('filled' as const) : ('none' as const);
  therapy = new Therapy({
    port: delivery,
    // A reboot starts in Stop and never trusts the line: prime again (therapy.machine.ts).
    input: { reservoir: reservoirState, fillMilliunits: journal.reservoirRemainingMilliUnits(), primed: false },
    onChange: (c: TherapyStateChange) => {
      if (c.from.therapyControlState !== c.to.therapyControlState) {
        record({ type: 'therapyControlStateChanged', oldState: THERAPY_CONTROL_STATE_CODES[c.from.therapyControlState], newState: THERAPY_CONTROL_STATE_CODES[c.to.therapyControlState] });
      }
      if (c.from.operationalState !== c.to.operationalState) {
        record({ type: 'operationalStateChanged', oldState: OPERATIONAL_STATE_CODES[c.from.operationalState], newState: OPERATIONAL_STATE_CODES[c.to.operationalState] });
      }
      const flags: StatusChangedFlag[] = ['historyEventRecorded'];
      if (c.from.therapyControlState !== c.to.therapyControlState) flags.push('therapyControlStateChanged');
      if (c.from.operationalState !== c.to.operationalState) flags.push('operationalStateChanged');
      notifier.changed(...flags);
    },
  });
  const th = therapy;

  eng.onEvent((e: DeliveryEvent) => {
    switch (e.type) {
      case 'occlusion':
        annunciations.raise('occlusionDetected', [Math.min(0xffff, Math.round(e.pressureKpa * 10))]);
        return;
      case 'reservoir.low':
        notifier.changed('reservoirStatusChanged');
        annunciations.raise('reservoirLow', [Math.min(0xffff, Math.round(e.remainingMilliUnits / 100))]);
        return;
      case 'reservoir.empty':
        notifier.changed('reservoirStatusChanged');
        annunciations.raise('reservoirEmpty');
        return;
      case 'battery.low':
        annunciations.raise('batteryLow', [e.levelPercent]);
        return;
      case 'motor.fault':
        annunciations.raise('mechanicalIssue');
        return;
      case 'journal.failed':
        annunciations.raise('systemIssue');
        return;
      case 'limit.reached':
        annunciations.raise('maxDelivery');
        return;
      case 'tbr.done':
        notifier.changed('activeBasalRateStatusChanged');
        annunciations.raise('tbrOver');
        return;
      case 'bolus.done':
      case 'bolus.cancelled': {
        const cancelled = e.type === 'bolus.cancelled';
        if (cancelled && e.reason !== 'user' && e.reason !== 'stop' && e.reason !== 'pause') annunciations.raise('bolusCanceled', [e.bolusId]);
        record({
          type: 'bolusDelivered1',
          bolusId: e.bolusId,
          bolusType: BOLUS_TYPE.codes[e.kind],
          deliveredFastMilliunits: e.deliveredFastMilliUnits,
          deliveredExtendedMilliunits: e.deliveredExtendedMilliUnits,
          effectiveDurationMin: e.effectiveDurationMinutes,
        });
        notifier.changed('activeBolusStatusChanged', 'historyEventRecorded');
        return;
      }
      case 'state.changed':
        if (e.state !== 'stopped' || e.reason === 'user') return;
        if (e.reason === 'occlusion') th.occlusionDetected();
        else if (e.reason === 'reservoir-empty') th.reservoirEmpty();
        else th.setTherapyControlState('stop');
        return;
      default:
        return;
    }
  });

  const pump: InsulinPump = {
    device,
    therapy: th,
    engine: eng,
    journal,
    port: delivery,
    templates,
    annunciations,
    notifier,
    history,
    motor,
    alarm: board.alarm,
    raised,
    get historyFailures() {
      return historyFailures;
    },
  };
  parts.pump = pump;
  return pump;
}
