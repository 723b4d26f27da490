// The phone app as one object: BLE central host, the secure channel on GATT, pairing and
// sessions with a medtwin device. Not a UI: a `PairingUser` answers comparisons and passkeys.
//
// Everything is split-phase on the world's scheduler (callbacks, never promises), so a
// scenario stays deterministic when it runs the world event by event.

import type { Alarm } from '../../hal/alarm.ts';
import type { BdAddress, CentralRadio, ConnectionParams } from '../../hal/radio.ts';
import { CentralHost } from '../ble/central-host.ts';
import { NO_TRACE } from '../ble/trace-sink.ts';
import type { HostLink } from '../ble/host.ts';
import type { DeviceType } from '../session/identity.ts';
import type { MessageLink } from '../session/link.ts';
import type { Role } from '../session/roles.ts';
import type { Rng } from '../sim/random.ts';
import type { Trace } from '../sim/trace.ts';
import { openGattChannel } from './gatt-channel.ts';
import { startPairing, type ClientBond, type PairingUser, type PairResult } from './pairing-client.ts';
import { openBreakGlass, openSession, type ClientSession } from './session-client.ts';

export interface PhoneOptions {
  readonly name: string;
  readonly radio: CentralRadio;
  readonly alarm: Alarm;
  readonly trace?: Trace;
  /** The phone's entropy (seeded in simulation). */
  readonly rng: Rng;
  /** The app's installation id (docs/protocol.md §4.1). */
  readonly clientId: Uint8Array;
  readonly manufacturerRootPublicKey: Uint8Array;
}

/** One connection to a device with its secure channel open. */
export interface PhoneConnection {
  readonly host: HostLink;
  readonly channel: MessageLink;
  /** The device certificate read from the Identity characteristic. */
  readonly certificate: Uint8Array;
  disconnect(): void;
}

export type ConnectResult = { readonly ok: true; readonly connection: PhoneConnection } | { readonly ok: false; readonly code: string; readonly detail: string };

export interface PhonePairOptions {
  readonly method: 'numeric-comparison' | 'passkey';
  readonly role?: Exclude<Role, 'emergency'>;
  readonly credential?: Uint8Array;
  readonly deviceType: DeviceType;
  readonly user: PairingUser;
}

export class Phone {
  readonly host: CentralHost;
  /** Bonds this phone holds, by device serial. */
  readonly bonds = new Map<string, ClientBond>();

  constructor(private readonly opts: PhoneOptions) {
    this.host = new CentralHost({ env: { alarm: opts.alarm, device: opts.name, trace: opts.trace ?? NO_TRACE }, radio: opts.radio });
  }

  /** Connect, then open the secure channel (MTU, discovery, identity, subscribe). */
  connect(peer: BdAddress, params: ConnectionParams, done: (r: ConnectResult) => void): void {
    const r = this.host.connect(peer, params, (link) => {
      const conn = link.connection.handle;
      const downs: Array<(reason: string) => void> = [];
      const off = this.host.onDisconnect((c, reason) => {
        if (c !== conn) return;
        off();
        for (const d of downs) d(`disconnected 0x${reason.toString(16)}`);
      });
      openGattChannel(
        link,
        () => this.host.disconnect(conn),
        (notify) => downs.push(notify),
        (opened) => {
          if (!opened.ok) return done({ ok: false, code: opened.code, detail: opened.detail });
          done({ ok: true, connection: { host: link, channel: opened.link, certificate: opened.certificate, disconnect: () => this.host.disconnect(conn) } });
        },
      );
    });
    if (!r.ok) this.opts.alarm.setAlarm(0, () => done({ ok: false, code: 'connect', detail: r.detail ?? r.code }));
  }

  /** Pair over an open channel; a bond is kept by device serial. */
  pair(c: PhoneConnection, p: PhonePairOptions, done: (r: PairResult) => void): void {
    startPairing(
      c.channel,
      {
        method: p.method === 'passkey' ? 'passkey-entry' : 'numeric-comparison',
        role: p.role ?? 'patient',
        clientId: this.opts.clientId,
        ...(p.credential ? { credential: p.credential } : {}),
        expectedDeviceType: p.deviceType,
        manufacturerRootPublicKey: this.opts.manufacturerRootPublicKey,
        user: p.user,
        rng: this.opts.rng,
        alarm: this.opts.alarm,
      },
      (r) => {
        if (r.ok) this.bonds.set(r.bond.deviceSerial, r.bond);
        done(r);
      },
    );
  }

  /** Open a session with the bond this phone holds for `serial`. */
  openSession(c: PhoneConnection, serial: string): ClientSession | undefined {
    const bond = this.bonds.get(serial);
    if (!bond) return undefined;
    return openSession(c.channel, { bond, rng: this.opts.rng });
  }

  /** Open a break-glass session with a manufacturer-issued code (docs/protocol.md §7). */
  openBreakGlass(c: PhoneConnection, code: Uint8Array, index: number, notAfterS: number): ClientSession {
    return openBreakGlass(c.channel, { code, index, notAfterS, rng: this.opts.rng });
  }
}
