// One session's records, both directions, on one side (device or client): AES-128-CCM sealing
// and opening with the nonce, AAD, sequence and epoch rules of docs/protocol.md §5.3. Not the
// handshake, not the plaintexts' meaning and not the drop policy (the session machine's).
//
// Hot path: the two keyed AesCcm instances are made once per epoch; a seal allocates only the
// record it returns and an open only the plaintext (nonce and AAD live in scratch buffers).

import { AesCcm, budget, CryptoError, type CostContext } from '../crypto/index.ts';
import { MAX_MESSAGE_BYTES } from './framing.ts';
import type { RecordKeys } from './key-schedule.ts';
import {
  DIRECTION_C2D,
  DIRECTION_D2C,
  MAX_RECORD_SEQUENCE,
  RECORD_HEADER_BYTES,
  RECORD_MIN_BYTES,
  RECORD_TAG_BYTES,
  SESSION_MSG,
  type RecordDirection,
} from './wire-session.ts';

export type RecordSide = 'device' | 'client';

/** Why a record was dropped (docs/protocol.md §5.3 (device)); nothing in it was acted on. */
export type RecordDropCode = 'replay' | 'epoch' | 'direction' | 'auth' | 'malformed';
export const RECORD_DROP_CODES: readonly RecordDropCode[] = ['replay', 'epoch', 'direction', 'auth', 'malformed'];

export type OpenResult =
  | { readonly ok: true; readonly plaintext: Uint8Array; readonly seq: number; readonly epoch: number }
  | { readonly ok: false; readonly code: RecordDropCode; readonly detail: string };

export type SealFailureCode = 'exhausted' | 'too-large' | 'destroyed';
export type SealResult =
  | { readonly ok: true; readonly record: Uint8Array; readonly seq: number }
  | { readonly ok: false; readonly code: SealFailureCode; readonly detail: string };

/**
 * Default rekey point (docs/protocol.md §5.3): 2^16 sequence numbers below the 39-bit
 * limit, so the REKEY round trip always has sequence numbers left.
 */
export const DEFAULT_REKEY_THRESHOLD = 2 ** 39 - 2 ** 16;
/** The largest plaintext one RECORD carries inside a 1,024-byte message (§2.2). */
export const MAX_RECORD_PLAINTEXT_BYTES = MAX_MESSAGE_BYTES - RECORD_MIN_BYTES;
/** The epoch is one byte: after epoch 255 the session must end instead of rekeying. */
export const MAX_EPOCH = 0xff;

const NONCE_BYTES = 13;

/**
 * The record hot path's budget on the chip (docs/protocol.md §10.2): sealing and opening one
 * record of a 20-byte command, on the device's ledger, at most 1 ms of CPU.
 */
export const RECORD_BUDGET = budget('session record seal+open (20-byte command)', { cpuMs: 1 });

export interface RecordLayerOptions {
  /** Charge every seal and open to this device's ledger. */
  readonly cost?: CostContext;
  /** Rekey once a sequence number in either direction reaches this (tests use a tiny one). */
  readonly rekeyThreshold?: number;
}

export interface RecordCounters {
  sealed: number;
  opened: number;
  dropped: Record<RecordDropCode, number>;
  rekeys: number;
}

/** A direction's CCM instance and nonce scratch: bytes 0..4 take the header's 40 bits, 5..12 hold the IV. */
interface DirectionState {
  ccm: AesCcm;
  readonly nonce: Uint8Array;
  readonly aad: Uint8Array;
}

function directionState(key: Uint8Array, iv: Uint8Array, cost: CostContext | undefined): DirectionState {
  const nonce = new Uint8Array(NONCE_BYTES);
  nonce.set(iv, RECORD_HEADER_BYTES - 2);
  return { ccm: new AesCcm(key, RECORD_TAG_BYTES, cost ? { cost } : {}), nonce, aad: new Uint8Array(RECORD_HEADER_BYTES) };
}

/** Write the header of (epoch, direction, seq) into `out` at 0 (no checks: the caller keeps them in range). */
function putHeader(out: Uint8Array, epoch: number, direction: RecordDirection, seq: number): void {
  const high = Math.floor(seq / 2 ** 32);
  const low = seq >>> 0;
  out[0] = SESSION_MSG.record;
  out[1] = epoch;
  out[2] = (direction << 7) | high;
  out[3] = low >>> 24;
  out[4] = (low >>> 16) & 0xff;
  out[5] = (low >>> 8) & 0xff;
  out[6] = low & 0xff;
}

/** Header bytes 0..6 into the AAD scratch, bytes 2..6 into the nonce (§5.3: nonce = bytes 2..6 ‖ IV). */
function loadNonceAndAad(d: DirectionState, record: Uint8Array): void {
  for (let i = 0; i < RECORD_HEADER_BYTES; i++) d.aad[i] = record[i]!;
  for (let i = 2; i < RECORD_HEADER_BYTES; i++) d.nonce[i - 2] = record[i]!;
}

export class RecordLayer {
  readonly side: RecordSide;
  readonly rekeyThreshold: number;
  private readonly cost: CostContext | undefined;
  private readonly sendDirection: RecordDirection;
  private readonly receiveDirection: RecordDirection;
  private send: DirectionState;
  private receive: DirectionState;
  private epochNumber = 0;
  private sentSeq = 0;
  private acceptedSeq = 0;
  private destroyed = false;
  readonly counters: RecordCounters = {
    sealed: 0,
    opened: 0,
    dropped: { replay: 0, epoch: 0, direction: 0, auth: 0, malformed: 0 },
    rekeys: 0,
  };

  /** Epoch 0 with `keys`; the keys are expanded into the CCM instances (the caller wipes its copy). */
  constructor(side: RecordSide, keys: RecordKeys, opts: RecordLayerOptions = {}) {
    const threshold = opts.rekeyThreshold ?? DEFAULT_REKEY_THRESHOLD;
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > MAX_RECORD_SEQUENCE) {
      throw new RangeError(`rekey threshold must be an integer in 1..${MAX_RECORD_SEQUENCE}, got ${threshold}`);
    }
    this.side = side;
    this.rekeyThreshold = threshold;
    this.cost = opts.cost;
    this.sendDirection = side === 'device' ? DIRECTION_D2C : DIRECTION_C2D;
    this.receiveDirection = side === 'device' ? DIRECTION_C2D : DIRECTION_D2C;
    [this.send, this.receive] = this.directions(keys);
  }

  get epoch(): number {
    return this.epochNumber;
  }

  /** Sequence number of the last record sealed in this epoch (0: none yet). */
  get lastSentSeq(): number {
    return this.sentSeq;
  }

  /** Sequence number of the last record accepted in this epoch (0: none yet). */
  get lastAcceptedSeq(): number {
    return this.acceptedSeq;
  }

  /** A sequence number in either direction reached the threshold: time for REKEY (§5.3). */
  get rekeyDue(): boolean {
    return this.sentSeq >= this.rekeyThreshold || this.acceptedSeq >= this.rekeyThreshold;
  }

  get droppedTotal(): number {
    let n = 0;
    for (const c of RECORD_DROP_CODES) n += this.counters.dropped[c];
    return n;
  }

  /** Seal `plaintext` as the next RECORD of this side's direction. */
  seal(plaintext: Uint8Array): SealResult {
    if (this.destroyed) return { ok: false, code: 'destroyed', detail: 'the session ended' };
    if (plaintext.length > MAX_RECORD_PLAINTEXT_BYTES) {
      return { ok: false, code: 'too-large', detail: `plaintext of ${plaintext.length} bytes > ${MAX_RECORD_PLAINTEXT_BYTES}` };
    }
    if (this.sentSeq >= MAX_RECORD_SEQUENCE) return { ok: false, code: 'exhausted', detail: 'no sequence numbers left in this epoch' };
    const seq = this.sentSeq + 1;
    const record = new Uint8Array(RECORD_HEADER_BYTES + plaintext.length + RECORD_TAG_BYTES);
    putHeader(record, this.epochNumber, this.sendDirection, seq);
    const d = this.send;
    loadNonceAndAad(d, record);
    d.ccm.sealInto(d.nonce, plaintext, d.aad, record, RECORD_HEADER_BYTES);
    this.sentSeq = seq;
    this.counters.sealed++;
    return { ok: true, record, seq };
  }

  /**
   * Open a RECORD of the peer's direction. Checks, in order (§5.3): shape, epoch, direction,
   * sequence (strictly greater than the last accepted), tag. A dropped record changes nothing
   * but the drop counter.
   */
  open(record: Uint8Array): OpenResult {
    if (this.destroyed) return this.drop('malformed', 'the session ended');
    if (!(record instanceof Uint8Array) || record.length < RECORD_MIN_BYTES || record[0] !== SESSION_MSG.record) {
      return this.drop('malformed', `not a RECORD of at least ${RECORD_MIN_BYTES} bytes`);
    }
    const epoch = record[1]!;
    if (epoch !== this.epochNumber) return this.drop('epoch', `epoch ${epoch}, current ${this.epochNumber}`);
    const b2 = record[2]!;
    const direction: RecordDirection = b2 & 0x80 ? 1 : 0;
    if (direction !== this.receiveDirection) return this.drop('direction', `direction bit ${direction}`);
    const seq = (b2 & 0x7f) * 2 ** 32 + (((record[3]! << 24) | (record[4]! << 16) | (record[5]! << 8) | record[6]!) >>> 0);
    if (seq <= this.acceptedSeq) return this.drop('replay', `sequence ${seq} ≤ last accepted ${this.acceptedSeq}`);
    const d = this.receive;
    loadNonceAndAad(d, record);
    const plaintext = new Uint8Array(record.length - RECORD_MIN_BYTES);
    try {
      d.ccm.openInto(d.nonce, record.subarray(RECORD_HEADER_BYTES), d.aad, plaintext, 0);
    } catch (e) {
      if (e instanceof CryptoError && e.code === 'auth') return this.drop('auth', 'tag does not verify');
      throw e; // a parameter error here is our bug, not the peer's input
    }
    this.acceptedSeq = seq;
    this.counters.opened++;
    return { ok: true, plaintext, seq, epoch };
  }

  /**
   * Switch both directions to epoch + 1 with `keys` (§5.3); sequences restart at 1. The old
   * CCM instances are wiped. At epoch 255 there is no next epoch: 'epoch-exhausted'.
   */
  rekey(keys: RecordKeys): { ok: true } | { ok: false; code: 'epoch-exhausted' | 'destroyed' } {
    if (this.destroyed) return { ok: false, code: 'destroyed' };
    if (this.epochNumber >= MAX_EPOCH) return { ok: false, code: 'epoch-exhausted' };
    this.wipeDirections();
    [this.send, this.receive] = this.directions(keys);
    this.epochNumber += 1;
    this.sentSeq = 0;
    this.acceptedSeq = 0;
    this.counters.rekeys++;
    return { ok: true };
  }

  /** Wipe the keys; every later seal/open fails. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.wipeDirections();
  }

  private directions(keys: RecordKeys): [send: DirectionState, receive: DirectionState] {
    const c2d = directionState(keys.c2dKey, keys.c2dIv, this.cost);
    const d2c = directionState(keys.d2cKey, keys.d2cIv, this.cost);
    return this.side === 'device' ? [d2c, c2d] : [c2d, d2c];
  }

  private wipeDirections(): void {
    for (const d of [this.send, this.receive]) {
      d.ccm.destroy();
      d.nonce.fill(0);
      d.aad.fill(0);
    }
  }

  private drop(code: RecordDropCode, detail: string): OpenResult {
    this.counters.dropped[code]++;
    return { ok: false, code, detail };
  }
}
