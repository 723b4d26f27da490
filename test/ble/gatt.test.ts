// Two devices on one air: the phone's GATT client against the pump's server, handles and values exact, the ATT
// trace of both ends compared; ordering, the 30 s timeout, signalling, SMP and advertising through the air.

import { describe, expect, it } from 'vitest';
import type { GattResult, GattService } from '../../src/ble/gatt-client.ts';
import { DEFERRED, type ReadRequest } from '../../src/ble/gatt-db.ts';
import type { IndicationOutcome } from '../../src/ble/att-server.ts';
import { encodeSigCommand } from '../../src/ble/l2cap-signalling.ts';
import { uuid16, uuidLabel } from '../../src/ble/uuid.ts';
import { DATA_200, FixedPower, attRows, bleDevices } from './ble-devices.ts';
import { bytes, hex } from './loopback.ts';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

function ok<T>(r: GattResult<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.detail}`);
  return r.value;
}

/** [service, start, end, [[characteristic, decl, value, properties, end, [[descriptor, handle]]]]] */
function shape(services: GattService[]) {
  return services.map((s) => [
    uuidLabel(s.uuid),
    s.startHandle,
    s.endHandle,
    s.characteristics.map((c) => [uuidLabel(c.uuid), c.declarationHandle, c.valueHandle, c.properties, c.endHandle, c.descriptors.map((d) => [uuidLabel(d.uuid), d.handle])]),
  ]);
}

describe('GATT between a KW31Z peripheral and a phone on one air', () => {
  it('discovers, reads, writes, reads long, subscribes — handles and values exact', () => {
    const power = new FixedPower(87);
    const d = bleDevices({ power });
    const { phoneLink, pumpLink } = d.connect();
    const g = phoneLink.gatt;
    const conn = pumpLink.connection.handle;
    const settle = d.settle;
    expect(g.mtu).toBe(23);

    // Discovery at the default ATT_MTU (several requests per step).
    const services = ok(settle<GattResult<GattService[]>>((done) => g.discoverAll(done)));
    const custom = (x: string) => `7a1f${x}-3c2e-4d5b-9e8f-0123456789ab`;
    expect(shape(services)).toEqual([
      ['0x1800', 0x01, 0x05, [['0x2A00', 0x02, 0x03, 0x02, 0x03, []], ['0x2A01', 0x04, 0x05, 0x02, 0x05, []]]],
      ['0x1801', 0x06, 0x09, [['0x2A05', 0x07, 0x08, 0x20, 0x09, [['0x2902', 0x09]]]]],
      [
        '0x180A',
        0x0a,
        0x14,
        [
          ['0x2A29', 0x0b, 0x0c, 0x02, 0x0c, []],
          ['0x2A24', 0x0d, 0x0e, 0x02, 0x0e, []],
          ['0x2A25', 0x0f, 0x10, 0x02, 0x10, []],
          ['0x2A26', 0x11, 0x12, 0x02, 0x12, []],
          ['0x2A50', 0x13, 0x14, 0x02, 0x14, []],
        ],
      ],
      ['0x180F', 0x15, 0x18, [['0x2A19', 0x16, 0x17, 0x12, 0x18, [['0x2902', 0x18]]]]],
      [
        custom('0000'),
        0x19,
        0x26,
        [
          [custom('0001'), 0x1a, 0x1b, 0x0a, 0x1c, [['0x2901', 0x1c]]],
          [custom('0002'), 0x1d, 0x1e, 0x0c, 0x1e, []],
          [custom('0003'), 0x1f, 0x20, 0x10, 0x21, [['0x2902', 0x21]]],
          [custom('0004'), 0x22, 0x23, 0x20, 0x24, [['0x2902', 0x24]]],
          [custom('0005'), 0x25, 0x26, 0x02, 0x26, []],
        ],
      ],
    ]);

    // Reads: GAP, DIS, BAS (from the Power HAL), a descriptor; errors with their codes.
    const read = (h: number) => settle<GattResult<Uint8Array>>((done) => g.read(h, done));
    expect(text(ok(read(0x03)))).toBe('medtwin pump');
    expect(hex(ok(read(0x05)))).toBe('410d');
    expect(['0x0c', '0x0e', '0x10', '0x12'].map((h) => text(ok(read(Number(h)))))).toEqual(['medtwin', 'KW31Z-PUMP', 'SN-0001', '0.1.0']);
    expect(hex(ok(read(0x14)))).toBe('02c91f31000001');
    expect(ok(read(0x17))).toEqual(Uint8Array.of(87));
    expect(text(ok(read(0x1c)))).toBe('data');
    expect(read(0x08)).toMatchObject({ ok: false, code: 'att', attError: 0x02, handle: 0x08 });
    expect(read(0x26)).toMatchObject({ ok: false, code: 'att', attError: 0x08, handle: 0x26 });
    expect(read(0x1e)).toMatchObject({ ok: false, code: 'att', attError: 0x02, handle: 0x1e });

    // Read long at MTU 23: a Read Request, then Read Blob Requests at 22, 44, … 198.
    const mark = d.world.trace.records.length;
    expect(ok(settle<GattResult<Uint8Array>>((done) => g.readLong(0x1b, done)))).toEqual(DATA_200);
    const sentNow = d.world.trace.records.slice(mark).filter((r) => r.device === 'phone' && r.kind === 'att.tx');
    expect(sentNow.map((r) => [r.fields.opcodeName, r.fields.offset ?? 0])).toEqual([
      ['ATT_READ_REQ', 0],
      ...[22, 44, 66, 88, 110, 132, 154, 176, 198].map((o) => ['ATT_READ_BLOB_REQ', o]),
    ]);

    // Read Multiple, Read By Type ("read using characteristic UUID"), Find By Type Value, Find Information.
    expect(hex(ok(settle<GattResult<Uint8Array>>((done) => g.readMultiple([0x05, 0x17], done))))).toBe('410d57');
    expect(ok(settle<GattResult<{ handle: number; value: Uint8Array }[]>>((done) => g.readByType(uuid16(0x2a19), 0x0001, 0xffff, done)))).toEqual([
      { handle: 0x17, value: Uint8Array.of(87) },
    ]);
    const bas = ok(settle<GattResult<GattService[]>>((done) => g.discoverPrimaryServicesByUuid(uuid16(0x180f), done)));
    expect(bas.map((s) => [uuidLabel(s.uuid), s.startHandle, s.endHandle])).toEqual([['0x180F', 0x15, 0x18]]);
    const info = ok(settle<GattResult<{ handle: number; uuid: { text: string } }[]>>((done) => g.findInformation(0x15, 0x18, done)));
    expect(info.map((e) => [e.handle, uuidLabel(e.uuid as never)])).toEqual([
      [0x15, '0x2800'],
      [0x16, '0x2803'],
      [0x17, '0x2A19'],
      [0x18, '0x2902'],
    ]);

    // Writes: short (Write Request), without response (Write Command), long (Prepare/Execute).
    ok(settle<GattResult<void>>((done) => g.write(0x1e, bytes('01'), done)));
    expect(d.db.value(0x1e)).toEqual(bytes('01'));
    expect(g.writeWithoutResponse(0x1e, bytes('0203'))).toEqual({ ok: true, value: undefined });
    d.world.runFor(100_000);
    expect(d.db.value(0x1e)).toEqual(bytes('0203'));
    expect(settle<GattResult<void>>((done) => g.write(0x03, bytes('41'), done))).toMatchObject({ ok: false, code: 'att', attError: 0x03, handle: 0x03 });
    const long = Uint8Array.from({ length: 100 }, (_, i) => 255 - i);
    ok(settle<GattResult<void>>((done) => g.writeLong(0x1b, long, done)));
    expect(d.db.value(0x1b)).toEqual(long);
    expect(ok(settle<GattResult<Uint8Array>>((done) => g.readLong(0x1b, done)))).toEqual(long);
    const prepares = d.world.trace.filter({ device: 'pump', kind: 'att.rx' }).filter((r) => r.fields.opcodeName === 'ATT_PREPARE_WRITE_REQ');
    expect(prepares.map((r) => [r.fields.handle, r.fields.offset])).toEqual([0, 18, 36, 54, 72, 90].map((o) => [0x1b, o]));

    // Exchange MTU: both offer 247; then a 200-byte read is one Read Request.
    expect(ok(settle<GattResult<number>>((done) => g.exchangeMtu(done)))).toBe(247);
    expect(pumpLink.att.mtu).toBe(247);
    ok(settle<GattResult<void>>((done) => g.writeLong(0x1b, DATA_200, done)));
    const before = d.world.trace.filter({ device: 'phone', kind: 'att.tx' }).length;
    expect(ok(settle<GattResult<Uint8Array>>((done) => g.readLong(0x1b, done)))).toEqual(DATA_200);
    expect(d.world.trace.filter({ device: 'phone', kind: 'att.tx' }).length - before).toBe(1);

    // Notifications.
    const stream = services[4]!.characteristics[2]!;
    const got: string[] = [];
    ok(settle<GattResult<() => void>>((done) => g.subscribe(stream, 'notify', (v, kind) => got.push(`${kind}:${hex(v)}`), done)));
    expect(d.server.subscription(conn, 'test.stream')).toBe(0x0001);
    expect(d.server.notify(conn, 'test.stream', bytes('0a0b0c'))).toEqual({ ok: true });
    d.world.runFor(100_000);
    expect(got).toEqual(['notification:0a0b0c']);

    // Battery level notified when the Power HAL's level changes.
    const level = services[3]!.characteristics[0]!;
    const levels: number[] = [];
    ok(settle<GattResult<() => void>>((done) => g.subscribe(level, 'notify', (v) => levels.push(v[0]!), done)));
    expect(d.battery.check()).toBe(87);
    power.levelPercent = 80;
    expect(d.battery.check()).toBe(80);
    d.world.runFor(100_000);
    expect(levels).toEqual([80]);

    // Indications, confirmed by the phone.
    const alert = services[4]!.characteristics[3]!;
    const alerts: string[] = [];
    ok(settle<GattResult<() => void>>((done) => g.subscribe(alert, 'indicate', (v, kind) => alerts.push(`${kind}:${hex(v)}`), done)));
    const outcome = settle<IndicationOutcome>((done) => {
      expect(d.server.indicate(conn, 'test.alert', bytes('ee'), done)).toEqual({ ok: true });
    });
    expect(outcome).toEqual({ ok: true });
    expect(alerts).toEqual(['indication:ee']);
    const phoneRows = attRows(d.world, 'phone');
    expect(phoneRows.slice(-2)).toEqual([
      ['att.rx', 'ATT_HANDLE_VALUE_IND', 0x23],
      ['att.tx', 'ATT_HANDLE_VALUE_CFM', null],
    ]);

    // Service Changed is indicate-only: its CCCD takes the indication bit.
    ok(settle<GattResult<void>>((done) => g.configure(0x09, { indicate: true }, done)));
    expect(d.server.subscription(conn, 'gatt.serviceChanged')).toBe(0x0002);

    // Every ATT PDU one side recorded as sent, the other recorded as received, in order.
    d.world.runFor(200_000);
    const pumpRows = attRows(d.world, 'pump');
    const tx = (rows: typeof pumpRows) => rows.filter((r) => r[0] === 'att.tx').map((r) => [r[1], r[2]]);
    const rx = (rows: typeof pumpRows) => rows.filter((r) => r[0] === 'att.rx').map((r) => [r[1], r[2]]);
    const phoneAll = attRows(d.world, 'phone');
    expect(rx(pumpRows)).toEqual(tx(phoneAll));
    expect(rx(phoneAll)).toEqual(tx(pumpRows));
    expect(tx(phoneAll).length).toBeGreaterThan(60);
    const r0 = d.world.trace.filter({ device: 'pump', kind: 'att.rx' }).find((r) => r.fields.opcodeName === 'ATT_READ_REQ')!;
    expect(r0.fields).toMatchObject({ conn, opcode: 0x0a, opcodeName: 'ATT_READ_REQ', handle: 0x03 });
    expect(d.disconnects()).toEqual([]);
  });

  it('queues a second request until the first is answered (one outstanding per direction, §3.3.2)', () => {
    const d = bleDevices({ power: new FixedPower(50) });
    const { phoneLink } = d.connect();
    const g = phoneLink.gatt;
    const results: string[] = [];
    g.read(0x03, (r) => results.push(r.ok ? text(r.value) : r.code));
    g.read(0x05, (r) => results.push(r.ok ? hex(r.value) : r.code));
    expect(phoneLink.gatt.att.pendingRequests).toBe(2);
    d.world.runFor(300_000);
    expect(results).toEqual(['medtwin pump', '410d']);
    expect(attRows(d.world, 'phone')).toEqual([
      ['att.tx', 'ATT_READ_REQ', 0x03],
      ['att.rx', 'ATT_READ_RSP', null],
      ['att.tx', 'ATT_READ_REQ', 0x05],
      ['att.rx', 'ATT_READ_RSP', null],
    ]);
  });

  it('answers requests in order when a client does not wait, and firmware answers one later', () => {
    const reads: ReadRequest[] = [];
    const d = bleDevices({
      power: new FixedPower(50),
      extraServices: [{ uuid: uuid16(0xfff0), characteristics: [{ uuid: uuid16(0xfff1), properties: ['read'], onRead: (r) => (reads.push(r), DEFERRED) }] }],
    });
    const { phoneLink } = d.connect();
    // Bypass the client's queue: two Read Requests back to back on CID 0x0004.
    phoneLink.l2cap.send(4, bytes('0a 2900'));
    phoneLink.l2cap.send(4, bytes('0a 0500'));
    d.world.runFor(200_000);
    expect(reads.length).toBe(1);
    d.world.alarm().setAlarm(0, () => reads[0]!.reply({ ok: true, value: bytes('beef') }));
    d.world.runFor(200_000);
    expect(d.world.trace.filter({ device: 'pump', kind: 'att.tx' }).map((r) => r.fields.opcodeName)).toEqual(['ATT_READ_RSP', 'ATT_READ_RSP']);
    expect(d.world.trace.filter({ device: 'phone', kind: 'att.rx' }).map((r) => r.fields.length)).toEqual([3, 3]);
  });

  it('fails a request after 30 s on the virtual clock and sends no more ATT on that bearer (§3.3.3)', () => {
    const d = bleDevices({
      power: new FixedPower(50),
      extraServices: [{ uuid: uuid16(0xfff0), characteristics: [{ uuid: uuid16(0xfff1), properties: ['read'], onRead: () => DEFERRED }] }],
    });
    const { phoneLink } = d.connect();
    const g = phoneLink.gatt;
    const results: [string, number][] = [];
    const t0 = d.world.nowUs;
    g.read(0x29, (r) => results.push([r.ok ? 'ok' : r.code, d.world.nowUs - t0]));
    g.read(0x03, (r) => results.push([r.ok ? 'ok' : r.code, d.world.nowUs - t0]));
    d.world.runFor(29_000_000);
    expect(results).toEqual([]);
    d.world.runFor(2_000_000);
    expect(results.map((r) => r[0])).toEqual(['timeout', 'closed']);
    // Armed when the request was handed to L2CAP, at t0: exactly 30 s later.
    expect(results[0]![1]).toBe(30_000_000);
    const late = d.settle<GattResult<Uint8Array>>((done) => g.read(0x03, done));
    expect(late).toMatchObject({ ok: false, code: 'closed' });
    expect(g.writeWithoutResponse(0x1e, bytes('01'))).toMatchObject({ ok: false, code: 'closed' });
    expect(d.world.trace.filter({ device: 'phone', kind: 'att.tx' }).length).toBe(1);
    expect(d.disconnects()).toEqual([]); // the link itself stays up
  });
});

describe('LE signalling and SMP through the air', () => {
  it('asks for new connection parameters and gets the central\'s answer (Vol 3 Part A §4.20)', () => {
    const d = bleDevices({ power: new FixedPower(50) });
    const { phoneLink, pumpLink } = d.connect();
    const answer = d.settle<unknown>((done) => {
      expect(d.pumpHost.requestConnectionParameters(pumpLink.connection.handle, { intervalMinUnits1250us: 24, intervalMaxUnits1250us: 40, latency: 4, timeoutUnits10ms: 600 }, done)).toEqual({ ok: true });
    });
    expect(answer).toEqual({ ok: true, value: { accepted: true } });
    expect(d.pumpHost.requestConnectionParameters(pumpLink.connection.handle, { intervalMinUnits1250us: 2, intervalMaxUnits1250us: 4, latency: 0, timeoutUnits10ms: 100 }, () => {})).toEqual({ ok: false, code: 'range' });
    // An out-of-range request sent anyway is rejected (result 0x0001).
    pumpLink.l2cap.send(5, encodeSigCommand({ code: 'connection-parameter-update-req', identifier: 9, intervalMinUnits1250us: 3200, intervalMaxUnits1250us: 6, latency: 0, timeoutUnits10ms: 100 }));
    // A central's request to the peripheral, and an unknown command, get Command Reject 0x0000.
    phoneLink.l2cap.send(5, encodeSigCommand({ code: 'connection-parameter-update-req', identifier: 3, intervalMinUnits1250us: 24, intervalMaxUnits1250us: 40, latency: 0, timeoutUnits10ms: 600 }));
    phoneLink.l2cap.send(5, bytes('20 07 0000'));
    d.world.runFor(300_000);
    const sig = (dev: string) => d.world.trace.filter({ device: dev, kind: 'sig.tx' }).map((r) => [r.fields.command, r.fields.identifier, r.fields.result ?? r.fields.reason ?? null]);
    expect(sig('phone')).toEqual([
      ['connection-parameter-update-rsp', 1, 0],
      ['connection-parameter-update-rsp', 9, 1],
    ]);
    expect(sig('pump')).toEqual([
      ['connection-parameter-update-req', 1, null],
      ['command-reject', 3, 0],
      ['command-reject', 7, 0],
    ]);
  });

  it('answers a Pairing Request with Pairing Failed "pairing not supported" (Vol 3 Part H §3.5.5)', () => {
    const d = bleDevices({ power: new FixedPower(50) });
    const { phoneLink } = d.connect();
    phoneLink.l2cap.send(6, bytes('01 03 00 01 10 07 07'));
    d.world.runFor(200_000);
    expect(d.world.trace.filter({ device: 'pump', layer: 'smp' }).map((r) => [r.kind, r.fields.code, r.fields.reason ?? null])).toEqual([
      ['smp.rx', 0x01, null],
      ['smp.tx', 0x05, 0x05],
    ]);
    // The phone's own SMP does not answer a Pairing Failed.
    expect(d.world.trace.filter({ device: 'phone', layer: 'smp' }).map((r) => [r.kind, r.fields.code, r.fields.answered])).toEqual([['smp.rx', 0x05, false]]);
    expect(d.disconnects()).toEqual([]);
  });
});

describe('advertising through the air', () => {
  it('advertises flags, the service list and the name; the phone decodes them', () => {
    const d = bleDevices({ power: new FixedPower(50) });
    const reports: unknown[] = [];
    expect(d.pumpHost.startAdvertising({ intervalUs: 100_000, data: { flags: 0x06, serviceUuids: [uuid16(0x183a)], localName: 'medtwin insulin pump 0001' } })).toEqual({ ok: true, value: undefined });
    d.phoneHost.startScanning({ active: true }, (r) => reports.push([r.pduType, r.ad.ok ? [r.ad.value.flags, r.ad.value.serviceUuids.map(uuidLabel), r.ad.value.localName ?? null] : r.ad.code]));
    d.world.runFor(150_000);
    // The name does not fit beside the flags and the list (3 + 4 + 27 > 31): it goes in the scan response.
    expect(reports).toEqual([
      ['adv_ind', [0x06, ['0x183A'], null]],
      ['scan_rsp', [undefined, [], 'medtwin insulin pump 0001']],
      ['adv_ind', [0x06, ['0x183A'], null]],
    ]);
  });
});
