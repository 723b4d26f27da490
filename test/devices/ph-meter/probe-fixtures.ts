// Test fixture for the pH probe: a world, a ledger and the simulated probe on the real Kw31zAdc,
// with a helper that reads one sample through the ProbeReader. Not a test itself.

import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import type { Activity, MeterName } from '../../../hal/ledger.ts';
import type { ProbeSample } from '../../../devices/ph-meter/probe.ts';
import { createPhProbe, type PhProbeOptions } from '../../../devices/ph-meter/simulated-probe.ts';
import { World } from '../../../src/sim/world.ts';

export const DEVICE = 'ph-meter';
export const US_PER_S = 1_000_000;

export function probeRig(opts: Partial<Omit<PhProbeOptions, 'world' | 'device' | 'ledger'>> & { seed?: string } = {}) {
  const { seed, ...rest } = opts;
  const world = new World({ seed: seed ?? 'probe-test' });
  const ledger = new Kw31zLedger(DEVICE, () => world.nowUs);
  const probe = createPhProbe({ world, device: DEVICE, ledger, ...rest });
  /** One sample, started now; the world runs event by event until it is in. */
  const read = (): ProbeSample =>
    world.settle<ProbeSample>((done) => {
      const r = probe.reader.read(done);
      if (!r.ok) throw new Error(`read refused: ${r.code}`);
    });
  /** Read at each of `timesUs` (absolute, increasing). */
  const readAt = (timesUs: readonly number[]): ProbeSample[] =>
    timesUs.map((t) => {
      world.runUntil(t);
      return read();
    });
  const meters = (a: Activity): Readonly<Record<MeterName, number>> =>
    ledger.summary().activities.find((x) => x.activity === a)!.meters;
  return { world, ledger, probe, read, readAt, meters };
}

export function mustNumber(v: number | undefined, what: string): number {
  if (v === undefined) throw new Error(`no ${what}`);
  return v;
}
