// The stage scenarios and end-to-end tests share: one seeded world and air, a manufacturer,
// provisioned KW31Z boards, phones running the medtwin app, and the blocking steps a story is told
// in (connect, pair by numeric comparison, open a session, one request). Not a device: each story
// composes its devices (devices/) on the boards this gives it.

import { createKw31zBoard, type Kw31zBoard } from '../hal/kw31z/board.ts';
import type { BatteryKind } from '../hal/kw31z/battery.ts';
import type { BdAddress, ConnectionParams } from '../hal/radio.ts';
import type { PairResult } from '../src/client/pairing-client.ts';
import { Phone, type ConnectResult, type PhoneConnection } from '../src/client/phone.ts';
import type { ClientResponse, ClientSession } from '../src/client/session-client.ts';
import { MedtwinError } from '../src/errors.ts';
import { provisionDevice, type DeviceType } from '../src/session/identity.ts';
import { Manufacturer } from '../src/session/manufacturer.ts';
import type { Role } from '../src/session/roles.ts';
import { Air } from '../src/sim/air/air.ts';
import { SimCentral } from '../src/sim/air/central.ts';
import { capturePcap } from '../src/sim/capture/pcap-file.ts';
import { Rng } from '../src/sim/random.ts';
import { World } from '../src/sim/world.ts';

/** A phone's connection: 30 ms interval, no latency, 4 s supervision (a phone app's usual choice). */
export const PHONE_CONN: ConnectionParams = { intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 4_000_000 };

export interface RigOptions {
  readonly seed: string;
  /** Write everything on the air to this pcap file. */
  readonly pcapPath?: string;
  /** Keep trace records of these layers (default none: fast); 'all' keeps the world's default trace. */
  readonly traceLayers?: readonly string[] | 'all';
}

export interface BoardSpec {
  readonly device: string;
  readonly address: BdAddress;
  readonly battery: BatteryKind;
  readonly flashBytes: number;
  readonly serial: string;
  readonly deviceType: DeviceType;
}

/** One provisioned board and how a phone finds and pairs with it. */
export interface Stage {
  readonly board: Kw31zBoard;
  readonly spec: BoardSpec;
}

export class Rig {
  readonly world: World;
  readonly air: Air;
  readonly manufacturer: Manufacturer;
  private readonly seed: string;
  private readonly capture: { close(): void } | undefined;

  constructor(opts: RigOptions) {
    this.seed = opts.seed;
    const layers = opts.traceLayers ?? [];
    this.world = layers === 'all' ? new World({ seed: opts.seed }) : new World({ seed: opts.seed, trace: { layers, keep: layers.length > 0, verbose: false } });
    this.air = new Air(this.world);
    // Before anything advertises: Wireshark follows a connection only from its CONNECT_IND.
    this.capture = opts.pcapPath !== undefined ? capturePcap(this.air, opts.pcapPath) : undefined;
    this.manufacturer = new Manufacturer(`${opts.seed}-manufacturer`);
  }

  /** A KW31Z board on the air with its identity provisioned in the write-once area. */
  board(spec: BoardSpec): Stage {
    const board = createKw31zBoard({ world: this.world, air: this.air, device: spec.device, address: spec.address, battery: spec.battery, flashSizeBytes: spec.flashBytes });
    const p = provisionDevice(board.flash, this.manufacturer.issueDeviceIdentity(spec.serial, spec.deviceType));
    if (!p.ok) throw new MedtwinError('scenario.provision', `${spec.device}: ${p.code}: ${p.detail}`);
    return { board, spec };
  }

  /** A phone running the medtwin app, its entropy and client id seeded from its name. */
  phone(name: string, address: string): Phone {
    return new Phone({
      name,
      radio: new SimCentral({ air: this.air, name, address: { address, random: false } }),
      alarm: this.world.alarm(),
      trace: this.world.trace,
      rng: new Rng(`${this.seed}\u0000${name}`),
      clientId: this.clientIdOf(name),
      manufacturerRootPublicKey: this.manufacturer.rootPublicKey,
    });
  }

  clientIdOf(name: string): Uint8Array {
    return new Rng(`client-id\u0000${name}`).bytes(16);
  }

  /** Run the world event by event until `start`'s callback fires (a coded error after `maxUs`). */
  settle<T>(start: (done: (r: T) => void) => void, maxUs?: number): T {
    return this.world.settle(start, maxUs);
  }

  connect(phone: Phone, to: Stage, params: ConnectionParams = PHONE_CONN): PhoneConnection {
    const r = this.settle<ConnectResult>((d) => phone.connect(to.spec.address, params, d));
    if (!r.ok) throw new MedtwinError('scenario.connect', `${to.spec.device}: ${r.code}: ${r.detail}`);
    return r.connection;
  }

  /**
   * Pair by numeric comparison: the user presses OK on the device when its display shows the
   * phone's six digits, and confirms on the phone 0.8 s later. `onDigits` sees both.
   */
  pair(phone: Phone, c: PhoneConnection, to: Stage, role: Exclude<Role, 'emergency'>, credential?: Uint8Array, onDigits?: (device: string, phone: string) => void): PairResult {
    const { board } = to;
    return this.settle<PairResult>((done) =>
      phone.pair(
        c,
        {
          method: 'numeric-comparison',
          role,
          ...(credential ? { credential } : {}),
          deviceType: to.spec.deviceType,
          user: {
            compare: (six, answer) => {
              const shown = board.display.shown().value;
              onDigits?.(shown, six);
              if (shown === six) board.buttons.press('ok');
              this.world.alarm().setAlarm(800_000, () => answer(shown === six));
              return undefined;
            },
          },
        },
        done,
      ),
    );
  }

  /** Open a bonded session and wait until it is open (a coded error if it is not). */
  session(phone: Phone, c: PhoneConnection, to: Stage): ClientSession {
    const s = phone.openSession(c, to.spec.serial);
    if (s === undefined) throw new MedtwinError('scenario.bond', `the phone holds no bond for ${to.spec.serial}`);
    const opened = this.settle<string | undefined>((done) => {
      const off = s.on((e) => {
        if (e.type === 'open' || e.type === 'closed') {
          off();
          done(e.type === 'open' ? undefined : e.failure.code);
        }
      });
    });
    if (opened !== undefined) throw new MedtwinError('scenario.session', `${to.spec.device}: the session did not open: ${opened}`);
    return s;
  }

  /** One request, waited for. */
  request(s: ClientSession, command: number, payload?: Uint8Array): ClientResponse {
    return this.settle<ClientResponse>((d) => s.request(command, payload, d));
  }

  /** Close the capture file, if any. */
  close(): void {
    this.capture?.close();
  }
}
