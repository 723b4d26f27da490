// Tests of the standard services: DIS byte layouts, GAP's optional PPCP, BAS from Kw31zPower, Service Changed.
// Not the database builder itself (gatt-db.test.ts).

import { describe, expect, it } from 'vitest';
import { CR2032, Kw31zPower, deliverableMicroJoules } from '../../hal/kw31z/battery.ts';
import type { GattResult } from '../../src/ble/gatt-client.ts';
import { deviceInformationService, systemIdBytes } from '../../src/ble/services/device-information.ts';
import { genericAccessService } from '../../src/ble/services/generic-access.ts';
import { indicateServiceChanged } from '../../src/ble/services/generic-attribute.ts';
import { buildGattDb } from '../../src/ble/gatt-db.ts';
import { uuidLabel } from '../../src/ble/uuid.ts';
import { bleDevices } from './ble-devices.ts';
import { hex } from './loopback.ts';

describe('Device Information (0x180A)', () => {
  it('lists the model\'s fields in order, with System ID and PnP ID in their byte layouts', () => {
    const s = deviceInformationService({
      manufacturerName: 'medtwin',
      modelNumber: 'PH-1',
      serialNumber: '42',
      hardwareRevision: 'B',
      firmwareRevision: '1.2.3',
      softwareRevision: '7',
      systemId: { manufacturerIdentifier: 0x0102030405n, organizationallyUniqueIdentifier: 0x00_60_37 },
      regulatoryCertification: Uint8Array.of(0xfe, 0x00),
      pnpId: { vendorIdSource: 1, vendorId: 0x0025, productId: 0x0031, productVersion: 0x0102 },
    });
    expect(s.characteristics.map((c) => uuidLabel(c.uuid))).toEqual(['0x2A29', '0x2A24', '0x2A25', '0x2A27', '0x2A26', '0x2A28', '0x2A23', '0x2A2A', '0x2A50']);
    expect(hex(systemIdBytes({ manufacturerIdentifier: 0x0102030405n, organizationallyUniqueIdentifier: 0x603700 }))).toBe('0504030201003760');
    const db = buildGattDb([s]);
    expect(hex(db.value(db.handleOf('dis.pnpId'))!)).toBe('01250031000201');
  });
});

describe('Generic Access (0x1800)', () => {
  it('carries the preferred connection parameters when given', () => {
    const db = buildGattDb([genericAccessService({ deviceName: 'pH', appearance: 0x0c80, preferredConnectionParameters: { intervalMinUnits1250us: 24, intervalMaxUnits1250us: 40, latency: 4, timeoutUnits10ms: 600 } })]);
    expect(hex(db.value(db.handleOf('gap.ppcp'))!)).toBe('1800280004005802');
  });
});

describe('Battery (0x180F) from the KW31Z power model', () => {
  it('reads the level from Kw31zPower and notifies subscribers when it drops, polling on the Alarm', () => {
    const capacity = deliverableMicroJoules(CR2032);
    let spentMicroJoules = 0;
    // A CR2032 with 34.5 % of its energy already used: ⌊65.5⌋ = 65 % left.
    const power = new Kw31zPower(CR2032, () => spentMicroJoules, { initialUsedMicroJoules: 0.345 * capacity });
    const d = bleDevices({ power });
    const { phoneLink } = d.connect();
    const g = phoneLink.gatt;
    expect(d.settle<GattResult<Uint8Array>>((done) => g.read(0x17, done))).toEqual({ ok: true, value: Uint8Array.of(65) });
    d.settle<GattResult<void>>((done) => g.configure(0x18, { notify: true }, done));
    const got: [number, number][] = [];
    g.onValue(0x17, (v) => got.push([d.world.nowUs, v[0]!]));
    const t0 = d.world.nowUs;
    d.battery.start(d.world.alarm(), 1_000_000);
    d.world.runFor(3_500_000);
    expect(got).toEqual([]); // the level did not change: nothing sent
    spentMicroJoules = 0.1 * capacity; // 44.5 % used: 55 %
    d.world.runFor(1_000_000);
    expect(got.map((x) => x[1])).toEqual([55]);
    // Polled at t0 + 4 s; the notification goes out at the next connection event.
    expect(got[0]![0] - t0).toBeGreaterThan(4_000_000);
    expect(got[0]![0] - t0).toBeLessThan(4_000_000 + 30_000 + 1_000);
    d.battery.stop(d.world.alarm());
    spentMicroJoules = 0.2 * capacity;
    d.world.runFor(3_000_000);
    expect(got.length).toBe(1);
  });

  it('by default follows the pump\'s own ledger: a fresh cell minus what the radio spent reads 99 %', () => {
    const d = bleDevices();
    const { phoneLink } = d.connect();
    expect(d.ledger.summary().microJoules).toBeGreaterThan(0);
    expect(d.settle<GattResult<Uint8Array>>((done) => phoneLink.gatt.read(0x17, done))).toEqual({ ok: true, value: Uint8Array.of(99) });
  });
});

describe('Service Changed (0x2A05)', () => {
  it('is indicated with the changed range to a client that asked', () => {
    const d = bleDevices();
    const { phoneLink, pumpLink } = d.connect();
    const g = phoneLink.gatt;
    d.settle<GattResult<void>>((done) => g.configure(0x09, { indicate: true }, done));
    const got: string[] = [];
    g.onValue(0x08, (v, kind) => got.push(`${kind}:${hex(v)}`));
    const r = d.settle<unknown>((done) => expect(indicateServiceChanged(d.server, pumpLink.connection.handle, 0x0019, 0xffff, done)).toEqual({ ok: true }));
    expect(r).toEqual({ ok: true });
    expect(got).toEqual(['indication:1900ffff']);
  });
});
