// The GATT session of two devices on one air, captured as pcap and decoded by tshark: every ATT
// PDU the trace recorded is on the air, in order, with the opcode and handle the trace gave.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { IndicationOutcome } from '../../src/ble/att-server.ts';
import type { GattResult, GattService } from '../../src/ble/gatt-client.ts';
import { writePcapFile } from '../../src/sim/capture/pcap-file.ts';
import { startCapture } from '../../src/sim/capture/pcap.ts';
import { SKIP_TSHARK, tsharkFields } from '../sim/capture/tshark.ts';
import { DATA_200, FixedPower, bleDevices } from './ble-devices.ts';
import { bytes } from './loopback.ts';

function ok<T>(r: GattResult<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.code} ${JSON.stringify(r)}`);
  return r.value;
}

describe.skipIf(SKIP_TSHARK)('a GATT session as tshark decodes it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medtwin-att-pcap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows every ATT opcode and handle the trace recorded, per direction, in order', () => {
    const d = bleDevices({ seed: 'att-capture', power: new FixedPower(64) });
    const capture = startCapture(d.air);
    const { phoneLink, pumpLink } = d.connect();
    const g = phoneLink.gatt;
    const conn = pumpLink.connection.handle;
    const services = ok(d.settle<GattResult<GattService[]>>((done) => g.discoverAll(done)));
    ok(d.settle<GattResult<Uint8Array>>((done) => g.read(0x03, done)));
    ok(d.settle<GattResult<Uint8Array>>((done) => g.readLong(0x1b, done))); // Read + Read Blob at MTU 23
    ok(d.settle<GattResult<void>>((done) => g.write(0x1e, bytes('01'), done)));
    ok(d.settle<GattResult<void>>((done) => g.writeLong(0x1b, DATA_200.subarray(0, 60), done))); // Prepare + Execute
    expect(d.settle<GattResult<Uint8Array>>((done) => g.read(0x08, done))).toMatchObject({ ok: false, attError: 0x02 });
    ok(d.settle<GattResult<number>>((done) => g.exchangeMtu(done)));
    const stream = services[4]!.characteristics[2]!;
    ok(d.settle<GattResult<() => void>>((done) => g.subscribe(stream, 'notify', () => {}, done)));
    d.server.notify(conn, 'test.stream', bytes('0a0b0c'));
    const alert = services[4]!.characteristics[3]!;
    ok(d.settle<GattResult<() => void>>((done) => g.subscribe(alert, 'indicate', () => {}, done)));
    expect(d.settle<IndicationOutcome>((done) => d.server.indicate(conn, 'test.alert', bytes('ee'), done))).toEqual({ ok: true });
    d.world.runFor(300_000);
    capture.stop();
    const file = join(dir, 'gatt.pcap');
    writePcapFile(file, capture);

    // What the trace recorded each side sending: [opcode, handle or null].
    const sent = (device: string) =>
      d.world.trace
        .filter({ device, layer: 'att', kind: 'att.tx' })
        .map((r) => [r.fields.opcode as number, (r.fields.handle as number | undefined) ?? null] as const);
    // What tshark decoded from the capture, per direction (L2CAP reassembled: one row per ATT PDU).
    const rows = tsharkFields(file, ['btle.data_header.llid', 'btatt.opcode', 'btatt.handle', 'btle.master_bd_addr', '_ws.col.Source'], ['-Y', 'btatt']);
    const decoded = (fromCentral: boolean) =>
      rows
        .filter((r) => r['_ws.col.Source']!.startsWith(fromCentral ? 'Master' : 'Slave'))
        .map((r) => [Number(r['btatt.opcode']), r['btatt.handle'] === '' ? null : Number(r['btatt.handle']!.split(',')[0])] as const);

    const phoneSent = sent('phone');
    const pumpSent = sent('pump');
    expect(phoneSent.length).toBeGreaterThan(30);
    expect(decoded(true).map((x) => x[0])).toEqual(phoneSent.map((x) => x[0]));
    expect(decoded(false).map((x) => x[0])).toEqual(pumpSent.map((x) => x[0]));
    // Handles: wherever the trace named the PDU's handle, tshark shows the same one first.
    const handlesAgree = (trace: readonly (readonly [number, number | null])[], wire: readonly (readonly [number, number | null])[]) =>
      trace.flatMap(([op, h], i) => (h === null ? [] : [[op, h, wire[i]![1]]]));
    const withHandles = [...handlesAgree(phoneSent, decoded(true)), ...handlesAgree(pumpSent, decoded(false))];
    expect(withHandles.length).toBeGreaterThan(25);
    for (const [op, traced, wire] of withHandles) {
      expect({ op, handle: wire }).toEqual({ op, handle: traced });
    }
    // The capture has the ones this test is about.
    const ops = new Set(rows.map((r) => Number(r['btatt.opcode'])));
    for (const op of [0x02, 0x03, 0x10, 0x11, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x12, 0x13, 0x16, 0x17, 0x18, 0x19, 0x01, 0x1b, 0x1d, 0x1e]) {
      expect(ops.has(op), `ATT opcode 0x${op.toString(16)} in the capture`).toBe(true);
    }
  });
});
