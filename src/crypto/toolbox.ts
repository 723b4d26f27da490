// The LE Secure Connections crypto toolbox f4, f5, f6, g2, h6 (Bluetooth Core v5.x Vol 3 Part H
// §2.2.6–§2.2.10) on AES-CMAC, plus the byte-order helper for SMP's LSB-first fields. Not the
// pairing protocol (src/session), not legacy pairing (c1, s1) and not h7/h8 (CTKD).

import { cmacBlockCount, chargeAes, type CostContext } from './cost.ts';
import { cmacUnchecked } from './cmac.ts';
import { requireBytes, requireUint8Array } from './errors.ts';
import { concatBytes } from '@noble/hashes/utils.js';

/*
 * Byte order. Every input and output here is a byte string in the order the Core spec
 * prints it in §2.2 and in the sample data of Appendix D: most significant octet FIRST.
 * AES-CMAC runs on those strings as they stand: f4's M = U ‖ V ‖ Z with U's most
 * significant octet first, the key X as written, the tag as written
 * (test/vectors/le_sc_toolbox.json, byteOrderConvention).
 *
 * On the air the same values travel least significant octet first: the pairing PDUs of
 * Vol 3 Part H §3.5 (Pairing Confirm, Pairing Random, Pairing Public Key X and Y, DHKey
 * Check) carry them little-endian, as do most C stacks' arrays (Linux, Zephyr; the
 * vectors' linuxKernelLsbFirst fields). Convert at the PDU boundary with `toLsbFirst` /
 * `fromLsbFirst`, never inside these functions.
 */

/** Reverse the octet order: a copy, the input is not changed. */
function reversed(bytes: Uint8Array): Uint8Array {
  requireUint8Array('octet string', bytes);
  const out = new Uint8Array(bytes.length);
  for (let i = 0, j = bytes.length - 1; j >= 0; i++, j--) out[i] = bytes[j]!;
  return out;
}

/**
 * MSB-first (the spec's notation, what the toolbox takes) → LSB-first (what an SMP pairing PDU
 * carries, Vol 3 Part H §3.5). E.g. a DHKey Check value from f6 before it goes into the
 * PDU, or P-256 X and Y (each 32 octets, converted separately) for Pairing Public Key.
 */
export const toLsbFirst = (msbFirst: Uint8Array): Uint8Array => reversed(msbFirst);

/** LSB-first (from an SMP PDU) → MSB-first (the toolbox's and the spec's order). The same reversal as toLsbFirst. */
export const fromLsbFirst = (lsbFirst: Uint8Array): Uint8Array => reversed(lsbFirst);

/** f4's Z, f5's keyID/Length, f6's and g2's sizes: octet lengths from Vol 3 Part H §2.2.6–§2.2.10. */
const P256_X_BYTES = 32;
const KEY_BYTES = 16;
const NONCE_BYTES = 16;
const ADDRESS_BYTES = 7; // 1-octet address type ‖ 48-bit address (§2.2.7)
const IOCAP_BYTES = 3; // AuthReq ‖ OOB data flag ‖ IO capability (§2.2.8)
const KEY_ID_BYTES = 4;


export interface ToolboxOptions {
  readonly cost?: CostContext;
}

/**
 * f4(U, V, X, Z) = AES-CMAC_X(U ‖ V ‖ Z), the Secure Connections confirm value
 * (Vol 3 Part H §2.2.6). U, V: 32-octet P-256 X-coordinates; X: 16-octet key (a nonce);
 * Z: 1 octet (0x00 for numeric comparison, 0x80 | r_i for passkey entry).
 */
export function f4(u: Uint8Array, v: Uint8Array, x: Uint8Array, z: Uint8Array, opts: ToolboxOptions = {}): Uint8Array {
  requireBytes('f4 U', u, P256_X_BYTES);
  requireBytes('f4 V', v, P256_X_BYTES);
  requireBytes('f4 X', x, KEY_BYTES);
  requireBytes('f4 Z', z, 1);
  const m = concatBytes(u, v, z);
  const out = cmacUnchecked(x, m);
  chargeAes(opts.cost, 'toolbox.f4', cmacBlockCount(m.length));
  return out;
}

/** §2.2.7: SALT for f5's T = AES-CMAC_SALT(W), MSB-first. */
const F5_SALT = Uint8Array.from([0x6c, 0x88, 0x83, 0x91, 0xaa, 0xf5, 0xa5, 0x38, 0x60, 0x37, 0x0b, 0xdb, 0x5a, 0x60, 0x83, 0xbe]);
/** §2.2.7: keyID = "btle" (0x62746c65) and Length = 256 (0x0100), MSB-first. */
const F5_KEY_ID = Uint8Array.from([0x62, 0x74, 0x6c, 0x65]);
const F5_LENGTH = Uint8Array.from([0x01, 0x00]);

export interface F5Keys {
  /** MacKey: the key f6 uses for the DHKey checks — counter 0, the most significant 128 bits of f5's 256-bit output. */
  readonly macKey: Uint8Array;
  /** LTK: the long-term key — counter 1, the least significant 128 bits. */
  readonly ltk: Uint8Array;
}

/**
 * f5(W, N1, N2, A1, A2), the Secure Connections key generation (Vol 3 Part H §2.2.7):
 * T = AES-CMAC_SALT(W); MacKey = AES-CMAC_T(0x00 ‖ keyID ‖ N1 ‖ N2 ‖ A1 ‖ A2 ‖ Length),
 * LTK = AES-CMAC_T(0x01 ‖ …). W: the 32-octet DHKey; N1, N2: 16-octet nonces; A1, A2:
 * 7-octet addresses (type ‖ address). Charged as three CMACs (T's subkey is derived
 * twice, as two independent CMAC calls do).
 */
export function f5(w: Uint8Array, n1: Uint8Array, n2: Uint8Array, a1: Uint8Array, a2: Uint8Array, opts: ToolboxOptions = {}): F5Keys {
  requireBytes('f5 W', w, P256_X_BYTES);
  requireBytes('f5 N1', n1, NONCE_BYTES);
  requireBytes('f5 N2', n2, NONCE_BYTES);
  requireBytes('f5 A1', a1, ADDRESS_BYTES);
  requireBytes('f5 A2', a2, ADDRESS_BYTES);
  const t = cmacUnchecked(F5_SALT, w);
  const m = concatBytes(Uint8Array.of(0), F5_KEY_ID, n1, n2, a1, a2, F5_LENGTH);
  const macKey = cmacUnchecked(t, m);
  m[0] = 1;
  const ltk = cmacUnchecked(t, m);
  t.fill(0);
  chargeAes(opts.cost, 'toolbox.f5', cmacBlockCount(w.length) + 2 * cmacBlockCount(m.length));
  return { macKey, ltk };
}

/**
 * f6(W, N1, N2, R, IOcap, A1, A2) = AES-CMAC_W(N1 ‖ N2 ‖ R ‖ IOcap ‖ A1 ‖ A2), the DHKey
 * check value (Vol 3 Part H §2.2.8). W: 16-octet MacKey; N1, N2, R: 16 octets; IOcap:
 * 3 octets; A1, A2: 7 octets.
 */
export function f6(
  w: Uint8Array,
  n1: Uint8Array,
  n2: Uint8Array,
  r: Uint8Array,
  ioCap: Uint8Array,
  a1: Uint8Array,
  a2: Uint8Array,
  opts: ToolboxOptions = {},
): Uint8Array {
  requireBytes('f6 W', w, KEY_BYTES);
  requireBytes('f6 N1', n1, NONCE_BYTES);
  requireBytes('f6 N2', n2, NONCE_BYTES);
  requireBytes('f6 R', r, NONCE_BYTES);
  requireBytes('f6 IOcap', ioCap, IOCAP_BYTES);
  requireBytes('f6 A1', a1, ADDRESS_BYTES);
  requireBytes('f6 A2', a2, ADDRESS_BYTES);
  const m = concatBytes(n1, n2, r, ioCap, a1, a2);
  const out = cmacUnchecked(w, m);
  chargeAes(opts.cost, 'toolbox.f6', cmacBlockCount(m.length));
  return out;
}

/** Numeric comparison shows six decimal digits (Vol 3 Part H §2.2.9: "g2 … mod 10^6"). */
export const NUMERIC_COMPARISON_MODULUS = 1_000_000;

/**
 * g2(U, V, X, Y), the numeric comparison value (Vol 3 Part H §2.2.9): the least
 * significant 32 bits of AES-CMAC_X(U ‖ V ‖ Y) — the last four octets of the MSB-first
 * tag, read big-endian — reduced mod 10^6: the six-digit number both devices display
 * (0–999999; show it zero-padded, e.g. with `formatNumericComparison`). U, V: 32-octet
 * P-256 X-coordinates; X, Y: 16-octet nonces.
 */
export function g2(u: Uint8Array, v: Uint8Array, x: Uint8Array, y: Uint8Array, opts: ToolboxOptions = {}): number {
  requireBytes('g2 U', u, P256_X_BYTES);
  requireBytes('g2 V', v, P256_X_BYTES);
  requireBytes('g2 X', x, KEY_BYTES);
  requireBytes('g2 Y', y, NONCE_BYTES);
  const m = concatBytes(u, v, y);
  const tag = cmacUnchecked(x, m);
  const low32 = ((tag[12]! << 24) | (tag[13]! << 16) | (tag[14]! << 8) | tag[15]!) >>> 0;
  chargeAes(opts.cost, 'toolbox.g2', cmacBlockCount(m.length));
  return low32 % NUMERIC_COMPARISON_MODULUS;
}

/** The six digits a device shows for a g2 value, zero-padded ("004521"). */
export function formatNumericComparison(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value >= NUMERIC_COMPARISON_MODULUS) {
    throw new RangeError(`numeric comparison value must be an integer in 0–999999, got ${value}`);
  }
  return String(value).padStart(6, '0');
}

/**
 * h6(W, keyID) = AES-CMAC_W(keyID), the link-key conversion function (Vol 3 Part H
 * §2.2.10). W: 16 octets; keyID: 4 octets (e.g. "lebr" = 0x6c656272, "tmp1").
 */
export function h6(w: Uint8Array, keyId: Uint8Array, opts: ToolboxOptions = {}): Uint8Array {
  requireBytes('h6 W', w, KEY_BYTES);
  requireBytes('h6 keyID', keyId, KEY_ID_BYTES);
  const out = cmacUnchecked(w, keyId);
  chargeAes(opts.cost, 'toolbox.h6', cmacBlockCount(keyId.length));
  return out;
}
