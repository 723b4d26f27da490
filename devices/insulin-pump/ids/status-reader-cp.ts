// IDD Status Reader Control Point 0x2B24 requests and indications (ids.md §2; IDS v1.0.2 §4.5, §3.6).
// Not the procedures: which value the pump reports, and when 0x74 applies, is the therapy machine's.
//
// Amounts are integer milli-units (0.001 IU, 0.001 IU/h; a relative TBR factor × 1000). SFLOAT fields prefer
// exponent −1 (0.1 IU steps, as ids.md §9 encodes amounts); FLOAT fields (Get Delivered Insulin) exponent −2.

import { decodeOp16, defNamed, defsByName, defsByOp, encodeOp16, type Field, type Framing, type MessageDef, type OpSet, type Value } from './codec.ts';
import {
  BOLUS_ACTIVATION_TYPE,
  BOLUS_TYPE,
  BOLUS_VALUE_SELECTION,
  COUNTER_TYPE,
  COUNTER_VALUE_SELECTION,
  DELIVERY_CONTEXT,
  isHammingCode,
  SRCP_OP,
  SRCP_OP_RANGE,
  SRCP_RESPONSE_CODE,
  STATUS_CHANGED_DEFINED_BITS,
  TBR_TYPE,
  type BolusActivationType,
  type BolusType,
  type BolusValueSelection,
  type CounterType,
  type CounterValueSelection,
  type DeliveryContext,
  type SrcpResponseCode,
  type TbrType,
} from './enums.ts';
import { fail, hex4, type IdsFailure, type IdsResult } from './result.ts';

export type SrcpRequest =
  /** `flags`: IDD Status Changed bits to clear (STATUS_CHANGED); RFU bits 8–15 are sent as 0 and read as 0. */
  | { readonly op: 'resetStatus'; readonly flags: number }
  | { readonly op: 'getActiveBolusIds' }
  | { readonly op: 'getActiveBolusDelivery'; readonly bolusId: number; readonly selection: BolusValueSelection }
  | { readonly op: 'getActiveBasalRateDelivery' }
  | { readonly op: 'getTotalDailyInsulinStatus' }
  | { readonly op: 'getCounter'; readonly counterType: CounterType; readonly valueSelection: CounterValueSelection }
  | { readonly op: 'getDeliveredInsulin' }
  | { readonly op: 'getInsulinOnBoard' };

/** Active Bolus Delivery record (Table 4.21); flags are Set Bolus's (b3 Correction, b4 Meal). */
export interface ActiveBolusDelivery {
  readonly bolusId: number;
  readonly bolusType: BolusType;
  readonly fastAmountMilliUnits: number;
  readonly extendedAmountMilliUnits: number;
  /** With selection Delivered: time elapsed since programming (§3.6.2.3). */
  readonly durationMinutes: number;
  /** With selection Delivered: 0xFFFF (§3.6.2.3). */
  readonly delayMinutes?: number;
  readonly templateNumber?: number;
  readonly activationType?: BolusActivationType;
  readonly reasonCorrection: boolean;
  readonly reasonMeal: boolean;
}

/** Active Basal Rate Delivery record (Table 4.23). The TBR fields come as a group (flag b0). */
export interface ActiveBasalRateDelivery {
  readonly activeTemplateNumber: number;
  /** The programmed block rate, ignoring any TBR. */
  readonly currentConfigMilliUnitsPerHour: number;
  readonly tbrType?: TbrType;
  readonly tbrAdjustmentMilli?: number;
  readonly tbrDurationProgrammedMinutes?: number;
  readonly tbrDurationRemainingMinutes?: number;
  /** Only with the TBR group (flags b0 & b1). */
  readonly tbrTemplateNumber?: number;
  readonly basalDeliveryContext?: DeliveryContext;
}

export type SrcpResponse =
  | { readonly op: 'responseCode'; readonly requestOpCode: number; readonly responseCode: SrcpResponseCode }
  /** `count` active boluses; `bolusIds` the min(count, 7) oldest (§3.6.2.2). */
  | { readonly op: 'getActiveBolusIdsResponse'; readonly count: number; readonly bolusIds: readonly number[] }
  | ({ readonly op: 'getActiveBolusDeliveryResponse' } & ActiveBolusDelivery)
  | ({ readonly op: 'getActiveBasalRateDeliveryResponse' } & ActiveBasalRateDelivery)
  | {
      readonly op: 'getTotalDailyInsulinStatusResponse';
      readonly bolusMilliUnits: number;
      readonly basalMilliUnits: number;
      /** May differ from bolus + basal by SFLOAT rounding (§3.6.2.5). */
      readonly totalMilliUnits: number;
    }
  | { readonly op: 'getCounterResponse'; readonly counterType: CounterType; readonly valueSelection: CounterValueSelection; readonly valueMinutes: number }
  | { readonly op: 'getDeliveredInsulinResponse'; readonly bolusMilliUnits: number; readonly basalMilliUnits: number }
  | { readonly op: 'getInsulinOnBoardResponse'; readonly insulinOnBoardMilliUnits: number; readonly remainingDurationMinutes?: number };

const AMOUNT_EXP = -1;
const DELIVERED_EXP = -2;

const op = (name: keyof typeof SRCP_OP.codes, fields: readonly Field[]): MessageDef => ({ name, op: SRCP_OP.codes[name], fields });
const u16 = (n: string): Field => ({ k: 'u16', n });
const insulin = (n: string): Field => ({ k: 'sfloat', n, exp: AMOUNT_EXP, unsigned: true });

const REQUESTS: readonly MessageDef[] = [
  op('resetStatus', [{ k: 'u16', n: 'flags', mask: STATUS_CHANGED_DEFINED_BITS }]),
  op('getActiveBolusIds', []),
  op('getActiveBolusDelivery', [u16('bolusId'), { k: 'enum', n: 'selection', t: BOLUS_VALUE_SELECTION }]),
  op('getActiveBasalRateDelivery', []),
  op('getTotalDailyInsulinStatus', []),
  op('getCounter', [
    { k: 'enum', n: 'counterType', t: COUNTER_TYPE },
    { k: 'enum', n: 'valueSelection', t: COUNTER_VALUE_SELECTION },
  ]),
  op('getDeliveredInsulin', []),
  op('getInsulinOnBoard', []),
];

const RESPONSES: readonly MessageDef[] = [
  op('responseCode', [u16('requestOpCode'), { k: 'enum', n: 'responseCode', t: SRCP_RESPONSE_CODE }]),
  op('getActiveBolusIdsResponse', [{ k: 'cappedList', countName: 'count', n: 'bolusIds', cap: 7, item: 'u16' }]),
  op('getActiveBolusDeliveryResponse', [
    { k: 'flags', bits: { reasonCorrection: 3, reasonMeal: 4 } },
    u16('bolusId'),
    { k: 'enum', n: 'bolusType', t: BOLUS_TYPE },
    insulin('fastAmountMilliUnits'),
    insulin('extendedAmountMilliUnits'),
    u16('durationMinutes'),
    { k: 'opt', bit: 0, f: u16('delayMinutes') },
    { k: 'opt', bit: 1, f: { k: 'u8', n: 'templateNumber' } },
    { k: 'opt', bit: 2, f: { k: 'enum', n: 'activationType', t: BOLUS_ACTIVATION_TYPE } },
  ]),
  op('getActiveBasalRateDeliveryResponse', [
    { k: 'flags', bits: {} },
    { k: 'u8', n: 'activeTemplateNumber' },
    insulin('currentConfigMilliUnitsPerHour'),
    { k: 'opt', bit: 0, f: { k: 'enum', n: 'tbrType', t: TBR_TYPE } },
    { k: 'opt', bit: 0, f: insulin('tbrAdjustmentMilli') },
    { k: 'opt', bit: 0, f: u16('tbrDurationProgrammedMinutes') },
    { k: 'opt', bit: 0, f: u16('tbrDurationRemainingMinutes') },
    { k: 'opt', bit: 1, requires: 0, f: { k: 'u8', n: 'tbrTemplateNumber' } },
    { k: 'opt', bit: 2, f: { k: 'enum', n: 'basalDeliveryContext', t: DELIVERY_CONTEXT } },
  ]),
  op('getTotalDailyInsulinStatusResponse', [insulin('bolusMilliUnits'), insulin('basalMilliUnits'), insulin('totalMilliUnits')]),
  op('getCounterResponse', [
    { k: 'enum', n: 'counterType', t: COUNTER_TYPE },
    { k: 'enum', n: 'valueSelection', t: COUNTER_VALUE_SELECTION },
    { k: 's32', n: 'valueMinutes' },
  ]),
  op('getDeliveredInsulinResponse', [
    { k: 'float', n: 'bolusMilliUnits', exp: DELIVERED_EXP },
    { k: 'float', n: 'basalMilliUnits', exp: DELIVERED_EXP },
  ]),
  op('getInsulinOnBoardResponse', [
    { k: 'flags', bits: {} },
    { k: 'sfloat', n: 'insulinOnBoardMilliUnits', exp: AMOUNT_EXP },
    { k: 'opt', bit: 0, f: u16('remainingDurationMinutes') },
  ]),
];

/**
 * SRCP op codes that are not a message here. Table 4.14 prohibits 0x0000–0x0302, 0x03FD–0x0504, 0x0F3D–0x0F54 and
 * the CCP's 0x0F55–0x1B7D; above 0x1B7D nothing is assigned to the SRCP either, so it is treated as prohibited too.
 * Codewords 0x0505–0x0F3C are RFU → "Op Code not supported".
 */
function unknownSrcpOp(op: number, what: string): IdsFailure {
  if (!isHammingCode(op)) return fail('prohibited', `${what} ${hex4(op)} is not a Hamming code`);
  if (op < SRCP_OP_RANGE.min || op > SRCP_OP_RANGE.max || (op >= 0x03fd && op <= 0x0504)) return fail('prohibited', `${what} ${hex4(op)} is outside the SRCP range`);
  return fail('opcode', `${what} ${hex4(op)} is RFU or of the other direction`);
}

const REQUEST_SET: OpSet = { what: 'SRCP request', defs: defsByOp(REQUESTS), unknown: (o) => unknownSrcpOp(o, 'SRCP request'), hints: { opcode: 0x70, operand: 0x71 } };
const RESPONSE_SET: OpSet = { what: 'SRCP response', defs: defsByOp(RESPONSES), unknown: (o) => unknownSrcpOp(o, 'SRCP response') };
const REQUEST_BY_NAME = defsByName(REQUESTS);
const RESPONSE_BY_NAME = defsByName(RESPONSES);

/** The layouts as data (for generated tests and docs); not re-exported by index.ts. */
export const SRCP_LAYOUTS = { requests: REQUESTS, responses: RESPONSES } as const;

export const SRCP_REQUEST_OPS: readonly SrcpRequest['op'][] = REQUESTS.map((d) => d.name as SrcpRequest['op']);
export const SRCP_RESPONSE_OPS: readonly SrcpResponse['op'][] = RESPONSES.map((d) => d.name as SrcpResponse['op']);

/** An SRCP write (E2E fields when `e2eCounter` is given). Throws RangeError on a bad value. */
export const encodeSrcpRequest = (m: SrcpRequest, e2eCounter?: number): Uint8Array => encodeOp16(defNamed(REQUEST_BY_NAME, m.op), m as unknown as Value, e2eCounter);

/**
 * Decode an SRCP write. Reset Status flags keep only bits 0–7 (RFU bits are read as 0, §1.3). Failures carry
 * `opCode` and, when answerable, `responseCode` 0x70 / 0x71.
 */
export const decodeSrcpRequest = (bytes: Uint8Array, framing?: Framing): IdsResult<SrcpRequest> => decodeOp16<SrcpRequest>(bytes, framing, REQUEST_SET);

export const encodeSrcpResponse = (m: SrcpResponse, e2eCounter?: number): Uint8Array => encodeOp16(defNamed(RESPONSE_BY_NAME, m.op), m as unknown as Value, e2eCounter);
export const decodeSrcpResponse = (bytes: Uint8Array, framing?: Framing): IdsResult<SrcpResponse> => decodeOp16<SrcpResponse>(bytes, framing, RESPONSE_SET);

/** The generic SRCP Response Code indication for a request op code. */
export const srcpResponseCode = (requestOpCode: number, responseCode: SrcpResponseCode): SrcpResponse => ({ op: 'responseCode', requestOpCode, responseCode });
