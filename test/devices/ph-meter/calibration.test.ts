// Tests of the calibration math: the line fit through 1–5 points, the §6 acceptance rules with their codes,
// and the expiry policy (calibration.ts). Not the procedure (calibration-machine.test.ts).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NIST_BUFFERS, US_BUFFERS, bufferPhAt, type PhBuffer } from '../../../devices/ph-meter/buffers.ts';
import {
  DEFAULT_EXPIRY_POLICY,
  calibrationStatusAt,
  checkExpiryPolicy,
  fitCalibrationLine,
  isCalibrationExpired,
  isReminderDue,
  judgeCalibration,
  type CalibrationPoint,
} from '../../../devices/ph-meter/calibration.ts';
import { mvFromPh, nernstSlopeMv, type CalibrationLine } from '../../../devices/ph-meter/nernst.ts';

const US_PER_S = 1_000_000;
const DAY_US = 86_400 * US_PER_S;

const phAt = (b: PhBuffer, t: number): number => {
  const r = bufferPhAt(b, t);
  if (!r.ok) throw new Error(r.code);
  return r.ph;
};
/** What a known electrode gives in buffer `b` at `t`: the point a perfect reading would record. */
const pointOf = (line: CalibrationLine, b: PhBuffer, t: number, mvResolution = 0): CalibrationPoint => {
  const ph = phAt(b, t);
  const mv = mvFromPh(ph, t, line);
  return { mv: mvResolution > 0 ? Math.round(mv / mvResolution) * mvResolution : mv, tempC: t, bufferPhAtT: ph };
};
const fitOk = (points: readonly CalibrationPoint[], previousSlopeFraction?: number) => {
  const r = fitCalibrationLine(points, previousSlopeFraction === undefined ? {} : { previousSlopeFraction });
  if (!r.ok) throw new Error(`${r.code}: ${r.detail}`);
  return r.value;
};
const [N168, N401, N686, N918] = NIST_BUFFERS.buffers as [PhBuffer, PhBuffer, PhBuffer, PhBuffer, PhBuffer];
const [U401, U700, U1001] = US_BUFFERS.buffers as [PhBuffer, PhBuffer, PhBuffer];

/** The criterion: "slope and offset computed from a known electrode match within 0.1 % and 0.1 mV". */
function expectMatches(fitted: CalibrationLine, known: CalibrationLine): void {
  expect(Math.abs(fitted.slopeFraction - known.slopeFraction) * 100).toBeLessThanOrEqual(0.1);
  expect(Math.abs(fitted.offsetMv - known.offsetMv)).toBeLessThanOrEqual(0.1);
}

describe('fitCalibrationLine: a known electrode is found again', () => {
  const ELECTRODE: CalibrationLine = { slopeFraction: 0.973, offsetMv: -12.4 };

  it.each([
    ['2 points at 25 °C', [pointOf(ELECTRODE, N401, 25), pointOf(ELECTRODE, N686, 25)]],
    ['3 points at 25 °C', [pointOf(ELECTRODE, N401, 25), pointOf(ELECTRODE, N686, 25), pointOf(ELECTRODE, N918, 25)]],
    ['3 US points at 18, 25 and 31 °C', [pointOf(ELECTRODE, U401, 18), pointOf(ELECTRODE, U700, 25), pointOf(ELECTRODE, U1001, 31)]],
    ['5 NIST points at 20 °C', NIST_BUFFERS.buffers.map((b) => pointOf(ELECTRODE, b, 20))],
    ['5 NIST points at 5–45 °C', NIST_BUFFERS.buffers.map((b, i) => pointOf(ELECTRODE, b, 5 + 10 * i))],
  ])('%s: exactly (to 1e-9), so within 0.1 % and 0.1 mV', (_, points) => {
    const fit = fitOk(points);
    expect(fit.line.slopeFraction).toBeCloseTo(ELECTRODE.slopeFraction, 9);
    expect(fit.line.offsetMv).toBeCloseTo(ELECTRODE.offsetMv, 9);
    expect(fit.slopePercent).toBeCloseTo(97.3, 7);
    expect(fit.offsetMv).toBe(fit.line.offsetMv);
    expect(fit.maxResidualMv).toBeLessThan(1e-9);
    expectMatches(fit.line, ELECTRODE);
  });

  it('with mV read to the 0.1 mV a meter displays, 4.01 and 6.86 still give it within 0.1 % and 0.1 mV', () => {
    // ±0.05 mV on each point: slope ±0.1 mV / 169 mV = ±0.06 %, offset ±(0.05 + 0.0006 × 8 mV) ≈ ±0.055 mV.
    // (Two acid buffers far from pH 7 would extrapolate the offset and could not promise 0.1 mV.)
    const fit = fitOk([pointOf(ELECTRODE, N401, 25, 0.1), pointOf(ELECTRODE, N686, 25, 0.1)]);
    expectMatches(fit.line, ELECTRODE);
  });

  it('property: any electrode in the acceptance window, any 2–5 NIST buffers at 0–50 °C each: exactly', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.85, max: 1.05, noNaN: true }),
        fc.double({ min: -60, max: 60, noNaN: true }),
        fc.subarray([...NIST_BUFFERS.buffers], { minLength: 2, maxLength: 5 }),
        fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { minLength: 5, maxLength: 5 }),
        (slopeFraction, offsetMv, buffers, temps) => {
          const known = { slopeFraction, offsetMv };
          const fit = fitOk(buffers.map((b, i) => pointOf(known, b, temps[i]!)));
          return Math.abs(fit.line.slopeFraction - slopeFraction) <= 1e-9 && Math.abs(fit.line.offsetMv - offsetMv) <= 1e-7;
        },
      ),
      { seed: 11, numRuns: 1_000 },
    );
  });
});

describe('fitCalibrationLine: one point', () => {
  const ELECTRODE: CalibrationLine = { slopeFraction: 0.95, offsetMv: 10 };
  const p = pointOf(ELECTRODE, N686, 25); // 6.865 at 25 °C

  it('corrects the offset with a 100 % slope when there is no previous calibration', () => {
    const fit = fitOk([p]);
    expect(fit.line.slopeFraction).toBe(1);
    // E = 10 + 0.95·x with x = S(25)·(7 − 6.865); a 100 % line through it has offset E − x = 10 − 0.05·x.
    const x = nernstSlopeMv(25) * (7 - 6.865);
    expect(fit.line.offsetMv).toBeCloseTo(10 - 0.05 * x, 9);
    expect(fit.segments).toEqual([]);
  });

  it('keeps the previous calibration slope, and then finds the offset exactly', () => {
    const fit = fitOk([p], 0.95);
    expect(fit.line.slopeFraction).toBe(0.95);
    expect(fit.line.offsetMv).toBeCloseTo(10, 9);
  });
});

describe('fitCalibrationLine: segments and residuals', () => {
  it('reports each segment slope: an electrode bent above pH 7 shows it there', () => {
    // 98 % below the isopotential point, 92 % above it (alkaline error), offset 3 mV, 25 °C.
    const S = nernstSlopeMv(25);
    const mvOf = (ph: number) => 3 - (ph < 7 ? 0.98 : 0.92) * S * (ph - 7);
    const points = [N401, N686, N918].map((b) => ({ mv: mvOf(phAt(b, 25)), tempC: 25, bufferPhAtT: phAt(b, 25) }));
    const fit = fitOk(points);
    expect(fit.segments).toHaveLength(2);
    expect(fit.segments[0]).toMatchObject({ fromPh: 4.005, toPh: 6.865 });
    expect(fit.segments[0]!.slopeFraction).toBeCloseTo(0.98, 9);
    expect(fit.segments[1]).toMatchObject({ fromPh: 6.865, toPh: 9.18 });
    // 6.865 lies below 7 on the 98 % branch: the upper segment mixes 0.135 pH of 98 % and 2.18 pH of 92 %.
    expect(fit.segments[1]!.slopeFraction).toBeCloseTo((0.98 * 0.135 + 0.92 * 2.18) / (9.18 - 6.865), 9);
  });

  it('least squares: one point 1 mV off in a symmetric set leaves residuals of −1/3, +2/3, −1/3 mV', () => {
    const S = nernstSlopeMv(25);
    const line = (ph: number) => 5 - S * (ph - 7);
    const fit = fitOk([
      { mv: line(4), tempC: 25, bufferPhAtT: 4 },
      { mv: line(7) + 1, tempC: 25, bufferPhAtT: 7 },
      { mv: line(10), tempC: 25, bufferPhAtT: 10 },
    ]);
    expect(fit.line.slopeFraction).toBeCloseTo(1, 12);
    expect(fit.line.offsetMv).toBeCloseTo(5 + 1 / 3, 12);
    expect(fit.maxResidualMv).toBeCloseTo(2 / 3, 12);
  });

  it('points given in any order give the same line', () => {
    const e = { slopeFraction: 1.01, offsetMv: 22 };
    const points = [pointOf(e, N918, 30), pointOf(e, N168, 10), pointOf(e, N686, 20)];
    const a = fitOk(points);
    const b = fitOk([...points].reverse());
    expect(b.line.slopeFraction).toBeCloseTo(a.line.slopeFraction, 12);
    expect(b.line.offsetMv).toBeCloseTo(a.line.offsetMv, 12);
    expect(b.segments).toEqual(a.segments);
  });
});

describe('fitCalibrationLine: bad input gets a code', () => {
  const ok = pointOf({ slopeFraction: 1, offsetMv: 0 }, N686, 25);
  it.each([
    ['no points', [], 'no-points'],
    ['six points', [ok, ok, ok, ok, ok, ok], 'too-many-points'],
    ['a NaN mV', [ok, { ...ok, mv: Number.NaN }], 'bad-point'],
    ['an infinite temperature', [{ ...ok, tempC: Number.POSITIVE_INFINITY }], 'bad-point'],
    ['below absolute zero', [{ ...ok, tempC: -300 }], 'bad-point'],
    ['the same buffer twice', [ok, { ...ok, mv: ok.mv + 3 }], 'degenerate'],
  ] as const)('%s → %s', (_, points, code) => {
    const r = fitCalibrationLine(points);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe(code);
  });

  it('a previous slope that is not a positive number → bad-point', () => {
    expect(fitCalibrationLine([ok], { previousSlopeFraction: 0 })).toMatchObject({ ok: false, code: 'bad-point' });
  });
});

describe('judgeCalibration (DESIGN §6)', () => {
  it.each([
    // [slope, offset mV, expected]
    [0.8499, 0, { ok: false, code: 'slope-low', failures: ['slope-low'] }],
    [0.5, 0, { ok: false, code: 'slope-low', failures: ['slope-low'] }],
    [1.0501, 0, { ok: false, code: 'slope-high', failures: ['slope-high'] }],
    [1, 60.01, { ok: false, code: 'offset', failures: ['offset'] }],
    [1, -60.01, { ok: false, code: 'offset', failures: ['offset'] }],
    [0.8, 75, { ok: false, code: 'slope-low', failures: ['slope-low', 'offset'] }],
    [1.2, -61, { ok: false, code: 'slope-high', failures: ['slope-high', 'offset'] }],
    [Number.NaN, 0, { ok: false, code: 'slope-low', failures: ['slope-low'] }],
    [1, Number.NaN, { ok: false, code: 'offset', failures: ['offset'] }],
    // The limits themselves are accepted.
    [0.85, 0, { ok: true, warnings: ['slope-warn'] }],
    [1.05, 0, { ok: true, warnings: [] }],
    [1, 60, { ok: true, warnings: ['offset-warn'] }],
    [1, -60, { ok: true, warnings: ['offset-warn'] }],
    // Warnings.
    [0.9199, 0, { ok: true, warnings: ['slope-warn'] }],
    [0.92, 0, { ok: true, warnings: [] }],
    [1, 30.01, { ok: true, warnings: ['offset-warn'] }],
    [1, -30.01, { ok: true, warnings: ['offset-warn'] }],
    [1, 30, { ok: true, warnings: [] }],
    [0.9, 45, { ok: true, warnings: ['slope-warn', 'offset-warn'] }],
    [0.99, 4, { ok: true, warnings: [] }],
  ] as const)('slope %s, offset %s mV → %j', (slopeFraction, offsetMv, expected) => {
    expect(judgeCalibration({ slopeFraction, offsetMv })).toEqual(expected);
  });
});

describe('expiry', () => {
  const cal = { atUs: 5 * DAY_US };

  it('is valid for 6 days, then reminds, then expires at 7 days (the defaults)', () => {
    expect(DEFAULT_EXPIRY_POLICY).toEqual({ validForS: 7 * 86_400, reminderAfterS: 6 * 86_400 });
    const at = (daysAfter: number, extraUs = 0) => calibrationStatusAt(cal, cal.atUs + daysAfter * DAY_US + extraUs);
    expect(at(0)).toBe('valid');
    expect(at(6, -1)).toBe('valid');
    expect(at(6)).toBe('reminder');
    expect(at(7, -1)).toBe('reminder');
    expect(at(7)).toBe('expired');
    expect(at(400)).toBe('expired');
    expect(isReminderDue(cal.atUs, cal.atUs + 6 * DAY_US - 1)).toBe(false);
    expect(isReminderDue(cal.atUs, cal.atUs + 6 * DAY_US)).toBe(true);
    expect(isReminderDue(cal.atUs, cal.atUs + 8 * DAY_US)).toBe(true); // still due once expired
    expect(isCalibrationExpired(cal.atUs, cal.atUs + 7 * DAY_US - 1)).toBe(false);
    expect(isCalibrationExpired(cal.atUs, cal.atUs + 7 * DAY_US)).toBe(true);
  });

  it('follows a configured policy', () => {
    const policy = { validForS: 8 * 3_600, reminderAfterS: 7 * 3_600 }; // one shift
    expect(calibrationStatusAt(cal, cal.atUs + 7 * 3_600 * US_PER_S - 1, policy)).toBe('valid');
    expect(calibrationStatusAt(cal, cal.atUs + 7 * 3_600 * US_PER_S, policy)).toBe('reminder');
    expect(calibrationStatusAt(cal, cal.atUs + 8 * 3_600 * US_PER_S, policy)).toBe('expired');
  });

  it('none without a calibration; expired when the clock is behind the record (a restart: the age is unknown)', () => {
    expect(calibrationStatusAt(undefined, 0)).toBe('none');
    expect(calibrationStatusAt(cal, cal.atUs - 1)).toBe('expired');
    expect(isReminderDue(cal.atUs, cal.atUs - 1)).toBe(true);
  });

  it.each([
    [{ validForS: 0, reminderAfterS: 0 }],
    [{ validForS: Number.NaN, reminderAfterS: 1 }],
    [{ validForS: 100, reminderAfterS: 101 }],
    [{ validForS: 100, reminderAfterS: 0 }],
  ])('refuses the policy %j', (policy) => {
    expect(checkExpiryPolicy(policy)).toMatchObject({ ok: false, code: 'bad-expiry-policy' });
  });

  it('accepts the default policy and a reminder at the expiry itself', () => {
    expect(checkExpiryPolicy(DEFAULT_EXPIRY_POLICY)).toEqual({ ok: true });
    expect(checkExpiryPolicy({ validForS: 100, reminderAfterS: 100 })).toEqual({ ok: true });
  });
});
