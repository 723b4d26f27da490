// IDD Command Control Point 0x2B25 requests and indications, and IDD Command Data 0x2B26 notifications
// (ids.md §3, §3.1–§3.2, §4; IDS v1.0.2 §4.6, §4.7, §3.7). Not the procedures: which of these a pump accepts, and when, is the therapy machine's.
//
// Amounts are integer milli-values (0.001 IU, 0.001 IU/h, 0.001 of a relative factor, 0.001 mg/dL, 0.001 g).
// SFLOAT fields prefer exponent −1 (0.1 steps, as every §9 example encodes them: 1.0 → 0xF00A) and the
// glucose-side values (ISF, I2CHO, target glucose) exponent 0; see sfloat.ts for the exact rule.

import {
  decodeOp16,
  defNamed,
  defsByName,
  defsByOp,
  encodeOp16,
  type Field,
  type Framing,
  type MessageDef,
  type OpSet,
  type Value,
} from './codec.ts';
import {
  BOLUS_ACTIVATION_TYPE,
  BOLUS_TYPE,
  CCP_OP,
  CCP_OP_RANGE,
  CCP_PROHIBITED_RANGE,
  CCP_RESPONSE_CODE,
  DELIVERY_CONTEXT,
  isHammingCode,
  TBR_TYPE,
  TEMPLATE_TYPE,
  THERAPY_CONTROL_STATE,
  type BolusActivationType,
  type BolusType,
  type CcpResponseCode,
  type DeliveryContext,
  type TbrType,
  type TemplateType,
  type TherapyControlState,
} from './enums.ts';
import { fail, hex4, type IdsFailure, type IdsResult } from './result.ts';

// ─── value types ───────────────────────────────────────────────────────────────────────────

/** A time block of a basal (IU/h), ISF (mg/dL per IU) or I2CHO (g per IU) profile, in milli-values. */
export interface ProfileBlock {
  readonly durationMinutes: number;
  readonly valueMilli: number;
}
/** A time block of a target glucose range profile, in 0.001 mg/dL. */
export interface GlucoseRangeBlock {
  readonly durationMinutes: number;
  readonly lowerMilli: number;
  readonly upperMilli: number;
}

/** Write record of a basal / ISF / I2CHO template (§4.6.2.10, .42, .46): 1–3 blocks; TGR: 1–2 (§3.7.2.1.2). */
export interface ProfileWrite<B> {
  readonly endTransaction: boolean;
  readonly templateNumber: number;
  readonly firstTimeBlockIndex: number;
  readonly blocks: readonly B[];
}
/** Read response (Command Data) of a profile template: same fields without End Transaction. */
export interface ProfileRead<B> {
  readonly templateNumber: number;
  readonly firstTimeBlockIndex: number;
  readonly blocks: readonly B[];
}
export interface ProfileWriteResponse {
  readonly transactionCompleted: boolean;
  readonly templateNumber: number;
  readonly firstTimeBlockIndex: number;
}

/** Set Bolus (Table 4.56). Flags: b0–b2 from the optional fields; b3 Correction, b4 Meal. */
export interface SetBolus {
  readonly bolusType: BolusType;
  readonly fastAmountMilliUnits: number;
  readonly extendedAmountMilliUnits: number;
  readonly durationMinutes: number;
  readonly delayMinutes?: number;
  readonly templateNumber?: number;
  readonly activationType?: BolusActivationType;
  readonly reasonCorrection: boolean;
  readonly reasonMeal: boolean;
}

/** Bolus template record (Tables 4.65/4.67). Flags: b0 Delay present, b1 Correction, b2 Meal — not Set Bolus's map. */
export interface BolusTemplate {
  readonly templateNumber: number;
  readonly bolusType: BolusType;
  readonly fastAmountMilliUnits: number;
  readonly extendedAmountMilliUnits: number;
  readonly durationMinutes: number;
  readonly delayMinutes?: number;
  readonly reasonCorrection: boolean;
  readonly reasonMeal: boolean;
}

/** Set TBR Adjustment (Table 4.49). Absolute: mIU/h; relative: factor × 1000 (1.25 → 1250). */
export interface SetTbrAdjustment {
  readonly changeTbr: boolean;
  readonly tbrType: TbrType;
  readonly adjustmentMilli: number;
  readonly durationMinutes: number;
  readonly templateNumber?: number;
  readonly deliveryContext?: DeliveryContext;
}

export interface TbrTemplate {
  readonly templateNumber: number;
  readonly tbrType: TbrType;
  readonly adjustmentMilli: number;
  readonly durationMinutes: number;
}

export type CcpRequest =
  | { readonly op: 'setTherapyControlState'; readonly state: TherapyControlState }
  | { readonly op: 'setFlightMode' }
  | { readonly op: 'snoozeAnnunciation'; readonly instanceId: number }
  | { readonly op: 'confirmAnnunciation'; readonly instanceId: number }
  | { readonly op: 'readBasalRateProfileTemplate'; readonly templateNumber: number }
  | ({ readonly op: 'writeBasalRateProfileTemplate' } & ProfileWrite<ProfileBlock>)
  | ({ readonly op: 'setTbrAdjustment' } & SetTbrAdjustment)
  | { readonly op: 'cancelTbrAdjustment' }
  | { readonly op: 'getTbrTemplate'; readonly templateNumber: number }
  | ({ readonly op: 'setTbrTemplate' } & TbrTemplate)
  | ({ readonly op: 'setBolus' } & SetBolus)
  | { readonly op: 'cancelBolus'; readonly bolusId: number }
  | { readonly op: 'getAvailableBoluses' }
  | { readonly op: 'getBolusTemplate'; readonly templateNumber: number }
  | ({ readonly op: 'setBolusTemplate' } & BolusTemplate)
  | { readonly op: 'getTemplateStatusAndDetails' }
  | { readonly op: 'resetTemplateStatus'; readonly templateNumbers: readonly number[] }
  | { readonly op: 'activateProfileTemplates'; readonly templateNumbers: readonly number[] }
  | { readonly op: 'getActivatedProfileTemplates' }
  | { readonly op: 'startPriming'; readonly amountMilliUnits: number }
  | { readonly op: 'stopPriming' }
  | { readonly op: 'setInitialReservoirFillLevel'; readonly fillLevelMilliUnits: number }
  | { readonly op: 'resetReservoirInsulinOperationTime' }
  | { readonly op: 'readIsfProfileTemplate'; readonly templateNumber: number }
  | ({ readonly op: 'writeIsfProfileTemplate' } & ProfileWrite<ProfileBlock>)
  | { readonly op: 'readI2choRatioProfileTemplate'; readonly templateNumber: number }
  | ({ readonly op: 'writeI2choRatioProfileTemplate' } & ProfileWrite<ProfileBlock>)
  | { readonly op: 'readTargetGlucoseRangeProfileTemplate'; readonly templateNumber: number }
  | ({ readonly op: 'writeTargetGlucoseRangeProfileTemplate' } & ProfileWrite<GlucoseRangeBlock>)
  | { readonly op: 'getMaxBolusAmount' }
  | { readonly op: 'setMaxBolusAmount'; readonly maxBolusAmountMilliUnits: number };

/** CCP indications (§3.7): the generic Response Code or an op-specific response. */
export type CcpResponse =
  | { readonly op: 'responseCode'; readonly requestOpCode: number; readonly responseCode: CcpResponseCode }
  | { readonly op: 'snoozeAnnunciationResponse'; readonly instanceId: number }
  | { readonly op: 'confirmAnnunciationResponse'; readonly instanceId: number }
  | ({ readonly op: 'writeBasalRateProfileTemplateResponse' } & ProfileWriteResponse)
  | ({ readonly op: 'getTbrTemplateResponse' } & TbrTemplate)
  | { readonly op: 'setTbrTemplateResponse'; readonly templateNumber: number }
  | { readonly op: 'setBolusResponse'; readonly bolusId: number }
  | { readonly op: 'cancelBolusResponse'; readonly bolusId: number }
  | { readonly op: 'getAvailableBolusesResponse'; readonly fastAvailable: boolean; readonly extendedAvailable: boolean; readonly multiwaveAvailable: boolean }
  | ({ readonly op: 'getBolusTemplateResponse' } & BolusTemplate)
  | { readonly op: 'setBolusTemplateResponse'; readonly templateNumber: number }
  | { readonly op: 'resetTemplateStatusResponse'; readonly templateNumbers: readonly number[] }
  | { readonly op: 'activateProfileTemplatesResponse'; readonly templateNumbers: readonly number[] }
  | { readonly op: 'getActivatedProfileTemplatesResponse'; readonly templateNumbers: readonly number[] }
  | ({ readonly op: 'writeIsfProfileTemplateResponse' } & ProfileWriteResponse)
  | ({ readonly op: 'writeI2choRatioProfileTemplateResponse' } & ProfileWriteResponse)
  | ({ readonly op: 'writeTargetGlucoseRangeProfileTemplateResponse' } & ProfileWriteResponse)
  | { readonly op: 'getMaxBolusAmountResponse'; readonly maxBolusAmountMilliUnits: number };

/** One template type's entry of Get Template Status and Details (Table 3.19). */
export interface TemplateStatus {
  readonly configurable: boolean;
  readonly configured: boolean;
}

/** IDD Command Data notifications (§4.7, §3.8.1). */
export type CommandData =
  | ({ readonly op: 'readBasalRateProfileTemplateResponse' } & ProfileRead<ProfileBlock>)
  | ({ readonly op: 'readIsfProfileTemplateResponse' } & ProfileRead<ProfileBlock>)
  | ({ readonly op: 'readI2choRatioProfileTemplateResponse' } & ProfileRead<ProfileBlock>)
  | ({ readonly op: 'readTargetGlucoseRangeProfileTemplateResponse' } & ProfileRead<GlucoseRangeBlock>)
  | {
      readonly op: 'getTemplateStatusAndDetailsResponse';
      readonly templateType: TemplateType;
      readonly startingTemplateNumber: number;
      readonly maxSupportedTimeBlocks: number;
      /** Entry i describes template startingTemplateNumber + i; the count is the Number of Templates. */
      readonly templates: readonly TemplateStatus[];
    };

// ─── layouts ───────────────────────────────────────────────────────────────────────────────

const AMOUNT_EXP = -1;
const GLUCOSE_EXP = 0;

const op = (name: keyof typeof CCP_OP.codes, fields: readonly Field[], check?: MessageDef['check']): MessageDef => ({
  name,
  op: CCP_OP.codes[name],
  fields,
  ...(check ? { check } : {}),
});

const templateNo: Field = { k: 'u8', n: 'templateNumber' };
const u16 = (n: string): Field => ({ k: 'u16', n });
const insulin = (n: string): Field => ({ k: 'sfloat', n, exp: AMOUNT_EXP, unsigned: true });

/** Write record: `Flags (b0 End Transaction, then block presence) | Tpl | First TB Index | blocks` (§3.1). */
function profileWrite(name: keyof typeof CCP_OP.codes, range: boolean, exp: number): MessageDef {
  return op(name, [
    { k: 'flags', bits: { endTransaction: 0 } },
    templateNo,
    { k: 'u8', n: 'firstTimeBlockIndex' },
    { k: 'blocks', n: 'blocks', presence: range ? [1] : [1, 2], range, exp },
  ]);
}
/** Read response record: the same, but flags b0/b1 are the block presence bits (§3.1). */
function profileRead(name: keyof typeof CCP_OP.codes, range: boolean, exp: number): MessageDef {
  return op(name, [{ k: 'flags', bits: {} }, templateNo, { k: 'u8', n: 'firstTimeBlockIndex' }, { k: 'blocks', n: 'blocks', presence: range ? [0] : [0, 1], range, exp }]);
}
const profileWriteResponse = (name: keyof typeof CCP_OP.codes): MessageDef =>
  op(name, [{ k: 'flags', bits: { transactionCompleted: 0 } }, templateNo, { k: 'u8', n: 'firstTimeBlockIndex' }]);

/** Fast: Extended = 0 and Duration = 0; Extended: Fast = 0 (§3.7.2.12, ids.md §3.2–3.3). */
function bolusShapeFault(v: Value): string | undefined {
  const t = v['bolusType'];
  if (t === 'fast' && (v['extendedAmountMilliUnits'] !== 0 || v['durationMinutes'] !== 0)) return 'a fast bolus has no extended amount and no duration';
  if (t === 'extended' && v['fastAmountMilliUnits'] !== 0) return 'an extended bolus has no fast amount';
  return undefined;
}

const bolusBody: readonly Field[] = [
  { k: 'enum', n: 'bolusType', t: BOLUS_TYPE, refuse: ['undetermined'] },
  insulin('fastAmountMilliUnits'),
  insulin('extendedAmountMilliUnits'),
  u16('durationMinutes'),
];
const bolusTemplateFields: readonly Field[] = [
  templateNo,
  { k: 'flags', bits: { reasonCorrection: 1, reasonMeal: 2 } },
  ...bolusBody,
  { k: 'opt', bit: 0, f: u16('delayMinutes') },
];
const tbrTemplateFields: readonly Field[] = [
  templateNo,
  { k: 'enum', n: 'tbrType', t: TBR_TYPE, refuse: ['undetermined'] },
  { k: 'sfloat', n: 'adjustmentMilli', exp: AMOUNT_EXP, unsigned: true },
  u16('durationMinutes'),
];
const templateList = (name: keyof typeof CCP_OP.codes, min: number): MessageDef => op(name, [{ k: 'list', n: 'templateNumbers', min, max: 14, item: 'u8' }]);

const REQUESTS: readonly MessageDef[] = [
  op('setTherapyControlState', [{ k: 'enum', n: 'state', t: THERAPY_CONTROL_STATE, refuse: ['undetermined'] }]),
  op('setFlightMode', []),
  op('snoozeAnnunciation', [u16('instanceId')]),
  op('confirmAnnunciation', [u16('instanceId')]),
  op('readBasalRateProfileTemplate', [templateNo]),
  profileWrite('writeBasalRateProfileTemplate', false, AMOUNT_EXP),
  op('setTbrAdjustment', [
    { k: 'flags', bits: { changeTbr: 2 } },
    { k: 'enum', n: 'tbrType', t: TBR_TYPE, refuse: ['undetermined'] },
    { k: 'sfloat', n: 'adjustmentMilli', exp: AMOUNT_EXP, unsigned: true },
    u16('durationMinutes'),
    { k: 'opt', bit: 0, f: templateNo },
    { k: 'opt', bit: 1, f: { k: 'enum', n: 'deliveryContext', t: DELIVERY_CONTEXT } },
  ]),
  op('cancelTbrAdjustment', []),
  op('getTbrTemplate', [templateNo]),
  op('setTbrTemplate', tbrTemplateFields),
  op(
    'setBolus',
    [
      { k: 'flags', bits: { reasonCorrection: 3, reasonMeal: 4 } },
      ...bolusBody,
      { k: 'opt', bit: 0, f: u16('delayMinutes') },
      { k: 'opt', bit: 1, f: templateNo },
      { k: 'opt', bit: 2, f: { k: 'enum', n: 'activationType', t: BOLUS_ACTIVATION_TYPE } },
    ],
    bolusShapeFault,
  ),
  op('cancelBolus', [u16('bolusId')]),
  op('getAvailableBoluses', []),
  op('getBolusTemplate', [templateNo]),
  op('setBolusTemplate', bolusTemplateFields, bolusShapeFault),
  op('getTemplateStatusAndDetails', []),
  templateList('resetTemplateStatus', 1),
  templateList('activateProfileTemplates', 1),
  op('getActivatedProfileTemplates', []),
  op('startPriming', [insulin('amountMilliUnits')]),
  op('stopPriming', []),
  op('setInitialReservoirFillLevel', [insulin('fillLevelMilliUnits')]),
  op('resetReservoirInsulinOperationTime', []),
  op('readIsfProfileTemplate', [templateNo]),
  profileWrite('writeIsfProfileTemplate', false, GLUCOSE_EXP),
  op('readI2choRatioProfileTemplate', [templateNo]),
  profileWrite('writeI2choRatioProfileTemplate', false, GLUCOSE_EXP),
  op('readTargetGlucoseRangeProfileTemplate', [templateNo]),
  profileWrite('writeTargetGlucoseRangeProfileTemplate', true, GLUCOSE_EXP),
  op('getMaxBolusAmount', []),
  op('setMaxBolusAmount', [insulin('maxBolusAmountMilliUnits')]),
];

const RESPONSES: readonly MessageDef[] = [
  op('responseCode', [u16('requestOpCode'), { k: 'enum', n: 'responseCode', t: CCP_RESPONSE_CODE }]),
  op('snoozeAnnunciationResponse', [u16('instanceId')]),
  op('confirmAnnunciationResponse', [u16('instanceId')]),
  profileWriteResponse('writeBasalRateProfileTemplateResponse'),
  op('getTbrTemplateResponse', tbrTemplateFields),
  op('setTbrTemplateResponse', [templateNo]),
  op('setBolusResponse', [u16('bolusId')]),
  op('cancelBolusResponse', [u16('bolusId')]),
  op('getAvailableBolusesResponse', [{ k: 'flags', bits: { fastAvailable: 0, extendedAvailable: 1, multiwaveAvailable: 2 } }]),
  op('getBolusTemplateResponse', bolusTemplateFields, bolusShapeFault),
  op('setBolusTemplateResponse', [templateNo]),
  templateList('resetTemplateStatusResponse', 1),
  templateList('activateProfileTemplatesResponse', 1),
  templateList('getActivatedProfileTemplatesResponse', 0),
  profileWriteResponse('writeIsfProfileTemplateResponse'),
  profileWriteResponse('writeI2choRatioProfileTemplateResponse'),
  profileWriteResponse('writeTargetGlucoseRangeProfileTemplateResponse'),
  op('getMaxBolusAmountResponse', [insulin('maxBolusAmountMilliUnits')]),
];

const COMMAND_DATA: readonly MessageDef[] = [
  profileRead('readBasalRateProfileTemplateResponse', false, AMOUNT_EXP),
  profileRead('readIsfProfileTemplateResponse', false, GLUCOSE_EXP),
  profileRead('readI2choRatioProfileTemplateResponse', false, GLUCOSE_EXP),
  profileRead('readTargetGlucoseRangeProfileTemplateResponse', true, GLUCOSE_EXP),
  op('getTemplateStatusAndDetailsResponse', [
    { k: 'enum', n: 'templateType', t: TEMPLATE_TYPE },
    { k: 'u8', n: 'startingTemplateNumber' },
    { k: 'templateStatus', n: 'templates' },
  ]),
];

/** The op codes of the CCP range that are not a message here: prohibited, or RFU → "Op Code not supported". */
function unknownCcpOp(op: number, what: string): IdsFailure {
  if (!isHammingCode(op)) return fail('prohibited', `${what} ${hex4(op)} is not a Hamming code`);
  if (op < CCP_OP_RANGE.min || op > CCP_OP_RANGE.max) return fail('prohibited', `${what} ${hex4(op)} is outside the CCP range`);
  if (op >= CCP_PROHIBITED_RANGE.min && op <= CCP_PROHIBITED_RANGE.max) return fail('prohibited', `${what} ${hex4(op)} is in a prohibited range`);
  return fail('opcode', `${what} ${hex4(op)} is not ${what === 'CCP request' ? 'a request' : 'one'} this codec knows (RFU or wrong direction)`);
}

const RESPONSE_CODE = { opCodeNotSupported: 0x70, invalidOperand: 0x71 } as const;
const REQUEST_SET: OpSet = {
  what: 'CCP request',
  defs: defsByOp(REQUESTS),
  unknown: (o) => unknownCcpOp(o, 'CCP request'),
  hints: { opcode: RESPONSE_CODE.opCodeNotSupported, operand: RESPONSE_CODE.invalidOperand },
};
const RESPONSE_SET: OpSet = { what: 'CCP response', defs: defsByOp(RESPONSES), unknown: (o) => unknownCcpOp(o, 'CCP response') };
const COMMAND_DATA_SET: OpSet = { what: 'Command Data', defs: defsByOp(COMMAND_DATA), unknown: (o) => unknownCcpOp(o, 'Command Data') };

const REQUEST_BY_NAME = defsByName(REQUESTS);
const RESPONSE_BY_NAME = defsByName(RESPONSES);
const COMMAND_DATA_BY_NAME = defsByName(COMMAND_DATA);

/** The layouts as data (for generated tests and docs); not re-exported by index.ts. */
export const CCP_LAYOUTS = { requests: REQUESTS, responses: RESPONSES, commandData: COMMAND_DATA } as const;

/** Every request op name, in table order (for tests and docs/protocol.md). */
export const CCP_REQUEST_OPS: readonly CcpRequest['op'][] = REQUESTS.map((d) => d.name as CcpRequest['op']);
export const CCP_RESPONSE_OPS: readonly CcpResponse['op'][] = RESPONSES.map((d) => d.name as CcpResponse['op']);
export const COMMAND_DATA_OPS: readonly CommandData['op'][] = COMMAND_DATA.map((d) => d.name as CommandData['op']);

// ─── public API ────────────────────────────────────────────────────────────────────────────

/** A CCP write: `Op Code u16 | Operand [| Counter | CRC]` (E2E fields when `e2eCounter` is given). Throws RangeError on a bad value. */
export const encodeCcpRequest = (m: CcpRequest, e2eCounter?: number): Uint8Array => encodeOp16(defNamed(REQUEST_BY_NAME, m.op), m as unknown as Value, e2eCounter);
/**
 * Decode a CCP write. Failures carry `opCode` when it was read and `responseCode` (0x70 / 0x71) for the
 * Response Code indication to send; 'prohibited' is not answered; 'crc' / 'counter' are ATT errors 0x81 / 0x82.
 */
export const decodeCcpRequest = (bytes: Uint8Array, framing?: Framing): IdsResult<CcpRequest> => decodeOp16<CcpRequest>(bytes, framing, REQUEST_SET);

export const encodeCcpResponse = (m: CcpResponse, e2eCounter?: number): Uint8Array => encodeOp16(defNamed(RESPONSE_BY_NAME, m.op), m as unknown as Value, e2eCounter);
export const decodeCcpResponse = (bytes: Uint8Array, framing?: Framing): IdsResult<CcpResponse> => decodeOp16<CcpResponse>(bytes, framing, RESPONSE_SET);

export const encodeCommandData = (m: CommandData, e2eCounter?: number): Uint8Array => encodeOp16(defNamed(COMMAND_DATA_BY_NAME, m.op), m as unknown as Value, e2eCounter);
export const decodeCommandData = (bytes: Uint8Array, framing?: Framing): IdsResult<CommandData> => decodeOp16<CommandData>(bytes, framing, COMMAND_DATA_SET);

/** The generic CCP Response Code indication for a request op code. */
export const ccpResponseCode = (requestOpCode: number, responseCode: CcpResponseCode): CcpResponse => ({ op: 'responseCode', requestOpCode, responseCode });
