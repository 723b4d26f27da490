// Tests of the therapy/day-in-the-life scenario: what it declares holds, its figures are stable for the seed, and the same seed gives the same trace.
// Not the pump's unit tests (test/devices/insulin-pump/).

import { describe, expect, it } from 'vitest';
import { runDayInTheLife } from '../../../scenarios/therapy/day-in-the-life.ts';

describe('therapy/day-in-the-life', () => {
  const r = runDayInTheLife();

  it('holds what it declares', () => {
    expect(r.ok).toBe(true);
    expect(r.polls).toBe(288);
    expect(r.pollFailures).toBe(0);
    expect(r.limitsHeld).toBe(true);
  });

  it('delivers no more than programmed, with figures stable for the seed', () => {
    expect(r.delivered.basalMilliUnits).toBeLessThanOrEqual(r.programmed.basalMilliUnits);
    expect(r.delivered.bolusMilliUnits).toBeLessThanOrEqual(r.programmed.bolusMilliUnits);
    expect(r.programmed).toEqual({ basalMilliUnits: 17_783, bolusMilliUnits: 18_000 });
    expect(r.delivered).toEqual({ basalMilliUnits: 17_750, bolusMilliUnits: 18_000 });
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
