// Bench: virtual seconds per wall second of the air (a day of idle advertising, an hour of an idle connection) against the raw scheduler.
// Not a test: it asserts nothing, and its figures compare only as ratios measured in the same run.

import { Kw31zLedger } from '../hal/kw31z/ledger.ts';
import { Kw31zRadio } from '../hal/kw31z/radio.ts';
import { Air } from '../src/sim/air/air.ts';
import { SimCentral } from '../src/sim/air/central.ts';
import { Scheduler, US_PER_S } from '../src/sim/scheduler.ts';
import { World } from '../src/sim/world.ts';

const PUMP = { address: 'C0:00:00:00:00:01', random: true };
const PHONE = { address: '11:22:33:44:55:66', random: false };
const ADV_DATA = Uint8Array.of(2, 1, 6, 5, 9, 0x70, 0x75, 0x6d, 0x70);

interface Figure {
  readonly virtualUs: number;
  readonly wallMs: number;
  readonly events: number;
}

/** The raw scheduler: one self-rescheduling no-op per `periodUs`, `events` times. */
function baseline(events: number, periodUs: number): Figure {
  const s = new Scheduler();
  let left = events;
  const tick = (): void => {
    if (--left > 0) s.schedule(periodUs, tick, 'noop');
  };
  s.schedule(periodUs, tick, 'noop');
  const t0 = performance.now(); // wall-clock: bench only
  s.runUntilIdle(events + 1);
  return { virtualUs: s.nowUs, wallMs: performance.now() - t0, events: s.eventsRun };
}

/** (a) One KW31Z advertising ADV_IND at 1 s, nobody listening. */
function advertising(virtualUs: number): Figure {
  const world = new World({ seed: 'bench-adv', trace: { keep: false } });
  const air = new Air(world);
  const ledger = new Kw31zLedger('pump', () => world.nowUs);
  const radio = new Kw31zRadio({ air, device: 'pump', address: PUMP, ledger });
  radio.startAdvertising({ intervalUs: 1_000_000, advData: ADV_DATA, scanRspData: new Uint8Array(0), connectable: true });
  const e0 = world.scheduler.eventsRun;
  const t0 = performance.now(); // wall-clock: bench only
  world.runFor(virtualUs);
  return { virtualUs, wallMs: performance.now() - t0, events: world.scheduler.eventsRun - e0 };
}

/** (b) One connection at 30 ms, latency 0, only empty PDUs; both ends charge a ledger. */
function connection(virtualUs: number): Figure {
  const world = new World({ seed: 'bench-conn', trace: { keep: false } });
  const air = new Air(world);
  const ledger = new Kw31zLedger('pump', () => world.nowUs);
  const radio = new Kw31zRadio({ air, device: 'pump', address: PUMP, ledger });
  const phone = new SimCentral({ air, name: 'phone', address: PHONE, ledger: new Kw31zLedger('phone', () => world.nowUs) });
  let up = false;
  radio.setClient({ connected: () => (up = true), received: () => {}, disconnected: () => (up = false) });
  radio.startAdvertising({ intervalUs: 20_000, advData: ADV_DATA, scanRspData: new Uint8Array(0), connectable: true });
  phone.connect(radio.address, { intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 4_000_000 });
  while (!up) world.runFor(10_000);
  const e0 = world.scheduler.eventsRun;
  const t0 = performance.now(); // wall-clock: bench only
  world.runFor(virtualUs);
  const wallMs = performance.now() - t0;
  if (!up) throw new Error('bench: the connection dropped');
  return { virtualUs, wallMs, events: world.scheduler.eventsRun - e0 };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (f: Figure): number => f.virtualUs / 1000 / f.wallMs;
const perEventNs = (f: Figure): number => (f.wallMs * 1e6) / f.events;

function line(name: string, f: Figure, base: Figure, goal: number): string {
  const r = ratio(f);
  return [
    `${name}`,
    `  ${fmt(f.virtualUs / US_PER_S)} virtual s in ${fmt(f.wallMs, 1)} ms wall: ${fmt(r)}× real time (goal ≥ ${fmt(goal)}×: ${r >= goal ? 'met' : 'NOT met'})`,
    `  ${fmt(f.events)} scheduler events, ${fmt(perEventNs(f), 0)} ns each = ${fmt(perEventNs(f) / perEventNs(base), 1)}× a no-op scheduler event`,
  ].join('\n');
}

/** `--scale=<f>` shortens or lengthens the simulated spans (default 1: a day and an hour). */
export async function run(args: string[]): Promise<void> {
  const scaleArg = args.find((a) => a.startsWith('--scale='));
  const scale = scaleArg ? Number(scaleArg.slice('--scale='.length)) : 1;
  if (!(scale > 0)) throw new Error(`bench sim: --scale must be > 0, got ${scaleArg}`);
  const dayUs = Math.round(86_400 * US_PER_S * scale);
  const hourUs = Math.round(3_600 * US_PER_S * scale);
  // Warm the JIT on short runs so the measured ones compare steady states.
  baseline(100_000, 30_000);
  advertising(3_600 * US_PER_S);
  connection(60 * US_PER_S);

  // Best of three: each run is tens of milliseconds, so one GC pause would skew a single one.
  const best = (f: () => Figure): Figure => [f(), f(), f()].reduce((x, y) => (y.wallMs < x.wallMs ? y : x));
  const a = best(() => advertising(dayUs));
  const b = best(() => connection(hourUs));
  const base = best(() => baseline(Math.max(a.events, b.events), 30_000));
  console.log(`node ${process.version}; best of 3 runs each; baseline in the same run: raw scheduler, ${fmt(base.events)} no-op events in ${fmt(base.wallMs, 1)} ms = ${fmt(perEventNs(base), 0)} ns each`);
  console.log(line(`(a) one KW31Z advertising at 1 s for ${fmt(dayUs / US_PER_S)} s, no scanner`, a, base, 100_000));
  console.log(line(`(b) one connection at 30 ms for ${fmt(hourUs / US_PER_S)} s, empty PDUs, both ends charging a ledger`, b, base, 10_000));
}
