// Tests for the electrode front end: the circuit's pin voltage, raw → mV round trip within half an
// LSB, rail-pinned dead detection at its exact limits, bad codes. Not the electrode model or the reader.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adcRaw, ADC_FULL_SCALE_RAW } from '../../../hal/kw31z/adc.ts';
import {
  ELECTRODE_LSB_UV,
  ELECTRODE_MV_RANGE,
  ELECTRODE_RAIL_MARGIN_RAW,
  electrodeFromRaw,
  FRONT_END_RAIL_VOLTS,
  frontEndVolts,
  mvFromRaw,
  PH_METER_VREF_VOLTS,
} from '../../../devices/ph-meter/front-end.ts';

describe('circuit', () => {
  it.each([
    [0, 0.6],
    [500, 1.1],
    [-500, 0.1],
    [-700, 0], // below ground: the rail-to-rail buffer stops at 0 V
    [1_500, FRONT_END_RAIL_VOLTS],
  ])('E = %s mV puts %s V on the pin (bias 0.6 V, unity gain)', (mv, volts) => {
    expect(frontEndVolts(mv)).toBeCloseTo(volts, 12);
  });

  it('an open input sits at the buffer rail, beyond the ADC span: raw 65535', () => {
    expect(frontEndVolts(undefined)).toBe(1.8);
    expect(adcRaw(frontEndVolts(undefined), PH_METER_VREF_VOLTS, 0)).toBe(ADC_FULL_SCALE_RAW);
  });

  it('one LSB is 1.2 V / 65535 = 18.31 µV at the electrode', () => {
    expect(ELECTRODE_LSB_UV).toBeCloseTo(18.3108, 4);
    expect(mvFromRaw(32_769) - mvFromRaw(32_768)).toBeCloseTo(ELECTRODE_LSB_UV / 1000, 12);
  });
});

describe('raw → mV', () => {
  it('round-trips every potential in the span within half an LSB (9.2 µV), fast-check 5,000 runs', () => {
    const halfLsbMv = ELECTRODE_LSB_UV / 2000;
    fc.assert(
      fc.property(fc.double({ min: -585, max: 585, noNaN: true }), (mv) => {
        const r = electrodeFromRaw(adcRaw(frontEndVolts(mv), PH_METER_VREF_VOLTS, 0));
        if (!r.ok) throw new Error(`${mv} mV read as ${r.code}`);
        expect(Math.abs(r.mv - mv)).toBeLessThanOrEqual(halfLsbMv + 1e-9);
      }),
      { seed: 42, numRuns: 5_000 },
    );
  });

  it('follows the reference: with a 3.0 V VREF the bias is 1.5 V and 0 mV is mid-scale', () => {
    const raw = adcRaw(frontEndVolts(100, 3.0), 3.0, 0);
    const r = electrodeFromRaw(raw, 3.0);
    expect(r.ok && r.mv).toBeCloseTo(100, 1);
    expect(adcRaw(frontEndVolts(0, 3.0), 3.0, 0)).toBe(32_768);
  });
});

describe('dead electrode (rail-pinned code)', () => {
  it('flags codes within 655 LSB of either rail, and nothing inside', () => {
    expect(ELECTRODE_RAIL_MARGIN_RAW).toBe(655);
    const dead = { ok: false, code: 'electrode-dead' };
    for (const raw of [0, 1, 655, 64_880, 65_534, 65_535]) expect(electrodeFromRaw(raw)).toEqual(dead);
    for (const raw of [656, 32_768, 64_879]) expect(electrodeFromRaw(raw).ok).toBe(true);
    // The limits are ±588 mV: beyond the ±578 mV a working electrode reaches (pH 0/14 at 100 °C, +60 mV offset).
    expect(mvFromRaw(656)).toBeCloseTo(-587.99, 2);
    expect(ELECTRODE_MV_RANGE.minMv).toBe(mvFromRaw(656));
    expect(ELECTRODE_MV_RANGE.maxMv).toBe(mvFromRaw(64_879));
    expect(ELECTRODE_MV_RANGE.maxMv).toBeCloseTo(587.99, 2);
    expect(electrodeFromRaw(adcRaw(frontEndVolts(578), PH_METER_VREF_VOLTS, 3)).ok).toBe(true);
    expect(electrodeFromRaw(adcRaw(frontEndVolts(-578), PH_METER_VREF_VOLTS, -3)).ok).toBe(true);
  });

  it.each([-1, 65_536, 0.5, Number.NaN])('a code that no 16-bit ADC gives (%s) throws probe.raw', (raw) => {
    expect(() => electrodeFromRaw(raw)).toThrow(expect.objectContaining({ code: 'probe.raw' }));
  });
});
