// The scenario ph/calibrate-and-measure: what it declares, checked against the devices themselves
// (the electrode's true line, the buffer tables, the GLP verifier), and that it repeats. Not the parts' tests.

import { describe, expect, it } from 'vitest';
import { bufferPhAt, US_BUFFERS } from '../../../devices/ph-meter/buffers.ts';
import { runCalibrateAndMeasure } from '../../../scenarios/ph/calibrate-and-measure.ts';
import { RESPONSE_STATUS } from '../../../src/session/wire-session.ts';

describe('scenario ph/calibrate-and-measure', () => {
  const r = runCalibrateAndMeasure({ seed: 'cm-test' });

  it('the patient is refused, the clinician calibrates with 3 buffers, within 0.1 % / 0.1 mV of the probe', () => {
    expect(r.patientCalibrationStatus).toBe(RESPONSE_STATUS.insufficientRole);
    expect(r.points.map((p) => [p.buffer, p.ok])).toEqual([
      ['us-7.00', true],
      ['us-4.01', true],
      ['us-10.01', true],
    ]);
    const truth = r.meter.meter.probe.electrode.lineAt(r.rig.world.nowUs);
    expect(r.calibration?.failure).toBe(0);
    // The answer carries 0.01 % and 0.01 mV: compare within those plus the tolerance.
    expect(Math.abs(r.calibration!.slopePercent - truth.slopeFraction * 100)).toBeLessThanOrEqual(0.1);
    expect(Math.abs(r.calibration!.offsetMv - truth.offsetMv)).toBeLessThanOrEqual(0.1);
  });

  it('nine readings: each buffer at 5, 25 and 45 °C, ±0.02 pH at 25 °C and ±0.05 pH compensated', () => {
    expect(r.measurements.map((m) => [m.tempC, m.buffer])).toEqual([5, 25, 45].flatMap((t) => ['us-4.01', 'us-7.00', 'us-10.01'].map((b) => [t, b])));
    for (const m of r.measurements) {
      const b = US_BUFFERS.buffers.find((x) => x.id === m.buffer)!;
      const expected = bufferPhAt(b, m.tempC);
      expect(expected.ok && m.expectedPh).toBe(expected.ok ? expected.ph : undefined);
      expect(m.stable).toBe(true);
      expect(Math.abs(m.errorPh!), `${m.buffer} at ${m.tempC} °C`).toBeLessThanOrEqual(m.tempC === 25 ? 0.02 : 0.05);
    }
  });

  it('the old probe fails on slope (below 85 %), and the GLP export verifies while an edit is caught', () => {
    expect(r.oldProbe?.failure).toBe(1);
    expect(r.oldProbe!.slopePercent).toBeLessThan(85);
    expect(r.sync.ok && [r.sync.firstSeq, r.sync.lastSeq]).toEqual([1, 9]);
    expect(r.verified?.ok).toBe(true);
    expect(r.tampered).toMatchObject({ ok: false, code: 'edited', atSeq: 5 });
    expect(r.meter.meter.glp.acknowledgedSeq).toBe(9);
    expect(r.ok).toBe(true);
  });

  it('same seed ⇒ same trace and story', () => {
    const again = runCalibrateAndMeasure({ seed: 'cm-test' });
    expect(again.story).toEqual(r.story);
    expect(again.rig.world.trace.toJsonLines()).toBe(r.rig.world.trace.toJsonLines());
  });
});
