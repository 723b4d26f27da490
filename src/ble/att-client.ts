// The ATT client role on one bearer (Core v5.x Vol 3 Part F §3.3.2, §3.3.3): one outstanding request, the rest
// queued; the 30 s transaction timeout on the device's Alarm; notifications, indications and their confirmation.
// Not GATT procedures (gatt-client.ts builds discovery, long reads and writes from these requests).

import type { AlarmId } from '../../hal/alarm.ts';
import { ATT_OP, RESPONSE_OPCODE_FOR, attErrorName, attOpcodeName, attOpcodeOf, type AttDecodeResult, type AttPdu } from './att-pdu.ts';
import { ATT_TRANSACTION_TIMEOUT_US, type AttBearer, type AttBearerClosedReason, type AttClientRole } from './att-bearer.ts';

/**
 * - 'att': the server answered with an Error Response (`attError`, `handle`);
 * - 'timeout': no response within 30 s; the bearer is closed for good (§3.3.3);
 * - 'closed': the bearer had closed (after a timeout) before this request could go;
 * - 'disconnected': the link ended first;
 * - 'bad-response': the response had the expected opcode but was malformed;
 * - 'invalid': not something this call can send (a response opcode, a bad argument);
 * - 'size': too long for ATT_MTU.
 */
export type AttClientErrorCode = 'att' | 'timeout' | 'closed' | 'disconnected' | 'bad-response' | 'invalid' | 'size' | 'mismatch';

export interface AttClientFailure {
  readonly ok: false;
  readonly code: AttClientErrorCode;
  readonly detail: string;
  /** For code 'att': the Error Code of the Error Response. */
  readonly attError?: number;
  /** For code 'att': the Attribute Handle In Error. */
  readonly handle?: number;
}

export type AttClientResult<T> = { ok: true; value: T } | AttClientFailure;

export type ValueListener = (handle: number, value: Uint8Array, kind: 'notification' | 'indication') => void;

interface Pending {
  readonly pdu: AttPdu;
  readonly opcode: number;
  readonly responseOpcode: number;
  readonly done: (r: AttClientResult<AttPdu>) => void;
}

export class AttClient implements AttClientRole {
  private queue: Pending[] = [];
  private current: (Pending & { timer: AlarmId }) | null = null;
  private closedReason: AttBearerClosedReason | null = null;
  /** Every notification and indication (the GATT client dispatches them by handle). */
  onValue: ValueListener | undefined = undefined;

  constructor(readonly bearer: AttBearer) {
    bearer.client = this;
  }

  /** Requests sent or waiting. */
  get pendingRequests(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  private trace(kind: string, fields: Record<string, number | string>): void {
    const env = this.bearer.env;
    if (env.trace.wants('att')) env.trace.record(env.device, 'att', kind, { conn: this.bearer.conn, ...fields });
  }

  /** Fail from the scheduler, never inside the caller's call (split-phase). */
  private later<T>(done: (r: AttClientResult<T>) => void, f: AttClientFailure): void {
    this.bearer.env.alarm.setAlarm(0, () => done(f));
  }

  /**
   * Send a request when the one before it has been answered (§3.3.2). `done` gets the
   * response PDU, or a failure; always later, from the scheduler.
   */
  request(pdu: AttPdu, done: (r: AttClientResult<AttPdu>) => void): void {
    const opcode = attOpcodeOf(pdu.op);
    const responseOpcode = RESPONSE_OPCODE_FOR.get(opcode);
    if (responseOpcode === undefined) {
      this.later(done, { ok: false, code: 'invalid', detail: `${attOpcodeName(opcode)} is not a request` });
      return;
    }
    if (this.closedReason !== null) {
      this.later(done, this.closedFailure());
      return;
    }
    this.queue.push({ pdu, opcode, responseOpcode, done });
    if (this.current === null) this.pump();
  }

  /** Send a command now (commands need no turn, §3.3.2). Only Write Command is a client command. */
  command(pdu: AttPdu): AttClientResult<void> {
    if (pdu.op !== 'write-cmd' && pdu.op !== 'signed-write-cmd') return { ok: false, code: 'invalid', detail: `${pdu.op} is not a command` };
    if (this.closedReason !== null) return this.closedFailure();
    this.bearer.send(pdu);
    return { ok: true, value: undefined };
  }

  private closedFailure(): AttClientFailure {
    return this.closedReason === 'timeout'
      ? { ok: false, code: 'closed', detail: 'an earlier transaction timed out: no more ATT on this bearer (§3.3.3)' }
      : { ok: false, code: 'disconnected', detail: 'the connection ended' };
  }

  private pump(): void {
    if (this.current !== null || this.closedReason !== null) return;
    const p = this.queue.shift();
    if (!p) return;
    const timer = this.bearer.env.alarm.setAlarm(ATT_TRANSACTION_TIMEOUT_US, () => {
      if (this.current?.timer !== timer) return;
      this.trace('att.timeout', { opcode: p.opcode, opcodeName: attOpcodeName(p.opcode) });
      this.bearer.close('timeout');
    });
    this.current = { ...p, timer };
    this.bearer.send(p.pdu);
  }

  private finish(r: AttClientResult<AttPdu>): void {
    const c = this.current!;
    this.current = null;
    this.bearer.env.alarm.cancel(c.timer);
    c.done(r);
    this.pump();
  }

  /** A response, notification or indication from the server. Never throws for any bytes. */
  incoming(bytes: Uint8Array, decoded: AttDecodeResult): void {
    if (this.closedReason !== null) return;
    const opcode = bytes[0]!;
    if (opcode === ATT_OP.HANDLE_VALUE_NTF || opcode === ATT_OP.HANDLE_VALUE_IND || opcode === ATT_OP.MULTIPLE_HANDLE_VALUE_NTF) {
      if (!decoded.ok) {
        this.trace('att.drop', { reason: decoded.code, opcode });
        return;
      }
      const pdu = decoded.value;
      if (pdu.op === 'handle-value-ntf') this.onValue?.(pdu.handle, pdu.value, 'notification');
      else if (pdu.op === 'multiple-handle-value-ntf') for (const e of pdu.entries) this.onValue?.(e.handle, e.value, 'notification');
      else if (pdu.op === 'handle-value-ind') {
        this.onValue?.(pdu.handle, pdu.value, 'indication');
        // §3.4.7.3: confirm once the value has been handed to the application.
        if (this.closedReason === null) this.bearer.send({ op: 'handle-value-cfm' });
      }
      return;
    }
    const c = this.current;
    if (c === null) {
      this.trace('att.drop', { reason: 'no-request', opcode });
      return;
    }
    if (decoded.ok) {
      const pdu = decoded.value;
      if (pdu.op === 'error-rsp') {
        if (pdu.requestOpcode !== c.opcode) {
          this.trace('att.drop', { reason: 'error-for-other-request', opcode, requestOpcode: pdu.requestOpcode });
          return;
        }
        this.finish({
          ok: false,
          code: 'att',
          attError: pdu.error,
          handle: pdu.handle,
          detail: `${attOpcodeName(c.opcode)}: Error Response ${attErrorName(pdu.error)} (0x${pdu.error.toString(16).padStart(2, '0')}) on handle 0x${pdu.handle.toString(16).padStart(4, '0')}`,
        });
        return;
      }
      if (opcode !== c.responseOpcode) {
        this.trace('att.drop', { reason: 'unexpected-response', opcode });
        return;
      }
      if (pdu.op === 'exchange-mtu-rsp') this.bearer.setExchangedMtu(pdu.mtu);
      this.finish({ ok: true, value: pdu });
      return;
    }
    if (opcode === c.responseOpcode || opcode === ATT_OP.ERROR_RSP) {
      this.finish({ ok: false, code: 'bad-response', detail: decoded.detail });
      return;
    }
    this.trace('att.drop', { reason: decoded.code, opcode });
  }

  closed(reason: AttBearerClosedReason): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    const c = this.current;
    const waiting = this.queue;
    this.current = null;
    this.queue = [];
    if (c) {
      this.bearer.env.alarm.cancel(c.timer);
      c.done(
        reason === 'timeout'
          ? { ok: false, code: 'timeout', detail: `no response to ${attOpcodeName(c.opcode)} within 30 s (§3.3.3)` }
          : { ok: false, code: 'disconnected', detail: 'the connection ended before the response' },
      );
    }
    for (const p of waiting) p.done(this.closedFailure());
  }
}
