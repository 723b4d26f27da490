// Bench: ATT request/response round trips per wall second through the air (Read Request of a 20-byte value at a
// 30 ms interval), against baselines measured in the same run: the host stack alone and the raw scheduler.
// Not a test: it asserts nothing, and its figures compare only as ratios measured in the same run.

import { Kw31zLedger } from '../hal/kw31z/ledger.ts';
import { Kw31zRadio } from '../hal/kw31z/radio.ts';
import type { ConnectionClient, Llid, PeripheralRadio } from '../hal/radio.ts';
import { okVoid, type HalResult } from '../hal/result.ts';
import { decodeAttPdu, encodeAttPdu } from '../src/ble/att-pdu.ts';
import { CentralHost } from '../src/ble/central-host.ts';
import type { GattClient } from '../src/ble/gatt-client.ts';
import { buildGattDb, type GattDb } from '../src/ble/gatt-db.ts';
import { GattServer } from '../src/ble/gatt-server.ts';
import { PeripheralHost } from '../src/ble/peripheral-host.ts';
import { uuid16 } from '../src/ble/uuid.ts';
import { Air } from '../src/sim/air/air.ts';
import { SimCentral } from '../src/sim/air/central.ts';
import { Scheduler, US_PER_S } from '../src/sim/scheduler.ts';
import { World } from '../src/sim/world.ts';

const PUMP = { address: 'C0:00:00:00:00:01', random: true };
const PHONE = { address: '11:22:33:44:55:66', random: false };
const INTERVAL_US = 30_000;
/** The value read: 20 bytes, so a Read Response at the default ATT_MTU of 23 fills one 27-byte LL PDU (1 + 20 + 4 = 25). */
const VALUE = Uint8Array.from({ length: 20 }, (_, i) => i);
const VALUE_HANDLE = 3;

function benchDb(): GattDb {
  return buildGattDb([{ uuid: uuid16(0xfff0), characteristics: [{ uuid: uuid16(0xfff1), properties: ['read'], value: VALUE }] }]);
}

interface Figure {
  readonly roundTrips: number;
  readonly wallMs: number;
  readonly virtualUs: number;
  readonly events: number;
}

/** (a) Read Requests one after the other from the phone's GATT client to the KW31Z's server, through the air. */
function throughTheAir(roundTrips: number): Figure {
  const world = new World({ seed: 'bench-ble', trace: { layers: [] } });
  const air = new Air(world);
  const ledger = new Kw31zLedger('pump', () => world.nowUs);
  const pump = new Kw31zRadio({ air, device: 'pump', address: PUMP, ledger });
  const phone = new SimCentral({ air, name: 'phone', address: PHONE });
  const server = new GattServer({ db: benchDb() });
  const pumpHost = new PeripheralHost({ env: { alarm: world.alarm(), trace: world.trace, device: 'pump' }, radio: pump, server });
  const phoneHost = new CentralHost({ env: { alarm: world.alarm(), trace: world.trace, device: 'phone' }, radio: phone });
  pumpHost.startAdvertising({ intervalUs: 20_000, data: { flags: 0x06 } });
  let client: GattClient | undefined;
  phoneHost.connect(pump.address, { intervalUs: INTERVAL_US, latency: 0, supervisionTimeoutUs: 4_000_000 }, (link) => (client = link.gatt));
  while (!client) world.runFor(10_000);
  const g: GattClient = client;
  let done = 0;
  let failed = 0;
  let endUs = 0;
  const next = (): void => {
    g.read(VALUE_HANDLE, (r) => {
      if (!r.ok || r.value.length !== VALUE.length) failed++;
      if (++done < roundTrips) next();
      else endUs = world.nowUs;
    });
  };
  const e0 = world.scheduler.eventsRun;
  const v0 = world.nowUs;
  const t0 = performance.now(); // wall-clock: bench only
  next();
  while (done < roundTrips) world.runFor(US_PER_S);
  const wallMs = performance.now() - t0; // wall-clock: bench only
  if (failed > 0) throw new Error(`bench ble: ${failed} reads failed`);
  // Virtual time from the first request to the last response (the loop itself runs on in whole seconds).
  return { roundTrips, wallMs, virtualUs: endUs - v0, events: world.scheduler.eventsRun - e0 };
}

/** A PeripheralRadio that hands every PDU straight back (no air): the host stack and codecs alone. */
class LoopRadio implements PeripheralRadio {
  readonly address = PUMP;
  readonly maxPayloadBytes = 27;
  readonly out: Uint8Array[] = [];
  setClient(_c: ConnectionClient): void {}
  startAdvertising(): HalResult {
    return okVoid;
  }
  stopAdvertising(): HalResult {
    return okVoid;
  }
  send(_h: number, _llid: Llid, payload: Uint8Array): HalResult {
    this.out.push(payload);
    return okVoid;
  }
  disconnect(): HalResult {
    return okVoid;
  }
}

/** (b) The same Read Request encoded, framed, handed to the pump's host at the radio boundary, answered and decoded. */
function hostOnly(roundTrips: number): Figure {
  const world = new World({ seed: 'bench-ble-host', trace: { layers: [] } });
  const radio = new LoopRadio();
  const host = new PeripheralHost({ env: { alarm: world.alarm(), trace: world.trace, device: 'pump' }, radio, server: new GattServer({ db: benchDb() }) });
  host.connected({ handle: 1, peer: PHONE, role: 'peripheral', intervalUs: INTERVAL_US, latency: 0, supervisionTimeoutUs: 4_000_000 });
  let bad = 0;
  const t0 = performance.now(); // wall-clock: bench only
  for (let i = 0; i < roundTrips; i++) {
    const req = encodeAttPdu({ op: 'read-req', handle: VALUE_HANDLE });
    const frame = new Uint8Array(4 + req.length);
    frame.set([req.length, 0, 4, 0]);
    frame.set(req, 4);
    host.received(1, 2, frame);
    const pdu = radio.out.pop()!;
    const rsp = decodeAttPdu(pdu.subarray(4));
    if (!rsp.ok || rsp.value.op !== 'read-rsp') bad++;
  }
  const wallMs = performance.now() - t0; // wall-clock: bench only
  if (bad > 0) throw new Error(`bench ble: ${bad} host-only reads failed`);
  return { roundTrips, wallMs, virtualUs: 0, events: 0 };
}

/** (c) The raw scheduler: one self-rescheduling no-op per connection interval. */
function scheduler(events: number): Figure {
  const s = new Scheduler();
  let left = events;
  const tick = (): void => {
    if (--left > 0) s.schedule(INTERVAL_US, tick, 'noop');
  };
  s.schedule(INTERVAL_US, tick, 'noop');
  const t0 = performance.now(); // wall-clock: bench only
  s.runUntilIdle(events + 1);
  return { roundTrips: 0, wallMs: performance.now() - t0, virtualUs: s.nowUs, events: s.eventsRun }; // wall-clock: bench only
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const perSecond = (n: number, wallMs: number): number => (n * 1000) / wallMs;

/** `--round-trips=<n>` sets the through-the-air count (default 20,000 = 20 virtual minutes at 30 ms). */
export async function run(args: string[]): Promise<void> {
  const arg = args.find((a) => a.startsWith('--round-trips='));
  const n = arg ? Number(arg.slice('--round-trips='.length)) : 20_000;
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`bench ble: --round-trips must be a positive integer, got ${arg}`);
  // Warm the JIT, then best of three (each run is short: one GC pause would skew a single one).
  throughTheAir(2_000);
  hostOnly(20_000);
  scheduler(100_000);
  const best = (f: () => Figure): Figure => [f(), f(), f()].reduce((x, y) => (y.wallMs < x.wallMs ? y : x));
  const air = best(() => throughTheAir(n));
  const host = best(() => hostOnly(n * 10));
  const base = best(() => scheduler(air.events));
  const airRate = perSecond(air.roundTrips, air.wallMs);
  const hostRate = perSecond(host.roundTrips, host.wallMs);
  const eventNs = (base.wallMs * 1e6) / base.events;
  const airEventsPerTrip = air.events / air.roundTrips;
  console.log(`node ${process.version}; best of 3 runs each; tracing off; baselines measured in the same run`);
  console.log(`(a) ATT Read Request → Read Response of a 20-byte value, phone → KW31Z through the air, 30 ms interval, ATT_MTU 23`);
  console.log(`  ${fmt(air.roundTrips)} round trips in ${fmt(air.wallMs, 1)} ms wall: ${fmt(airRate)} round trips per wall second`);
  console.log(`  virtual time per round trip: ${fmt(air.virtualUs / air.roundTrips / 1000, 1)} ms (= 2 connection events: request in one, response in the next)`);
  console.log(`  ${fmt(air.virtualUs / US_PER_S)} virtual s in ${fmt(air.wallMs, 1)} ms wall: ${fmt(air.virtualUs / 1000 / air.wallMs)}× real time`);
  console.log(`  ${fmt(airEventsPerTrip, 1)} scheduler events per round trip, ${fmt((air.wallMs * 1e6) / air.roundTrips / airEventsPerTrip, 0)} ns each = ${fmt((air.wallMs * 1e6) / air.events / eventNs, 1)}× a no-op scheduler event`);
  console.log(`(b) baseline: the same round trip at the radio boundary, no air (encode, L2CAP, ATT server, decode)`);
  console.log(`  ${fmt(host.roundTrips)} round trips in ${fmt(host.wallMs, 1)} ms wall: ${fmt(hostRate)} per wall second; through the air is ${fmt(hostRate / airRate, 1)}× slower per round trip`);
  console.log(`(c) baseline: raw scheduler, ${fmt(base.events)} no-op events in ${fmt(base.wallMs, 1)} ms = ${fmt(eventNs, 0)} ns each`);
}
