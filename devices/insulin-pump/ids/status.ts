// IDD Status Changed 0x2B20, IDD Status 0x2B21, IDD Annunciation Status 0x2B22 and IDD Features 0x2B23
// (ids.md §1.1–1.4; IDS v1.0.2 §4.1–§4.4, §3.2–§3.5). Not when they change or are indicated: the therapy machine decides.

import { encodeFields, frame, Reader, runDecode, unframe, Writer, type Field, type Framing, type MessageDef, type Value } from './codec.ts';
import { crc16Mcrf4xx, E2E_CRC_UNSUPPORTED } from './e2e.ts';
import {
  ANNUNCIATION_STATUS,
  FEATURE,
  FEATURE_DEFINED_BITS,
  OPERATIONAL_STATE,
  STATUS_CHANGED_DEFINED_BITS,
  TEMPERATURE_CONTEXT,
  THERAPY_CONTROL_STATE,
  type AnnunciationStatusValue,
  type OperationalState,
  type TemperatureContext,
  type TherapyControlState,
} from './enums.ts';
import { fail, hex4, ok, type IdsResult } from './result.ts';
import { decodeSfloatMilli, encodeSfloatMilli } from './sfloat.ts';

function decodeWith<T>(def: MessageDef, bytes: Uint8Array, framing: Framing | undefined): IdsResult<T> {
  const u = unframe(bytes, framing);
  if (!u.ok) return u;
  return runDecode<T>(def, new Reader(u.value), {}, u.counter);
}

function encodeWith(def: MessageDef, v: Value, e2eCounter: number | undefined): Uint8Array {
  const w = new Writer();
  encodeFields(w, def, v);
  return frame(w.finish(), e2eCounter);
}

// ─── IDD Status Changed (§4.1) ─────────────────────────────────────────────────────────────

/** `flags`: STATUS_CHANGED bits; they latch until SRCP Reset Status clears them (§3.2). */
export interface IddStatusChanged {
  readonly flags: number;
}
const STATUS_CHANGED_DEF: MessageDef = { name: 'IDD Status Changed', op: 0, fields: [{ k: 'u16', n: 'flags', mask: STATUS_CHANGED_DEFINED_BITS }] };
export const encodeStatusChanged = (v: IddStatusChanged, e2eCounter?: number): Uint8Array => encodeWith(STATUS_CHANGED_DEF, v as unknown as Value, e2eCounter);
export const decodeStatusChanged = (bytes: Uint8Array, framing?: Framing): IdsResult<IddStatusChanged> => decodeWith(STATUS_CHANGED_DEF, bytes, framing);

// ─── IDD Status (§4.2) ─────────────────────────────────────────────────────────────────────

export interface IddStatus {
  readonly therapyControlState: TherapyControlState;
  readonly operationalState: OperationalState;
  /** null = NaN (0x07FF): no reservoir attached (§3.3.1.3). */
  readonly reservoirRemainingMilliUnits: number | null;
  readonly reservoirAttached: boolean;
}
/** The reservoir amount prefers exponent 0 (whole IU), as ids.md §9 example 3 encodes 150 IU as 0x0096. */
const STATUS_DEF: MessageDef = {
  name: 'IDD Status',
  op: 0,
  fields: [
    { k: 'enum', n: 'therapyControlState', t: THERAPY_CONTROL_STATE },
    { k: 'enum', n: 'operationalState', t: OPERATIONAL_STATE },
    { k: 'sfloat', n: 'reservoirRemainingMilliUnits', exp: 0, nan: true, unsigned: true },
    { k: 'flags', bits: { reservoirAttached: 0 } },
  ],
};
export const encodeStatus = (v: IddStatus, e2eCounter?: number): Uint8Array => encodeWith(STATUS_DEF, v as unknown as Value, e2eCounter);
export const decodeStatus = (bytes: Uint8Array, framing?: Framing): IdsResult<IddStatus> => decodeWith(STATUS_DEF, bytes, framing);

// ─── IDD Annunciation Status (§4.3) ────────────────────────────────────────────────────────

export interface Annunciation {
  readonly instanceId: number;
  /** ANNUNCIATION_TYPE code, or a manufacturer codeword 0xF000–0xFFF0. */
  readonly annunciationType: number;
  readonly status: AnnunciationStatusValue;
  /** Vendor-defined 2-octet AuxInfo fields (§4.3.6), except for Temperature (see temperatureAuxInfo). */
  readonly auxInfo1?: Uint8Array;
  readonly auxInfo2?: Uint8Array;
  readonly auxInfo3?: Uint8Array;
  readonly auxInfo4?: Uint8Array;
  readonly auxInfo5?: Uint8Array;
}
/**
 * No annunciation → `{}`: the value is just Flags = 0x00 (§3.4). §3.4 sets Annunciation Present only while an
 * unconfirmed annunciation exists, §4.3.1 also for a confirmed one (ids.md §10); the codec carries either, and the
 * pump follows §3.4 (a confirmed annunciation leaves the characteristic, §3.7.2.5).
 */
export interface AnnunciationStatus {
  readonly annunciation?: Annunciation;
}

const aux = (i: number): Field => ({ k: 'opt', bit: i, requires: 0, f: { k: 'bytes', n: `auxInfo${i}`, len: 2 } });
const ANNUNCIATION_DEF: MessageDef = {
  name: 'IDD Annunciation Status',
  op: 0,
  fields: [
    { k: 'flags', bits: {} },
    { k: 'opt', bit: 0, f: { k: 'u16', n: 'instanceId' } },
    { k: 'opt', bit: 0, f: { k: 'annunciationType', n: 'annunciationType' } },
    { k: 'opt', bit: 0, f: { k: 'enum', n: 'status', t: ANNUNCIATION_STATUS } },
    aux(1),
    aux(2),
    aux(3),
    aux(4),
    aux(5),
  ],
};

/** 1–16 octets, plus the E2E fields (§4.3: 1–19). */
export const encodeAnnunciationStatus = (v: AnnunciationStatus, e2eCounter?: number): Uint8Array =>
  encodeWith(ANNUNCIATION_DEF, (v.annunciation ?? {}) as unknown as Value, e2eCounter);

export function decodeAnnunciationStatus(bytes: Uint8Array, framing?: Framing): IdsResult<AnnunciationStatus> {
  const r = decodeWith<Value>(ANNUNCIATION_DEF, bytes, framing);
  if (!r.ok) return r;
  const v = r.value;
  if (v['instanceId'] === undefined) return { ...r, value: {} };
  return { ...r, value: { annunciation: v as unknown as Annunciation } };
}

/** The fixed AuxInfo layout of Annunciation Type Temperature 0x0365 (§3.4.1.6), in 0.001 degrees. */
export interface TemperatureAuxInfo {
  readonly valueMilliDegrees: number;
  readonly unit: 'celsius' | 'fahrenheit';
  readonly tooLow: boolean;
  readonly tooHigh: boolean;
  readonly context: TemperatureContext;
  readonly lowerBoundMilliDegrees?: number;
  readonly upperBoundMilliDegrees?: number;
}

const sfloatBytes = (milli: number): Uint8Array => {
  const raw = encodeSfloatMilli(milli, -1);
  return Uint8Array.of(raw & 0xff, raw >>> 8);
};

/** AuxInfo1–4 of a Temperature annunciation. */
export function encodeTemperatureAuxInfo(t: TemperatureAuxInfo): Pick<Annunciation, 'auxInfo1' | 'auxInfo2' | 'auxInfo3' | 'auxInfo4'> {
  const flags = (t.unit === 'celsius' ? 1 : 0) | (t.tooLow ? 1 << 6 : 0) | (t.tooHigh ? 1 << 7 : 0);
  return {
    auxInfo1: sfloatBytes(t.valueMilliDegrees),
    auxInfo2: Uint8Array.of(flags, TEMPERATURE_CONTEXT.codes[t.context]),
    ...(t.lowerBoundMilliDegrees !== undefined ? { auxInfo3: sfloatBytes(t.lowerBoundMilliDegrees) } : {}),
    ...(t.upperBoundMilliDegrees !== undefined ? { auxInfo4: sfloatBytes(t.upperBoundMilliDegrees) } : {}),
  };
}

export function decodeTemperatureAuxInfo(a: Pick<Annunciation, 'auxInfo1' | 'auxInfo2' | 'auxInfo3' | 'auxInfo4'>): IdsResult<TemperatureAuxInfo> {
  if (a.auxInfo1 === undefined || a.auxInfo2 === undefined) return fail('operand', 'Temperature needs AuxInfo1 and AuxInfo2 (§3.4.1.6)');
  const value = decodeSfloatMilli(a.auxInfo1[0]! | (a.auxInfo1[1]! << 8));
  if (!value.ok) return fail('operand', `temperature: ${value.detail}`);
  const flags = a.auxInfo2[0]!;
  const context = TEMPERATURE_CONTEXT.byCode.get(a.auxInfo2[1]!);
  if (context === undefined) return fail('operand', 'temperature context is not listed');
  const bound = (b: Uint8Array | undefined): IdsResult<number | undefined> => {
    if (b === undefined) return ok(undefined);
    const d = decodeSfloatMilli(b[0]! | (b[1]! << 8));
    return d.ok ? ok(d.value) : fail('operand', `temperature bound: ${d.detail}`);
  };
  const lo = bound(a.auxInfo3);
  const hi = bound(a.auxInfo4);
  if (!lo.ok) return lo;
  if (!hi.ok) return hi;
  return ok({
    valueMilliDegrees: value.value,
    unit: flags & 1 ? 'celsius' : 'fahrenheit',
    tooLow: (flags & (1 << 6)) !== 0,
    tooHigh: (flags & (1 << 7)) !== 0,
    context,
    ...(lo.value !== undefined ? { lowerBoundMilliDegrees: lo.value } : {}),
    ...(hi.value !== undefined ? { upperBoundMilliDegrees: hi.value } : {}),
  });
}

// ─── IDD Features (§4.4, §3.5) ─────────────────────────────────────────────────────────────

export interface IddFeatures {
  /** IU/mL × 1000 (U100 → 100 000); encoded preferring exponent 0, as ids.md §9 example 4. */
  readonly insulinConcentrationMilli: number;
  /** FEATURE bits (24-bit); bits 16–22 are RFU. Bit 23 is set iff `extension` is non-empty. */
  readonly flags: number;
  /** Feature Extension octets after the 24-bit flags (§3.5.1.3): each but the last has its top bit set. */
  readonly extension: Uint8Array;
}

/**
 * `E2E-CRC u16 | E2E-Counter u8 | Concentration SFLOAT | Flags u24 [| extension]` — the CRC comes FIRST and covers
 * the octets after itself (§3.1.2). Without E2E (flags bit 0 = 0) CRC = 0xFFFF and Counter = 0 (§3.5.1.1);
 * with it, `e2eCounter` is required.
 */
export function encodeFeatures(f: IddFeatures, e2eCounter?: number): Uint8Array {
  if (!Number.isInteger(f.flags) || f.flags < 0 || (f.flags & ~FEATURE_DEFINED_BITS) !== 0) throw new RangeError('features flags set RFU bits');
  const ext = f.extension;
  if (((f.flags & FEATURE.featureExtension) !== 0) !== ext.length > 0) throw new RangeError('Feature Extension bit 23 must be set iff extension octets follow');
  ext.forEach((o, i) => {
    if (((o & 0x80) !== 0) !== i < ext.length - 1) throw new RangeError('each extension octet but the last has its top bit set');
  });
  const e2e = (f.flags & FEATURE.e2eProtection) !== 0;
  if (e2e && (e2eCounter === undefined || !Number.isInteger(e2eCounter) || e2eCounter < 1 || e2eCounter > 255)) {
    throw new RangeError('E2E-Protection needs an E2E-Counter 1..255');
  }
  const w = new Writer();
  w.u16(0, 'crc placeholder');
  w.u8(e2e ? e2eCounter : 0, 'counter');
  w.u16(encodeSfloatMilli(f.insulinConcentrationMilli, 0), 'insulin concentration');
  w.u24(f.flags, 'flags');
  w.bytes(ext, ext.length, 'extension');
  const b = w.finish();
  const crc = e2e ? crc16Mcrf4xx(b, 2) : E2E_CRC_UNSUPPORTED;
  b[0] = crc & 0xff;
  b[1] = crc >>> 8;
  return b;
}

/** Decode IDD Features; its own flags tell whether E2E applies. `expectedCounter` is checked when given and E2E is on. */
export function decodeFeatures(bytes: Uint8Array, expectedCounter?: number): IdsResult<IddFeatures> {
  if (!(bytes instanceof Uint8Array) || bytes.length < 8) return fail('length', 'IDD Features is at least 8 octets');
  const crc = bytes[0]! | (bytes[1]! << 8);
  const counter = bytes[2]!;
  const flags = bytes[5]! | (bytes[6]! << 8) | (bytes[7]! << 16);
  const e2e = (flags & FEATURE.e2eProtection) !== 0;
  if (e2e) {
    const computed = crc16Mcrf4xx(bytes, 2);
    if (crc !== computed) return fail('crc', `E2E-CRC ${hex4(crc)} ≠ computed ${hex4(computed)}`);
    if (counter === 0) return fail('counter', 'E2E-Counter 0 is never sent');
    if (expectedCounter !== undefined && counter !== expectedCounter) return fail('counter', `E2E-Counter ${counter}, expected ${expectedCounter}`);
  } else {
    if (crc !== E2E_CRC_UNSUPPORTED) return fail('crc', `without E2E the CRC is 0xFFFF, got ${hex4(crc)}`);
    if (counter !== 0) return fail('counter', `without E2E the counter is 0, got ${counter}`);
  }
  let end = 8;
  if (flags & FEATURE.featureExtension) {
    for (;;) {
      if (end >= bytes.length) return fail('length', 'Feature Extension octet missing');
      if ((bytes[end++]! & 0x80) === 0) break;
    }
  }
  if (bytes.length !== end) return fail('length', `IDD Features has ${bytes.length - end} octet(s) too many`);
  const conc = decodeSfloatMilli(bytes[3]! | (bytes[4]! << 8));
  if (!conc.ok) return fail('operand', `insulin concentration: ${conc.detail}`);
  const value: IddFeatures = { insulinConcentrationMilli: conc.value, flags: flags & FEATURE_DEFINED_BITS, extension: bytes.slice(8, end) };
  return e2e ? { ok: true, value, counter } : ok(value);
}
