// Tests for the hard limits: each limit and each absolute bound at and just past its edge, with the exact code.
// Not engine tests: the per-pulse re-checks are in delivery-engine.test.ts.

import { describe, expect, it } from 'vitest';
import {
  ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR,
  ABSOLUTE_MAX_BOLUS_MILLIUNITS,
  ABSOLUTE_MAX_DAILY_MILLIUNITS,
  checkBasalRate,
  checkBolus,
  checkDaily,
  DEFAULT_LIMITS,
  validateLimits,
  type HardLimits,
  type LimitState,
} from '../../../devices/insulin-pump/limits.ts';

const limits: HardLimits = { maxBolusMilliUnits: 8_000, maxBasalRateMilliUnitsPerHour: 1_500, maxDailyMilliUnits: 40_000 };
const fresh: LimitState = { deliveredLast24hMilliUnits: 0, committedMilliUnits: 0 };
const code = (r: { ok: boolean; code?: string }) => (r.ok ? 'ok' : r.code);

describe('absolute device bounds', () => {
  it('are 25 U bolus, 5 U/h basal, 80 U daily, and the factory limits lie within them', () => {
    expect([ABSOLUTE_MAX_BOLUS_MILLIUNITS, ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR, ABSOLUTE_MAX_DAILY_MILLIUNITS]).toEqual([25_000, 5_000, 80_000]);
    expect(validateLimits(DEFAULT_LIMITS)).toEqual({ ok: true });
  });

  it.each([
    ['bolus at the bound', { ...limits, maxBolusMilliUnits: 25_000 }, 'ok'],
    ['bolus past the bound', { ...limits, maxBolusMilliUnits: 25_001 }, 'out-of-bounds'],
    ['basal at the bound', { ...limits, maxBasalRateMilliUnitsPerHour: 5_000 }, 'ok'],
    ['basal past the bound', { ...limits, maxBasalRateMilliUnitsPerHour: 5_001 }, 'out-of-bounds'],
    ['daily at the bound', { ...limits, maxDailyMilliUnits: 80_000 }, 'ok'],
    ['daily past the bound', { ...limits, maxDailyMilliUnits: 80_001 }, 'out-of-bounds'],
    ['zero bolus (boluses disabled)', { ...limits, maxBolusMilliUnits: 0 }, 'ok'],
    ['negative', { ...limits, maxDailyMilliUnits: -1 }, 'out-of-bounds'],
    ['fractional', { ...limits, maxBasalRateMilliUnitsPerHour: 100.5 }, 'out-of-bounds'],
    ['NaN', { ...limits, maxBolusMilliUnits: Number.NaN }, 'out-of-bounds'],
  ] as const)('validateLimits: %s → %s', (_name, l, expected) => {
    expect(code(validateLimits(l))).toBe(expected);
  });

  it('makes every check refuse with out-of-bounds when the limits themselves are outside the bounds', () => {
    const bad = { ...limits, maxDailyMilliUnits: 100_000 };
    expect(code(checkBolus(bad, fresh, 1_000))).toBe('out-of-bounds');
    expect(code(checkBasalRate(bad, 100))).toBe('out-of-bounds');
    expect(code(checkDaily(bad, fresh, 50))).toBe('out-of-bounds');
  });
});

describe('checkBolus', () => {
  it.each([
    ['at max bolus', fresh, 8_000, 'ok'],
    ['one milli-unit over max bolus', fresh, 8_001, 'max-bolus'],
    ['over the absolute bound', fresh, 25_050, 'out-of-bounds'],
    ['zero', fresh, 0, 'out-of-bounds'],
    ['negative', fresh, -50, 'out-of-bounds'],
    ['fractional', fresh, 50.5, 'out-of-bounds'],
    ['filling max daily exactly', { deliveredLast24hMilliUnits: 30_000, committedMilliUnits: 2_000 }, 8_000, 'ok'],
    ['past max daily by delivered', { deliveredLast24hMilliUnits: 32_001, committedMilliUnits: 0 }, 8_000, 'max-daily'],
    ['past max daily by committed', { deliveredLast24hMilliUnits: 30_000, committedMilliUnits: 2_050 }, 8_000, 'max-daily'],
  ] as const)('%s → %s', (_name, state, amount, expected) => {
    expect(code(checkBolus(limits, state, amount))).toBe(expected);
  });

  it('checks max bolus before max daily (the more specific reason)', () => {
    expect(code(checkBolus(limits, { deliveredLast24hMilliUnits: 40_000, committedMilliUnits: 0 }, 9_000))).toBe('max-bolus');
  });
});

describe('checkBasalRate', () => {
  it.each([
    [0, 'ok'],
    [1_500, 'ok'],
    [1_500.5, 'max-basal'],
    [1_501, 'max-basal'],
    [5_000, 'max-basal'],
    [5_001, 'out-of-bounds'],
    [-1, 'out-of-bounds'],
    [Number.POSITIVE_INFINITY, 'out-of-bounds'],
    [Number.NaN, 'out-of-bounds'],
  ] as const)('%s mU/h → %s', (rate, expected) => {
    expect(code(checkBasalRate(limits, rate))).toBe(expected);
  });
});

describe('checkDaily', () => {
  it.each([
    ['one pulse into an empty day', fresh, 50, 'ok'],
    ['the pulse that fills the day', { deliveredLast24hMilliUnits: 39_950, committedMilliUnits: 0 }, 50, 'ok'],
    ['the pulse after it', { deliveredLast24hMilliUnits: 40_000, committedMilliUnits: 0 }, 50, 'max-daily'],
    ['committed counts', { deliveredLast24hMilliUnits: 39_000, committedMilliUnits: 1_000 }, 50, 'max-daily'],
    ['zero more is fine even at the limit', { deliveredLast24hMilliUnits: 40_000, committedMilliUnits: 0 }, 0, 'ok'],
    ['negative amount', fresh, -50, 'out-of-bounds'],
    ['a bad state', { deliveredLast24hMilliUnits: -1, committedMilliUnits: 0 }, 50, 'out-of-bounds'],
  ] as const)('%s → %s', (_name, state, amount, expected) => {
    expect(code(checkDaily(limits, state, amount))).toBe(expected);
  });
});
