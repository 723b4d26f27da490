// IDD History Data 0x2B28 records: Event Type u16, Sequence Number u32, Relative Offset u16, Event Data, and the
// E2E-CRC without counter (ids.md §4; IDS v1.0.2 §4.9, §3.10). Not the journal or the RACP queries over it.

import { encodeFields, Reader, runDecode, Writer, type DateTime, type Field, type MessageDef, type Value } from './codec.ts';
import { checkCrc, withCrc } from './e2e.ts';
import {
  ANNUNCIATION_STATUS,
  BOLUS_ACTIVATION_TYPE,
  BOLUS_END_REASON,
  BOLUS_TYPE,
  decodeEnum,
  DELIVERY_CONTEXT,
  HISTORY_EVENT_TYPE,
  isManufacturerCode,
  OPERATIONAL_STATE,
  PRIMING_TERMINATION_REASON,
  PROFILE_TEMPLATE_TYPE,
  RECORDING_REASON,
  TBR_END_REASON,
  TBR_TYPE,
  THERAPY_CONTROL_STATE,
  type AnnunciationStatusValue,
  type BolusActivationType,
  type BolusEndReason,
  type BolusType,
  type DeliveryContext,
  type HistoryEventTypeName,
  type OperationalState,
  type PrimingTerminationReason,
  type ProfileTemplateType,
  type RecordingReason,
  type TbrEndReason,
  type TbrType,
  type TherapyControlState,
} from './enums.ts';
import { fail, hex4, ok, type IdsResult } from './result.ts';

export type { DateTime };

/** Sequence Number of a Data Corruption event (§3.10.2). */
export const DATA_CORRUPTION_SEQUENCE_NUMBER = 0xffffffff;
/** Event Data is 0–10 octets (§4.9). */
export const MAX_EVENT_DATA_BYTES = 10;

interface BolusAmounts {
  readonly fastMealMilliUnits: number;
  readonly fastCorrectionMilliUnits: number;
  readonly extendedMealMilliUnits: number;
  readonly extendedCorrectionMilliUnits: number;
}
interface TimeBlock {
  readonly templateNumber: number;
  readonly timeBlockNumber: number;
  readonly durationMinutes: number;
}

/** Event Data by event type (ids.md §4 table; §4.9.4). Amounts in 0.001 IU (IU/h, relative factor, mg/dL, g). */
export type HistoryEvent =
  | { readonly type: 'referenceTime'; readonly recordingReason: RecordingReason; readonly dateTime: DateTime; readonly timeZone: number; readonly dstOffset: number }
  | { readonly type: 'referenceTimeBaseOffset'; readonly recordingReason: RecordingReason; readonly baseTime: DateTime; readonly timeOffsetMinutes: number }
  | ({ readonly type: 'bolusCalculatedPart1' } & BolusAmounts)
  | ({ readonly type: 'bolusCalculatedPart2' } & BolusAmounts)
  | {
      readonly type: 'bolusProgrammedPart1';
      readonly bolusId: number;
      readonly bolusType: BolusType;
      readonly fastAmountMilliUnits: number;
      readonly extendedAmountMilliUnits: number;
      readonly durationMinutes: number;
    }
  | {
      readonly type: 'bolusProgrammedPart2';
      readonly reasonCorrection: boolean;
      readonly reasonMeal: boolean;
      readonly delayMinutes?: number;
      readonly templateNumber?: number;
      readonly activationType?: BolusActivationType;
    }
  | {
      readonly type: 'bolusDeliveredPart1';
      readonly bolusId: number;
      readonly bolusType: BolusType;
      readonly deliveredFastMilliUnits: number;
      readonly deliveredExtendedMilliUnits: number;
      readonly effectiveDurationMinutes: number;
    }
  | {
      readonly type: 'bolusDeliveredPart2';
      /** From the Bolus Programmed 1/2 record with the same Bolus ID (§4.9.4.8.2). */
      readonly bolusStartTimeOffsetSeconds: number;
      readonly activationType?: BolusActivationType;
      readonly endReason?: BolusEndReason;
      readonly annunciationInstanceId?: number;
    }
  | {
      readonly type: 'deliveredBasalRateChanged';
      readonly oldRateMilliUnitsPerHour: number;
      readonly newRateMilliUnitsPerHour: number;
      readonly deliveryContext?: DeliveryContext;
    }
  | {
      readonly type: 'tbrAdjustmentStarted';
      readonly tbrType: TbrType;
      readonly adjustmentMilli: number;
      readonly durationProgrammedMinutes: number;
      readonly templateNumber?: number;
    }
  | {
      readonly type: 'tbrAdjustmentEnded';
      readonly lastSetTbrType: TbrType;
      readonly effectiveDurationMinutes: number;
      readonly endReason: TbrEndReason;
      readonly lastSetTemplateNumber?: number;
      readonly annunciationInstanceId?: number;
    }
  | {
      readonly type: 'tbrAdjustmentChanged';
      readonly tbrType: TbrType;
      readonly adjustmentMilli: number;
      readonly durationProgrammedMinutes: number;
      readonly elapsedSinceLastChangeMinutes: number;
      readonly templateNumber?: number;
    }
  | {
      readonly type: 'profileTemplateActivated';
      readonly profileTemplateType: ProfileTemplateType;
      /** 0 = none before. */
      readonly oldTemplateNumber: number;
      readonly newTemplateNumber: number;
    }
  | ({ readonly type: 'basalRateProfileTemplateTimeBlockChanged'; readonly rateMilliUnitsPerHour: number } & TimeBlock)
  | {
      readonly type: 'totalDailyInsulinDelivery';
      readonly dateTimeChangedWarning: boolean;
      readonly sumBolusMilliUnits: number;
      readonly sumBasalMilliUnits: number;
      readonly year: number;
      readonly month: number;
      readonly day: number;
    }
  | { readonly type: 'therapyControlStateChanged'; readonly oldState: TherapyControlState; readonly newState: TherapyControlState }
  | { readonly type: 'operationalStateChanged'; readonly oldState: OperationalState; readonly newState: OperationalState }
  /** null = NaN (no reservoir). */
  | { readonly type: 'reservoirRemainingAmountChanged'; readonly amountMilliUnits: number | null }
  | {
      readonly type: 'annunciationStatusChangedPart1';
      readonly instanceId: number;
      readonly annunciationType: number;
      readonly status: AnnunciationStatusValue;
      readonly auxInfo1?: Uint8Array;
      readonly auxInfo2?: Uint8Array;
    }
  | { readonly type: 'annunciationStatusChangedPart2'; readonly auxInfo3?: Uint8Array; readonly auxInfo4?: Uint8Array; readonly auxInfo5?: Uint8Array }
  | ({ readonly type: 'isfProfileTemplateTimeBlockChanged'; readonly valueMilli: number } & TimeBlock)
  | ({ readonly type: 'i2choRatioProfileTemplateTimeBlockChanged'; readonly valueMilli: number } & TimeBlock)
  | ({ readonly type: 'targetGlucoseRangeProfileTemplateTimeBlockChanged'; readonly lowerMilli: number; readonly upperMilli: number } & TimeBlock)
  | { readonly type: 'primingStarted'; readonly programmedAmountMilliUnits: number }
  | {
      readonly type: 'primingDone';
      readonly deliveredAmountMilliUnits: number;
      readonly terminationReason: PrimingTerminationReason;
      readonly annunciationInstanceId?: number;
    }
  /** Its record's Sequence Number is 0xFFFFFFFF (§3.10.2). */
  | { readonly type: 'dataCorruption' }
  | { readonly type: 'pointerEvent' }
  | {
      readonly type: 'bolusTemplateChangedPart1';
      readonly templateNumber: number;
      readonly bolusType: BolusType;
      readonly fastAmountMilliUnits: number;
      readonly extendedAmountMilliUnits: number;
      readonly durationMinutes: number;
    }
  | { readonly type: 'bolusTemplateChangedPart2'; readonly reasonCorrection: boolean; readonly reasonMeal: boolean; readonly delayMinutes?: number }
  | { readonly type: 'tbrTemplateChanged'; readonly templateNumber: number; readonly tbrType: TbrType; readonly adjustmentMilli: number; readonly durationMinutes: number }
  | { readonly type: 'maxBolusAmountChanged'; readonly oldMaxBolusMilliUnits: number; readonly newMaxBolusMilliUnits: number }
  /** A manufacturer event 0xF000–0xFFF0 (Hamming codes only) with vendor data. */
  | { readonly type: 'manufacturer'; readonly eventType: number; readonly data: Uint8Array };

export interface HistoryRecord {
  readonly sequenceNumber: number;
  /** Seconds since the last Reference Time (Base Offset) event (§3.10.4.3). */
  readonly relativeOffsetSeconds: number;
  readonly event: HistoryEvent;
}

// ─── layouts ───────────────────────────────────────────────────────────────────────────────

const AMOUNT_EXP = -1;
const GLUCOSE_EXP = 0;
const u8 = (n: string): Field => ({ k: 'u8', n });
const u16 = (n: string): Field => ({ k: 'u16', n });
const insulin = (n: string): Field => ({ k: 'sfloat', n, exp: AMOUNT_EXP, unsigned: true });
const glucose = (n: string): Field => ({ k: 'sfloat', n, exp: GLUCOSE_EXP, unsigned: true });
const aux = (bit: number, i: number): Field => ({ k: 'opt', bit, f: { k: 'bytes', n: `auxInfo${i}`, len: 2 } });
const timeBlock: readonly Field[] = [u8('templateNumber'), u8('timeBlockNumber'), u16('durationMinutes')];
const bolusAmounts: readonly Field[] = [
  insulin('fastMealMilliUnits'),
  insulin('fastCorrectionMilliUnits'),
  insulin('extendedMealMilliUnits'),
  insulin('extendedCorrectionMilliUnits'),
];

/** The Event Data layouts as data (for generated tests and docs); not re-exported by index.ts. */
export const EVENT_FIELDS: { readonly [K in HistoryEventTypeName]: readonly Field[] } = {
  referenceTime: [
    { k: 'enum', n: 'recordingReason', t: RECORDING_REASON },
    { k: 'dateTime', n: 'dateTime' },
    // Time Zone (GSS §3.255): −48..+56 quarter hours, −128 unknown; DST Offset (GSS §3.86).
    { k: 's8', n: 'timeZone', allowed: [-128, ...Array.from({ length: 105 }, (_, i) => i - 48)] },
    { k: 'u8', n: 'dstOffset', allowed: [0, 2, 4, 8, 255] },
  ],
  referenceTimeBaseOffset: [{ k: 'enum', n: 'recordingReason', t: RECORDING_REASON }, { k: 'dateTime', n: 'baseTime' }, { k: 's16', n: 'timeOffsetMinutes' }],
  bolusCalculatedPart1: bolusAmounts,
  bolusCalculatedPart2: bolusAmounts,
  bolusProgrammedPart1: [u16('bolusId'), { k: 'enum', n: 'bolusType', t: BOLUS_TYPE }, insulin('fastAmountMilliUnits'), insulin('extendedAmountMilliUnits'), u16('durationMinutes')],
  bolusProgrammedPart2: [
    { k: 'flags', bits: { reasonCorrection: 3, reasonMeal: 4 } },
    { k: 'opt', bit: 0, f: u16('delayMinutes') },
    { k: 'opt', bit: 1, f: u8('templateNumber') },
    { k: 'opt', bit: 2, f: { k: 'enum', n: 'activationType', t: BOLUS_ACTIVATION_TYPE } },
  ],
  bolusDeliveredPart1: [
    u16('bolusId'),
    { k: 'enum', n: 'bolusType', t: BOLUS_TYPE },
    insulin('deliveredFastMilliUnits'),
    insulin('deliveredExtendedMilliUnits'),
    u16('effectiveDurationMinutes'),
  ],
  bolusDeliveredPart2: [
    { k: 'flags', bits: {} },
    { k: 'u32', n: 'bolusStartTimeOffsetSeconds' },
    { k: 'opt', bit: 0, f: { k: 'enum', n: 'activationType', t: BOLUS_ACTIVATION_TYPE } },
    { k: 'opt', bit: 1, f: { k: 'enum', n: 'endReason', t: BOLUS_END_REASON } },
    { k: 'opt', bit: 2, f: u16('annunciationInstanceId') },
  ],
  // App. D.4 calls flag bit 0 "Sum Of Basal Delivered and Basal Delivery Context Present"; Table 4.109 (followed
  // here) calls it Basal Delivery Context Present, and no sum field is laid out (ids.md §10).
  deliveredBasalRateChanged: [
    { k: 'flags', bits: {} },
    insulin('oldRateMilliUnitsPerHour'),
    insulin('newRateMilliUnitsPerHour'),
    { k: 'opt', bit: 0, f: { k: 'enum', n: 'deliveryContext', t: DELIVERY_CONTEXT } },
  ],
  tbrAdjustmentStarted: [
    { k: 'flags', bits: {} },
    { k: 'enum', n: 'tbrType', t: TBR_TYPE },
    insulin('adjustmentMilli'),
    u16('durationProgrammedMinutes'),
    { k: 'opt', bit: 0, f: u8('templateNumber') },
  ],
  tbrAdjustmentEnded: [
    { k: 'flags', bits: {} },
    { k: 'enum', n: 'lastSetTbrType', t: TBR_TYPE },
    u16('effectiveDurationMinutes'),
    { k: 'enum', n: 'endReason', t: TBR_END_REASON },
    { k: 'opt', bit: 0, f: u8('lastSetTemplateNumber') },
    { k: 'opt', bit: 1, f: u16('annunciationInstanceId') },
  ],
  tbrAdjustmentChanged: [
    { k: 'flags', bits: {} },
    { k: 'enum', n: 'tbrType', t: TBR_TYPE },
    insulin('adjustmentMilli'),
    u16('durationProgrammedMinutes'),
    u16('elapsedSinceLastChangeMinutes'),
    { k: 'opt', bit: 0, f: u8('templateNumber') },
  ],
  profileTemplateActivated: [{ k: 'enum', n: 'profileTemplateType', t: PROFILE_TEMPLATE_TYPE }, u8('oldTemplateNumber'), u8('newTemplateNumber')],
  basalRateProfileTemplateTimeBlockChanged: [...timeBlock, insulin('rateMilliUnitsPerHour')],
  totalDailyInsulinDelivery: [
    { k: 'flags', bits: { dateTimeChangedWarning: 0 } },
    insulin('sumBolusMilliUnits'),
    insulin('sumBasalMilliUnits'),
    u16('year'),
    { k: 'u8', n: 'month', max: 12 },
    { k: 'u8', n: 'day', max: 31 },
  ],
  therapyControlStateChanged: [
    { k: 'enum', n: 'oldState', t: THERAPY_CONTROL_STATE },
    { k: 'enum', n: 'newState', t: THERAPY_CONTROL_STATE },
  ],
  operationalStateChanged: [
    { k: 'enum', n: 'oldState', t: OPERATIONAL_STATE },
    { k: 'enum', n: 'newState', t: OPERATIONAL_STATE },
  ],
  reservoirRemainingAmountChanged: [{ k: 'sfloat', n: 'amountMilliUnits', exp: 0, nan: true, unsigned: true }],
  annunciationStatusChangedPart1: [
    { k: 'flags', bits: {} },
    u16('instanceId'),
    { k: 'annunciationType', n: 'annunciationType' },
    { k: 'enum', n: 'status', t: ANNUNCIATION_STATUS },
    aux(0, 1),
    aux(1, 2),
  ],
  annunciationStatusChangedPart2: [{ k: 'flags', bits: {} }, aux(0, 3), aux(1, 4), aux(2, 5)],
  isfProfileTemplateTimeBlockChanged: [...timeBlock, glucose('valueMilli')],
  i2choRatioProfileTemplateTimeBlockChanged: [...timeBlock, glucose('valueMilli')],
  targetGlucoseRangeProfileTemplateTimeBlockChanged: [...timeBlock, glucose('lowerMilli'), glucose('upperMilli')],
  primingStarted: [insulin('programmedAmountMilliUnits')],
  primingDone: [
    { k: 'flags', bits: {} },
    insulin('deliveredAmountMilliUnits'),
    { k: 'enum', n: 'terminationReason', t: PRIMING_TERMINATION_REASON },
    { k: 'opt', bit: 0, f: u16('annunciationInstanceId') },
  ],
  dataCorruption: [],
  pointerEvent: [],
  bolusTemplateChangedPart1: [u8('templateNumber'), { k: 'enum', n: 'bolusType', t: BOLUS_TYPE }, insulin('fastAmountMilliUnits'), insulin('extendedAmountMilliUnits'), u16('durationMinutes')],
  bolusTemplateChangedPart2: [{ k: 'flags', bits: { reasonCorrection: 1, reasonMeal: 2 } }, { k: 'opt', bit: 0, f: u16('delayMinutes') }],
  tbrTemplateChanged: [u8('templateNumber'), { k: 'enum', n: 'tbrType', t: TBR_TYPE }, insulin('adjustmentMilli'), u16('durationMinutes')],
  maxBolusAmountChanged: [insulin('oldMaxBolusMilliUnits'), insulin('newMaxBolusMilliUnits')],
};

const EVENT_DEFS = new Map<number, MessageDef>(
  (Object.keys(EVENT_FIELDS) as HistoryEventTypeName[]).map((name) => [HISTORY_EVENT_TYPE.codes[name], { name, op: HISTORY_EVENT_TYPE.codes[name], fields: EVENT_FIELDS[name] }]),
);
const MANUFACTURER_DEF: MessageDef = { name: 'manufacturer', op: 0, fields: [{ k: 'rest', n: 'data', max: MAX_EVENT_DATA_BYTES }] };

/** Every event type name this codec encodes (for tests and docs). */
export const HISTORY_EVENT_TYPES: readonly HistoryEventTypeName[] = Object.keys(EVENT_FIELDS) as HistoryEventTypeName[];

// ─── public API ────────────────────────────────────────────────────────────────────────────

/** A History Data value; with `crc` the E2E-CRC (no counter) is appended (§3.10.4.5). Throws RangeError on a bad value. */
export function encodeHistoryRecord(rec: HistoryRecord, crc: boolean): Uint8Array {
  const ev = rec.event;
  const w = new Writer();
  let def: MessageDef;
  if (ev.type === 'manufacturer') {
    if (!isManufacturerCode(ev.eventType)) throw new RangeError(`${hex4(ev.eventType)} is not a manufacturer event type`);
    w.u16(ev.eventType, 'event type');
    def = MANUFACTURER_DEF;
  } else {
    const code = HISTORY_EVENT_TYPE.codes[ev.type];
    if (code === undefined) throw new RangeError(`${String(ev.type)} is not a history event type`);
    w.u16(code, 'event type');
    def = EVENT_DEFS.get(code)!;
  }
  if (ev.type === 'dataCorruption' && rec.sequenceNumber !== DATA_CORRUPTION_SEQUENCE_NUMBER) throw new RangeError('a Data Corruption record has Sequence Number 0xFFFFFFFF');
  w.u32(rec.sequenceNumber, 'sequence number');
  w.u16(rec.relativeOffsetSeconds, 'relative offset');
  const before = w.length;
  encodeFields(w, def, ev as unknown as Value);
  if (w.length - before > MAX_EVENT_DATA_BYTES) throw new RangeError(`event data of ${w.length - before} octets exceeds ${MAX_EVENT_DATA_BYTES}`);
  const body = w.finish();
  return crc ? withCrc(body) : body;
}

/** Decode a History Data value; with `crc` its last two octets are the E2E-CRC. Never throws. */
export function decodeHistoryRecord(bytes: Uint8Array, crc: boolean): IdsResult<HistoryRecord> {
  let body = bytes;
  if (crc) {
    const c = checkCrc(bytes);
    if (!c.ok) return c;
    body = c.value;
  }
  if (!(body instanceof Uint8Array) || body.length < 8) return fail('length', 'History Data is at least 8 octets before the CRC');
  const r = new Reader(body);
  const eventType = r.u16('event type');
  const sequenceNumber = r.u32('sequence number');
  const relativeOffsetSeconds = r.u16('relative offset');
  let def: MessageDef;
  let out: Value;
  if (isManufacturerCode(eventType)) {
    def = MANUFACTURER_DEF;
    out = { type: 'manufacturer', eventType };
  } else {
    const known = EVENT_DEFS.get(eventType);
    if (known === undefined) {
      const d = decodeEnum(HISTORY_EVENT_TYPE, eventType);
      return d.ok ? fail('operand', `event type ${hex4(eventType)}`) : d;
    }
    def = known;
    out = { type: known.name };
  }
  if (def.name === 'dataCorruption' && sequenceNumber !== DATA_CORRUPTION_SEQUENCE_NUMBER) {
    return fail('operand', 'a Data Corruption record has Sequence Number 0xFFFFFFFF');
  }
  if (body.length - 8 > MAX_EVENT_DATA_BYTES) return fail('length', `event data longer than ${MAX_EVENT_DATA_BYTES} octets`);
  const ev = runDecode<HistoryEvent>(def, r, out, undefined);
  if (!ev.ok) return ev;
  return ok({ sequenceNumber, relativeOffsetSeconds, event: ev.value });
}
