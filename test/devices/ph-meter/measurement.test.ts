// Tests of the measurement machine through its service, on a World's clock with a scripted probe: sampling,
// ATC, stability (settling vs wander), hold, out-of-range, calibration flags, one-shot. Not the sensors.

import { describe, expect, it } from 'vitest';
import type { Calibration } from '../../../devices/ph-meter/calibration.ts';
import {
  DEFAULT_MANUAL_TEMP_C,
  Measurement,
  ONE_SHOT_TIMEOUT_US,
  SAMPLE_PERIOD_US,
  measurementConfig,
  type MeasurementConfig,
  type OneShotResult,
  type PhReading,
} from '../../../devices/ph-meter/measurement.machine.ts';
import { IDEAL_LINE, mvFromPh, phFromMv, type CalibrationLine } from '../../../devices/ph-meter/nernst.ts';
import { DEFAULT_STABILITY } from '../../../devices/ph-meter/stability.ts';
import { isMedtwinError } from '../../../src/errors.ts';
import { World } from '../../../src/sim/world.ts';
import { ScriptedProbe, type Beaker } from './scripted-probe.ts';

const US_PER_S = 1_000_000;
const LATENCY_US = 2_000;
const ELECTRODE: CalibrationLine = { slopeFraction: 0.98, offsetMv: 5 };

/** An accepted calibration of ELECTRODE (as the calibration service would hand it over). */
function calibrationOf(line: CalibrationLine, over: Partial<Calibration> = {}): Calibration {
  return {
    id: 3,
    line,
    slopePercent: line.slopeFraction * 100,
    offsetMv: line.offsetMv,
    segments: [],
    points: [],
    tempC: 25,
    atUs: 0,
    bufferSet: 'nist',
    warnings: [],
    performedBy: { source: 'local' },
    ...over,
  };
}

interface RigOptions {
  readonly line?: CalibrationLine;
  readonly beaker?: Beaker;
  readonly tauUs?: number;
  readonly noiseMvRms?: number;
  readonly config?: Partial<MeasurementConfig>;
  readonly calibration?: Calibration;
  readonly seed?: number;
}

function rig(opts: RigOptions = {}) {
  const world = new World({ seed: opts.seed ?? 3 });
  const probe = new ScriptedProbe({
    world,
    line: opts.line ?? ELECTRODE,
    beaker: opts.beaker ?? { ph: 7, tempC: 25 },
    latencyUs: LATENCY_US,
    tauUs: opts.tauUs ?? 0,
    noiseMvRms: opts.noiseMvRms ?? 0,
  });
  const readings: PhReading[] = [];
  const live: PhReading[] = [];
  const m = new Measurement({
    alarm: world.alarm(),
    probe,
    onReading: (r) => readings.push(r),
    onLiveReading: (r) => live.push(r),
    ...(opts.config === undefined ? {} : { config: opts.config }),
    ...(opts.calibration === undefined ? {} : { calibration: opts.calibration }),
  });
  return { world, probe, readings, live, m };
}

const firstStable = (rs: readonly PhReading[]) => rs.find((r) => r.flags.stable);

describe('sampling and temperature compensation', () => {
  it('samples once a period, start to start, and each reading is the sample through the calibration at its temperature', () => {
    const { world, probe, readings, m } = rig({ beaker: { ph: 4.005, tempC: 30 }, calibration: calibrationOf(ELECTRODE) });
    expect(m.startContinuous()).toEqual({ ok: true });
    world.runUntil(10 * US_PER_S);
    // Reads at 0, 1, …, 9 s; each sample 2 ms later; the read at 10 s is still in flight.
    expect(readings.map((r) => r.atUs)).toEqual(Array.from({ length: 10 }, (_, k) => k * US_PER_S + LATENCY_US));
    expect(probe.reads).toBe(11);
    for (const r of readings) {
      expect(r.mv).toBeCloseTo(mvFromPh(4.005, 30, ELECTRODE), 9);
      expect(r.ph).toBeCloseTo(4.005, 9); // the calibration is the electrode's line: the true pH
      expect(r.tempC).toBe(30);
      expect(r.calibrationId).toBe(3);
      expect(r.flags).toMatchObject({ temperature: 'atc', temperatureFault: undefined, outOfRange: [], calibration: 'valid', held: false });
    }
    expect(m.status()).toMatchObject({ mode: 'continuous', held: false, skippedReads: 0 });
  });

  it('without a calibration uses the ideal line and says so', () => {
    const { world, readings, m } = rig({ beaker: { ph: 9.18, tempC: 20 } });
    m.startContinuous();
    world.runUntil(1 * US_PER_S);
    const r = readings[0]!;
    expect(r.ph).toBeCloseTo(phFromMv(mvFromPh(9.18, 20, ELECTRODE), 20, IDEAL_LINE), 12);
    expect(r.flags.calibration).toBe('none');
    expect(r.calibrationId).toBeUndefined();
  });

  it('falls back to the manual temperature when the temperature channel faults, and flags it', () => {
    const { world, probe, readings, m } = rig({ beaker: { ph: 6.865, tempC: 37 }, calibration: calibrationOf(ELECTRODE) });
    m.startContinuous();
    world.runUntil(1 * US_PER_S);
    expect(readings.at(-1)!.flags.temperature).toBe('atc');
    probe.setFaults(['temperature-open']);
    world.runUntil(2 * US_PER_S);
    const fallback = readings.at(-1)!;
    expect(fallback.tempC).toBe(DEFAULT_MANUAL_TEMP_C);
    expect(fallback.flags).toMatchObject({ temperature: 'manual-fallback', temperatureFault: 'temperature-open' });
    // Compensated for 25 °C while the beaker is at 37 °C: the pH is off, as the flag warns.
    expect(fallback.ph).toBeCloseTo(phFromMv(mvFromPh(6.865, 37, ELECTRODE), 25, ELECTRODE), 12);
    expect(Math.abs(fallback.ph! - 6.865)).toBeGreaterThan(0.001);
    // The user enters the beaker's temperature: the reading is right again, still flagged.
    expect(m.setManualTemperature(37)).toEqual({ ok: true });
    world.runUntil(3 * US_PER_S);
    expect(readings.at(-1)!.ph).toBeCloseTo(6.865, 9);
    expect(readings.at(-1)!.flags.temperature).toBe('manual-fallback');
    probe.setFaults(['temperature-short']);
    world.runUntil(4 * US_PER_S);
    expect(readings.at(-1)!.flags.temperatureFault).toBe('temperature-short');
    probe.setFaults([]);
    world.runUntil(5 * US_PER_S);
    expect(readings.at(-1)!.flags).toMatchObject({ temperature: 'atc', temperatureFault: undefined });
    expect(readings.at(-1)!.tempC).toBe(37);
  });

  it('manual mode uses the manual temperature whatever the probe says; bad settings are refused and change nothing', () => {
    const { world, readings, m } = rig({ beaker: { ph: 4.005, tempC: 30 }, calibration: calibrationOf(ELECTRODE) });
    expect(m.setTemperatureMode('manual')).toEqual({ ok: true });
    expect(m.setManualTemperature(20)).toEqual({ ok: true });
    expect(m.setManualTemperature(120)).toEqual({ ok: false, code: 'temperature-out-of-range' });
    expect(m.setManualTemperature(Number.NaN)).toEqual({ ok: false, code: 'temperature-out-of-range' });
    expect(m.setTemperatureMode('fahrenheit' as never)).toEqual({ ok: false, code: 'bad-mode' });
    expect(m.status()).toMatchObject({ temperatureMode: 'manual', manualTempC: 20 });
    m.startContinuous();
    world.runUntil(1 * US_PER_S);
    expect(readings[0]!.tempC).toBe(20);
    expect(readings[0]!.flags).toMatchObject({ temperature: 'manual', temperatureFault: undefined });
    expect(readings[0]!.ph).toBeCloseTo(phFromMv(mvFromPh(4.005, 30, ELECTRODE), 20, ELECTRODE), 12);
  });
});

describe('stability', () => {
  it('becomes stable once the settling drift is inside 1 mV/min, not before, and stays stable', () => {
    const tauUs = 3 * US_PER_S;
    const { world, probe, readings, m } = rig({ tauUs, noiseMvRms: 0.02 });
    m.startContinuous();
    world.runUntil(3_500_000);
    const stepUs = world.nowUs;
    const deltaMv = mvFromPh(4.005, 25, ELECTRODE) - mvFromPh(7, 25, ELECTRODE);
    probe.immerse({ ph: 4.005, tempC: 25 });
    world.runUntil(stepUs + 100 * US_PER_S);
    // The settling is E(t) = target − Δ·e^(−t/τ): its drift falls through x mV/min at t(x) after the step.
    const at = (mvPerMin: number) => stepUs + tauUs * Math.log(((Math.abs(deltaMv) / tauUs) * 60e6) / mvPerMin);
    // A window's least-squares slope of a decaying exponential lies between the drifts at its two ends: no
    // window ending before t(1.5) can be inside 1 mV/min (0.5 mV/min margin for the 0.02 mV noise)…
    const after = readings.filter((r) => r.atUs > stepUs);
    const first = firstStable(after);
    expect(first).toBeDefined();
    expect(first!.atUs).toBeGreaterThan(at(1.5));
    // …and every window starting after t(0.5) is (it spans 9 s).
    expect(first!.atUs).toBeLessThanOrEqual(at(0.5) + (DEFAULT_STABILITY.windowSamples - 1) * SAMPLE_PERIOD_US + SAMPLE_PERIOD_US);
    expect(first!.driftMvPerMin!).toBeLessThanOrEqual(DEFAULT_STABILITY.maxDriftMvPerMin);
    expect(first!.stabilityWindowStartUs).toBe(first!.atUs - (DEFAULT_STABILITY.windowSamples - 1) * SAMPLE_PERIOD_US);
    expect(after.filter((r) => r.atUs >= first!.atUs).every((r) => r.flags.stable)).toBe(true);
  });

  it('never becomes stable while the signal wanders (±3 mV, 20 s period), and does once the wander stops', () => {
    const { world, probe, readings, m } = rig({ noiseMvRms: 0.02 });
    probe.setWander({ amplitudeMv: 3, periodS: 20 });
    m.startContinuous();
    world.runUntil(300 * US_PER_S);
    expect(readings).toHaveLength(300);
    expect(readings.filter((r) => r.flags.stable)).toEqual([]);
    // Each full window failed on a named criterion.
    for (const r of readings.slice(DEFAULT_STABILITY.windowSamples)) {
      expect(Math.abs(r.driftMvPerMin!) > DEFAULT_STABILITY.maxDriftMvPerMin || r.noiseMvRms! > DEFAULT_STABILITY.maxNoiseMvRms).toBe(true);
    }
    probe.setWander(undefined);
    const stopUs = world.nowUs;
    world.runUntil(stopUs + 20 * US_PER_S);
    // The first window made only of wander-free samples is stable.
    expect(firstStable(readings)!.atUs).toBe(stopUs + (DEFAULT_STABILITY.windowSamples - 1) * SAMPLE_PERIOD_US + LATENCY_US);
  });

  it('a dead electrode gives readings without pH, flagged, and restarts the stability window', () => {
    const { world, probe, readings, m } = rig();
    m.startContinuous();
    world.runUntil(15 * US_PER_S);
    expect(readings.at(-1)!.flags.stable).toBe(true);
    probe.setFaults(['electrode-dead']);
    world.runUntil(18 * US_PER_S);
    const dead = readings.at(-1)!;
    expect(dead).toMatchObject({ ph: undefined, mv: undefined, driftMvPerMin: undefined, stabilityWindowStartUs: undefined });
    expect(dead.flags).toMatchObject({ stable: false, outOfRange: ['electrode-dead'] });
    probe.setFaults([]);
    world.runUntil(40 * US_PER_S);
    const back = readings.filter((r) => r.atUs > 18 * US_PER_S);
    // Stable again only on the 10th good sample: none of the samples before the fault count.
    expect(back.findIndex((r) => r.flags.stable)).toBe(DEFAULT_STABILITY.windowSamples - 1);
  });
});

describe('out-of-range readings', () => {
  it.each([
    [{ ph: -0.5, tempC: 25 }, ['ph-low']],
    [{ ph: 14.6, tempC: 25 }, ['ph-high']],
    [{ ph: 0.2, tempC: 25 }, []],
    [{ ph: 13.8, tempC: 25 }, []],
    [{ ph: 7, tempC: 104 }, ['temp-high']],
    [{ ph: 7, tempC: -3 }, ['temp-low']],
    [{ ph: 15, tempC: 101 }, ['ph-high', 'temp-high']],
  ] as const)('%j → %j', (beaker, flags) => {
    const { world, readings, m } = rig({ line: IDEAL_LINE, beaker, calibration: calibrationOf(IDEAL_LINE) });
    m.startContinuous();
    world.runUntil(1 * US_PER_S);
    expect(readings[0]!.ph).toBeCloseTo(beaker.ph, 9); // still compensated at the measured temperature
    expect(readings[0]!.tempC).toBe(beaker.tempC);
    expect(readings[0]!.flags.outOfRange).toEqual(flags);
  });

  it('beyond the front end range the mV is flagged and never stable, however steady', () => {
    const { world, probe, readings, m } = rig({ config: { mvRange: { minMv: -500, maxMv: 500 } } });
    probe.forceMv(612.5);
    m.startContinuous();
    world.runUntil(30 * US_PER_S);
    expect(readings.every((r) => r.flags.outOfRange.includes('mv-high') && !r.flags.stable)).toBe(true);
    expect(readings.at(-1)!.driftMvPerMin).toBe(0);
    probe.forceMv(-501);
    world.runUntil(31 * US_PER_S);
    expect(readings.at(-1)!.flags.outOfRange).toContain('mv-low');
  });
});

describe('calibration status on readings', () => {
  it('valid, then reminder, then expired as the policy says; warnings and id carried; none when withdrawn', () => {
    const cal = calibrationOf(ELECTRODE, { id: 9, atUs: 0, warnings: ['offset-warn'] });
    const { world, readings, m } = rig({ calibration: cal, config: { expiry: { validForS: 60, reminderAfterS: 30 } } });
    m.startContinuous();
    world.runUntil(70 * US_PER_S);
    const statusAt = (s: number) => readings.find((r) => r.atUs === s * US_PER_S + LATENCY_US)!.flags.calibration;
    expect([statusAt(0), statusAt(29), statusAt(30), statusAt(59), statusAt(60), statusAt(69)]).toEqual(['valid', 'valid', 'reminder', 'reminder', 'expired', 'expired']);
    expect(readings.every((r) => r.calibrationId === 9 && r.flags.calibrationWarnings.join() === 'offset-warn')).toBe(true);
    expect(m.setCalibration(undefined)).toEqual({ ok: true });
    world.runUntil(71 * US_PER_S);
    expect(readings.at(-1)).toMatchObject({ calibrationId: undefined, flags: { calibration: 'none', calibrationWarnings: [] } });
  });

  it('refuses a calibration whose line is not usable', () => {
    const { m } = rig({ calibration: calibrationOf(ELECTRODE) });
    expect(m.setCalibration(calibrationOf({ slopeFraction: 0, offsetMv: 0 }))).toEqual({ ok: false, code: 'bad-calibration' });
    expect(m.setCalibration(calibrationOf({ slopeFraction: 1, offsetMv: Number.NaN }))).toEqual({ ok: false, code: 'bad-calibration' });
    expect(m.status().calibration?.line).toEqual(ELECTRODE);
  });
});

describe('hold', () => {
  it('freezes the display while sampling goes on, and release shows the latest reading at once', () => {
    const { world, probe, readings, live, m } = rig({ tauUs: 2 * US_PER_S });
    m.startContinuous();
    world.runUntil(20_500_000);
    expect(live).toEqual(readings);
    const before = readings.at(-1)!;
    m.hold();
    expect(readings).toHaveLength(22);
    expect(readings.at(-1)).toEqual({ ...before, flags: { ...before.flags, held: true } });
    m.hold(); // twice: nothing more
    expect(readings).toHaveLength(22);
    const readsAtHold = probe.reads;
    probe.immerse({ ph: 9.18, tempC: 25 });
    world.runUntil(50_500_000);
    expect(readings).toHaveLength(22);
    expect(m.displayed()).toEqual(readings.at(-1));
    expect(m.status().held).toBe(true);
    expect(probe.reads - readsAtHold).toBe(30); // still sampling…
    expect(live).toHaveLength(51); // …and every reading made still goes to onLiveReading, marked held
    expect(live.slice(21).every((r) => r.flags.held)).toBe(true);
    m.release();
    expect(readings).toHaveLength(23);
    const released = readings.at(-1)!;
    expect(released.atUs).toBe(50 * US_PER_S + LATENCY_US);
    expect(released.flags.held).toBe(false);
    expect(released.mv).toBeCloseTo(probe.cleanMvAt(released.atUs), 9);
    // Stability went on under hold: 30 s in the new buffer with τ = 2 s is settled (drift 1 mV/min at 16.5 s,
    // plus the 9 s window).
    expect(released.flags.stable).toBe(true);
    m.release(); // not held: nothing
    expect(readings).toHaveLength(23);
    world.runUntil(51_500_000);
    expect(readings).toHaveLength(24);
  });

  it('hold before any reading shows nothing, and a new run starts unheld', () => {
    const { world, readings, m } = rig();
    m.hold(); // before any reading: nothing to show yet
    expect(readings).toHaveLength(0);
    m.startContinuous(); // a new run starts unheld
    world.runUntil(1 * US_PER_S);
    expect(readings[0]!.flags.held).toBe(false);
  });
});

describe('one-shot', () => {
  it('ends with the first stable reading, which stays on the display; sampling stops', () => {
    const { world, probe, readings, m } = rig({ noiseMvRms: 0.02 });
    const results: OneShotResult[] = [];
    expect(m.measureOnce((r) => results.push(r))).toEqual({ ok: true });
    expect(m.status().mode).toBe('one-shot');
    expect(m.startContinuous()).toEqual({ ok: false, code: 'busy' });
    expect(m.measureOnce(() => {})).toEqual({ ok: false, code: 'busy' });
    world.runUntil(60 * US_PER_S);
    expect(results).toHaveLength(1);
    const r = results[0]!;
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.reading.flags.stable).toBe(true);
    expect(r.reading.atUs).toBe(9 * US_PER_S + LATENCY_US); // the 10th sample: the first full window
    expect(r.reading).toEqual(readings.at(-1));
    expect(m.displayed()).toEqual(r.reading);
    expect(m.status().mode).toBe('idle');
    expect(probe.reads).toBe(10);
  });

  it('times out with a coded result when no reading becomes stable', () => {
    const { world, probe, m } = rig();
    probe.setWander({ amplitudeMv: 3, periodS: 20 });
    world.runUntil(5 * US_PER_S);
    const startUs = world.nowUs;
    let result: OneShotResult | undefined;
    let atUs = 0;
    m.measureOnce((r) => {
      result = r;
      atUs = world.nowUs;
    });
    world.runUntil(startUs + 200 * US_PER_S);
    expect(result).toMatchObject({ ok: false, code: 'timeout' });
    expect(atUs).toBe(startUs + ONE_SHOT_TIMEOUT_US);
    expect(result!.reading!.atUs).toBe(startUs + ONE_SHOT_TIMEOUT_US - SAMPLE_PERIOD_US + LATENCY_US);
    expect(m.status().mode).toBe('idle');
  });

  it('a stop ends it with "stopped"; a sample in flight at the stop is dropped', () => {
    const { world, readings, m } = rig();
    const results: OneShotResult[] = [];
    m.measureOnce((r) => results.push(r));
    world.runUntil(3_000_500); // the read of 3 s is in flight
    m.stopMeasuring();
    expect(results).toEqual([{ ok: false, code: 'stopped', reading: readings.at(-1) }]);
    world.runUntil(10 * US_PER_S);
    expect(readings).toHaveLength(3);
    m.stopMeasuring(); // stopping twice is harmless
    expect(m.status().mode).toBe('idle');
  });
});

describe('configuration and determinism', () => {
  it.each([
    [{ samplePeriodUs: 500 }],
    [{ samplePeriodUs: 1_500.5 }],
    [{ oneShotTimeoutUs: 10 }],
    [{ stability: { windowSamples: 2, maxDriftMvPerMin: 1, maxNoiseMvRms: 0.3 } }],
    [{ stability: { windowSamples: 10, maxDriftMvPerMin: 0, maxNoiseMvRms: 0.3 } }],
    [{ mvRange: { minMv: 10, maxMv: -10 } }],
    [{ expiry: { validForS: 10, reminderAfterS: 20 } }],
  ] as const)('refuses the configuration %j with ph.config', (partial) => {
    let error: unknown;
    try {
      measurementConfig(partial as Partial<MeasurementConfig>);
    } catch (e) {
      error = e;
    }
    expect(isMedtwinError(error) && error.code).toBe('ph.config');
  });

  it('the service refuses a bad configuration at construction, synchronously', () => {
    const world = new World();
    const probe = new ScriptedProbe({ world, line: ELECTRODE });
    for (const bad of [{ config: { samplePeriodUs: 5 } }, { manualTempC: 150 }, { calibration: calibrationOf({ slopeFraction: -1, offsetMv: 0 }) }]) {
      let error: unknown;
      try {
        new Measurement({ alarm: world.alarm(), probe, ...bad });
      } catch (e) {
        error = e;
      }
      expect(isMedtwinError(error) && error.code, JSON.stringify(bad)).toBe('ph.config');
    }
  });

  it('same seed, same readings', () => {
    const run = () => {
      const { world, probe, readings, m } = rig({ tauUs: 2 * US_PER_S, noiseMvRms: 0.05, seed: 42 });
      m.startContinuous();
      world.runUntil(5 * US_PER_S);
      probe.immerse({ ph: 9.18, tempC: 22 });
      world.runUntil(30 * US_PER_S);
      return JSON.stringify(readings);
    };
    expect(run()).toBe(run());
  });
});
