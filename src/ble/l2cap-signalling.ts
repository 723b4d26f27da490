// The LE signalling channel (CID 0x0005, Core v5.x Vol 3 Part A §4): Connection Parameter Update Request/Response
// and Command Reject, codec and both roles. Not LE credit-based channels (not supported: their requests are rejected).

import type { AlarmId } from '../../hal/alarm.ts';
import type { HostEnv } from './trace-sink.ts';

/** Signalling command codes (Vol 3 Part A §4, Table 4.2; the ones valid on LE-U). */
export const SIG_CODE = {
  COMMAND_REJECT: 0x01,
  DISCONNECTION_REQ: 0x06,
  DISCONNECTION_RSP: 0x07,
  CONNECTION_PARAMETER_UPDATE_REQ: 0x12,
  CONNECTION_PARAMETER_UPDATE_RSP: 0x13,
  LE_CREDIT_BASED_CONNECTION_REQ: 0x14,
  LE_CREDIT_BASED_CONNECTION_RSP: 0x15,
  FLOW_CONTROL_CREDIT_IND: 0x16,
  CREDIT_BASED_CONNECTION_REQ: 0x17,
  CREDIT_BASED_CONNECTION_RSP: 0x18,
  CREDIT_BASED_RECONFIGURE_REQ: 0x19,
  CREDIT_BASED_RECONFIGURE_RSP: 0x1a,
} as const;

/** Command Reject reasons (§4.1). */
export const SIG_REJECT = {
  COMMAND_NOT_UNDERSTOOD: 0x0000,
  SIGNALING_MTU_EXCEEDED: 0x0001,
  INVALID_CID: 0x0002,
} as const;

/** MTU_sig on LE-U: the minimum, 23 bytes (§4: "MTU_sig ... LE-U 23 octets"). */
export const LE_SIGNALLING_MTU = 23;
/** Command header: Code (1), Identifier (1), Length (2, little-endian) (§4). */
export const SIG_HEADER_BYTES = 4;
/** A request waits this long for its response (RTX, §6.2.1: 1–60 s; we take 30 s like ATT). */
export const SIG_RESPONSE_TIMEOUT_US = 30_000_000;

/** Result of a Connection Parameter Update Response (§4.21). */
export const CONN_PARAM_RESULT = { ACCEPTED: 0x0000, REJECTED: 0x0001 } as const;

/** The four fields of a Connection Parameter Update Request (§4.20), in the spec's units. */
export interface ConnParamUpdate {
  readonly intervalMinUnits1250us: number;
  readonly intervalMaxUnits1250us: number;
  readonly latency: number;
  readonly timeoutUnits10ms: number;
}

/**
 * Whether a central can accept these parameters (§4.20 ranges; Vol 6 Part B §4.5.2):
 * interval 6..3200 × 1.25 ms with min ≤ max, latency 0..499, timeout 10..3200 × 10 ms and
 * longer than (1 + latency) × intervalMax × 2.
 */
export function connParamsInRange(p: ConnParamUpdate): boolean {
  const { intervalMinUnits1250us: min, intervalMaxUnits1250us: max, latency, timeoutUnits10ms: to } = p;
  if (min < 6 || min > 3200 || max < 6 || max > 3200 || min > max) return false;
  if (latency < 0 || latency > 499) return false;
  if (to < 10 || to > 3200) return false;
  return to * 10_000 > (1 + latency) * max * 1_250 * 2;
}

export type SigCommand =
  | { readonly code: 'command-reject'; readonly identifier: number; readonly reason: number; readonly data: Uint8Array }
  | ({ readonly code: 'connection-parameter-update-req'; readonly identifier: number } & ConnParamUpdate)
  | { readonly code: 'connection-parameter-update-rsp'; readonly identifier: number; readonly result: number }
  | { readonly code: 'other'; readonly identifier: number; readonly opcode: number; readonly data: Uint8Array };

const le16 = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8);

function header(code: number, identifier: number, dataLength: number): number[] {
  return [code, identifier, dataLength & 0xff, dataLength >> 8];
}

export function encodeSigCommand(c: SigCommand): Uint8Array {
  switch (c.code) {
    case 'command-reject':
      return Uint8Array.from([...header(SIG_CODE.COMMAND_REJECT, c.identifier, 2 + c.data.length), c.reason & 0xff, c.reason >> 8, ...c.data]);
    case 'connection-parameter-update-req': {
      const f = [c.intervalMinUnits1250us, c.intervalMaxUnits1250us, c.latency, c.timeoutUnits10ms];
      return Uint8Array.from([...header(SIG_CODE.CONNECTION_PARAMETER_UPDATE_REQ, c.identifier, 8), ...f.flatMap((v) => [v & 0xff, v >> 8])]);
    }
    case 'connection-parameter-update-rsp':
      return Uint8Array.from([...header(SIG_CODE.CONNECTION_PARAMETER_UPDATE_RSP, c.identifier, 2), c.result & 0xff, c.result >> 8]);
    case 'other':
      return Uint8Array.from([...header(c.opcode, c.identifier, c.data.length), ...c.data]);
  }
}

export type SigDecodeErrorCode = 'short' | 'length' | 'identifier';
export type SigDecodeResult =
  | { ok: true; value: SigCommand }
  | { ok: false; code: SigDecodeErrorCode; opcode: number; identifier: number; detail: string };

/**
 * Decode the one command of an LE signalling frame (on LE-U a C-frame carries exactly one, §4).
 * 'short': fewer than 4 bytes; 'identifier': identifier 0x00, which is never valid (§4);
 * 'length': the Length field disagrees with the frame, or a known command has the wrong size.
 */
export function decodeSigCommand(b: Uint8Array): SigDecodeResult {
  const opcode = b[0] ?? -1;
  const identifier = b[1] ?? -1;
  const bad = (code: SigDecodeErrorCode, detail: string): SigDecodeResult => ({ ok: false, code, opcode, identifier, detail });
  if (b.length < SIG_HEADER_BYTES) return bad('short', `a signalling command needs a 4-byte header, got ${b.length} bytes`);
  const len = le16(b, 2);
  if (len !== b.length - SIG_HEADER_BYTES) return bad('length', `Length field says ${len}, the frame carries ${b.length - SIG_HEADER_BYTES}`);
  if (identifier === 0) return bad('identifier', 'identifier 0x00 is never valid');
  const d = b.subarray(SIG_HEADER_BYTES);
  switch (opcode) {
    case SIG_CODE.COMMAND_REJECT:
      if (len < 2) return bad('length', 'Command Reject carries a 2-byte reason');
      return { ok: true, value: { code: 'command-reject', identifier, reason: le16(d, 0), data: d.slice(2) } };
    case SIG_CODE.CONNECTION_PARAMETER_UPDATE_REQ:
      if (len !== 8) return bad('length', `Connection Parameter Update Request carries 8 bytes, got ${len}`);
      return {
        ok: true,
        value: {
          code: 'connection-parameter-update-req',
          identifier,
          intervalMinUnits1250us: le16(d, 0),
          intervalMaxUnits1250us: le16(d, 2),
          latency: le16(d, 4),
          timeoutUnits10ms: le16(d, 6),
        },
      };
    case SIG_CODE.CONNECTION_PARAMETER_UPDATE_RSP:
      if (len !== 2) return bad('length', `Connection Parameter Update Response carries 2 bytes, got ${len}`);
      return { ok: true, value: { code: 'connection-parameter-update-rsp', identifier, result: le16(d, 0) } };
    default:
      return { ok: true, value: { code: 'other', identifier, opcode, data: d.slice() } };
  }
}

/** Codes that are responses or indications: never answered, even with a Command Reject. */
const NEVER_ANSWERED: ReadonlySet<number> = new Set([
  SIG_CODE.COMMAND_REJECT,
  SIG_CODE.DISCONNECTION_RSP,
  SIG_CODE.CONNECTION_PARAMETER_UPDATE_RSP,
  SIG_CODE.LE_CREDIT_BASED_CONNECTION_RSP,
  SIG_CODE.FLOW_CONTROL_CREDIT_IND,
  SIG_CODE.CREDIT_BASED_CONNECTION_RSP,
  SIG_CODE.CREDIT_BASED_RECONFIGURE_RSP,
]);

export type ConnParamUpdateOutcome =
  | { ok: true; value: { accepted: boolean } }
  | { ok: false; code: 'rejected-command' | 'timeout' | 'disconnected'; detail: string };

export interface LeSignallingOptions {
  readonly env: HostEnv;
  readonly conn: number;
  readonly role: 'central' | 'peripheral';
  /** Queue a frame on CID 0x0005. */
  readonly send: (payload: Uint8Array) => void;
  /**
   * Central: decide on a peripheral's request that is in range (out-of-range ones are
   * always rejected). Default: accept. Accepting only answers: the link layer's connection
   * update (LL_CONNECTION_UPDATE_IND) is the central's controller's business.
   */
  readonly acceptParams?: (conn: number, p: ConnParamUpdate) => boolean;
}

/** One connection's LE signalling channel. */
export class LeSignalling {
  private readonly env: HostEnv;
  private nextId = 1;
  private pending: { id: number; timer: AlarmId; done: (r: ConnParamUpdateOutcome) => void } | null = null;
  private closed = false;

  constructor(private readonly opts: LeSignallingOptions) {
    this.env = opts.env;
  }

  private trace(kind: string, fields: Record<string, number | string | boolean>): void {
    if (this.env.trace.wants('l2cap')) this.env.trace.record(this.env.device, 'l2cap', kind, { conn: this.opts.conn, ...fields });
  }

  private reject(identifier: number, reason: number, data: Uint8Array = new Uint8Array(0)): void {
    this.trace('sig.tx', { command: 'command-reject', identifier, reason });
    this.opts.send(encodeSigCommand({ code: 'command-reject', identifier, reason, data }));
  }

  /** A frame on CID 0x0005. Never throws; answers per §4 or drops what cannot be answered. */
  received(frame: Uint8Array): void {
    if (this.closed) return;
    if (frame.length > LE_SIGNALLING_MTU) {
      // §4.1: a command longer than MTU_sig gets Command Reject "signaling MTU exceeded" with our MTU_sig.
      if (frame.length >= 2 && frame[1] !== 0 && !NEVER_ANSWERED.has(frame[0]!)) {
        this.reject(frame[1]!, SIG_REJECT.SIGNALING_MTU_EXCEEDED, Uint8Array.of(LE_SIGNALLING_MTU, 0));
      } else {
        this.trace('sig.drop', { reason: 'mtu', length: frame.length });
      }
      return;
    }
    const d = decodeSigCommand(frame);
    if (!d.ok) {
      // Malformed: a command we would answer gets Command Reject "not understood"; the rest is dropped.
      if (d.code === 'length' && !NEVER_ANSWERED.has(d.opcode)) this.reject(d.identifier, SIG_REJECT.COMMAND_NOT_UNDERSTOOD);
      else this.trace('sig.drop', { reason: d.code, opcode: d.opcode });
      return;
    }
    const c = d.value;
    this.trace('sig.rx', { command: c.code === 'other' ? `0x${c.opcode.toString(16).padStart(2, '0')}` : c.code, identifier: c.identifier });
    switch (c.code) {
      case 'connection-parameter-update-req': {
        if (this.opts.role === 'peripheral') {
          // §4.20: only a peripheral sends it; a peripheral that receives one rejects the command.
          this.reject(c.identifier, SIG_REJECT.COMMAND_NOT_UNDERSTOOD);
          return;
        }
        const accepted = connParamsInRange(c) && (this.opts.acceptParams?.(this.opts.conn, c) ?? true);
        const result = accepted ? CONN_PARAM_RESULT.ACCEPTED : CONN_PARAM_RESULT.REJECTED;
        this.trace('sig.tx', { command: 'connection-parameter-update-rsp', identifier: c.identifier, result });
        this.opts.send(encodeSigCommand({ code: 'connection-parameter-update-rsp', identifier: c.identifier, result }));
        return;
      }
      case 'connection-parameter-update-rsp':
      case 'command-reject': {
        const p = this.pending;
        if (!p || p.id !== c.identifier) return; // a stray response: nothing to match it with
        this.pending = null;
        this.env.alarm.cancel(p.timer);
        if (c.code === 'command-reject') p.done({ ok: false, code: 'rejected-command', detail: `Command Reject, reason 0x${c.reason.toString(16).padStart(4, '0')}` });
        else p.done({ ok: true, value: { accepted: c.result === CONN_PARAM_RESULT.ACCEPTED } });
        return;
      }
      case 'other':
        if (!NEVER_ANSWERED.has(c.opcode)) this.reject(c.identifier, SIG_REJECT.COMMAND_NOT_UNDERSTOOD);
        return;
    }
  }

  /**
   * Peripheral: ask the central for new connection parameters (§4.20). `done` gets the
   * central's answer later; one request at a time ('busy' while one is pending).
   */
  requestConnectionParameters(p: ConnParamUpdate, done: (r: ConnParamUpdateOutcome) => void): { ok: true } | { ok: false; code: 'busy' | 'closed' | 'role' | 'range' } {
    if (this.closed) return { ok: false, code: 'closed' };
    if (this.opts.role !== 'peripheral') return { ok: false, code: 'role' };
    if (this.pending) return { ok: false, code: 'busy' };
    if (!connParamsInRange(p)) return { ok: false, code: 'range' };
    const id = this.nextId;
    this.nextId = id >= 255 ? 1 : id + 1;
    const timer = this.env.alarm.setAlarm(SIG_RESPONSE_TIMEOUT_US, () => {
      if (this.pending?.id !== id) return;
      this.pending = null;
      done({ ok: false, code: 'timeout', detail: 'no Connection Parameter Update Response within 30 s' });
    });
    this.pending = { id, timer, done };
    this.trace('sig.tx', { command: 'connection-parameter-update-req', identifier: id });
    this.opts.send(encodeSigCommand({ code: 'connection-parameter-update-req', identifier: id, ...p }));
    return { ok: true };
  }

  /** The connection ended: a pending request fails (from the scheduler, never inside this call's caller's call). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const p = this.pending;
    this.pending = null;
    if (p) {
      this.env.alarm.cancel(p.timer);
      this.env.alarm.setAlarm(0, () => p.done({ ok: false, code: 'disconnected', detail: 'the connection ended' }));
    }
  }
}
