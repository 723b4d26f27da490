// The central's host stack on a CentralRadio (the simulated phone's): scanning with decoded AD structures,
// connecting, and per connection L2CAP with a GATT client (host.ts). Not a phone app: pairing and sessions live in src/client.

import type { AdvertisingReport, BdAddress, CentralClient, CentralRadio, Connection, ConnectionParams, Llid, ScanParams } from '../../hal/radio.ts';
import type { HalResult } from '../../hal/result.ts';
import { decodeAdvertisingData, type AdResult, type DecodedAdvertisingData } from './advertising.ts';
import type { GattClient } from './gatt-client.ts';
import type { GattServer } from './gatt-server.ts';
import { HostCore, type HostLink } from './host.ts';
import type { ConnParamUpdate } from './l2cap-signalling.ts';
import type { HostEnv } from './trace-sink.ts';

export interface CentralHostOptions {
  readonly env: HostEnv;
  readonly radio: CentralRadio;
  /** A GATT server of the central's own (optional: most phones' are not needed here). */
  readonly server?: GattServer;
  /** ATT Rx MTU offered in Exchange MTU (23..517, default 247). */
  readonly rxMtu?: number;
  /** Which in-range Connection Parameter Update Requests to accept (default all). */
  readonly acceptConnectionParameters?: (conn: number, p: ConnParamUpdate) => boolean;
}

export interface ScanReport extends AdvertisingReport {
  /** The report's AD structures, strictly decoded (a malformed payload is reported with its code). */
  readonly ad: AdResult<DecodedAdvertisingData>;
}

export class CentralHost implements CentralClient {
  readonly core: HostCore;
  readonly radio: CentralRadio;
  private onReport: ((r: ScanReport) => void) | undefined = undefined;
  private pendingConnect: { peer: BdAddress; done: (link: HostLink) => void } | null = null;

  constructor(opts: CentralHostOptions) {
    this.radio = opts.radio;
    this.core = new HostCore({
      env: opts.env,
      radio: opts.radio,
      ...(opts.server ? { server: opts.server } : {}),
      ...(opts.rxMtu !== undefined ? { rxMtu: opts.rxMtu } : {}),
      ...(opts.acceptConnectionParameters ? { acceptConnectionParameters: opts.acceptConnectionParameters } : {}),
    });
    opts.radio.setClient(this);
  }

  startScanning(params: ScanParams, onReport: (r: ScanReport) => void): HalResult {
    const r = this.radio.startScanning(params);
    if (r.ok) this.onReport = onReport;
    return r;
  }

  stopScanning(): HalResult {
    this.onReport = undefined;
    return this.radio.stopScanning();
  }

  /**
   * Connect to `peer` at its next connectable advertising event; `done` gets the new link
   * from the scheduler. One connect at a time (the radio answers 'busy').
   */
  connect(peer: BdAddress, params: ConnectionParams, done: (link: HostLink) => void): HalResult {
    const r = this.radio.connect(peer, params);
    if (r.ok) this.pendingConnect = { peer: { address: peer.address.toUpperCase(), random: peer.random }, done };
    return r;
  }

  link(conn: number): HostLink | undefined {
    return this.core.links.get(conn);
  }

  /** The GATT client of a connection. */
  client(conn: number): GattClient | undefined {
    return this.core.links.get(conn)?.gatt;
  }

  onConnect(listener: (link: HostLink) => void): () => void {
    return this.core.onConnect(listener);
  }

  onDisconnect(listener: (conn: number, reason: number) => void): () => void {
    return this.core.onDisconnect(listener);
  }

  disconnect(conn: number, reason = 0x13): HalResult {
    return this.core.disconnect(conn, reason);
  }

  // ------------------------------------------------------------------ CentralClient (called by the radio, from the scheduler)

  advertisement(report: AdvertisingReport): void {
    const cb = this.onReport;
    if (cb) cb({ ...report, ad: decodeAdvertisingData(report.data) });
  }

  connected(conn: Connection): void {
    const link = this.core.connected(conn);
    const p = this.pendingConnect;
    if (p && conn.role === 'central' && conn.peer.address.toUpperCase() === p.peer.address) {
      this.pendingConnect = null;
      p.done(link);
    }
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
