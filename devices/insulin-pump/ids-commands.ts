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
//
// Command Data (IDS §4.7): the procedures that answer with IDD Command Data notifications before
// their CCP indication (the four Read … Profile Template, Get Template Status and Details) answer
// `count u8 ‖ count × (length u8 ‖ Command Data) ‖ CCP indication` in one session response, the
// notifications in the order IDS would send them (count 0 when refused). `splitCommandDataAnswer`
// takes it apart. Every other opcode answers the bare CCP indication, as before.
//
// Profile template transactions (profile-templates.ts): any other CCP or SRCP procedure (or
// ids.stop) that passes its role check discards an open template-write transaction (ids.md §7).

import { AUDIT_DEVICE_EVENTS_FROM } from '../../src/firmware/audit-log.ts';
import type { Command, CommandDeclaration, CommandRequest, CommandResult, LeastRole } from '../../src/session/commands.ts';
import { meetsLeastRole, ROLE_CODES } from '../../src/session/roles.ts';
import { RESPONSE_STATUS } from '../../src/session/wire-session.ts';
import {
  CCP_OP,
  ccpResponseCode,
  decodeCcpRequest,
  decodeCommandData,
  decodeCcpResponse,
  encodeCommandData,
  PROFILE_TEMPLATE_TYPE,
  decodeSrcpRequest,
  encodeCcpResponse,
  encodeSrcpResponse,
  encodeFeatures,
  FEATURE,
  type IddFeatures,
  encodeStatus,
  NO_E2E,
  SRCP_OP,
  srcpResponseCode,
  type CcpRequest,
  type CcpResponse,
  type CcpResponseCode,
  type CommandData,
  type IdsResult,
  type ProfileWrite,
  type SrcpRequest,
  type SrcpResponse,
} from './ids/index.ts';
import type { InsulinPump } from './index.ts';
import type { HistoryEvent } from './history.ts';
import { checkBasalRate, checkBolus } from './limits.ts';
import { saveLimits } from './limits-store.ts';
import { annunciationStatusBytes } from './status-notifier.ts';
import { kindOfTemplate, PROFILE_KINDS, TEMPLATE_RANGES, TEMPLATE_TYPE_OF, MAX_TIME_BLOCKS, type AnyBlock, type ProfileKind } from './profile-templates.ts';
import type { TherapyRefusalCode, TherapyResult } from './therapy.machine.ts';

export const IDS_COMMANDS = {
  ccp: { id: 0x0100, name: 'ids.ccp', leastRole: 'patient', emergency: false, increasesDelivery: true },
  srcp: { id: 0x0101, name: 'ids.srcp', leastRole: 'patient', emergency: true, increasesDelivery: false },
  status: { id: 0x0102, name: 'ids.status', leastRole: 'patient', emergency: true, increasesDelivery: false },
  stop: { id: 0x0103, name: 'ids.stop', leastRole: 'patient', emergency: true, increasesDelivery: false },
  /** IDD Annunciation Status (IDS §4.3): the annunciation to show now (flags 0 when none). */
  annunciation: { id: 0x0104, name: 'ids.annunciation', leastRole: 'patient', emergency: true, increasesDelivery: false },
  /** IDD Status Changed (IDS §4.1): the flags set since a client last reset them (SRCP Reset Status). */
  statusChanged: { id: 0x0105, name: 'ids.statusChanged', leastRole: 'patient', emergency: true, increasesDelivery: false },
  /** IDD Features (IDS §4.4): what this pump supports, so a client need not probe opcode by opcode. */
  features: { id: 0x0106, name: 'ids.features', leastRole: 'patient', emergency: true, increasesDelivery: false },
} as const satisfies Record<string, CommandDeclaration>;

/**
 * What this pump implements (IDS §3.5.1.2), U100 insulin. Not E2E protection (the session protects
 * IDS messages), not TBR or bolus templates, bolus delay or activation type (op code not supported),
 * not multiple bonds in IDS's sense (bonds are the session's, docs/protocol.md §4.6).
 */
export const PUMP_FEATURES: IddFeatures = Object.freeze({
  insulinConcentrationMilli: 100_000,
  flags:
    FEATURE.basalRate |
    FEATURE.tbrAbsolute |
    FEATURE.tbrRelative |
    FEATURE.fastBolus |
    FEATURE.extendedBolus |
    FEATURE.multiwaveBolus |
    FEATURE.isfProfileTemplate |
    FEATURE.i2choRatioProfileTemplate |
    FEATURE.targetGlucoseRangeProfileTemplate |
    FEATURE.insulinOnBoard,
  extension: new Uint8Array(0),
});

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

type WriteOp = 'writeBasalRateProfileTemplate' | 'writeIsfProfileTemplate' | 'writeI2choRatioProfileTemplate' | 'writeTargetGlucoseRangeProfileTemplate';
type ReadOp = 'readBasalRateProfileTemplate' | 'readIsfProfileTemplate' | 'readI2choRatioProfileTemplate' | 'readTargetGlucoseRangeProfileTemplate';
const WRITE_KIND: Readonly<Record<Exclude<WriteOp, 'writeBasalRateProfileTemplate'>, ProfileKind>> = {
  writeIsfProfileTemplate: 'isf',
  writeI2choRatioProfileTemplate: 'i2cho',
  writeTargetGlucoseRangeProfileTemplate: 'targetGlucose',
};
const WRITE_KIND_ANY: Readonly<Partial<Record<CcpOp, ProfileKind>>> = { writeBasalRateProfileTemplate: 'basal', ...WRITE_KIND };
const READ_KIND: Readonly<Record<ReadOp, ProfileKind>> = {
  readBasalRateProfileTemplate: 'basal',
  readIsfProfileTemplate: 'isf',
  readI2choRatioProfileTemplate: 'i2cho',
  readTargetGlucoseRangeProfileTemplate: 'targetGlucose',
};
/** Profile Template Type of history event 0x00CC (ids.md §5: other codes than the Command Data Template Type). */
const HISTORY_TEMPLATE_TYPE = { basal: 'basalRate', isf: 'isf', i2cho: 'i2choRatio', targetGlucose: 'targetGlucoseRange' } as const satisfies Record<ProfileKind, keyof typeof PROFILE_TEMPLATE_TYPE.codes>;

const answer = (payload: Uint8Array): CommandResult => ({ status: RESPONSE_STATUS.ok, payload });
const NO_ANSWER: CommandResult = { status: RESPONSE_STATUS.invalidParameters, payload: new Uint8Array(0) };
const REFUSED_ROLE: CommandResult = { status: RESPONSE_STATUS.insufficientRole, payload: new Uint8Array(0) };

const ccp = (m: CcpResponse): CommandResult => answer(encodeCcpResponse(m));
const code = (op: CcpOp, c: CcpResponseCode): CommandResult => ccp(ccpResponseCode(CCP_OP.codes[op], c));
const fromTherapy = (op: CcpOp, r: TherapyResult<unknown>): CommandResult => code(op, r.ok ? 'success' : RESPONSE_OF[r.code]);

/** A Command Data procedure's answer: `count ‖ (length ‖ Command Data)… ‖ CCP indication` (header). */
function withData(op: CcpOp, data: readonly CommandData[], rc: CcpResponseCode): CommandResult {
  const parts = data.map((d) => encodeCommandData(d));
  const final = encodeCcpResponse(ccpResponseCode(CCP_OP.codes[op], rc));
  const out = new Uint8Array(1 + parts.reduce((s, x) => s + 1 + x.length, 0) + final.length);
  out[0] = parts.length;
  let o = 1;
  for (const x of parts) {
    out[o++] = x.length;
    out.set(x, o);
    o += x.length;
  }
  out.set(final, o);
  return answer(out);
}

/** A client's view of a Command Data procedure's answer (the header's layout), decoded. */
export function splitCommandDataAnswer(payload: Uint8Array): IdsResult<{ readonly data: readonly CommandData[]; readonly response: CcpResponse }> {
  const bad = (detail: string) => ({ ok: false as const, code: 'operand' as const, detail });
  const data: CommandData[] = [];
  let o = 1;
  if (payload.length < 1) return bad('empty answer');
  for (let i = 0; i < payload[0]!; i++) {
    const n = payload[o];
    if (n === undefined || o + 1 + n > payload.length) return bad(`Command Data ${i + 1} cut short`);
    const d = decodeCommandData(payload.subarray(o + 1, o + 1 + n), NO_E2E);
    if (!d.ok) return d;
    data.push(d.value);
    o += 1 + n;
  }
  const r = decodeCcpResponse(payload.subarray(o), NO_E2E);
  return r.ok ? { ok: true, value: { data, response: r.value } } : r;
}

/** A profile template as Read … Response records of up to 3 blocks (target glucose: 2), in index order (ids.md §3.1). */
function readRecords(kind: ProfileKind, templateNumber: number, blocks: readonly AnyBlock[]): CommandData[] {
  const per = kind === 'targetGlucose' ? 2 : 3;
  const op = ({ basal: 'readBasalRateProfileTemplateResponse', isf: 'readIsfProfileTemplateResponse', i2cho: 'readI2choRatioProfileTemplateResponse', targetGlucose: 'readTargetGlucoseRangeProfileTemplateResponse' } as const)[kind];
  const out: CommandData[] = [];
  for (let i = 0; i < blocks.length; i += per) {
    out.push({ op, templateNumber, firstTimeBlockIndex: i + 1, blocks: blocks.slice(i, i + per) } as CommandData);
  }
  return out;
}

/** History appends never fail a command (index.ts counts failures the same way). */
function recordGroup(p: InsulinPump, events: readonly HistoryEvent[]): void {
  void p.history.appendGroup(events);
}

/** The CCP failure answer for bytes the codec refused (opcode not supported / invalid operand). */
function decodeFailure(f: { code: string; opCode?: number; responseCode?: number }): CommandResult {
  if (f.code === 'prohibited' || f.code === 'crc' || f.code === 'counter' || f.opCode === undefined) return NO_ANSWER;
  const rc: CcpResponseCode = f.responseCode === 0x70 || f.code === 'opcode' ? 'opCodeNotSupported' : 'invalidOperand';
  return ccp(ccpResponseCode(f.opCode, rc));
}

/** The pump's session commands; `pump` is read at each request (the composition binds it after boot). */
/** Set Bolus's reasons of each pump's latest bolus (IDS §4.5.3 reports them for the active one). */
const BOLUS_REASONS = new WeakMap<InsulinPump, { readonly bolusId: number; readonly meal: boolean; readonly correction: boolean }>();

export function idsCommands(pump: () => InsulinPump): Command[] {
  return [
    { ...IDS_COMMANDS.ccp, handler: (req) => handleCcp(pump(), req) },
    { ...IDS_COMMANDS.srcp, handler: (req) => handleSrcp(pump(), req) },
    { ...IDS_COMMANDS.status, handler: () => answer(iddStatus(pump())) },
    { ...IDS_COMMANDS.stop, handler: (req) => handleStop(pump(), req) },
    { ...IDS_COMMANDS.annunciation, handler: () => answer(annunciationStatusBytes(pump().annunciations.current())) },
    { ...IDS_COMMANDS.statusChanged, handler: () => answer(pump().notifier.statusChangedBytes()) },
    { ...IDS_COMMANDS.features, handler: () => answer(encodeFeatures(PUMP_FEATURES)) },
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
  p.templates.abandon(); // another CP procedure (ids.md §7)
  const r = p.therapy.setTherapyControlState(state);
  if (!r.ok) (state === 'stop' ? p.engine.stop() : p.engine.pause());
  return code('setTherapyControlState', 'success');
}

function handleCcp(p: InsulinPump, req: CommandRequest): CommandResult {
  const d = decodeCcpRequest(req.payload, NO_E2E);
  if (!d.ok) {
    const f = decodeFailure(d);
    // An answered error ends an open template transaction too; prohibited bytes are ignored (ids.md §5, §7).
    if (f !== NO_ANSWER) p.templates.abandon();
    return f;
  }
  const m = d.value;
  if (!meetsLeastRole(req.role, CCP_OP_ROLES[m.op])) {
    p.device.audit.append(0x0060, req.role, Uint8Array.of(IDS_COMMANDS.ccp.id & 0xff, IDS_COMMANDS.ccp.id >> 8, ROLE_CODES[req.role]));
    return REFUSED_ROLE;
  }
  if (p.templates.transactionOpen && WRITE_KIND_ANY[m.op] !== p.templates.transactionKind) p.templates.abandon();
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
      // Only the active bolus's reasons are ever read back (Get Active Bolus Delivery).
      BOLUS_REASONS.set(p, { bolusId: r.value.bolusId, meal: m.reasonMeal, correction: m.reasonCorrection });
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
      // Hard limit first (limits.ts): every block within max basal, or 0x73 audited; the transaction is discarded.
      if (m.blocks.some((b) => !checkBasalRate(engine.currentLimits, b.valueMilli).ok)) {
        p.templates.abandon();
        return limitRefused();
      }
      const gate = therapy.configure('basal-template');
      if (!gate.ok) {
        p.templates.abandon();
        return fromTherapy(m.op, gate);
      }
      const w = port.writeBasalTemplate(m);
      if (!w.ok) return code(m.op, RESPONSE_OF[w.code]);
      // The whole profile, one Time Block Changed record per block, as one group (ids.md §4).
      if (w.completed) recordGroup(p, w.blocks.map((b, i) => ({ type: 'basalTimeBlockChanged', templateNumber: w.templateNumber, blockNumber: i + 1, durationMin: b.durationMinutes, milliunitsPerHour: b.valueMilli })));
      return ccp({ op: 'writeBasalRateProfileTemplateResponse', transactionCompleted: w.completed, templateNumber: m.templateNumber, firstTimeBlockIndex: m.firstTimeBlockIndex });
    }
    case 'writeIsfProfileTemplate':
    case 'writeI2choRatioProfileTemplate':
    case 'writeTargetGlucoseRangeProfileTemplate': {
      // They change no delivery by themselves (a bolus calculator's inputs); configuration, so not while Run.
      const gate = therapy.configure('profile-template');
      if (!gate.ok) {
        p.templates.abandon();
        return fromTherapy(m.op, gate);
      }
      const kind = WRITE_KIND[m.op];
      const w = p.templates.write(kind, m as ProfileWrite<AnyBlock>);
      if (!w.ok) return code(m.op, RESPONSE_OF[w.code]);
      return ccp({ op: `${m.op}Response`, transactionCompleted: w.completed, templateNumber: m.templateNumber, firstTimeBlockIndex: m.firstTimeBlockIndex });
    }
    case 'readBasalRateProfileTemplate':
    case 'readIsfProfileTemplate':
    case 'readI2choRatioProfileTemplate':
    case 'readTargetGlucoseRangeProfileTemplate': {
      const kind = READ_KIND[m.op];
      const { first, count } = TEMPLATE_RANGES[kind];
      // ids.md §3.3: 0x73 template number out of range; 0x74 read of a template that is not configured.
      if (m.templateNumber < first || m.templateNumber >= first + count) return withData(m.op, [], 'parameterOutOfRange');
      const blocks = p.templates.get(m.templateNumber);
      if (blocks === undefined) return withData(m.op, [], 'procedureNotApplicable');
      return withData(m.op, readRecords(kind, m.templateNumber, blocks), 'success');
    }
    case 'getTemplateStatusAndDetails':
      return withData(
        m.op,
        PROFILE_KINDS.map((k) => ({
          op: 'getTemplateStatusAndDetailsResponse',
          templateType: TEMPLATE_TYPE_OF[k],
          startingTemplateNumber: TEMPLATE_RANGES[k].first,
          maxSupportedTimeBlocks: MAX_TIME_BLOCKS,
          templates: p.templates.status(k),
        })),
        'success',
      );
    case 'resetTemplateStatus': {
      const gate = therapy.configure('reset-template-status');
      if (!gate.ok) return fromTherapy(m.op, gate);
      const r = p.templates.reset(m.templateNumbers);
      if (!r.ok) return code(m.op, RESPONSE_OF[r.code]);
      return ccp({ op: 'resetTemplateStatusResponse', templateNumbers: m.templateNumbers });
    }
    case 'activateProfileTemplates': {
      // All or nothing (ids.md §3.3, §3.7.2.19): every number checked before any is activated.
      const kinds = new Set<ProfileKind>();
      for (const n of m.templateNumbers) {
        const kind = kindOfTemplate(n);
        // 0x74: an invalid or unconfigured template; two of one type cannot both be active.
        if (kind === undefined || p.templates.get(n) === undefined || kinds.has(kind)) return code(m.op, 'procedureNotApplicable');
        kinds.add(kind);
        const basal = p.templates.basal(n);
        if (basal !== undefined && basal.some((b) => !checkBasalRate(engine.currentLimits, b.valueMilli).ok)) return limitRefused();
      }
      const gate = therapy.configure('profile-template');
      if (!gate.ok) return fromTherapy(m.op, gate);
      const events: HistoryEvent[] = [];
      for (const n of m.templateNumbers) {
        const kind = kindOfTemplate(n)!;
        const old = p.templates.activeOf(kind);
        const r = kind === 'basal' ? therapy.activateBasalProfile(n) : p.templates.activate(n);
        // Checked above: only a failing store is left (0x72), after the earlier ones took effect.
        if (!r.ok) return code(m.op, RESPONSE_OF[r.code]);
        events.push({ type: 'profileTemplateActivated', templateType: PROFILE_TEMPLATE_TYPE.codes[HISTORY_TEMPLATE_TYPE[kind]], oldNumber: old, newNumber: n });
      }
      for (const e of events) recordGroup(p, [e]);
      return ccp({ op: 'activateProfileTemplatesResponse', templateNumbers: m.templateNumbers });
    }
    case 'getActivatedProfileTemplates':
      return ccp({ op: 'getActivatedProfileTemplatesResponse', templateNumbers: p.templates.activeNumbers() });
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
      const limits = { ...engine.currentLimits, maxBolusMilliUnits: m.maxBolusAmountMilliUnits };
      const r = engine.setLimits(limits);
      if (!r.ok) return limitRefused();
      // Kept, or not in force: a limit a reboot would forget is refused (limits-store.ts).
      if (!saveLimits(p.device.store, limits).ok) {
        engine.setLimits({ ...limits, maxBolusMilliUnits: old });
        return code(m.op, 'procedureNotCompleted');
      }
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
      // Known to the codec, not implemented by this pump yet (TBR and bolus templates, Reset Reservoir Insulin Operation Time).
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
  p.templates.abandon(); // another CP procedure (ids.md §7)
  const { engine, port } = p;
  switch (m.op) {
    case 'resetStatus':
      // IDS §4.5.1: clear the given IDD Status Changed flags.
      // IDS answers it with a Response Code (success): the flags left are read with ids.statusChanged.
      p.notifier.reset(m.flags);
      return srcp(srcpResponseCode(SRCP_OP.codes[m.op], 'success'));
    case 'getActiveBolusIds': {
      const b = engine.activeBolus;
      return srcp({ op: 'getActiveBolusIdsResponse', count: b ? 1 : 0, bolusIds: b ? [b.bolusId] : [] });
    }
    case 'getActiveBolusDelivery': {
      // IDS §4.5.3: the active bolus's programmed, remaining or delivered amounts; another ID → 0x74.
      const b = engine.activeBolus;
      if (b === undefined || b.bolusId !== m.bolusId) return srcp(srcpResponseCode(SRCP_OP.codes[m.op], 'procedureNotApplicable'));
      const pick = (part: { programmedMilliUnits: number; deliveredMilliUnits: number }): number =>
        m.selection === 'programmed' ? part.programmedMilliUnits : m.selection === 'delivered' ? part.deliveredMilliUnits : part.programmedMilliUnits - part.deliveredMilliUnits;
      const given = BOLUS_REASONS.get(p);
      const reasons = given?.bolusId === b.bolusId ? given : { meal: false, correction: false };
      return srcp({
        op: 'getActiveBolusDeliveryResponse',
        reasonCorrection: reasons.correction,
        reasonMeal: reasons.meal,
        bolusId: b.bolusId,
        bolusType: b.kind,
        fastAmountMilliUnits: pick(b.fast),
        extendedAmountMilliUnits: pick(b.extended),
        durationMinutes: b.extended.durationMinutes,
      } as SrcpResponse);
    }
    case 'getTotalDailyInsulinStatus': {
      // IDS §4.5.5: insulin delivered over the last 24 h (the journal's window, the one max daily uses).
      const total = engine.deliveredLast24hMilliUnits();
      const c = engine.pulses();
      const per = p.motor.milliUnitsPerStep;
      const bolusAll = (c.bolusFast + c.bolusExtended) * per;
      const basalAll = (c.basal + c.tempBasal) * per;
      // Split the 24 h total in the proportion of everything delivered since boot (the journal keeps the total, not the split).
      const bolus = bolusAll + basalAll === 0 ? 0 : Math.round((total * bolusAll) / (bolusAll + basalAll) / 10) * 10;
      return srcp({ op: 'getTotalDailyInsulinStatusResponse', bolusMilliUnits: bolus, basalMilliUnits: total - bolus, totalMilliUnits: total });
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
