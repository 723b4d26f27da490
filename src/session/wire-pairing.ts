// Pairing messages 0x01–0x0F on the wire (docs/protocol.md §4): strict encoders and decoders, and
// the §4 protocol constants both sides share (A, B, IOcap, rᵢ). Not the pairing logic, not crypto.
//
// Decoders never throw on peer input: anything that is not exactly one well-formed message is
// `{ ok: false, code: 'malformed', detail }`, which the device answers with PAIR_FAILED 0x0A
// (§4.5). Integers are little-endian; keys, nonces and check values are MSB-first byte strings
// (§1), copied out of the input so a later change to the buffer cannot reach a decoded value.

import { ROLE_CODES, roleFromCode, type Role } from './roles.ts';

// ─── Message types (§2.3) ─────────────────────────────────────────────────────────────────────

export const PAIR_MESSAGE_TYPES = {
  request: 0x01,
  response: 0x02,
  randomC: 0x04,
  randomD: 0x05,
  checkC: 0x06,
  checkD: 0x07,
  passkeyCommitC: 0x08,
  passkeyCommitD: 0x09,
  passkeyRandomC: 0x0a,
  passkeyRandomD: 0x0b,
  failed: 0x0f,
} as const;

/** Types the pairing part of the channel owns (§2.3): 0x01–0x0F; unassigned ones are malformed. */
export const isPairingMessageType = (type: number): boolean => type >= 0x01 && type <= 0x0f;

/** PAIR_FAILED reasons (§4.5); 0x01–0x0C are SMP's (Core Vol 3 Part H §3.5.5). */
export const PAIR_FAILED = {
  passkeyEntryFailed: 0x01,
  authenticationRequirements: 0x03,
  confirmValueFailed: 0x04,
  unspecified: 0x08,
  invalidParameters: 0x0a,
  dhKeyCheckFailed: 0x0b,
  numericComparisonFailed: 0x0c,
  certificateInvalid: 0x80,
  credentialInvalid: 0x81,
  bondTableFull: 0x82,
  lockedOut: 0x83,
  busy: 0x84,
} as const;

/** Reasons whose cause is the peer's: they count towards lockout (§4.5, §8). */
export const PEER_CAUSED_REASONS: readonly number[] = [0x01, 0x04, 0x0a, 0x0b, 0x0c, 0x81];

/** Pairing methods (§4.1). */
export const PAIRING_METHODS = { numericComparison: 1, passkeyEntry: 2 } as const;
export type PairingMethod = 'numeric-comparison' | 'passkey-entry';
export const METHOD_CODES: Readonly<Record<PairingMethod, number>> = { 'numeric-comparison': 1, 'passkey-entry': 2 };
export function methodFromCode(code: number): PairingMethod | undefined {
  return code === 1 ? 'numeric-comparison' : code === 2 ? 'passkey-entry' : undefined;
}

// ─── Sizes ───────────────────────────────────────────────────────────────────────────────────

export const CLIENT_ID_BYTES = 16;
export const PUBLIC_KEY_BYTES = 64;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 16;
export const CHECK_BYTES = 16;
/** §3.1. */
export const DEVICE_CERTIFICATE_BYTES = 138;
/** §3.2. */
export const ROLE_CREDENTIAL_BYTES = 87;
/** Passkey entry rounds (§4.3; Core Vol 3 Part H §2.3.5.6.3: one per bit of the 20-bit passkey). */
export const PASSKEY_ROUNDS = 20;
export const PASSKEY_MAX = 999_999;
/** A channel message is at most 1,024 bytes (§2.2), which bounds the credential length. */
const MAX_MESSAGE_BYTES = 1_024;

const REQUEST_FIXED_BYTES = 85;
const RESPONSE_BYTES = 2 + DEVICE_CERTIFICATE_BYTES + PUBLIC_KEY_BYTES + SIGNATURE_BYTES + CHECK_BYTES; // 284

// ─── Messages ────────────────────────────────────────────────────────────────────────────────

/** PAIR_REQUEST (§4.1). `method` is the raw byte: an unknown one is PAIR_FAILED 0x03, not malformed. */
export interface PairRequest {
  readonly type: 'request';
  readonly method: number;
  readonly role: Exclude<Role, 'emergency'>;
  readonly clientId: Uint8Array;
  readonly pka: Uint8Array;
  /** The role credential (§3.2), empty for none; its content is checked by identity.ts (0x81). */
  readonly credential: Uint8Array;
}

/** PAIR_RESPONSE (§4.1). */
export interface PairResponse {
  readonly type: 'response';
  readonly method: number;
  readonly certificate: Uint8Array;
  readonly pkb: Uint8Array;
  /** The identity key's signature over "medtwin-pairkey-v1" ‖ PKb. */
  readonly pkbSignature: Uint8Array;
  /** Numeric comparison: Cb = f4(PKb.x, PKa.x, Nb, 0x00); passkey entry: 16 zero bytes. */
  readonly cb: Uint8Array;
}

export interface PairRandom {
  readonly type: 'random-c' | 'random-d';
  readonly nonce: Uint8Array;
}

export interface PairCheckC {
  readonly type: 'check-c';
  readonly ea: Uint8Array;
}

export interface PairCheckD {
  readonly type: 'check-d';
  readonly eb: Uint8Array;
  readonly role: Exclude<Role, 'emergency'>;
}

/** PASSKEY_COMMIT_C/D (§4.3): `value` is Caᵢ or Cbᵢ. The round is the raw byte; order is the machine's check. */
export interface PasskeyCommit {
  readonly type: 'passkey-commit-c' | 'passkey-commit-d';
  readonly round: number;
  readonly value: Uint8Array;
}

/** PASSKEY_RANDOM_C/D (§4.3): `nonce` is Naᵢ or Nbᵢ. */
export interface PasskeyRandom {
  readonly type: 'passkey-random-c' | 'passkey-random-d';
  readonly round: number;
  readonly nonce: Uint8Array;
}

/** PAIR_FAILED (§4.5): `remainingS` only (and always) for reason 0x83. */
export interface PairFailed {
  readonly type: 'failed';
  readonly reason: number;
  readonly remainingS?: number;
}

export type PairingMessage = PairRequest | PairResponse | PairRandom | PairCheckC | PairCheckD | PasskeyCommit | PasskeyRandom | PairFailed;

export type DecodeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: 'malformed'; readonly detail: string };

const malformed = (detail: string): { ok: false; code: 'malformed'; detail: string } => ({ ok: false, code: 'malformed', detail });
const hex2 = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

// ─── Encoding ────────────────────────────────────────────────────────────────────────────────

function need(what: string, bytes: Uint8Array, length: number): void {
  // Encoders take our own values: a wrong length is a bug here, not peer input.
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new RangeError(`${what} must be ${length} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
  }
}

function byte(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError(`${what} must be a byte, got ${n}`);
  return n;
}

function privilegedOrPatientCode(role: Role): number {
  if (role === 'emergency') throw new RangeError('the emergency role is never paired (§3.3)');
  return ROLE_CODES[role];
}

export function encodePairRequest(m: Omit<PairRequest, 'type'>): Uint8Array {
  need('client id', m.clientId, CLIENT_ID_BYTES);
  need('PKa', m.pka, PUBLIC_KEY_BYTES);
  if (REQUEST_FIXED_BYTES + m.credential.length > MAX_MESSAGE_BYTES) throw new RangeError(`credential of ${m.credential.length} bytes does not fit a message`);
  const out = new Uint8Array(REQUEST_FIXED_BYTES + m.credential.length);
  out[0] = PAIR_MESSAGE_TYPES.request;
  out[1] = byte('method', m.method);
  out[2] = privilegedOrPatientCode(m.role);
  out.set(m.clientId, 3);
  out.set(m.pka, 19);
  out[83] = m.credential.length & 0xff;
  out[84] = m.credential.length >>> 8;
  out.set(m.credential, 85);
  return out;
}

export function encodePairResponse(m: Omit<PairResponse, 'type'>): Uint8Array {
  need('certificate', m.certificate, DEVICE_CERTIFICATE_BYTES);
  need('PKb', m.pkb, PUBLIC_KEY_BYTES);
  need('PKb signature', m.pkbSignature, SIGNATURE_BYTES);
  need('Cb', m.cb, CHECK_BYTES);
  const out = new Uint8Array(RESPONSE_BYTES);
  out[0] = PAIR_MESSAGE_TYPES.response;
  out[1] = byte('method', m.method);
  out.set(m.certificate, 2);
  out.set(m.pkb, 140);
  out.set(m.pkbSignature, 204);
  out.set(m.cb, 268);
  return out;
}

function typed16(type: number, value: Uint8Array, what: string): Uint8Array {
  need(what, value, 16);
  const out = new Uint8Array(17);
  out[0] = type;
  out.set(value, 1);
  return out;
}

export const encodePairRandomC = (na: Uint8Array): Uint8Array => typed16(PAIR_MESSAGE_TYPES.randomC, na, 'Na');
export const encodePairRandomD = (nb: Uint8Array): Uint8Array => typed16(PAIR_MESSAGE_TYPES.randomD, nb, 'Nb');
export const encodePairCheckC = (ea: Uint8Array): Uint8Array => typed16(PAIR_MESSAGE_TYPES.checkC, ea, 'Ea');

export function encodePairCheckD(eb: Uint8Array, role: Role): Uint8Array {
  need('Eb', eb, CHECK_BYTES);
  const out = new Uint8Array(18);
  out[0] = PAIR_MESSAGE_TYPES.checkD;
  out.set(eb, 1);
  out[17] = privilegedOrPatientCode(role);
  return out;
}

function roundMessage(type: number, round: number, value: Uint8Array, what: string): Uint8Array {
  need(what, value, 16);
  const out = new Uint8Array(18);
  out[0] = type;
  out[1] = byte('round', round);
  out.set(value, 2);
  return out;
}

export const encodePasskeyCommitC = (round: number, ca: Uint8Array): Uint8Array => roundMessage(PAIR_MESSAGE_TYPES.passkeyCommitC, round, ca, 'Caᵢ');
export const encodePasskeyCommitD = (round: number, cb: Uint8Array): Uint8Array => roundMessage(PAIR_MESSAGE_TYPES.passkeyCommitD, round, cb, 'Cbᵢ');
export const encodePasskeyRandomC = (round: number, na: Uint8Array): Uint8Array => roundMessage(PAIR_MESSAGE_TYPES.passkeyRandomC, round, na, 'Naᵢ');
export const encodePasskeyRandomD = (round: number, nb: Uint8Array): Uint8Array => roundMessage(PAIR_MESSAGE_TYPES.passkeyRandomD, round, nb, 'Nbᵢ');

/** PAIR_FAILED: `0x0F ‖ reason`, and for 0x83 `‖ remaining lockout seconds (u32 LE)` (§4.5). */
export function encodePairFailed(reason: number, remainingS = 0): Uint8Array {
  byte('reason', reason);
  if (reason !== PAIR_FAILED.lockedOut) return Uint8Array.of(PAIR_MESSAGE_TYPES.failed, reason);
  if (!Number.isInteger(remainingS) || remainingS < 0 || remainingS > 0xffffffff) throw new RangeError(`remaining seconds must be a u32, got ${remainingS}`);
  const out = new Uint8Array(6);
  out[0] = PAIR_MESSAGE_TYPES.failed;
  out[1] = reason;
  new DataView(out.buffer).setUint32(2, remainingS, true);
  return out;
}

/** Any pairing message, by its `type`. */
export function encodePairingMessage(m: PairingMessage): Uint8Array {
  switch (m.type) {
    case 'request':
      return encodePairRequest(m);
    case 'response':
      return encodePairResponse(m);
    case 'random-c':
      return encodePairRandomC(m.nonce);
    case 'random-d':
      return encodePairRandomD(m.nonce);
    case 'check-c':
      return encodePairCheckC(m.ea);
    case 'check-d':
      return encodePairCheckD(m.eb, m.role);
    case 'passkey-commit-c':
      return encodePasskeyCommitC(m.round, m.value);
    case 'passkey-commit-d':
      return encodePasskeyCommitD(m.round, m.value);
    case 'passkey-random-c':
      return encodePasskeyRandomC(m.round, m.nonce);
    case 'passkey-random-d':
      return encodePasskeyRandomD(m.round, m.nonce);
    case 'failed':
      return encodePairFailed(m.reason, m.remainingS ?? 0);
  }
}

// ─── Decoding ────────────────────────────────────────────────────────────────────────────────

function pairedRole(code: number): Exclude<Role, 'emergency'> | undefined {
  const role = roleFromCode(code);
  return role === 'emergency' ? undefined : role;
}

function exactLength(name: string, bytes: Uint8Array, length: number): string | undefined {
  return bytes.length === length ? undefined : `${name} must be ${length} bytes, got ${bytes.length}`;
}

/**
 * One pairing message, strictly: a known type 0x01–0x0F, exactly its length, every enumerated
 * field one of its values. Never throws for any byte string.
 */
export function decodePairingMessage(bytes: Uint8Array): DecodeResult<PairingMessage> {
  if (!(bytes instanceof Uint8Array)) return malformed('not a byte string');
  const type = bytes[0];
  if (type === undefined) return malformed('empty message');
  switch (type) {
    case PAIR_MESSAGE_TYPES.request:
      return decodePairRequest(bytes);
    case PAIR_MESSAGE_TYPES.response:
      return decodePairResponse(bytes);
    case PAIR_MESSAGE_TYPES.randomC:
    case PAIR_MESSAGE_TYPES.randomD: {
      const bad = exactLength(type === PAIR_MESSAGE_TYPES.randomC ? 'PAIR_RANDOM_C' : 'PAIR_RANDOM_D', bytes, 17);
      if (bad) return malformed(bad);
      return { ok: true, value: { type: type === PAIR_MESSAGE_TYPES.randomC ? 'random-c' : 'random-d', nonce: bytes.slice(1, 17) } };
    }
    case PAIR_MESSAGE_TYPES.checkC: {
      const bad = exactLength('PAIR_CHECK_C', bytes, 17);
      if (bad) return malformed(bad);
      return { ok: true, value: { type: 'check-c', ea: bytes.slice(1, 17) } };
    }
    case PAIR_MESSAGE_TYPES.checkD: {
      const bad = exactLength('PAIR_CHECK_D', bytes, 18);
      if (bad) return malformed(bad);
      const role = pairedRole(bytes[17]!);
      if (role === undefined) return malformed(`PAIR_CHECK_D role ${hex2(bytes[17]!)} is not 1, 2 or 3`);
      return { ok: true, value: { type: 'check-d', eb: bytes.slice(1, 17), role } };
    }
    case PAIR_MESSAGE_TYPES.passkeyCommitC:
    case PAIR_MESSAGE_TYPES.passkeyCommitD:
    case PAIR_MESSAGE_TYPES.passkeyRandomC:
    case PAIR_MESSAGE_TYPES.passkeyRandomD:
      return decodeRoundMessage(type, bytes);
    case PAIR_MESSAGE_TYPES.failed:
      return decodePairFailed(bytes);
    default:
      return malformed(`unknown pairing message type ${hex2(type)}`);
  }
}

export function decodePairRequest(bytes: Uint8Array): DecodeResult<PairRequest> {
  if (bytes[0] !== PAIR_MESSAGE_TYPES.request) return malformed('not a PAIR_REQUEST');
  if (bytes.length < REQUEST_FIXED_BYTES) return malformed(`PAIR_REQUEST must be at least ${REQUEST_FIXED_BYTES} bytes, got ${bytes.length}`);
  const role = pairedRole(bytes[2]!);
  if (role === undefined) return malformed(`PAIR_REQUEST role ${hex2(bytes[2]!)} is not 1, 2 or 3`);
  const credentialLength = bytes[83]! | (bytes[84]! << 8);
  if (bytes.length !== REQUEST_FIXED_BYTES + credentialLength) {
    return malformed(`PAIR_REQUEST credential length ${credentialLength} does not match the ${bytes.length - REQUEST_FIXED_BYTES} bytes that follow`);
  }
  return {
    ok: true,
    value: {
      type: 'request',
      method: bytes[1]!,
      role,
      clientId: bytes.slice(3, 19),
      pka: bytes.slice(19, 83),
      credential: bytes.slice(85),
    },
  };
}

export function decodePairResponse(bytes: Uint8Array): DecodeResult<PairResponse> {
  if (bytes[0] !== PAIR_MESSAGE_TYPES.response) return malformed('not a PAIR_RESPONSE');
  const bad = exactLength('PAIR_RESPONSE', bytes, RESPONSE_BYTES);
  if (bad) return malformed(bad);
  return {
    ok: true,
    value: {
      type: 'response',
      method: bytes[1]!,
      certificate: bytes.slice(2, 140),
      pkb: bytes.slice(140, 204),
      pkbSignature: bytes.slice(204, 268),
      cb: bytes.slice(268, 284),
    },
  };
}

function decodeRoundMessage(type: number, bytes: Uint8Array): DecodeResult<PasskeyCommit | PasskeyRandom> {
  const name = ['PASSKEY_COMMIT_C', 'PASSKEY_COMMIT_D', 'PASSKEY_RANDOM_C', 'PASSKEY_RANDOM_D'][type - PAIR_MESSAGE_TYPES.passkeyCommitC]!;
  const bad = exactLength(name, bytes, 18);
  if (bad) return malformed(bad);
  const round = bytes[1]!;
  const value = bytes.slice(2, 18);
  switch (type) {
    case PAIR_MESSAGE_TYPES.passkeyCommitC:
      return { ok: true, value: { type: 'passkey-commit-c', round, value } };
    case PAIR_MESSAGE_TYPES.passkeyCommitD:
      return { ok: true, value: { type: 'passkey-commit-d', round, value } };
    case PAIR_MESSAGE_TYPES.passkeyRandomC:
      return { ok: true, value: { type: 'passkey-random-c', round, nonce: value } };
    default:
      return { ok: true, value: { type: 'passkey-random-d', round, nonce: value } };
  }
}

function decodePairFailed(bytes: Uint8Array): DecodeResult<PairFailed> {
  const reason = bytes[1];
  if (reason === undefined) return malformed('PAIR_FAILED must carry a reason');
  if (reason === PAIR_FAILED.lockedOut) {
    const bad = exactLength('PAIR_FAILED 0x83', bytes, 6);
    if (bad) return malformed(bad);
    const remainingS = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2, true);
    return { ok: true, value: { type: 'failed', reason, remainingS } };
  }
  const bad = exactLength('PAIR_FAILED', bytes, 2);
  if (bad) return malformed(bad);
  return { ok: true, value: { type: 'failed', reason } };
}

// ─── §4 constants both sides compute with ───────────────────────────────────────────────────

/** `A = 0x01 ‖ clientId[0..5]`: the client's 7-byte f5/f6 address (§4; f5's A1, Core Vol 3 Part H §2.2.7). */
export function clientAddress(clientId: Uint8Array): Uint8Array {
  need('client id', clientId, CLIENT_ID_BYTES);
  const a = new Uint8Array(7);
  a[0] = 0x01;
  a.set(clientId.subarray(0, 6), 1);
  return a;
}

/** `B = 0x00 ‖ serial[2..7]`: the device's 7-byte f5/f6 address (§4), from the 8 ASCII serial bytes. */
export function deviceAddress(serial: Uint8Array): Uint8Array {
  need('serial', serial, 8);
  const b = new Uint8Array(7);
  b[0] = 0x00;
  b.set(serial.subarray(2, 8), 1);
  return b;
}

/** IOcapA: AuthReq bonding+MITM+SC (0x0D), no OOB (0x00), KeyboardDisplay (0x04), MSB-first as f6 takes it. */
export const IOCAP_CLIENT: Uint8Array = Uint8Array.of(0x0d, 0x00, 0x04);
/** IOcapB: AuthReq 0x0D, no OOB, DisplayYesNo (0x01). */
export const IOCAP_DEVICE: Uint8Array = Uint8Array.of(0x0d, 0x00, 0x01);

/** f4's Z for numeric comparison (Core Vol 3 Part H §2.3.5.6.2). */
export const Z_NUMERIC_COMPARISON: Uint8Array = Uint8Array.of(0x00);

/** f4's Z for passkey round i: `rᵢ = 0x80 | bit i of p` (§4.3; Core Vol 3 Part H §2.3.5.6.3). */
export function passkeyRoundZ(passkey: number, round: number): Uint8Array {
  return Uint8Array.of(0x80 | ((passkey >>> round) & 1));
}

/** `ra = rb = p` as a 16-byte big-endian integer (§4.3), or 16 zero bytes for numeric comparison (§4.4). */
export function passkeyR(passkey: number | undefined): Uint8Array {
  const r = new Uint8Array(16);
  if (passkey === undefined) return r;
  if (!Number.isInteger(passkey) || passkey < 0 || passkey > PASSKEY_MAX) throw new RangeError(`passkey must be 0–999999, got ${passkey}`);
  new DataView(r.buffer).setUint32(12, passkey, false);
  return r;
}

/** PKx.x, the 32-byte X coordinate f4 and g2 take (Core Vol 3 Part H §2.2.6, §2.2.9). */
export const xOf = (publicKey: Uint8Array): Uint8Array => publicKey.subarray(0, 32);

/** "medtwin-pairkey-v1" ‖ PKb: what the identity key signs in PAIR_RESPONSE (§4.1). */
export function pairKeySignedBytes(pkb: Uint8Array): Uint8Array {
  const label = new TextEncoder().encode('medtwin-pairkey-v1');
  const out = new Uint8Array(label.length + pkb.length);
  out.set(label);
  out.set(pkb, label.length);
  return out;
}
