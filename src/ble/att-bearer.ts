// One ATT bearer (the fixed channel CID 0x0004 of one connection, Core v5.x Vol 3 Part F §3.2.11): ATT_MTU,
// trace records of every PDU sent and received, dispatch to the server and client roles, and the bearer's end.
// Not the roles' semantics: att-server.ts answers requests, att-client.ts sends them.

import {
  ATT_COMMAND_FLAG,
  ATT_DEFAULT_MTU,
  ATT_ERROR,
  ATT_MAX_MTU,
  CLIENT_BOUND_OPCODES,
  RESPONSE_OPCODE_FOR,
  attErrorName,
  attOpcodeName,
  decodeAttPdu,
  encodeAttPdu,
  primaryHandle,
  type AttDecodeResult,
  type AttPdu,
} from './att-pdu.ts';
import type { TraceFields } from '../sim/trace.ts';
import type { HostEnv } from './trace-sink.ts';

/** What the server role does with PDUs addressed to it (implemented by att-server.ts). */
export interface AttServerRole {
  /** A request or command, decoded, or one that failed to decode (malformed). */
  incoming(bytes: Uint8Array, decoded: AttDecodeResult): void;
  /** The bearer ended: fail pending indications, forget queued work. */
  closed(reason: AttBearerClosedReason): void;
}

/** What the client role does with PDUs addressed to it (implemented by att-client.ts). */
export interface AttClientRole {
  incoming(bytes: Uint8Array, decoded: AttDecodeResult): void;
  closed(reason: AttBearerClosedReason): void;
}

/** 'timeout': a transaction timed out, so no more ATT on this bearer (§3.3.3); 'disconnected': the link ended. */
export type AttBearerClosedReason = 'timeout' | 'disconnected';

export interface AttBearerOptions {
  readonly env: HostEnv;
  readonly conn: number;
  /** Queue a PDU as one B-frame on CID 0x0004; false when the link is gone. */
  readonly sendFrame: (pdu: Uint8Array) => boolean;
  /**
   * This device's Rx MTU: the largest ATT_MTU it offers in Exchange MTU, as client and as
   * server (the two are equal, §3.4.2.2). 23..517; default 247 (a 251-byte L2CAP frame, what
   * a Data-Length-Extension link carries in one PDU).
   */
  readonly rxMtu?: number;
}

export const DEFAULT_RX_MTU = 247;

/** A transaction (a request, or an indication) not answered in 30 s has failed (§3.3.3). */
export const ATT_TRANSACTION_TIMEOUT_US = 30_000_000;

export class AttBearer {
  readonly env: HostEnv;
  readonly conn: number;
  readonly rxMtu: number;
  /** ATT_MTU now: 23 until an Exchange MTU completes, then min(client Rx MTU, server Rx MTU) (§3.4.2.2). */
  mtu = ATT_DEFAULT_MTU;
  /** Set once: the first Exchange MTU fixes ATT_MTU for the connection (§3.4.2.1: sent once). */
  mtuExchanged = false;
  closedReason: AttBearerClosedReason | null = null;
  server: AttServerRole | undefined = undefined;
  client: AttClientRole | undefined = undefined;
  private readonly sendFrame: (pdu: Uint8Array) => boolean;
  private readonly traceOn: boolean;

  constructor(opts: AttBearerOptions) {
    this.env = opts.env;
    this.conn = opts.conn;
    const rx = opts.rxMtu ?? DEFAULT_RX_MTU;
    if (!Number.isInteger(rx) || rx < ATT_DEFAULT_MTU || rx > ATT_MAX_MTU) throw new RangeError(`ATT Rx MTU must be 23..517, got ${rx}`);
    this.rxMtu = rx;
    this.sendFrame = opts.sendFrame;
    this.traceOn = opts.env.trace.wants('att');
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  /** Largest L2CAP payload accepted on CID 0x0004: anything up to our Rx MTU reaches `received` (which enforces ATT_MTU). */
  get rxLimitBytes(): number {
    return ATT_MAX_MTU;
  }

  /** Apply an MTU exchange: both Rx MTUs known (§3.4.2.2: at least 23). */
  setExchangedMtu(peerRxMtu: number): void {
    if (this.mtuExchanged) return;
    this.mtuExchanged = true;
    this.mtu = Math.max(ATT_DEFAULT_MTU, Math.min(peerRxMtu, this.rxMtu));
    if (this.traceOn) this.env.trace.record(this.env.device, 'att', 'att.mtu', { conn: this.conn, mtu: this.mtu });
  }

  /** Encode, trace and queue a PDU. False when the bearer is closed (nothing is sent, §3.3.3). */
  send(pdu: AttPdu): boolean {
    if (this.closedReason !== null) return false;
    const bytes = encodeAttPdu(pdu);
    // Recorded when queued on L2CAP, in queue order (the order the PDUs go on the air).
    if (!this.sendFrame(bytes)) return false;
    if (this.traceOn) this.env.trace.record(this.env.device, 'att', 'att.tx', this.fields(bytes, pdu, undefined));
    return true;
  }

  /** The server's Error Response (§3.4.1.1). */
  sendError(requestOpcode: number, handle: number, error: number): boolean {
    return this.send({ op: 'error-rsp', requestOpcode, handle, error });
  }

  /** A complete B-frame from CID 0x0004. Never throws for any bytes. */
  received(bytes: Uint8Array): void {
    if (this.closedReason !== null) return;
    const decoded = decodeAttPdu(bytes);
    const tooLong = bytes.length > this.mtu;
    if (this.traceOn) this.env.trace.record(this.env.device, 'att', 'att.rx', this.fields(bytes, decoded.ok ? decoded.value : undefined, tooLong ? 'mtu' : decoded.ok ? undefined : decoded.code));
    if (bytes.length === 0) return;
    if (tooLong) return; // a PDU longer than ATT_MTU breaks §3.2.8: nothing in it can be trusted or answered
    const opcode = bytes[0]!;
    if (CLIENT_BOUND_OPCODES.has(opcode)) {
      this.client?.incoming(bytes, decoded);
      return;
    }
    if (this.server) {
      this.server.incoming(bytes, decoded);
      return;
    }
    // No server on this device. ATT_MTU belongs to the bearer, not to GATT: Exchange MTU is
    // still answered (§3.4.2); other requests are not supported, commands and confirmations
    // are dropped (§3.4.1.1, §3.3.1).
    if (decoded.ok && decoded.value.op === 'exchange-mtu-req') {
      if (this.send({ op: 'exchange-mtu-rsp', mtu: this.rxMtu })) this.setExchangedMtu(decoded.value.mtu);
      return;
    }
    const isRequest = RESPONSE_OPCODE_FOR.has(opcode) || (!decoded.ok && decoded.code === 'unknown-opcode' && (opcode & ATT_COMMAND_FLAG) === 0);
    if (isRequest) this.sendError(opcode, 0x0000, ATT_ERROR.REQUEST_NOT_SUPPORTED);
  }

  /** End the bearer (once): roles fail what is pending. */
  close(reason: AttBearerClosedReason): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    if (this.traceOn) this.env.trace.record(this.env.device, 'att', 'att.closed', { conn: this.conn, reason });
    this.server?.closed(reason);
    this.client?.closed(reason);
  }

  private fields(bytes: Uint8Array, pdu: AttPdu | undefined, invalid: string | undefined): TraceFields {
    const opcode = bytes.length > 0 ? bytes[0]! : -1;
    const f: TraceFields = { conn: this.conn, opcode, opcodeName: opcode >= 0 ? attOpcodeName(opcode) : 'none', length: bytes.length };
    if (pdu !== undefined) {
      const h = primaryHandle(pdu);
      if (h !== undefined) f.handle = h;
      switch (pdu.op) {
        case 'error-rsp':
          f.requestOpcode = pdu.requestOpcode;
          f.requestOpcodeName = attOpcodeName(pdu.requestOpcode);
          f.error = pdu.error;
          f.errorName = attErrorName(pdu.error);
          break;
        case 'exchange-mtu-req':
        case 'exchange-mtu-rsp':
          f.mtu = pdu.mtu;
          break;
        case 'find-information-req':
        case 'find-by-type-value-req':
        case 'read-by-type-req':
        case 'read-by-group-type-req':
          f.startHandle = pdu.startHandle;
          f.endHandle = pdu.endHandle;
          break;
        case 'read-blob-req':
        case 'prepare-write-req':
        case 'prepare-write-rsp':
          f.offset = pdu.offset;
          break;
        case 'execute-write-req':
          f.flags = pdu.flags;
          break;
        default:
          break;
      }
    }
    if (invalid !== undefined) f.invalid = invalid;
    return f;
  }
}

