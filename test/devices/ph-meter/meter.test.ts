// End-to-end tests of the composed pH meter on a simulated KW31Z: the real electrode, thermistor,
// front end and ADC, the machines, the flash; commands over the encrypted session; the chemistry
// figures issue 7 asks for. Not the parts' own tests (their files) nor the scenario (test/scenarios/ph/).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bufferPhAt, US_BUFFERS, type PhBuffer } from '../../../devices/ph-meter/buffers.ts';
import { PH_AUDIT_EVENTS, PH_COMMANDS, createPhMeter, type PhMeter } from '../../../devices/ph-meter/index.ts';
import { decodeGlpRecord, glpRecordSeq } from '../../../devices/ph-meter/glp-record.ts';
import { nernstSlopeMv, phFromMv } from '../../../devices/ph-meter/nernst.ts';
import {
  BUFFER_SET_CODES,
  decodeCalibrationAnswer,
  decodeGlpRecordsAnswer,
  decodeGlpRecordsRequest,
  decodePointAnswer,
  decodeGlpQuery,
  decodeGlpQueryAnswer,
  decodeSeqPair,
  encodeCalibrationAnswer,
  encodeGlpQuery,
  type GlpWireQuery,
  encodePointAnswer,
  PH_REFUSAL_CODES,
} from '../../../devices/ph-meter/ph-wire.ts';
import { meterSession, meterStage, METER_SERIAL, type MeterStage } from '../../../scenarios/ph/calibrate-and-measure.ts';
import { Rig } from '../../../scenarios/rig.ts';
import { AUDIT_EVENTS, decodeAuditRecord } from '../../../src/firmware/audit-log.ts';
import { ROLE_CODES } from '../../../src/session/roles.ts';
import { RESPONSE_STATUS } from '../../../src/session/wire-session.ts';
import { US_PER_S } from '../../../src/sim/scheduler.ts';

const ADDR = { address: 'C0:00:00:00:00:07', random: true } as const;
const SETTLE_US = 90 * US_PER_S;
const us = (nominal: number): PhBuffer => US_BUFFERS.buffers.find((b) => b.nominalPh === nominal)!;
const phAt = (b: PhBuffer, tempC: number): number => {
  const r = bufferPhAt(b, tempC);
  if (!r.ok) throw new Error(r.code);
  return r.ph;
};

function newMeter(seed: string): { rig: Rig; stage: MeterStage; meter: PhMeter } {
  const rig = new Rig({ seed });
  const stage = meterStage(rig, { device: 'meter', serial: METER_SERIAL, address: ADDR });
  rig.world.runFor(US_PER_S);
  return { rig, stage, meter: stage.meter };
}

/** Calibrate on the device (as a clinician's session would) with `buffers` at `tempC`; the outcome. */
function calibrateOnDevice(rig: Rig, meter: PhMeter, buffers: readonly PhBuffer[], tempC: number): ReturnType<PhMeter['calibrator']['finish']> {
  expect(meter.startCalibration('us', { source: 'session', role: 'clinician' })).toEqual({ ok: true });
  for (const b of buffers) {
    meter.probe.immerse({ ph: phAt(b, tempC), tempC });
    rig.world.runFor(SETTLE_US);
    const p = rig.settle<{ ok: boolean }>((done) => expect(meter.calibrator.measurePoint(done)).toEqual({ ok: true }));
    expect(p.ok).toBe(true);
  }
  return meter.calibrator.finish();
}

/** One-shot reading on the device, in `b` at `tempC`, after the probe settled. */
function readOnDevice(rig: Rig, meter: PhMeter, b: PhBuffer, tempC: number): number {
  meter.probe.immerse({ ph: phAt(b, tempC), tempC });
  rig.world.runFor(SETTLE_US);
  const r = rig.settle<{ ok: boolean; reading?: { ph: number | undefined; flags: { stable: boolean } } }>((done) => expect(meter.measurement.measureOnce(done)).toEqual({ ok: true }));
  expect(r.ok).toBe(true);
  expect(r.reading!.flags.stable).toBe(true);
  return r.reading!.ph!;
}

describe('the pH meter: chemistry through the real probe, ADC and machines', () => {
  it('after a 2-point calibration at 25 °C, buffers 4.01 / 7.00 / 10.01 read within ±0.02 pH', () => {
    const { rig, meter } = newMeter('ph-2point');
    const o = calibrateOnDevice(rig, meter, [us(7), us(4.01)], 25);
    expect(o.ok).toBe(true);
    for (const nominal of [4.01, 7, 10.01]) expect(Math.abs(readOnDevice(rig, meter, us(nominal), 25) - phAt(us(nominal), 25))).toBeLessThanOrEqual(0.02);
  });

  it('with temperature compensation, readings at 5 °C and 45 °C stay within ±0.05 pH of the buffer at that temperature', () => {
    const { rig, meter } = newMeter('ph-atc');
    expect(calibrateOnDevice(rig, meter, [us(7), us(4.01)], 25).ok).toBe(true);
    for (const tempC of [5, 45]) {
      for (const nominal of [4.01, 7, 10.01]) {
        const read = readOnDevice(rig, meter, us(nominal), tempC);
        expect(Math.abs(read - phAt(us(nominal), tempC)), `${nominal} at ${tempC} °C read ${read}`).toBeLessThanOrEqual(0.05);
      }
    }
  });

  it('slope and offset from a known electrode match within 0.1 % and 0.1 mV (3 points through the ADC)', () => {
    const { rig, meter } = newMeter('ph-known');
    const o = calibrateOnDevice(rig, meter, [us(7), us(4.01), us(10.01)], 25);
    if (!o.ok) throw new Error(`calibration failed: ${o.code}`);
    const truth = meter.probe.electrode.lineAt(rig.world.nowUs);
    expect(Math.abs(o.calibration.slopePercent - truth.slopeFraction * 100)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(o.calibration.offsetMv - truth.offsetMv)).toBeLessThanOrEqual(0.1);
  });

  it('uncalibrated, the meter reads through the ideal line (the new probe is off by its 4 mV offset)', () => {
    const { rig, meter } = newMeter('ph-ideal');
    const read = readOnDevice(rig, meter, us(7), 25);
    // 4 mV offset through 59.16 mV/pH: 7 − 4/59.16 ≈ 6.932, plus the probe's noise.
    expect(Math.abs(read - phFromMv(4, 25, { slopeFraction: 1, offsetMv: 0 }))).toBeLessThanOrEqual(0.01);
    expect(phFromMv(4, 25, { slopeFraction: 1, offsetMv: 0 })).toBeCloseTo(7 - 4 / nernstSlopeMv(25), 12);
  });
});

describe('the pH meter: the calibration is kept, and only privileged roles may make one', () => {
  it('a reboot on the same flash measures with the calibration in force (same id, same line)', () => {
    const { rig, stage, meter } = newMeter('ph-reboot');
    const o = calibrateOnDevice(rig, meter, [us(7), us(4.01)], 25);
    if (!o.ok) throw new Error(o.code);
    meter.measurement.stop();
    meter.calibrator.stop();
    const again = createPhMeter({ world: rig.world, board: stage.board, serial: METER_SERIAL });
    expect(again.calibration()?.id).toBe(1);
    expect(again.calibration()?.line).toEqual(o.calibration.line);
    expect(again.measurement.status().calibration?.line).toEqual(o.calibration.line);
  });

  it('a patient calibrating over the session is refused (insufficient role), audited, and nothing starts', () => {
    const { rig, stage, meter } = newMeter('ph-patient');
    const phone = rig.phone('patient', '11:22:33:44:55:66');
    const { session } = meterSession(rig, phone, 'patient', stage, 'patient');
    const r = rig.request(session, PH_COMMANDS.calibrationStart.id, Uint8Array.of(BUFFER_SET_CODES.us));
    expect(r.ok && r.status).toBe(RESPONSE_STATUS.insufficientRole);
    expect(meter.calibrator.status().state).toBe('idle');
    const refusals = meter.device.audit
      .read(1, 255)
      .map((b) => decodeAuditRecord(b))
      .filter((d) => d.ok && d.value.event === AUDIT_EVENTS['command.refused']);
    expect(refusals).toHaveLength(1);
    const rec = refusals[0]!;
    if (!rec.ok) throw new Error('decode');
    expect(rec.value.role).toBe(ROLE_CODES.patient);
    expect([...rec.value.detail.subarray(0, 2)]).toEqual([PH_COMMANDS.calibrationStart.id & 0xff, PH_COMMANDS.calibrationStart.id >> 8]);
  });

  it('a clinician calibrates over the session: points, outcome, and the accepted calibration is audited with the role', () => {
    const { rig, stage, meter } = newMeter('ph-clinician');
    const phone = rig.phone('clinician', '22:33:44:55:66:77');
    const { session } = meterSession(rig, phone, 'clinician', stage, 'clinician');
    expect(rig.request(session, PH_COMMANDS.calibrationStart.id, Uint8Array.of(9))).toMatchObject({ ok: true, status: RESPONSE_STATUS.invalidParameters });
    expect(meter.calibrator.status().state).toBe('idle');
    expect(rig.request(session, PH_COMMANDS.calibrationStart.id, Uint8Array.of(BUFFER_SET_CODES.us))).toMatchObject({ ok: true, status: RESPONSE_STATUS.ok });
    // While calibrating, a measurement is refused: the procedure holds the probe.
    const busy = rig.request(session, PH_COMMANDS.measure.id);
    expect(busy.ok && [busy.status, busy.payload[0]]).toEqual([RESPONSE_STATUS.notPermittedNow, PH_REFUSAL_CODES.calibrating]);
    for (const [i, nominal] of [7, 4.01].entries()) {
      meter.probe.immerse({ ph: phAt(us(nominal), 25), tempC: 25 });
      rig.world.runFor(SETTLE_US);
      const p = rig.request(session, PH_COMMANDS.calibrationPoint.id);
      expect(p.ok && p.status).toBe(RESPONSE_STATUS.ok);
      const a = p.ok ? decodePointAnswer(p.payload) : undefined;
      expect(a).toMatchObject({ index: i + 1, nominalPh: nominal });
    }
    // The same buffer again is refused with its code.
    meter.probe.immerse({ ph: phAt(us(4.01), 25), tempC: 25 });
    rig.world.runFor(SETTLE_US);
    const again = rig.request(session, PH_COMMANDS.calibrationPoint.id);
    expect(again.ok && [again.status, again.payload[0]]).toEqual([RESPONSE_STATUS.notPermittedNow, PH_REFUSAL_CODES['buffer-repeated']]);
    const f = rig.request(session, PH_COMMANDS.calibrationFinish.id);
    const outcome = f.ok ? decodeCalibrationAnswer(f.payload) : undefined;
    expect(outcome).toMatchObject({ failure: 0, id: 1, points: 2, bufferSet: BUFFER_SET_CODES.us });
    const accepted = meter.device.audit
      .read(1, 255)
      .map((b) => decodeAuditRecord(b))
      .flatMap((d) => (d.ok && d.value.event === PH_AUDIT_EVENTS.calibrationAccepted ? [d.value] : []));
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.role).toBe(ROLE_CODES.clinician);
    expect(accepted[0]!.detail[0]).toBe(ROLE_CODES.clinician);
    const read = rig.request(session, PH_COMMANDS.calibrationRead.id);
    expect(read.ok ? decodeCalibrationAnswer(read.payload) : undefined).toMatchObject({ failure: 0, status: 1, id: 1, points: 2 });
  });

  it('the local procedure on the buttons (long OK, OK per buffer, long OK) calibrates and is audited as local', () => {
    const { rig, stage, meter } = newMeter('ph-local');
    stage.board.buttons.hold('ok', 3_000);
    rig.world.runFor(4 * US_PER_S);
    expect(meter.calibrator.status()).toMatchObject({ state: 'awaiting-point', performedBy: { source: 'local' } });
    for (const nominal of [7, 10.01]) {
      meter.probe.immerse({ ph: phAt(us(nominal), 25), tempC: 25 });
      rig.world.runFor(SETTLE_US);
      stage.board.buttons.press('ok');
      rig.world.runFor(30 * US_PER_S);
    }
    stage.board.buttons.hold('ok', 3_000);
    rig.world.runFor(4 * US_PER_S);
    expect(meter.outcomes.at(-1)).toMatchObject({ ok: true, calibration: { id: 1, performedBy: { source: 'local' } } });
    const events = meter.device.audit
      .read(1, 255)
      .map((b) => decodeAuditRecord(b))
      .flatMap((d) => (d.ok ? [d.value.event] : []));
    expect(events).toContain(PH_AUDIT_EVENTS.calibrationStarted);
    expect(events).toContain(PH_AUDIT_EVENTS.calibrationAccepted);
  });
  it("the OK that confirms a pairing's six digits is the pairing's: it takes no calibration point", () => {
    const { rig, stage, meter } = newMeter('ph-ok-clash');
    stage.board.buttons.hold('ok', 3_000);
    rig.world.runFor(4 * US_PER_S);
    expect(meter.calibrator.status().state).toBe('awaiting-point');
    const phone = rig.phone('patient', '11:22:33:44:55:66');
    const conn = rig.connect(phone, stage);
    expect(rig.pair(phone, conn, stage, 'patient').ok).toBe(true);
    rig.world.runFor(60 * US_PER_S);
    expect(meter.calibrator.status()).toMatchObject({ state: 'awaiting-point', points: [] });
    // After the pairing, a short OK is the procedure's again.
    stage.board.buttons.press('ok');
    rig.world.runFor(60 * US_PER_S);
    expect(meter.calibrator.status().points).toHaveLength(1);
  });
});

describe('the pH meter: measurements become GLP records, retrieved over the session', () => {
  it('ph.measure answers with the GLP record it appended; ph.glp.records pages them; bad payloads change nothing', () => {
    const { rig, stage, meter } = newMeter('ph-glp');
    const phone = rig.phone('patient', '11:22:33:44:55:66');
    const { session } = meterSession(rig, phone, 'patient', stage, 'patient');
    for (let i = 0; i < 3; i++) {
      meter.probe.immerse({ ph: 6 + i, tempC: 25 });
      rig.world.runFor(SETTLE_US);
      const r = rig.request(session, PH_COMMANDS.measure.id);
      expect(r.ok && r.status).toBe(RESPONSE_STATUS.ok);
      const d = r.ok ? decodeGlpRecord(r.payload) : undefined;
      expect(d?.ok && d.value.seq).toBe(i + 1);
      expect(d?.ok && d.value.flags).toContain('stable');
    }
    expect(meter.glp.lastSeq).toBe(3);
    const page = rig.request(session, PH_COMMANDS.glpRecords.id, Uint8Array.of(2, 0, 0, 0, 11));
    const a = page.ok ? decodeGlpRecordsAnswer(page.payload, 76) : undefined;
    expect(a?.newest).toBe(3);
    expect(a?.records.map(glpRecordSeq)).toEqual([2, 3]);
    for (const [cmd, bad] of [
      [PH_COMMANDS.measure.id, Uint8Array.of(1)],
      [PH_COMMANDS.glpRecords.id, Uint8Array.of(1, 0, 0, 0, 0)],
      [PH_COMMANDS.glpRecords.id, Uint8Array.of(1, 0)],
      [PH_COMMANDS.glpCheckpoint.id, Uint8Array.of(1, 2, 3)],
      [PH_COMMANDS.glpAcknowledge.id, Uint8Array.of(9, 0, 0, 0)],
    ] as const) {
      const r = rig.request(session, cmd, bad);
      expect(r.ok && r.status, `command 0x${cmd.toString(16)}`).toBe(RESPONSE_STATUS.invalidParameters);
    }
    expect(meter.glp.lastSeq).toBe(3);
    expect(meter.glp.acknowledgedSeq).toBe(0);
    // RACP-style queries over the session: which records match, and the first page of them.
    const query = (q: GlpWireQuery): { matching: number; seqs: number[] } | number => {
      const r = rig.request(session, PH_COMMANDS.glpQuery.id, encodeGlpQuery(q));
      if (!r.ok || r.status !== RESPONSE_STATUS.ok) return r.ok ? r.status : -1;
      const a = decodeGlpQueryAnswer(r.payload, 76)!;
      expect(a.newest).toBe(3);
      return { matching: a.matching, seqs: a.records.map(glpRecordSeq) };
    };
    expect(query({ operator: 'all' })).toEqual({ matching: 3, seqs: [1, 2, 3] });
    expect(query({ operator: 'gte', minSeq: 2 })).toEqual({ matching: 2, seqs: [2, 3] });
    expect(query({ operator: 'lte', maxSeq: 1 })).toEqual({ matching: 1, seqs: [1] });
    expect(query({ operator: 'range', minSeq: 2, maxSeq: 2 })).toEqual({ matching: 1, seqs: [2] });
    expect(query({ operator: 'last', count: 2 })).toEqual({ matching: 2, seqs: [2, 3] });
    expect(query({ operator: 'gte', minSeq: 9 })).toEqual({ matching: 0, seqs: [] });
    expect(query({ operator: 'range', minSeq: 3, maxSeq: 1 })).toBe(RESPONSE_STATUS.invalidParameters);
    for (const bad of [Uint8Array.of(0x05), Uint8Array.of(0x01, 0), Uint8Array.of(0x04, 1, 0, 0, 0)]) {
      const r = rig.request(session, PH_COMMANDS.glpQuery.id, bad);
      expect(r.ok && r.status).toBe(RESPONSE_STATUS.invalidParameters);
    }
  });

  it('the wire decoders never throw on any bytes and round-trip what they encode (seeded)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        decodePointAnswer(b);
        decodeCalibrationAnswer(b);
        decodeGlpRecordsAnswer(b, 76);
        decodeGlpRecordsRequest(b);
        decodeSeqPair(b);
        decodeGlpQuery(b);
        decodeGlpQueryAnswer(b, 76);
      }),
      { seed: 7, numRuns: 2_000 },
    );
    const point = { index: 3, nominalPh: 10.01, bufferPhAtT: 10.25, mv: -172.22, tempC: 4.99 };
    expect(decodePointAnswer(encodePointAnswer(point))).toEqual(point);
    const cal = { failure: 1, status: 0, id: 0, slopePercent: 82.79, offsetMv: 31.01, timeS: 1515, points: 3, bufferSet: 2, warnings: ['offset-warn' as const] };
    expect(decodeCalibrationAnswer(encodeCalibrationAnswer(cal))).toEqual(cal);
    const queries: GlpWireQuery[] = [{ operator: 'all' }, { operator: 'gte', minSeq: 7 }, { operator: 'lte', maxSeq: 0xffff_ffff }, { operator: 'range', minSeq: 2, maxSeq: 9 }, { operator: 'last', count: 4 }];
    for (const q of queries) expect(decodeGlpQuery(encodeGlpQuery(q))).toEqual(q);
    expect([...encodeGlpQuery({ operator: 'range', minSeq: 2, maxSeq: 9 })]).toEqual([0x04, 2, 0, 0, 0, 9, 0, 0, 0]);
  });
});
