// The secure channel on GATT, device side (docs/protocol.md §2): the Secure Channel service
// (Identity, Channel) and one MessageLink per connection over Channel writes and notifications.
// Not the protocol: pairing and sessions (src/session) see only the MessageLink.

import type { ServiceDef } from '../ble/gatt-db.ts';
import type { GattServer } from '../ble/gatt-server.ts';
import { uuid } from '../ble/uuid.ts';
import { fragment, Reassembler } from '../session/framing.ts';
import type { MessageLink } from '../session/link.ts';
import type { Trace } from '../sim/trace.ts';

/** docs/protocol.md §2.1. */
export const SECURE_CHANNEL_UUID = {
  service: uuid('6d740001-6d74-4d54-8000-00805f9b34fb'),
  identity: uuid('6d740002-6d74-4d54-8000-00805f9b34fb'),
  channel: uuid('6d740003-6d74-4d54-8000-00805f9b34fb'),
} as const;

/** The Channel characteristic's id in the GATT database. */
export const CHANNEL_ID = 'secure.channel';
export const IDENTITY_ID = 'secure.identity';

/** Largest Channel write the device takes: one fragment at the largest MTU it offers (247 − 3). */
const MAX_FRAGMENT_BYTES = 244;

/**
 * The service definition. `onFragment` gets every Channel write, from the scheduler, with
 * the connection it came on; the Write Response goes back at once (fragments are reassembled
 * and acted on by the connection's link).
 */
export function secureChannelService(certificate: Uint8Array, onFragment: (conn: number, fragment: Uint8Array) => void): ServiceDef {
  return {
    uuid: SECURE_CHANNEL_UUID.service,
    id: 'secure',
    characteristics: [
      { uuid: SECURE_CHANNEL_UUID.identity, id: IDENTITY_ID, properties: ['read'], value: certificate },
      {
        uuid: SECURE_CHANNEL_UUID.channel,
        id: CHANNEL_ID,
        properties: ['write', 'notify'],
        maxLengthBytes: MAX_FRAGMENT_BYTES,
        onWrite: (req) => {
          onFragment(req.conn, req.value);
          return { ok: true, value: undefined };
        },
      },
    ],
  };
}

export interface GattChannelLinkOptions {
  readonly server: GattServer;
  readonly conn: number;
  /** The connection's ATT_MTU now (it grows after Exchange MTU). */
  readonly mtu: () => number;
  /** End the connection (after SESSION_FAILED, or a peer that never subscribed). */
  readonly disconnect: () => void;
  /** Call back once everything queued on this connection was acknowledged (L2capLink.whenDrained). */
  readonly whenDrained: (done: () => void) => void;
  readonly trace?: Trace;
  readonly device?: string;
}

/** One connection's MessageLink over the Channel characteristic. */
export class GattChannelLink implements MessageLink {
  private readonly reassembler = new Reassembler();
  private receiver: ((m: Uint8Array) => void) | undefined;
  private closedHandler: ((reason: string) => void) | undefined;
  private open = true;

  constructor(private readonly opts: GattChannelLinkOptions) {}

  /** A Channel write from this connection's client. */
  fragmentReceived(bytes: Uint8Array): void {
    if (!this.open) return;
    const r = this.reassembler.push(bytes);
    if (r.kind === 'message') this.receiver?.(r.message);
    else if (r.kind === 'dropped') this.note('channel.frame-dropped', { detail: r.detail });
  }

  send(message: Uint8Array): void {
    if (!this.open) return;
    for (const f of fragment(message, this.opts.mtu() - 3)) {
      const r = this.opts.server.notify(this.opts.conn, CHANNEL_ID, f);
      if (!r.ok) {
        // A client that did not subscribe cannot hear the channel: nothing to talk to.
        this.note('channel.send-failed', { code: r.code });
        return;
      }
    }
  }

  setReceiver(receiver: (message: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  close(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.note('channel.close', { reason });
    // The LL_TERMINATE_IND would overtake notifications still queued (Core Vol 6 Part B §5.1.3):
    // hang up only once the peer acknowledged everything, so a last SESSION_FAILED arrives.
    this.opts.whenDrained(() => this.opts.disconnect());
  }

  setClosedHandler(handler: (reason: string) => void): void {
    this.closedHandler = handler;
  }

  /** The connection ended (the composition calls this from the host's disconnect event). */
  linkDown(reason: string): void {
    this.open = false;
    this.reassembler.reset();
    this.closedHandler?.(reason);
  }

  private note(kind: string, fields: Record<string, string>): void {
    if (this.opts.trace?.wants('session')) this.opts.trace.record(this.opts.device ?? 'device', 'session', kind, { conn: this.opts.conn, ...fields });
  }
}
