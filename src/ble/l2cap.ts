// L2CAP basic mode on the LE-U logical link (Core v5.x Vol 3 Part A §3.1, §7): B-frames on fixed channels,
// fragmentation into LL data PDUs and reassembly with length checks. Not the channels' protocols (ATT, signalling, SMP).

import type { Llid } from '../../hal/radio.ts';
import type { HalResult } from '../../hal/result.ts';
import type { HostEnv } from './trace-sink.ts';

/** Fixed channel identifiers on LE-U (Vol 3 Part A §2.1, Table 2.3). */
export const L2CAP_CID = {
  ATT: 0x0004,
  LE_SIGNALLING: 0x0005,
  SMP: 0x0006,
} as const;

/** Basic L2CAP header: Length (2, payload bytes) + Channel ID (2), both little-endian (§3.1). */
export const L2CAP_HEADER_BYTES = 4;

/** LLID of a data PDU carrying the start of an L2CAP message, or a continuation (Vol 6 Part B §2.4). */
export const LLID_START: Llid = 2;
export const LLID_CONTINUATION: Llid = 1;

/** What the link needs from the radio (a PeripheralRadio or a CentralRadio). */
export interface L2capRadio {
  readonly maxPayloadBytes: number;
  send(handle: number, llid: Llid, payload: Uint8Array): HalResult;
}

export interface L2capLinkOptions {
  readonly env: HostEnv;
  readonly radio: L2capRadio;
  /** Connection handle on the radio. */
  readonly handle: number;
  /**
   * Largest B-frame payload accepted on `cid` (the channel's MTU), or undefined for a
   * channel nobody listens on: such frames are discarded (§3.1: a B-frame on an unsupported
   * fixed channel has nobody to deliver it to; the sender gets no answer).
   */
  readonly rxLimitBytes: (cid: number) => number | undefined;
  /** A complete B-frame arrived on a supported channel (a view: copy what you keep). */
  readonly deliver: (cid: number, payload: Uint8Array) => void;
}

/** Why an incoming frame was discarded (trace field `reason`). */
export type L2capDropReason =
  | 'continuation-without-start' // LLID 1 with no frame being reassembled
  | 'incomplete' // a new start arrived before the previous frame was complete
  | 'overrun' // fragments carry more bytes than the Length field announced
  | 'unknown-cid' // no fixed channel with that CID here
  | 'too-long'; // Length exceeds what the channel accepts (its MTU)

/** Encode one B-frame: Length + CID + payload. */
export function encodeBFrame(cid: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(L2CAP_HEADER_BYTES + payload.length);
  f[0] = payload.length & 0xff;
  f[1] = payload.length >> 8;
  f[2] = cid & 0xff;
  f[3] = cid >> 8;
  f.set(payload, L2CAP_HEADER_BYTES);
  return f;
}

/** Split a frame into LL payloads of at most `maxPayloadBytes`: LLID 2 first, then LLID 1 (Vol 3 Part A §7.2). */
export function fragmentFrame(frame: Uint8Array, maxPayloadBytes: number): { llid: Llid; payload: Uint8Array }[] {
  const out: { llid: Llid; payload: Uint8Array }[] = [];
  for (let i = 0; i < frame.length; i += maxPayloadBytes) {
    out.push({ llid: i === 0 ? LLID_START : LLID_CONTINUATION, payload: frame.subarray(i, Math.min(frame.length, i + maxPayloadBytes)) });
  }
  return out;
}

/**
 * One LE-U logical link: every frame to send goes through one FIFO of fragments, so the
 * fragments of two frames never interleave (a receiver could not tell them apart). The
 * radio accepts a bounded number of PDUs ('busy' beyond); the rest waits here and goes
 * when the radio reports `sent`.
 */
export class L2capLink {
  private readonly env: HostEnv;
  private readonly radio: L2capRadio;
  readonly handle: number;
  private readonly rxLimitBytes: (cid: number) => number | undefined;
  private readonly deliver: (cid: number, payload: Uint8Array) => void;
  private readonly traceOn: boolean;

  // Transmit FIFO of fragments (head index avoids shifting on every PDU).
  private txLlid: Llid[] = [];
  private txPayload: Uint8Array[] = [];
  private txHead = 0;
  private closed = false;
  /** PDUs the radio took since its last `sent` (all acknowledged once it reports `sent`). */
  private unacked = 0;
  private drainedWaiters: Array<() => void> = [];

  // Reassembly state (§7.2): the frame being collected, or the bytes still to skip.
  private hdr = new Uint8Array(L2CAP_HEADER_BYTES);
  private hdrHave = 0;
  private inFrame = false;
  private frame: Uint8Array | null = null;
  private frameCid = 0;
  private have = 0;
  /** > 0 while discarding the rest of a frame we refused (already traced): bytes still expected. */
  private skipLeft = 0;

  constructor(opts: L2capLinkOptions) {
    this.env = opts.env;
    this.radio = opts.radio;
    this.handle = opts.handle;
    this.rxLimitBytes = opts.rxLimitBytes;
    this.deliver = opts.deliver;
    this.traceOn = opts.env.trace.wants('l2cap');
  }

  /** Fragments waiting for room in the radio's queue. */
  get queuedFragments(): number {
    return this.txLlid.length - this.txHead;
  }

  /** Queue one B-frame on `cid`. Returns false when the link is closed. */
  send(cid: number, payload: Uint8Array): boolean {
    if (this.closed) return false;
    const frame = encodeBFrame(cid, payload);
    const max = this.radio.maxPayloadBytes;
    if (frame.length <= max) {
      this.txLlid.push(LLID_START);
      this.txPayload.push(frame);
    } else {
      for (let i = 0; i < frame.length; i += max) {
        this.txLlid.push(i === 0 ? LLID_START : LLID_CONTINUATION);
        this.txPayload.push(frame.subarray(i, Math.min(frame.length, i + max)));
      }
    }
    this.pump();
    return true;
  }

  /** Hand queued fragments to the radio until it is full. Called again on `sent`. */
  pump(): void {
    while (!this.closed && this.txHead < this.txLlid.length) {
      const r = this.radio.send(this.handle, this.txLlid[this.txHead]!, this.txPayload[this.txHead]!);
      if (!r.ok) {
        if (r.code === 'busy') return;
        // 'off': the connection is gone (its `disconnected` is on its way); anything else is
        // a fault in this layer (we never build a PDU longer than maxPayloadBytes).
        if (this.traceOn) this.env.trace.record(this.env.device, 'l2cap', 'l2cap.tx.fail', { conn: this.handle, code: r.code, queued: this.queuedFragments });
        this.close();
        return;
      }
      this.txHead++;
      this.unacked++;
    }
    if (this.txHead > 0 && this.txHead === this.txLlid.length) {
      this.txLlid.length = 0;
      this.txPayload.length = 0;
      this.txHead = 0;
    }
  }

  /** The radio reports every PDU it took acknowledged (ConnectionClient.sent): send more, then tell who waits. */
  radioSent(): void {
    this.unacked = 0;
    this.pump();
    if (this.unacked === 0 && this.txHead === this.txLlid.length) {
      const waiters = this.drainedWaiters;
      this.drainedWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Call `done` once everything sent so far is acknowledged by the peer's link layer (now, from
   * the scheduler, when nothing is outstanding). For hanging up after a last message: the
   * LL_TERMINATE_IND overtakes queued data (Vol 6 Part B §5.1.3), so hang up only after this.
   */
  whenDrained(done: () => void): void {
    if (this.unacked === 0 && this.txHead === this.txLlid.length) this.env.alarm.setAlarm(0, done);
    else this.drainedWaiters.push(done);
  }

  /** The connection ended: drop the queue and any partial frame; later sends return false. */
  close(): void {
    this.closed = true;
    this.drainedWaiters = [];
    this.txLlid = [];
    this.txPayload = [];
    this.txHead = 0;
    this.resetRx();
  }

  private resetRx(): void {
    this.inFrame = false;
    this.hdrHave = 0;
    this.frame = null;
    this.have = 0;
    this.skipLeft = 0;
  }

  private drop(reason: L2capDropReason, fields: Record<string, number> = {}): void {
    if (this.traceOn) this.env.trace.record(this.env.device, 'l2cap', 'l2cap.drop', { conn: this.handle, reason, ...fields });
  }

  /**
   * A data PDU from the link layer (LLID 1 or 2). Never throws: a malformed sequence is
   * discarded with a trace record, as §7.2 lets a receiver do with a frame it cannot rebuild.
   */
  received(llid: Llid, payload: Uint8Array): void {
    if (this.closed) return;
    if (llid === LLID_START) {
      if (this.inFrame) {
        if (this.skipLeft === 0) this.drop('incomplete', { cid: this.frameCid, have: this.have });
        this.resetRx();
      }
      this.inFrame = true;
      // The common case: the whole frame in one start fragment (no copy of the header).
      if (payload.length >= L2CAP_HEADER_BYTES) {
        const length = payload[0]! | (payload[1]! << 8);
        const cid = payload[2]! | (payload[3]! << 8);
        const limit = this.rxLimitBytes(cid);
        if (length === payload.length - L2CAP_HEADER_BYTES && limit !== undefined && length <= limit) {
          this.inFrame = false;
          this.deliver(cid, payload.subarray(L2CAP_HEADER_BYTES));
          return;
        }
      }
      this.take(payload);
      return;
    }
    if (llid !== LLID_CONTINUATION) return; // LL control never reaches the host
    if (!this.inFrame) {
      this.drop('continuation-without-start', { length: payload.length });
      return;
    }
    this.take(payload);
  }

  private take(payload: Uint8Array): void {
    let p = payload;
    if (this.skipLeft > 0) {
      // The rest of a refused frame; a fragment longer than what is left ends it just the same.
      this.skipLeft = p.length >= this.skipLeft ? 0 : this.skipLeft - p.length;
      if (this.skipLeft === 0) this.resetRx();
      return;
    }
    if (this.frame === null) {
      // Still collecting the 4-byte header (a start fragment may be shorter than that).
      const n = Math.min(L2CAP_HEADER_BYTES - this.hdrHave, p.length);
      this.hdr.set(p.subarray(0, n), this.hdrHave);
      this.hdrHave += n;
      p = p.subarray(n);
      if (this.hdrHave < L2CAP_HEADER_BYTES) return;
      const length = this.hdr[0]! | (this.hdr[1]! << 8);
      const cid = this.hdr[2]! | (this.hdr[3]! << 8);
      this.frameCid = cid;
      const limit = this.rxLimitBytes(cid);
      if (limit === undefined || length > limit) {
        this.drop(limit === undefined ? 'unknown-cid' : 'too-long', { cid, length });
        this.skipLeft = length - p.length;
        if (this.skipLeft <= 0) this.resetRx();
        return;
      }
      this.frame = new Uint8Array(length);
      this.have = 0;
    }
    const frame = this.frame;
    if (this.have + p.length > frame.length) {
      this.drop('overrun', { cid: this.frameCid, length: frame.length });
      this.resetRx();
      return;
    }
    frame.set(p, this.have);
    this.have += p.length;
    if (this.have === frame.length) {
      const cid = this.frameCid;
      this.resetRx();
      this.deliver(cid, frame);
    }
  }
}
