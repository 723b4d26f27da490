// Tests of the therapy/day-in-the-life scenario: what it declares holds, its figures are stable for the seed, and the same seed gives the same trace.
// Not the pump's unit tests (test/devices/insulin-pump/).

import { describe, expect, it } from 'vitest';
import { DAY_BASAL_PROFILE, runDayInTheLife, type DayReport } from '../../../scenarios/therapy/day-in-the-life.ts';

const US_PER_H = 3_600_000_000;

/**
 * The basal the profile asks for over the report's timeline, mU × µs/h, integrated here on its
 * own: the block boundaries of DAY_BASAL_PROFILE are written out (00, 03, 07, 12, 18 h), and a
 * relative TBR scales the block rate by its percent while it runs.
 */
function expectedBasalScaled(r: DayReport, endUs: number): bigint {
  const bounds = [0, 3, 7, 12, 18, 24].map((h) => h * US_PER_H);
  const rates = [700, 950, 800, 600, 750];
  const days = [0, 24 * US_PER_H];
  const cuts = new Set<number>([...days.flatMap((d) => bounds.map((b) => d + b)).filter((b) => b < endUs), ...r.basalTimeline.map((e) => e.atUs), endUs]);
  const instants = [...cuts].sort((a, b) => a - b);
  let total = 0n;
  for (let i = 0; i + 1 < instants.length; i++) {
    const [a, b] = [instants[i]!, instants[i + 1]!];
    const before = r.basalTimeline.filter((e) => e.atUs <= a);
    const lastRun = before.filter((e) => e.what === 'run' || e.what === 'halt').at(-1);
    if (lastRun?.what !== 'run') continue;
    const lastTbr = before.filter((e) => e.what === 'tbr-start' || e.what === 'tbr-end').at(-1);
    const percent = lastTbr?.what === 'tbr-start' ? BigInt(lastTbr.percent ?? 100) : 100n;
    const tod = a % (24 * US_PER_H); // midnight = device time 0, every day
    const block = bounds.findIndex((x, k) => tod >= x && tod < bounds[k + 1]!);
    total += (BigInt(rates[block]!) * percent * BigInt(b - a)) / 100n;
  }
  return total;
}

describe('therapy/day-in-the-life', () => {
  const r = runDayInTheLife();

  it('holds what it declares', () => {
    expect(r.ok).toBe(true);
    expect(r.polls).toBe(288);
    expect(r.pollFailures).toBe(0);
    expect(r.limitsHeld).toBe(true);
  });

  it('follows the five-block profile: programmed basal is the profile integral over the running time, delivered within one pulse of it', () => {
    expect(r.readBack).toEqual(DAY_BASAL_PROFILE);
    // One run from just after pairing, the occlusion halt at ~14:05, the run again at 14:50, and the 16:00–18:00 TBR.
    expect(r.basalTimeline.map((e) => e.what)).toEqual(['run', 'halt', 'run', 'tbr-start', 'tbr-end']);
    const expected = Number(expectedBasalScaled(r, r.rig.world.nowUs) / 3_600_000_000n);
    expect(r.programmed.basalMilliUnits).toBe(expected);
    // 18.0 U a day less the 45 min stopped at 0.60 U/h (0.45 U) and half of 2 h at 0.60 U/h (0.60 U).
    expect(Math.abs(expected - (18_000 - 450 - 600))).toBeLessThan(10);
    expect(r.delivered.basalMilliUnits).toBeLessThanOrEqual(r.programmed.basalMilliUnits);
    expect(r.programmed.basalMilliUnits - r.delivered.basalMilliUnits).toBeLessThan(50);
    expect(r.delivered.bolusMilliUnits).toBeLessThanOrEqual(r.programmed.bolusMilliUnits);
    expect(r.programmed.bolusMilliUnits).toBe(5_000 + 6_000 + 7_000);
    expect(r.delivered.bolusMilliUnits).toBe(18_000);
  });

  it('detects the afternoon occlusion and raises its annunciation, then reservoir low', () => {
    const types = r.rig.pump.raised.map((a) => a.type);
    expect(types).toContain('occlusionDetected');
    expect(types).toContain('reservoirLow');
    const at = r.occlusionDetectedAtUs ?? 0;
    expect(at).toBeGreaterThan(14 * 3_600e6);
    expect(at).toBeLessThan(14.5 * 3_600e6);
    expect(r.maxBolusRefusedCode).toBe(0x73);
  });

  it('same seed ⇒ same trace', () => {
    const layers = ['motor', 'session', 'pairing'];
    const a = runDayInTheLife({ traceLayers: layers, hours: 16 });
    const b = runDayInTheLife({ traceLayers: layers, hours: 16 });
    expect(a.rig.world.trace.records.length).toBeGreaterThan(1_000);
    expect(JSON.stringify(b.rig.world.trace.records)).toBe(JSON.stringify(a.rig.world.trace.records));
    expect(b.story).toEqual(a.story);
    expect(b.ledger.microJoules).toBe(a.ledger.microJoules);
  });
});
