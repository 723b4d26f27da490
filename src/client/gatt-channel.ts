// The secure channel on GATT, phone side (docs/protocol.md §2): find the Secure Channel service,
// read the device certificate, subscribe to Channel, and talk in fragments. Not the protocol itself.

import type { GattResult, GattService } from '../ble/gatt-client.ts';
import { findCharacteristic } from '../ble/gatt-client.ts';
import type { HostLink } from '../ble/host.ts';
import { SECURE_CHANNEL_UUID } from '../firmware/secure-channel-gatt.ts';
import { fragment, Reassembler } from '../session/framing.ts';
import type { MessageLink } from '../session/link.ts';

export type OpenChannelResult =
  | { readonly ok: true; readonly link: MessageLink; readonly certificate: Uint8Array; readonly services: readonly GattService[] }
  | { readonly ok: false; readonly code: 'gatt' | 'no-service'; readonly detail: string };

/** Client end of the channel: writes fragments with Write Request, one after the other (the GATT client queues them). */
class ClientChannelLink implements MessageLink {
  private readonly reassembler = new Reassembler();
  private receiver: ((m: Uint8Array) => void) | undefined;
  private closedHandler: ((reason: string) => void) | undefined;
  private open = true;

  constructor(
    private readonly host: HostLink,
    private readonly channelHandle: number,
    private readonly disconnect: () => void,
  ) {}

  notified(value: Uint8Array): void {
    if (!this.open) return;
    const r = this.reassembler.push(value);
    if (r.kind === 'message') this.receiver?.(r.message);
  }

  send(message: Uint8Array): void {
    if (!this.open) return;
    for (const f of fragment(message, this.host.gatt.mtu - 3)) {
      this.host.gatt.write(this.channelHandle, f, (r) => {
        if (!r.ok && this.open) this.close(`channel write failed: ${r.code}`);
      });
    }
  }

  setReceiver(receiver: (message: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  close(_reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.disconnect();
  }

  setClosedHandler(handler: (reason: string) => void): void {
    this.closedHandler = handler;
  }

  linkDown(reason: string): void {
    this.open = false;
    this.closedHandler?.(reason);
  }
}

/**
 * Exchange MTU, discover, read the Identity characteristic, subscribe to Channel; `done`
 * gets the link (from the scheduler). `disconnect` ends the BLE connection; call the returned
 * link's `linkDown` … the composition wires the host's disconnect event to it via `onDown`.
 */
export function openGattChannel(
  host: HostLink,
  disconnect: () => void,
  onDown: (notify: (reason: string) => void) => void,
  done: (r: OpenChannelResult) => void,
): void {
  const g = host.gatt;
  const failed = (what: string, r: GattResult<unknown>): void =>
    done({ ok: false, code: 'gatt', detail: `${what}: ${r.ok ? 'ok' : `${r.code}${'attError' in r && r.attError !== undefined ? ` 0x${r.attError.toString(16)}` : ''}`}` });
  // MTU first: every later message then takes fewer fragments. A refusal keeps 23.
  g.exchangeMtu(() =>
    g.discoverAll((s) => {
      if (!s.ok) return failed('discovery', s);
      const services = s.value;
      const identity = findCharacteristic(services, SECURE_CHANNEL_UUID.identity);
      const channel = findCharacteristic(services, SECURE_CHANNEL_UUID.channel);
      if (!identity || !channel) return done({ ok: false, code: 'no-service', detail: 'the device has no Secure Channel service' });
      g.readLong(identity.valueHandle, (cert) => {
        if (!cert.ok) return failed('identity read', cert);
        const link = new ClientChannelLink(host, channel.valueHandle, disconnect);
        onDown((reason) => link.linkDown(reason));
        g.subscribe(channel, 'notify', (v) => link.notified(v), (sub) => {
          if (!sub.ok) return failed('channel subscribe', sub);
          done({ ok: true, link, certificate: cert.value, services });
        });
      });
    }),
  );
}
