// ECDSA over P-256 with SHA-256 (FIPS 186-5 §6.4), raw r ‖ s signatures, through @noble/curves:
// firmware image and credential signatures. Not DER (no ASN.1 here) and not other curves or hashes.

import { p256 } from '@noble/curves/nist.js';
import { chargePublicKey, sha256BlockCount, type CostContext } from './cost.ts';
import { requireUint8Array } from './errors.ts';
import { bytesToBigIntBe, isValidP256PublicKey, p256ValidatePrivateKey, sec1Uncompressed } from './p256.ts';

/** r ‖ s, each 32 octets big-endian (IEEE P1363 / the "compact" form). */
export const ECDSA_P256_SIGNATURE_BYTES = 64;

const N = p256.Point.CURVE().n;

export interface EcdsaOptions {
  readonly cost?: CostContext;
}

/**
 * Sign SHA-256(message) with a P-256 private key (32 octets, MSB-first): returns r ‖ s.
 * k is derived deterministically from the key and the hash (RFC 6979 §3.2), so the same
 * key and message give the same signature every run, with no randomness needed; s is
 * normalised to the low half (s ≤ n/2). Throws `params` for a bad private key. Charged as
 * the SHA-256 blocks of the message plus one signature.
 */
export function ecdsaP256Sign(privateKey: Uint8Array, message: Uint8Array, opts: EcdsaOptions = {}): Uint8Array {
  requireUint8Array('ECDSA message', message);
  p256ValidatePrivateKey(privateKey);
  const sig = p256.sign(message, privateKey, { prehash: true, lowS: true, format: 'compact' });
  chargePublicKey(opts.cost, 'ecdsa.sign', { curveOp: true, sha256Blocks: sha256BlockCount(message.length) });
  return sig;
}

/**
 * Verify an r ‖ s signature on SHA-256(message) under a public key X ‖ Y (64 octets,
 * MSB-first each). Returns false — never throws — for anything that is not a valid
 * signature: a signature that is not 64 octets, r or s outside [1, n − 1] (FIPS 186-5
 * §6.4.2 step 1), a public key that fails validation, or a signature that does not
 * verify. High-s signatures are accepted (FIPS 186-5 does not require low s; OpenSSL and
 * node produce both). Charged: the message's SHA-256 blocks always (firmware hashes
 * first), plus one verification when the signature and key are well-formed.
 */
export function ecdsaP256Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, opts: EcdsaOptions = {}): boolean {
  if (!(message instanceof Uint8Array)) return false;
  const sha256Blocks = sha256BlockCount(message.length);
  if (!wellFormed(publicKey, signature)) {
    chargePublicKey(opts.cost, 'ecdsa.verify', { curveOp: false, sha256Blocks });
    return false;
  }
  let ok: boolean;
  try {
    ok = p256.verify(signature, message, sec1Uncompressed(publicKey), { prehash: true, lowS: false, format: 'compact' });
  } catch {
    ok = false;
  }
  chargePublicKey(opts.cost, 'ecdsa.verify', { curveOp: true, sha256Blocks });
  return ok;
}

function wellFormed(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== ECDSA_P256_SIGNATURE_BYTES) return false;
  const r = bytesToBigIntBe(signature.subarray(0, 32));
  const s = bytesToBigIntBe(signature.subarray(32, 64));
  if (r === 0n || r >= N || s === 0n || s >= N) return false;
  return isValidP256PublicKey(publicKey);
}
