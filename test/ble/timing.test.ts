// How ATT_MTU and the connection interval shape a 200-byte long read on the air (events, virtual time, energy),
// and the host's fragment queue beyond the link layer's. Not the air's own timing tests (test/sim/air).

import { describe, expect, it } from 'vitest';
import type { GattResult } from '../../src/ble/gatt-client.ts';
import { airTimeUs, T_IFS_US } from '../../src/sim/air/pdu.ts';
import type { TraceRecord } from '../../src/sim/trace.ts';
import { DATA_200, FixedPower, bleDevices } from './ble-devices.ts';

const INTERVAL_US = 30_000;
/** An empty PDU (2-byte header) and a data PDU with an n-byte payload on LE 1M (pdu.ts airTimeUs: 8 µs × (8 + 2 + n)). */
const EMPTY_US = airTimeUs(2);
const pduUs = (n: number): number => airTimeUs(2 + n);

/** Read the 200-byte value after an optional MTU exchange; what the trace and the pump's ledger saw. */
function longRead(exchangeMtu: boolean) {
  const d = bleDevices({ power: new FixedPower(50) });
  const { phoneLink } = d.connect();
  const g = phoneLink.gatt;
  if (exchangeMtu) d.settle<GattResult<number>>((done) => g.exchangeMtu(done));
  d.world.runFor(100_000);
  const mark = d.world.trace.records.length;
  const before = d.ledger.summary();
  const value = d.settle<GattResult<Uint8Array>>((done) => g.readLong(0x1b, done));
  const after = d.ledger.summary();
  const recs: TraceRecord[] = d.world.trace.records.slice(mark);
  const ll = recs.filter((r) => r.layer === 'll' && r.kind === 'data.tx' && (r.fields.length as number) > 0);
  const firstEvent = ll[0]!.fields.event as number;
  const lastEvent = ll.at(-1)!.fields.event as number;
  const lastRx = recs.filter((r) => r.device === 'phone' && r.kind === 'att.rx').at(-1)!;
  return {
    value,
    mtu: g.mtu,
    events: lastEvent - firstEvent + 1,
    perEvent: ll.map((r) => `${r.device}:${(r.fields.event as number) - firstEvent}:${r.fields.length}`),
    /** From the anchor of the event that carried the first request to the final response reaching the phone's host. */
    virtualUs: lastRx.tUs - ll[0]!.tUs,
    lastAnchorToRxUs: lastRx.tUs - ll.at(-1)!.tUs,
    radioOnUs: after.radioOnUs - before.radioOnUs,
    microJoules: after.microJoules - before.microJoules,
  };
}

describe('MTU and connection interval shape the time of a long read (30 ms interval)', () => {
  it('MTU 23: a Read and nine Read Blobs, one round trip per two connection events', () => {
    const r = longRead(false);
    expect(r.value).toEqual({ ok: true, value: DATA_200 });
    expect(r.mtu).toBe(23);
    // Requests (7- and 9-byte L2CAP frames) on even events, 27-byte responses on odd ones, the last one 7 bytes.
    expect(r.perEvent).toEqual([
      'phone:0:7',
      ...Array.from({ length: 9 }, (_, i) => [`pump:${2 * i + 1}:27`, `phone:${2 * i + 2}:9`]).flat(),
      'pump:19:7',
    ]);
    expect(r.events).toBe(20);
    // 19 intervals, then the empty central PDU, T_IFS and the pump's last 7-byte PDU.
    expect(r.lastAnchorToRxUs).toBe(EMPTY_US + T_IFS_US + pduUs(7));
    expect(r.virtualUs).toBe(19 * INTERVAL_US + EMPTY_US + T_IFS_US + pduUs(7));
    expect(r.virtualUs).toBe(570_366);
  });

  it('MTU 247: one Read whose 205-byte frame takes eight PDUs, four pairs per event', () => {
    const r = longRead(true);
    expect(r.value).toEqual({ ok: true, value: DATA_200 });
    expect(r.mtu).toBe(247);
    expect(r.perEvent).toEqual(['phone:0:7', 'pump:1:27', 'pump:1:27', 'pump:1:27', 'pump:1:27', 'pump:2:27', 'pump:2:27', 'pump:2:27', 'pump:2:16']);
    expect(r.events).toBe(3);
    // In the last event: three full pairs (empty + 27-byte PDU, each followed by T_IFS), then empty + the 16-byte tail.
    const pairUs = EMPTY_US + T_IFS_US + pduUs(27) + T_IFS_US;
    expect(r.lastAnchorToRxUs).toBe(3 * pairUs + EMPTY_US + T_IFS_US + pduUs(16));
    expect(r.virtualUs).toBe(2 * INTERVAL_US + 3 * pairUs + EMPTY_US + T_IFS_US + pduUs(16));
  });

  it('the larger MTU costs the pump less radio time and energy for the same 200 bytes', () => {
    const small = longRead(false);
    const big = longRead(true);
    expect(big.radioOnUs).toBeLessThan(small.radioOnUs / 2);
    expect(big.microJoules).toBeLessThan(small.microJoules / 2);
  });
});

describe('the host queues fragments the radio cannot take yet', () => {
  it('delivers 100 notifications of 244 bytes (1,000 PDUs, the LL queue holds 64) in order', () => {
    const d = bleDevices({ power: new FixedPower(50) });
    const { phoneLink, pumpLink } = d.connect();
    const g = phoneLink.gatt;
    d.settle<GattResult<number>>((done) => g.exchangeMtu(done));
    d.settle<GattResult<void>>((done) => g.configure(0x21, { notify: true }, done));
    const got: number[] = [];
    g.onValue(0x20, (v) => got.push(v[0]! + (v.length === 244 ? 0 : 1000)));
    for (let i = 0; i < 100; i++) expect(d.server.notify(pumpLink.connection.handle, 'test.stream', new Uint8Array(244).fill(i))).toEqual({ ok: true });
    expect(pumpLink.l2cap.queuedFragments).toBe(1000 - 64);
    d.world.runFor(10_000_000);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(pumpLink.l2cap.queuedFragments).toBe(0);
  });
});
