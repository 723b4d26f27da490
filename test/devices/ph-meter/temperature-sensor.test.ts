// Tests for the temperature probe: the β equation, the divider, raw → °C through the real ADC at
// 5/25/45 °C, the time constant, open/short detection and bad input. Not the electrode channel.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adcRaw, ADC_FULL_SCALE_RAW, KW31Z_ADC_NOISE_LSB_SIGMA } from '../../../hal/kw31z/adc.ts';
import {
  dividerFraction,
  NOMINAL_NTC,
  NtcThermistor,
  ntcOhms,
  R_FIXED_OHMS,
  TEMPERATURE_OPEN_RAW_MIN,
  TEMPERATURE_SHORT_RAW_MAX,
  tempCFromNtcOhms,
  tempCFromRaw,
  temperatureRawAt,
  type ThermistorFault,
} from '../../../devices/ph-meter/temperature-sensor.ts';
import { World } from '../../../src/sim/world.ts';
import { DEVICE, mustNumber, probeRig, US_PER_S } from './probe-fixtures.ts';

describe('β equation and divider', () => {
  it('10 kΩ at 25 °C; R85 satisfies the definition of B25/85: ln(R25/R85) = β(1/T25 − 1/T85)', () => {
    expect(ntcOhms(25)).toBe(10_000);
    expect(Math.log(10_000 / ntcOhms(85)) / (1 / 298.15 - 1 / 358.15)).toBeCloseTo(3435, 9);
    // By hand: 10 kΩ · exp(3435 · (1/273.15 − 1/298.15)) = 28,704.3 Ω; at 50 °C 4,101.2 Ω.
    expect(ntcOhms(0)).toBeCloseTo(28_704.29, 1);
    expect(ntcOhms(50)).toBeCloseTo(4_101.19, 1);
  });

  it('inverts exactly over −10..110 °C (fast-check, 2,000 runs)', () => {
    fc.assert(
      fc.property(fc.double({ min: -10, max: 110, noNaN: true }), (t) => {
        expect(tempCFromNtcOhms(ntcOhms(t))).toBeCloseTo(t, 9);
      }),
      { seed: 7, numRuns: 2_000 },
    );
  });

  it('is mid-scale at 25 °C (equal resistors) and ratiometric', () => {
    expect(R_FIXED_OHMS).toBe(10_000);
    expect(dividerFraction(ntcOhms(25))).toBe(0.5);
    expect(temperatureRawAt(25)).toBe(32_768);
    const world = new World();
    const at12 = new NtcThermistor({ world, device: DEVICE, supplyVolts: 1.2 });
    const at30 = new NtcThermistor({ world, device: DEVICE, supplyVolts: 3.0 });
    expect(at12.voltsAt(0)).toBeCloseTo(0.6, 12);
    expect(adcRaw(at30.voltsAt(0), 3.0, 0)).toBe(adcRaw(at12.voltsAt(0), 1.2, 0));
  });
});

describe('raw → °C', () => {
  it('converts the ideal code back within its quantization over −10..110 °C (< 0.005 °C: ½ LSB ÷ the 102 LSB/°C at 110 °C, the flattest)', () => {
    for (let t = -10; t <= 110; t += 0.5) {
      const r = tempCFromRaw(temperatureRawAt(t));
      if (!r.ok) throw new Error(`${t} °C: ${r.code}`);
      expect(Math.abs(r.tempC - t)).toBeLessThan(0.005);
      if (t >= 0 && t <= 50) expect(Math.abs(r.tempC - t)).toBeLessThan(0.00105); // ½ LSB ÷ ≥ 480 LSB/°C there
    }
  });

  // Tolerance ±0.1 °C: the ATC accuracy a lab meter states. The model and the firmware share the β
  // curve, so what remains is the ADC noise, 3 LSB rms ÷ 489–633 LSB/°C (45, 25 °C) ≤ 0.006 °C rms:
  // the bound is > 15σ, and any wrong formula (°C for K, inverted divider, wrong β) is off by degrees.
  it.each([5, 25, 45])('reads %i °C within ±0.1 °C through the real ADC, noise included (20 samples)', (tempC) => {
    const r = probeRig({ solution: { ph: 7, tempC } });
    expect(KW31Z_ADC_NOISE_LSB_SIGMA).toBe(3);
    const samples = r.readAt(Array.from({ length: 20 }, (_, i) => i * 100_000));
    for (const s of samples) {
      expect(s.faults).toEqual([]);
      expect(Math.abs(mustNumber(s.tempC, 'tempC') - tempC)).toBeLessThanOrEqual(0.1);
    }
    // Noise is present (the samples differ), and averages out: the mean within 0.01 °C.
    expect(new Set(samples.map((s) => s.tempC)).size).toBeGreaterThan(1);
    const mean = samples.reduce((a, s) => a + s.tempC!, 0) / samples.length;
    expect(Math.abs(mean - tempC)).toBeLessThan(0.01);
  });

  it('follows the solution with its time constant: 63.2 % of a 25 → 45 °C step after τ = 15 s', () => {
    const r = probeRig({ solution: { ph: 7, tempC: 25 } });
    r.world.runUntil(US_PER_S);
    r.probe.immerse({ ph: 7, tempC: 45 });
    const expected = 25 + 20 * (1 - Math.exp(-1));
    expect(r.probe.thermistor.tempCAt(US_PER_S + NOMINAL_NTC.timeConstantUs)).toBeCloseTo(expected, 12);
    const [atTau] = r.readAt([US_PER_S + NOMINAL_NTC.timeConstantUs]);
    expect(Math.abs(mustNumber(atTau!.tempC, 'tempC') - expected)).toBeLessThan(0.1);
    const [late] = r.readAt([US_PER_S + 10 * NOMINAL_NTC.timeConstantUs]);
    expect(Math.abs(late!.tempC! - 45)).toBeLessThan(0.1);
  });
});

describe('open and short', () => {
  it.each([
    ['open', 'temperature-open'],
    ['short', 'temperature-short'],
  ] as const)('thermistor fault %s is reported as %s, with no temperature; clearing restores', (fault, code) => {
    const r = probeRig({ solution: { ph: 7, tempC: 25 } });
    r.probe.thermistor.setFault(fault as ThermistorFault);
    const s = r.read();
    expect(s.faults).toEqual([code]);
    expect(s.tempC).toBeUndefined();
    expect(s.mv).toBeDefined(); // the electrode is unaffected
    r.probe.thermistor.setFault('none');
    expect(r.read().faults).toEqual([]);
  });

  it('draws the line at the −30 °C and 130 °C codes, and at the rails', () => {
    expect(TEMPERATURE_OPEN_RAW_MIN).toBe(temperatureRawAt(-30));
    expect(TEMPERATURE_OPEN_RAW_MIN).toBe(61_029);
    expect(TEMPERATURE_SHORT_RAW_MAX).toBe(3_106);
    expect(tempCFromRaw(ADC_FULL_SCALE_RAW)).toEqual({ ok: false, code: 'temperature-open' });
    expect(tempCFromRaw(TEMPERATURE_OPEN_RAW_MIN)).toEqual({ ok: false, code: 'temperature-open' });
    expect(tempCFromRaw(0)).toEqual({ ok: false, code: 'temperature-short' });
    expect(tempCFromRaw(TEMPERATURE_SHORT_RAW_MAX)).toEqual({ ok: false, code: 'temperature-short' });
    const justIn = tempCFromRaw(TEMPERATURE_OPEN_RAW_MIN - 1);
    expect(justIn.ok && justIn.tempC).toBeCloseTo(-30, 1);
    const justHot = tempCFromRaw(TEMPERATURE_SHORT_RAW_MAX + 1);
    expect(justHot.ok && justHot.tempC).toBeCloseTo(130, 0);
  });

  it('no noise carries a real reading across: the −10 and 110 °C codes are > 1,800 LSB from the limits', () => {
    expect(TEMPERATURE_OPEN_RAW_MIN - temperatureRawAt(-10)).toBeGreaterThan(1_800);
    expect(temperatureRawAt(110) - TEMPERATURE_SHORT_RAW_MAX).toBeGreaterThan(1_000);
  });
});

describe('bad input', () => {
  it.each([-1, 65_536, 1.5, Number.NaN])('tempCFromRaw(%s) throws probe.raw', (raw) => {
    expect(() => tempCFromRaw(raw)).toThrow(expect.objectContaining({ code: 'probe.raw' }));
  });

  it('immersing out of range throws thermistor.temperature and changes nothing; unknown faults throw', () => {
    const world = new World();
    const t = new NtcThermistor({ world, device: DEVICE, tempC: 20 });
    world.runUntil(US_PER_S);
    expect(() => t.immerse({ tempC: 200 })).toThrow(expect.objectContaining({ code: 'thermistor.temperature' }));
    expect(t.tempCAt(10 * US_PER_S)).toBe(20);
    expect(() => t.setFault('melted' as ThermistorFault)).toThrow(expect.objectContaining({ code: 'thermistor.fault' }));
    expect(t.fault).toBe('none');
    expect(() => new NtcThermistor({ world, device: DEVICE, spec: { ...NOMINAL_NTC, betaK: 0 } })).toThrow(
      expect.objectContaining({ code: 'thermistor.config' }),
    );
  });
});
