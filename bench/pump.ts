// Bench: wall time of the therapy/day-in-the-life scenario (24 h simulated) and its speed-up over real time, against the same day with the pump idle (no phone, basal only) in the same run.
// Not a test: it asserts nothing; the figures compare as ratios measured in the same run.

import { DAY_BASAL_PROFILE, pumpRig, runDayInTheLife } from '../scenarios/therapy/day-in-the-life.ts';
import { US_PER_S } from '../src/sim/scheduler.ts';

const DAY_S = 86_400;

/** The scenario, end to end (rig built inside). */
function day(): number {
  const t0 = performance.now(); // wall-clock: bench only
  const r = runDayInTheLife();
  const ms = performance.now() - t0; // wall-clock: bench only
  if (!r.ok) throw new Error('bench pump: the scenario did not hold');
  return ms;
}

/** Baseline: the same pump and world, 24 h of basal only, no phone on the air (the pump advertises). */
function idle(): number {
  const t0 = performance.now(); // wall-clock: bench only
  const rig = pumpRig({ seed: 'bench-idle' });
  const { pump, world } = rig;
  const fill = pump.therapy.setInitialReservoirFillLevel(50_000);
  if (!fill.ok || !pump.engine.fillReservoir(50_000).ok) throw new Error('bench pump: fill');
  pump.therapy.preparingDone();
  pump.therapy.startPriming(2_000);
  world.runFor(10 * US_PER_S);
  if (!pump.port.writeBasalTemplate({ endTransaction: false, templateNumber: 1, firstTimeBlockIndex: 1, blocks: DAY_BASAL_PROFILE.slice(0, 3) }).ok) throw new Error('bench pump: template');
  if (!pump.port.writeBasalTemplate({ endTransaction: true, templateNumber: 1, firstTimeBlockIndex: 4, blocks: DAY_BASAL_PROFILE.slice(3) }).ok) throw new Error('bench pump: template');
  if (!pump.therapy.activateBasalProfile(1).ok) throw new Error('bench pump: activate');
  if (!pump.therapy.setTherapyControlState('run').ok) throw new Error('bench pump: run');
  world.runFor(DAY_S * US_PER_S);
  return performance.now() - t0; // wall-clock: bench only
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

export async function run(_args: string[]): Promise<void> {
  // Warm the JIT once each, then best of three.
  day();
  idle();
  const best = (f: () => number): number => Math.min(f(), f(), f());
  const d = best(day);
  const i = best(idle);
  console.log(`node ${process.version}; best of 3 runs each, after one warm-up`);
  console.log(`therapy/day-in-the-life (24 h: pairing ×2, 288 polls over the session, meals, TBR, occlusion): ${fmt(d, 1)} ms wall = ${fmt(DAY_S / (d / 1000))}× real time (goal < 2,000 ms: ${d < 2000 ? 'met' : 'NOT met'})`);
  console.log(`baseline, same pump idle (basal only, no phone): ${fmt(i, 1)} ms wall = ${fmt(DAY_S / (i / 1000))}× real time; the day costs ${fmt(d / i, 1)}× the idle day`);
}
