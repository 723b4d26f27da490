// Codecs of the session messages 0x20–0x2F, the RECORD header 0x30 and the record plaintexts
// (docs/protocol.md §5, §7). Not the crypto: sealing and opening are record-layer.ts's.
//
// Decoders are strict (exact lengths, known codes) and never throw on peer input: they return
// `{ ok: false, code: 'malformed', detail }`. Encoders are for our own values and throw a
// RangeError on a programming mistake (a field out of range), never on peer input.

import { ROLE_CODES, roleFromCode, type Role } from './roles.ts';

// ─── constants (docs/protocol.md §2.3, §5) ─────────────────────────────────────────────────

/** Message types of the session (docs/protocol.md §2.3). */
export const SESSION_MSG = {
  hello: 0x20,
  challenge: 0x21,
  proof: 0x22,
  accept: 0x23,
  breakGlassHello: 0x28,
  failed: 0x2f,
  record: 0x30,
} as const;

/** SESSION_FAILED reasons (docs/protocol.md §5.4). */
export const SESSION_FAILED = {
  noSession: 0x01,
  proofFailed: 0x02,
  lockedOut: 0x03,
  tooManyDrops: 0x04,
  idleTimeout: 0x05,
  protocolError: 0x06,
  breakGlassRefused: 0x07,
} as const;
export type SessionFailedReason = (typeof SESSION_FAILED)[keyof typeof SESSION_FAILED];

/** Response status (docs/protocol.md §5.4). */
export const RESPONSE_STATUS = {
  ok: 0x00,
  unknownCommand: 0x01,
  insufficientRole: 0x02,
  invalidParameters: 0x03,
  refusedForSafety: 0x04,
  busy: 0x05,
  notPermittedNow: 0x06,
} as const;

/** Record plaintext kinds (docs/protocol.md §5.4). */
export const PLAINTEXT_KIND = {
  request: 0x01,
  response: 0x02,
  event: 0x03,
  rekeyRequest: 0x10,
  rekeyResponse: 0x11,
  close: 0x12,
} as const;

export const CLIENT_ID_BYTES = 16;
export const SESSION_NONCE_BYTES = 16;
export const SESSION_PROOF_BYTES = 16;
/** RECORD header: type, epoch, 40-bit direction ‖ sequence (docs/protocol.md §5.3). */
export const RECORD_HEADER_BYTES = 7;
export const RECORD_TAG_BYTES = 8;
/** The smallest RECORD: a header and the tag of an empty plaintext. */
export const RECORD_MIN_BYTES = RECORD_HEADER_BYTES + RECORD_TAG_BYTES;
/** The largest sequence number a 39-bit field holds. */
export const MAX_RECORD_SEQUENCE = 2 ** 39 - 1;
/** Direction bit (docs/protocol.md §5.3): 0 client → device, 1 device → client. */
export type RecordDirection = 0 | 1;
export const DIRECTION_C2D: RecordDirection = 0;
export const DIRECTION_D2C: RecordDirection = 1;

const SESSION_HELLO_BYTES = 1 + CLIENT_ID_BYTES + SESSION_NONCE_BYTES;
const SESSION_CHALLENGE_BYTES = 1 + SESSION_NONCE_BYTES;
const SESSION_PROOF_MSG_BYTES = 1 + SESSION_PROOF_BYTES;
const SESSION_ACCEPT_BYTES = 1 + SESSION_PROOF_BYTES + 1 + 2;
const BREAK_GLASS_HELLO_BYTES = 1 + 4 + 4 + SESSION_NONCE_BYTES;

// ─── results ───────────────────────────────────────────────────────────────────────────────

export type WireFailure = { readonly ok: false; readonly code: 'malformed'; readonly detail: string };
export type WireResult<T> = { readonly ok: true; readonly value: T } | WireFailure;

const malformed = (detail: string): WireFailure => ({ ok: false, code: 'malformed', detail });
const okValue = <T>(value: T): WireResult<T> => ({ ok: true, value });

// ─── little-endian integers (docs/protocol.md §1) ──────────────────────────────────────────

const u16le = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u32le = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

function putU16le(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
}

function putU32le(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

function checkInt(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} must be an integer in 0..${max}, got ${v}`);
}

function checkBytes(what: string, b: Uint8Array, length: number): void {
  if (!(b instanceof Uint8Array) || b.length !== length) throw new RangeError(`${what} must be ${length} bytes`);
}

/** u32 little-endian as 4 bytes (break-glass index and not-after, docs/protocol.md §7). */
export function u32leBytes(v: number): Uint8Array {
  checkInt('u32', v, 0xffff_ffff);
  const b = new Uint8Array(4);
  putU32le(b, 0, v);
  return b;
}

export function readU32le(b: Uint8Array, at = 0): number {
  return u32le(b, at);
}

// ─── handshake messages (docs/protocol.md §5.1, §7) ────────────────────────────────────────

export interface SessionHello {
  readonly clientId: Uint8Array;
  readonly nc: Uint8Array;
}

export interface BreakGlassHello {
  readonly index: number;
  readonly notAfterS: number;
  readonly nc: Uint8Array;
}

export interface SessionAccept {
  readonly pd: Uint8Array;
  readonly role: Role;
  readonly idleTimeoutS: number;
}

export interface SessionFailed {
  readonly reason: number;
  /** Only for reason 0x03 (locked out). */
  readonly remainingS?: number;
}

/** `0x20 ‖ clientId[16] ‖ Nc[16]` */
export function encodeSessionHello(m: SessionHello): Uint8Array {
  checkBytes('client id', m.clientId, CLIENT_ID_BYTES);
  checkBytes('Nc', m.nc, SESSION_NONCE_BYTES);
  const b = new Uint8Array(SESSION_HELLO_BYTES);
  b[0] = SESSION_MSG.hello;
  b.set(m.clientId, 1);
  b.set(m.nc, 1 + CLIENT_ID_BYTES);
  return b;
}

/** `0x21 ‖ Nd[16]` */
export function encodeSessionChallenge(nd: Uint8Array): Uint8Array {
  checkBytes('Nd', nd, SESSION_NONCE_BYTES);
  const b = new Uint8Array(SESSION_CHALLENGE_BYTES);
  b[0] = SESSION_MSG.challenge;
  b.set(nd, 1);
  return b;
}

/** `0x22 ‖ Pc[16]` */
export function encodeSessionProof(pc: Uint8Array): Uint8Array {
  checkBytes('Pc', pc, SESSION_PROOF_BYTES);
  const b = new Uint8Array(SESSION_PROOF_MSG_BYTES);
  b[0] = SESSION_MSG.proof;
  b.set(pc, 1);
  return b;
}

/** `0x23 ‖ Pd[16] ‖ role[1] ‖ idleTimeoutS[2]` */
export function encodeSessionAccept(m: SessionAccept): Uint8Array {
  checkBytes('Pd', m.pd, SESSION_PROOF_BYTES);
  checkInt('idle timeout', m.idleTimeoutS, 0xffff);
  const b = new Uint8Array(SESSION_ACCEPT_BYTES);
  b[0] = SESSION_MSG.accept;
  b.set(m.pd, 1);
  b[17] = ROLE_CODES[m.role];
  putU16le(b, 18, m.idleTimeoutS);
  return b;
}

/** `0x28 ‖ index[4] ‖ notAfterS[4] ‖ Nc[16]` */
export function encodeBreakGlassHello(m: BreakGlassHello): Uint8Array {
  checkInt('break-glass index', m.index, 0xffff_ffff);
  checkInt('break-glass not-after', m.notAfterS, 0xffff_ffff);
  checkBytes('Nc', m.nc, SESSION_NONCE_BYTES);
  const b = new Uint8Array(BREAK_GLASS_HELLO_BYTES);
  b[0] = SESSION_MSG.breakGlassHello;
  putU32le(b, 1, m.index);
  putU32le(b, 5, m.notAfterS);
  b.set(m.nc, 9);
  return b;
}

/** `0x2F ‖ reason[1]`, and for reason 0x03 `‖ remainingS[4]`. */
export function encodeSessionFailed(m: SessionFailed): Uint8Array {
  checkInt('SESSION_FAILED reason', m.reason, 0xff);
  if (m.reason === SESSION_FAILED.lockedOut) {
    const remaining = m.remainingS ?? 0;
    checkInt('remaining lockout seconds', remaining, 0xffff_ffff);
    const b = new Uint8Array(6);
    b[0] = SESSION_MSG.failed;
    b[1] = m.reason;
    putU32le(b, 2, remaining);
    return b;
  }
  return Uint8Array.of(SESSION_MSG.failed, m.reason);
}

/** A decoded session message, by type. RECORD is only its outer shape here (header parsed by decodeRecordHeader). */
export type SessionMessage =
  | { readonly type: 'hello'; readonly hello: SessionHello }
  | { readonly type: 'challenge'; readonly nd: Uint8Array }
  | { readonly type: 'proof'; readonly pc: Uint8Array }
  | { readonly type: 'accept'; readonly accept: SessionAccept }
  | { readonly type: 'break-glass-hello'; readonly hello: BreakGlassHello }
  | { readonly type: 'failed'; readonly failed: SessionFailed }
  | { readonly type: 'record'; readonly record: Uint8Array };

function exactLength(name: string, b: Uint8Array, n: number): WireFailure | undefined {
  return b.length === n ? undefined : malformed(`${name} must be ${n} bytes, got ${b.length}`);
}

/**
 * Decode one whole message of types 0x20–0x30. Copies the fields it returns, so the caller's
 * buffer may be reused. Unknown types and wrong lengths are 'malformed' (with a detail).
 */
export function decodeSessionMessage(b: Uint8Array): WireResult<SessionMessage> {
  if (!(b instanceof Uint8Array) || b.length === 0) return malformed('empty message');
  const type = b[0]!;
  switch (type) {
    case SESSION_MSG.hello: {
      const bad = exactLength('SESSION_HELLO', b, SESSION_HELLO_BYTES);
      if (bad) return bad;
      return okValue({ type: 'hello', hello: { clientId: b.slice(1, 17), nc: b.slice(17, 33) } });
    }
    case SESSION_MSG.challenge: {
      const bad = exactLength('SESSION_CHALLENGE', b, SESSION_CHALLENGE_BYTES);
      if (bad) return bad;
      return okValue({ type: 'challenge', nd: b.slice(1, 17) });
    }
    case SESSION_MSG.proof: {
      const bad = exactLength('SESSION_PROOF', b, SESSION_PROOF_MSG_BYTES);
      if (bad) return bad;
      return okValue({ type: 'proof', pc: b.slice(1, 17) });
    }
    case SESSION_MSG.accept: {
      const bad = exactLength('SESSION_ACCEPT', b, SESSION_ACCEPT_BYTES);
      if (bad) return bad;
      const role = roleFromCode(b[17]!);
      if (role === undefined) return malformed(`SESSION_ACCEPT role ${b[17]} is not a role`);
      return okValue({ type: 'accept', accept: { pd: b.slice(1, 17), role, idleTimeoutS: u16le(b, 18) } });
    }
    case SESSION_MSG.breakGlassHello: {
      const bad = exactLength('BREAK_GLASS_HELLO', b, BREAK_GLASS_HELLO_BYTES);
      if (bad) return bad;
      return okValue({ type: 'break-glass-hello', hello: { index: u32le(b, 1), notAfterS: u32le(b, 5), nc: b.slice(9, 25) } });
    }
    case SESSION_MSG.failed: {
      if (b.length < 2) return malformed('SESSION_FAILED without a reason');
      const reason = b[1]!;
      if (reason < SESSION_FAILED.noSession || reason > SESSION_FAILED.breakGlassRefused) {
        return malformed(`SESSION_FAILED reason 0x${reason.toString(16)} is not defined`);
      }
      if (reason === SESSION_FAILED.lockedOut) {
        const bad = exactLength('SESSION_FAILED 0x03', b, 6);
        if (bad) return bad;
        return okValue({ type: 'failed', failed: { reason, remainingS: u32le(b, 2) } });
      }
      const bad = exactLength('SESSION_FAILED', b, 2);
      if (bad) return bad;
      return okValue({ type: 'failed', failed: { reason } });
    }
    case SESSION_MSG.record: {
      if (b.length < RECORD_MIN_BYTES) return malformed(`RECORD must be at least ${RECORD_MIN_BYTES} bytes, got ${b.length}`);
      return okValue({ type: 'record', record: b });
    }
    default:
      return malformed(`type 0x${type.toString(16).padStart(2, '0')} is not a session message`);
  }
}

const SESSION_TYPES: ReadonlySet<number> = new Set(Object.values(SESSION_MSG));

/** Whether byte 0 of a message is one of the session's types (the composition routes on this). */
export function isSessionMessageType(type: number | undefined): boolean {
  return type !== undefined && SESSION_TYPES.has(type);
}

// ─── RECORD header (docs/protocol.md §5.3) ─────────────────────────────────────────────────

export interface RecordHeader {
  readonly epoch: number;
  readonly direction: RecordDirection;
  readonly seq: number;
}

/**
 * Write the 7-byte header into `out` at `at`: 0x30, epoch, then 40 bits *big-endian*:
 * the direction bit and the 39-bit sequence number.
 */
export function writeRecordHeader(out: Uint8Array, at: number, h: RecordHeader): void {
  checkInt('epoch', h.epoch, 0xff);
  checkInt('sequence', h.seq, MAX_RECORD_SEQUENCE);
  out[at] = SESSION_MSG.record;
  out[at + 1] = h.epoch;
  // seq < 2^39: the top 7 bits sit in byte 2 under the direction bit, the low 32 in bytes 3..6.
  const high = Math.floor(h.seq / 2 ** 32);
  const low = h.seq >>> 0;
  out[at + 2] = (h.direction << 7) | high;
  out[at + 3] = low >>> 24;
  out[at + 4] = (low >>> 16) & 0xff;
  out[at + 5] = (low >>> 8) & 0xff;
  out[at + 6] = low & 0xff;
}

export function encodeRecordHeader(h: RecordHeader): Uint8Array {
  const b = new Uint8Array(RECORD_HEADER_BYTES);
  writeRecordHeader(b, 0, h);
  return b;
}

/** Read the header of a RECORD (at least 7 bytes, type 0x30); the sealed part is not looked at. */
export function decodeRecordHeader(b: Uint8Array): WireResult<RecordHeader> {
  if (!(b instanceof Uint8Array) || b.length < RECORD_HEADER_BYTES) return malformed('RECORD header is 7 bytes');
  if (b[0] !== SESSION_MSG.record) return malformed(`type 0x${b[0]!.toString(16)} is not RECORD`);
  return okValue(readRecordHeaderUnchecked(b));
}

/** The header fields of a buffer already known to be a RECORD of ≥ 7 bytes (the hot path). */
export function readRecordHeaderUnchecked(b: Uint8Array): RecordHeader {
  const b2 = b[2]!;
  const direction: RecordDirection = b2 & 0x80 ? 1 : 0;
  const low = ((b[3]! << 24) | (b[4]! << 16) | (b[5]! << 8) | b[6]!) >>> 0;
  return { epoch: b[1]!, direction, seq: (b2 & 0x7f) * 2 ** 32 + low };
}

// ─── record plaintexts (docs/protocol.md §5.3, §5.4) ───────────────────────────────────────

export type RecordPlaintext =
  | { readonly kind: 'request'; readonly requestId: number; readonly command: number; readonly payload: Uint8Array }
  | { readonly kind: 'response'; readonly requestId: number; readonly status: number; readonly payload: Uint8Array }
  | { readonly kind: 'event'; readonly event: number; readonly payload: Uint8Array }
  | { readonly kind: 'rekey-request'; readonly nd: Uint8Array }
  | { readonly kind: 'rekey-response'; readonly nc: Uint8Array }
  | { readonly kind: 'close' };

const EMPTY = new Uint8Array(0);

/** Encode a record plaintext (the sender's own value). */
export function encodePlaintext(p: RecordPlaintext): Uint8Array {
  switch (p.kind) {
    case 'request': {
      checkInt('request id', p.requestId, 0xffff);
      checkInt('command', p.command, 0xffff);
      const b = new Uint8Array(5 + p.payload.length);
      b[0] = PLAINTEXT_KIND.request;
      putU16le(b, 1, p.requestId);
      putU16le(b, 3, p.command);
      b.set(p.payload, 5);
      return b;
    }
    case 'response': {
      checkInt('request id', p.requestId, 0xffff);
      checkInt('status', p.status, 0xff);
      const b = new Uint8Array(4 + p.payload.length);
      b[0] = PLAINTEXT_KIND.response;
      putU16le(b, 1, p.requestId);
      b[3] = p.status;
      b.set(p.payload, 4);
      return b;
    }
    case 'event': {
      checkInt('event', p.event, 0xffff);
      const b = new Uint8Array(3 + p.payload.length);
      b[0] = PLAINTEXT_KIND.event;
      putU16le(b, 1, p.event);
      b.set(p.payload, 3);
      return b;
    }
    case 'rekey-request': {
      checkBytes("Nd'", p.nd, SESSION_NONCE_BYTES);
      const b = new Uint8Array(1 + SESSION_NONCE_BYTES);
      b[0] = PLAINTEXT_KIND.rekeyRequest;
      b.set(p.nd, 1);
      return b;
    }
    case 'rekey-response': {
      checkBytes("Nc'", p.nc, SESSION_NONCE_BYTES);
      const b = new Uint8Array(1 + SESSION_NONCE_BYTES);
      b[0] = PLAINTEXT_KIND.rekeyResponse;
      b.set(p.nc, 1);
      return b;
    }
    case 'close':
      return Uint8Array.of(PLAINTEXT_KIND.close);
  }
}

/** Decode a record plaintext (after the record opened); payloads are copies. */
export function decodePlaintext(b: Uint8Array): WireResult<RecordPlaintext> {
  if (b.length === 0) return malformed('empty record plaintext');
  switch (b[0]!) {
    case PLAINTEXT_KIND.request:
      if (b.length < 5) return malformed(`request must be at least 5 bytes, got ${b.length}`);
      return okValue({ kind: 'request', requestId: u16le(b, 1), command: u16le(b, 3), payload: b.length > 5 ? b.slice(5) : EMPTY });
    case PLAINTEXT_KIND.response:
      if (b.length < 4) return malformed(`response must be at least 4 bytes, got ${b.length}`);
      return okValue({ kind: 'response', requestId: u16le(b, 1), status: b[3]!, payload: b.length > 4 ? b.slice(4) : EMPTY });
    case PLAINTEXT_KIND.event:
      if (b.length < 3) return malformed(`event must be at least 3 bytes, got ${b.length}`);
      return okValue({ kind: 'event', event: u16le(b, 1), payload: b.length > 3 ? b.slice(3) : EMPTY });
    case PLAINTEXT_KIND.rekeyRequest:
      if (b.length !== 17) return malformed(`REKEY_REQUEST must be 17 bytes, got ${b.length}`);
      return okValue({ kind: 'rekey-request', nd: b.slice(1) });
    case PLAINTEXT_KIND.rekeyResponse:
      if (b.length !== 17) return malformed(`REKEY_RESPONSE must be 17 bytes, got ${b.length}`);
      return okValue({ kind: 'rekey-response', nc: b.slice(1) });
    case PLAINTEXT_KIND.close:
      if (b.length !== 1) return malformed(`close must be 1 byte, got ${b.length}`);
      return okValue({ kind: 'close' });
    default:
      return malformed(`plaintext kind 0x${b[0]!.toString(16)} is not defined`);
  }
}
