// End-to-end tests of the composed insulin pump over the air: pairing, session, IDS CCP over `ids.ccp`, per-opcode roles, hard limits, `ids.stop` under break-glass.
// Not the parts' own tests (therapy, engine, journal, codec: their files) nor the day scenario (test/scenarios/therapy/).

import { describe, expect, it } from 'vitest';
import { IDS_COMMANDS } from '../../../devices/insulin-pump/index.ts';
import { ANNUNCIATION_TYPE, CCP_RESPONSE_CODE, decodeAnnunciationStatus, decodeFeatures, FEATURE, decodeSrcpResponse, decodeStatusChanged, encodeCcpRequest, encodeSrcpRequest, NO_E2E, SRCP_OP, STATUS_CHANGED, type CcpRequest, type SrcpRequest, type SrcpResponse } from '../../../devices/insulin-pump/ids/index.ts';
import { PUMP_EVENTS } from '../../../devices/insulin-pump/status-notifier.ts';
import { pumpRig, PUMP_SERIAL, type PumpRig } from '../../../scenarios/therapy/day-in-the-life.ts';
import type { ClientSession } from '../../../src/client/session-client.ts';
import { RESPONSE_STATUS } from '../../../src/session/wire-session.ts';
import { US_PER_S } from '../../../src/sim/scheduler.ts';

const bolus = (mU: number): CcpRequest => ({ op: 'setBolus', bolusType: 'fast', fastAmountMilliUnits: mU, extendedAmountMilliUnits: 0, durationMinutes: 0, reasonCorrection: false, reasonMeal: true });

/** A pump filled, primed and running on 0.8 U/h (set up by a service phone), and a patient session. */
function running(): { rig: PumpRig; patient: ClientSession; hangUp: () => void } {
  const rig = pumpRig({ seed: 'pump-e2e' });
  rig.world.runFor(2 * US_PER_S);
  const service = rig.phone('service', '22:33:44:55:66:77');
  const cs = rig.connect(service);
  expect(rig.pair(service, cs, 'service', rig.manufacturer.issueCredential('service', rig.clientIdOf('service'), 86_400)).ok).toBe(true);
  const ss = rig.session(service, cs);
  const ok = (m: CcpRequest): void => {
    const r = rig.ccp(ss, m);
    expect(r.status).toBe(RESPONSE_STATUS.ok);
    expect(r.response?.op === 'responseCode' ? r.response.responseCode : 'success').toBe('success');
  };
  ok({ op: 'setInitialReservoirFillLevel', fillLevelMilliUnits: 50_000 });
  ok({ op: 'startPriming', amountMilliUnits: 2_000 });
  rig.world.runFor(10 * US_PER_S);
  ok({ op: 'writeBasalRateProfileTemplate', endTransaction: true, templateNumber: 1, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1440, valueMilli: 800 }] });
  ok({ op: 'activateProfileTemplates', templateNumbers: [1] });
  cs.disconnect();
  rig.world.runFor(US_PER_S);
  const phone = rig.phone('patient', '11:22:33:44:55:66');
  const cp = rig.connect(phone);
  expect(rig.pair(phone, cp, 'patient').ok).toBe(true);
  const patient = rig.session(phone, cp);
  const run = rig.ccp(patient, { op: 'setTherapyControlState', state: 'run' });
  expect(run.response).toEqual({ op: 'responseCode', requestOpCode: 0x0f5a, responseCode: 'success' });
  return { rig, patient, hangUp: () => (cp.disconnect(), rig.world.runFor(US_PER_S)) };
}

describe('insulin pump over the secure session', () => {
  it('ids.ccp Set Bolus 1 U from the patient delivers 20 pulses', () => {
    const { rig, patient } = running();
    expect(rig.pump.therapy.status().therapyControlState).toBe('run');
    const r = rig.ccp(patient, bolus(1_000));
    expect(r.status).toBe(RESPONSE_STATUS.ok);
    expect(r.response).toEqual({ op: 'setBolusResponse', bolusId: 1 });
    rig.world.runFor(60 * US_PER_S);
    expect(rig.pump.engine.pulses().bolusFast).toBe(20);
    expect(rig.pump.engine.activeBolus).toBeUndefined();
    const st = rig.status(patient);
    expect(st?.therapyControlState).toBe('run');
    expect(st?.operationalState).toBe('ready');
  });

  it("SRCP Get Active Bolus Delivery and Get Total Daily Insulin Status answer from the motor's own count", () => {
    const { rig, patient } = running();
    const srcp = (m: SrcpRequest): SrcpResponse | undefined => {
      const r = rig.request(patient, IDS_COMMANDS.srcp.id, encodeSrcpRequest(m));
      const d = r.ok ? decodeSrcpResponse(r.payload, NO_E2E) : undefined;
      return d?.ok ? d.value : undefined;
    };
    const stepsAtStart = rig.pump.motor.positionSteps();
    expect(rig.ccp(patient, bolus(1_000)).response).toEqual({ op: 'setBolusResponse', bolusId: 1 });
    rig.world.runFor(10 * US_PER_S);
    const programmed = srcp({ op: 'getActiveBolusDelivery', bolusId: 1, selection: 'programmed' });
    expect(programmed).toMatchObject({ op: 'getActiveBolusDeliveryResponse', bolusId: 1, bolusType: 'fast', fastAmountMilliUnits: 1_000, extendedAmountMilliUnits: 0, durationMinutes: 0, reasonMeal: true, reasonCorrection: false });
    const delivered = srcp({ op: 'getActiveBolusDelivery', bolusId: 1, selection: 'delivered' });
    const remaining = srcp({ op: 'getActiveBolusDelivery', bolusId: 1, selection: 'remaining' });
    const d = delivered?.op === 'getActiveBolusDeliveryResponse' ? delivered.fastAmountMilliUnits : -1;
    const left = remaining?.op === 'getActiveBolusDeliveryResponse' ? remaining.fastAmountMilliUnits : -1;
    expect(d).toBeGreaterThan(0);
    expect(d + left).toBe(1_000);
    expect(srcp({ op: 'getActiveBolusDelivery', bolusId: 9, selection: 'programmed' })).toEqual({ op: 'responseCode', requestOpCode: SRCP_OP.codes.getActiveBolusDelivery, responseCode: 'procedureNotApplicable' });
    rig.world.runFor(60 * US_PER_S);
    const tdi = srcp({ op: 'getTotalDailyInsulinStatus' });
    // Everything the plunger moved in the last 24 h (priming is not delivery: the journal counts pulses only).
    const moved = (rig.pump.motor.positionSteps() - stepsAtStart) * 50;
    expect(tdi?.op === 'getTotalDailyInsulinStatusResponse' && tdi.totalMilliUnits).toBeGreaterThanOrEqual(moved);
    expect(tdi?.op === 'getTotalDailyInsulinStatusResponse' && tdi.totalMilliUnits).toBe(rig.pump.engine.deliveredLast24hMilliUnits());
    expect(tdi?.op === 'getTotalDailyInsulinStatusResponse' && tdi.bolusMilliUnits + tdi.basalMilliUnits).toBe(tdi?.op === 'getTotalDailyInsulinStatusResponse' ? tdi.totalMilliUnits : -1);
  });

  it('ids.features says what the pump does: U100, basal, both TBRs, three bolus types, the three profiles, IOB; no templates for TBR or bolus, no E2E', () => {
    const { rig, patient } = running();
    const r = rig.request(patient, IDS_COMMANDS.features.id);
    const f = r.ok ? decodeFeatures(r.payload) : undefined;
    expect(f?.ok && f.value.insulinConcentrationMilli).toBe(100_000);
    const flags = f?.ok ? f.value.flags : 0;
    const on = (Object.keys(FEATURE) as (keyof typeof FEATURE)[]).filter((k) => (flags & FEATURE[k]) !== 0);
    expect(on).toEqual(['basalRate', 'tbrAbsolute', 'tbrRelative', 'fastBolus', 'extendedBolus', 'multiwaveBolus', 'isfProfileTemplate', 'i2choRatioProfileTemplate', 'targetGlucoseRangeProfileTemplate', 'insulinOnBoard']);
    // Without E2E, IDS §3.5.1.1 wants CRC 0xFFFF and counter 0 in the first three octets.
    expect(r.ok && [...r.payload.subarray(0, 3)]).toEqual([0xff, 0xff, 0x00]);
  });

  it('a patient writing a basal template is refused: insufficient role, nothing changes', () => {
    const { rig, patient } = running();
    const r = rig.ccp(patient, { op: 'writeBasalRateProfileTemplate', endTransaction: true, templateNumber: 1, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1440, valueMilli: 1_500 }] });
    expect(r.status).toBe(RESPONSE_STATUS.insufficientRole);
    expect(r.response).toBeUndefined();
    expect(rig.pump.port.basalTemplate(1)).toEqual([{ durationMinutes: 1440, valueMilli: 800 }]);
    expect(rig.pump.engine.basalRateMilliUnitsPerHour).toBe(800);
  });

  it('a bolus above max bolus is answered parameter out of range (0x73), whatever the role', () => {
    const { rig, patient } = running();
    const raw = rig.request(patient, IDS_COMMANDS.ccp.id, encodeCcpRequest(bolus(12_000)));
    expect(raw.ok && raw.status).toBe(RESPONSE_STATUS.ok);
    // Response Code indication: op 0x0F55 ‖ request op 0x114B ‖ code.
    expect(raw.ok ? [...raw.payload] : []).toEqual([0x55, 0x0f, 0x4b, 0x11, 0x73]);
    expect(CCP_RESPONSE_CODE.codes.parameterOutOfRange).toBe(0x73);
    rig.world.runFor(30 * US_PER_S);
    expect(rig.pump.engine.pulses().bolusFast).toBe(0);
  });

  it('the emergency role (break-glass) stops therapy with ids.stop and may not use ids.ccp', () => {
    const { rig, hangUp } = running();
    hangUp(); // one connection at a time
    const doctor = rig.phone('er-doctor', '33:44:55:66:77:88');
    const c = rig.connect(doctor);
    const notAfterS = Math.floor(rig.world.nowUs / US_PER_S) + 3_600;
    const s = doctor.openBreakGlass(c, rig.manufacturer.issueBreakGlassCode(PUMP_SERIAL, 1, notAfterS), 1, notAfterS);
    const opened = rig.settle<string>((done) => {
      const off = s.on((e) => {
        if (e.type === 'open' || e.type === 'closed') {
          off();
          done(e.type === 'open' ? e.role : 'closed');
        }
      });
    });
    expect(opened).toBe('emergency');
    const ccp = rig.request(s, IDS_COMMANDS.ccp.id, encodeCcpRequest({ op: 'setTherapyControlState', state: 'run' }));
    expect(ccp.ok && ccp.status).toBe(RESPONSE_STATUS.insufficientRole);
    const stop = rig.request(s, IDS_COMMANDS.stop.id);
    expect(stop.ok && stop.status).toBe(RESPONSE_STATUS.ok);
    expect(rig.pump.therapy.status().therapyControlState).toBe('stop');
    expect(rig.pump.engine.state).toBe('stopped');
    // A Run smuggled inside ids.stop is refused.
    const smuggled = rig.request(s, IDS_COMMANDS.stop.id, encodeCcpRequest({ op: 'setTherapyControlState', state: 'run' }));
    expect(smuggled.ok && smuggled.status).toBe(RESPONSE_STATUS.insufficientRole);
  });

  it('a long press of Stop on the pump stops therapy', () => {
    const { rig } = running();
    rig.board.buttons.hold('stop', 2_500);
    rig.world.runFor(3 * US_PER_S);
    expect(rig.pump.therapy.status().therapyControlState).toBe('stop');
    expect(rig.pump.engine.state).toBe('stopped');
  });

  it('an occlusion reaches the open session unasked: IDD Status Changed and Annunciation Status events; Reset Status clears the flags', () => {
    const { rig, patient } = running();
    const events: { event: number; payload: Uint8Array }[] = [];
    patient.on((e) => {
      if (e.type === 'event') events.push({ event: e.event, payload: e.payload });
    });
    rig.pump.motor.injectOcclusion();
    // The app polls once a minute meanwhile: the session's idle timeout (300 s) would end it.
    for (let m = 0; m < 20 && rig.pump.annunciations.current() === undefined; m++) {
      rig.world.runFor(60 * US_PER_S);
      rig.request(patient, IDS_COMMANDS.status.id);
    }
    expect(rig.pump.annunciations.current()?.type).toBe('occlusionDetected');
    const statusFlags = events.filter((e) => e.event === PUMP_EVENTS.statusChanged).map((e) => decodeStatusChanged(e.payload, NO_E2E));
    const all = statusFlags.reduce((f, d) => f | (d.ok ? d.value.flags : 0), 0);
    for (const bit of ['therapyControlStateChanged', 'operationalStateChanged', 'annunciationStatusChanged', 'historyEventRecorded'] as const) expect(all & STATUS_CHANGED[bit], bit).toBe(STATUS_CHANGED[bit]);
    const ann = events.filter((e) => e.event === PUMP_EVENTS.annunciation).map((e) => decodeAnnunciationStatus(e.payload, NO_E2E));
    expect(ann.length).toBeGreaterThanOrEqual(1);
    const first = ann[0]!;
    expect(first.ok && first.value.annunciation && [first.value.annunciation.annunciationType, first.value.annunciation.status]).toEqual([ANNUNCIATION_TYPE.codes.occlusionDetected, 'pending']);
    // The same, read: the annunciation to show and the flags set since boot.
    const read = rig.request(patient, IDS_COMMANDS.annunciation.id);
    const now = read.ok ? decodeAnnunciationStatus(read.payload, NO_E2E) : undefined;
    expect(now?.ok && now.value.annunciation?.instanceId).toBe(rig.pump.annunciations.current()!.instanceId);
    // SRCP Reset Status clears the flags it names (IDS §4.5.1).
    const reset = rig.request(patient, IDS_COMMANDS.srcp.id, encodeSrcpRequest({ op: 'resetStatus', flags: 0x00ff }));
    expect(reset.ok && reset.status).toBe(RESPONSE_STATUS.ok);
    expect(rig.pump.notifier.flags).toBe(0);
    const flags = rig.request(patient, IDS_COMMANDS.statusChanged.id);
    const d = flags.ok ? decodeStatusChanged(flags.payload, NO_E2E) : undefined;
    expect(d?.ok && d.value.flags).toBe(0);
  });

  it('an occlusion stops delivery and raises the Occlusion annunciation', () => {
    const { rig } = running();
    rig.pump.motor.injectOcclusion();
    rig.world.runFor(20 * 60 * US_PER_S);
    expect(rig.pump.engine.state).toBe('stopped');
    expect(rig.pump.therapy.status()).toMatchObject({ therapyControlState: 'stop', operationalState: 'waiting', primed: false });
    expect(rig.pump.annunciations.current()?.type).toBe('occlusionDetected');
  });
});
