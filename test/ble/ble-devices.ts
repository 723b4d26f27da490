// Test fixture: the two-devices air (a KW31Z "pump" and a simulated "phone") with the BLE host stack on both:
// the pump serves GAP, GATT, DIS, BAS and a custom 128-bit test service; the phone is a GATT client.
// Not a test file itself, and not production composition (devices/ does that).

import { CR2032, Kw31zPower } from '../../hal/kw31z/battery.ts';
import type { BatteryStatus, Power } from '../../hal/power.ts';
import type { ConnectionParams } from '../../hal/radio.ts';
import { LE_GENERAL_FLAGS } from '../../src/ble/advertising.ts';
import type { AuthorizeHook } from '../../src/ble/att-server.ts';
import { CentralHost } from '../../src/ble/central-host.ts';
import { buildGattDb, type ServiceDef } from '../../src/ble/gatt-db.ts';
import { GattServer } from '../../src/ble/gatt-server.ts';
import type { HostLink } from '../../src/ble/host.ts';
import { PeripheralHost } from '../../src/ble/peripheral-host.ts';
import { BatteryService } from '../../src/ble/services/battery.ts';
import { deviceInformationService } from '../../src/ble/services/device-information.ts';
import { genericAccessService } from '../../src/ble/services/generic-access.ts';
import { genericAttributeService } from '../../src/ble/services/generic-attribute.ts';
import { uuid, uuid16 } from '../../src/ble/uuid.ts';
import type { World } from '../../src/sim/world.ts';
import { twoDevices, type TwoDevicesOptions } from '../sim/air/two-devices.ts';

/** The custom test service and its characteristics (128-bit, made up for these tests). */
export const TEST_SERVICE_UUID = uuid('7a1f0000-3c2e-4d5b-9e8f-0123456789ab');
export const TEST_UUID = {
  data: uuid('7a1f0001-3c2e-4d5b-9e8f-0123456789ab'),
  control: uuid('7a1f0002-3c2e-4d5b-9e8f-0123456789ab'),
  stream: uuid('7a1f0003-3c2e-4d5b-9e8f-0123456789ab'),
  alert: uuid('7a1f0004-3c2e-4d5b-9e8f-0123456789ab'),
  secret: uuid('7a1f0005-3c2e-4d5b-9e8f-0123456789ab'),
} as const;

/** The 200-byte initial value of "data": byte i is i. */
export const DATA_200 = Uint8Array.from({ length: 200 }, (_, i) => i);

export const DEVICE_MODEL = {
  manufacturerName: 'medtwin',
  modelNumber: 'KW31Z-PUMP',
  serialNumber: 'SN-0001',
  firmwareRevision: '0.1.0',
  pnpId: { vendorIdSource: 2 as const, vendorId: 0x1fc9, productId: 0x0031, productVersion: 0x0100 },
};

export function testService(): ServiceDef {
  return {
    uuid: TEST_SERVICE_UUID,
    id: 'test',
    characteristics: [
      { uuid: TEST_UUID.data, id: 'test.data', properties: ['read', 'write'], value: DATA_200, userDescription: 'data' },
      { uuid: TEST_UUID.control, id: 'test.control', properties: ['write', 'writeWithoutResponse'], value: Uint8Array.of(0), maxLengthBytes: 16 },
      { uuid: TEST_UUID.stream, id: 'test.stream', properties: ['notify'] },
      { uuid: TEST_UUID.alert, id: 'test.alert', properties: ['indicate'] },
      { uuid: TEST_UUID.secret, id: 'test.secret', properties: ['read'], value: Uint8Array.from(Buffer.from('secret')), security: { readAuthorization: true } },
    ],
  };
}

/**
 * The pump's services in handle order: GAP 0x0001–0x0005, GATT 0x0006–0x0009, DIS 0x000A–0x0014,
 * BAS 0x0015–0x0018, the test service 0x0019–0x0026.
 */
export function pumpServices(battery: BatteryService): ServiceDef[] {
  return [
    genericAccessService({ deviceName: 'medtwin pump', appearance: 0x0d41 }),
    genericAttributeService(),
    deviceInformationService(DEVICE_MODEL),
    battery.definition,
    testService(),
  ];
}

/** A Power whose level a test sets. */
export class FixedPower implements Power {
  readonly dcdcMode = 'buck' as const;
  constructor(public levelPercent: number) {}
  battery(): BatteryStatus {
    return { milliVolts: 3000, levelPercent: this.levelPercent, low: this.levelPercent < 15 };
  }
}

export interface BleDevicesOptions extends TwoDevicesOptions {
  readonly serverRxMtu?: number;
  readonly clientRxMtu?: number;
  readonly authorize?: AuthorizeHook;
  /** Battery from the pump's ledger (Kw31zPower on a CR2032) unless a Power is given. */
  readonly power?: Power;
  /** Replace the test service's definitions (e.g. callbacks). */
  readonly extraServices?: readonly ServiceDef[];
}

export const CONN_30MS: ConnectionParams = { intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 4_000_000 };

export function bleDevices(opts: BleDevicesOptions = {}) {
  const d = twoDevices(opts);
  const { world, pump, phone, ledger } = d;
  const power = opts.power ?? new Kw31zPower(CR2032, () => ledger.summary().microJoules);
  const battery = new BatteryService(power);
  const db = buildGattDb([...pumpServices(battery), ...(opts.extraServices ?? [])]);
  const server = new GattServer({ db, ...(opts.authorize ? { authorize: opts.authorize } : {}) });
  battery.attach(server);
  const pumpHost = new PeripheralHost({
    env: { alarm: world.alarm(), trace: world.trace, device: 'pump' },
    radio: pump,
    server,
    ...(opts.serverRxMtu !== undefined ? { rxMtu: opts.serverRxMtu } : {}),
  });
  const phoneHost = new CentralHost({
    env: { alarm: world.alarm(), trace: world.trace, device: 'phone' },
    radio: phone,
    ...(opts.clientRxMtu !== undefined ? { rxMtu: opts.clientRxMtu } : {}),
  });

  /** Run the world event by event until `start`'s callback fires (World.settle). */
  const settle = <T>(start: (done: (r: T) => void) => void, maxUs?: number): T => world.settle(start, maxUs);

  /** Advertise (flags, 0x183A-free test data, name), connect, return both links. */
  function connect(params: ConnectionParams = CONN_30MS): { phoneLink: HostLink; pumpLink: HostLink } {
    const adv = pumpHost.startAdvertising({ intervalUs: 100_000, data: { flags: LE_GENERAL_FLAGS, serviceUuids: [uuid16(0x180f)], localName: 'medtwin pump' } });
    if (!adv.ok) throw new Error(`fixture: advertising failed: ${adv.code}`);
    const phoneLink = settle<HostLink>((done) => {
      const r = phoneHost.connect(pump.address, params, done);
      if (!r.ok) throw new Error(`fixture: connect failed: ${r.code}`);
    });
    // The peripheral hears `connected` at the same instant; run until it has.
    while (pumpHost.connections.length === 0 && world.scheduler.step()) {
      // step
    }
    const pumpLink = pumpHost.link(pumpHost.connections[0]!)!;
    return { phoneLink, pumpLink };
  }

  return { ...d, world: world as World, power, battery, db, server, pumpHost, phoneHost, settle, connect };
}

/** ATT trace records of one device, as [kind, opcodeName, handle] rows. */
export function attRows(world: World, device: string): [string, string, number | null][] {
  return world.trace.filter({ device, layer: 'att' }).filter((r) => r.kind === 'att.tx' || r.kind === 'att.rx').map((r) => [r.kind, r.fields.opcodeName as string, (r.fields.handle as number | undefined) ?? null]);
}
