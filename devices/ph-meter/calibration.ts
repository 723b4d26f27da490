// Calibration as pure numbers: the line fitted through 1–5 buffer points, the acceptance rules (DESIGN §6),
// the expiry policy, and the Calibration record the meter keeps in force. Not the procedure that collects the
// points (calibration.machine.ts), the buffers (buffers.ts) nor the GLP log that stores the records.
//
// Model (nernst.ts): E = offset − s·S(T)·(pH − 7). With xᵢ = S(Tᵢ)·(7 − pHᵢ) every point reads Eᵢ = offset + s·xᵢ,
// linear in the two unknowns whatever temperature each point was taken at. So:
//   1 point   the offset only: s is the previous calibration's slope, or 100 % without one (a one-point
//             calibration corrects the offset, which drifts faster than the glass's slope);
//   2 points  the line through both;
//   3–5       ordinary least squares of mV on x. When all points share one temperature this is the usual fit of
//             mV on pH; when they do not, it is the fit on temperature-normalized mV (each point's mV scaled to
//             a common S(T)), done exactly instead of by rescaling.
// Segment slopes (between neighbouring buffers, by pH) are reported too: meters show them, and a bent electrode
// (alkaline error) shows there first. They inform; acceptance judges the fitted line.

import type { Role } from '../../src/session/roles.ts';
import type { BufferSetId } from './buffers.ts';
import { ISOPOTENTIAL_PH, nernstSlopeMv, type CalibrationLine } from './nernst.ts';

export const MIN_CALIBRATION_POINTS = 1;
export const MAX_CALIBRATION_POINTS = 5;

/** One point as the fit needs it. */
export interface CalibrationPoint {
  readonly mv: number;
  readonly tempC: number;
  /** The buffer's pH at tempC (buffers.ts bufferPhAt). */
  readonly bufferPhAtT: number;
}

export interface SegmentSlope {
  readonly fromPh: number;
  readonly toPh: number;
  readonly slopeFraction: number;
}

export interface LineFit {
  readonly line: CalibrationLine;
  readonly slopePercent: number;
  readonly offsetMv: number;
  /** Between neighbouring points by pH; empty for one point. */
  readonly segments: readonly SegmentSlope[];
  /** Largest |measured − fitted| mV over the points (0 for 1 and 2 points). */
  readonly maxResidualMv: number;
}

export type FitCode = 'no-points' | 'too-many-points' | 'bad-point' | 'degenerate';
export type FitResult = { readonly ok: true; readonly value: LineFit } | { readonly ok: false; readonly code: FitCode; readonly detail: string };

export interface FitOptions {
  /** The slope a one-point calibration keeps (the calibration in force); default 1 (100 %). */
  readonly previousSlopeFraction?: number;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Fit the calibration line through `points` (see the header for the method). Bad input gets a code. */
export function fitCalibrationLine(points: readonly CalibrationPoint[], opts: FitOptions = {}): FitResult {
  if (points.length < MIN_CALIBRATION_POINTS) return { ok: false, code: 'no-points', detail: 'a calibration needs at least one point' };
  if (points.length > MAX_CALIBRATION_POINTS) return { ok: false, code: 'too-many-points', detail: `${points.length} points, at most ${MAX_CALIBRATION_POINTS}` };
  const bad = points.findIndex((p) => !isFiniteNumber(p.mv) || !isFiniteNumber(p.tempC) || !isFiniteNumber(p.bufferPhAtT) || p.tempC <= -273.15);
  if (bad >= 0) return { ok: false, code: 'bad-point', detail: `point ${bad + 1} is not a finite mV, °C and pH` };
  const xs = points.map((p) => nernstSlopeMv(p.tempC) * (ISOPOTENTIAL_PH - p.bufferPhAtT));
  const es = points.map((p) => p.mv);

  let slopeFraction: number;
  let offsetMv: number;
  if (points.length === 1) {
    slopeFraction = opts.previousSlopeFraction ?? 1;
    if (!(slopeFraction > 0) || !Number.isFinite(slopeFraction)) return { ok: false, code: 'bad-point', detail: `previous slope ${slopeFraction}` };
    offsetMv = es[0]! - slopeFraction * xs[0]!;
  } else {
    const n = points.length;
    const xMean = xs.reduce((a, b) => a + b, 0) / n;
    const eMean = es.reduce((a, b) => a + b, 0) / n;
    let sxx = 0;
    let sxe = 0;
    for (let i = 0; i < n; i++) {
      sxx += (xs[i]! - xMean) ** 2;
      sxe += (xs[i]! - xMean) * (es[i]! - eMean);
    }
    // Buffers of (nearly) the same pH say nothing about the slope. Σ(x − x̄)² ≤ 1 mV² is two points less than
    // 1.4 mV (0.024 pH at 25 °C) apart: far below any two buffers of a set (recognition refuses a repeat).
    if (!(sxx > 1)) return { ok: false, code: 'degenerate', detail: 'the points do not span a pH range' };
    slopeFraction = sxe / sxx;
    offsetMv = eMean - slopeFraction * xMean;
  }
  const line: CalibrationLine = { slopeFraction, offsetMv };
  let maxResidualMv = 0;
  for (let i = 0; i < points.length; i++) maxResidualMv = Math.max(maxResidualMv, Math.abs(es[i]! - (offsetMv + slopeFraction * xs[i]!)));
  if (points.length <= 2) maxResidualMv = 0; // exact by construction; rounding noise is not a residual

  const order = points.map((_, i) => i).sort((a, b) => points[a]!.bufferPhAtT - points[b]!.bufferPhAtT);
  const segments: SegmentSlope[] = [];
  for (let k = 1; k < order.length; k++) {
    const i = order[k - 1]!;
    const j = order[k]!;
    const dx = xs[j]! - xs[i]!;
    if (dx !== 0) segments.push({ fromPh: points[i]!.bufferPhAtT, toPh: points[j]!.bufferPhAtT, slopeFraction: (es[j]! - es[i]!) / dx });
  }
  return { ok: true, value: { line, slopePercent: slopeFraction * 100, offsetMv, segments, maxResidualMv } };
}

// ─── acceptance (DESIGN §6) ──────────────────────────────────────────────────────────────────

export const ACCEPTANCE_LIMITS = Object.freeze({
  /** Fail below 85 % … */
  minSlopeFraction: 0.85,
  /** … or above 105 %. */
  maxSlopeFraction: 1.05,
  /** Fail beyond ±60 mV at pH 7. */
  maxOffsetMv: 60,
  /** Warn below 92 %: the electrode is ageing. */
  warnSlopeFractionBelow: 0.92,
  /** Warn beyond ±30 mV: the reference is drifting or the junction fouled. */
  warnOffsetMvAbove: 30,
});

/** Why a calibration was rejected (each a rule of §6). */
export type AcceptanceFailure = 'slope-low' | 'slope-high' | 'offset';
/** Accepted, but worth telling the user (§6 warn limits). */
export type AcceptanceWarning = 'slope-warn' | 'offset-warn';

export type Acceptance =
  | { readonly ok: true; readonly warnings: readonly AcceptanceWarning[] }
  | { readonly ok: false; readonly code: AcceptanceFailure; readonly failures: readonly AcceptanceFailure[] };

/**
 * The §6 rules on a fitted line. The limits themselves pass (85 % and 60 mV are accepted; 92 % and 30 mV do not
 * warn): "fail if slope < 85 %". All broken rules are listed; `code` is the first in the order slope-low,
 * slope-high, offset.
 */
export function judgeCalibration(line: CalibrationLine): Acceptance {
  const L = ACCEPTANCE_LIMITS;
  const failures: AcceptanceFailure[] = [];
  if (!(line.slopeFraction >= L.minSlopeFraction)) failures.push('slope-low'); // NaN fails too
  if (line.slopeFraction > L.maxSlopeFraction) failures.push('slope-high');
  if (!(Math.abs(line.offsetMv) <= L.maxOffsetMv)) failures.push('offset');
  if (failures.length > 0) return { ok: false, code: failures[0]!, failures };
  const warnings: AcceptanceWarning[] = [];
  if (line.slopeFraction < L.warnSlopeFractionBelow) warnings.push('slope-warn');
  if (Math.abs(line.offsetMv) > L.warnOffsetMvAbove) warnings.push('offset-warn');
  return { ok: true, warnings };
}

// ─── the record ───────────────────────────────────────────────────────────────────────────────

/**
 * Who performed a calibration. The session authorizes calibration for clinician and service roles (DESIGN §6
 * "calibration restricted to a privileged role"); the local button procedure is the other way in. The
 * calibration machine records this; it does not decide it.
 */
export type CalibrationOperator =
  | { readonly source: 'session'; readonly role: Role; /** The bonded peer, as the session names it. */ readonly peer?: string }
  | { readonly source: 'local' };

/** Where a point's temperature came from (measurement.machine.ts ReadingFlags.temperature). */
export type TemperatureSource = 'atc' | 'manual' | 'manual-fallback';

/** A point as recorded in a Calibration: the fit's input plus what it was. */
export interface RecordedPoint extends CalibrationPoint {
  readonly bufferId: string;
  readonly nominalPh: number;
  readonly temperatureSource: TemperatureSource;
  /** Device time of the stable reading, µs. */
  readonly atUs: number;
}

/** An accepted calibration: the one in force until the next accepted one (a failed one changes nothing). */
export interface Calibration {
  /** Increasing over the device's life: 1, 2, 3 … (failed attempts take none). */
  readonly id: number;
  readonly line: CalibrationLine;
  readonly slopePercent: number;
  readonly offsetMv: number;
  readonly segments: readonly SegmentSlope[];
  readonly points: readonly RecordedPoint[];
  /** Mean temperature of the points, °C. */
  readonly tempC: number;
  /** Device time it was accepted, µs (the expiry runs from here). */
  readonly atUs: number;
  readonly bufferSet: BufferSetId;
  readonly warnings: readonly AcceptanceWarning[];
  readonly performedBy: CalibrationOperator;
}

// ─── expiry ───────────────────────────────────────────────────────────────────────────────────

const US_PER_S = 1_000_000;
const S_PER_DAY = 86_400;

/** How long a calibration stays valid, and when the meter starts reminding. */
export interface ExpiryPolicy {
  readonly validForS: number;
  readonly reminderAfterS: number;
}

/** GLP practice for a lab meter in daily use: recalibrate weekly; remind a day before. Configurable per device. */
export const DEFAULT_EXPIRY_POLICY: ExpiryPolicy = Object.freeze({ validForS: 7 * S_PER_DAY, reminderAfterS: 6 * S_PER_DAY });

export function checkExpiryPolicy(p: ExpiryPolicy): { readonly ok: true } | { readonly ok: false; readonly code: 'bad-expiry-policy'; readonly detail: string } {
  if (!(p.validForS > 0) || !Number.isFinite(p.validForS)) return { ok: false, code: 'bad-expiry-policy', detail: `validity ${p.validForS} s` };
  if (!(p.reminderAfterS > 0 && p.reminderAfterS <= p.validForS)) return { ok: false, code: 'bad-expiry-policy', detail: `reminder after ${p.reminderAfterS} s, validity ${p.validForS} s` };
  return { ok: true };
}

/** What a reading says about the calibration in force. */
export type CalibrationStatus = 'none' | 'valid' | 'reminder' | 'expired';

/**
 * A calibration stamped after `nowUs` means the clock restarted (a chip without a running RTC counts from 0
 * after a reset) or the record lies: its age is unknown, so it counts as expired — recalibrating costs minutes,
 * trusting an unknown age could cost a wrong result.
 */
export function isCalibrationExpired(calibratedAtUs: number, nowUs: number, policy: ExpiryPolicy = DEFAULT_EXPIRY_POLICY): boolean {
  const ageUs = nowUs - calibratedAtUs;
  return !(ageUs >= 0) || ageUs >= policy.validForS * US_PER_S;
}

/** The reminder is due from `reminderAfterS` on (and stays due once the calibration has expired). */
export function isReminderDue(calibratedAtUs: number, nowUs: number, policy: ExpiryPolicy = DEFAULT_EXPIRY_POLICY): boolean {
  const ageUs = nowUs - calibratedAtUs;
  return !(ageUs >= 0) || ageUs >= policy.reminderAfterS * US_PER_S;
}

export function calibrationStatusAt(calibration: { readonly atUs: number } | undefined, nowUs: number, policy: ExpiryPolicy = DEFAULT_EXPIRY_POLICY): CalibrationStatus {
  if (calibration === undefined) return 'none';
  if (isCalibrationExpired(calibration.atUs, nowUs, policy)) return 'expired';
  return isReminderDue(calibration.atUs, nowUs, policy) ? 'reminder' : 'valid';
}
