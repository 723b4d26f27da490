// The scenario ph/battery on a 3 h slice of its duty cycle: every minute's reading logged and verified
// downstream, one sync an hour, and the projection the ledger gives. Not the ledger's own tests.

import { describe, expect, it } from 'vitest';
import { CR2032, projectBatteryLife } from '../../../hal/kw31z/battery.ts';
import { runBatteryDay } from '../../../scenarios/ph/battery.ts';

describe('scenario ph/battery', () => {
  const r = runBatteryDay({ seed: 'ph-battery-test', hours: 3 });

  it('a reading a minute for 3 h: 179 logged (the 180th falls after the last sync), all verified, none lost', () => {
    expect([r.logged, r.failed, r.syncs, r.verifiedRecords]).toEqual([180 - 1, 0, 3, 179]);
    expect(r.syncFailures).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it('the steady state excludes the first pairing, spans the 3 h, and projects over a year on a CR2032', () => {
    // The span runs from after the pairing to the last hang-up: 3 h plus the last sync's second.
    expect(r.steady.elapsedUs).toBeGreaterThanOrEqual(3 * 3600e6);
    expect(r.steady.elapsedUs).toBeLessThan(3 * 3600e6 + 10e6);
    expect(r.projection).toEqual(projectBatteryLife(CR2032, r.steady.microJoules, r.steady.elapsedUs));
    expect(r.projection.lifeDays).toBeGreaterThan(365.25);
    // Advertising at 1 s between syncs is what costs most: more than half of the energy.
    expect(r.ranking[0]!.activity).toBe('radio');
    expect(r.ranking[0]!.share).toBeGreaterThan(0.5);
  });
});
