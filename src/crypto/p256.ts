// P-256 (secp256r1) key pairs and ECDH for LE Secure Connections pairing, through @noble/curves,
// with full validation of the peer's public key. Not ECDSA (ecdsa.ts) and not other curves.

import { p256 } from '@noble/curves/nist.js';
import { chargePublicKey, type CostContext } from './cost.ts';
import { CryptoError, requireBytes } from './errors.ts';

/*
 * Encodings (all MSB-first, the big-endian integers of SEC 1 §2.3.5–2.3.7 and of the Core
 * spec's sample data, Vol 2 Part G and Vol 3 Part H §2.3.5.6.1):
 * - private key: 32 octets, an integer d with 1 ≤ d ≤ n − 1;
 * - public key: 64 octets X ‖ Y, each coordinate 32 octets — the SEC 1 uncompressed point
 *   without its 0x04 prefix, and the SMP Pairing Public Key's content once each
 *   coordinate is byte-reversed (SMP carries X and Y LSB-first: use toLsbFirst /
 *   fromLsbFirst per coordinate);
 * - DHKey: the 32-octet X-coordinate of d·Q (Vol 3 Part H §2.3.5.6.1).
 */
export const P256_PRIVATE_KEY_BYTES = 32;
export const P256_PUBLIC_KEY_BYTES = 64;
export const P256_DHKEY_BYTES = 32;
/**
 * Entropy for one key pair: FIPS 186-5 Appendix A.2.1 (key pair generation using extra
 * random bits) asks for at least 256 + 64 bits; noble's scalar derivation takes exactly
 * 48 octets (1.5 × the scalar), which leaves the modulo bias at about 2^−128.
 */
export const P256_KEYGEN_ENTROPY_BYTES = 48;

const CURVE = p256.Point.CURVE();
const P = CURVE.p;
const N = CURVE.n;
const A = CURVE.a;
const B = CURVE.b;

export interface P256Options {
  readonly cost?: CostContext;
}

export interface P256Keypair {
  /** 32 octets, MSB-first. */
  readonly privateKey: Uint8Array;
  /** 64 octets X ‖ Y, MSB-first each. */
  readonly publicKey: Uint8Array;
}

/** Big-endian octets → integer (SEC 1 §2.3.8). */
export function bytesToBigIntBe(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

const mod = (v: bigint, m: bigint): bigint => {
  const r = v % m;
  return r < 0n ? r + m : r;
};

/** Throws `params` unless `privateKey` is 32 octets encoding 1 ≤ d ≤ n − 1. */
export function p256ValidatePrivateKey(privateKey: Uint8Array): void {
  requireBytes('P-256 private key', privateKey, P256_PRIVATE_KEY_BYTES);
  const d = bytesToBigIntBe(privateKey);
  if (d === 0n || d >= N) throw new CryptoError('params', 'P-256 private key must be an integer in [1, n − 1]');
}

/**
 * Full public-key validation (NIST SP 800-56A Rev. 3 §5.6.2.3.3; SEC 1 §3.2.2.1):
 * the right length; not the point at infinity (which has no X ‖ Y encoding, and whose
 * customary stand-in is all zeros); both coordinates in [0, p − 1]; y² = x³ − 3x + b
 * (mod p). P-256 has cofactor 1, so a point on the curve is in the prime-order group
 * and the step n·Q = O is implied. Skipping the curve check is the invalid-curve attack
 * on BLE pairing (Biham & Neumann 2018, CVE-2018-5383). Throws `point`.
 */
export function p256ValidatePublicKey(publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array)) throw new CryptoError('point', `P-256 public key must be a Uint8Array, got ${typeof publicKey}`);
  if (publicKey.length !== P256_PUBLIC_KEY_BYTES) {
    throw new CryptoError('point', `P-256 public key must be ${P256_PUBLIC_KEY_BYTES} bytes (X ‖ Y), got ${publicKey.length}`);
  }
  let any = 0;
  for (let i = 0; i < publicKey.length; i++) any |= publicKey[i]!;
  if (any === 0) throw new CryptoError('point', 'P-256 public key is the point at infinity (all zeros)');
  const x = bytesToBigIntBe(publicKey.subarray(0, 32));
  const y = bytesToBigIntBe(publicKey.subarray(32, 64));
  if (x >= P || y >= P) throw new CryptoError('point', 'P-256 public key coordinate is not below the field prime p');
  if (mod(y * y, P) !== mod(x * x * x + A * x + B, P)) throw new CryptoError('point', 'P-256 public key is not on the curve');
}

/** The same checks as p256ValidatePublicKey, as a boolean. */
export function isValidP256PublicKey(publicKey: Uint8Array): boolean {
  try {
    p256ValidatePublicKey(publicKey);
    return true;
  } catch {
    return false;
  }
}

/** X ‖ Y → SEC 1 uncompressed (0x04 ‖ X ‖ Y), the form noble takes. */
export function sec1Uncompressed(publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + P256_PUBLIC_KEY_BYTES);
  out[0] = 0x04;
  out.set(publicKey, 1);
  return out;
}

/** The public key X ‖ Y of a private key (one scalar multiplication by G, charged as a key generation). */
export function p256PublicKey(privateKey: Uint8Array, opts: P256Options = {}): Uint8Array {
  p256ValidatePrivateKey(privateKey);
  const pub = p256.getPublicKey(privateKey, false).slice(1);
  chargePublicKey(opts.cost, 'p256.keygen', { curveOp: true, sha256Blocks: 0 });
  return pub;
}

/**
 * A key pair from `entropy` (exactly P256_KEYGEN_ENTROPY_BYTES octets from a TRNG):
 * d = (e mod (n − 1)) + 1 with e the entropy read big-endian (FIPS 186-5 A.2.1), Q = d·G.
 * Deterministic in the entropy, so the simulated TRNG's seeded bytes give the same keys
 * every run. Throws `params` for the wrong entropy length.
 */
export function p256Keypair(entropy: Uint8Array, opts: P256Options = {}): P256Keypair {
  requireBytes('P-256 key generation entropy', entropy, P256_KEYGEN_ENTROPY_BYTES);
  const privateKey = p256.utils.randomSecretKey(entropy);
  const publicKey = p256.getPublicKey(privateKey, false).slice(1);
  chargePublicKey(opts.cost, 'p256.keygen', { curveOp: true, sha256Blocks: 0 });
  return { privateKey, publicKey };
}

/**
 * ECDH on P-256 (SEC 1 §3.3.1; Vol 3 Part H §2.3.5.6.1): the DHKey, the 32-octet
 * X-coordinate of d·Q, MSB-first. Throws `point` for a peer key that fails full
 * validation and `params` for a bad private key. A rejected key is not charged (the
 * check is a few field multiplications next to the 45 M-cycle multiplication).
 */
export function p256Ecdh(privateKey: Uint8Array, peerPublicKey: Uint8Array, opts: P256Options = {}): Uint8Array {
  p256ValidatePrivateKey(privateKey);
  p256ValidatePublicKey(peerPublicKey);
  let shared: Uint8Array;
  try {
    // Compressed output: 0x02/0x03 ‖ X; the DHKey is X alone.
    shared = p256.getSharedSecret(privateKey, sec1Uncompressed(peerPublicKey), true);
  } catch (e) {
    // Unreachable after the validation above; kept so a library change still reports 'point'.
    throw new CryptoError('point', `P-256 ECDH rejected the peer key: ${(e as Error).message}`);
  }
  chargePublicKey(opts.cost, 'p256.ecdh', { curveOp: true, sha256Blocks: 0 });
  return shared.slice(1);
}
