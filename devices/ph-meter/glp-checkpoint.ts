// The signed checkpoint that makes a run of GLP records checkable downstream: the meter's identity
// key signs "records firstSeq..lastSeq, chained from anchorHash to headHash, newest was newestSeq".
// Not the records (glp-record.ts), the log that issues checkpoints (glp-log.ts) nor the verifier.
//
// ─── Checkpoint, version 1 (156 bytes, little-endian integers; hashes and keys MSB-first) ───────
//   +0   version      u8   = 1
//   +1   reserved     3    = 0
//   +4   serial       8    the meter's serial (§3.1), as in its certificate
//   +12  firstSeq     u32  first record covered (≥ 1)
//   +16  lastSeq      u32  last record covered (≥ firstSeq)
//   +20  newestSeq    u32  the log's newest record when signed (≥ lastSeq): more may follow
//   +24  signedAtS    u32  device time of the signature, s
//   +28  anchorHash   32   hash of record firstSeq − 1 (the genesis hash when firstSeq = 1)
//   +60  headHash     32   hash of record lastSeq
//   +92  signature    64   ECDSA P-256 / SHA-256, r ‖ s (docs/protocol.md §1), by the identity key,
//                          over "medtwin-glp-ckpt-v1" ‖ bytes 0..91
//
// Signing firstSeq and lastSeq (not just the head) is what lets a verifier name a record removed
// at either end of a retrieval; anchorHash ties the first record to the chain before it without
// sending that record. The label keeps the signature from being taken for any other message the
// identity key signs (the pairing key, §4.1, signs "medtwin-pairkey-v1" ‖ …).

import { ECDSA_P256_SIGNATURE_BYTES, ecdsaP256Sign, ecdsaP256Verify, type CostContext } from '../../src/crypto/index.ts';
import { isValidSerial, SERIAL_BYTES } from '../../src/session/identity.ts';
import { GLP_HASH_BYTES } from './glp-record.ts';

export const GLP_CHECKPOINT_VERSION = 1;
export const GLP_CHECKPOINT_BODY_BYTES = 92;
export const GLP_CHECKPOINT_BYTES = GLP_CHECKPOINT_BODY_BYTES + ECDSA_P256_SIGNATURE_BYTES;
const LABEL = new TextEncoder().encode('medtwin-glp-ckpt-v1');

export interface GlpCheckpointFields {
  readonly serial: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly newestSeq: number;
  readonly signedAtS: number;
  readonly anchorHash: Uint8Array;
  readonly headHash: Uint8Array;
}

export interface GlpCheckpoint extends GlpCheckpointFields {
  readonly version: 1;
  readonly signature: Uint8Array;
  /** The whole 156-byte checkpoint. */
  readonly bytes: Uint8Array;
}

export type GlpCheckpointDecodeCode = 'length' | 'version' | 'reserved' | 'serial' | 'range';
export type GlpCheckpointDecodeResult =
  | { readonly ok: true; readonly value: GlpCheckpoint }
  | { readonly ok: false; readonly code: GlpCheckpointDecodeCode; readonly detail: string };

const U32 = 0xffff_ffff;
const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= U32;

/** Why the fields cannot form a checkpoint, or undefined. */
function rangeProblem(firstSeq: number, lastSeq: number, newestSeq: number): string | undefined {
  if (!(firstSeq >= 1 && firstSeq <= lastSeq && lastSeq <= newestSeq)) return `sequence numbers ${firstSeq}..${lastSeq} of ${newestSeq} (need 1 ≤ first ≤ last ≤ newest)`;
  return undefined;
}

/** Bytes 0..91. Throws RangeError on a field out of range. */
export function encodeGlpCheckpointBody(f: GlpCheckpointFields): Uint8Array {
  if (!isValidSerial(f.serial)) throw new RangeError(`GLP checkpoint: serial ${JSON.stringify(f.serial)}`);
  for (const [what, n] of [
    ['firstSeq', f.firstSeq],
    ['lastSeq', f.lastSeq],
    ['newestSeq', f.newestSeq],
    ['signedAtS', f.signedAtS],
  ] as const) {
    if (!isU32(n)) throw new RangeError(`GLP checkpoint: ${what} ${n} is not a u32`);
  }
  const range = rangeProblem(f.firstSeq, f.lastSeq, f.newestSeq);
  if (range !== undefined) throw new RangeError(`GLP checkpoint: ${range}`);
  for (const [what, h] of [
    ['anchorHash', f.anchorHash],
    ['headHash', f.headHash],
  ] as const) {
    if (!(h instanceof Uint8Array) || h.length !== GLP_HASH_BYTES) throw new RangeError(`GLP checkpoint: ${what} must be ${GLP_HASH_BYTES} bytes`);
  }
  const body = new Uint8Array(GLP_CHECKPOINT_BODY_BYTES);
  const v = new DataView(body.buffer);
  v.setUint8(0, GLP_CHECKPOINT_VERSION);
  body.set(new TextEncoder().encode(f.serial), 4);
  v.setUint32(12, f.firstSeq, true);
  v.setUint32(16, f.lastSeq, true);
  v.setUint32(20, f.newestSeq, true);
  v.setUint32(24, f.signedAtS, true);
  body.set(f.anchorHash, 28);
  body.set(f.headHash, 60);
  return body;
}

/** What the identity key signs: "medtwin-glp-ckpt-v1" ‖ bytes 0..91 (19 + 92 = 111 bytes: 2 SHA-256 blocks). */
export function glpCheckpointSignedBytes(checkpointOrBody: Uint8Array): Uint8Array {
  const out = new Uint8Array(LABEL.length + GLP_CHECKPOINT_BODY_BYTES);
  out.set(LABEL);
  out.set(checkpointOrBody.subarray(0, GLP_CHECKPOINT_BODY_BYTES), LABEL.length);
  return out;
}

/** The 156-byte checkpoint from its fields and a signature (any 64 bytes: tests forge with it). */
export function encodeGlpCheckpoint(f: GlpCheckpointFields, signature: Uint8Array): Uint8Array {
  if (!(signature instanceof Uint8Array) || signature.length !== ECDSA_P256_SIGNATURE_BYTES) throw new RangeError(`GLP checkpoint: signature must be ${ECDSA_P256_SIGNATURE_BYTES} bytes`);
  const out = new Uint8Array(GLP_CHECKPOINT_BYTES);
  out.set(encodeGlpCheckpointBody(f));
  out.set(signature, GLP_CHECKPOINT_BODY_BYTES);
  return out;
}

/**
 * Sign a checkpoint with the identity private key: one ECDSA signature (48 M cycles ≈ 1.0 s on the
 * KW31Z, hal/kw31z/costs.ts) plus 2 SHA-256 blocks, charged to `cost`.
 */
export function signGlpCheckpoint(f: GlpCheckpointFields, identityPrivateKey: Uint8Array, opts: { readonly cost?: CostContext } = {}): Uint8Array {
  const body = encodeGlpCheckpointBody(f);
  const signature = ecdsaP256Sign(identityPrivateKey, glpCheckpointSignedBytes(body), opts.cost === undefined ? {} : { cost: opts.cost });
  return encodeGlpCheckpoint(f, signature);
}

/** Structure only; the signature is verifyGlpCheckpointSignature's. Never throws. */
export function decodeGlpCheckpoint(bytes: Uint8Array): GlpCheckpointDecodeResult {
  const bad = (code: GlpCheckpointDecodeCode, detail: string): GlpCheckpointDecodeResult => ({ ok: false, code, detail });
  if (!(bytes instanceof Uint8Array)) return bad('length', 'not a byte string');
  if (bytes.length !== GLP_CHECKPOINT_BYTES) return bad('length', `${bytes.length} bytes, a checkpoint is ${GLP_CHECKPOINT_BYTES}`);
  if (bytes[0] !== GLP_CHECKPOINT_VERSION) return bad('version', `version ${bytes[0]}`);
  if (bytes[1] !== 0 || bytes[2] !== 0 || bytes[3] !== 0) return bad('reserved', 'a reserved byte is not 0');
  const serial = String.fromCharCode(...bytes.subarray(4, 4 + SERIAL_BYTES));
  if (!isValidSerial(serial)) return bad('serial', 'serial is not 8 printable ASCII characters');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const firstSeq = v.getUint32(12, true);
  const lastSeq = v.getUint32(16, true);
  const newestSeq = v.getUint32(20, true);
  const range = rangeProblem(firstSeq, lastSeq, newestSeq);
  if (range !== undefined) return bad('range', range);
  return {
    ok: true,
    value: {
      version: 1,
      serial,
      firstSeq,
      lastSeq,
      newestSeq,
      signedAtS: v.getUint32(24, true),
      anchorHash: bytes.slice(28, 60),
      headHash: bytes.slice(60, 92),
      signature: bytes.slice(GLP_CHECKPOINT_BODY_BYTES),
      bytes: bytes.slice(),
    },
  };
}

/** The identity key's signature on a decoded checkpoint (one ECDSA verification, charged to `cost` when given). */
export function verifyGlpCheckpointSignature(cp: GlpCheckpoint, identityPublicKey: Uint8Array, opts: { readonly cost?: CostContext } = {}): boolean {
  return ecdsaP256Verify(identityPublicKey, glpCheckpointSignedBytes(cp.bytes), cp.signature, opts.cost === undefined ? {} : { cost: opts.cost });
}
