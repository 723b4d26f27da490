// The session key schedule and handshake proofs of docs/protocol.md §5.1–§5.2 (and §7: a
// break-glass code stands in for the LTK): Kauth, Kc2d, Kd2c, the IVs, Pc and Pd. Not the records.
//
// Every value is AES-CMAC over a 4-byte ASCII label and the two 16-byte nonces, keyed with the
// bond's LTK (or Kauth for the proofs); byte strings MSB-first as src/crypto takes them (§1).

import { aesCmac, type CostContext } from '../crypto/index.ts';
import { SESSION_NONCE_BYTES } from './wire-session.ts';

/** The labels of §5.1 and §5.2, as their 4 ASCII bytes. */
export const KEY_SCHEDULE_LABELS = {
  auth: 'mtAK',
  clientToDevice: 'mtKC',
  deviceToClient: 'mtKD',
  iv: 'mtIV',
  clientProof: 'mtPC',
  deviceProof: 'mtPD',
} as const;

export const SESSION_KEY_BYTES = 16;
export const SESSION_IV_BYTES = 8;

/** The keys and IVs of one epoch's records (docs/protocol.md §5.2). */
export interface RecordKeys {
  /** Kc2d: client → device records. */
  readonly c2dKey: Uint8Array;
  /** Kd2c: device → client records. */
  readonly d2cKey: Uint8Array;
  /** IVc2d = IV[0..7]. */
  readonly c2dIv: Uint8Array;
  /** IVd2c = IV[8..15]. */
  readonly d2cIv: Uint8Array;
}

/** Epoch 0's keys plus Kauth, the key of the handshake proofs. */
export interface SessionKeys extends RecordKeys {
  readonly authKey: Uint8Array;
}

export interface KeyScheduleOptions {
  /** Charge the CMACs to this device's ledger. */
  readonly cost?: CostContext;
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const LABEL_BYTES: Readonly<Record<keyof typeof KEY_SCHEDULE_LABELS, Uint8Array>> = {
  auth: ascii(KEY_SCHEDULE_LABELS.auth),
  clientToDevice: ascii(KEY_SCHEDULE_LABELS.clientToDevice),
  deviceToClient: ascii(KEY_SCHEDULE_LABELS.deviceToClient),
  iv: ascii(KEY_SCHEDULE_LABELS.iv),
  clientProof: ascii(KEY_SCHEDULE_LABELS.clientProof),
  deviceProof: ascii(KEY_SCHEDULE_LABELS.deviceProof),
};

function checkNonce(what: string, n: Uint8Array): void {
  if (!(n instanceof Uint8Array) || n.length !== SESSION_NONCE_BYTES) throw new RangeError(`${what} must be ${SESSION_NONCE_BYTES} bytes`);
}

/** `label ‖ first ‖ second` (36 bytes). */
function labelled(label: Uint8Array, first: Uint8Array, second: Uint8Array): Uint8Array {
  const m = new Uint8Array(4 + 2 * SESSION_NONCE_BYTES);
  m.set(label, 0);
  m.set(first, 4);
  m.set(second, 4 + SESSION_NONCE_BYTES);
  return m;
}

function cmacLabelled(key: Uint8Array, label: Uint8Array, first: Uint8Array, second: Uint8Array, opts: KeyScheduleOptions): Uint8Array {
  const m = labelled(label, first, second);
  try {
    return aesCmac(key, m, opts.cost ? { cost: opts.cost } : {});
  } finally {
    m.fill(0);
  }
}

/**
 * The record keys of an epoch, §5.2: Kc2d, Kd2c and IV from `ltk` and the nonces of the
 * handshake (epoch 0) or of the rekey (Nc', Nd'; the LTK stays). Three CMACs.
 */
export function deriveRecordKeys(ltk: Uint8Array, nc: Uint8Array, nd: Uint8Array, opts: KeyScheduleOptions = {}): RecordKeys {
  checkNonce('Nc', nc);
  checkNonce('Nd', nd);
  const c2dKey = cmacLabelled(ltk, LABEL_BYTES.clientToDevice, nc, nd, opts);
  const d2cKey = cmacLabelled(ltk, LABEL_BYTES.deviceToClient, nc, nd, opts);
  const iv = cmacLabelled(ltk, LABEL_BYTES.iv, nc, nd, opts);
  const keys = { c2dKey, d2cKey, c2dIv: iv.slice(0, SESSION_IV_BYTES), d2cIv: iv.slice(SESSION_IV_BYTES, 2 * SESSION_IV_BYTES) };
  iv.fill(0);
  return keys;
}

/** The handshake's keys, §5.2: Kauth and epoch 0's record keys. Four CMACs. */
export function deriveSessionKeys(ltk: Uint8Array, nc: Uint8Array, nd: Uint8Array, opts: KeyScheduleOptions = {}): SessionKeys {
  checkNonce('Nc', nc);
  checkNonce('Nd', nd);
  const authKey = cmacLabelled(ltk, LABEL_BYTES.auth, nc, nd, opts);
  return { authKey, ...deriveRecordKeys(ltk, nc, nd, opts) };
}

/** Pc = CMAC(Kauth, "mtPC" ‖ Nc ‖ Nd), §5.1 step 3: the client's proof. */
export function clientProof(authKey: Uint8Array, nc: Uint8Array, nd: Uint8Array, opts: KeyScheduleOptions = {}): Uint8Array {
  checkNonce('Nc', nc);
  checkNonce('Nd', nd);
  return cmacLabelled(authKey, LABEL_BYTES.clientProof, nc, nd, opts);
}

/** Pd = CMAC(Kauth, "mtPD" ‖ Nd ‖ Nc), §5.1 step 4: the device's proof (note the nonce order). */
export function deviceProof(authKey: Uint8Array, nc: Uint8Array, nd: Uint8Array, opts: KeyScheduleOptions = {}): Uint8Array {
  checkNonce('Nc', nc);
  checkNonce('Nd', nd);
  return cmacLabelled(authKey, LABEL_BYTES.deviceProof, nd, nc, opts);
}

/** Overwrite every key and IV (when a session or an epoch ends). */
export function wipeKeys(keys: RecordKeys | SessionKeys): void {
  keys.c2dKey.fill(0);
  keys.d2cKey.fill(0);
  keys.c2dIv.fill(0);
  keys.d2cIv.fill(0);
  if ('authKey' in keys) keys.authKey.fill(0);
}
