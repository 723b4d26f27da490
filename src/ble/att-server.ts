// The ATT server role on one bearer (Core v5.x Vol 3 Part F §3.4): every request and command over a GattDb,
// permission checks through pluggable hooks, the prepare queue, in-order processing, indications with confirmation.
// Not the app-facing GATT server (gatt-server.ts: connections, subscriptions, notify/indicate by handle).

import type { AlarmId } from '../../hal/alarm.ts';
import { ATT_COMMAND_FLAG, ATT_ERROR, ATT_OP, type AttDecodeResult, type AttPdu, type HandleUuid, type HandleValue, type GroupValue, type HandlesInfo } from './att-pdu.ts';
import { ATT_TRANSACTION_TIMEOUT_US, type AttBearer, type AttBearerClosedReason, type AttServerRole } from './att-bearer.ts';
import {
  DEFERRED,
  GATT_TYPE,
  type AttResult,
  type Attribute,
  type CharacteristicInfo,
  type Deferred,
  type GattDb,
  type WriteRequest,
} from './gatt-db.ts';
import { uuid16, type Uuid } from './uuid.ts';


export type AttAccessOp = 'read' | 'write';

export interface AuthorizeRequest {
  readonly conn: number;
  readonly handle: number;
  readonly op: AttAccessOp;
  readonly attribute: Attribute;
  /** The attribute is marked as needing authorization for this operation (its `security` flags). */
  readonly authorizationRequired: boolean;
}

/**
 * Asked before every read or write of an attribute by a client (after the ATT permission and
 * authentication checks). Return undefined or 0 to allow, or the ATT error code to answer
 * with (0x08 Insufficient Authorization, 0x05 Insufficient Authentication, 0x0F, an
 * application code…). Without a hook, attributes marked authorizationRequired are refused
 * with 0x08 and the others are allowed. Discovery (Find Information, service and
 * characteristic declarations found by type) is not gated: it reveals structure, not values.
 */
export type AuthorizeHook = (req: AuthorizeRequest) => number | undefined;

export interface AttServerPolicy {
  readonly authorize?: AuthorizeHook;
  /** Whether the link to this client is authenticated (BLE pairing). Default: never. */
  readonly isAuthenticated?: (conn: number) => boolean;
  /** Prepared writes held per client before Prepare Queue Full (0x09). */
  readonly prepareQueueLimit: number;
  /** PDUs held while a deferred answer is pending; beyond, the newest are dropped. */
  readonly inboxLimit: number;
  /** A client wrote a CCCD (the value as written, bits 0 notify / 1 indicate). */
  readonly onCccdWrite?: (conn: number, characteristic: CharacteristicInfo, value: number) => void;
  /** A firmware callback threw: it is answered with Unlikely Error (0x0E) and reported here. */
  readonly onHandlerError?: (conn: number, handle: number, error: unknown) => void;
}

export type IndicationOutcome = { ok: true } | { ok: false; code: 'timeout' | 'disconnected' | 'closed'; detail: string };

type Access =
  | { readonly kind: 'read'; readonly attr: Attribute; readonly offset: number }
  | { readonly kind: 'write'; readonly attr: Attribute; readonly offset: number; readonly value: Uint8Array; readonly via: WriteRequest['via'] };
type Outcome = AttResult<Uint8Array | undefined>;
type Proc = Generator<Access, AttPdu | null, Outcome>;

const EMPTY = new Uint8Array(0);
const GROUP_TYPES: ReadonlySet<string> = new Set([uuid16(GATT_TYPE.PRIMARY_SERVICE).text, uuid16(GATT_TYPE.SECONDARY_SERVICE).text]);

const errorPdu = (requestOpcode: number, handle: number, error: number): AttPdu => ({ op: 'error-rsp', requestOpcode, handle, error });

function isAttErrorCode(c: unknown): c is number {
  return typeof c === 'number' && Number.isInteger(c) && c >= 1 && c <= 0xff;
}

/**
 * The new stored value after writing `part` at `offset`: the old value up to `offset`, then
 * `part`; a fixed-length value keeps its tail (an overwrite), any other ends after `part`
 * (so a long write of a shorter value shortens it). The caller has checked the offset and
 * the resulting length.
 */
export function applyWrite(old: Uint8Array, offset: number, part: Uint8Array, fixedLength: number | undefined): Uint8Array {
  const len = fixedLength !== undefined ? Math.max(old.length, offset + part.length) : offset + part.length;
  const out = new Uint8Array(len);
  out.set(old.subarray(0, fixedLength !== undefined ? old.length : offset));
  out.set(part, offset);
  return out;
}

/** Attribute Not Long applies to fixed-length values: declarations, CCCDs and values declared fixed (§3.4.4.5). */
function fixedLengthOf(a: Attribute, value: Uint8Array): number | undefined {
  if (a.role === 'primary-service' || a.role === 'secondary-service' || a.role === 'characteristic') return value.length;
  return a.fixedLengthBytes;
}

export class AttServer implements AttServerRole {
  private readonly cccd = new Map<number, number>();
  private prepareQueue: { handle: number; offset: number; value: Uint8Array }[] = [];
  private busy = false;
  private draining = false;
  private inbox: [Uint8Array, AttDecodeResult][] = [];
  private inFlight: { handle: number; done: ((r: IndicationOutcome) => void) | undefined; timer: AlarmId } | null = null;
  private indications: { handle: number; value: Uint8Array; done: ((r: IndicationOutcome) => void) | undefined }[] = [];
  private closedReason: AttBearerClosedReason | null = null;

  constructor(
    private readonly bearer: AttBearer,
    private readonly db: GattDb,
    private readonly policy: AttServerPolicy,
  ) {
    bearer.server = this;
  }

  get conn(): number {
    return this.bearer.conn;
  }

  /** The CCCD value this client wrote for a characteristic (0 when never written). */
  cccdValue(characteristic: CharacteristicInfo): number {
    return characteristic.cccdHandle === undefined ? 0 : (this.cccd.get(characteristic.cccdHandle) ?? 0);
  }

  /** Prepared writes waiting for Execute Write. */
  get preparedWrites(): number {
    return this.prepareQueue.length;
  }

  private trace(kind: string, fields: Record<string, number | string>): void {
    const env = this.bearer.env;
    if (env.trace.wants('att')) env.trace.record(env.device, 'att', kind, { conn: this.conn, ...fields });
  }

  // ------------------------------------------------------------------ server-initiated PDUs

  /** Send a notification now (§3.4.7.1): the value is cut to ATT_MTU - 3. False when the bearer is closed. */
  notify(handle: number, value: Uint8Array): boolean {
    if (this.closedReason !== null) return false;
    return this.bearer.send({ op: 'handle-value-ntf', handle, value: value.subarray(0, this.bearer.mtu - 3) });
  }

  /**
   * Queue an indication (§3.4.7.2): one at a time, each waiting for its Handle Value
   * Confirmation, 30 s at most. `done` runs from the scheduler.
   */
  indicate(handle: number, value: Uint8Array, done?: (r: IndicationOutcome) => void): boolean {
    if (this.closedReason !== null) return false;
    this.indications.push({ handle, value: value.slice(0, this.bearer.mtu - 3), done });
    if (this.inFlight === null) this.nextIndication();
    return true;
  }

  private nextIndication(): void {
    const next = this.indications.shift();
    if (!next) return;
    const alarm = this.bearer.env.alarm;
    const timer = alarm.setAlarm(ATT_TRANSACTION_TIMEOUT_US, () => {
      if (this.inFlight?.timer !== timer) return;
      this.trace('att.timeout', { handle: next.handle, waitingFor: 'ATT_HANDLE_VALUE_CFM' });
      this.bearer.close('timeout');
    });
    this.inFlight = { handle: next.handle, done: next.done, timer };
    this.bearer.send({ op: 'handle-value-ind', handle: next.handle, value: next.value });
  }

  private confirmation(decoded: AttDecodeResult): void {
    const f = this.inFlight;
    if (!decoded.ok || f === null) {
      this.trace('att.drop', { reason: decoded.ok ? 'unexpected-confirmation' : 'malformed-confirmation' });
      return;
    }
    this.inFlight = null;
    this.bearer.env.alarm.cancel(f.timer);
    f.done?.({ ok: true });
    if (this.closedReason === null) this.nextIndication();
  }

  closed(reason: AttBearerClosedReason): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    const failed = [...(this.inFlight ? [this.inFlight.done] : []), ...this.indications.map((i) => i.done)];
    if (this.inFlight) this.bearer.env.alarm.cancel(this.inFlight.timer);
    this.inFlight = null;
    this.indications = [];
    this.inbox = [];
    this.prepareQueue = [];
    const detail = reason === 'timeout' ? 'an ATT transaction timed out: no more ATT on this bearer (§3.3.3)' : 'the connection ended';
    for (const done of failed) done?.({ ok: false, code: reason, detail });
  }

  // ------------------------------------------------------------------ incoming

  /** A request, command or confirmation from the client (the bearer routes nothing else here). */
  incoming(bytes: Uint8Array, decoded: AttDecodeResult): void {
    if (this.closedReason !== null) return;
    if (bytes[0] === ATT_OP.HANDLE_VALUE_CFM) {
      this.confirmation(decoded);
      return;
    }
    if (this.busy) {
      // One request at a time (§3.3.2); a client that does not wait is still answered in order.
      if (this.inbox.length >= this.policy.inboxLimit) {
        this.trace('att.drop', { reason: 'inbox-full', opcode: bytes[0]! });
        return;
      }
      this.inbox.push([bytes.slice(), decoded]);
      return;
    }
    this.process(bytes, decoded);
    this.drain();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    while (!this.busy && this.inbox.length > 0 && this.closedReason === null) {
      const [b, d] = this.inbox.shift()!;
      this.process(b, d);
    }
    this.draining = false;
  }

  private process(bytes: Uint8Array, decoded: AttDecodeResult): void {
    const opcode = bytes[0]!;
    if (!decoded.ok) {
      // §3.3.1/§3.4.1.1: a malformed or unknown command is ignored; a request gets
      // Invalid PDU, an unknown request Request Not Supported, both with handle 0x0000.
      if ((opcode & ATT_COMMAND_FLAG) !== 0) {
        this.trace('att.drop', { reason: decoded.code, opcode });
        return;
      }
      this.bearer.sendError(opcode, 0x0000, decoded.code === 'unknown-opcode' ? ATT_ERROR.REQUEST_NOT_SUPPORTED : ATT_ERROR.INVALID_PDU);
      return;
    }
    const pdu = decoded.value;
    switch (pdu.op) {
      case 'exchange-mtu-req': {
        // §3.4.2.1/§3.4.2.2: answer with our Rx MTU (the response goes at the old ATT_MTU), then switch.
        const sent = this.bearer.send({ op: 'exchange-mtu-rsp', mtu: this.bearer.rxMtu });
        if (sent) this.bearer.setExchangedMtu(pdu.mtu);
        return;
      }
      case 'signed-write-cmd':
        // No Connection Signature Resolving Key here: a signed write cannot be verified and is ignored (§3.4.5.4).
        this.trace('att.drop', { reason: 'signed-write-unsupported', opcode, handle: pdu.handle });
        return;
      case 'find-information-req':
        return this.run(this.findInformation(opcode, pdu.startHandle, pdu.endHandle));
      case 'find-by-type-value-req':
        return this.run(this.findByTypeValue(opcode, pdu.startHandle, pdu.endHandle, pdu.type, pdu.value));
      case 'read-by-type-req':
        return this.run(this.readByType(opcode, pdu.startHandle, pdu.endHandle, pdu.type));
      case 'read-req':
        return this.run(this.read(opcode, pdu.handle));
      case 'read-blob-req':
        return this.run(this.readBlob(opcode, pdu.handle, pdu.offset));
      case 'read-multiple-req':
        return this.run(this.readMultiple(opcode, pdu.handles, false));
      case 'read-multiple-variable-req':
        return this.run(this.readMultiple(opcode, pdu.handles, true));
      case 'read-by-group-type-req':
        return this.run(this.readByGroupType(opcode, pdu.startHandle, pdu.endHandle, pdu.type));
      case 'write-req':
        return this.run(this.writeRequest(opcode, pdu.handle, pdu.value));
      case 'write-cmd':
        return this.run(this.writeCommand(pdu.handle, pdu.value));
      case 'prepare-write-req':
        return this.run(this.prepareWrite(opcode, pdu.handle, pdu.offset, pdu.value));
      case 'execute-write-req':
        return this.run(this.executeWrite(opcode, pdu.flags));
      default:
        // Responses, notifications and indications go to the client role; nothing else decodes.
        return;
    }
  }

  // ------------------------------------------------------------------ the procedure driver

  private run(proc: Proc): void {
    this.busy = true;
    this.drive(proc, undefined);
  }

  private drive(proc: Proc, input: Outcome | undefined): void {
    let next = input;
    for (;;) {
      if (this.closedReason !== null) return;
      const step = next === undefined ? proc.next() : proc.next(next);
      if (step.done) {
        this.busy = false;
        if (step.value !== null) this.bearer.send(step.value);
        this.drain();
        return;
      }
      const r = this.perform(step.value, (late) => this.drive(proc, late));
      if (r === DEFERRED) return;
      next = r;
    }
  }

  /** Read or write one attribute now, or DEFERRED when firmware answers later through `resume`. */
  private perform(a: Access, resume: (o: Outcome) => void): Outcome | Deferred {
    const attr = a.attr;
    const handle = attr.handle;
    if (a.kind === 'read') {
      if (attr.role === 'cccd') {
        const v = this.cccd.get(handle) ?? 0;
        return { ok: true, value: Uint8Array.of(v & 0xff, v >> 8) };
      }
      const onRead = attr.onRead;
      if (!onRead) return { ok: true, value: this.db.storedValue(handle) ?? EMPTY };
      return this.callHandler(handle, true, (reply) => onRead({ conn: this.conn, handle, offset: a.offset, reply }), resume);
    }
    if (attr.role === 'cccd') {
      const old = this.cccd.get(handle) ?? 0;
      const bytes = applyWrite(Uint8Array.of(old & 0xff, old >> 8), a.offset, a.value, 2);
      const v = bytes[0]! | (bytes[1]! << 8);
      this.cccd.set(handle, v);
      if (attr.characteristic) this.policy.onCccdWrite?.(this.conn, attr.characteristic, v);
      return { ok: true, value: undefined };
    }
    const onWrite = attr.onWrite;
    if (!onWrite) {
      this.db.store(handle, applyWrite(this.db.storedValue(handle) ?? EMPTY, a.offset, a.value, attr.fixedLengthBytes));
      return { ok: true, value: undefined };
    }
    const value = a.value.slice();
    return this.callHandler(handle, false, (reply) => onWrite({ conn: this.conn, handle, offset: a.offset, value, via: a.via, reply }), resume);
  }

  /** Call firmware: its answer now, or its later `reply` (once, and only while the bearer lives). */
  private callHandler(
    handle: number,
    isRead: boolean,
    invoke: (reply: (r: AttResult<Uint8Array> | AttResult<void>) => void) => AttResult<Uint8Array> | AttResult<void> | Deferred,
    resume: (o: Outcome) => void,
  ): Outcome | Deferred {
    let settled = false;
    let inCall = true;
    let early: Outcome | undefined;
    const reply = (r: AttResult<Uint8Array> | AttResult<void>): void => {
      if (settled) return;
      settled = true;
      const o = this.checkOutcome(handle, isRead, r);
      if (inCall) {
        early = o;
        return;
      }
      if (this.closedReason === null) resume(o);
    };
    let r: AttResult<Uint8Array> | AttResult<void> | Deferred;
    try {
      r = invoke(reply);
    } catch (e) {
      inCall = false;
      settled = true;
      this.trace('att.handler-error', { handle, error: e instanceof Error ? e.message : String(e) });
      this.policy.onHandlerError?.(this.conn, handle, e);
      return { ok: false, code: ATT_ERROR.UNLIKELY_ERROR };
    }
    inCall = false;
    if (r === DEFERRED) return early ?? DEFERRED;
    settled = true;
    return this.checkOutcome(handle, isRead, r);
  }

  /** Firmware's answer, checked: anything but a well-formed result becomes Unlikely Error. */
  private checkOutcome(handle: number, isRead: boolean, r: unknown): Outcome {
    const o = r as { ok?: unknown; code?: unknown; value?: unknown } | null;
    if (o !== null && typeof o === 'object') {
      if (o.ok === false && isAttErrorCode(o.code)) return { ok: false, code: o.code };
      if (o.ok === true && (!isRead || o.value instanceof Uint8Array)) return { ok: true, value: isRead ? (o.value as Uint8Array) : undefined };
    }
    this.trace('att.handler-error', { handle, error: 'not a result' });
    return { ok: false, code: ATT_ERROR.UNLIKELY_ERROR };
  }

  // ------------------------------------------------------------------ access control

  /** 0 when the client may do `op`, else the ATT error (§3.2.5; authorization hook last). */
  private denied(attr: Attribute, op: 'read' | 'write' | 'write-command'): number {
    const role = attr.role;
    if (role === 'primary-service' || role === 'secondary-service' || role === 'characteristic') {
      // Declarations: read-only, no security, not gated by the hook (§3.1, §3.3.1 of Part G).
      return op === 'read' ? 0 : ATT_ERROR.WRITE_NOT_PERMITTED;
    }
    const sec = attr.security;
    if (op === 'read' ? !attr.readable : op === 'write' ? !attr.writable : !attr.writableByCommand) {
      return op === 'read' ? ATT_ERROR.READ_NOT_PERMITTED : ATT_ERROR.WRITE_NOT_PERMITTED;
    }
    const isRead = op === 'read';
    const needAuthentication = isRead ? sec.readAuthentication : sec.writeAuthentication;
    const needAuthorization = isRead ? sec.readAuthorization : sec.writeAuthorization;
    if (needAuthentication && !(this.policy.isAuthenticated?.(this.conn) ?? false)) return ATT_ERROR.INSUFFICIENT_AUTHENTICATION;
    const hook = this.policy.authorize;
    if (!hook) return needAuthorization ? ATT_ERROR.INSUFFICIENT_AUTHORIZATION : 0;
    let c: number | undefined;
    try {
      c = hook({ conn: this.conn, handle: attr.handle, op: isRead ? 'read' : 'write', attribute: attr, authorizationRequired: needAuthorization });
    } catch (e) {
      this.trace('att.handler-error', { handle: attr.handle, error: e instanceof Error ? e.message : String(e) });
      this.policy.onHandlerError?.(this.conn, attr.handle, e);
      return ATT_ERROR.UNLIKELY_ERROR;
    }
    if (c === undefined || c === 0) return 0;
    return isAttErrorCode(c) ? c : ATT_ERROR.UNLIKELY_ERROR;
  }

  /** Start > end or start 0 is an Invalid Handle error on the start handle (§3.4.3.1 and the other range requests). */
  private static badRange(start: number, end: number): boolean {
    return start === 0 || start > end;
  }

  // ------------------------------------------------------------------ procedures (§3.4.3 – §3.4.6)

  private *findInformation(opcode: number, start: number, end: number): Proc {
    if (AttServer.badRange(start, end)) return errorPdu(opcode, start, ATT_ERROR.INVALID_HANDLE);
    const attrs = this.db.attributes;
    const entries: HandleUuid[] = [];
    let bits: 16 | 128 | 0 = 0;
    const mtu = this.bearer.mtu;
    for (let i = this.db.firstIndexAtOrAfter(start); i < attrs.length; i++) {
      const a = attrs[i]!;
      if (a.handle > end) break;
      if (bits === 0) bits = a.type.bits;
      else if (a.type.bits !== bits) break; // one format per response (§3.4.3.2)
      const size = bits === 16 ? 4 : 18;
      if (2 + (entries.length + 1) * size > mtu) break;
      entries.push({ handle: a.handle, uuid: a.type });
    }
    if (entries.length === 0) return errorPdu(opcode, start, ATT_ERROR.ATTRIBUTE_NOT_FOUND);
    return { op: 'find-information-rsp', format: bits === 16 ? 1 : 2, entries };
  }

  private *findByTypeValue(opcode: number, start: number, end: number, type16: number, value: Uint8Array): Proc {
    if (AttServer.badRange(start, end)) return errorPdu(opcode, start, ATT_ERROR.INVALID_HANDLE);
    const type = uuid16(type16);
    const attrs = this.db.attributes;
    const entries: HandlesInfo[] = [];
    const max = Math.floor((this.bearer.mtu - 1) / 4);
    for (let i = this.db.firstIndexAtOrAfter(start); i < attrs.length && entries.length < max; i++) {
      const a = attrs[i]!;
      if (a.handle > end) break;
      if (a.type.text !== type.text) continue;
      // Compared against stored values only (declarations, static values): a value firmware
      // computes is not searched, and attributes needing security are skipped.
      const stored = this.db.storedValue(a.handle);
      if (stored === undefined || !a.readable || a.security.readAuthentication || a.security.readAuthorization) continue;
      if (!bytesEqual(stored, value)) continue;
      entries.push({ foundHandle: a.handle, groupEndHandle: a.endGroupHandle });
    }
    if (entries.length === 0) return errorPdu(opcode, start, ATT_ERROR.ATTRIBUTE_NOT_FOUND);
    return { op: 'find-by-type-value-rsp', entries };
  }

  private *readByType(opcode: number, start: number, end: number, type: Uuid): Proc {
    if (AttServer.badRange(start, end)) return errorPdu(opcode, start, ATT_ERROR.INVALID_HANDLE);
    const attrs = this.db.attributes;
    const mtu = this.bearer.mtu;
    const maxValue = Math.min(mtu - 4, 253);
    const entries: HandleValue[] = [];
    let len = -1;
    for (let i = this.db.firstIndexAtOrAfter(start); i < attrs.length; i++) {
      const a = attrs[i]!;
      if (a.handle > end) break;
      if (a.type.text !== type.text) continue;
      const first = entries.length === 0;
      // §3.4.4.1: the first matching attribute's error is the answer; a later one ends the list.
      const denied = this.denied(a, 'read');
      if (denied !== 0) {
        if (first) return errorPdu(opcode, a.handle, denied);
        break;
      }
      const r = yield { kind: 'read', attr: a, offset: 0 };
      if (!r.ok) {
        if (first) return errorPdu(opcode, a.handle, r.code);
        break;
      }
      const v = (r.value ?? EMPTY).subarray(0, maxValue);
      if (first) len = v.length;
      else if (v.length !== len) break;
      entries.push({ handle: a.handle, value: v.slice() });
      if (2 + (entries.length + 1) * (2 + len) > mtu) break;
    }
    if (entries.length === 0) return errorPdu(opcode, start, ATT_ERROR.ATTRIBUTE_NOT_FOUND);
    return { op: 'read-by-type-rsp', entries };
  }

  private *read(opcode: number, handle: number): Proc {
    const a = this.db.get(handle);
    if (!a) return errorPdu(opcode, handle, ATT_ERROR.INVALID_HANDLE);
    const denied = this.denied(a, 'read');
    if (denied !== 0) return errorPdu(opcode, handle, denied);
    const r = yield { kind: 'read', attr: a, offset: 0 };
    if (!r.ok) return errorPdu(opcode, handle, r.code);
    return { op: 'read-rsp', value: (r.value ?? EMPTY).slice(0, this.bearer.mtu - 1) };
  }

  private *readBlob(opcode: number, handle: number, offset: number): Proc {
    const a = this.db.get(handle);
    if (!a) return errorPdu(opcode, handle, ATT_ERROR.INVALID_HANDLE);
    const denied = this.denied(a, 'read');
    if (denied !== 0) return errorPdu(opcode, handle, denied);
    const r = yield { kind: 'read', attr: a, offset };
    if (!r.ok) return errorPdu(opcode, handle, r.code);
    const value = r.value ?? EMPTY;
    const mtu = this.bearer.mtu;
    // §3.4.4.5: a fixed-length value short enough for one Read Response "can" get Attribute Not Long.
    const fixed = fixedLengthOf(a, value);
    if (fixed !== undefined && value.length <= mtu - 3) return errorPdu(opcode, handle, ATT_ERROR.ATTRIBUTE_NOT_LONG);
    if (offset > value.length) return errorPdu(opcode, handle, ATT_ERROR.INVALID_OFFSET);
    return { op: 'read-blob-rsp', value: value.slice(offset, offset + mtu - 1) };
  }

  private *readMultiple(opcode: number, handles: readonly number[], variable: boolean): Proc {
    const values: Uint8Array[] = [];
    for (const h of handles) {
      const a = this.db.get(h);
      if (!a) return errorPdu(opcode, h, ATT_ERROR.INVALID_HANDLE);
      const denied = this.denied(a, 'read');
      if (denied !== 0) return errorPdu(opcode, h, denied);
      const r = yield { kind: 'read', attr: a, offset: 0 };
      if (!r.ok) return errorPdu(opcode, h, r.code);
      values.push(r.value ?? EMPTY);
    }
    const room = this.bearer.mtu - 1;
    if (!variable) {
      // §3.4.4.8: the concatenation, cut to ATT_MTU - 1.
      const out = new Uint8Array(Math.min(room, values.reduce((n, v) => n + v.length, 0)));
      let at = 0;
      for (const v of values) {
        if (at >= out.length) break;
        const part = v.subarray(0, out.length - at);
        out.set(part, at);
        at += part.length;
      }
      return { op: 'read-multiple-rsp', values: out };
    }
    // §3.4.4.12: length-value tuples; the tuple that does not fit is cut and ends the list.
    const tuples: Uint8Array[] = [];
    let used = 0;
    for (const v of values) {
      if (used + 2 > room) break;
      const take = Math.min(v.length, room - used - 2);
      tuples.push(v.length === take ? v.slice() : v.slice(0, take));
      used += 2 + take;
      if (take < v.length) break;
    }
    // Each tuple's Length is the length of the bytes it carries (a client sees a cut tuple as shorter).
    return { op: 'read-multiple-variable-rsp', values: tuples };
  }

  private *readByGroupType(opcode: number, start: number, end: number, type: Uuid): Proc {
    if (AttServer.badRange(start, end)) return errorPdu(opcode, start, ATT_ERROR.INVALID_HANDLE);
    if (!GROUP_TYPES.has(type.text)) return errorPdu(opcode, start, ATT_ERROR.UNSUPPORTED_GROUP_TYPE);
    const attrs = this.db.attributes;
    const mtu = this.bearer.mtu;
    const maxValue = Math.min(mtu - 6, 251);
    const entries: GroupValue[] = [];
    let len = -1;
    for (let i = this.db.firstIndexAtOrAfter(start); i < attrs.length; i++) {
      const a = attrs[i]!;
      if (a.handle > end) break;
      if (a.type.text !== type.text) continue;
      const first = entries.length === 0;
      const denied = this.denied(a, 'read');
      if (denied !== 0) {
        if (first) return errorPdu(opcode, a.handle, denied);
        break;
      }
      const r = yield { kind: 'read', attr: a, offset: 0 };
      if (!r.ok) {
        if (first) return errorPdu(opcode, a.handle, r.code);
        break;
      }
      const v = (r.value ?? EMPTY).subarray(0, maxValue);
      if (first) len = v.length;
      else if (v.length !== len) break;
      entries.push({ handle: a.handle, endGroupHandle: a.endGroupHandle, value: v.slice() });
      if (2 + (entries.length + 1) * (4 + len) > mtu) break;
    }
    if (entries.length === 0) return errorPdu(opcode, start, ATT_ERROR.ATTRIBUTE_NOT_FOUND);
    return { op: 'read-by-group-type-rsp', entries };
  }

  /** Length rule of a whole-value write (Write Request/Command): ≤ max, or exactly the fixed length. */
  private static lengthOk(a: Attribute, length: number): boolean {
    return a.fixedLengthBytes !== undefined ? length === a.fixedLengthBytes : length <= a.maxLengthBytes;
  }

  private *writeRequest(opcode: number, handle: number, value: Uint8Array): Proc {
    const a = this.db.get(handle);
    if (!a) return errorPdu(opcode, handle, ATT_ERROR.INVALID_HANDLE);
    const denied = this.denied(a, 'write');
    if (denied !== 0) return errorPdu(opcode, handle, denied);
    if (!AttServer.lengthOk(a, value.length)) return errorPdu(opcode, handle, ATT_ERROR.INVALID_ATTRIBUTE_VALUE_LENGTH);
    const r = yield { kind: 'write', attr: a, offset: 0, value, via: 'write-request' };
    if (!r.ok) return errorPdu(opcode, handle, r.code);
    return { op: 'write-rsp' };
  }

  private *writeCommand(handle: number, value: Uint8Array): Proc {
    // §3.4.5.3: no response, and no Error Response whatever goes wrong.
    const a = this.db.get(handle);
    const why = !a ? 'invalid-handle' : this.denied(a, 'write-command') !== 0 ? 'not-permitted' : !AttServer.lengthOk(a, value.length) ? 'length' : '';
    if (why !== '' || !a) {
      this.trace('att.drop', { reason: why, opcode: ATT_OP.WRITE_CMD, handle });
      return null;
    }
    yield { kind: 'write', attr: a, offset: 0, value, via: 'write-command' };
    return null;
  }

  private *prepareWrite(opcode: number, handle: number, offset: number, value: Uint8Array): Proc {
    // §3.4.6.1: handle and permissions now; offset and length wait for Execute Write.
    const a = this.db.get(handle);
    if (!a) return errorPdu(opcode, handle, ATT_ERROR.INVALID_HANDLE);
    const denied = this.denied(a, 'write');
    if (denied !== 0) return errorPdu(opcode, handle, denied);
    if (this.prepareQueue.length >= this.policy.prepareQueueLimit) return errorPdu(opcode, handle, ATT_ERROR.PREPARE_QUEUE_FULL);
    this.prepareQueue.push({ handle, offset, value });
    return { op: 'prepare-write-rsp', handle, offset, value };
  }

  private *executeWrite(opcode: number, flags: number): Proc {
    if (flags !== 0x00 && flags !== 0x01) return errorPdu(opcode, 0x0000, ATT_ERROR.INVALID_PDU);
    const queue = this.prepareQueue;
    this.prepareQueue = [];
    if (flags === 0x00 || queue.length === 0) return { op: 'execute-write-rsp' };
    // Merge runs of contiguous parts of one attribute (a long write) into one write each.
    const writes: { attr: Attribute; offset: number; value: Uint8Array }[] = [];
    for (const q of queue) {
      const last = writes.at(-1);
      if (last && last.attr.handle === q.handle && q.offset === last.offset + last.value.length) {
        const v = new Uint8Array(last.value.length + q.value.length);
        v.set(last.value);
        v.set(q.value, last.value.length);
        last.value = v;
      } else {
        writes.push({ attr: this.db.get(q.handle)!, offset: q.offset, value: q.value });
      }
    }
    // §3.4.6.3: check every write before doing any, so a bad offset or length writes nothing
    // that is stored here (firmware callbacks check their own offsets when called).
    const working = new Map<number, Uint8Array>();
    for (const w of writes) {
      const a = w.attr;
      const limit = a.fixedLengthBytes ?? a.maxLengthBytes;
      const base = working.get(a.handle) ?? this.currentStored(a);
      // The offset first (it is wrong whatever the length), then the length the write leaves.
      if (base !== undefined && w.offset > base.length) return errorPdu(opcode, a.handle, ATT_ERROR.INVALID_OFFSET);
      if (w.offset + w.value.length > limit) return errorPdu(opcode, a.handle, ATT_ERROR.INVALID_ATTRIBUTE_VALUE_LENGTH);
      if (base === undefined) continue; // firmware-backed: its callback checks the offset
      const next = applyWrite(base, w.offset, w.value, a.role === 'cccd' ? 2 : a.fixedLengthBytes);
      if (a.fixedLengthBytes !== undefined && next.length !== a.fixedLengthBytes) return errorPdu(opcode, a.handle, ATT_ERROR.INVALID_ATTRIBUTE_VALUE_LENGTH);
      working.set(a.handle, next);
    }
    for (const w of writes) {
      const r = yield { kind: 'write', attr: w.attr, offset: w.offset, value: w.value, via: 'execute-write' };
      if (!r.ok) return errorPdu(opcode, w.attr.handle, r.code);
    }
    return { op: 'execute-write-rsp' };
  }

  /** The bytes a prepared write applies to: stored value, this client's CCCD, or undefined for firmware-backed values. */
  private currentStored(a: Attribute): Uint8Array | undefined {
    if (a.role === 'cccd') {
      const v = this.cccd.get(a.handle) ?? 0;
      return Uint8Array.of(v & 0xff, v >> 8);
    }
    if (a.onWrite) return undefined;
    return this.db.storedValue(a.handle) ?? EMPTY;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

