// The peripheral's host stack on a PeripheralRadio (the KW31Z's, or any other): advertising from AD descriptions,
// and per connection L2CAP, a GATT server session, LE signalling and SMP (host.ts). Not the firmware's services (services/).

import type { Connection, ConnectionClient, Llid, PeripheralRadio } from '../../hal/radio.ts';
import { fail, type HalResult } from '../../hal/result.ts';
import { fitAdvertising, type AdvertisingData } from './advertising.ts';
import type { GattServer } from './gatt-server.ts';
import { HostCore, type HostLink } from './host.ts';
import type { ConnParamUpdate, ConnParamUpdateOutcome } from './l2cap-signalling.ts';
import type { HostEnv } from './trace-sink.ts';

export interface PeripheralHostOptions {
  readonly env: HostEnv;
  readonly radio: PeripheralRadio;
  readonly server: GattServer;
  /** ATT Rx MTU offered in Exchange MTU (23..517, default 247). */
  readonly rxMtu?: number;
}

export interface AdvertiseParams {
  /** Advertising interval, µs (multiple of 625 in 20,000..10,240,000). */
  readonly intervalUs: number;
  /** What to advertise: laid out over ADV_IND and SCAN_RSP by fitAdvertising. */
  readonly data: AdvertisingData;
  /** Default true (ADV_IND). */
  readonly connectable?: boolean;
}

/**
 * Binds a PeripheralRadio to the host: the radio's client is this object (the radio boundary:
 * `received` is what the radio calls with every data PDU, and it never throws for any bytes).
 */
export class PeripheralHost implements ConnectionClient {
  readonly core: HostCore;
  readonly radio: PeripheralRadio;
  readonly server: GattServer;

  constructor(opts: PeripheralHostOptions) {
    this.radio = opts.radio;
    this.server = opts.server;
    this.core = new HostCore({ env: opts.env, radio: opts.radio, server: opts.server, ...(opts.rxMtu !== undefined ? { rxMtu: opts.rxMtu } : {}) });
    opts.radio.setClient(this);
  }

  /** Start advertising `data` (the 31-byte limits are checked: 'size' with the AD error as detail). */
  startAdvertising(p: AdvertiseParams): HalResult {
    const fitted = fitAdvertising(p.data);
    if (!fitted.ok) return fail('size', `${fitted.code}: ${fitted.detail}`);
    return this.radio.startAdvertising({ intervalUs: p.intervalUs, advData: fitted.value.advData, scanRspData: fitted.value.scanRspData, connectable: p.connectable ?? true });
  }

  stopAdvertising(): HalResult {
    return this.radio.stopAdvertising();
  }

  link(conn: number): HostLink | undefined {
    return this.core.links.get(conn);
  }

  get connections(): number[] {
    return [...this.core.links.keys()];
  }

  onConnect(listener: (link: HostLink) => void): () => void {
    return this.core.onConnect(listener);
  }

  onDisconnect(listener: (conn: number, reason: number) => void): () => void {
    return this.core.onDisconnect(listener);
  }

  /** Ask the central for other connection parameters (L2CAP Connection Parameter Update Request, Vol 3 Part A §4.20). */
  requestConnectionParameters(conn: number, p: ConnParamUpdate, done: (r: ConnParamUpdateOutcome) => void): { ok: true } | { ok: false; code: string } {
    const link = this.core.links.get(conn);
    if (!link) return { ok: false, code: 'no-connection' };
    return link.signalling.requestConnectionParameters(p, done);
  }

  disconnect(conn: number, reason = 0x13): HalResult {
    return this.core.disconnect(conn, reason);
  }

  // ------------------------------------------------------------------ ConnectionClient (called by the radio, from the scheduler)

  connected(conn: Connection): void {
    this.core.connected(conn);
  }

  received(handle: number, llid: Llid, payload: Uint8Array): void {
    this.core.received(handle, llid, payload);
  }

  sent(handle: number): void {
    this.core.sent(handle);
  }

  disconnected(handle: number, reason: number): void {
    this.core.disconnected(handle, reason);
  }
}
