// Radio: the BLE link layer as the host sees it (what the KW31Z's controller offers the
// SDK's host stack). Not L2CAP or ATT: those are built on `send`/`received` in src/ble.

import type { HalResult } from './result.ts';

/** LLID of a data channel PDU (Core Vol 6 Part B §2.4): 1 = continuation or empty, 2 = start of an L2CAP message, 3 = LL control. */
export type Llid = 1 | 2 | 3;

/** A BLE device address as "AA:BB:CC:DD:EE:FF" (most significant byte first) and its type. */
export interface BdAddress {
  readonly address: string;
  readonly random: boolean;
}

export interface AdvertisingParams {
  /** Advertising interval, µs; the air adds the spec's 0–10 ms advDelay (Vol 6 Part B §4.4.2.2). */
  readonly intervalUs: number;
  /** AD structures (≤ 31 bytes) for ADV_IND. */
  readonly advData: Uint8Array;
  /** AD structures (≤ 31 bytes) for SCAN_RSP. */
  readonly scanRspData: Uint8Array;
  /** ADV_IND when true, ADV_NONCONN_IND when false. */
  readonly connectable: boolean;
}

export interface ConnectionParams {
  /** Connection interval, µs; a multiple of 1,250 in 7,500..4,000,000. */
  readonly intervalUs: number;
  /** Peripheral latency: connection events the peripheral may skip when it has nothing to send. */
  readonly latency: number;
  /** Supervision timeout, µs; a multiple of 10,000 in 100,000..32,000,000. */
  readonly supervisionTimeoutUs: number;
}

export interface Connection extends ConnectionParams {
  readonly handle: number;
  readonly peer: BdAddress;
  readonly role: 'central' | 'peripheral';
}

/** Events a connection end receives. Never called inside a radio call: always from the scheduler. */
export interface ConnectionClient {
  connected(conn: Connection): void;
  /** A data PDU's payload arrived (after the link layer's acknowledgement and de-duplication). */
  received(handle: number, llid: Llid, payload: Uint8Array): void;
  /** All PDUs queued so far on this connection were acknowledged by the peer. */
  sent?(handle: number): void;
  /** The link ended: reason is an HCI error code (0x08 supervision timeout, 0x13 remote user terminated, 0x16 local host). */
  disconnected(handle: number, reason: number): void;
}

interface ConnectionEnd {
  readonly address: BdAddress;
  /** Largest LL data payload this end sends (27 without Data Length Extension). */
  readonly maxPayloadBytes: number;
  /** Queue one data PDU for the connection's next events; 'size' when longer than maxPayloadBytes, 'off' for an unknown handle. */
  send(handle: number, llid: Llid, payload: Uint8Array): HalResult;
  /** Send LL_TERMINATE_IND with the reason; `disconnected` follows. */
  disconnect(handle: number, reason: number): HalResult;
}

export interface PeripheralRadio extends ConnectionEnd {
  setClient(client: ConnectionClient): void;
  startAdvertising(params: AdvertisingParams): HalResult;
  stopAdvertising(): HalResult;
}

export interface AdvertisingReport {
  readonly address: BdAddress;
  /** 'adv_ind' | 'adv_nonconn_ind' | 'scan_rsp' … (the PDU type, lower-case). */
  readonly pduType: string;
  readonly data: Uint8Array;
  readonly rssiDbm: number;
}

export interface ScanParams {
  /** Send SCAN_REQ and report SCAN_RSP. */
  readonly active: boolean;
}

export interface CentralClient extends ConnectionClient {
  advertisement(report: AdvertisingReport): void;
}

export interface CentralRadio extends ConnectionEnd {
  setClient(client: CentralClient): void;
  startScanning(params: ScanParams): HalResult;
  stopScanning(): HalResult;
  /** Send CONNECT_IND at the peer's next connectable advertising event. */
  connect(peer: BdAddress, params: ConnectionParams): HalResult;
}
