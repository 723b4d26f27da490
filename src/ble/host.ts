// The part of a BLE host both roles share: per connection, an L2CAP link with its fixed channels — ATT (a bearer
// with a client and, when the device has one, a GATT server session), LE signalling and SMP — built on `connected`
// and torn down on `disconnected`. Not role-specific (peripheral-host.ts advertises, central-host.ts scans and connects).

import type { Connection, Llid } from '../../hal/radio.ts';
import type { HalResult } from '../../hal/result.ts';
import { AttBearer } from './att-bearer.ts';
import { AttClient } from './att-client.ts';
import type { AttServer } from './att-server.ts';
import { GattClient } from './gatt-client.ts';
import type { GattServer } from './gatt-server.ts';
import { L2CAP_CID, L2capLink, type L2capRadio } from './l2cap.ts';
import { LeSignalling, type ConnParamUpdate } from './l2cap-signalling.ts';
import { SmpRefuser } from './smp.ts';
import type { HostEnv } from './trace-sink.ts';

/** What a host needs from either radio. */
export interface HostRadio extends L2capRadio {
  disconnect(handle: number, reason: number): HalResult;
}

/** Everything the host keeps for one connection. */
export interface HostLink {
  readonly connection: Connection;
  readonly l2cap: L2capLink;
  readonly att: AttBearer;
  /** This device as GATT client of the peer. */
  readonly gatt: GattClient;
  /** This device's GATT server session for the peer (when the host has a server). */
  readonly server: AttServer | undefined;
  readonly signalling: LeSignalling;
}

export interface HostOptions {
  readonly env: HostEnv;
  readonly radio: HostRadio;
  /** This device's GATT server; without one, requests from the peer get Request Not Supported. */
  readonly server?: GattServer;
  /** Our ATT Rx MTU (23..517, default 247). */
  readonly rxMtu?: number;
  /** Central: which in-range Connection Parameter Update Requests to accept (default all). */
  readonly acceptConnectionParameters?: (conn: number, p: ConnParamUpdate) => boolean;
}

/** Largest signalling or SMP frame reassembled: their handlers answer oversize ones themselves. */
const CONTROL_CHANNEL_RX_LIMIT_BYTES = 255;

export class HostCore {
  readonly env: HostEnv;
  readonly links = new Map<number, HostLink>();
  private readonly connectListeners: ((link: HostLink) => void)[] = [];
  private readonly disconnectListeners: ((conn: number, reason: number) => void)[] = [];

  constructor(private readonly opts: HostOptions) {
    this.env = opts.env;
  }

  get server(): GattServer | undefined {
    return this.opts.server;
  }

  onConnect(listener: (link: HostLink) => void): () => void {
    this.connectListeners.push(listener);
    return () => remove(this.connectListeners, listener);
  }

  onDisconnect(listener: (conn: number, reason: number) => void): () => void {
    this.disconnectListeners.push(listener);
    return () => remove(this.disconnectListeners, listener);
  }

  /** The radio reported a new connection: build its channels. */
  connected(conn: Connection): HostLink {
    const handle = conn.handle;
    const old = this.links.get(handle);
    if (old) this.teardown(handle, old, 0x16);
    const env = this.env;
    // The channels need the link and the link needs them; `link` is filled in just below.
    let l2cap: L2capLink | null = null;
    const send = (cid: number) => (payload: Uint8Array): boolean => l2cap!.send(cid, payload);
    const att = new AttBearer({ env, conn: handle, sendFrame: send(L2CAP_CID.ATT), ...(this.opts.rxMtu !== undefined ? { rxMtu: this.opts.rxMtu } : {}) });
    const gatt = new GattClient(new AttClient(att));
    const server = this.opts.server?.attach(att);
    const signalling = new LeSignalling({
      env,
      conn: handle,
      role: conn.role,
      send: send(L2CAP_CID.LE_SIGNALLING),
      ...(this.opts.acceptConnectionParameters ? { acceptParams: this.opts.acceptConnectionParameters } : {}),
    });
    const smp = new SmpRefuser(env, handle, send(L2CAP_CID.SMP));
    l2cap = new L2capLink({
      env,
      radio: this.opts.radio,
      handle,
      rxLimitBytes: (cid) => (cid === L2CAP_CID.ATT ? att.rxLimitBytes : cid === L2CAP_CID.LE_SIGNALLING || cid === L2CAP_CID.SMP ? CONTROL_CHANNEL_RX_LIMIT_BYTES : undefined),
      deliver: (cid, payload) => {
        if (cid === L2CAP_CID.ATT) att.received(payload);
        else if (cid === L2CAP_CID.LE_SIGNALLING) signalling.received(payload);
        else if (cid === L2CAP_CID.SMP) smp.received(payload);
      },
    });
    const link: HostLink = { connection: conn, l2cap, att, gatt, server, signalling };
    this.links.set(handle, link);
    if (env.trace.wants('host')) {
      env.trace.record(env.device, 'host', 'host.connected', { conn: handle, role: conn.role, peer: conn.peer.address, intervalUs: conn.intervalUs });
    }
    for (const l of [...this.connectListeners]) l(link);
    return link;
  }

  /** A data PDU from the radio: into the link's reassembly. Unknown handles are ignored. */
  received(handle: number, llid: Llid, payload: Uint8Array): void {
    this.links.get(handle)?.l2cap.received(llid, payload);
  }

  /** The radio drained its queue for this connection: hand it more fragments. */
  sent(handle: number): void {
    this.links.get(handle)?.l2cap.radioSent();
  }

  disconnected(handle: number, reason: number): void {
    const link = this.links.get(handle);
    if (!link) return;
    this.teardown(handle, link, reason);
    for (const l of [...this.disconnectListeners]) l(handle, reason);
  }

  private teardown(handle: number, link: HostLink, reason: number): void {
    this.links.delete(handle);
    link.l2cap.close();
    link.att.close('disconnected');
    link.signalling.close();
    this.opts.server?.detach(handle);
    if (this.env.trace.wants('host')) this.env.trace.record(this.env.device, 'host', 'host.disconnected', { conn: handle, reason });
  }

  /** Ask the link layer to end a connection (LL_TERMINATE_IND); `disconnected` follows. */
  disconnect(handle: number, reason = 0x13): HalResult {
    return this.opts.radio.disconnect(handle, reason);
  }
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
