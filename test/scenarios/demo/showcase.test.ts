// The showcase (npm start): both devices on one air. Same seed ⇒ same trace; what it declares holds,
// each from the devices' own state, not from the story's text. Not the CLI's output (test/cli/).

import { describe, expect, it } from 'vitest';
import { runShowcase } from '../../../scenarios/demo/showcase.ts';

describe('the showcase (npm start)', () => {
  it('same seed ⇒ byte-identical trace; another seed differs', () => {
    const a = runShowcase({ seed: 'sc' });
    const b = runShowcase({ seed: 'sc' });
    expect(b.rig.world.trace.toJsonLines()).toBe(a.rig.world.trace.toJsonLines());
    expect(runShowcase({ seed: 'other' }).rig.world.trace.toJsonLines()).not.toBe(a.rig.world.trace.toJsonLines());
  });

  it('the pump: paired, 1 U delivered by the motor, one lockout failure (mallory), stopped by the button', () => {
    const r = runShowcase({ seed: 'sc-pump' });
    expect(r.checks).toEqual({ comparisonMatched: true, bolusDelivered: true, statusOverSession: true, malloryRefused: true, meterCalibrated: true, meterMeasured: true, glpVerified: true, stopStopped: true });
    expect(r.ok).toBe(true);
    // Priming 2 U + the 1 U bolus + basal at 0.8 U/h for the time it ran, on the motor itself.
    expect(r.pump.journal.reservoirRemainingMilliUnits()).toBeLessThanOrEqual(47_000);
    expect(r.pump.therapy.status().therapyControlState).toBe('stop');
    expect(r.pump.device.lockout.status().failures).toBe(1);
    // Alice's pairing: one ECDH plus a few hundred AES blocks, within its budget.
    expect(r.pairingCpuMs).toBeGreaterThan(937.5);
    expect(r.pairingCpuMs).toBeLessThan(1_000);
    expect(r.pairingBudgets.every((b) => b.ok)).toBe(true);
  });

  it('the meter: calibration #1 in force, one GLP record, acknowledged nowhere (the sync only reads)', () => {
    const r = runShowcase({ seed: 'sc-meter' });
    expect(r.meter.meter.calibration()?.id).toBe(1);
    expect(r.meter.meter.glp.lastSeq).toBe(1);
    expect(r.meter.meter.glp.acknowledgedSeq).toBe(0);
    expect(r.costs.map((c) => c.battery)).toEqual(['aaa-alkaline', 'cr2032']);
  });
});
