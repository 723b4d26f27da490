// End-to-end tests of profile templates over the secure session: a clinician writes a 24-block basal template in several
// CCP records (one IDS transaction), the patient reads it back as Command Data; each refusal code on the wire; ISF / I2CHO / target glucose; template status.
// Not the transaction rules in depth (profile-templates.test.ts) nor the pulse timing (basal-schedule.test.ts).

import { describe, expect, it } from 'vitest';
import { IDS_COMMANDS } from '../../../devices/insulin-pump/index.ts';
import { PUMP_AUDIT_EVENTS } from '../../../devices/insulin-pump/ids-commands.ts';
import { decodeSrcpResponse, encodeCcpRequest, encodeSrcpRequest, type CcpRequest, type ProfileBlock } from '../../../devices/insulin-pump/ids/index.ts';
import { basalTemplateWrites, pumpRig, type PumpRig } from '../../../scenarios/therapy/day-in-the-life.ts';
import type { ClientSession } from '../../../src/client/session-client.ts';
import { decodeAuditRecord } from '../../../src/firmware/audit-log.ts';
import { ROLE_CODES } from '../../../src/session/roles.ts';
import { RESPONSE_STATUS } from '../../../src/session/wire-session.ts';
import { US_PER_S } from '../../../src/sim/scheduler.ts';

/** 24 one-hour blocks: 0.40 U/h at 00:00 rising by 0.05 U/h an hour to 1.55 U/h at 23:00. */
const HOURLY: ProfileBlock[] = Array.from({ length: 24 }, (_, h) => ({ durationMinutes: 60, valueMilli: 400 + 50 * h }));

/** Filled and primed by a service phone (therapy stopped, ready), then a clinician's session. */
function stoppedWithClinician(): { rig: PumpRig; clinician: ClientSession; hangUp: () => void; patient: () => ClientSession } {
  const rig = pumpRig({ seed: 'pump-templates' });
  rig.world.runFor(2 * US_PER_S);
  const service = rig.phone('service', '22:33:44:55:66:77');
  const cs = rig.connect(service);
  expect(rig.pair(service, cs, 'service', rig.manufacturer.issueCredential('service', rig.clientIdOf('service'), 86_400)).ok).toBe(true);
  const ss = rig.session(service, cs);
  expect(rig.ccp(ss, { op: 'setInitialReservoirFillLevel', fillLevelMilliUnits: 50_000 }).response).toMatchObject({ responseCode: 'success' });
  expect(rig.ccp(ss, { op: 'startPriming', amountMilliUnits: 2_000 }).response).toMatchObject({ responseCode: 'success' });
  rig.world.runFor(10 * US_PER_S);
  cs.disconnect();
  rig.world.runFor(US_PER_S);
  const doctor = rig.phone('clinician', '44:55:66:77:88:99');
  let c = rig.connect(doctor);
  expect(rig.pair(doctor, c, 'clinician', rig.manufacturer.issueCredential('clinician', rig.clientIdOf('clinician'), 86_400)).ok).toBe(true);
  const clinician = rig.session(doctor, c);
  const hangUp = (): void => {
    c.disconnect();
    rig.world.runFor(US_PER_S);
  };
  const patient = (): ClientSession => {
    const phone = rig.phone('patient', '11:22:33:44:55:66');
    c = rig.connect(phone);
    expect(rig.pair(phone, c, 'patient').ok).toBe(true);
    return rig.session(phone, c);
  };
  return { rig, clinician, hangUp, patient };
}

/** The raw answer bytes of one ids.ccp request. */
const raw = (rig: PumpRig, s: ClientSession, m: CcpRequest): number[] => {
  const r = rig.request(s, IDS_COMMANDS.ccp.id, encodeCcpRequest(m));
  expect(r.ok && r.status).toBe(RESPONSE_STATUS.ok);
  return r.ok ? [...r.payload] : [];
};
/** Response Code indication of Write Basal Rate Profile Template (op 0x0F55 ‖ 0x0FCC ‖ code). */
const writeRefused = (code: number): number[] => [0x55, 0x0f, 0xcc, 0x0f, code];

describe('basal templates over the session', () => {
  it('a clinician writes 24 blocks in eight records, the patient reads them back as eight Command Data records', () => {
    const { rig, clinician, hangUp, patient } = stoppedWithClinician();
    const writes = basalTemplateWrites(2, HOURLY);
    expect(writes).toHaveLength(8);
    writes.forEach((w, i) => {
      const r = rig.ccp(clinician, w);
      expect(r.response).toEqual({ op: 'writeBasalRateProfileTemplateResponse', transactionCompleted: i === 7, templateNumber: 2, firstTimeBlockIndex: 3 * i + 1 });
    });
    expect(rig.ccp(clinician, { op: 'activateProfileTemplates', templateNumbers: [2] }).response).toEqual({ op: 'activateProfileTemplatesResponse', templateNumbers: [2] });
    hangUp();

    const s = patient();
    const read = rig.ccpData(s, { op: 'readBasalRateProfileTemplate', templateNumber: 2 });
    expect(read.status).toBe(RESPONSE_STATUS.ok);
    expect(read.response).toEqual({ op: 'responseCode', requestOpCode: 0x0faa, responseCode: 'success' });
    expect(read.data.map((d) => (d.op === 'readBasalRateProfileTemplateResponse' ? [d.templateNumber, d.firstTimeBlockIndex, d.blocks.length] : d.op))).toEqual(
      Array.from({ length: 8 }, (_, i) => [2, 3 * i + 1, 3]),
    );
    expect(read.data.flatMap((d) => (d.op === 'readBasalRateProfileTemplateResponse' ? d.blocks : []))).toEqual(HOURLY);

    const status = rig.ccpData(s, { op: 'getTemplateStatusAndDetails' });
    expect(status.response).toMatchObject({ responseCode: 'success' });
    expect(status.data).toEqual([
      { op: 'getTemplateStatusAndDetailsResponse', templateType: 'basalRateProfile', startingTemplateNumber: 1, maxSupportedTimeBlocks: 24, templates: [{ configurable: true, configured: false }, { configurable: true, configured: true }, { configurable: true, configured: false }] },
      { op: 'getTemplateStatusAndDetailsResponse', templateType: 'isfProfile', startingTemplateNumber: 4, maxSupportedTimeBlocks: 24, templates: Array(3).fill({ configurable: true, configured: false }) },
      { op: 'getTemplateStatusAndDetailsResponse', templateType: 'i2choRatioProfile', startingTemplateNumber: 7, maxSupportedTimeBlocks: 24, templates: Array(3).fill({ configurable: true, configured: false }) },
      { op: 'getTemplateStatusAndDetailsResponse', templateType: 'targetGlucoseRangeProfile', startingTemplateNumber: 10, maxSupportedTimeBlocks: 24, templates: Array(3).fill({ configurable: true, configured: false }) },
    ]);
    expect(rig.ccp(s, { op: 'getActivatedProfileTemplates' }).response).toEqual({ op: 'getActivatedProfileTemplatesResponse', templateNumbers: [2] });

    // The rate in force is the block of the device's time of day (≈ 00:01 here: block 1, 0.40 U/h).
    const srcp = rig.request(s, IDS_COMMANDS.srcp.id, encodeSrcpRequest({ op: 'getActiveBasalRateDelivery' }));
    const d = srcp.ok ? decodeSrcpResponse(srcp.payload) : undefined;
    expect(d?.ok && d.value).toMatchObject({ op: 'getActiveBasalRateDeliveryResponse', activeTemplateNumber: 2, currentConfigMilliUnitsPerHour: 400 });
    // The whole profile is in the history: one Time Block Changed record per block.
    const blocks = rig.pump.history.records().filter((r) => r.event.type === 'basalTimeBlockChanged');
    expect(blocks.map((r) => (r.event.type === 'basalTimeBlockChanged' ? [r.event.blockNumber, r.event.durationMin, r.event.milliunitsPerHour] : []))).toEqual(HOURLY.map((b, i) => [i + 1, 60, b.valueMilli]));
    // …and the activation: Profile Template Type Basal Rate (0x33), none before, template 2.
    expect(rig.pump.history.records().filter((r) => r.event.type === 'profileTemplateActivated').map((r) => r.event)).toEqual([{ type: 'profileTemplateActivated', templateType: 0x33, oldNumber: 0, newNumber: 2 }]);
  });

  it('refusal codes on the wire: incomplete day 0x75, index gap 0x75, beyond 24 blocks 0x73, read of an unconfigured template 0x74 with no Command Data', () => {
    const { rig, clinician } = stoppedWithClinician();
    const rec = (first: number, blocks: ProfileBlock[], end: boolean): CcpRequest => ({ op: 'writeBasalRateProfileTemplate', endTransaction: end, templateNumber: 1, firstTimeBlockIndex: first, blocks });
    expect(raw(rig, clinician, rec(1, [{ durationMinutes: 1_380, valueMilli: 800 }], true))).toEqual(writeRefused(0x75));
    expect(raw(rig, clinician, rec(1, HOURLY.slice(0, 3), false))).toEqual([0xf0, 0x0f, 0x00, 0x01, 0x01]);
    expect(raw(rig, clinician, rec(5, HOURLY.slice(4, 24).slice(0, 3), true))).toEqual(writeRefused(0x75));
    expect(raw(rig, clinician, rec(23, HOURLY.slice(0, 3), true))).toEqual(writeRefused(0x73));
    expect(rig.pump.port.basalTemplate(1)).toBeUndefined();
    // Read Basal Rate Profile Template of template 1 (not configured): count 0, then 55 0F AA 0F 74.
    expect(raw(rig, clinician, { op: 'readBasalRateProfileTemplate', templateNumber: 1 })).toEqual([0x00, 0x55, 0x0f, 0xaa, 0x0f, 0x74]);
    // Template 4 is an ISF template: out of range for a basal read.
    expect(raw(rig, clinician, { op: 'readBasalRateProfileTemplate', templateNumber: 4 })).toEqual([0x00, 0x55, 0x0f, 0xaa, 0x0f, 0x73]);
  });

  it('hanging up abandons an open write transaction (IDP §4.15.4.1): nothing half-written is kept', () => {
    const { rig, clinician, hangUp } = stoppedWithClinician();
    expect(rig.ccp(clinician, { op: 'writeBasalRateProfileTemplate', endTransaction: false, templateNumber: 3, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 720, valueMilli: 800 }] }).response).toMatchObject({ transactionCompleted: false });
    expect(rig.pump.templates.transactionOpen).toBe(true);
    hangUp();
    expect(rig.pump.templates.transactionOpen).toBe(false);
    expect(rig.pump.templates.get(3)).toBeUndefined();
  });

  it('a block above max basal (2.0 U/h) is 0x73, audited as a limit refusal, and discards the transaction', () => {
    const { rig, clinician } = stoppedWithClinician();
    expect(rig.ccp(clinician, { op: 'writeBasalRateProfileTemplate', endTransaction: false, templateNumber: 1, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 720, valueMilli: 800 }] }).response).toMatchObject({ transactionCompleted: false });
    expect(raw(rig, clinician, { op: 'writeBasalRateProfileTemplate', endTransaction: true, templateNumber: 1, firstTimeBlockIndex: 2, blocks: [{ durationMinutes: 720, valueMilli: 2_050 }] })).toEqual(writeRefused(0x73));
    const audit = rig.pump.device.audit.read(1, 255).map((b) => decodeAuditRecord(b)).flatMap((d) => (d.ok ? [d.value] : []));
    const last = audit.at(-1);
    expect(last?.event).toBe(PUMP_AUDIT_EVENTS.limitRefused);
    expect([...(last?.detail ?? [])]).toEqual([0xcc, 0x0f, ROLE_CODES.clinician]);
    // Block 1 went with the transaction: a closing block 2 alone is a gap.
    expect(raw(rig, clinician, { op: 'writeBasalRateProfileTemplate', endTransaction: true, templateNumber: 1, firstTimeBlockIndex: 2, blocks: [{ durationMinutes: 720, valueMilli: 800 }] })).toEqual(writeRefused(0x75));
  });

  it('another procedure mid-transaction discards it (ids.md §7): the closing record then fails 0x75', () => {
    const { rig, clinician } = stoppedWithClinician();
    const [first, second] = basalTemplateWrites(1, [
      { durationMinutes: 600, valueMilli: 700 },
      { durationMinutes: 300, valueMilli: 900 },
      { durationMinutes: 300, valueMilli: 800 },
      { durationMinutes: 240, valueMilli: 600 },
    ]);
    expect(rig.ccp(clinician, first!).response).toMatchObject({ transactionCompleted: false });
    expect(rig.ccp(clinician, { op: 'getActivatedProfileTemplates' }).response).toEqual({ op: 'getActivatedProfileTemplatesResponse', templateNumbers: [] });
    expect(raw(rig, clinician, second!)).toEqual(writeRefused(0x75));
    // A record the codec refuses (Invalid Operand 0x71: cut short) is an error of the transaction: it is gone as well.
    expect(rig.ccp(clinician, first!).response).toMatchObject({ transactionCompleted: false });
    const cut = rig.request(clinician, IDS_COMMANDS.ccp.id, encodeCcpRequest(second!).subarray(0, 6));
    expect(cut.ok ? [...cut.payload] : []).toEqual(writeRefused(0x71));
    expect(raw(rig, clinician, second!)).toEqual(writeRefused(0x75));
    // Without the interruption the same two records complete.
    expect(rig.ccp(clinician, first!).response).toMatchObject({ transactionCompleted: false });
    expect(rig.ccp(clinician, second!).response).toMatchObject({ transactionCompleted: true });
    expect(rig.pump.port.basalTemplate(1)?.length).toBe(4);
  });

  it('writing templates while therapy runs is refused 0x74 (IDS §5: no configuration in Run); a patient may not write at all', () => {
    const { rig, clinician, hangUp, patient } = stoppedWithClinician();
    for (const w of basalTemplateWrites(1, HOURLY)) rig.ccp(clinician, w);
    rig.ccp(clinician, { op: 'activateProfileTemplates', templateNumbers: [1] });
    expect(rig.ccp(clinician, { op: 'setTherapyControlState', state: 'run' }).response).toMatchObject({ responseCode: 'success' });
    const [w1] = basalTemplateWrites(1, [{ durationMinutes: 1_440, valueMilli: 500 }]);
    expect(raw(rig, clinician, w1!)).toEqual(writeRefused(0x74));
    expect(raw(rig, clinician, { op: 'writeIsfProfileTemplate', endTransaction: true, templateNumber: 4, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1_440, valueMilli: 40_000 }] })).toEqual([0x55, 0x0f, 0xde, 0x12, 0x74]);
    expect(raw(rig, clinician, { op: 'activateProfileTemplates', templateNumbers: [1] })).toEqual([0x55, 0x0f, 0x2e, 0x12, 0x74]);
    expect(rig.pump.port.basalTemplate(1)).toEqual(HOURLY);
    hangUp();
    const s = patient();
    const r = rig.request(s, IDS_COMMANDS.ccp.id, encodeCcpRequest({ op: 'writeIsfProfileTemplate', endTransaction: true, templateNumber: 4, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1_440, valueMilli: 40_000 }] }));
    expect(r.ok && r.status).toBe(RESPONSE_STATUS.insufficientRole);
    expect(rig.pump.templates.get(4)).toBeUndefined();
  });
});

describe('ISF, I2CHO and target glucose templates over the session', () => {
  it('write (several records), read back, activate: stored, and the basal rate is untouched', () => {
    const { rig, clinician, hangUp, patient } = stoppedWithClinician();
    const isf: ProfileBlock[] = [
      { durationMinutes: 360, valueMilli: 50_000 },
      { durationMinutes: 360, valueMilli: 40_000 },
      { durationMinutes: 360, valueMilli: 45_000 },
      { durationMinutes: 360, valueMilli: 55_000 },
    ];
    expect(rig.ccp(clinician, { op: 'writeIsfProfileTemplate', endTransaction: false, templateNumber: 5, firstTimeBlockIndex: 1, blocks: isf.slice(0, 3) }).response).toEqual({ op: 'writeIsfProfileTemplateResponse', transactionCompleted: false, templateNumber: 5, firstTimeBlockIndex: 1 });
    expect(rig.ccp(clinician, { op: 'writeIsfProfileTemplate', endTransaction: true, templateNumber: 5, firstTimeBlockIndex: 4, blocks: isf.slice(3) }).response).toEqual({ op: 'writeIsfProfileTemplateResponse', transactionCompleted: true, templateNumber: 5, firstTimeBlockIndex: 4 });
    const i2cho = [{ durationMinutes: 1_440, valueMilli: 12_000 }];
    expect(rig.ccp(clinician, { op: 'writeI2choRatioProfileTemplate', endTransaction: true, templateNumber: 7, firstTimeBlockIndex: 1, blocks: i2cho }).response).toMatchObject({ op: 'writeI2choRatioProfileTemplateResponse', transactionCompleted: true });
    const tgr = [
      { durationMinutes: 420, lowerMilli: 100_000, upperMilli: 140_000 },
      { durationMinutes: 1_020, lowerMilli: 90_000, upperMilli: 160_000 },
    ];
    expect(rig.ccp(clinician, { op: 'writeTargetGlucoseRangeProfileTemplate', endTransaction: true, templateNumber: 12, firstTimeBlockIndex: 1, blocks: tgr }).response).toMatchObject({ op: 'writeTargetGlucoseRangeProfileTemplateResponse', transactionCompleted: true });
    // ISF template numbers are 4–6: 7 through the ISF write is out of range.
    expect(raw(rig, clinician, { op: 'writeIsfProfileTemplate', endTransaction: true, templateNumber: 7, firstTimeBlockIndex: 1, blocks: i2cho })).toEqual([0x55, 0x0f, 0xde, 0x12, 0x73]);
    expect(rig.ccp(clinician, { op: 'activateProfileTemplates', templateNumbers: [5, 12] }).response).toEqual({ op: 'activateProfileTemplatesResponse', templateNumbers: [5, 12] });
    // All or nothing: template 6 is not configured, so 7 is not activated either.
    expect(raw(rig, clinician, { op: 'activateProfileTemplates', templateNumbers: [7, 6] })).toEqual([0x55, 0x0f, 0x2e, 0x12, 0x74]);
    expect(rig.pump.engine.basalRateMilliUnitsPerHour).toBe(0);
    hangUp();

    const s = patient();
    const readIsf = rig.ccpData(s, { op: 'readIsfProfileTemplate', templateNumber: 5 });
    expect(readIsf.data).toEqual([
      { op: 'readIsfProfileTemplateResponse', templateNumber: 5, firstTimeBlockIndex: 1, blocks: isf.slice(0, 3) },
      { op: 'readIsfProfileTemplateResponse', templateNumber: 5, firstTimeBlockIndex: 4, blocks: isf.slice(3) },
    ]);
    expect(readIsf.response).toEqual({ op: 'responseCode', requestOpCode: 0x12b8, responseCode: 'success' });
    expect(rig.ccpData(s, { op: 'readI2choRatioProfileTemplate', templateNumber: 7 }).data).toEqual([{ op: 'readI2choRatioProfileTemplateResponse', templateNumber: 7, firstTimeBlockIndex: 1, blocks: i2cho }]);
    // Target glucose records carry two blocks each.
    expect(rig.ccpData(s, { op: 'readTargetGlucoseRangeProfileTemplate', templateNumber: 12 }).data).toEqual([{ op: 'readTargetGlucoseRangeProfileTemplateResponse', templateNumber: 12, firstTimeBlockIndex: 1, blocks: tgr }]);
    expect(rig.ccp(s, { op: 'getActivatedProfileTemplates' }).response).toEqual({ op: 'getActivatedProfileTemplatesResponse', templateNumbers: [5, 12] });
  });
});
