// Link-layer PDUs as bytes (Core v5.x Vol 6 Part B §2.3 advertising, §2.4 data, §2.4.2 LL control):
// encoders, never-throwing decoders, air-time arithmetic. Not the link layer's behaviour: that is air.ts.

import type { BdAddress } from '../../../hal/radio.ts';
import { MedtwinError } from '../../errors.ts';

// ---------------------------------------------------------------------------------------------
// Constants of the LE 1M PHY and the advertising physical channel
// ---------------------------------------------------------------------------------------------

/** Access address of every advertising physical channel PDU (Vol 6 Part B §2.1.2). */
export const ADV_ACCESS_ADDRESS = 0x8e89bed6;
/** CRC shift register preset on the advertising channels (Vol 6 Part B §3.1.1). */
export const ADV_CRC_INIT = 0x555555;
/** Inter frame space between consecutive packets on the same channel (Vol 6 Part B §4.1.1). */
export const T_IFS_US = 150;
/** LE 1M PHY: 1 Msym/s, one bit per symbol, so 8 µs per byte (Vol 6 Part A §3.1). */
export const US_PER_BYTE_1M = 8;
/** Preamble (1) + access address (4) + CRC (3) around every PDU on the LE 1M PHY (Vol 6 Part B §2.1). */
export const PACKET_OVERHEAD_BYTES_1M = 1 + 4 + 3;
/** Header of both PDU kinds is 16 bits (§2.3, §2.4). */
export const PDU_HEADER_BYTES = 2;
/** Largest AdvData / ScanRspData of a legacy advertising PDU (§2.3.1). */
export const MAX_ADV_DATA_BYTES = 31;
/** Largest data channel PDU payload with the Data Length Extension (§2.4, 251 octets). */
export const MAX_DATA_PAYLOAD_BYTES = 251;
/** Largest data channel PDU payload without the Data Length Extension (§4.5.10: connMaxTxOctets default). */
export const DEFAULT_DATA_PAYLOAD_BYTES = 27;
/** Channel indices: 0..36 data, 37..39 primary advertising (Vol 6 Part B §1.4.1). */
export const ADV_CHANNELS: readonly number[] = [37, 38, 39];
export const DATA_CHANNEL_COUNT = 37;

/** On-air time of a packet whose PDU (header + payload, no CRC) is `pduBytes` long, LE 1M PHY. */
export function airTimeUs(pduBytes: number): number {
  return (PACKET_OVERHEAD_BYTES_1M + pduBytes) * US_PER_BYTE_1M;
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/**
 * Why bytes are not a valid PDU: 'short' (fewer bytes than the header or a field needs),
 * 'length' (the Length field disagrees with the bytes, or a PDU type's fixed size), 'type'
 * (reserved or unsupported PDU type), 'llid' (reserved LLID 0b00), 'cte' (a CTEInfo field
 * follows: not modelled), 'value' (a field outside its range).
 */
export type PduErrorCode = 'short' | 'length' | 'type' | 'llid' | 'cte' | 'value';
export type PduResult<T> = { ok: true; value: T } | { ok: false; code: PduErrorCode; detail: string };

const bad = (code: PduErrorCode, detail: string): { ok: false; code: PduErrorCode; detail: string } => ({ ok: false, code, detail });

// ---------------------------------------------------------------------------------------------
// Device addresses: "AA:BB:CC:DD:EE:FF" is most significant byte first; on air LSB first (§1.3)
// ---------------------------------------------------------------------------------------------

const ADDRESS_RE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;

export function isAddressString(address: string): boolean {
  return ADDRESS_RE.test(address);
}

/** Write a 48-bit device address at `offset`, least significant byte first (§1.3). Throws on a malformed string. */
export function writeAddressLe(out: Uint8Array, offset: number, address: string): void {
  if (!ADDRESS_RE.test(address)) throw new MedtwinError('pdu.address', `not a device address "AA:BB:CC:DD:EE:FF": "${address}"`);
  for (let i = 0; i < 6; i++) out[offset + i] = parseInt(address.slice((5 - i) * 3, (5 - i) * 3 + 2), 16);
}

const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

/** Read a 48-bit device address stored least significant byte first; the string is MSB first, upper case. */
export function readAddressLe(bytes: Uint8Array, offset: number): string {
  let s = HEX2[bytes[offset + 5]!]!;
  for (let i = 4; i >= 0; i--) s += ':' + HEX2[bytes[offset + i]!]!;
  return s;
}

/** Addresses compare by type and value; the string's case does not matter. */
export function sameAddress(a: BdAddress, b: BdAddress): boolean {
  return a.random === b.random && a.address.toUpperCase() === b.address.toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Little-endian field helpers
// ---------------------------------------------------------------------------------------------

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u24 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
const u32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

function checkUint(name: string, v: number, bits: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) {
    throw new MedtwinError('pdu.field', `${name} must be an integer in 0..${2 ** bits - 1}, got ${v}`);
  }
}

function put16(out: Uint8Array, o: number, name: string, v: number): void {
  checkUint(name, v, 16);
  out[o] = v & 0xff;
  out[o + 1] = v >>> 8;
}

function put24(out: Uint8Array, o: number, name: string, v: number): void {
  checkUint(name, v, 24);
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
  out[o + 2] = v >>> 16;
}

function put32(out: Uint8Array, o: number, name: string, v: number): void {
  checkUint(name, v, 32);
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
  out[o + 2] = (v >>> 16) & 0xff;
  out[o + 3] = v >>> 24;
}

function copyFixed(name: string, src: Uint8Array, n: number, out: Uint8Array, o: number): void {
  if (src.length !== n) throw new MedtwinError('pdu.field', `${name} must be ${n} bytes, got ${src.length}`);
  out.set(src, o);
}

// ---------------------------------------------------------------------------------------------
// Advertising physical channel PDUs (§2.3)
// ---------------------------------------------------------------------------------------------

/** PDU Type field values on the primary advertising channels (§2.3, table 2.3). */
export const ADV_PDU_TYPE = {
  ADV_IND: 0b0000,
  ADV_DIRECT_IND: 0b0001,
  ADV_NONCONN_IND: 0b0010,
  SCAN_REQ: 0b0011,
  SCAN_RSP: 0b0100,
  CONNECT_IND: 0b0101,
  ADV_SCAN_IND: 0b0110,
} as const;
export type AdvPduTypeName = keyof typeof ADV_PDU_TYPE;
const ADV_TYPE_NAMES: readonly (AdvPduTypeName | undefined)[] = [
  'ADV_IND',
  'ADV_DIRECT_IND',
  'ADV_NONCONN_IND',
  'SCAN_REQ',
  'SCAN_RSP',
  'CONNECT_IND',
  'ADV_SCAN_IND',
];

/** The 16-bit header of an advertising channel PDU (§2.3): PDU type 4 bits, RFU, ChSel, TxAdd, RxAdd, Length 8 bits. */
export interface AdvHeader {
  readonly pduType: number;
  /** ChSel: the sender supports channel selection algorithm #2 (§2.3; meaningful in ADV_IND, CONNECT_IND…). */
  readonly chSel: boolean;
  /** TxAdd: the sender's address (AdvA, ScanA or InitA) is random. */
  readonly txAddRandom: boolean;
  /** RxAdd: the target's address (TargetA or AdvA in requests) is random. */
  readonly rxAddRandom: boolean;
  readonly length: number;
}

export function encodeAdvHeader(h: AdvHeader, out: Uint8Array, offset = 0): void {
  checkUint('PDU type', h.pduType, 4);
  checkUint('Length', h.length, 8);
  out[offset] = h.pduType | (h.chSel ? 0x20 : 0) | (h.txAddRandom ? 0x40 : 0) | (h.rxAddRandom ? 0x80 : 0);
  out[offset + 1] = h.length;
}

/** Decode the header only; the RFU bit is ignored on receipt as the spec requires (§1.5). */
export function decodeAdvHeader(bytes: Uint8Array): PduResult<AdvHeader> {
  if (bytes.length < PDU_HEADER_BYTES) return bad('short', `advertising PDU needs a 2-byte header, got ${bytes.length} bytes`);
  const b0 = bytes[0]!;
  return {
    ok: true,
    value: { pduType: b0 & 0x0f, chSel: (b0 & 0x20) !== 0, txAddRandom: (b0 & 0x40) !== 0, rxAddRandom: (b0 & 0x80) !== 0, length: bytes[1]! },
  };
}

/**
 * LLData of CONNECT_IND (§2.3.3.1), in the spec's units: windows and interval in 1.25 ms,
 * timeout in 10 ms. The channel map is 5 bytes, channel 0 in bit 0 of the first byte.
 */
export interface LlData {
  readonly accessAddress: number;
  readonly crcInit: number;
  readonly winSizeUnits1250us: number;
  readonly winOffsetUnits1250us: number;
  readonly intervalUnits1250us: number;
  readonly latency: number;
  readonly timeoutUnits10ms: number;
  readonly channelMapLe: Uint8Array;
  /** hopIncrement for channel selection algorithm #1, 5..16. */
  readonly hop: number;
  /** Central sleep clock accuracy field, 0..7 (table 2.15: 0 = 251–500 ppm … 7 = 0–20 ppm). */
  readonly sca: number;
}

export type AdvPdu =
  | { readonly type: 'ADV_IND' | 'ADV_NONCONN_IND' | 'ADV_SCAN_IND'; readonly advA: BdAddress; readonly advData: Uint8Array; readonly chSel?: boolean }
  | { readonly type: 'ADV_DIRECT_IND'; readonly advA: BdAddress; readonly targetA: BdAddress; readonly chSel?: boolean }
  | { readonly type: 'SCAN_REQ'; readonly scanA: BdAddress; readonly advA: BdAddress }
  | { readonly type: 'SCAN_RSP'; readonly advA: BdAddress; readonly scanRspData: Uint8Array }
  | { readonly type: 'CONNECT_IND'; readonly initA: BdAddress; readonly advA: BdAddress; readonly llData: LlData; readonly chSel?: boolean };

/** Bytes of LLData (§2.3.3.1). */
export const LL_DATA_BYTES = 22;
/** Payload size of CONNECT_IND: InitA + AdvA + LLData (§2.3.3.1). */
export const CONNECT_IND_PAYLOAD_BYTES = 6 + 6 + LL_DATA_BYTES;
/** Payload size of SCAN_REQ: ScanA + AdvA (§2.3.2.1). */
export const SCAN_REQ_PAYLOAD_BYTES = 12;

/**
 * Encode an advertising channel PDU (header + payload, no CRC). Enforces only what the
 * fields can represent, not the spec's limits (AdvData ≤ 31 bytes): fuzzers build
 * oversized PDUs with it, and the decoder is where the limits are checked.
 */
export function encodeAdvPdu(pdu: AdvPdu): Uint8Array {
  let payloadLen: number;
  let tx: BdAddress;
  let rxRandom = false;
  let chSel = false;
  switch (pdu.type) {
    case 'ADV_IND':
    case 'ADV_NONCONN_IND':
    case 'ADV_SCAN_IND':
      payloadLen = 6 + pdu.advData.length;
      tx = pdu.advA;
      chSel = pdu.chSel ?? false;
      break;
    case 'ADV_DIRECT_IND':
      payloadLen = 12;
      tx = pdu.advA;
      rxRandom = pdu.targetA.random;
      chSel = pdu.chSel ?? false;
      break;
    case 'SCAN_REQ':
      payloadLen = SCAN_REQ_PAYLOAD_BYTES;
      tx = pdu.scanA;
      rxRandom = pdu.advA.random;
      break;
    case 'SCAN_RSP':
      payloadLen = 6 + pdu.scanRspData.length;
      tx = pdu.advA;
      break;
    case 'CONNECT_IND':
      payloadLen = CONNECT_IND_PAYLOAD_BYTES;
      tx = pdu.initA;
      rxRandom = pdu.advA.random;
      chSel = pdu.chSel ?? false;
      break;
  }
  if (payloadLen > 255) throw new MedtwinError('pdu.field', `${pdu.type} payload of ${payloadLen} bytes does not fit the 8-bit Length field`);
  const out = new Uint8Array(PDU_HEADER_BYTES + payloadLen);
  encodeAdvHeader({ pduType: ADV_PDU_TYPE[pdu.type], chSel, txAddRandom: tx.random, rxAddRandom: rxRandom, length: payloadLen }, out);
  const p = PDU_HEADER_BYTES;
  switch (pdu.type) {
    case 'ADV_IND':
    case 'ADV_NONCONN_IND':
    case 'ADV_SCAN_IND':
      writeAddressLe(out, p, pdu.advA.address);
      out.set(pdu.advData, p + 6);
      break;
    case 'ADV_DIRECT_IND':
      writeAddressLe(out, p, pdu.advA.address);
      writeAddressLe(out, p + 6, pdu.targetA.address);
      break;
    case 'SCAN_REQ':
      writeAddressLe(out, p, pdu.scanA.address);
      writeAddressLe(out, p + 6, pdu.advA.address);
      break;
    case 'SCAN_RSP':
      writeAddressLe(out, p, pdu.advA.address);
      out.set(pdu.scanRspData, p + 6);
      break;
    case 'CONNECT_IND': {
      writeAddressLe(out, p, pdu.initA.address);
      writeAddressLe(out, p + 6, pdu.advA.address);
      const d = pdu.llData;
      const o = p + 12;
      put32(out, o, 'AA', d.accessAddress);
      put24(out, o + 4, 'CRCInit', d.crcInit);
      checkUint('WinSize', d.winSizeUnits1250us, 8);
      out[o + 7] = d.winSizeUnits1250us;
      put16(out, o + 8, 'WinOffset', d.winOffsetUnits1250us);
      put16(out, o + 10, 'Interval', d.intervalUnits1250us);
      put16(out, o + 12, 'Latency', d.latency);
      put16(out, o + 14, 'Timeout', d.timeoutUnits10ms);
      copyFixed('ChM', d.channelMapLe, 5, out, o + 16);
      checkUint('Hop', d.hop, 5);
      checkUint('SCA', d.sca, 3);
      out[o + 21] = d.hop | (d.sca << 5);
      break;
    }
  }
  return out;
}

/** Read LLData at `offset` (§2.3.3.1); the caller has checked that 22 bytes are there. */
function readLlData(b: Uint8Array, o: number): LlData {
  return {
    accessAddress: u32(b, o),
    crcInit: u24(b, o + 4),
    winSizeUnits1250us: b[o + 7]!,
    winOffsetUnits1250us: u16(b, o + 8),
    intervalUnits1250us: u16(b, o + 10),
    latency: u16(b, o + 12),
    timeoutUnits10ms: u16(b, o + 14),
    channelMapLe: b.slice(o + 16, o + 21),
    hop: b[o + 21]! & 0x1f,
    sca: b[o + 21]! >>> 5,
  };
}

/**
 * Decode an advertising channel PDU (header + payload, no CRC). Checks the Length field
 * against the bytes and each type's size (§2.3.1–§2.3.3); never throws. Field *values*
 * of LLData are returned as sent: whether a link layer accepts them is its decision.
 */
export function decodeAdvPdu(bytes: Uint8Array): PduResult<AdvPdu> {
  const h = decodeAdvHeader(bytes);
  if (!h.ok) return h;
  const { pduType, length, txAddRandom, rxAddRandom, chSel } = h.value;
  if (bytes.length !== PDU_HEADER_BYTES + length) {
    return bad('length', `Length field says ${length} payload bytes, ${bytes.length - PDU_HEADER_BYTES} present`);
  }
  const type = ADV_TYPE_NAMES[pduType];
  if (type === undefined) return bad('type', `advertising PDU type 0b${pduType.toString(2).padStart(4, '0')} is reserved or not a legacy PDU`);
  const p = PDU_HEADER_BYTES;
  const addr = (o: number, random: boolean): BdAddress => ({ address: readAddressLe(bytes, p + o), random });
  switch (type) {
    case 'ADV_IND':
    case 'ADV_NONCONN_IND':
    case 'ADV_SCAN_IND':
      if (length < 6 || length > 6 + MAX_ADV_DATA_BYTES) return bad('length', `${type} payload must be 6..37 bytes, got ${length}`);
      return { ok: true, value: { type, advA: addr(0, txAddRandom), advData: bytes.slice(p + 6), chSel } };
    case 'ADV_DIRECT_IND':
      if (length !== 12) return bad('length', `ADV_DIRECT_IND payload must be 12 bytes, got ${length}`);
      return { ok: true, value: { type, advA: addr(0, txAddRandom), targetA: addr(6, rxAddRandom), chSel } };
    case 'SCAN_REQ':
      if (length !== SCAN_REQ_PAYLOAD_BYTES) return bad('length', `SCAN_REQ payload must be 12 bytes, got ${length}`);
      return { ok: true, value: { type, scanA: addr(0, txAddRandom), advA: addr(6, rxAddRandom) } };
    case 'SCAN_RSP':
      if (length < 6 || length > 6 + MAX_ADV_DATA_BYTES) return bad('length', `SCAN_RSP payload must be 6..37 bytes, got ${length}`);
      return { ok: true, value: { type, advA: addr(0, txAddRandom), scanRspData: bytes.slice(p + 6) } };
    case 'CONNECT_IND':
      if (length !== CONNECT_IND_PAYLOAD_BYTES) return bad('length', `CONNECT_IND payload must be 34 bytes, got ${length}`);
      return { ok: true, value: { type, initA: addr(0, txAddRandom), advA: addr(6, rxAddRandom), llData: readLlData(bytes, p + 12), chSel } };
  }
}

// ---------------------------------------------------------------------------------------------
// Data physical channel PDUs (§2.4)
// ---------------------------------------------------------------------------------------------

/** LLID values (§2.4, table 2.17). 0b00 is reserved. */
export const LLID = { CONTINUATION: 0b01, START: 0b10, CONTROL: 0b11 } as const;

/** The 16-bit header of a data channel PDU (§2.4): LLID 2 bits, NESN, SN, MD, CP, RFU 2 bits, Length 8 bits. */
export interface DataHeader {
  readonly llid: number;
  readonly nesn: number;
  readonly sn: number;
  readonly md: boolean;
  /** CP: a CTEInfo byte follows the header (§2.4, v5.1). Decoders reject it: not modelled. */
  readonly cp: boolean;
  readonly length: number;
}

export interface DataPdu {
  readonly llid: number;
  readonly nesn: number;
  readonly sn: number;
  readonly md: boolean;
  readonly payload: Uint8Array;
}

/** Header byte 0 from its fields (§2.4); kept separate so the air can build it without objects. */
export function dataHeaderByte0(llid: number, nesn: number, sn: number, md: boolean): number {
  return (llid & 0b11) | ((nesn & 1) << 2) | ((sn & 1) << 3) | (md ? 0x10 : 0);
}

export function encodeDataHeader(h: DataHeader, out: Uint8Array, offset = 0): void {
  checkUint('LLID', h.llid, 2);
  checkUint('NESN', h.nesn, 1);
  checkUint('SN', h.sn, 1);
  checkUint('Length', h.length, 8);
  out[offset] = dataHeaderByte0(h.llid, h.nesn, h.sn, h.md) | (h.cp ? 0x20 : 0);
  out[offset + 1] = h.length;
}

/**
 * Encode a data channel PDU (header + payload, no CRC, no MIC). Like encodeAdvPdu it only
 * enforces what the fields can hold: LLID 0 or a 255-byte payload can be built on purpose.
 */
export function encodeDataPdu(pdu: DataPdu): Uint8Array {
  const out = new Uint8Array(PDU_HEADER_BYTES + pdu.payload.length);
  encodeDataHeader({ llid: pdu.llid, nesn: pdu.nesn, sn: pdu.sn, md: pdu.md, cp: false, length: pdu.payload.length }, out);
  out.set(pdu.payload, PDU_HEADER_BYTES);
  return out;
}

/**
 * Decode just the header of a data channel PDU and check the Length field against the
 * bytes. A link layer uses this before deciding what to do with LLID 0 or an oversized
 * payload; RFU bits are ignored on receipt (§1.5).
 */
export function decodeDataHeader(bytes: Uint8Array): PduResult<DataHeader> {
  if (bytes.length < PDU_HEADER_BYTES) return bad('short', `data PDU needs a 2-byte header, got ${bytes.length} bytes`);
  const b0 = bytes[0]!;
  const length = bytes[1]!;
  const cp = (b0 & 0x20) !== 0;
  const headerBytes = PDU_HEADER_BYTES + (cp ? 1 : 0);
  if (bytes.length !== headerBytes + length) {
    return bad('length', `Length field says ${length} payload bytes, ${bytes.length - headerBytes} present`);
  }
  return { ok: true, value: { llid: b0 & 0b11, nesn: (b0 >>> 2) & 1, sn: (b0 >>> 3) & 1, md: (b0 & 0x10) !== 0, cp, length } };
}

/**
 * Decode a data channel PDU as a receiver that supports payloads up to 251 bytes (§2.4):
 * rejects reserved LLID 0b00, LL control PDUs without an opcode, a CTEInfo field and
 * lengths over 251. Never throws.
 */
export function decodeDataPdu(bytes: Uint8Array): PduResult<DataPdu> {
  const h = decodeDataHeader(bytes);
  if (!h.ok) return h;
  const { llid, nesn, sn, md, cp, length } = h.value;
  if (cp) return bad('cte', 'CP bit set: CTEInfo is not modelled');
  if (llid === 0) return bad('llid', 'LLID 0b00 is reserved');
  if (length > MAX_DATA_PAYLOAD_BYTES) return bad('length', `payload of ${length} bytes exceeds 251`);
  if (llid === LLID.CONTROL && length === 0) return bad('length', 'LL control PDU without an opcode');
  if (llid === LLID.START && length === 0) return bad('length', 'LLID 0b10 (start of an L2CAP message) with an empty payload');
  return { ok: true, value: { llid, nesn, sn, md, payload: bytes.slice(PDU_HEADER_BYTES) } };
}

// ---------------------------------------------------------------------------------------------
// LL control PDUs (§2.4.2): the payload of an LLID 0b11 data PDU, opcode then CtrData
// ---------------------------------------------------------------------------------------------

export const LL_OPCODE = {
  LL_CONNECTION_UPDATE_IND: 0x00,
  LL_CHANNEL_MAP_IND: 0x01,
  LL_TERMINATE_IND: 0x02,
  LL_ENC_REQ: 0x03,
  LL_ENC_RSP: 0x04,
  LL_START_ENC_REQ: 0x05,
  LL_START_ENC_RSP: 0x06,
  LL_UNKNOWN_RSP: 0x07,
  LL_FEATURE_REQ: 0x08,
  LL_FEATURE_RSP: 0x09,
  LL_PAUSE_ENC_REQ: 0x0a,
  LL_PAUSE_ENC_RSP: 0x0b,
  LL_VERSION_IND: 0x0c,
  LL_REJECT_IND: 0x0d,
  LL_PERIPHERAL_FEATURE_REQ: 0x0e,
  LL_CONNECTION_PARAM_REQ: 0x0f,
  LL_CONNECTION_PARAM_RSP: 0x10,
  LL_REJECT_EXT_IND: 0x11,
  LL_PING_REQ: 0x12,
  LL_PING_RSP: 0x13,
  LL_LENGTH_REQ: 0x14,
  LL_LENGTH_RSP: 0x15,
} as const;
export type LlOpcodeName = keyof typeof LL_OPCODE;

/** CtrData size of each opcode we name (§2.4.2.1–§2.4.2.22): a control PDU of another size is malformed. */
const CTR_DATA_BYTES: Readonly<Record<number, number>> = {
  0x00: 11, 0x01: 7, 0x02: 1, 0x03: 22, 0x04: 12, 0x05: 0, 0x06: 0, 0x07: 1, 0x08: 8, 0x09: 8, 0x0a: 0,
  0x0b: 0, 0x0c: 5, 0x0d: 1, 0x0e: 8, 0x0f: 23, 0x10: 23, 0x11: 2, 0x12: 0, 0x13: 0, 0x14: 8, 0x15: 8,
};
const OPCODE_NAMES: Readonly<Record<number, LlOpcodeName>> = Object.fromEntries(
  Object.entries(LL_OPCODE).map(([name, op]) => [op, name as LlOpcodeName]),
);

/** The name of an LL control opcode ("LL_TERMINATE_IND"), or "LL_0xNN" for one we do not name. */
export function llOpcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `LL_0x${opcode.toString(16).padStart(2, '0')}`;
}

export type LlControlPdu =
  | {
      readonly type: 'LL_CONNECTION_UPDATE_IND';
      readonly winSizeUnits1250us: number;
      readonly winOffsetUnits1250us: number;
      readonly intervalUnits1250us: number;
      readonly latency: number;
      readonly timeoutUnits10ms: number;
      readonly instant: number;
    }
  | { readonly type: 'LL_CHANNEL_MAP_IND'; readonly channelMapLe: Uint8Array; readonly instant: number }
  | { readonly type: 'LL_TERMINATE_IND' | 'LL_REJECT_IND'; readonly errorCode: number }
  | { readonly type: 'LL_UNKNOWN_RSP'; readonly unknownType: number }
  | { readonly type: 'LL_FEATURE_REQ' | 'LL_FEATURE_RSP' | 'LL_PERIPHERAL_FEATURE_REQ'; readonly featureSetLe: Uint8Array }
  | { readonly type: 'LL_VERSION_IND'; readonly versNr: number; readonly compId: number; readonly subVersNr: number }
  | { readonly type: 'LL_PING_REQ' | 'LL_PING_RSP' }
  | {
      readonly type: 'LL_LENGTH_REQ' | 'LL_LENGTH_RSP';
      readonly maxRxOctets: number;
      readonly maxRxTimeUs: number;
      readonly maxTxOctets: number;
      readonly maxTxTimeUs: number;
    }
  /** Any other opcode, named or not, carried as raw CtrData. */
  | { readonly type: 'other'; readonly opcode: number; readonly ctrData: Uint8Array };

/** Encode an LL control PDU as the payload of an LLID 0b11 data PDU (opcode + CtrData). */
export function encodeLlControl(pdu: LlControlPdu): Uint8Array {
  const opcode = pdu.type === 'other' ? pdu.opcode : LL_OPCODE[pdu.type];
  checkUint('opcode', opcode, 8);
  const size = pdu.type === 'other' ? pdu.ctrData.length : CTR_DATA_BYTES[opcode]!;
  const out = new Uint8Array(1 + size);
  out[0] = opcode;
  switch (pdu.type) {
    case 'LL_CONNECTION_UPDATE_IND':
      checkUint('WinSize', pdu.winSizeUnits1250us, 8);
      out[1] = pdu.winSizeUnits1250us;
      put16(out, 2, 'WinOffset', pdu.winOffsetUnits1250us);
      put16(out, 4, 'Interval', pdu.intervalUnits1250us);
      put16(out, 6, 'Latency', pdu.latency);
      put16(out, 8, 'Timeout', pdu.timeoutUnits10ms);
      put16(out, 10, 'Instant', pdu.instant);
      break;
    case 'LL_CHANNEL_MAP_IND':
      copyFixed('ChM', pdu.channelMapLe, 5, out, 1);
      put16(out, 6, 'Instant', pdu.instant);
      break;
    case 'LL_TERMINATE_IND':
    case 'LL_REJECT_IND':
      checkUint('ErrorCode', pdu.errorCode, 8);
      out[1] = pdu.errorCode;
      break;
    case 'LL_UNKNOWN_RSP':
      checkUint('UnknownType', pdu.unknownType, 8);
      out[1] = pdu.unknownType;
      break;
    case 'LL_FEATURE_REQ':
    case 'LL_FEATURE_RSP':
    case 'LL_PERIPHERAL_FEATURE_REQ':
      copyFixed('FeatureSet', pdu.featureSetLe, 8, out, 1);
      break;
    case 'LL_VERSION_IND':
      checkUint('VersNr', pdu.versNr, 8);
      out[1] = pdu.versNr;
      put16(out, 2, 'CompId', pdu.compId);
      put16(out, 4, 'SubVersNr', pdu.subVersNr);
      break;
    case 'LL_PING_REQ':
    case 'LL_PING_RSP':
      break;
    case 'LL_LENGTH_REQ':
    case 'LL_LENGTH_RSP':
      put16(out, 1, 'MaxRxOctets', pdu.maxRxOctets);
      put16(out, 3, 'MaxRxTime', pdu.maxRxTimeUs);
      put16(out, 5, 'MaxTxOctets', pdu.maxTxOctets);
      put16(out, 7, 'MaxTxTime', pdu.maxTxTimeUs);
      break;
    case 'other':
      out.set(pdu.ctrData, 1);
      break;
  }
  return out;
}

/**
 * Decode the payload of an LLID 0b11 PDU. A named opcode with the wrong CtrData size is
 * 'length'; opcodes we do not name decode as { type: 'other' } so a link layer can answer
 * LL_UNKNOWN_RSP (§5.1.4 / §2.4.2.7). Never throws.
 */
export function decodeLlControl(payload: Uint8Array): PduResult<LlControlPdu> {
  if (payload.length < 1) return bad('short', 'LL control PDU without an opcode');
  const opcode = payload[0]!;
  const expected = CTR_DATA_BYTES[opcode];
  const d = payload.subarray(1);
  if (expected === undefined) return { ok: true, value: { type: 'other', opcode, ctrData: d.slice() } };
  if (d.length !== expected) return bad('length', `${llOpcodeName(opcode)} CtrData must be ${expected} bytes, got ${d.length}`);
  switch (opcode) {
    case LL_OPCODE.LL_CONNECTION_UPDATE_IND:
      return {
        ok: true,
        value: {
          type: 'LL_CONNECTION_UPDATE_IND',
          winSizeUnits1250us: d[0]!,
          winOffsetUnits1250us: u16(d, 1),
          intervalUnits1250us: u16(d, 3),
          latency: u16(d, 5),
          timeoutUnits10ms: u16(d, 7),
          instant: u16(d, 9),
        },
      };
    case LL_OPCODE.LL_CHANNEL_MAP_IND:
      return { ok: true, value: { type: 'LL_CHANNEL_MAP_IND', channelMapLe: d.slice(0, 5), instant: u16(d, 5) } };
    case LL_OPCODE.LL_TERMINATE_IND:
      return { ok: true, value: { type: 'LL_TERMINATE_IND', errorCode: d[0]! } };
    case LL_OPCODE.LL_REJECT_IND:
      return { ok: true, value: { type: 'LL_REJECT_IND', errorCode: d[0]! } };
    case LL_OPCODE.LL_UNKNOWN_RSP:
      return { ok: true, value: { type: 'LL_UNKNOWN_RSP', unknownType: d[0]! } };
    case LL_OPCODE.LL_FEATURE_REQ:
      return { ok: true, value: { type: 'LL_FEATURE_REQ', featureSetLe: d.slice() } };
    case LL_OPCODE.LL_FEATURE_RSP:
      return { ok: true, value: { type: 'LL_FEATURE_RSP', featureSetLe: d.slice() } };
    case LL_OPCODE.LL_PERIPHERAL_FEATURE_REQ:
      return { ok: true, value: { type: 'LL_PERIPHERAL_FEATURE_REQ', featureSetLe: d.slice() } };
    case LL_OPCODE.LL_VERSION_IND:
      return { ok: true, value: { type: 'LL_VERSION_IND', versNr: d[0]!, compId: u16(d, 1), subVersNr: u16(d, 3) } };
    case LL_OPCODE.LL_PING_REQ:
      return { ok: true, value: { type: 'LL_PING_REQ' } };
    case LL_OPCODE.LL_PING_RSP:
      return { ok: true, value: { type: 'LL_PING_RSP' } };
    case LL_OPCODE.LL_LENGTH_REQ:
    case LL_OPCODE.LL_LENGTH_RSP:
      return {
        ok: true,
        value: {
          type: opcode === LL_OPCODE.LL_LENGTH_REQ ? 'LL_LENGTH_REQ' : 'LL_LENGTH_RSP',
          maxRxOctets: u16(d, 0),
          maxRxTimeUs: u16(d, 2),
          maxTxOctets: u16(d, 4),
          maxTxTimeUs: u16(d, 6),
        },
      };
    default:
      return { ok: true, value: { type: 'other', opcode, ctrData: d.slice() } };
  }
}

// ---------------------------------------------------------------------------------------------
// Connection set-up values
// ---------------------------------------------------------------------------------------------

/** Upper bound in ppm of each SCA field value (table 2.15); a link layer must assume the worst case. */
export const SCA_PPM: readonly number[] = [500, 250, 150, 100, 75, 50, 30, 20];

/** The SCA field value for a clock of `ppm` accuracy: the tightest range that still contains it. */
export function scaFieldForPpm(ppm: number): number {
  for (let sca = 7; sca >= 0; sca--) if (ppm <= SCA_PPM[sca]!) return sca;
  return 0;
}

/** All 37 data channels used (5 bytes, channel 0 in bit 0). */
export function allChannelsMapLe(): Uint8Array {
  return Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x1f);
}

/** Ascending list of used channel indices in a 5-byte channel map (§2.3.3.1 ChM). */
export function usedChannels(channelMapLe: Uint8Array): number[] {
  const used: number[] = [];
  for (let ch = 0; ch < DATA_CHANNEL_COUNT; ch++) if (((channelMapLe[ch >>> 3] ?? 0) >>> (ch & 7)) & 1) used.push(ch);
  return used;
}

/**
 * Channel selection algorithm #1 (Vol 6 Part B §4.5.8.2): the unmapped channel advances
 * by hopIncrement modulo 37; an unused one is remapped to usedChannels[unmapped mod n].
 * Returns the new unmapped channel (the state) and the channel to use.
 */
export function csa1NextChannel(lastUnmappedChannel: number, hop: number, used: readonly number[], usedMask: readonly boolean[]): { unmapped: number; channel: number } {
  const unmapped = (lastUnmappedChannel + hop) % DATA_CHANNEL_COUNT;
  const channel = usedMask[unmapped] ? unmapped : used[unmapped % used.length]!;
  return { unmapped, channel };
}

/** Count bit transitions between adjacent bits of a 32-bit word. */
function transitions(v: number, fromBit: number, toBit: number): number {
  let n = 0;
  for (let i = fromBit; i < toBit; i++) if (((v >>> i) & 1) !== ((v >>> (i + 1)) & 1)) n++;
  return n;
}

/**
 * Whether a 32-bit value may be a connection's access address (Vol 6 Part B §2.1.2): not
 * the advertising AA nor one bit away from it, not four equal octets, at most six
 * consecutive equal bits, at most 24 transitions, at least two transitions in the six
 * most significant bits.
 */
export function isValidAccessAddress(aa: number): boolean {
  aa >>>= 0;
  if (aa === ADV_ACCESS_ADDRESS) return false;
  const diff = (aa ^ ADV_ACCESS_ADDRESS) >>> 0;
  if ((diff & (diff - 1)) === 0) return false; // differs in exactly one bit
  const b0 = aa & 0xff;
  if (((aa >>> 8) & 0xff) === b0 && ((aa >>> 16) & 0xff) === b0 && aa >>> 24 === b0) return false;
  let run = 1;
  for (let i = 1; i < 32; i++) {
    run = ((aa >>> i) & 1) === ((aa >>> (i - 1)) & 1) ? run + 1 : 1;
    if (run > 6) return false;
  }
  if (transitions(aa, 0, 31) > 24) return false;
  if (transitions(aa, 26, 31) < 2) return false;
  return true;
}
