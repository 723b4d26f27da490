// ATT PDUs as bytes (Core v5.x Vol 3 Part F §3.3, §3.4): opcodes, error codes, an encoder for every PDU
// and a strict decoder that returns a coded result. Not ATT behaviour (att-server.ts, att-client.ts).

import { MedtwinError } from '../errors.ts';
import { uuidFromLe, type Uuid } from './uuid.ts';

/** Opcodes (Vol 3 Part F §3.4.8, Table 3.37; 0x20–0x23 since Core 5.2). */
export const ATT_OP = {
  ERROR_RSP: 0x01,
  EXCHANGE_MTU_REQ: 0x02,
  EXCHANGE_MTU_RSP: 0x03,
  FIND_INFORMATION_REQ: 0x04,
  FIND_INFORMATION_RSP: 0x05,
  FIND_BY_TYPE_VALUE_REQ: 0x06,
  FIND_BY_TYPE_VALUE_RSP: 0x07,
  READ_BY_TYPE_REQ: 0x08,
  READ_BY_TYPE_RSP: 0x09,
  READ_REQ: 0x0a,
  READ_RSP: 0x0b,
  READ_BLOB_REQ: 0x0c,
  READ_BLOB_RSP: 0x0d,
  READ_MULTIPLE_REQ: 0x0e,
  READ_MULTIPLE_RSP: 0x0f,
  READ_BY_GROUP_TYPE_REQ: 0x10,
  READ_BY_GROUP_TYPE_RSP: 0x11,
  WRITE_REQ: 0x12,
  WRITE_RSP: 0x13,
  PREPARE_WRITE_REQ: 0x16,
  PREPARE_WRITE_RSP: 0x17,
  EXECUTE_WRITE_REQ: 0x18,
  EXECUTE_WRITE_RSP: 0x19,
  READ_MULTIPLE_VARIABLE_REQ: 0x20,
  READ_MULTIPLE_VARIABLE_RSP: 0x21,
  MULTIPLE_HANDLE_VALUE_NTF: 0x23,
  HANDLE_VALUE_NTF: 0x1b,
  HANDLE_VALUE_IND: 0x1d,
  HANDLE_VALUE_CFM: 0x1e,
  WRITE_CMD: 0x52,
  SIGNED_WRITE_CMD: 0xd2,
} as const;

const OPCODE_NAMES = new Map<number, string>(Object.entries(ATT_OP).map(([k, v]) => [v, `ATT_${k}`]));

/** "ATT_READ_REQ" for 0x0A (the spec's names); "ATT_0xNN" for opcodes it does not define. */
export function attOpcodeName(opcode: number): string {
  return OPCODE_NAMES.get(opcode) ?? `ATT_0x${opcode.toString(16).padStart(2, '0').toUpperCase()}`;
}

/** Bit 6 of the opcode: a command, which never gets a response (§3.3.1). */
export const ATT_COMMAND_FLAG = 0x40;
/** Bit 7: an Authentication Signature follows (§3.3.1). */
export const ATT_SIGNATURE_FLAG = 0x80;
/** Default and minimum ATT_MTU on LE (§3.2.8; Vol 3 Part G §5.2.1). */
export const ATT_DEFAULT_MTU = 23;
/** Largest ATT_MTU this stack negotiates: a 512-byte value plus the 5 bytes of the largest header. */
export const ATT_MAX_MTU = 517;
/** Longest attribute value (§3.2.9). */
export const ATT_MAX_VALUE_BYTES = 512;
/** Authentication Signature of a Signed Write Command (§3.4.5.4). */
export const ATT_SIGNATURE_BYTES = 12;

/** Error codes of the Error Response (§3.4.1.1, Table 3.4; 0xE0–0xFF: Core Specification Supplement Part B). */
export const ATT_ERROR = {
  INVALID_HANDLE: 0x01,
  READ_NOT_PERMITTED: 0x02,
  WRITE_NOT_PERMITTED: 0x03,
  INVALID_PDU: 0x04,
  INSUFFICIENT_AUTHENTICATION: 0x05,
  REQUEST_NOT_SUPPORTED: 0x06,
  INVALID_OFFSET: 0x07,
  INSUFFICIENT_AUTHORIZATION: 0x08,
  PREPARE_QUEUE_FULL: 0x09,
  ATTRIBUTE_NOT_FOUND: 0x0a,
  ATTRIBUTE_NOT_LONG: 0x0b,
  ENCRYPTION_KEY_SIZE_TOO_SHORT: 0x0c,
  INVALID_ATTRIBUTE_VALUE_LENGTH: 0x0d,
  UNLIKELY_ERROR: 0x0e,
  INSUFFICIENT_ENCRYPTION: 0x0f,
  UNSUPPORTED_GROUP_TYPE: 0x10,
  INSUFFICIENT_RESOURCES: 0x11,
  DATABASE_OUT_OF_SYNC: 0x12,
  VALUE_NOT_ALLOWED: 0x13,
  WRITE_REQUEST_REJECTED: 0xfc,
  CCCD_IMPROPERLY_CONFIGURED: 0xfd,
  PROCEDURE_ALREADY_IN_PROGRESS: 0xfe,
  OUT_OF_RANGE: 0xff,
} as const;

const ERROR_NAMES = new Map<number, string>(Object.entries(ATT_ERROR).map(([k, v]) => [v, k.toLowerCase().replaceAll('_', '-')]));

/** "invalid-handle" for 0x01; "application-error-0x80" for 0x80–0x9F; "att-error-0xNN" otherwise. */
export function attErrorName(code: number): string {
  const n = ERROR_NAMES.get(code);
  if (n) return n;
  const h = `0x${code.toString(16).padStart(2, '0')}`;
  return code >= 0x80 && code <= 0x9f ? `application-error-${h}` : `att-error-${h}`;
}

// ---------------------------------------------------------------------------------------------
// PDU types
// ---------------------------------------------------------------------------------------------

export interface HandleUuid {
  readonly handle: number;
  readonly uuid: Uuid;
}
export interface HandleValue {
  readonly handle: number;
  readonly value: Uint8Array;
}
export interface HandlesInfo {
  readonly foundHandle: number;
  readonly groupEndHandle: number;
}
export interface GroupValue {
  readonly handle: number;
  readonly endGroupHandle: number;
  readonly value: Uint8Array;
}

export type AttPdu =
  | { readonly op: 'error-rsp'; readonly requestOpcode: number; readonly handle: number; readonly error: number }
  | { readonly op: 'exchange-mtu-req'; readonly mtu: number }
  | { readonly op: 'exchange-mtu-rsp'; readonly mtu: number }
  | { readonly op: 'find-information-req'; readonly startHandle: number; readonly endHandle: number }
  /** format 1: 16-bit UUIDs, 2: 128-bit (§3.4.3.2); every entry has the format's size. */
  | { readonly op: 'find-information-rsp'; readonly format: 1 | 2; readonly entries: readonly HandleUuid[] }
  /** The attribute type is a 16-bit UUID (§3.4.3.3). */
  | { readonly op: 'find-by-type-value-req'; readonly startHandle: number; readonly endHandle: number; readonly type: number; readonly value: Uint8Array }
  | { readonly op: 'find-by-type-value-rsp'; readonly entries: readonly HandlesInfo[] }
  | { readonly op: 'read-by-type-req'; readonly startHandle: number; readonly endHandle: number; readonly type: Uuid }
  /** Every value has the same length (§3.4.4.2). */
  | { readonly op: 'read-by-type-rsp'; readonly entries: readonly HandleValue[] }
  | { readonly op: 'read-req'; readonly handle: number }
  | { readonly op: 'read-rsp'; readonly value: Uint8Array }
  | { readonly op: 'read-blob-req'; readonly handle: number; readonly offset: number }
  | { readonly op: 'read-blob-rsp'; readonly value: Uint8Array }
  | { readonly op: 'read-multiple-req'; readonly handles: readonly number[] }
  | { readonly op: 'read-multiple-rsp'; readonly values: Uint8Array }
  | { readonly op: 'read-by-group-type-req'; readonly startHandle: number; readonly endHandle: number; readonly type: Uuid }
  | { readonly op: 'read-by-group-type-rsp'; readonly entries: readonly GroupValue[] }
  | { readonly op: 'write-req'; readonly handle: number; readonly value: Uint8Array }
  | { readonly op: 'write-rsp' }
  | { readonly op: 'write-cmd'; readonly handle: number; readonly value: Uint8Array }
  | { readonly op: 'signed-write-cmd'; readonly handle: number; readonly value: Uint8Array; readonly signature: Uint8Array }
  | { readonly op: 'prepare-write-req'; readonly handle: number; readonly offset: number; readonly value: Uint8Array }
  | { readonly op: 'prepare-write-rsp'; readonly handle: number; readonly offset: number; readonly value: Uint8Array }
  /** flags 0x00 cancel all prepared writes, 0x01 write them all (§3.4.6.3). */
  | { readonly op: 'execute-write-req'; readonly flags: number }
  | { readonly op: 'execute-write-rsp' }
  | { readonly op: 'read-multiple-variable-req'; readonly handles: readonly number[] }
  /** Length-value tuples; the last value may be truncated to fit ATT_MTU (§3.4.4.10). */
  | { readonly op: 'read-multiple-variable-rsp'; readonly values: readonly Uint8Array[] }
  | { readonly op: 'handle-value-ntf'; readonly handle: number; readonly value: Uint8Array }
  | { readonly op: 'handle-value-ind'; readonly handle: number; readonly value: Uint8Array }
  | { readonly op: 'handle-value-cfm' }
  | { readonly op: 'multiple-handle-value-ntf'; readonly entries: readonly HandleValue[] };

export type AttOp = AttPdu['op'];

const OP_CODE: Record<AttOp, number> = {
  'error-rsp': ATT_OP.ERROR_RSP,
  'exchange-mtu-req': ATT_OP.EXCHANGE_MTU_REQ,
  'exchange-mtu-rsp': ATT_OP.EXCHANGE_MTU_RSP,
  'find-information-req': ATT_OP.FIND_INFORMATION_REQ,
  'find-information-rsp': ATT_OP.FIND_INFORMATION_RSP,
  'find-by-type-value-req': ATT_OP.FIND_BY_TYPE_VALUE_REQ,
  'find-by-type-value-rsp': ATT_OP.FIND_BY_TYPE_VALUE_RSP,
  'read-by-type-req': ATT_OP.READ_BY_TYPE_REQ,
  'read-by-type-rsp': ATT_OP.READ_BY_TYPE_RSP,
  'read-req': ATT_OP.READ_REQ,
  'read-rsp': ATT_OP.READ_RSP,
  'read-blob-req': ATT_OP.READ_BLOB_REQ,
  'read-blob-rsp': ATT_OP.READ_BLOB_RSP,
  'read-multiple-req': ATT_OP.READ_MULTIPLE_REQ,
  'read-multiple-rsp': ATT_OP.READ_MULTIPLE_RSP,
  'read-by-group-type-req': ATT_OP.READ_BY_GROUP_TYPE_REQ,
  'read-by-group-type-rsp': ATT_OP.READ_BY_GROUP_TYPE_RSP,
  'write-req': ATT_OP.WRITE_REQ,
  'write-rsp': ATT_OP.WRITE_RSP,
  'write-cmd': ATT_OP.WRITE_CMD,
  'signed-write-cmd': ATT_OP.SIGNED_WRITE_CMD,
  'prepare-write-req': ATT_OP.PREPARE_WRITE_REQ,
  'prepare-write-rsp': ATT_OP.PREPARE_WRITE_RSP,
  'execute-write-req': ATT_OP.EXECUTE_WRITE_REQ,
  'execute-write-rsp': ATT_OP.EXECUTE_WRITE_RSP,
  'read-multiple-variable-req': ATT_OP.READ_MULTIPLE_VARIABLE_REQ,
  'read-multiple-variable-rsp': ATT_OP.READ_MULTIPLE_VARIABLE_RSP,
  'handle-value-ntf': ATT_OP.HANDLE_VALUE_NTF,
  'handle-value-ind': ATT_OP.HANDLE_VALUE_IND,
  'handle-value-cfm': ATT_OP.HANDLE_VALUE_CFM,
  'multiple-handle-value-ntf': ATT_OP.MULTIPLE_HANDLE_VALUE_NTF,
};

export function attOpcodeOf(op: AttOp): number {
  return OP_CODE[op];
}

/** The opcode of the response a request expects (§3.4); undefined for PDUs that are not requests. */
export const RESPONSE_OPCODE_FOR: ReadonlyMap<number, number> = new Map([
  [ATT_OP.EXCHANGE_MTU_REQ, ATT_OP.EXCHANGE_MTU_RSP],
  [ATT_OP.FIND_INFORMATION_REQ, ATT_OP.FIND_INFORMATION_RSP],
  [ATT_OP.FIND_BY_TYPE_VALUE_REQ, ATT_OP.FIND_BY_TYPE_VALUE_RSP],
  [ATT_OP.READ_BY_TYPE_REQ, ATT_OP.READ_BY_TYPE_RSP],
  [ATT_OP.READ_REQ, ATT_OP.READ_RSP],
  [ATT_OP.READ_BLOB_REQ, ATT_OP.READ_BLOB_RSP],
  [ATT_OP.READ_MULTIPLE_REQ, ATT_OP.READ_MULTIPLE_RSP],
  [ATT_OP.READ_BY_GROUP_TYPE_REQ, ATT_OP.READ_BY_GROUP_TYPE_RSP],
  [ATT_OP.WRITE_REQ, ATT_OP.WRITE_RSP],
  [ATT_OP.PREPARE_WRITE_REQ, ATT_OP.PREPARE_WRITE_RSP],
  [ATT_OP.EXECUTE_WRITE_REQ, ATT_OP.EXECUTE_WRITE_RSP],
  [ATT_OP.READ_MULTIPLE_VARIABLE_REQ, ATT_OP.READ_MULTIPLE_VARIABLE_RSP],
]);

/** Opcodes a client receives: responses, notifications and indications. */
export const CLIENT_BOUND_OPCODES: ReadonlySet<number> = new Set([
  ATT_OP.ERROR_RSP,
  ...RESPONSE_OPCODE_FOR.values(),
  ATT_OP.HANDLE_VALUE_NTF,
  ATT_OP.HANDLE_VALUE_IND,
  ATT_OP.MULTIPLE_HANDLE_VALUE_NTF,
]);

/**
 * The handle a trace record names for a PDU (its single Attribute Handle field, the handle in
 * error of an Error Response, the first of a set of handles), or undefined for PDUs without one.
 */
export function primaryHandle(pdu: AttPdu): number | undefined {
  switch (pdu.op) {
    case 'error-rsp':
    case 'read-req':
    case 'read-blob-req':
    case 'write-req':
    case 'write-cmd':
    case 'signed-write-cmd':
    case 'prepare-write-req':
    case 'prepare-write-rsp':
    case 'handle-value-ntf':
    case 'handle-value-ind':
      return pdu.handle;
    case 'read-multiple-req':
    case 'read-multiple-variable-req':
      return pdu.handles[0];
    case 'multiple-handle-value-ntf':
      return pdu.entries[0]?.handle;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

function u16(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new MedtwinError('att.encode', `${name} must be 0..0xFFFF, got ${v}`);
  return v;
}
function u8(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new MedtwinError('att.encode', `${name} must be 0..0xFF, got ${v}`);
  return v;
}

class Writer {
  private buf = new Uint8Array(32);
  private n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + k) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.n++] = v;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.buf[this.n++] = v & 0xff;
    this.buf[this.n++] = v >> 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

/**
 * The bytes of a PDU. Field values outside their width are programming errors and throw;
 * lengths are the caller's business (the server truncates to ATT_MTU before encoding).
 */
export function encodeAttPdu(pdu: AttPdu): Uint8Array {
  const w = new Writer().u8(OP_CODE[pdu.op]);
  switch (pdu.op) {
    case 'error-rsp':
      return w.u8(u8('requestOpcode', pdu.requestOpcode)).u16(u16('handle', pdu.handle)).u8(u8('error', pdu.error)).done();
    case 'exchange-mtu-req':
    case 'exchange-mtu-rsp':
      return w.u16(u16('mtu', pdu.mtu)).done();
    case 'find-information-req':
      return w.u16(u16('startHandle', pdu.startHandle)).u16(u16('endHandle', pdu.endHandle)).done();
    case 'find-information-rsp': {
      w.u8(pdu.format);
      for (const e of pdu.entries) {
        if ((e.uuid.bits === 16) !== (pdu.format === 1)) throw new MedtwinError('att.encode', `format ${pdu.format} cannot carry a ${e.uuid.bits}-bit UUID`);
        w.u16(u16('handle', e.handle)).bytes(e.uuid.le);
      }
      return w.done();
    }
    case 'find-by-type-value-req':
      return w.u16(u16('startHandle', pdu.startHandle)).u16(u16('endHandle', pdu.endHandle)).u16(u16('type', pdu.type)).bytes(pdu.value).done();
    case 'find-by-type-value-rsp':
      for (const e of pdu.entries) w.u16(u16('foundHandle', e.foundHandle)).u16(u16('groupEndHandle', e.groupEndHandle));
      return w.done();
    case 'read-by-type-req':
    case 'read-by-group-type-req':
      return w.u16(u16('startHandle', pdu.startHandle)).u16(u16('endHandle', pdu.endHandle)).bytes(pdu.type.le).done();
    case 'read-by-type-rsp': {
      const len = 2 + (pdu.entries[0]?.value.length ?? 0);
      w.u8(u8('length', len));
      for (const e of pdu.entries) {
        if (e.value.length + 2 !== len) throw new MedtwinError('att.encode', 'every value of a Read By Type Response has the same length');
        w.u16(u16('handle', e.handle)).bytes(e.value);
      }
      return w.done();
    }
    case 'read-by-group-type-rsp': {
      const len = 4 + (pdu.entries[0]?.value.length ?? 0);
      w.u8(u8('length', len));
      for (const e of pdu.entries) {
        if (e.value.length + 4 !== len) throw new MedtwinError('att.encode', 'every value of a Read By Group Type Response has the same length');
        w.u16(u16('handle', e.handle)).u16(u16('endGroupHandle', e.endGroupHandle)).bytes(e.value);
      }
      return w.done();
    }
    case 'read-req':
      return w.u16(u16('handle', pdu.handle)).done();
    case 'read-rsp':
    case 'read-blob-rsp':
      return w.bytes(pdu.value).done();
    case 'read-multiple-rsp':
      return w.bytes(pdu.values).done();
    case 'read-blob-req':
      return w.u16(u16('handle', pdu.handle)).u16(u16('offset', pdu.offset)).done();
    case 'read-multiple-req':
    case 'read-multiple-variable-req':
      for (const h of pdu.handles) w.u16(u16('handle', h));
      return w.done();
    case 'read-multiple-variable-rsp':
      for (const v of pdu.values) w.u16(u16('length', v.length)).bytes(v);
      return w.done();
    case 'write-req':
    case 'write-cmd':
    case 'handle-value-ntf':
    case 'handle-value-ind':
      return w.u16(u16('handle', pdu.handle)).bytes(pdu.value).done();
    case 'signed-write-cmd':
      if (pdu.signature.length !== ATT_SIGNATURE_BYTES) throw new MedtwinError('att.encode', `a signature is ${ATT_SIGNATURE_BYTES} bytes`);
      return w.u16(u16('handle', pdu.handle)).bytes(pdu.value).bytes(pdu.signature).done();
    case 'prepare-write-req':
    case 'prepare-write-rsp':
      return w.u16(u16('handle', pdu.handle)).u16(u16('offset', pdu.offset)).bytes(pdu.value).done();
    case 'execute-write-req':
      return w.u8(u8('flags', pdu.flags)).done();
    case 'write-rsp':
    case 'execute-write-rsp':
    case 'handle-value-cfm':
      return w.done();
    case 'multiple-handle-value-ntf':
      for (const e of pdu.entries) w.u16(u16('handle', e.handle)).u16(u16('length', e.value.length)).bytes(e.value);
      return w.done();
  }
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

/**
 * - 'empty': no opcode byte.
 * - 'unknown-opcode': an opcode the spec does not define (the server answers Request Not
 *   Supported unless the command flag is set, §3.4.1.1, §3.3.1).
 * - 'length': the PDU is shorter or longer than its opcode allows.
 * - 'format': a field holds a value its PDU does not allow (a Find Information format, a
 *   length byte, an empty list).
 */
export type AttDecodeErrorCode = 'empty' | 'unknown-opcode' | 'length' | 'format';
export type AttDecodeResult =
  | { ok: true; value: AttPdu }
  | { ok: false; code: AttDecodeErrorCode; opcode: number; detail: string };

const le16 = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8);

// Module-level helpers (not closures): decoding is on the hot path of every PDU.
function bad(opcode: number, code: AttDecodeErrorCode, detail: string): AttDecodeResult {
  return { ok: false, code, opcode, detail: `${attOpcodeName(opcode)}: ${detail}` };
}
function exactly(b: Uint8Array, len: number): AttDecodeResult | null {
  return b.length === len ? null : bad(b[0]!, 'length', `must be ${len} bytes, got ${b.length}`);
}
function atLeast(b: Uint8Array, len: number): AttDecodeResult | null {
  return b.length >= len ? null : bad(b[0]!, 'length', `must be at least ${len} bytes, got ${b.length}`);
}
function okv(value: AttPdu): AttDecodeResult {
  return { ok: true, value };
}

/** Decode one ATT PDU; never throws, never keeps a reference to `b` (values are copies). */
export function decodeAttPdu(b: Uint8Array): AttDecodeResult {
  if (b.length === 0) return { ok: false, code: 'empty', opcode: -1, detail: 'an ATT PDU needs an opcode' };
  const opcode = b[0]!;
  const n = b.length;
  let e: AttDecodeResult | null;
  switch (opcode) {
    case ATT_OP.ERROR_RSP:
      if ((e = exactly(b, 5))) return e;
      return okv({ op: 'error-rsp', requestOpcode: b[1]!, handle: le16(b, 2), error: b[4]! });
    case ATT_OP.EXCHANGE_MTU_REQ:
    case ATT_OP.EXCHANGE_MTU_RSP:
      if ((e = exactly(b, 3))) return e;
      return okv({ op: opcode === ATT_OP.EXCHANGE_MTU_REQ ? 'exchange-mtu-req' : 'exchange-mtu-rsp', mtu: le16(b, 1) });
    case ATT_OP.FIND_INFORMATION_REQ:
      if ((e = exactly(b, 5))) return e;
      return okv({ op: 'find-information-req', startHandle: le16(b, 1), endHandle: le16(b, 3) });
    case ATT_OP.FIND_INFORMATION_RSP: {
      if ((e = atLeast(b, 2))) return e;
      const format = b[1]!;
      if (format !== 1 && format !== 2) return bad(opcode, 'format', `format must be 1 or 2, got ${format}`);
      const size = format === 1 ? 4 : 18;
      if (n < 2 + size || (n - 2) % size !== 0) return bad(opcode, 'length', `information data must be a non-empty multiple of ${size} bytes, got ${n - 2}`);
      const entries: HandleUuid[] = [];
      for (let i = 2; i < n; i += size) {
        const u = uuidFromLe(b.subarray(i + 2, i + size));
        if (!u.ok) return bad(opcode, 'format', u.detail);
        entries.push({ handle: le16(b, i), uuid: u.value });
      }
      return okv({ op: 'find-information-rsp', format, entries });
    }
    case ATT_OP.FIND_BY_TYPE_VALUE_REQ:
      if ((e = atLeast(b, 7))) return e;
      return okv({ op: 'find-by-type-value-req', startHandle: le16(b, 1), endHandle: le16(b, 3), type: le16(b, 5), value: b.slice(7) });
    case ATT_OP.FIND_BY_TYPE_VALUE_RSP: {
      if (n < 5 || (n - 1) % 4 !== 0) return bad(opcode, 'length', `handles information must be a non-empty multiple of 4 bytes, got ${n - 1}`);
      const entries: HandlesInfo[] = [];
      for (let i = 1; i < n; i += 4) entries.push({ foundHandle: le16(b, i), groupEndHandle: le16(b, i + 2) });
      return okv({ op: 'find-by-type-value-rsp', entries });
    }
    case ATT_OP.READ_BY_TYPE_REQ:
    case ATT_OP.READ_BY_GROUP_TYPE_REQ: {
      if (n !== 7 && n !== 21) return bad(opcode, 'length', `must be 7 or 21 bytes (16- or 128-bit type), got ${n}`);
      const u = uuidFromLe(b.subarray(5));
      if (!u.ok) return bad(opcode, 'format', u.detail);
      const op = opcode === ATT_OP.READ_BY_TYPE_REQ ? 'read-by-type-req' : 'read-by-group-type-req';
      return okv({ op, startHandle: le16(b, 1), endHandle: le16(b, 3), type: u.value });
    }
    case ATT_OP.READ_BY_TYPE_RSP: {
      if ((e = atLeast(b, 4))) return e;
      const len = b[1]!;
      if (len < 2) return bad(opcode, 'format', `length must be at least 2, got ${len}`);
      if ((n - 2) % len !== 0) return bad(opcode, 'length', `attribute data list of ${n - 2} bytes is not a multiple of ${len}`);
      const entries: HandleValue[] = [];
      for (let i = 2; i < n; i += len) entries.push({ handle: le16(b, i), value: b.slice(i + 2, i + len) });
      return okv({ op: 'read-by-type-rsp', entries });
    }
    case ATT_OP.READ_BY_GROUP_TYPE_RSP: {
      if ((e = atLeast(b, 6))) return e;
      const len = b[1]!;
      if (len < 4) return bad(opcode, 'format', `length must be at least 4, got ${len}`);
      if ((n - 2) % len !== 0) return bad(opcode, 'length', `attribute data list of ${n - 2} bytes is not a multiple of ${len}`);
      const entries: GroupValue[] = [];
      for (let i = 2; i < n; i += len) entries.push({ handle: le16(b, i), endGroupHandle: le16(b, i + 2), value: b.slice(i + 4, i + len) });
      return okv({ op: 'read-by-group-type-rsp', entries });
    }
    case ATT_OP.READ_REQ:
      if ((e = exactly(b, 3))) return e;
      return okv({ op: 'read-req', handle: le16(b, 1) });
    case ATT_OP.READ_RSP:
      return okv({ op: 'read-rsp', value: b.slice(1) });
    case ATT_OP.READ_BLOB_REQ:
      if ((e = exactly(b, 5))) return e;
      return okv({ op: 'read-blob-req', handle: le16(b, 1), offset: le16(b, 3) });
    case ATT_OP.READ_BLOB_RSP:
      return okv({ op: 'read-blob-rsp', value: b.slice(1) });
    case ATT_OP.READ_MULTIPLE_REQ:
    case ATT_OP.READ_MULTIPLE_VARIABLE_REQ: {
      // A set of two or more handles (§3.4.4.7, §3.4.4.11).
      if (n < 5 || (n - 1) % 2 !== 0) return bad(opcode, 'length', `needs two or more 2-byte handles, got ${n - 1} bytes`);
      const handles: number[] = [];
      for (let i = 1; i < n; i += 2) handles.push(le16(b, i));
      return okv({ op: opcode === ATT_OP.READ_MULTIPLE_REQ ? 'read-multiple-req' : 'read-multiple-variable-req', handles });
    }
    case ATT_OP.READ_MULTIPLE_RSP:
      return okv({ op: 'read-multiple-rsp', values: b.slice(1) });
    case ATT_OP.READ_MULTIPLE_VARIABLE_RSP: {
      const values: Uint8Array[] = [];
      let i = 1;
      while (i < n) {
        if (i + 2 > n) return bad(opcode, 'length', 'a length-value tuple needs a 2-byte length');
        const len = le16(b, i);
        // Only the last tuple may be cut short by ATT_MTU (§3.4.4.12).
        values.push(b.slice(i + 2, Math.min(n, i + 2 + len)));
        i += 2 + len;
      }
      return okv({ op: 'read-multiple-variable-rsp', values });
    }
    case ATT_OP.WRITE_REQ:
    case ATT_OP.WRITE_CMD:
    case ATT_OP.HANDLE_VALUE_NTF:
    case ATT_OP.HANDLE_VALUE_IND: {
      if ((e = atLeast(b, 3))) return e;
      const op = opcode === ATT_OP.WRITE_REQ ? 'write-req' : opcode === ATT_OP.WRITE_CMD ? 'write-cmd' : opcode === ATT_OP.HANDLE_VALUE_NTF ? 'handle-value-ntf' : 'handle-value-ind';
      return okv({ op, handle: le16(b, 1), value: b.slice(3) });
    }
    case ATT_OP.SIGNED_WRITE_CMD:
      if ((e = atLeast(b, 3 + ATT_SIGNATURE_BYTES))) return e;
      return okv({ op: 'signed-write-cmd', handle: le16(b, 1), value: b.slice(3, n - ATT_SIGNATURE_BYTES), signature: b.slice(n - ATT_SIGNATURE_BYTES) });
    case ATT_OP.PREPARE_WRITE_REQ:
    case ATT_OP.PREPARE_WRITE_RSP:
      if ((e = atLeast(b, 5))) return e;
      return okv({ op: opcode === ATT_OP.PREPARE_WRITE_REQ ? 'prepare-write-req' : 'prepare-write-rsp', handle: le16(b, 1), offset: le16(b, 3), value: b.slice(5) });
    case ATT_OP.EXECUTE_WRITE_REQ:
      if ((e = exactly(b, 2))) return e;
      return okv({ op: 'execute-write-req', flags: b[1]! });
    case ATT_OP.WRITE_RSP:
    case ATT_OP.EXECUTE_WRITE_RSP:
    case ATT_OP.HANDLE_VALUE_CFM:
      if ((e = exactly(b, 1))) return e;
      return okv({ op: opcode === ATT_OP.WRITE_RSP ? 'write-rsp' : opcode === ATT_OP.EXECUTE_WRITE_RSP ? 'execute-write-rsp' : 'handle-value-cfm' });
    case ATT_OP.MULTIPLE_HANDLE_VALUE_NTF: {
      const entries: HandleValue[] = [];
      let i = 1;
      while (i < n) {
        if (i + 4 > n) return bad(opcode, 'length', 'a handle-length-value tuple needs 4 header bytes');
        const len = le16(b, i + 2);
        if (i + 4 + len > n) return bad(opcode, 'length', `tuple value of ${len} bytes overruns the PDU`);
        entries.push({ handle: le16(b, i), value: b.slice(i + 4, i + 4 + len) });
        i += 4 + len;
      }
      if (entries.length < 2) return bad(opcode, 'length', 'carries two or more handle-value tuples');
      return okv({ op: 'multiple-handle-value-ntf', entries });
    }
    default:
      return bad(opcode, 'unknown-opcode', 'not an opcode the Core specification defines');
  }
}
