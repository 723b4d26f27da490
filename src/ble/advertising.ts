// Advertising and scan response data: AD structures (Core v5.x Vol 3 Part C §11; Core Specification Supplement
// Part A §1) encoded from a description, strictly decoded, fitted into the 31-byte legacy payloads.
// Not advertising itself (the radio's startAdvertising) and not extended advertising (no more than 31 bytes here).

import { uuidFromLe, type Uuid } from './uuid.ts';
import { concatBytes } from '@noble/hashes/utils.js';

/** AD types (Assigned Numbers §2.3, "Common Data Types"). */
export const AD_TYPE = {
  FLAGS: 0x01,
  INCOMPLETE_16BIT_UUIDS: 0x02,
  COMPLETE_16BIT_UUIDS: 0x03,
  INCOMPLETE_32BIT_UUIDS: 0x04,
  COMPLETE_32BIT_UUIDS: 0x05,
  INCOMPLETE_128BIT_UUIDS: 0x06,
  COMPLETE_128BIT_UUIDS: 0x07,
  SHORTENED_LOCAL_NAME: 0x08,
  COMPLETE_LOCAL_NAME: 0x09,
  TX_POWER_LEVEL: 0x0a,
  SERVICE_DATA_16BIT: 0x16,
  APPEARANCE: 0x19,
  MANUFACTURER_SPECIFIC_DATA: 0xff,
} as const;

/** Flags bits (Supplement Part A §1.3). */
export const AD_FLAGS = {
  LE_LIMITED_DISCOVERABLE: 0x01,
  LE_GENERAL_DISCOVERABLE: 0x02,
  BR_EDR_NOT_SUPPORTED: 0x04,
} as const;

/** The usual flags of an LE-only peripheral: general discoverable, no BR/EDR (0x06). */
export const LE_GENERAL_FLAGS = AD_FLAGS.LE_GENERAL_DISCOVERABLE | AD_FLAGS.BR_EDR_NOT_SUPPORTED;

/** Legacy AdvData / ScanRspData limit (Vol 6 Part B §2.3.1.1). */
export const MAX_LEGACY_AD_BYTES = 31;

export interface ManufacturerData {
  /** Company identifier (Assigned Numbers §7), sent little-endian first. */
  readonly companyId: number;
  readonly data: Uint8Array;
}

export interface ServiceData {
  /** A 16-bit service UUID (AD type 0x16). */
  readonly uuid: Uuid;
  readonly data: Uint8Array;
}

/** What a payload carries; every field optional. Encoded in the order of the fields below. */
export interface AdvertisingData {
  readonly flags?: number;
  /** Service UUIDs; 16-bit and 128-bit ones go in separate lists. */
  readonly serviceUuids?: readonly Uuid[];
  /** Mark the lists "incomplete" (more services exist than listed). Default false. */
  readonly serviceUuidsIncomplete?: boolean;
  readonly localName?: string;
  /** Send the name as "Shortened Local Name" (0x08) instead of "Complete" (0x09). */
  readonly localNameShortened?: boolean;
  /** −127..+127 dBm. */
  readonly txPowerDbm?: number;
  /** 16-bit Appearance (Assigned Numbers §2.6). */
  readonly appearance?: number;
  readonly serviceData?: readonly ServiceData[];
  readonly manufacturerData?: readonly ManufacturerData[];
  /** Structures of other types, sent as they are. */
  readonly other?: readonly { readonly type: number; readonly data: Uint8Array }[];
}

export interface DecodedAdvertisingData {
  readonly flags: number | undefined;
  /** Every service UUID listed (16-, 32- and 128-bit lists, in order). */
  readonly serviceUuids: readonly Uuid[];
  /** Some list said "incomplete". */
  readonly serviceUuidsIncomplete: boolean;
  readonly localName: string | undefined;
  readonly localNameShortened: boolean;
  readonly txPowerDbm: number | undefined;
  readonly appearance: number | undefined;
  readonly serviceData: readonly ServiceData[];
  readonly manufacturerData: readonly ManufacturerData[];
  readonly other: readonly { readonly type: number; readonly data: Uint8Array }[];
}

/**
 * - 'ad.too-long': more than 31 bytes;
 * - 'ad.overrun': a structure's length runs past the end;
 * - 'ad.padding': bytes after a zero length that are not zero (§11: the non-significant part is zeros);
 * - 'ad.field': a structure of a known type with the wrong size or value;
 * - 'ad.duplicate': a type that may appear once appears twice (flags, name, TX power, appearance).
 */
export type AdErrorCode = 'ad.too-long' | 'ad.overrun' | 'ad.padding' | 'ad.field' | 'ad.duplicate';
export type AdResult<T> = { ok: true; value: T } | { ok: false; code: AdErrorCode; detail: string };

const bad = <T>(code: AdErrorCode, detail: string): AdResult<T> => ({ ok: false, code, detail });

function structure(type: number, data: Uint8Array): Uint8Array {
  const s = new Uint8Array(2 + data.length);
  s[0] = 1 + data.length;
  s[1] = type;
  s.set(data, 2);
  return s;
}

const utf8 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'utf8'));

/** Encode the structures of `d`; 'ad.too-long' beyond 31 bytes, 'ad.field' for a value out of range. */
export function encodeAdvertisingData(d: AdvertisingData): AdResult<Uint8Array> {
  const parts: Uint8Array[] = [];
  if (d.flags !== undefined) {
    if (!Number.isInteger(d.flags) || d.flags < 0 || d.flags > 0xff) return bad('ad.field', `flags must be one byte, got ${d.flags}`);
    parts.push(structure(AD_TYPE.FLAGS, Uint8Array.of(d.flags)));
  }
  if (d.serviceUuids && d.serviceUuids.length > 0) {
    const incomplete = d.serviceUuidsIncomplete ?? false;
    const u16 = d.serviceUuids.filter((u) => u.bits === 16);
    const u128 = d.serviceUuids.filter((u) => u.bits === 128);
    if (u16.length > 0) parts.push(structure(incomplete ? AD_TYPE.INCOMPLETE_16BIT_UUIDS : AD_TYPE.COMPLETE_16BIT_UUIDS, concatBytes(...u16.map((u) => u.le))));
    if (u128.length > 0) parts.push(structure(incomplete ? AD_TYPE.INCOMPLETE_128BIT_UUIDS : AD_TYPE.COMPLETE_128BIT_UUIDS, concatBytes(...u128.map((u) => u.le))));
  }
  if (d.localName !== undefined) parts.push(structure(d.localNameShortened ? AD_TYPE.SHORTENED_LOCAL_NAME : AD_TYPE.COMPLETE_LOCAL_NAME, utf8(d.localName)));
  if (d.txPowerDbm !== undefined) {
    if (!Number.isInteger(d.txPowerDbm) || d.txPowerDbm < -127 || d.txPowerDbm > 127) return bad('ad.field', `TX power must be −127..127 dBm, got ${d.txPowerDbm}`);
    parts.push(structure(AD_TYPE.TX_POWER_LEVEL, Uint8Array.of(d.txPowerDbm & 0xff)));
  }
  if (d.appearance !== undefined) {
    if (!Number.isInteger(d.appearance) || d.appearance < 0 || d.appearance > 0xffff) return bad('ad.field', `appearance must be 16 bits, got ${d.appearance}`);
    parts.push(structure(AD_TYPE.APPEARANCE, Uint8Array.of(d.appearance & 0xff, d.appearance >> 8)));
  }
  for (const s of d.serviceData ?? []) {
    if (s.uuid.bits !== 16) return bad('ad.field', 'service data here takes a 16-bit UUID (AD type 0x16)');
    parts.push(structure(AD_TYPE.SERVICE_DATA_16BIT, concatBytes(s.uuid.le, s.data)));
  }
  for (const m of d.manufacturerData ?? []) {
    if (!Number.isInteger(m.companyId) || m.companyId < 0 || m.companyId > 0xffff) return bad('ad.field', `company identifier must be 16 bits, got ${m.companyId}`);
    parts.push(structure(AD_TYPE.MANUFACTURER_SPECIFIC_DATA, concatBytes(Uint8Array.of(m.companyId & 0xff, m.companyId >> 8), m.data)));
  }
  for (const o of d.other ?? []) {
    if (!Number.isInteger(o.type) || o.type < 1 || o.type > 0xff) return bad('ad.field', `AD type must be 1..255, got ${o.type}`);
    parts.push(structure(o.type, o.data));
  }
  const out = concatBytes(...parts);
  if (out.length > MAX_LEGACY_AD_BYTES) return bad('ad.too-long', `${out.length} bytes of AD structures exceed ${MAX_LEGACY_AD_BYTES}`);
  return { ok: true, value: out };
}

/** Decode AdvData or ScanRspData strictly; never throws. */
export function decodeAdvertisingData(b: Uint8Array): AdResult<DecodedAdvertisingData> {
  if (b.length > MAX_LEGACY_AD_BYTES) return bad('ad.too-long', `${b.length} bytes exceed ${MAX_LEGACY_AD_BYTES}`);
  let flags: number | undefined;
  const serviceUuids: Uuid[] = [];
  let incomplete = false;
  let localName: string | undefined;
  let shortened = false;
  let txPowerDbm: number | undefined;
  let appearance: number | undefined;
  const serviceData: ServiceData[] = [];
  const manufacturerData: ManufacturerData[] = [];
  const other: { type: number; data: Uint8Array }[] = [];
  let i = 0;
  while (i < b.length) {
    const len = b[i]!;
    if (len === 0) {
      for (let j = i + 1; j < b.length; j++) if (b[j] !== 0) return bad('ad.padding', `non-zero byte at ${j} after the significant part`);
      break;
    }
    if (i + 1 + len > b.length) return bad('ad.overrun', `structure at ${i} of length ${len} runs past ${b.length} bytes`);
    const type = b[i + 1]!;
    const data = b.slice(i + 2, i + 1 + len);
    const where = `AD type 0x${type.toString(16).padStart(2, '0')} at ${i}`;
    switch (type) {
      case AD_TYPE.FLAGS:
        if (flags !== undefined) return bad('ad.duplicate', `${where}: flags appear twice`);
        if (data.length !== 1) return bad('ad.field', `${where}: flags are 1 byte, got ${data.length}`);
        flags = data[0]!;
        break;
      case AD_TYPE.INCOMPLETE_16BIT_UUIDS:
      case AD_TYPE.COMPLETE_16BIT_UUIDS:
      case AD_TYPE.INCOMPLETE_32BIT_UUIDS:
      case AD_TYPE.COMPLETE_32BIT_UUIDS:
      case AD_TYPE.INCOMPLETE_128BIT_UUIDS:
      case AD_TYPE.COMPLETE_128BIT_UUIDS: {
        const size = type <= 0x03 ? 2 : type <= 0x05 ? 4 : 16;
        if (data.length % size !== 0) return bad('ad.field', `${where}: a list of ${size}-byte UUIDs, got ${data.length} bytes`);
        for (let k = 0; k < data.length; k += size) {
          const u = uuidFromLe(data.subarray(k, k + size));
          if (u.ok) serviceUuids.push(u.value);
        }
        if (type % 2 === 0) incomplete = true;
        break;
      }
      case AD_TYPE.SHORTENED_LOCAL_NAME:
      case AD_TYPE.COMPLETE_LOCAL_NAME:
        if (localName !== undefined) return bad('ad.duplicate', `${where}: a second local name`);
        localName = Buffer.from(data).toString('utf8');
        shortened = type === AD_TYPE.SHORTENED_LOCAL_NAME;
        break;
      case AD_TYPE.TX_POWER_LEVEL:
        if (txPowerDbm !== undefined) return bad('ad.duplicate', `${where}: TX power appears twice`);
        if (data.length !== 1) return bad('ad.field', `${where}: TX power is 1 byte, got ${data.length}`);
        txPowerDbm = (data[0]! << 24) >> 24;
        break;
      case AD_TYPE.APPEARANCE:
        if (appearance !== undefined) return bad('ad.duplicate', `${where}: appearance appears twice`);
        if (data.length !== 2) return bad('ad.field', `${where}: appearance is 2 bytes, got ${data.length}`);
        appearance = data[0]! | (data[1]! << 8);
        break;
      case AD_TYPE.SERVICE_DATA_16BIT: {
        if (data.length < 2) return bad('ad.field', `${where}: service data starts with a 2-byte UUID`);
        const u = uuidFromLe(data.subarray(0, 2));
        if (u.ok) serviceData.push({ uuid: u.value, data: data.slice(2) });
        break;
      }
      case AD_TYPE.MANUFACTURER_SPECIFIC_DATA:
        if (data.length < 2) return bad('ad.field', `${where}: manufacturer data starts with a 2-byte company identifier`);
        manufacturerData.push({ companyId: data[0]! | (data[1]! << 8), data: data.slice(2) });
        break;
      default:
        other.push({ type, data });
    }
    i += 1 + len;
  }
  return {
    ok: true,
    value: { flags, serviceUuids, serviceUuidsIncomplete: incomplete, localName, localNameShortened: shortened, txPowerDbm, appearance, serviceData, manufacturerData, other },
  };
}

export interface AdvertisingPayloads {
  readonly advData: Uint8Array;
  readonly scanRspData: Uint8Array;
}

/**
 * Lay a description out over ADV_IND and SCAN_RSP the way discovery wants it: flags, service
 * UUIDs, TX power, appearance, service and manufacturer data in the advertisement (what a
 * scanner filters on); the local name there too if it fits, else complete in the scan
 * response, else shortened to what fits there. 'ad.too-long' when the advertisement's own
 * fields exceed 31 bytes.
 */
export function fitAdvertising(d: AdvertisingData): AdResult<AdvertisingPayloads> {
  const { localName, localNameShortened, ...rest } = d;
  const adv = encodeAdvertisingData(rest);
  if (!adv.ok) return adv;
  if (localName === undefined) return { ok: true, value: { advData: adv.value, scanRspData: new Uint8Array(0) } };
  const nameBytes = utf8(localName);
  const withName = encodeAdvertisingData(d);
  if (withName.ok) return { ok: true, value: { advData: withName.value, scanRspData: new Uint8Array(0) } };
  const room = MAX_LEGACY_AD_BYTES - 2;
  if (nameBytes.length <= room) {
    return { ok: true, value: { advData: adv.value, scanRspData: structure(localNameShortened ? AD_TYPE.SHORTENED_LOCAL_NAME : AD_TYPE.COMPLETE_LOCAL_NAME, nameBytes) } };
  }
  // Cut on a UTF-8 character boundary (continuation bytes are 0b10xxxxxx).
  let cut = room;
  while (cut > 0 && (nameBytes[cut]! & 0xc0) === 0x80) cut--;
  return { ok: true, value: { advData: adv.value, scanRspData: structure(AD_TYPE.SHORTENED_LOCAL_NAME, nameBytes.subarray(0, cut)) } };
}

