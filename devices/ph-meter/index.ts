// The pH meter composed: SecureDevice (shared firmware) + the probe on the KW31Z ADC + measurement
// and calibration machines + the calibration in force (flash) + the GLP log, its commands over the
// session and its own GATT service. Not any part's logic: each is in its own module and tested there.
//
// Wiring:
//   probe (simulated-probe.ts) → Measurement (every sample) → onLiveReading → Calibrator.reading
//   Calibrator.onFinished: accepted → handed to Measurement, saved to flash, audited; any other end
//     audited (who, which rule failed); measurement stops (the procedure ran it continuously)
//   ph.measure: a one-shot reading → a GLP record (the log chains it) → answered with the record
//   Local procedure on the buttons (DESIGN §5: calibration is privileged; the device's own buttons
//   are the other way in, audited as 'local'): a long OK press starts a calibration with the US
//   set, each short OK takes a point, a long OK finishes; a long Cancel cancels.
// One record store: SecureDevice opens it; the GLP log and the calibration live in it too.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';
import type { Kw31zBoard } from '../../hal/kw31z/board.ts';
import { sha256, type BudgetReport } from '../../src/crypto/index.ts';
import { MedtwinError } from '../../src/errors.ts';
import { AUDIT_DEVICE_EVENTS_FROM } from '../../src/firmware/audit-log.ts';
import { SecureDevice } from '../../src/firmware/secure-device.ts';
import { ROLE_CODES } from '../../src/session/roles.ts';
import type { World } from '../../src/sim/world.ts';
import { BUFFER_SETS } from './buffers.ts';
import { DEFAULT_EXPIRY_POLICY, type Calibration, type CalibrationOperator, type ExpiryPolicy } from './calibration.ts';
import { Calibrator, type CalibrationOutcome } from './calibration.machine.ts';
import { loadCalibration, saveCalibration } from './calibration-store.ts';
import type { ElectrodeSpec, Solution } from './electrode.ts';
import { ELECTRODE_MV_RANGE } from './front-end.ts';
import { GLP_DEFAULT_CAPACITY, GlpLog, type GlpResult } from './glp-log.ts';
import { glpReadingFrom, type GlpFlag } from './glp-record.ts';
import { Measurement, measurementConfig, type PhReading } from './measurement.machine.ts';
import { phCommands } from './ph-commands.ts';
import { BUFFER_SET_CODES, failureCodeOf, warningBits } from './ph-wire.ts';
import { PH_SERVICE_UUID, phMeterService } from './ph-service.ts';
import { createPhProbe, type PhProbe } from './simulated-probe.ts';

export { PH_COMMANDS } from './ph-wire.ts';

/** The meter's audit events (device range, docs/protocol.md §9). */
export const PH_AUDIT_EVENTS = {
  /** A calibration began: source[1] (0 local, else role code) ‖ buffer set[1]. */
  calibrationStarted: AUDIT_DEVICE_EVENTS_FROM + 0x10,
  /** Accepted: source[1] ‖ id[4] ‖ slope 0.01 %[2] ‖ offset 0.01 mV[2] ‖ warnings[1]. */
  calibrationAccepted: AUDIT_DEVICE_EVENTS_FROM + 0x11,
  /** Failed or abandoned: source[1] ‖ reason[1] (ph-wire ACCEPTANCE_FAILURE_CODES) ‖ points[1]. */
  calibrationFailed: AUDIT_DEVICE_EVENTS_FROM + 0x12,
} as const;

export interface PhMeterOptions {
  readonly world: World;
  /** A KW31Z board whose flash is already provisioned (identity in the write-once area). */
  readonly board: Kw31zBoard;
  readonly serial: string;
  /** The probe on the meter; default NEW_PROBE. */
  readonly electrode?: ElectrodeSpec;
  /** Where the probe starts; default pH 7.00 at 25 °C. */
  readonly solution?: Solution;
  /** Record store sectors; default 0..(flash sectors − 2). */
  readonly store?: { readonly firstSector: number; readonly sectorCount: number };
  /** Advertising interval, µs; default 1 s. */
  readonly advertisingIntervalUs?: number;
  readonly glpCapacity?: number;
  readonly expiry?: ExpiryPolicy;
  readonly onPairingBudget?: (report: BudgetReport) => void;
}

export interface PhMeter {
  readonly device: SecureDevice;
  readonly probe: PhProbe;
  readonly measurement: Measurement;
  readonly calibrator: Calibrator;
  readonly glp: GlpLog;
  readonly alarm: Alarm;
  readonly board: Kw31zBoard;
  /** How long a calibration stays valid, and when the meter reminds. */
  readonly expiry: ExpiryPolicy;
  /** Every calibration procedure's end since boot, in order. */
  readonly outcomes: readonly CalibrationOutcome[];
  /** Append a reading to the GLP log (the composition's one way in): its sequence number. */
  record(reading: PhReading): GlpResult<number>;
  /** Start a calibration for `by` (session or local); audited. */
  startCalibration(bufferSet: string, by: CalibrationOperator): ReturnType<Calibrator['start']>;
  /** The calibration in force. */
  calibration(): Calibration | undefined;
  /**
   * Log on its own: every `periodUs`, one one-shot reading into the GLP log (a reading a minute is
   * the duty cycle the battery figure states). Skipped while a calibration or another measurement
   * holds the probe. A second call replaces the period.
   */
  startLogging(periodUs: number): void;
  stopLogging(): void;
  /** Accepted calibrations the flash could not keep (in force until a reboot). */
  readonly unsavedCalibrations: { readonly count: number };
  /** Interval readings logged, skipped (probe busy) and lost (not stable in time, or the log refused). */
  readonly logging: { readonly logged: number; readonly skipped: number; readonly failed: number };
}

/** Source byte of the audit details: 0 local, else the role's code. */
const sourceCode = (by: CalibrationOperator): number => (by.source === 'local' ? 0 : ROLE_CODES[by.role]);

export function createPhMeter(opts: PhMeterOptions): PhMeter {
  const { world, board } = opts;
  const flashSectors = Math.floor(board.flash.geometry.sizeBytes / board.flash.geometry.sectorBytes);
  const store = opts.store ?? { firstSector: 0, sectorCount: flashSectors - 1 };
  const cost = { ledger: board.ledger, costs: board.costs };
  const glpCapacity = opts.glpCapacity ?? GLP_DEFAULT_CAPACITY;
  const parts: { meter?: PhMeter; local?: boolean } = {};
  const meterNow = (): PhMeter => {
    if (parts.meter === undefined) throw new MedtwinError('ph.boot', 'a command before the meter finished booting');
    return parts.meter;
  };

  const device = new SecureDevice({
    hal: { alarm: board.alarm, radio: board.radio, flash: board.flash, entropy: board.entropy, display: board.display, buttons: board.buttons, power: board.power, ledger: board.ledger, costs: board.costs },
    device: board.device,
    trace: world.trace,
    model: { manufacturerName: 'medtwin', modelNumber: 'MT-PH', serialNumber: opts.serial, firmwareRevision: '0.1.0' },
    // Assigned Numbers §2.6: 0x0540 Generic Sensor (there is no pH meter appearance).
    appearance: 0x0540,
    advertising: { intervalUs: opts.advertisingIntervalUs ?? 1_000_000, data: { flags: 0x06, serviceUuids: [PH_SERVICE_UUID], localName: 'medtwin pH meter' } },
    store,
    sha256: (b) => sha256(b, { cost }),
    services: [phMeterService(glpCapacity)],
    commands: phCommands(meterNow),
    onButton: (name, long) => localButton(name, long),
    ...(opts.onPairingBudget ? { onPairingBudget: opts.onPairingBudget } : {}),
  });

  const probe = createPhProbe({
    world,
    device: board.device,
    ledger: board.ledger,
    costs: board.costs,
    ...(opts.electrode ? { electrode: opts.electrode } : {}),
    ...(opts.solution ? { solution: opts.solution } : {}),
  });
  const opened = GlpLog.open({ store: device.store, clock: board.alarm, identity: device.identity, cost, capacity: glpCapacity });
  if (!opened.ok) throw new MedtwinError('ph.glp', `GLP log: ${opened.code}`);
  const glp = opened.value;
  const stored = loadCalibration(device.store);
  const outcomes: CalibrationOutcome[] = [];
  const audit = (event: number, by: CalibrationOperator, detail: number[]): void => {
    const r = device.audit.append(event, by.source === 'local' ? undefined : by.role, Uint8Array.from(detail));
    // The audit log never stops the meter (secure-device.ts auditSink): a failure is counted there.
    void r;
  };

  const unsaved = { count: 0 };
  let calibrator: Calibrator | undefined;
  const measurement = new Measurement({
    alarm: board.alarm,
    probe: probe.reader,
    config: measurementConfig({ mvRange: ELECTRODE_MV_RANGE, expiry: opts.expiry ?? DEFAULT_EXPIRY_POLICY }),
    ...(stored ? { calibration: stored } : {}),
    onLiveReading: (r) => calibrator?.reading(r),
  });
  calibrator = new Calibrator({
    alarm: board.alarm,
    ...(stored ? { current: stored } : {}),
    onFinished: (o) => {
      outcomes.push(o);
      measurement.stopMeasuring();
      parts.local = false;
      if (o.ok) {
        const c = o.calibration;
        // The Calibrator already holds it as in force; measure with it too, so reads, records and
        // the answer agree. A calibration flash could not keep is still in force until a reboot
        // (which goes back to the stored one): the display says so and it is counted.
        measurement.setCalibration(c);
        if (!saveCalibration(device.store, c).ok) {
          unsaved.count++;
          board.display.showText('CAL NOT SAVED');
        }
        const u16 = Math.round(c.slopePercent * 100);
        const i16 = Math.round(c.offsetMv * 100) & 0xffff;
        audit(PH_AUDIT_EVENTS.calibrationAccepted, c.performedBy, [sourceCode(c.performedBy), ...le32(c.id), u16 & 0xff, u16 >> 8, i16 & 0xff, i16 >> 8, warningBits(c.warnings)]);
      } else {
        audit(PH_AUDIT_EVENTS.calibrationFailed, o.attempt.performedBy, [sourceCode(o.attempt.performedBy), failureCodeOf(o), o.attempt.points.length]);
      }
    },
  });
  const cal = calibrator;

  const startCalibration = (bufferSet: string, by: CalibrationOperator): ReturnType<Calibrator['start']> => {
    const r = cal.start(bufferSet, by);
    if (!r.ok) return r;
    measurement.stopMeasuring();
    const m = measurement.startContinuous();
    if (!m.ok) {
      cal.cancel();
      return { ok: false, code: 'busy' };
    }
    const set = BUFFER_SETS[bufferSet as keyof typeof BUFFER_SETS];
    audit(PH_AUDIT_EVENTS.calibrationStarted, by, [sourceCode(by), set ? BUFFER_SET_CODES[set.id] : 0]);
    return r;
  };

  function localButton(name: string, long: boolean): void {
    if (name === 'ok' && long) {
      if (cal.status().state === 'idle') {
        if (startCalibration('us', { source: 'local' }).ok) parts.local = true;
      } else if (parts.local === true) cal.finish();
      return;
    }
    if (parts.local !== true) return;
    if (name === 'ok') cal.measurePoint();
    else if (name === 'cancel' && long) cal.cancel();
  }

  const record = (reading: PhReading): GlpResult<number> => {
    const c = measurement.status().calibration;
    const f = reading.flags;
    const flags: GlpFlag[] = [];
    if (f.stable) flags.push('stable');
    if (f.held) flags.push('held');
    if (f.temperature !== 'atc') flags.push('manual-temperature');
    if (f.outOfRange.includes('ph-low') || f.outOfRange.includes('ph-high')) flags.push('ph-out-of-range');
    if (f.outOfRange.includes('mv-low') || f.outOfRange.includes('mv-high')) flags.push('mv-out-of-range');
    if (f.outOfRange.includes('temp-low') || f.outOfRange.includes('temp-high')) flags.push('temperature-out-of-range');
    if (f.calibrationWarnings.length > 0) flags.push('calibration-warning');
    if (f.calibration === 'expired') flags.push('calibration-expired');
    if (f.outOfRange.includes('electrode-dead')) flags.push('electrode-fault');
    if (f.temperatureFault !== undefined) flags.push('temperature-fault');
    // Out-of-range values are recorded as measured, flagged (GLP: the record says what was seen).
    return glp.append(
      glpReadingFrom({
        ph: reading.ph,
        mv: reading.mv,
        tempC: reading.tempC,
        flags,
        calibration: c === undefined ? undefined : { id: c.id, line: c.line, timeS: Math.floor(c.atUs / 1_000_000), points: c.points.length },
      }),
    );
  };

  const logging = { logged: 0, skipped: 0, failed: 0 };
  let loggingTimer: AlarmId | undefined;
  const stopLogging = (): void => {
    if (loggingTimer !== undefined) board.alarm.cancel(loggingTimer);
    loggingTimer = undefined;
  };
  const startLogging = (periodUs: number): void => {
    if (!Number.isInteger(periodUs) || periodUs < 1_000_000) throw new MedtwinError('ph.logging', `logging period must be a whole number of µs ≥ 1 s, got ${periodUs}`);
    stopLogging();
    const tick = (): void => {
      loggingTimer = board.alarm.setAlarm(periodUs, tick);
      if (cal.status().state !== 'idle') return void logging.skipped++;
      const started = measurement.measureOnce((r) => {
        if (!r.ok) return void logging.failed++;
        if (record(r.reading).ok) logging.logged++;
        else logging.failed++;
      });
      if (!started.ok) logging.skipped++;
    };
    loggingTimer = board.alarm.setAlarm(periodUs, tick);
  };

  const meter: PhMeter = {
    device,
    probe,
    measurement,
    calibrator: cal,
    glp,
    alarm: board.alarm,
    board,
    expiry: opts.expiry ?? DEFAULT_EXPIRY_POLICY,
    outcomes,
    record,
    startCalibration,
    calibration: () => cal.current(),
    startLogging,
    stopLogging,
    logging,
    unsavedCalibrations: unsaved,
  };
  parts.meter = meter;
  return meter;
}

function le32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
