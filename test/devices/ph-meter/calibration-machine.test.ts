// Tests of the calibration procedure (Calibrator) fed by the Measurement service over a scripted probe on a
// World's clock: 1, 2, 3 and 5 points, each acceptance outcome, refusals with their codes, cancel and
// timeouts, and that a failure leaves the calibration in force. Not the fit math (calibration.test.ts).

import { describe, expect, it } from 'vitest';
import { NIST_BUFFERS, US_BUFFERS, bufferPhAt, type PhBuffer } from '../../../devices/ph-meter/buffers.ts';
import {
  Calibrator,
  POINT_TIMEOUT_US,
  PROCEDURE_IDLE_TIMEOUT_US,
  type CalibrationOutcome,
  type PointResult,
} from '../../../devices/ph-meter/calibration.machine.ts';
import type { Calibration, CalibrationOperator } from '../../../devices/ph-meter/calibration.ts';
import { Measurement } from '../../../devices/ph-meter/measurement.machine.ts';
import { IDEAL_LINE, mvFromPh, nernstSlopeMv, phFromMv, type CalibrationLine } from '../../../devices/ph-meter/nernst.ts';
import { DEFAULT_STABILITY } from '../../../devices/ph-meter/stability.ts';
import { isMedtwinError } from '../../../src/errors.ts';
import { World } from '../../../src/sim/world.ts';
import { ScriptedProbe } from './scripted-probe.ts';

const US_PER_S = 1_000_000;
const CLINICIAN: CalibrationOperator = { source: 'session', role: 'clinician', peer: 'phone-1' };
const LOCAL: CalibrationOperator = { source: 'local' };
const [N168, N401, N686, N918, N1245] = NIST_BUFFERS.buffers as [PhBuffer, PhBuffer, PhBuffer, PhBuffer, PhBuffer];
const [U401, U700, U1001] = US_BUFFERS.buffers as [PhBuffer, PhBuffer, PhBuffer];

const phAt = (b: PhBuffer, t: number): number => {
  const r = bufferPhAt(b, t);
  if (!r.ok) throw new Error(r.code);
  return r.ph;
};

function previous(line: CalibrationLine, id: number): Calibration {
  return {
    id,
    line,
    slopePercent: line.slopeFraction * 100,
    offsetMv: line.offsetMv,
    segments: [],
    points: [],
    tempC: 25,
    atUs: 0,
    bufferSet: 'nist',
    warnings: [],
    performedBy: LOCAL,
  };
}

interface RigOptions {
  readonly line: CalibrationLine;
  readonly current?: Calibration;
  readonly lastId?: number;
  readonly noiseMvRms?: number;
}

/** A meter's two services wired as the composition will wire them: readings → calibrator, accepted → measurement. */
function rig(opts: RigOptions) {
  const world = new World({ seed: 5 });
  const alarm = world.alarm();
  const probe = new ScriptedProbe({ world, line: opts.line, tauUs: 2 * US_PER_S, noiseMvRms: opts.noiseMvRms ?? 0.02 });
  const outcomes: Array<{ outcome: CalibrationOutcome; atUs: number }> = [];
  // The calibrator's callback reaches the measurement service declared below: it only runs later, on the clock.
  const calibrator = new Calibrator({
    alarm,
    ...(opts.current === undefined ? {} : { current: opts.current }),
    ...(opts.lastId === undefined ? {} : { lastId: opts.lastId }),
    onFinished: (outcome) => {
      outcomes.push({ outcome, atUs: world.nowUs });
      if (outcome.ok) measurement.setCalibration(outcome.calibration);
    },
  });
  const measurement = new Measurement({
    alarm,
    probe,
    onLiveReading: (r) => calibrator.reading(r),
    ...(opts.current === undefined ? {} : { calibration: opts.current }),
  });
  measurement.startContinuous();
  /** Put the probe in `b` at `tempC`, ask for a point, run the world until it is recorded or refused. */
  const point = (b: PhBuffer | { ph: number }, tempC = 25): PointResult => {
    probe.immerse({ ph: 'id' in b ? phAt(b, tempC) : b.ph, tempC });
    return world.settle<PointResult>((done) => {
      const r = calibrator.measurePoint(done);
      if (!r.ok) throw new Error(`measurePoint refused: ${r.code}`);
    });
  };
  const finish = () => {
    const r = calibrator.finish();
    if (!r.ok && !('attempt' in r)) throw new Error(`finish refused: ${r.code}`);
    return r;
  };
  const accepted = (o: CalibrationOutcome): Calibration => {
    if (!o.ok) throw new Error(`calibration failed: ${o.code}`);
    return o.calibration;
  };
  return { world, probe, measurement, calibrator, outcomes, point, finish, accepted };
}

/** "Slope and offset computed from a known electrode match within 0.1 % and 0.1 mV" (issue 7). */
function expectMatches(line: CalibrationLine, known: CalibrationLine): void {
  expect(Math.abs(line.slopeFraction - known.slopeFraction) * 100).toBeLessThanOrEqual(0.1);
  expect(Math.abs(line.offsetMv - known.offsetMv)).toBeLessThanOrEqual(0.1);
}

describe('calibration with 1, 2, 3 and 5 points', () => {
  const ELECTRODE: CalibrationLine = { slopeFraction: 0.97, offsetMv: 8 };

  it('1 point without a previous calibration: offset only, 100 % slope', () => {
    const r = rig({ line: ELECTRODE });
    expect(r.calibrator.start('nist', CLINICIAN)).toEqual({ ok: true });
    const p = r.point(N686);
    expect(p).toMatchObject({ ok: true, index: 1, point: { bufferId: 'nist-6.86', nominalPh: 6.86, tempC: 25, temperatureSource: 'atc' } });
    const cal = r.accepted(r.finish());
    expect(cal).toMatchObject({ id: 1, bufferSet: 'nist', performedBy: CLINICIAN, warnings: [], tempC: 25 });
    expect(cal.slopePercent).toBe(100);
    // The 100 % line through the electrode's point: offset 8 − 3 % × S(25)·(7 − 6.865).
    expect(cal.offsetMv).toBeCloseTo(8 - 0.03 * nernstSlopeMv(25) * (7 - 6.865), 1);
    expect(cal.atUs).toBe(r.world.nowUs);
    expect(cal.points).toHaveLength(1);
    expect(r.calibrator.current()).toBe(cal);
    expect(r.measurement.status().calibration).toBe(cal);
    expect(r.outcomes.map((o) => o.outcome)).toEqual([{ ok: true, calibration: cal }]);
  });

  it('1 point with a calibration in force keeps its slope and finds the offset; the id follows it', () => {
    const r = rig({ line: { slopeFraction: 0.97, offsetMv: 14 }, current: previous(ELECTRODE, 4) });
    r.calibrator.start('us', LOCAL);
    r.point(U700);
    const cal = r.accepted(r.finish());
    expect(cal.id).toBe(5);
    expect(cal.line.slopeFraction).toBe(0.97);
    expect(Math.abs(cal.offsetMv - 14)).toBeLessThanOrEqual(0.1);
    expect(cal.performedBy).toEqual(LOCAL);
  });

  it('2 points: the line through them is the electrode, within 0.1 % and 0.1 mV', () => {
    const r = rig({ line: ELECTRODE });
    r.calibrator.start('nist', CLINICIAN);
    expect(r.point(N686)).toMatchObject({ ok: true, index: 1 });
    expect(r.point(N401)).toMatchObject({ ok: true, index: 2 });
    const cal = r.accepted(r.finish());
    expectMatches(cal.line, ELECTRODE);
    expect(cal.segments).toHaveLength(1);
    expect(cal.points.map((p) => p.bufferId)).toEqual(['nist-6.86', 'nist-4.01']);
  });

  it('3 points at three temperatures (US set, 18–31 °C): within 0.1 % and 0.1 mV', () => {
    const r = rig({ line: ELECTRODE });
    r.calibrator.start('us', CLINICIAN);
    r.point(U700, 25);
    r.point(U401, 18);
    r.point(U1001, 31);
    const cal = r.accepted(r.finish());
    expectMatches(cal.line, ELECTRODE);
    expect(cal.points.map((p) => [p.bufferId, p.tempC, p.bufferPhAtT])).toEqual([
      ['us-7.00', 25, 7.0],
      ['us-4.01', 18, phAt(U401, 18)],
      ['us-10.01', 31, phAt(U1001, 31)],
    ]);
    expect(cal.tempC).toBeCloseTo((25 + 18 + 31) / 3, 12);
  });

  it('5 points, the whole NIST set: within 0.1 % and 0.1 mV; a sixth is refused', () => {
    const r = rig({ line: ELECTRODE });
    r.calibrator.start('nist', CLINICIAN);
    for (const b of [N686, N401, N918, N168, N1245]) expect(r.point(b)).toMatchObject({ ok: true, point: { bufferId: b.id } });
    expect(r.calibrator.measurePoint()).toEqual({ ok: false, code: 'max-points' });
    const cal = r.accepted(r.finish());
    expectMatches(cal.line, ELECTRODE);
    expect(cal.segments.map((s) => [s.fromPh, s.toPh])).toEqual([
      [1.679, 4.005],
      [4.005, 6.865],
      [6.865, 9.18],
      [9.18, 12.454],
    ]);
  });

  it('each point rests on a stability window taken wholly after it was asked for', () => {
    const r = rig({ line: ELECTRODE });
    r.world.runUntil(60 * US_PER_S); // stable in pH 7 for most of a minute
    r.calibrator.start('us', LOCAL);
    const askedUs = r.world.nowUs;
    const got = r.world.settle<PointResult>((done) => {
      expect(r.calibrator.measurePoint(done)).toEqual({ ok: true });
    });
    expect(got.ok).toBe(true);
    if (!got.ok) return;
    expect(got.point.bufferId).toBe('us-7.00');
    expect(got.point.atUs - askedUs).toBeGreaterThanOrEqual((DEFAULT_STABILITY.windowSamples - 1) * US_PER_S);
    // Asked again without moving the probe: the same buffer, refused.
    expect(r.world.settle<PointResult>((done) => r.calibrator.measurePoint(done))).toMatchObject({ ok: false, code: 'buffer-repeated', nearest: 'us-7.00' });
    expect(r.calibrator.status().points).toHaveLength(1);
  });
});

describe('a held display', () => {
  it('does not stall a point: the calibrator gets every reading made', () => {
    const r = rig({ line: { slopeFraction: 0.97, offsetMv: 8 } });
    r.measurement.hold();
    r.calibrator.start('nist', LOCAL);
    expect(r.point(N401)).toMatchObject({ ok: true, point: { bufferId: 'nist-4.01' } });
  });
});

describe('acceptance outcomes through the procedure', () => {
  it('a worn electrode (82.8 %, +31 mV, as electrode.ts OLD_PROBE) is recognized in every buffer and fails slope-low', () => {
    const r = rig({ line: { slopeFraction: 0.828, offsetMv: 31 } });
    r.calibrator.start('nist', CLINICIAN);
    for (const b of [N686, N401, N918]) expect(r.point(b)).toMatchObject({ ok: true, point: { bufferId: b.id } });
    const o = r.finish();
    expect(o).toMatchObject({ ok: false, code: 'slope-low', failures: ['slope-low'], attempt: { bufferSet: 'nist', performedBy: CLINICIAN } });
    if (!o.ok && 'fit' in o) expect(o.fit.slopePercent).toBeCloseTo(82.8, 1);
    expect(r.calibrator.current()).toBeUndefined();
    expect(r.measurement.status().calibration).toBeUndefined();
  });

  it('a failure leaves the calibration in force, and the next accepted one takes the next id', () => {
    const old = previous({ slopeFraction: 0.99, offsetMv: 3 }, 2);
    const r = rig({ line: { slopeFraction: 0.8, offsetMv: 3 }, current: old });
    r.calibrator.start('nist', CLINICIAN);
    r.point(N686);
    r.point(N401);
    r.point(N918);
    expect(r.finish()).toMatchObject({ ok: false, code: 'slope-low' });
    expect(r.calibrator.current()).toBe(old);
    expect(r.measurement.status().calibration).toBe(old);
    expect(r.calibrator.status().state).toBe('idle');
    // The electrode is replaced; the next calibration is accepted as #3 (the failed attempt took no id).
    r.probe.line = { slopeFraction: 0.99, offsetMv: -2 };
    r.calibrator.start('nist', CLINICIAN);
    r.point(N686);
    r.point(N401);
    const cal = r.accepted(r.finish());
    expect(cal.id).toBe(3);
    expect(r.measurement.status().calibration).toBe(cal);
  });

  it('slope-high', () => {
    const r = rig({ line: { slopeFraction: 1.08, offsetMv: 0 } });
    r.calibrator.start('us', CLINICIAN);
    r.point(U700);
    r.point(U401);
    expect(r.finish()).toMatchObject({ ok: false, code: 'slope-high', failures: ['slope-high'] });
  });

  it('offset: an electrode drifted to +65 mV since its +55 mV calibration', () => {
    const old = previous({ slopeFraction: 1, offsetMv: 55 }, 7);
    const r = rig({ line: { slopeFraction: 1, offsetMv: 65 }, current: old });
    r.calibrator.start('nist', CLINICIAN);
    r.point(N686);
    r.point(N401);
    expect(r.finish()).toMatchObject({ ok: false, code: 'offset', failures: ['offset'] });
    expect(r.calibrator.current()).toBe(old);
  });

  it('accepted with both warnings (90 %, +35 mV)', () => {
    const r = rig({ line: { slopeFraction: 0.9, offsetMv: 35 } });
    r.calibrator.start('nist', CLINICIAN);
    r.point(N686);
    r.point(N401);
    r.point(N918);
    const cal = r.accepted(r.finish());
    expect(cal.warnings).toEqual(['slope-warn', 'offset-warn']);
    r.world.runUntil(r.world.nowUs + 2 * US_PER_S);
    expect(r.measurement.displayed()!.flags.calibrationWarnings).toEqual(['slope-warn', 'offset-warn']);
    expect(r.measurement.displayed()!.calibrationId).toBe(1);
  });
});

describe('refusals', () => {
  const ELECTRODE: CalibrationLine = { slopeFraction: 0.99, offsetMv: 2 };

  it('commands out of place are refused with a code and change nothing', () => {
    const r = rig({ line: ELECTRODE });
    expect(r.calibrator.measurePoint()).toEqual({ ok: false, code: 'not-calibrating' });
    expect(r.calibrator.finish()).toEqual({ ok: false, code: 'not-calibrating' });
    expect(r.calibrator.cancel()).toEqual({ ok: false, code: 'not-calibrating' });
    expect(r.calibrator.start('din', CLINICIAN)).toEqual({ ok: false, code: 'unknown-buffer-set' });
    expect(r.calibrator.status().state).toBe('idle');
    expect(r.calibrator.start('nist', CLINICIAN)).toEqual({ ok: true });
    expect(r.calibrator.start('us', CLINICIAN)).toEqual({ ok: false, code: 'busy' });
    expect(r.calibrator.status()).toMatchObject({ state: 'awaiting-point', bufferSet: 'nist', performedBy: CLINICIAN, points: [] });
    expect(r.calibrator.finish()).toEqual({ ok: false, code: 'no-points' });
    expect(r.calibrator.measurePoint()).toEqual({ ok: true });
    expect(r.calibrator.measurePoint()).toEqual({ ok: false, code: 'point-in-progress' });
    expect(r.calibrator.finish()).toEqual({ ok: false, code: 'no-points' });
    expect(r.calibrator.status().state).toBe('measuring-point');
    expect(r.outcomes).toEqual([]);
  });

  it('a bad configuration is refused at construction (MedtwinError ph.config)', () => {
    const world = new World();
    for (const bad of [{ lastId: 1, current: previous(ELECTRODE, 4) }, { lastId: -1 }, { config: { pointTimeoutUs: 0 } }]) {
      let error: unknown;
      try {
        new Calibrator({ alarm: world.alarm(), ...bad });
      } catch (e) {
        error = e;
      }
      expect(isMedtwinError(error) && error.code, JSON.stringify(bad)).toBe('ph.config');
    }
  });

  it('a sample between buffers is unrecognized, with the pH it read and the nearest buffer', () => {
    const r = rig({ line: ELECTRODE });
    r.calibrator.start('nist', CLINICIAN);
    const p = r.point({ ph: 5.5 });
    expect(p).toMatchObject({ ok: false, code: 'unrecognized', nearest: 'nist-6.86' });
    // No calibration in force, no point yet: read through the ideal line (0.02 mV noise is 0.0003 pH).
    if (!p.ok) expect(Math.abs(p.measuredPh! - phFromMv(mvFromPh(5.5, 25, ELECTRODE), 25, IDEAL_LINE))).toBeLessThan(0.005);
    expect(r.calibrator.status()).toMatchObject({ state: 'awaiting-point', points: [] });
  });

  it('the same buffer twice is refused; the procedure goes on', () => {
    const r = rig({ line: ELECTRODE });
    r.calibrator.start('nist', CLINICIAN);
    r.point(N401);
    expect(r.point(N401)).toMatchObject({ ok: false, code: 'buffer-repeated', nearest: 'nist-4.01' });
    expect(r.point(N686)).toMatchObject({ ok: true, index: 2 });
  });

  it('outside the tables (55 °C) a point is refused', () => {
    const r = rig({ line: ELECTRODE });
    r.calibrator.start('nist', CLINICIAN);
    expect(r.point({ ph: 6.83 }, 55)).toMatchObject({ ok: false, code: 'temperature-out-of-range' });
  });

  it('a point that never becomes stable is refused "not-stable" at the point timeout', () => {
    const r = rig({ line: ELECTRODE });
    r.probe.setWander({ amplitudeMv: 3, periodS: 20 });
    r.calibrator.start('nist', CLINICIAN);
    const askedUs = r.world.nowUs;
    let atUs = 0;
    const p = r.world.settle<PointResult>(
      (done) =>
        r.calibrator.measurePoint((res) => {
          atUs = r.world.nowUs;
          done(res);
        }),
      2 * POINT_TIMEOUT_US,
    );
    expect(p).toEqual({ ok: false, code: 'not-stable', measuredPh: undefined, nearest: undefined });
    expect(atUs).toBe(askedUs + POINT_TIMEOUT_US);
    expect(r.calibrator.status().state).toBe('awaiting-point');
  });
});

describe('cancel and timeout leave the calibration in force', () => {
  const ELECTRODE: CalibrationLine = { slopeFraction: 0.99, offsetMv: 2 };
  const OLD = previous({ slopeFraction: 0.98, offsetMv: 5 }, 1);

  it('cancel after a point', () => {
    const r = rig({ line: ELECTRODE, current: OLD });
    r.calibrator.start('nist', CLINICIAN);
    r.point(N686);
    expect(r.calibrator.cancel()).toEqual({ ok: true });
    expect(r.outcomes.map((o) => o.outcome)).toMatchObject([{ ok: false, code: 'cancelled', attempt: { points: [{ bufferId: 'nist-6.86' }], performedBy: CLINICIAN } }]);
    expect(r.calibrator.current()).toBe(OLD);
    expect(r.calibrator.status().state).toBe('idle');
  });

  it('cancel while a point is being measured interrupts it', () => {
    const r = rig({ line: ELECTRODE, current: OLD });
    r.calibrator.start('nist', CLINICIAN);
    const results: PointResult[] = [];
    r.calibrator.measurePoint((p) => results.push(p));
    r.world.runUntil(r.world.nowUs + 3 * US_PER_S);
    r.calibrator.cancel();
    expect(results).toEqual([{ ok: false, code: 'interrupted', measuredPh: undefined, nearest: undefined }]);
    expect(r.outcomes[0]!.outcome).toMatchObject({ ok: false, code: 'cancelled' });
    expect(r.calibrator.current()).toBe(OLD);
  });

  it('finishing while a point is being measured drops that point and fits the others', () => {
    const r = rig({ line: ELECTRODE });
    r.calibrator.start('nist', CLINICIAN);
    r.point(N686);
    r.point(N401);
    const results: PointResult[] = [];
    r.probe.immerse({ ph: 9.18, tempC: 25 });
    r.calibrator.measurePoint((p) => results.push(p));
    const cal = r.accepted(r.finish());
    expect(results).toMatchObject([{ ok: false, code: 'interrupted' }]);
    expect(cal.points).toHaveLength(2);
  });

  it('a procedure left waiting ends "timeout" 10 min after its last step', () => {
    const r = rig({ line: ELECTRODE, current: OLD });
    r.calibrator.start('nist', CLINICIAN);
    r.point(N686);
    const lastStepUs = r.calibrator.status().points[0]!.atUs;
    r.world.runUntil(lastStepUs + PROCEDURE_IDLE_TIMEOUT_US + 5 * US_PER_S);
    expect(r.outcomes).toHaveLength(1);
    expect(r.outcomes[0]!.outcome).toMatchObject({ ok: false, code: 'timeout', attempt: { endedAtUs: lastStepUs + PROCEDURE_IDLE_TIMEOUT_US } });
    expect(r.outcomes[0]!.atUs).toBe(lastStepUs + PROCEDURE_IDLE_TIMEOUT_US);
    expect(r.calibrator.current()).toBe(OLD);
    expect(r.calibrator.status().state).toBe('idle');
  });
});
