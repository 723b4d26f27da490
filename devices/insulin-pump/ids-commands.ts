// The pump's session commands (0x0100…): IDS Command Control Point, Status Reader CP and IDD Status bytes carried inside the secure session, with a least role per CCP opcode.
// Not the IDS byte layouts (ids/), the IDS GATT service (the IDS characteristics are not exposed over plain GATT: only through the session), nor the therapy rules (therapy.machine.ts).
//
// One session command carries many CCP opcodes, so the session's own check (the command's least
// role: patient) is only the floor; each opcode's least role (CCP_OP_ROLES) is checked here against
// the session's role, and a refusal is RESPONSE_STATUS.insufficientRole (audited, §6).
//
// Emergency: `ids.ccp` can start delivery (Set Bolus, Run…), so it is declared increasesDelivery
// and therefore may not be marked emergency (the registry refuses both together: docs/protocol.md
// §6). The emergency role gets `ids.stop` (0x0103) instead: Set Therapy Control State Stop or Pause
// only, and the reads `ids.srcp` / `ids.status`.
//
// Answers: whenever an IDS answer exists the session status is ok and the payload is the encoded
// IDS response; the IDS Response Code is the verdict (e.g. 0x73 parameter out of range for a
// bolus above max bolus). Bytes the codec calls 'prohibited' get no IDS answer (IDS §1.3): session
// status invalidParameters with an empty payload.

import { AUDIT_DEVICE_EVENTS_FROM } from '../../src/firmware/audit-log.ts';
import type { Command, CommandDeclaration, CommandRequest, CommandResult, LeastRole } from '../../src/session/commands.ts';
import { meetsLeastRole, ROLE_CODES } from '../../src/session/roles.ts';
import { RESPONSE_STATUS } from '../../src/session/wire-session.ts';
import {
  CCP_OP,
  ccpResponseCode,
  decodeCcpRequest,
  decodeSrcpRequest,
  encodeCcpResponse,
  encodeSrcpResponse,
  encodeStatus,
  NO_E2E,
  SRCP_OP,
  srcpResponseCode,
  type CcpRequest,
  type CcpResponse,
  type CcpResponseCode,
  type SrcpRequest,
  type SrcpResponse,
} from './ids/index.ts';
import type { InsulinPump } from './index.ts';
import { BASAL_TEMPLATE_NUMBERS } from './delivery-port.ts';
import { checkBasalRate, checkBolus } from './limits.ts';
import type { TherapyRefusalCode, TherapyResult } from './therapy.machine.ts';

export const IDS_COMMANDS = {
  ccp: { id: 0x0100, name: 'ids.ccp', leastRole: 'patient', emergency: false, increasesDelivery: true },
  srcp: { id: 0x0101, name: 'ids.srcp', leastRole: 'patient', emergency: true, increasesDelivery: false },
  status: { id: 0x0102, name: 'ids.status', leastRole: 'patient', emergency: true, increasesDelivery: false },
  stop: { id: 0x0103, name: 'ids.stop', leastRole: 'patient', emergency: true, increasesDelivery: false },
} as const satisfies Record<string, CommandDeclaration>;

/** Pump audit events (device range, docs/protocol.md §9). */
export const PUMP_AUDIT_EVENTS = {
  /** A CCP request refused for a hard limit: opcode[2] ‖ role[1]. */
  limitRefused: AUDIT_DEVICE_EVENTS_FROM,
} as const;

type CcpOp = CcpRequest['op'];

/** The least role of every CCP request opcode (docs/protocol.md §6.1). */
export const CCP_OP_ROLES: Readonly<Record<CcpOp, LeastRole>> = {
  setTherapyControlState: 'patient',
  setFlightMode: 'patient',
  snoozeAnnunciation: 'patient',
  confirmAnnunciation: 'patient',
  readBasalRateProfileTemplate: 'patient',
  writeBasalRateProfileTemplate: 'clinician',
  setTbrAdjustment: 'patient',
  cancelTbrAdjustment: 'patient',
  getTbrTemplate: 'patient',
  setTbrTemplate: 'clinician',
  setBolus: 'patient',
  cancelBolus: 'patient',
  getAvailableBoluses: 'patient',
  getBolusTemplate: 'patient',
  setBolusTemplate: 'clinician',
  getTemplateStatusAndDetails: 'patient',
  resetTemplateStatus: 'clinician',
  activateProfileTemplates: 'clinician',
  getActivatedProfileTemplates: 'patient',
  startPriming: 'service',
  stopPriming: 'service',
  setInitialReservoirFillLevel: 'service',
  resetReservoirInsulinOperationTime: 'service',
  readIsfProfileTemplate: 'patient',
  writeIsfProfileTemplate: 'clinician',
  readI2choRatioProfileTemplate: 'patient',
  writeI2choRatioProfileTemplate: 'clinician',
  readTargetGlucoseRangeProfileTemplate: 'patient',
  writeTargetGlucoseRangeProfileTemplate: 'clinician',
  getMaxBolusAmount: 'patient',
  setMaxBolusAmount: 'clinician',
};

const RESPONSE_OF: Readonly<Record<TherapyRefusalCode, CcpResponseCode>> = {
  'invalid-operand': 'invalidOperand',
  'procedure-not-completed': 'procedureNotCompleted',
  'parameter-out-of-range': 'parameterOutOfRange',
  'procedure-not-applicable': 'procedureNotApplicable',
  'plausibility-check-failed': 'plausibilityCheckFailed',
  'max-bolus-number-reached': 'maximumBolusNumberReached',
};

const answer = (payload: Uint8Array): CommandResult => ({ status: RESPONSE_STATUS.ok, payload });
const NO_ANSWER: CommandResult = { status: RESPONSE_STATUS.invalidParameters, payload: new Uint8Array(0) };
const REFUSED_ROLE: CommandResult = { status: RESPONSE_STATUS.insufficientRole, payload: new Uint8Array(0) };

const ccp = (m: CcpResponse): CommandResult => answer(encodeCcpResponse(m));
const code = (op: CcpOp, c: CcpResponseCode): CommandResult => ccp(ccpResponseCode(CCP_OP.codes[op], c));
const fromTherapy = (op: CcpOp, r: TherapyResult<unknown>): CommandResult => code(op, r.ok ? 'success' : RESPONSE_OF[r.code]);

/** The CCP failure answer for bytes the codec refused (opcode not supported / invalid operand). */
function decodeFailure(f: { code: string; opCode?: number; responseCode?: number }): CommandResult {
  if (f.code === 'prohibited' || f.code === 'crc' || f.code === 'counter' || f.opCode === undefined) return NO_ANSWER;
  const rc: CcpResponseCode = f.responseCode === 0x70 || f.code === 'opcode' ? 'opCodeNotSupported' : 'invalidOperand';
  return ccp(ccpResponseCode(f.opCode, rc));
}

/** The pump's session commands; `pump` is read at each request (the composition binds it after boot). */
export function idsCommands(pump: () => InsulinPump): Command[] {
  return [
    { ...IDS_COMMANDS.ccp, handler: (req) => handleCcp(pump(), req) },
    { ...IDS_COMMANDS.srcp, handler: (req) => handleSrcp(pump(), req) },
    { ...IDS_COMMANDS.status, handler: () => answer(iddStatus(pump())) },
    { ...IDS_COMMANDS.stop, handler: (req) => handleStop(pump(), req) },
  ];
}

/** IDD Status (ids.md §1.2) of the pump now. */
export function iddStatus(p: InsulinPump): Uint8Array {
  const s = p.therapy.status();
  return encodeStatus({
    therapyControlState: s.therapyControlState,
    operationalState: s.operationalState,
    reservoirRemainingMilliUnits: s.reservoirAttached ? Math.floor(p.engine.reservoirRemainingMilliUnits() / 1000) * 1000 : null,
    reservoirAttached: s.reservoirAttached,
  });
}

function handleStop(p: InsulinPump, req: CommandRequest): CommandResult {
  // Empty payload: Stop. Otherwise a CCP Set Therapy Control State Stop or Pause, nothing else.
  let state: 'stop' | 'pause' = 'stop';
  if (req.payload.length > 0) {
    const d = decodeCcpRequest(req.payload, NO_E2E);
    if (!d.ok) return decodeFailure(d);
    if (d.value.op !== 'setTherapyControlState' || (d.value.state !== 'stop' && d.value.state !== 'pause')) return REFUSED_ROLE;
    state = d.value.state;
  }
  const r = p.therapy.setTherapyControlState(state);
  if (!r.ok) (state === 'stop' ? p.engine.stop() : p.engine.pause());
  return code('setTherapyControlState', 'success');
}

function handleCcp(p: InsulinPump, req: CommandRequest): CommandResult {
  const d = decodeCcpRequest(req.payload, NO_E2E);
  if (!d.ok) return decodeFailure(d);
  const m = d.value;
  if (!meetsLeastRole(req.role, CCP_OP_ROLES[m.op])) {
    p.device.audit.append(0x0060, req.role, Uint8Array.of(IDS_COMMANDS.ccp.id & 0xff, IDS_COMMANDS.ccp.id >> 8, ROLE_CODES[req.role]));
    return REFUSED_ROLE;
  }
  const limitRefused = (): CommandResult => {
    const opc = CCP_OP.codes[m.op];
    p.device.audit.append(PUMP_AUDIT_EVENTS.limitRefused, req.role, Uint8Array.of(opc & 0xff, opc >> 8, ROLE_CODES[req.role]));
    return code(m.op, 'parameterOutOfRange');
  };
  const { therapy, engine, port, annunciations } = p;
  switch (m.op) {
    case 'setTherapyControlState':
      // 'undetermined' is refused by the codec; kept out here for the type.
      if (m.state === 'undetermined') return code(m.op, 'invalidOperand');
      return fromTherapy(m.op, therapy.setTherapyControlState(m.state));
    case 'setBolus': {
      // Hard limits first, whatever the role and the state (limits.ts): max bolus, max daily.
      const total = m.fastAmountMilliUnits + m.extendedAmountMilliUnits;
      const lim = checkBolus(engine.currentLimits, { deliveredLast24hMilliUnits: engine.deliveredLast24hMilliUnits(), committedMilliUnits: engine.activeBolus ? engine.activeBolus.programmedMilliUnits - engine.activeBolus.deliveredMilliUnits : 0 }, total);
      if (!lim.ok) return limitRefused();
      const r = therapy.setBolus({
        kind: m.bolusType === 'extended' ? 'extended' : m.bolusType === 'multiwave' ? 'multiwave' : 'fast',
        fastMilliunits: m.fastAmountMilliUnits,
        extendedMilliunits: m.extendedAmountMilliUnits,
        durationMin: m.durationMinutes,
        ...(m.delayMinutes !== undefined ? { delayMin: m.delayMinutes } : {}),
      });
      if (!r.ok) return r.code === 'parameter-out-of-range' ? limitRefused() : fromTherapy(m.op, r);
      return ccp({ op: 'setBolusResponse', bolusId: r.value.bolusId });
    }
    case 'cancelBolus': {
      const r = therapy.cancelBolus(m.bolusId);
      return r.ok ? ccp({ op: 'cancelBolusResponse', bolusId: m.bolusId }) : fromTherapy(m.op, r);
    }
    case 'setTbrAdjustment': {
      if (m.tbrType === 'relative' && m.adjustmentMilli % 10 !== 0) return code(m.op, 'invalidOperand');
      const r = therapy.setTbr(
        m.tbrType === 'absolute'
          ? { kind: 'absolute', milliunitsPerHour: m.adjustmentMilli, durationMin: m.durationMinutes, change: m.changeTbr }
          : { kind: 'relative', percent: m.adjustmentMilli / 10, durationMin: m.durationMinutes, change: m.changeTbr },
      );
      if (!r.ok && r.code === 'parameter-out-of-range') return limitRefused();
      return fromTherapy(m.op, r);
    }
    case 'cancelTbrAdjustment':
      return fromTherapy(m.op, therapy.cancelTbr());
    case 'snoozeAnnunciation':
    case 'confirmAnnunciation': {
      const r = m.op === 'snoozeAnnunciation' ? annunciations.snooze(m.instanceId) : annunciations.confirm(m.instanceId);
      if (!r.ok) return code(m.op, r.code === 'invalid-operand' ? 'invalidOperand' : 'procedureNotApplicable');
      return ccp({ op: m.op === 'snoozeAnnunciation' ? 'snoozeAnnunciationResponse' : 'confirmAnnunciationResponse', instanceId: m.instanceId });
    }
    case 'writeBasalRateProfileTemplate': {
      // One flat rate per template for now (delivery-port.ts): every block the same rate.
      const first = m.blocks[0];
      if (first === undefined || m.blocks.some((b) => b.valueMilli !== first.valueMilli)) return code(m.op, 'procedureNotApplicable');
      if (!(BASAL_TEMPLATE_NUMBERS as readonly number[]).includes(m.templateNumber)) return code(m.op, 'parameterOutOfRange');
      if (!checkBasalRate(engine.currentLimits, first.valueMilli).ok) return limitRefused();
      const gate = therapy.configure('basal-template');
      if (!gate.ok) return fromTherapy(m.op, gate);
      const w = port.writeBasalTemplate(m.templateNumber, first.valueMilli);
      if (!w.ok) return code(m.op, RESPONSE_OF[w.code]);
      return ccp({ op: 'writeBasalRateProfileTemplateResponse', transactionCompleted: m.endTransaction, templateNumber: m.templateNumber, firstTimeBlockIndex: m.firstTimeBlockIndex });
    }
    case 'readBasalRateProfileTemplate':
      // Its blocks travel as Command Data (IDS §4.7), which the session does not carry yet.
      return code(m.op, 'opCodeNotSupported');
    case 'activateProfileTemplates': {
      // All or nothing (ids.md §3.3): every number is checked before any is activated, so a refused
      // request leaves the basal rate as it was (activating 3 of [3, 2] and refusing 2 changed delivery).
      if (m.templateNumbers.some((n) => !(BASAL_TEMPLATE_NUMBERS as readonly number[]).includes(n))) return code(m.op, 'parameterOutOfRange');
      if (m.templateNumbers.some((n) => port.basalTemplate(n) === undefined)) return code(m.op, 'procedureNotApplicable');
      const done: number[] = [];
      for (const n of m.templateNumbers) {
        // Only the first can still be refused (in Run): the rates met max basal when they were written.
        const r = therapy.activateBasalProfile(n);
        if (!r.ok) return r.code === 'parameter-out-of-range' ? limitRefused() : fromTherapy(m.op, r);
        done.push(n);
      }
      return ccp({ op: 'activateProfileTemplatesResponse', templateNumbers: done });
    }
    case 'getActivatedProfileTemplates':
      return ccp({ op: 'getActivatedProfileTemplatesResponse', templateNumbers: port.activeBasalTemplate === 0 ? [] : [port.activeBasalTemplate] });
    case 'getAvailableBoluses': {
      const free = engine.activeBolus === undefined;
      return ccp({ op: 'getAvailableBolusesResponse', fastAvailable: free, extendedAvailable: free, multiwaveAvailable: free });
    }
    case 'getMaxBolusAmount':
      return ccp({ op: 'getMaxBolusAmountResponse', maxBolusAmountMilliUnits: engine.currentLimits.maxBolusMilliUnits });
    case 'setMaxBolusAmount': {
      const gate = therapy.configure('max-bolus');
      if (!gate.ok) return fromTherapy(m.op, gate);
      const old = engine.currentLimits.maxBolusMilliUnits;
      const r = engine.setLimits({ ...engine.currentLimits, maxBolusMilliUnits: m.maxBolusAmountMilliUnits });
      if (!r.ok) return limitRefused();
      const h = p.history.append({ type: 'maxBolusChanged', oldMilliunits: old, newMilliunits: m.maxBolusAmountMilliUnits });
      void h;
      return code(m.op, 'success');
    }
    case 'startPriming': {
      const r = therapy.startPriming(m.amountMilliUnits);
      if (r.ok) p.history.append({ type: 'primingStarted', programmedMilliunits: m.amountMilliUnits });
      return fromTherapy(m.op, r);
    }
    case 'stopPriming':
      return fromTherapy(m.op, therapy.stopPriming());
    case 'setInitialReservoirFillLevel': {
      const r = therapy.setInitialReservoirFillLevel(m.fillLevelMilliUnits);
      if (!r.ok) return fromTherapy(m.op, r);
      const f = engine.fillReservoir(m.fillLevelMilliUnits);
      if (!f.ok) {
        therapy.reservoirRemoved();
        return code(m.op, 'procedureNotCompleted');
      }
      // The simulated mechanism has no rewind to wait for: preparation ends at once.
      therapy.preparingDone();
      p.history.append({ type: 'reservoirRemainingChanged', remainingMilliunits: m.fillLevelMilliUnits });
      return code(m.op, 'success');
    }
    case 'setFlightMode':
      return fromTherapy(m.op, therapy.setFlightMode());
    default:
      // Known to the codec, not implemented by this pump yet (ISF, I2CHO, TGR, bolus/TBR templates…).
      return code(m.op, 'opCodeNotSupported');
  }
}

const srcp = (m: SrcpResponse): CommandResult => answer(encodeSrcpResponse(m));

function handleSrcp(p: InsulinPump, req: CommandRequest): CommandResult {
  const d = decodeSrcpRequest(req.payload, NO_E2E);
  if (!d.ok) {
    if (d.code === 'prohibited' || d.opCode === undefined) return NO_ANSWER;
    return srcp(srcpResponseCode(d.opCode, d.code === 'opcode' ? 'opCodeNotSupported' : 'invalidOperand'));
  }
  const m: SrcpRequest = d.value;
  const { engine, port } = p;
  switch (m.op) {
    case 'getActiveBolusIds': {
      const b = engine.activeBolus;
      return srcp({ op: 'getActiveBolusIdsResponse', count: b ? 1 : 0, bolusIds: b ? [b.bolusId] : [] });
    }
    case 'getDeliveredInsulin': {
      const c = engine.pulses();
      const per = p.motor.milliUnitsPerStep;
      return srcp({ op: 'getDeliveredInsulinResponse', bolusMilliUnits: (c.bolusFast + c.bolusExtended) * per, basalMilliUnits: (c.basal + c.tempBasal) * per });
    }
    case 'getInsulinOnBoard':
      return srcp({ op: 'getInsulinOnBoardResponse', insulinOnBoardMilliUnits: Math.floor(engine.insulinOnBoardMilliUnits() / 100) * 100 });
    case 'getActiveBasalRateDelivery': {
      const t = engine.activeTempBasal;
      if (port.activeBasalTemplate === 0) return srcp(srcpResponseCode(SRCP_OP.codes[m.op], 'procedureNotApplicable'));
      return srcp({
        op: 'getActiveBasalRateDeliveryResponse',
        activeTemplateNumber: port.activeBasalTemplate,
        currentConfigMilliUnitsPerHour: engine.basalRateMilliUnitsPerHour,
        ...(t
          ? {
              tbrType: t.request.kind,
              tbrAdjustmentMilli: t.request.kind === 'absolute' ? t.request.rateMilliUnitsPerHour : t.request.percent * 10,
              tbrDurationProgrammedMinutes: t.request.durationMinutes,
              tbrDurationRemainingMinutes: Math.max(0, Math.ceil((t.endUs - p.alarm.nowUs()) / 60_000_000)),
            }
          : {}),
      });
    }
    default:
      return srcp(srcpResponseCode(SRCP_OP.codes[m.op], 'opCodeNotSupported'));
  }
}
