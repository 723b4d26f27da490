import { describe, expect, it } from 'vitest';
import { CR2032, projectBatteryLife } from '../../../hal/kw31z/battery.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger, microJoulesPerUnit } from '../../../hal/kw31z/ledger.ts';
import { runDutyCycle } from '../../../scenarios/demo/duty-cycle.ts';

// µJ per unit worked by hand from the cost table's rows (E = I × V × t, 3.6 V supply):
//   CPU    3.0 mA × 3.6 V / 48 cycles per µs = 0.000225 µJ per cycle
//   TX     6.1 mA × 3.6 V = 0.02196 µJ per µs;  RX 6.8 mA × 3.6 V = 0.02448 µJ per µs
//   sleep  1.5 µA × 3.6 V = 0.0000054 µJ per µs
const UJ = { cycle: 0.000225, tx: 0.02196, rx: 0.02448, sleep: 0.0000054 };

describe('Kw31zLedger', () => {
  it('turns meters into µJ with the cost table, per unit as worked by hand', () => {
    const unit = microJoulesPerUnit(KW31Z_COSTS);
    expect(unit.cpuCycles).toBeCloseTo(UJ.cycle, 12);
    expect(unit.radioTxUs).toBeCloseTo(UJ.tx, 12);
    expect(unit.radioRxUs).toBeCloseTo(UJ.rx, 12);
    expect(unit.sleepUs).toBeCloseTo(UJ.sleep, 15);
    // Flash program: 1.5 mA × 3.6 V × 65 µs = 0.351 µJ on top of the stalled CPU.
    expect(unit.flashProgramOps).toBeCloseTo(0.351, 12);
  });

  it('refuses a non-integer or negative meter and keeps what it had', () => {
    let now = 0;
    const ledger = new Kw31zLedger('d', () => now);
    ledger.charge('crypto', { cpuCycles: 1_000 });
    expect(() => ledger.charge('crypto', { cpuCycles: 1.5 })).toThrow(/cpuCycles must be a non-negative integer, got 1.5/);
    expect(() => ledger.charge('crypto', { cpuCycles: -1 })).toThrow(/got -1/);
    now = 10;
    const s = ledger.summary();
    expect(s.activities.find((a) => a.activity === 'crypto')!.meters.cpuCycles).toBe(1_000);
    expect(s.totals.sleepUs).toBe(10);
  });
});

describe('a scripted duty cycle: 60 s advertising at 1 s, then a 30 s connection at 30 ms', () => {
  const run = runDutyCycle({ advIntervalMs: 1_000, advSeconds: 60, connIntervalMs: 30, connSeconds: 30, battery: 'cr2032', seed: 'ledger-test' });

  it('advertising: n events × (456 µs TX, 720 µs RX, 3,000 cycles) and 60 s asleep, in µJ exactly as the table predicts', () => {
    const radio = run.advertising.activities.find((a) => a.activity === 'radio')!;
    // ADV_IND with 3 bytes of AdvData: 19 bytes = 152 µs on each of 3 channels; 3 × 40 µs
    // listening plus 6 warm-ups of 100 µs (hal/kw31z/radio.ts); one link-layer ISR per event.
    const n = radio.meters.radioTxUs / 456;
    expect(Number.isInteger(n)).toBe(true);
    expect(n).toBeGreaterThanOrEqual(59); // 1 s + advDelay 0–10 ms between events
    expect(n).toBeLessThanOrEqual(60);
    expect(radio.meters).toMatchObject({ radioTxUs: 456 * n, radioRxUs: 720 * n, cpuCycles: 3_000 * n });
    const perEventUj = 456 * UJ.tx + 720 * UJ.rx + 3_000 * UJ.cycle;
    expect(perEventUj).toBeCloseTo(28.31436, 9);
    expect(radio.microJoules).toBeCloseTo(n * 28.31436, 6);
    expect(run.advertising.totals.sleepUs).toBe(60_000_000);
    expect(run.advertising.microJoules).toBeCloseTo(n * 28.31436 + 60_000_000 * UJ.sleep, 6);
  });

  it('connection: 1,000 empty events at 80 µs TX, 299 µs RX, 3,000 cycles each on top of the advertising and connecting', () => {
    const adv = run.advertising.activities.find((a) => a.activity === 'radio')!.meters;
    const all = run.total.activities.find((a) => a.activity === 'radio')!.meters;
    expect(run.connected).toBe(true);
    // Between the two summaries: the advertising events until CONNECT_IND, the first
    // connection event (its window widens over 1.25 ms, not 30 ms) and then the run.
    const extraCycles = all.cpuCycles - adv.cpuCycles;
    const events = extraCycles / 3_000;
    expect(Number.isInteger(events)).toBe(true);
    // 30 s at 30 ms is 1,000 events, plus at most one advertising event and the first one or two of the link.
    expect(events).toBeGreaterThanOrEqual(1_000);
    expect(events).toBeLessThanOrEqual(1_003);
    // Energy is the meters priced by the table, nothing else.
    const m = run.total.totals;
    expect(run.total.microJoules).toBeCloseTo(m.cpuCycles * UJ.cycle + m.radioTxUs * UJ.tx + m.radioRxUs * UJ.rx + m.sleepUs * UJ.sleep, 6);
  });

  it('projects a CR2032 by the documented formula: 1,944 J / mean power', () => {
    const p = run.projection;
    const meanUw = (run.total.microJoules * 1e6) / run.total.elapsedUs;
    expect(p.averageMicroWatts).toBeCloseTo(meanUw, 9);
    expect(p.lifeHours).toBeCloseTo(1_944_000_000 / meanUw / 3_600, 6);
    expect(projectBatteryLife(CR2032, run.total.microJoules, run.total.elapsedUs)).toEqual(p);
  });
});
