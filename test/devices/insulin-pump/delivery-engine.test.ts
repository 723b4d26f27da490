// Tests for the delivery engine: basal spacing and carried fractions, bolus pulse instants, stop/pause
// within one pulse, occlusion, reservoir, battery, per-pulse limits. Not limits-only or power-cut tests.

import { describe, expect, it } from 'vitest';
import { MOTOR_STEP_US } from '../../../hal/kw31z/motor.ts';
import { deliverableMicroJoules, AAA_ALKALINE } from '../../../hal/kw31z/battery.ts';
import {
  BOLUS_PULSE_INTERVAL_US,
  INSULIN_ACTION_MINUTES,
  OCCLUSION_DETECT_MAX_PULSES,
  type DeliveryEvent,
} from '../../../devices/insulin-pump/delivery-engine.ts';
import { must, pulsesOf, rig, startTherapy, US_PER_H, US_PER_MIN, US_PER_S } from './delivery-fixtures.ts';

const PULSE_ACCRUAL = 50n * 3_600_000_000n * 100n;
/** Instant of basal pulse k at a constant rate from t0: ⌈k × 50 mU × 1 h / R⌉ µs, in exact integers. */
const basalInstantUs = (k: number, rateMilliUnitsPerHour: number, t0 = 0): number => {
  const num = BigInt(k) * PULSE_ACCRUAL;
  const den = BigInt(rateMilliUnitsPerHour) * 100n;
  return t0 + Number((num + den - 1n) / den);
};

const ofType = <T extends DeliveryEvent['type']>(events: readonly DeliveryEvent[], type: T) =>
  events.filter((e): e is Extract<DeliveryEvent, { type: T }> => e.type === type);

describe('basal', () => {
  it('1.0 U/h for 3 h delivers exactly 60 pulses, one every 180 s', () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    r.world.runUntil(3 * US_PER_H + US_PER_S);
    must(r.fw.engine.pause());
    r.world.runFor(US_PER_H);
    expect(r.stepStartsUs()).toEqual(Array.from({ length: 60 }, (_, i) => (i + 1) * 180 * US_PER_S));
    expect(r.fw.journal.pulses().basal).toBe(60);
    expect(r.motor.totalSteps).toBe(60);
  });

  it('0.325 U/h carries its fractions exactly over 24 h: 156 pulses at ⌈k × 553.846 s⌉, none lost', () => {
    const r = rig({ noiseKpa: 0, traceMotor: true });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 325 });
    r.world.runUntil(24 * US_PER_H);
    const starts = r.stepStartsUs();
    expect(starts).toEqual(Array.from({ length: 156 }, (_, i) => basalInstantUs(i + 1, 325)));
    // 7.8 U a day is exactly 156 pulses; the last falls on the 24 h mark.
    expect(starts[155]).toBe(24 * US_PER_H);
    // Each hour holds 6 or 7 pulses (6.5 an hour), evenly spread.
    for (let h = 0; h < 24; h++) {
      const n = starts.filter((t) => t > h * US_PER_H && t <= (h + 1) * US_PER_H).length;
      expect([6, 7]).toContain(n);
    }
  });

  it('carries a half pulse across a rate change: never lost, never doubled', () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    r.world.runUntil(90 * US_PER_S); // half a pulse accrued at 1 U/h
    must(r.fw.engine.setBasalRate(2_000)); // the other half takes 45 s at 2 U/h
    r.world.runUntil(135 * US_PER_S + 1);
    expect(r.stepStartsUs()).toEqual([135 * US_PER_S]);
    r.world.runUntil(225 * US_PER_S + 1);
    expect(r.stepStartsUs()).toEqual([135 * US_PER_S, 225 * US_PER_S]);
  });

  it('a temporary basal overrides the profile (absolute and relative) and ends with tbr.done', () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    must(r.fw.engine.setTempBasal({ kind: 'absolute', rateMilliUnitsPerHour: 3_000, durationMinutes: 60 }));
    r.world.runUntil(US_PER_H + US_PER_S);
    // The 60th pulse became due as the TBR ended (3600 s): it is the TBR's.
    expect(r.fw.journal.pulses()).toMatchObject({ tempBasal: 60, basal: 0 });
    expect(ofType(r.fw.events, 'tbr.done')).toHaveLength(1);
    expect(r.fw.engine.activeTempBasal).toBeUndefined();
    must(r.fw.engine.setTempBasal({ kind: 'relative', percent: 50, durationMinutes: 60 }));
    expect(r.fw.engine.effectiveBasalRateMilliUnitsPerHour).toBe(500);
    r.world.runUntil(2 * US_PER_H + US_PER_S);
    expect(r.fw.journal.pulses()).toMatchObject({ tempBasal: 70, basal: 0 });
    r.world.runUntil(3 * US_PER_H + US_PER_S);
    expect(r.fw.journal.pulses()).toMatchObject({ tempBasal: 70, basal: 20 });
  });

  it('a pause keeps the fraction: 1 U/h paused at 90 s for 10 min pulses 90 s after resuming', () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    r.world.runUntil(90 * US_PER_S);
    must(r.fw.engine.pause());
    r.world.runUntil(690 * US_PER_S);
    must(r.fw.engine.start());
    r.world.runUntil(781 * US_PER_S);
    expect(r.stepStartsUs()).toEqual([780 * US_PER_S]);
  });
});

describe('bolus', () => {
  it(`fast: 1 U is 20 pulses, one every ${BOLUS_PULSE_INTERVAL_US / US_PER_S} s from the request`, () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw);
    r.world.runUntil(10 * US_PER_S);
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 1_000 }));
    r.world.runUntil(US_PER_H);
    expect(r.stepStartsUs()).toEqual(Array.from({ length: 20 }, (_, k) => 10 * US_PER_S + k * 2 * US_PER_S));
    expect(ofType(r.fw.events, 'bolus.done')).toEqual([{ type: 'bolus.done', bolusId: 1, deliveredMilliUnits: 1_000, kind: 'fast', deliveredFastMilliUnits: 1_000, deliveredExtendedMilliUnits: 0, effectiveDurationMinutes: 0 }]);
    expect(r.fw.journal.pulses().bolusFast).toBe(20);
    expect(r.fw.engine.activeBolus).toBeUndefined();
  });

  it('extended: 1 U over 30 min is 20 pulses at t0 + 90 s × j, the last at t0 + 30 min', () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw);
    r.world.runUntil(5 * US_PER_S);
    must(r.fw.engine.startBolus({ kind: 'extended', bolusId: 2, amountMilliUnits: 1_000, durationMinutes: 30 }));
    r.world.runUntil(US_PER_H);
    expect(r.stepStartsUs()).toEqual(Array.from({ length: 20 }, (_, j) => 5 * US_PER_S + (j + 1) * 90 * US_PER_S));
    expect(r.fw.journal.pulses().bolusExtended).toBe(20);
    // Bolus Delivered's parts: all extended, over the 30 min it ran (the last pulse starts at t0 + 30 min).
    expect(ofType(r.fw.events, 'bolus.done')).toEqual([{ type: 'bolus.done', bolusId: 2, deliveredMilliUnits: 1_000, kind: 'extended', deliveredFastMilliUnits: 0, deliveredExtendedMilliUnits: 1_000, effectiveDurationMinutes: 30 }]);
  });

  it('multiwave: the fast part, then the extended part over its duration from the last fast pulse', () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw);
    must(r.fw.engine.startBolus({ kind: 'multiwave', bolusId: 3, fastMilliUnits: 500, extendedMilliUnits: 500, durationMinutes: 10 }));
    r.world.runUntil(US_PER_H);
    const fast = Array.from({ length: 10 }, (_, k) => k * 2 * US_PER_S);
    const extendedFromUs = 18 * US_PER_S + MOTOR_STEP_US; // the last fast pulse's stepsDone
    const extended = Array.from({ length: 10 }, (_, j) => extendedFromUs + (j + 1) * US_PER_MIN);
    expect(r.stepStartsUs()).toEqual([...fast, ...extended]);
    expect(r.fw.journal.pulses()).toMatchObject({ bolusFast: 10, bolusExtended: 10 });
    expect(ofType(r.fw.events, 'bolus.done')).toHaveLength(1);
  });

  it('shares the motor with basal: a tie goes to basal, the bolus follows 100 ms later and keeps its schedule', () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    r.world.runUntil(176 * US_PER_S);
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 4, amountMilliUnits: 200 }));
    r.world.runUntil(200 * US_PER_S);
    expect(r.stepStartsUs()).toEqual([176, 178, 180, 180.1, 182].map((s) => Math.round(s * US_PER_S)));
    expect(pulsesOf(r.fw.events).map((p) => p.kind)).toEqual(['bolusFast', 'bolusFast', 'basal', 'bolusFast', 'bolusFast']);
  });

  it('refuses a bolus when not running, a second bolus, and amounts that are not whole pulses', () => {
    const r = rig();
    must(r.fw.engine.fillReservoir(100_000));
    expect(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 1_000 })).toMatchObject({ ok: false, code: 'not-running' });
    must(r.fw.engine.start());
    expect(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 1_025 })).toMatchObject({ ok: false, code: 'invalid' });
    expect(r.fw.engine.startBolus({ kind: 'extended', bolusId: 1, amountMilliUnits: 1_000, durationMinutes: 0 })).toMatchObject({ ok: false, code: 'invalid' });
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 1_000 }));
    expect(r.fw.engine.startBolus({ kind: 'fast', bolusId: 2, amountMilliUnits: 100 })).toMatchObject({ ok: false, code: 'bolus-active' });
    expect(r.fw.engine.cancelBolus(2)).toMatchObject({ ok: false, code: 'no-bolus' });
    r.world.runUntil(3 * US_PER_S);
    must(r.fw.engine.cancelBolus(1));
    r.world.runUntil(US_PER_H);
    // Pulses at 0 and 2 s were made; the cancel at 3 s lets none start after it.
    expect(r.stepStartsUs()).toEqual([0, 2 * US_PER_S]);
    expect(ofType(r.fw.events, 'bolus.cancelled')).toEqual([
      { type: 'bolus.cancelled', bolusId: 1, deliveredMilliUnits: 100, programmedMilliUnits: 1_000, reason: 'user', kind: 'fast', deliveredFastMilliUnits: 100, deliveredExtendedMilliUnits: 0, effectiveDurationMinutes: 0 },
    ]);
  });

  it('reports insulin on board with the linear 4 h action curve', () => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 1_000 }));
    r.world.runUntil(38 * US_PER_S + MOTOR_STEP_US);
    const iobNow = r.fw.engine.insulinOnBoardMilliUnits();
    expect(iobNow).toBeGreaterThan(995);
    expect(iobNow).toBeLessThanOrEqual(1_000);
    r.world.runUntil((INSULIN_ACTION_MINUTES / 2) * US_PER_MIN);
    const half = r.fw.engine.insulinOnBoardMilliUnits();
    expect(half).toBeGreaterThanOrEqual(500);
    expect(half).toBeLessThan(510);
    r.world.runUntil(INSULIN_ACTION_MINUTES * US_PER_MIN + US_PER_MIN);
    expect(r.fw.engine.insulinOnBoardMilliUnits()).toBe(0);
  });
});

describe('stop and pause within one pulse', () => {
  /** Request instants over a fast bolus on top of a fast basal: on pulse instants, mid-step, between. */
  const instantsUs = [
    0, 1, 50_000, 99_999, 100_000, 100_001, 1_999_999, 2_000_000, 2_050_000, 5_432_100, 10_000_000, 36_000_000,
    36_000_001, 36_099_999, 36_100_000, 37_000_000, 38_000_000, 38_100_000, 72_000_000, 100_000_000,
  ];
  it.each(instantsUs.flatMap((t) => [['stop', t] as const, ['pause', t] as const]))('%s at %i µs: no pulse starts after it', (how, atUs) => {
    const r = rig({ noiseKpa: 0 });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 2_500 }); // a pulse every 72 s
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 9, amountMilliUnits: 2_000 }));
    r.world.runUntil(atUs);
    const stepsAtRequest = r.motor.totalSteps;
    must(how === 'stop' ? r.fw.engine.stop() : r.fw.engine.pause());
    r.world.runFor(2 * US_PER_H);
    for (const t of r.stepStartsUs()) expect(t).toBeLessThanOrEqual(atUs);
    // At most the step already moving completes.
    expect(r.motor.totalSteps - stepsAtRequest).toBeLessThanOrEqual(1);
    expect(r.fw.journal.totalPulses()).toBe(r.motor.totalSteps);
    expect(r.fw.engine.state).toBe(how === 'stop' ? 'stopped' : 'paused');
    expect(r.fw.engine.activeBolus).toBeUndefined();
  });
});

describe('occlusion', () => {
  it(`is detected within ${OCCLUSION_DETECT_MAX_PULSES} pulses of a blockage during basal: stop, event, no more pulses`, () => {
    const r = rig();
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    r.world.runUntil(1_000 * US_PER_S);
    const before = r.motor.totalSteps;
    r.motor.injectOcclusion();
    r.world.runFor(2 * US_PER_H);
    const occlusions = ofType(r.fw.events, 'occlusion');
    expect(occlusions).toHaveLength(1);
    expect(r.motor.totalSteps - before).toBeGreaterThanOrEqual(1);
    expect(r.motor.totalSteps - before).toBeLessThanOrEqual(OCCLUSION_DETECT_MAX_PULSES);
    expect(r.fw.engine.state).toBe('stopped');
    expect(ofType(r.fw.events, 'state.changed').at(-1)).toEqual({ type: 'state.changed', state: 'stopped', reason: 'occlusion' });
  });

  it('is detected within the limit during a fast bolus right after boot (no reading before the blockage)', () => {
    const r = rig();
    r.motor.injectOcclusion();
    startTherapy(r.fw);
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 5, amountMilliUnits: 2_000 }));
    r.world.runFor(US_PER_H);
    expect(r.motor.totalSteps).toBeLessThanOrEqual(OCCLUSION_DETECT_MAX_PULSES);
    expect(ofType(r.fw.events, 'occlusion')).toHaveLength(1);
    expect(ofType(r.fw.events, 'bolus.cancelled')[0]).toMatchObject({ bolusId: 5, reason: 'occlusion' });
  });

  it('raises no false alarm over a day of normal basal and boluses with the seeded sensor noise', () => {
    const r = rig({ seed: 'no-false-alarm', traceMotor: false });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    for (const [h, id] of [[7, 1], [12, 2], [19, 3]] as const) {
      r.world.runUntil(h * US_PER_H);
      must(r.fw.engine.startBolus({ kind: 'fast', bolusId: id, amountMilliUnits: 4_000 }));
    }
    r.world.runUntil(24 * US_PER_H + US_PER_S);
    expect(ofType(r.fw.events, 'occlusion')).toEqual([]);
    expect(r.fw.engine.state).toBe('running');
    expect(r.fw.journal.pulses()).toMatchObject({ basal: 480, bolusFast: 240 });
  });
});

describe('reservoir and battery', () => {
  it('warns once at the low threshold, then stops with reservoir.empty when less than a pulse is left', () => {
    const r = rig({ noiseKpa: 0, reservoirLowMilliUnits: 500 });
    startTherapy(r.fw, { fillMilliUnits: 1_000 });
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 1_500 }));
    r.world.runFor(US_PER_H);
    expect(ofType(r.fw.events, 'reservoir.low')).toEqual([{ type: 'reservoir.low', remainingMilliUnits: 500 }]);
    expect(ofType(r.fw.events, 'reservoir.empty')).toEqual([{ type: 'reservoir.empty', remainingMilliUnits: 0 }]);
    expect(r.motor.totalSteps).toBe(20);
    expect(r.fw.engine.state).toBe('stopped');
    // The low warning came with the 10th pulse.
    const lowAt = r.fw.events.findIndex((e) => e.type === 'reservoir.low');
    expect(pulsesOf(r.fw.events.slice(0, lowAt))).toHaveLength(10);
    expect(r.fw.engine.start()).toMatchObject({ ok: false, code: 'reservoir-empty' });
    expect(ofType(r.fw.events, 'bolus.cancelled')[0]).toMatchObject({ reason: 'reservoir-empty', deliveredMilliUnits: 1_000 });
  });

  it('refuses to start before any fill', () => {
    const r = rig();
    expect(r.fw.engine.start()).toMatchObject({ ok: false, code: 'reservoir-empty' });
  });

  it('reports battery.low once, when a part-used AAA crosses the threshold', () => {
    // 15 % left plus 3 mJ: a few pulses (300 µJ of stepper each) and sleep take it under.
    const r = rig({ noiseKpa: 0, batteryUsedFraction: 0.85 - 3_000 / deliverableMicroJoules(AAA_ALKALINE) });
    expect(r.power.battery()).toMatchObject({ levelPercent: 15, low: false });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 0 });
    expect(ofType(r.fw.events, 'battery.low')).toEqual([]);
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 1_000 }));
    r.world.runFor(US_PER_H);
    expect(ofType(r.fw.events, 'battery.low')).toEqual([{ type: 'battery.low', levelPercent: 14 }]);
    expect(r.power.battery().low).toBe(true);
  });
});

describe('hard limits at every pulse', () => {
  const limits = { maxBolusMilliUnits: 2_000, maxBasalRateMilliUnitsPerHour: 1_000, maxDailyMilliUnits: 3_000 };

  it('refuses commands over a limit with its code and changes nothing', () => {
    const r = rig({ limits });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    expect(r.fw.engine.setBasalRate(1_050)).toMatchObject({ ok: false, code: 'max-basal' });
    expect(r.fw.engine.setBasalRate(6_000)).toMatchObject({ ok: false, code: 'out-of-bounds' });
    expect(r.fw.engine.setTempBasal({ kind: 'relative', percent: 110, durationMinutes: 30 })).toMatchObject({ ok: false, code: 'max-basal' });
    expect(r.fw.engine.setTempBasal({ kind: 'absolute', rateMilliUnitsPerHour: 1_100, durationMinutes: 30 })).toMatchObject({ ok: false, code: 'max-basal' });
    expect(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 2_050 })).toMatchObject({ ok: false, code: 'max-bolus' });
    expect(r.fw.engine.startBolus({ kind: 'multiwave', bolusId: 1, fastMilliUnits: 1_000, extendedMilliUnits: 1_050, durationMinutes: 30 })).toMatchObject({
      ok: false,
      code: 'max-bolus',
    });
    expect(r.fw.engine.setLimits({ ...limits, maxDailyMilliUnits: 90_000 })).toMatchObject({ ok: false, code: 'out-of-bounds' });
    expect(r.fw.engine.basalRateMilliUnitsPerHour).toBe(1_000);
    expect(r.fw.engine.activeBolus).toBeUndefined();
  });

  it('makes no pulse that would exceed max daily: limit.reached, basal skips, a bolus is cancelled', () => {
    const r = rig({ noiseKpa: 0, limits });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    r.world.runUntil(US_PER_H + 150 * US_PER_S); // 20 basal pulses: 1 U
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 2_000 })); // 1 + 2 = 3 U: allowed
    r.world.runUntil(US_PER_H + 300 * US_PER_S);
    // The basal pulse due at 1 h 3 min, mid-bolus, used one pulse of the room: the bolus's last is refused.
    expect(r.fw.journal.pulses()).toMatchObject({ basal: 21, bolusFast: 39 });
    expect(ofType(r.fw.events, 'limit.reached')).toEqual([{ type: 'limit.reached', code: 'max-daily', pulseKind: 'bolusFast' }]);
    expect(ofType(r.fw.events, 'bolus.cancelled')[0]).toMatchObject({ reason: 'limit', deliveredMilliUnits: 1_950 });
    r.world.runUntil(20 * US_PER_H);
    expect(r.fw.engine.deliveredLast24hMilliUnits()).toBe(3_000);
    expect(r.motor.totalSteps).toBe(60);
    expect(ofType(r.fw.events, 'limit.reached')).toHaveLength(2);
    expect(ofType(r.fw.events, 'limit.reached')[1]).toMatchObject({ code: 'max-daily', pulseKind: 'basal' });
    expect(r.fw.engine.state).toBe('running');
  });

  it('clamps a rate over a lowered max basal to the limit and says so', () => {
    const r = rig({ noiseKpa: 0, limits });
    startTherapy(r.fw, { basalMilliUnitsPerHour: 1_000 });
    must(r.fw.engine.setLimits({ ...limits, maxBasalRateMilliUnitsPerHour: 500 }));
    r.world.runUntil(US_PER_H + US_PER_S);
    expect(r.fw.journal.pulses().basal).toBe(10);
    expect(ofType(r.fw.events, 'limit.reached')).toEqual([{ type: 'limit.reached', code: 'max-basal', pulseKind: 'basal' }]);
  });

  it('cuts a bolus short when max bolus is lowered under it', () => {
    const r = rig({ noiseKpa: 0, limits });
    startTherapy(r.fw);
    must(r.fw.engine.startBolus({ kind: 'fast', bolusId: 1, amountMilliUnits: 2_000 }));
    r.world.runUntil(10 * US_PER_S + 1); // 6 pulses started
    must(r.fw.engine.setLimits({ ...limits, maxBolusMilliUnits: 500 }));
    r.world.runFor(US_PER_H);
    expect(r.fw.journal.pulses().bolusFast).toBe(10);
    expect(ofType(r.fw.events, 'limit.reached')).toEqual([{ type: 'limit.reached', code: 'max-bolus', pulseKind: 'bolusFast' }]);
  });
});
