// Hard insulin limits (max bolus, max basal rate, max daily) and the absolute device bounds they live in.
// Not authorization: these pure checks sit below every role, session and override (DESIGN §5).
//
// Units: integer milli-units (mU; 1 U = 1000 mU; one motor pulse = 50 mU) and mU per hour.
// The clinician sets `HardLimits` within the ABSOLUTE_* bounds; the therapy machine checks a
// command against them before accepting it (IDS "parameter out of range"), and the delivery
// engine checks again before every pulse (defence in depth: a bug above cannot overdose).

export type LimitCode = 'max-bolus' | 'max-basal' | 'max-daily' | 'out-of-bounds';
export type LimitCheck = { ok: true } | { ok: false; code: LimitCode; detail?: string };

/**
 * Absolute bounds of this device; no configuration may exceed them. Assumptions, chosen at
 * or below what marketed pumps allow (typical maxima: bolus 25–30 U, basal 5–35 U/h, daily
 * 80–100 U for a U-100 pump used by adults with type 1 diabetes); a real product takes them
 * from its risk analysis (ISO 14971), not from this comment.
 */
export const ABSOLUTE_MAX_BOLUS_MILLIUNITS = 25_000;
export const ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR = 5_000;
export const ABSOLUTE_MAX_DAILY_MILLIUNITS = 80_000;

/** The daily limit looks back over a rolling 24 h (not a calendar day: no midnight reset to exploit). */
export const DAILY_WINDOW_MINUTES = 24 * 60;

export interface HardLimits {
  /** One bolus, fast and extended parts together (IDS Glossary "Max Bolus"). */
  readonly maxBolusMilliUnits: number;
  /** The basal rate in force, profile or temporary. */
  readonly maxBasalRateMilliUnitsPerHour: number;
  /** Delivered over the last 24 h plus what is committed (programmed, not yet delivered). */
  readonly maxDailyMilliUnits: number;
}

/** Factory limits: conservative until a clinician sets the patient's (assumption). */
export const DEFAULT_LIMITS: HardLimits = {
  maxBolusMilliUnits: 10_000,
  maxBasalRateMilliUnitsPerHour: 2_000,
  maxDailyMilliUnits: 50_000,
};

/** What the checks need to know about delivery so far. */
export interface LimitState {
  /** Delivered over the last DAILY_WINDOW_MINUTES. */
  readonly deliveredLast24hMilliUnits: number;
  /** Programmed and not yet delivered (the rest of an active bolus). */
  readonly committedMilliUnits: number;
}

const OK: LimitCheck = { ok: true };
const refuse = (code: LimitCode, detail: string): LimitCheck => ({ ok: false, code, detail });

const isWholeAtMost = (n: number, max: number): boolean => Number.isInteger(n) && n >= 0 && n <= max;

/** The limits themselves lie within the device's absolute bounds (a bolus limit of 0 disables boluses). */
export function validateLimits(limits: HardLimits): LimitCheck {
  if (!isWholeAtMost(limits.maxBolusMilliUnits, ABSOLUTE_MAX_BOLUS_MILLIUNITS)) {
    return refuse('out-of-bounds', `max bolus ${limits.maxBolusMilliUnits} mU outside 0..${ABSOLUTE_MAX_BOLUS_MILLIUNITS}`);
  }
  if (!isWholeAtMost(limits.maxBasalRateMilliUnitsPerHour, ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR)) {
    return refuse('out-of-bounds', `max basal ${limits.maxBasalRateMilliUnitsPerHour} mU/h outside 0..${ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR}`);
  }
  if (!isWholeAtMost(limits.maxDailyMilliUnits, ABSOLUTE_MAX_DAILY_MILLIUNITS)) {
    return refuse('out-of-bounds', `max daily ${limits.maxDailyMilliUnits} mU outside 0..${ABSOLUTE_MAX_DAILY_MILLIUNITS}`);
  }
  return OK;
}

function validState(state: LimitState): boolean {
  return isWholeAtMost(state.deliveredLast24hMilliUnits, Number.MAX_SAFE_INTEGER) && isWholeAtMost(state.committedMilliUnits, Number.MAX_SAFE_INTEGER);
}

/**
 * Would `additionalMilliUnits` more keep delivered (last 24 h) + committed within max daily?
 * Called with a whole bolus when it is programmed and with one pulse before each pulse.
 */
export function checkDaily(limits: HardLimits, state: LimitState, additionalMilliUnits: number): LimitCheck {
  const bounds = validateLimits(limits);
  if (!bounds.ok) return bounds;
  if (!validState(state) || !isWholeAtMost(additionalMilliUnits, ABSOLUTE_MAX_DAILY_MILLIUNITS)) {
    return refuse('out-of-bounds', `daily check of ${additionalMilliUnits} mU: not a whole amount within the device bounds`);
  }
  const totalMilliUnits = state.deliveredLast24hMilliUnits + state.committedMilliUnits + additionalMilliUnits;
  if (totalMilliUnits > limits.maxDailyMilliUnits) {
    return refuse('max-daily', `${totalMilliUnits} mU in 24 h > ${limits.maxDailyMilliUnits} mU`);
  }
  return OK;
}

/**
 * A bolus of `amountMilliUnits` (fast + extended parts together): positive, whole, within the
 * absolute bound, within max bolus, then within max daily.
 */
export function checkBolus(limits: HardLimits, state: LimitState, amountMilliUnits: number): LimitCheck {
  const bounds = validateLimits(limits);
  if (!bounds.ok) return bounds;
  if (!Number.isInteger(amountMilliUnits) || amountMilliUnits <= 0 || amountMilliUnits > ABSOLUTE_MAX_BOLUS_MILLIUNITS) {
    return refuse('out-of-bounds', `bolus ${amountMilliUnits} mU outside 1..${ABSOLUTE_MAX_BOLUS_MILLIUNITS}`);
  }
  if (amountMilliUnits > limits.maxBolusMilliUnits) {
    return refuse('max-bolus', `bolus ${amountMilliUnits} mU > ${limits.maxBolusMilliUnits} mU`);
  }
  return checkDaily(limits, state, amountMilliUnits);
}

/**
 * A basal rate in force (profile segment or temporary basal). Not necessarily whole: a
 * relative TBR of a profile rate can land between two milli-units per hour.
 */
export function checkBasalRate(limits: HardLimits, rateMilliUnitsPerHour: number): LimitCheck {
  const bounds = validateLimits(limits);
  if (!bounds.ok) return bounds;
  if (!Number.isFinite(rateMilliUnitsPerHour) || rateMilliUnitsPerHour < 0 || rateMilliUnitsPerHour > ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR) {
    return refuse('out-of-bounds', `basal ${rateMilliUnitsPerHour} mU/h outside 0..${ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR}`);
  }
  if (rateMilliUnitsPerHour > limits.maxBasalRateMilliUnitsPerHour) {
    return refuse('max-basal', `basal ${rateMilliUnitsPerHour} mU/h > ${limits.maxBasalRateMilliUnitsPerHour} mU/h`);
  }
  return OK;
}
