// Scenario `ph/calibrate-and-measure`: a clinician calibrates a pH meter with three US buffers over
// the secure session, the patient's attempt to calibrate is refused, the meter measures the three
// buffers at 5, 25 and 45 °C with temperature compensation, a second meter with an old probe fails
// calibration, and the patient's phone syncs the GLP records and a downstream check verifies them
// (and catches one edited after it left the phone). Not a test (test/scenarios/ph/ checks it) nor
// the meter's logic (devices/ph-meter/): it moves probes between beakers, drives phones, reports.

import { projectBatteryLife, type BatteryLifeProjection } from '../../hal/kw31z/battery.ts';
import type { LedgerSummary } from '../../hal/kw31z/ledger.ts';
import type { BdAddress } from '../../hal/radio.ts';
import type { Phone, PhoneConnection } from '../../src/client/phone.ts';
import { syncGlp, type GlpSyncResult } from '../../src/client/ph-client.ts';
import type { ClientSession } from '../../src/client/session-client.ts';
import { MedtwinError } from '../../src/errors.ts';
import { RESPONSE_STATUS } from '../../src/session/wire-session.ts';
import { US_PER_S } from '../../src/sim/scheduler.ts';
import { createPhMeter, PH_COMMANDS, type PhMeter } from '../../devices/ph-meter/index.ts';
import { bufferPhAt, US_BUFFERS, type PhBuffer } from '../../devices/ph-meter/buffers.ts';
import { NEW_PROBE, OLD_PROBE, type ElectrodeSpec } from '../../devices/ph-meter/electrode.ts';
import { decodeGlpRecord, type GlpRecord } from '../../devices/ph-meter/glp-record.ts';
import { verifyGlpExport, type GlpVerifyResult } from '../../devices/ph-meter/glp-verify.ts';
import { decodeCalibrationAnswer, decodePointAnswer, encodeSeq, BUFFER_SET_CODES, PH_REFUSAL_CODES, type CalibrationAnswer } from '../../devices/ph-meter/ph-wire.ts';
import { formatLedger } from '../../src/cli/report.ts';
import { Rig, type Stage } from '../rig.ts';

export const METER_SERIAL = 'PH000007';
export const OLD_METER_SERIAL = 'PH000008';
const METER_ADDR: BdAddress = { address: 'C0:00:00:00:00:07', random: true };
const OLD_METER_ADDR: BdAddress = { address: 'C0:00:00:00:00:08', random: true };
/**
 * 128 sectors (256 KB of the chip's 512 KB): the record store — 1,000 GLP records (~96 KB, a third
 * of it, so garbage collection stays cheap: glp-log.ts), calibration, bonds, audit — and the write-once area.
 */
export const METER_FLASH_BYTES = 128 * 2048;
/** Time the probe rests in a beaker before anyone asks for a reading: the thermistor's τ is 15 s. */
const SETTLE_US = 90 * US_PER_S;

export interface MeterRigOptions {
  readonly seed?: string;
  readonly pcapPath?: string;
  readonly traceLayers?: readonly string[];
}

/** A provisioned meter on a rig. */
export interface MeterStage extends Stage {
  readonly meter: PhMeter;
}

export function meterStage(rig: Rig, o: { device: string; serial: string; address: BdAddress; electrode?: ElectrodeSpec }): MeterStage {
  const stage = rig.board({ device: o.device, address: o.address, battery: 'cr2032', flashBytes: METER_FLASH_BYTES, serial: o.serial, deviceType: 'ph-meter' });
  const meter = createPhMeter({ world: rig.world, board: stage.board, serial: o.serial, electrode: o.electrode ?? NEW_PROBE });
  return { ...stage, meter };
}

/** A phone paired with the meter in `role` (clinician with its credential) and an open session. */
export function meterSession(rig: Rig, phone: Phone, name: string, to: MeterStage, role: 'patient' | 'clinician'): { conn: PhoneConnection; session: ClientSession } {
  const conn = rig.connect(phone, to);
  const credential = role === 'clinician' ? rig.manufacturer.issueCredential('clinician', rig.clientIdOf(name), 30 * 86_400) : undefined;
  const paired = rig.pair(phone, conn, to, role, credential);
  if (!paired.ok) throw new MedtwinError('scenario.pair', `${name} → ${to.spec.serial}: ${paired.code}`);
  return { conn, session: rig.session(phone, conn, to) };
}

export interface PointLine {
  readonly buffer: string;
  readonly ok: boolean;
  readonly mv: number;
  readonly tempC: number;
  readonly bufferPhAtT: number;
}

export interface MeasureLine {
  readonly tempC: number;
  readonly buffer: string;
  readonly expectedPh: number;
  readonly readPh: number | undefined;
  readonly errorPh: number | undefined;
  readonly stable: boolean;
}

export interface CalibrateAndMeasureReport {
  readonly rig: Rig;
  readonly meter: MeterStage;
  readonly story: readonly string[];
  readonly points: readonly PointLine[];
  readonly calibration: CalibrationAnswer | undefined;
  readonly patientCalibrationStatus: number;
  readonly measurements: readonly MeasureLine[];
  readonly oldProbe: CalibrationAnswer | undefined;
  readonly sync: GlpSyncResult;
  readonly verified: GlpVerifyResult | undefined;
  readonly tampered: GlpVerifyResult | undefined;
  readonly ledger: LedgerSummary;
  readonly projection: BatteryLifeProjection;
  readonly ok: boolean;
}

const FAILURES: Readonly<Record<number, string>> = { 0: 'accepted', 1: 'failed: slope below 85 %', 2: 'failed: slope above 105 %', 3: 'failed: |offset| above 60 mV', 4: 'cancelled', 5: 'timed out', 6: 'no fit' };
const REFUSALS: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(PH_REFUSAL_CODES).map(([k, v]) => [v, k]));

/** Calibrate `stage` with `buffers` at `tempC` over `s` (clinician): the points taken and the outcome. */
function calibrate(rig: Rig, stage: MeterStage, s: ClientSession, buffers: readonly PhBuffer[], tempC: number, say: (l: string) => void): { points: PointLine[]; outcome: CalibrationAnswer | undefined } {
  const start = rig.request(s, PH_COMMANDS.calibrationStart.id, Uint8Array.of(BUFFER_SET_CODES.us));
  if (!start.ok || start.status !== RESPONSE_STATUS.ok) throw new MedtwinError('scenario.calibrate', `ph.calibration.start refused on ${stage.spec.serial}`);
  const points: PointLine[] = [];
  for (const b of buffers) {
    const ph = bufferPhAt(b, tempC);
    if (!ph.ok) throw new MedtwinError('scenario.buffer', `${b.id} at ${tempC} °C`);
    stage.meter.probe.immerse({ ph: ph.ph, tempC });
    rig.world.runFor(SETTLE_US);
    const r = rig.request(s, PH_COMMANDS.calibrationPoint.id);
    if (!r.ok) throw new MedtwinError('scenario.calibrate', `ph.calibration.point: ${r.code}`);
    const p = r.status === RESPONSE_STATUS.ok ? decodePointAnswer(r.payload) : undefined;
    if (p !== undefined) {
      points.push({ buffer: b.id, ok: true, mv: p.mv, tempC: p.tempC, bufferPhAtT: p.bufferPhAtT });
      say(`  point ${p.index}: buffer ${b.nominalPh.toFixed(2)} (pH ${p.bufferPhAtT.toFixed(3)} at ${p.tempC.toFixed(2)} °C) → ${p.mv.toFixed(2)} mV`);
    } else {
      points.push({ buffer: b.id, ok: false, mv: NaN, tempC, bufferPhAtT: ph.ph });
      say(`  point in ${b.nominalPh.toFixed(2)} refused: ${REFUSALS[r.payload[0] ?? 0] ?? `status ${r.status}`}`);
    }
  }
  const f = rig.request(s, PH_COMMANDS.calibrationFinish.id);
  const outcome = f.ok && f.status === RESPONSE_STATUS.ok ? decodeCalibrationAnswer(f.payload) : undefined;
  if (outcome) say(`  → ${FAILURES[outcome.failure] ?? outcome.failure}: slope ${outcome.slopePercent.toFixed(2)} %, offset ${outcome.offsetMv.toFixed(2)} mV${outcome.warnings.length ? ` (warnings: ${outcome.warnings.join(', ')})` : ''}${outcome.failure === 0 ? `, calibration #${outcome.id} in force` : ', the previous calibration stays in force'}`);
  return { points, outcome };
}

export function runCalibrateAndMeasure(opts: MeterRigOptions = {}): CalibrateAndMeasureReport {
  const rig = new Rig({ seed: opts.seed ?? 'calibrate-and-measure', ...(opts.pcapPath !== undefined ? { pcapPath: opts.pcapPath } : {}), ...(opts.traceLayers ? { traceLayers: opts.traceLayers } : {}) });
  const { world } = rig;
  const story: string[] = [];
  const say = (line: string): void => void story.push(`${(world.nowUs / US_PER_S).toFixed(1).padStart(8)} s  ${line}`);
  try {
    const stage = meterStage(rig, { device: 'meter', serial: METER_SERIAL, address: METER_ADDR });
    world.runFor(2 * US_PER_S);
    say(`meter ${METER_SERIAL} boots with a new probe (offset ${NEW_PROBE.offsetMv} mV, slope ${(NEW_PROBE.slopeFraction * 100).toFixed(0)} %) and advertises its pH service`);

    // 1. The patient may read but not calibrate.
    const patientPhone = rig.phone('patient', '11:22:33:44:55:66');
    const patient = meterSession(rig, patientPhone, 'patient', stage, 'patient');
    const refused = rig.request(patient.session, PH_COMMANDS.calibrationStart.id, Uint8Array.of(BUFFER_SET_CODES.us));
    const patientCalibrationStatus = refused.ok ? refused.status : -1;
    say(`the patient's phone pairs and tries ph.calibration.start → ${patientCalibrationStatus === RESPONSE_STATUS.insufficientRole ? 'refused: insufficient role (audited)' : `status ${patientCalibrationStatus}`}`);
    patient.conn.disconnect();
    world.runFor(US_PER_S);

    // 2. The clinician calibrates with 7.00, 4.01, 10.01 at 25 °C.
    const clinicianPhone = rig.phone('clinician', '22:33:44:55:66:77');
    const clinician = meterSession(rig, clinicianPhone, 'clinician', stage, 'clinician');
    say(`the clinician's phone pairs with its credential; 3-point calibration, US buffers at 25 °C:`);
    const b = (nominal: number): PhBuffer => US_BUFFERS.buffers.find((x) => x.nominalPh === nominal)!;
    const cal = calibrate(rig, stage, clinician.session, [b(7), b(4.01), b(10.01)], 25, say);

    // 3. Measure each buffer at 5, 25 and 45 °C.
    say(`measurements (one-shot: the meter answers with the first stable reading, compensated for temperature):`);
    const measurements: MeasureLine[] = [];
    for (const tempC of [5, 25, 45]) {
      for (const nominal of [4.01, 7, 10.01]) {
        const buf = b(nominal);
        const expected = bufferPhAt(buf, tempC);
        if (!expected.ok) throw new MedtwinError('scenario.buffer', `${buf.id} at ${tempC} °C`);
        stage.meter.probe.immerse({ ph: expected.ph, tempC });
        world.runFor(SETTLE_US);
        const r = rig.request(clinician.session, PH_COMMANDS.measure.id);
        const rec = r.ok && r.status === RESPONSE_STATUS.ok ? decodeGlpRecord(r.payload) : undefined;
        const g: GlpRecord | undefined = rec?.ok ? rec.value : undefined;
        const readPh = g?.phMilli === undefined ? undefined : g.phMilli / 1000;
        const line: MeasureLine = { tempC, buffer: buf.id, expectedPh: expected.ph, readPh, errorPh: readPh === undefined ? undefined : readPh - expected.ph, stable: g?.flags.includes('stable') ?? false };
        measurements.push(line);
        say(`  ${tempC.toString().padStart(2)} °C  buffer ${nominal.toFixed(2)} (pH ${expected.ph.toFixed(3)} at ${tempC} °C) → ${readPh === undefined ? 'no reading' : `pH ${readPh.toFixed(3)} (${line.errorPh! >= 0 ? '+' : ''}${line.errorPh!.toFixed(3)}), ${g!.tempCentiC! / 100} °C, GLP #${g!.seq}`}`);
      }
    }
    clinician.conn.disconnect();
    world.runFor(US_PER_S);

    // 4. A second meter with an aged probe fails its calibration; its old one stays.
    const old = meterStage(rig, { device: 'meter-b', serial: OLD_METER_SERIAL, address: OLD_METER_ADDR, electrode: OLD_PROBE });
    world.runFor(2 * US_PER_S);
    const clinicianB = meterSession(rig, clinicianPhone, 'clinician', old, 'clinician');
    say(`meter ${OLD_METER_SERIAL} has a probe aged ${OLD_PROBE.ageDays} days; the clinician calibrates it the same way:`);
    const oldCal = calibrate(rig, old, clinicianB.session, [b(7), b(4.01), b(10.01)], 25, say);
    clinicianB.conn.disconnect();
    world.runFor(US_PER_S);

    // 5. The patient's phone syncs the GLP records; a downstream system verifies them.
    const p2 = rig.connect(patientPhone, stage);
    const ps = rig.session(patientPhone, p2, stage);
    const sync = rig.settle<GlpSyncResult>((done) => syncGlp(ps, p2.certificate, 1, done));
    let verified: GlpVerifyResult | undefined;
    let tampered: GlpVerifyResult | undefined;
    if (sync.ok) {
      say(`the patient's phone syncs GLP records ${sync.firstSeq}..${sync.lastSeq} in ${sync.requests} requests (one signed checkpoint)`);
      verified = verifyGlpExport(sync.export, { rootPublicKey: rig.manufacturer.rootPublicKey, expectedSerial: METER_SERIAL });
      say(`  downstream check against the manufacturer root: ${verified.ok ? `all ${verified.records.length} records intact` : `${verified.code} at #${verified.atSeq}`}`);
      const ack = rig.request(ps, PH_COMMANDS.glpAcknowledge.id, encodeSeq(sync.lastSeq));
      say(`  the phone acknowledges up to #${sync.lastSeq} → ${ack.ok && ack.status === 0 ? 'ok: the meter may overwrite them later' : 'refused'}`);
      // Someone edits the 25 °C pH 7 reading in the exported file (+0.2 pH).
      const edited = sync.export.records.map((r) => r.slice());
      const victim = edited[4]!;
      new DataView(victim.buffer).setInt32(20, new DataView(victim.buffer).getInt32(20, true) + 200, true);
      tampered = verifyGlpExport({ ...sync.export, records: edited }, { rootPublicKey: rig.manufacturer.rootPublicKey, expectedSerial: METER_SERIAL });
      say(`  the same export with record #${sync.firstSeq + 4}'s pH raised by 0.2 after it left the phone: ${tampered.ok ? 'NOT detected' : `detected (${tampered.code} at #${tampered.atSeq})`}`);
    } else say(`GLP sync failed: ${sync.code}: ${sync.detail}`);
    p2.disconnect();
    world.runFor(US_PER_S);

    const ledger = stage.board.ledger.summary();
    const projection = projectBatteryLife(stage.board.power.model, ledger.microJoules, world.nowUs);
    const measuredOk = measurements.every((m) => m.errorPh !== undefined && Math.abs(m.errorPh) <= (m.tempC === 25 ? 0.02 : 0.05));
    const ok =
      patientCalibrationStatus === RESPONSE_STATUS.insufficientRole &&
      cal.outcome?.failure === 0 &&
      measuredOk &&
      oldCal.outcome !== undefined &&
      oldCal.outcome.failure !== 0 &&
      verified?.ok === true &&
      tampered !== undefined &&
      !tampered.ok;
    return { rig, meter: stage, story, points: cal.points, calibration: cal.outcome, patientCalibrationStatus, measurements, oldProbe: oldCal.outcome, sync, verified, tampered, ledger, projection, ok };
  } finally {
    rig.close();
  }
}

export function formatCalibrateAndMeasure(r: CalibrateAndMeasureReport): string {
  const lines = [`medtwin scenario ph/calibrate-and-measure — seed "${r.rig.world.seed}"`, '', ...r.story, ''];
  const l = r.ledger;
  lines.push(`meter ${METER_SERIAL} ledger over ${(r.rig.world.nowUs / US_PER_S).toFixed(0)} s:`, formatLedger(l));
  lines.push(`battery (CR2032) at this scenario's pace: ${r.projection.averageMicroWatts.toFixed(1)} µW mean → ${r.projection.lifeDays.toFixed(0)} days (see ph/battery for the stated duty cycle)`);
  lines.push('', r.ok ? 'all checks held' : 'A CHECK FAILED');
  return lines.join('\n');
}
