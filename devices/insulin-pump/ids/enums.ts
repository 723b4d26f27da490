// Every IDS enumeration and op-code set with its Hamming-distance codes (ids.md §5; IDS v1.0.2 §5 Table 5.1),
// flag bits, UUIDs, and decodeEnum. Not the message layouts (command-cp.ts, status.ts, …) nor procedure rules.

import { fail, hex2, hex4, ok, type IdsResult } from './result.ts';

// ─── Hamming scheme (§5) ───────────────────────────────────────────────────────────────────

const HAMMING_MASKS = [0x00ff, 0x0f0f, 0x3333, 0x5555, 0x9669] as const;

function evenParity(v: number): boolean {
  let p = 0;
  for (let x = v; x !== 0; x >>>= 1) p ^= x & 1;
  return p === 0;
}

/**
 * Whether `v` is a codeword of IDS's distance-4 code: v ≠ 0 and v & m has even parity for every mask (ids.md §5,
 * checked there against the greedy construction of Table 5.1). The 8-bit codewords are the ones below 0x100.
 */
export function isHammingCode(v: number): boolean {
  return Number.isInteger(v) && v > 0 && v <= 0xffff && HAMMING_MASKS.every((m) => evenParity(v & m));
}

// ─── tables ────────────────────────────────────────────────────────────────────────────────

export interface EnumTable<N extends string = string> {
  readonly name: string;
  readonly bits: 8 | 16;
  /** Hamming tables: a non-codeword is Prohibited, an unlisted codeword RFU (§1.3.2–1.3.3). */
  readonly hamming: boolean;
  readonly codes: Readonly<Record<N, number>>;
  readonly byCode: ReadonlyMap<number, N>;
}

function table<const C extends Record<string, number>>(name: string, bits: 8 | 16, hamming: boolean, codes: C): EnumTable<keyof C & string> {
  const byCode = new Map<number, keyof C & string>();
  for (const [k, v] of Object.entries(codes)) {
    if (hamming && !isHammingCode(v)) throw new Error(`${name}.${k} = ${v} is not a Hamming code`);
    byCode.set(v, k as keyof C & string);
  }
  return { name, bits, hamming, codes, byCode };
}

export type EnumName<T> = T extends EnumTable<infer N> ? N : never;

/**
 * Decode an enumeration value. Listed → its name. Otherwise, in a Hamming table a non-codeword is
 * 'prohibited' (the message is ignored) and an unlisted codeword is RFU → 'operand' ("Invalid Operand",
 * §3.11.4). In a plain table (the Response Code Values, which are not Hamming codes) every unlisted value is
 * 'prohibited'. Never throws.
 */
export function decodeEnum<N extends string>(t: EnumTable<N>, value: number): IdsResult<N> {
  const name = t.byCode.get(value);
  if (name !== undefined) return ok(name);
  const shown = t.bits === 8 ? hex2(value) : hex4(value);
  if (t.hamming && isHammingCode(value)) return fail('operand', `${t.name} ${shown} is RFU`);
  return fail('prohibited', `${t.name} ${shown} is prohibited`);
}

/** The code of a name (our own values: a wrong name is a programming mistake → RangeError). */
export function encodeEnum<N extends string>(t: EnumTable<N>, name: N): number {
  const v = (t.codes as Record<string, number | undefined>)[name];
  if (v === undefined || !Object.prototype.hasOwnProperty.call(t.codes, name)) throw new RangeError(`${String(name)} is not a ${t.name}`);
  return v;
}

/** Therapy Control State (§4.2.1.1). */
export const THERAPY_CONTROL_STATE = table('Therapy Control State', 8, true, { undetermined: 0x0f, stop: 0x33, pause: 0x3c, run: 0x55 });
export type TherapyControlState = EnumName<typeof THERAPY_CONTROL_STATE>;

/** Operational State (§4.2.2.1). */
export const OPERATIONAL_STATE = table('Operational State', 8, true, {
  undetermined: 0x0f,
  off: 0x33,
  standby: 0x3c,
  preparing: 0x55,
  priming: 0x5a,
  waiting: 0x66,
  ready: 0x96,
});
export type OperationalState = EnumName<typeof OPERATIONAL_STATE>;

/** Annunciation Status (§4.3.5). */
export const ANNUNCIATION_STATUS = table('Annunciation Status', 8, true, { undetermined: 0x0f, pending: 0x33, snoozed: 0x3c, confirmed: 0x55 });
export type AnnunciationStatusValue = EnumName<typeof ANNUNCIATION_STATUS>;

/** Annunciation Type, u16 (§4.3.3.1). 0xF000–0xFFF0 codewords are manufacturer types (decodeAnnunciationType). */
export const ANNUNCIATION_TYPE = table('Annunciation Type', 16, true, {
  systemIssue: 0x000f,
  mechanicalIssue: 0x0033,
  occlusionDetected: 0x003c,
  reservoirIssue: 0x0055,
  reservoirEmpty: 0x005a,
  reservoirLow: 0x0066,
  primingIssue: 0x0069,
  infusionSetIncomplete: 0x0096,
  infusionSetDetached: 0x0099,
  powerSourceInsufficient: 0x00a5,
  batteryEmpty: 0x00aa,
  batteryLow: 0x00c3,
  batteryMedium: 0x00cc,
  batteryFull: 0x00f0,
  temperatureOutOfRange: 0x00ff,
  airPressureOutOfRange: 0x0303,
  bolusCanceled: 0x030c,
  tbrOver: 0x0330,
  tbrCanceled: 0x033f,
  maxDelivery: 0x0356,
  dateTimeIssue: 0x0359,
  temperature: 0x0365,
});
export type AnnunciationTypeName = EnumName<typeof ANNUNCIATION_TYPE>;

export const MANUFACTURER_RANGE_MIN = 0xf000;
export const MANUFACTURER_RANGE_MAX = 0xfff0;
export const isManufacturerCode = (v: number): boolean => v >= MANUFACTURER_RANGE_MIN && v <= MANUFACTURER_RANGE_MAX && isHammingCode(v);

/** An Annunciation Type as its u16 code: a listed one or a manufacturer codeword (§4.3.3.1). */
export function decodeAnnunciationType(v: number): IdsResult<number> {
  if (ANNUNCIATION_TYPE.byCode.has(v) || isManufacturerCode(v)) return ok(v);
  return decodeEnum(ANNUNCIATION_TYPE, v) as IdsResult<never>;
}

/** Bolus Type (§4.5.2.6.3). */
export const BOLUS_TYPE = table('Bolus Type', 8, true, { undetermined: 0x0f, fast: 0x33, extended: 0x3c, multiwave: 0x55 });
export type BolusType = EnumName<typeof BOLUS_TYPE>;

/** Bolus Value Selection (§4.5.2.5.2). */
export const BOLUS_VALUE_SELECTION = table('Bolus Value Selection', 8, true, { programmed: 0x0f, remaining: 0x33, delivered: 0x3c });
export type BolusValueSelection = EnumName<typeof BOLUS_VALUE_SELECTION>;

/** Bolus Activation Type (§4.6.2.18.3). */
export const BOLUS_ACTIVATION_TYPE = table('Bolus Activation Type', 8, true, {
  undetermined: 0x0f,
  manual: 0x33,
  recommended: 0x3c,
  manuallyChangedRecommended: 0x55,
  commanded: 0x5a,
});
export type BolusActivationType = EnumName<typeof BOLUS_ACTIVATION_TYPE>;

/** TBR Type (§4.5.2.8.2). */
export const TBR_TYPE = table('TBR Type', 8, true, { undetermined: 0x0f, absolute: 0x33, relative: 0x3c });
export type TbrType = EnumName<typeof TBR_TYPE>;

/** Basal / TBR Delivery Context (§4.5.2.8.3, §4.6.2.12.4). */
export const DELIVERY_CONTEXT = table('Delivery Context', 8, true, { undetermined: 0x0f, deviceBased: 0x33, remoteControl: 0x3c, apController: 0x55 });
export type DeliveryContext = EnumName<typeof DELIVERY_CONTEXT>;

/** Counter Type (§4.5.2.11.1). */
export const COUNTER_TYPE = table('Counter Type', 8, true, { iddLifetime: 0x0f, warrantyTime: 0x33, loanerTime: 0x3c, reservoirInsulinOperationTime: 0x55 });
export type CounterType = EnumName<typeof COUNTER_TYPE>;

/** Counter Value Selection (§4.5.2.11.2). */
export const COUNTER_VALUE_SELECTION = table('Counter Value Selection', 8, true, { remaining: 0x0f, elapsed: 0x33 });
export type CounterValueSelection = EnumName<typeof COUNTER_VALUE_SELECTION>;

/** Template Type of Get Template Status and Details (§3.8.1.8.1). */
export const TEMPLATE_TYPE = table('Template Type', 8, true, {
  undetermined: 0x0f,
  basalRateProfile: 0x33,
  tbr: 0x3c,
  bolus: 0x55,
  isfProfile: 0x5a,
  i2choRatioProfile: 0x66,
  targetGlucoseRangeProfile: 0x96,
});
export type TemplateType = EnumName<typeof TEMPLATE_TYPE>;

/** Profile Template Type of history event 0x00CC (§4.9.4.13.1): other codes than TEMPLATE_TYPE for the same names. */
export const PROFILE_TEMPLATE_TYPE = table('Profile Template Type', 8, true, {
  undetermined: 0x0f,
  basalRate: 0x33,
  isf: 0x3c,
  i2choRatio: 0x55,
  targetGlucoseRange: 0x5a,
});
export type ProfileTemplateType = EnumName<typeof PROFILE_TEMPLATE_TYPE>;

/** Recording Reason (§4.9.4.1.2, §4.9.4.2.2). */
export const RECORDING_REASON = table('Recording Reason', 8, true, { undetermined: 0x0f, setDateTime: 0x33, periodicRecording: 0x3c, dateTimeLoss: 0x55 });
export type RecordingReason = EnumName<typeof RECORDING_REASON>;

/** Bolus End Reason (§4.9.4.8.4). */
export const BOLUS_END_REASON = table('Bolus End Reason', 8, true, { undetermined: 0x0f, programmedAmountDelivered: 0x33, canceled: 0x3c, errorAbort: 0x55 });
export type BolusEndReason = EnumName<typeof BOLUS_END_REASON>;

/** TBR End Reason (§4.9.4.11.4). */
export const TBR_END_REASON = table('TBR End Reason', 8, true, { undetermined: 0x0f, programmedDurationOver: 0x33, canceled: 0x3c, errorAbort: 0x55 });
export type TbrEndReason = EnumName<typeof TBR_END_REASON>;

/** Priming Reason of Termination (§4.9.4.25.4). */
export const PRIMING_TERMINATION_REASON = table('Priming Reason of Termination', 8, true, {
  undetermined: 0x0f,
  abortedByUser: 0x33,
  programmedAmountReached: 0x3c,
  errorAbort: 0x55,
});
export type PrimingTerminationReason = EnumName<typeof PRIMING_TERMINATION_REASON>;

/** Temperature AuxInfo2 Context (§3.4.1.6.4). */
export const TEMPERATURE_CONTEXT = table('Temperature Context', 8, true, { genericDevice: 0x0f, insulin: 0x33 });
export type TemperatureContext = EnumName<typeof TEMPERATURE_CONTEXT>;

// ─── op codes ──────────────────────────────────────────────────────────────────────────────

/** Status Reader Control Point op codes, requests and responses (§4.5 Table 4.14). */
export const SRCP_OP = table('SRCP Op Code', 16, true, {
  responseCode: 0x0303,
  resetStatus: 0x030c,
  getActiveBolusIds: 0x0330,
  getActiveBolusIdsResponse: 0x033f,
  getActiveBolusDelivery: 0x0356,
  getActiveBolusDeliveryResponse: 0x0359,
  getActiveBasalRateDelivery: 0x0365,
  getActiveBasalRateDeliveryResponse: 0x036a,
  getTotalDailyInsulinStatus: 0x0395,
  getTotalDailyInsulinStatusResponse: 0x039a,
  getCounter: 0x03a6,
  getCounterResponse: 0x03a9,
  getDeliveredInsulin: 0x03c0,
  getDeliveredInsulinResponse: 0x03cf,
  getInsulinOnBoard: 0x03f3,
  getInsulinOnBoardResponse: 0x03fc,
});
export type SrcpOpName = EnumName<typeof SRCP_OP>;
export const SRCP_OP_RANGE = { min: 0x0303, max: 0x0f3c } as const;

/** Command Control Point and Command Data op codes (§4.6 Table 4.36, §4.7). */
export const CCP_OP = table('CCP Op Code', 16, true, {
  responseCode: 0x0f55,
  setTherapyControlState: 0x0f5a,
  setFlightMode: 0x0f66,
  snoozeAnnunciation: 0x0f69,
  snoozeAnnunciationResponse: 0x0f96,
  confirmAnnunciation: 0x0f99,
  confirmAnnunciationResponse: 0x0fa5,
  readBasalRateProfileTemplate: 0x0faa,
  readBasalRateProfileTemplateResponse: 0x0fc3,
  writeBasalRateProfileTemplate: 0x0fcc,
  writeBasalRateProfileTemplateResponse: 0x0ff0,
  setTbrAdjustment: 0x0fff,
  cancelTbrAdjustment: 0x1111,
  getTbrTemplate: 0x111e,
  getTbrTemplateResponse: 0x1122,
  setTbrTemplate: 0x112d,
  setTbrTemplateResponse: 0x1144,
  setBolus: 0x114b,
  setBolusResponse: 0x1177,
  cancelBolus: 0x1178,
  cancelBolusResponse: 0x1187,
  getAvailableBoluses: 0x1188,
  getAvailableBolusesResponse: 0x11b4,
  getBolusTemplate: 0x11bb,
  getBolusTemplateResponse: 0x11d2,
  setBolusTemplate: 0x11dd,
  setBolusTemplateResponse: 0x11e1,
  getTemplateStatusAndDetails: 0x11ee,
  getTemplateStatusAndDetailsResponse: 0x1212,
  resetTemplateStatus: 0x121d,
  resetTemplateStatusResponse: 0x1221,
  activateProfileTemplates: 0x122e,
  activateProfileTemplatesResponse: 0x1247,
  getActivatedProfileTemplates: 0x1248,
  getActivatedProfileTemplatesResponse: 0x1274,
  startPriming: 0x127b,
  stopPriming: 0x1284,
  setInitialReservoirFillLevel: 0x128b,
  resetReservoirInsulinOperationTime: 0x12b7,
  readIsfProfileTemplate: 0x12b8,
  readIsfProfileTemplateResponse: 0x12d1,
  writeIsfProfileTemplate: 0x12de,
  writeIsfProfileTemplateResponse: 0x12e2,
  readI2choRatioProfileTemplate: 0x12ed,
  readI2choRatioProfileTemplateResponse: 0x1414,
  writeI2choRatioProfileTemplate: 0x141b,
  writeI2choRatioProfileTemplateResponse: 0x1427,
  readTargetGlucoseRangeProfileTemplate: 0x1428,
  readTargetGlucoseRangeProfileTemplateResponse: 0x1441,
  writeTargetGlucoseRangeProfileTemplate: 0x144e,
  writeTargetGlucoseRangeProfileTemplateResponse: 0x1472,
  getMaxBolusAmount: 0x147d,
  getMaxBolusAmountResponse: 0x1482,
  setMaxBolusAmount: 0x148d,
});
export type CcpOpName = EnumName<typeof CCP_OP>;
export const CCP_OP_RANGE = { min: 0x0f55, max: 0x1b7d } as const;
/** Prohibited inside the CCP range (Table 4.36). */
export const CCP_PROHIBITED_RANGE = { min: 0x148e, max: 0x14b0 } as const;

/** Record Access Control Point op codes, u8 (§3.9 Table 3.25). */
export const RACP_OP = table('RACP Op Code', 8, true, {
  responseCode: 0x0f,
  reportStoredRecords: 0x33,
  deleteStoredRecords: 0x3c,
  abortOperation: 0x55,
  reportNumberOfStoredRecords: 0x5a,
  numberOfStoredRecordsResponse: 0x66,
});
export type RacpOpName = EnumName<typeof RACP_OP>;

/** RACP operators (Table 3.26). */
export const RACP_OPERATOR = table('RACP Operator', 8, true, {
  null: 0x0f,
  allRecords: 0x33,
  lessThanOrEqualTo: 0x3c,
  greaterThanOrEqualTo: 0x55,
  withinRangeOf: 0x5a,
  firstRecord: 0x66,
  lastRecord: 0x69,
});
export type RacpOperator = EnumName<typeof RACP_OPERATOR>;

/** RACP filter types (Table 3.24). */
export const RACP_FILTER_TYPE = table('RACP Filter Type', 8, true, {
  sequenceNumber: 0x0f,
  sequenceNumberReferenceTimeEvents: 0x33,
  sequenceNumberNonReferenceTimeEvents: 0x3c,
});
export type RacpFilterType = EnumName<typeof RACP_FILTER_TYPE>;

// ─── response codes (not Hamming codes: errors sit ≥ 4 bits from Success, §5) ─────────────

/** SRCP Response Code Values (Table 4.16). */
export const SRCP_RESPONSE_CODE = table('SRCP Response Code', 8, false, {
  success: 0x0f,
  opCodeNotSupported: 0x70,
  invalidOperand: 0x71,
  procedureNotCompleted: 0x72,
  parameterOutOfRange: 0x73,
  procedureNotApplicable: 0x74,
});
export type SrcpResponseCode = EnumName<typeof SRCP_RESPONSE_CODE>;

/** CCP Response Code Values (Table 4.38): the SRCP set plus 0x75 and 0x76. */
export const CCP_RESPONSE_CODE = table('CCP Response Code', 8, false, {
  ...SRCP_RESPONSE_CODE.codes,
  plausibilityCheckFailed: 0x75,
  maximumBolusNumberReached: 0x76,
});
export type CcpResponseCode = EnumName<typeof CCP_RESPONSE_CODE>;

/** RACP Response Code Values (Table 3.27). */
export const RACP_RESPONSE_CODE = table('RACP Response Code', 8, false, {
  success: 0xf0,
  opCodeNotSupported: 0x02,
  invalidOperator: 0x03,
  operatorNotSupported: 0x04,
  invalidOperand: 0x05,
  noRecordsFound: 0x06,
  abortUnsuccessful: 0x07,
  procedureNotCompleted: 0x08,
  operandNotSupported: 0x09,
  procedureNotApplicable: 0x0a,
});
export type RacpResponseCode = EnumName<typeof RACP_RESPONSE_CODE>;

// ─── flag bits ─────────────────────────────────────────────────────────────────────────────

/** IDD Status Changed flags, u16 (§4.1); bits 8–15 RFU. */
export const STATUS_CHANGED = {
  therapyControlStateChanged: 1 << 0,
  operationalStateChanged: 1 << 1,
  reservoirStatusChanged: 1 << 2,
  annunciationStatusChanged: 1 << 3,
  totalDailyInsulinStatusChanged: 1 << 4,
  activeBasalRateStatusChanged: 1 << 5,
  activeBolusStatusChanged: 1 << 6,
  historyEventRecorded: 1 << 7,
} as const;
export const STATUS_CHANGED_DEFINED_BITS = 0x00ff;

/** IDD Features flags, 24-bit (§4.4.2); bits 16–22 RFU, bit 23 Feature Extension. */
export const FEATURE = {
  e2eProtection: 1 << 0,
  basalRate: 1 << 1,
  tbrAbsolute: 1 << 2,
  tbrRelative: 1 << 3,
  tbrTemplate: 1 << 4,
  fastBolus: 1 << 5,
  extendedBolus: 1 << 6,
  multiwaveBolus: 1 << 7,
  bolusDelayTime: 1 << 8,
  bolusTemplate: 1 << 9,
  bolusActivationType: 1 << 10,
  multipleBond: 1 << 11,
  isfProfileTemplate: 1 << 12,
  i2choRatioProfileTemplate: 1 << 13,
  targetGlucoseRangeProfileTemplate: 1 << 14,
  insulinOnBoard: 1 << 15,
  featureExtension: 1 << 23,
} as const;
export const FEATURE_DEFINED_BITS = 0x80ffff;

// ─── assigned numbers (AN) ─────────────────────────────────────────────────────────────────

export const IDS_SERVICE_UUID = 0x183a;
/** Characteristic UUIDs (ids.md §1; §3 Table 3.1). */
export const IDS_CHARACTERISTIC_UUID = {
  statusChanged: 0x2b20,
  status: 0x2b21,
  annunciationStatus: 0x2b22,
  features: 0x2b23,
  statusReaderControlPoint: 0x2b24,
  commandControlPoint: 0x2b25,
  commandData: 0x2b26,
  recordAccessControlPoint: 0x2b27,
  historyData: 0x2b28,
} as const;

// ─── history event types (§4.9.3, ids.md §4) ───────────────────────────────────────────────

/** History Data Event Type, u16. 0xF000–0xFFF0 codewords are manufacturer events. */
export const HISTORY_EVENT_TYPE = table('History Event Type', 16, true, {
  referenceTime: 0x000f,
  referenceTimeBaseOffset: 0x0033,
  bolusCalculatedPart1: 0x003c,
  bolusCalculatedPart2: 0x0055,
  bolusProgrammedPart1: 0x005a,
  bolusProgrammedPart2: 0x0066,
  bolusDeliveredPart1: 0x0069,
  bolusDeliveredPart2: 0x0096,
  deliveredBasalRateChanged: 0x0099,
  tbrAdjustmentStarted: 0x00a5,
  tbrAdjustmentEnded: 0x00aa,
  tbrAdjustmentChanged: 0x00c3,
  profileTemplateActivated: 0x00cc,
  basalRateProfileTemplateTimeBlockChanged: 0x00f0,
  totalDailyInsulinDelivery: 0x00ff,
  therapyControlStateChanged: 0x0303,
  operationalStateChanged: 0x030c,
  reservoirRemainingAmountChanged: 0x0330,
  annunciationStatusChangedPart1: 0x033f,
  annunciationStatusChangedPart2: 0x0356,
  isfProfileTemplateTimeBlockChanged: 0x0359,
  i2choRatioProfileTemplateTimeBlockChanged: 0x0365,
  targetGlucoseRangeProfileTemplateTimeBlockChanged: 0x036a,
  primingStarted: 0x0395,
  primingDone: 0x039a,
  dataCorruption: 0x03a6,
  pointerEvent: 0x03a9,
  bolusTemplateChangedPart1: 0x03c0,
  bolusTemplateChangedPart2: 0x03cf,
  tbrTemplateChanged: 0x03f3,
  maxBolusAmountChanged: 0x03fc,
});
export type HistoryEventTypeName = EnumName<typeof HISTORY_EVENT_TYPE>;
