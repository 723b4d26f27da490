// A world with a provisioned KW31Z running the shared secure firmware (SecureDevice) on the air,
// and phones running the medtwin app (Phone): the real stacks end to end, GATT included. Not the
// pump's therapy: its therapy port only records what it was asked (devices/ bring real therapy).

import type { Kw31zBoard } from '../../hal/kw31z/board.ts';
import type { BdAddress, ConnectionParams } from '../../hal/radio.ts';
import { uuid16 } from '../../src/ble/uuid.ts';
import type { Phone, PhoneConnection } from '../../src/client/phone.ts';
import { sha256, type BudgetReport } from '../../src/crypto/index.ts';
import { SecureDevice, type TherapyPort } from '../../src/firmware/secure-device.ts';
import type { Manufacturer } from '../../src/session/manufacturer.ts';
import { RESPONSE_STATUS } from '../../src/session/wire-session.ts';
import type { Air } from '../../src/sim/air/air.ts';
import type { World } from '../../src/sim/world.ts';
import { Rig } from '../rig.ts';

export const SERIAL = 'PU000042';
export const PUMP_ADDRESS: BdAddress = { address: 'C0:00:00:00:00:01', random: true };
export const CONN: ConnectionParams = { intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 4_000_000 };
/** 32 sectors (64 KB): 0..15 the record store, 31 the write-once area. */
export const FLASH_BYTES = 32 * 2048;

export interface SecureWorldOptions {
  readonly seed?: string;
  /** Write everything on the air to this pcap file. */
  readonly pcapPath?: string;
}

export interface SecureRig {
  readonly world: World;
  readonly air: Air;
  readonly board: Kw31zBoard;
  readonly manufacturer: Manufacturer;
  readonly device: SecureDevice;
  readonly therapyCalls: string[];
  readonly pairingBudgets: BudgetReport[];
  readonly securityAlarms: string[];
  phone(name: string, address: string): Phone;
  /** Run the world event by event until `start`'s callback fires (a coded error after `maxUs`). */
  settle<T>(start: (done: (r: T) => void) => void, maxUs?: number): T;
  connect(phone: Phone): PhoneConnection;
  /** Close the capture file, if any. */
  close(): void;
}

export function secureWorld(opts: SecureWorldOptions = {}): SecureRig {
  const rig = new Rig({ seed: opts.seed ?? 'secure-e2e', traceLayers: 'all', ...(opts.pcapPath !== undefined ? { pcapPath: opts.pcapPath } : {}) });
  const { world, air, manufacturer } = rig;
  const stage = rig.board({ device: 'pump', address: PUMP_ADDRESS, battery: 'aaa-alkaline', flashBytes: FLASH_BYTES, serial: SERIAL, deviceType: 'insulin-pump' });
  const { board } = stage;
  const therapyCalls: string[] = [];
  const done = { status: RESPONSE_STATUS.ok, payload: new Uint8Array(0) };
  const therapy: TherapyPort = {
    stop: (source) => (therapyCalls.push(`stop:${source}`), done),
    suspend: () => (therapyCalls.push('suspend'), done),
    resume: () => (therapyCalls.push('resume'), done),
  };
  const pairingBudgets: BudgetReport[] = [];
  const securityAlarms: string[] = [];
  const cost = { ledger: board.ledger, costs: board.costs };
  const device = new SecureDevice({
    hal: { alarm: board.alarm, radio: board.radio, flash: board.flash, entropy: board.entropy, display: board.display, buttons: board.buttons, power: board.power, ledger: board.ledger, costs: board.costs },
    device: 'pump',
    trace: world.trace,
    model: { manufacturerName: 'medtwin', modelNumber: 'MT-PUMP', serialNumber: SERIAL, firmwareRevision: '0.1.0' },
    appearance: 0x0d41,
    advertising: { intervalUs: 100_000, data: { flags: 0x06, serviceUuids: [uuid16(0x183a)], localName: 'medtwin pump' } },
    store: { firstSector: 0, sectorCount: 16 },
    therapy,
    sha256: (b) => sha256(b, { cost }),
    onPairingBudget: (r) => pairingBudgets.push(r),
    onSecurityAlarm: (r) => securityAlarms.push(r),
  });

  const settle = <T>(start: (done: (r: T) => void) => void, maxUs?: number): T => world.settle(start, maxUs);

  return {
    world,
    air,
    board,
    manufacturer,
    device,
    therapyCalls,
    pairingBudgets,
    securityAlarms,
    settle,
    phone: (name, address) => rig.phone(name, address),
    connect: (phone) => rig.connect(phone, stage, CONN),
    close: () => rig.close(),
  };
}
