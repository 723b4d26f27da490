// Tests for the KW31Z battery models: energies and life projections computed by hand from the
// cost rows, the discharge curves, and Power driven by a ledger. Not tests of the ledger's arithmetic.

import { describe, expect, it } from 'vitest';
import {
  AAA_ALKALINE,
  CR2032,
  Kw31zPower,
  LOW_BATTERY_PERCENT,
  batteryEnergyMicroJoules,
  batteryModel,
  deliverableMicroJoules,
  projectBatteryLife,
  terminalVolts,
} from '../../../hal/kw31z/battery.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { MedtwinError } from '../../../src/errors.ts';

const C = KW31Z_COSTS;

describe('battery rows and models', () => {
  it('takes every figure from the cost table, with a source', () => {
    expect(CR2032).toMatchObject({
      kind: 'cr2032',
      dcdcMode: 'buck',
      usableMilliAmpHours: 180,
      averageVolts: 3.0,
      freshVolts: 3.0,
      cutoffVolts: 2.0,
      converterEfficiency: 1.0,
    });
    expect(AAA_ALKALINE).toMatchObject({
      kind: 'aaa-alkaline',
      dcdcMode: 'boost',
      usableMilliAmpHours: 1_000,
      averageVolts: 1.2,
      freshVolts: 1.5,
      cutoffVolts: 0.9,
      converterEfficiency: 0.85,
    });
    expect(C.cr2032RatedMilliAmpHours.value).toBe(225);
    for (const k of ['cr2032UsableMilliAmpHours', 'aaaAlkalineUsableMilliAmpHours', 'dcdcBoostEfficiencyRelative'] as const) {
      expect(C[k].source.length).toBeGreaterThan(10);
    }
  });

  it('follows a changed cost table', () => {
    const costs = { ...C, cr2032UsableMilliAmpHours: { ...C.cr2032UsableMilliAmpHours, value: 200 } };
    expect(batteryModel('cr2032', costs).usableMilliAmpHours).toBe(200);
  });
});

describe('batteryEnergyMicroJoules and deliverableMicroJoules', () => {
  it('CR2032: 180 mAh × 3.0 V = 540 mWh = 1,944 J, all of it through the buck', () => {
    // 1 mWh = 3.6 J = 3,600,000 µJ.
    expect(batteryEnergyMicroJoules(CR2032)).toBe(1_944_000_000);
    expect(batteryEnergyMicroJoules(CR2032)).toBe(C.cr2032UsableMilliAmpHours.value * C.cr2032NominalVolts.value * 3_600_000);
    expect(deliverableMicroJoules(CR2032)).toBe(1_944_000_000);
  });

  it('AAA alkaline: 1,000 mAh × 1.2 V = 1,200 mWh = 4,320 J, 85 % of it through the boost = 3,672 J', () => {
    expect(batteryEnergyMicroJoules(AAA_ALKALINE)).toBe(4_320_000_000);
    expect(deliverableMicroJoules(AAA_ALKALINE)).toBe(3_672_000_000);
    expect(deliverableMicroJoules(AAA_ALKALINE)).toBe(
      C.aaaAlkalineUsableMilliAmpHours.value * C.aaaAlkalineAverageVolts.value * 3_600_000 * C.dcdcBoostEfficiencyRelative.value,
    );
  });
});

describe('projectBatteryLife', () => {
  it('CR2032 at 36 J per hour: 10,000 µW, 1,944 J / 10 mW = 194,400 s = 54 h = 2.25 days', () => {
    expect(projectBatteryLife(CR2032, 36_000_000, 3_600_000_000)).toEqual({ averageMicroWatts: 10_000, lifeHours: 54, lifeDays: 2.25 });
  });

  it('CR2032 at 20 µW (a sleepy pH meter): 1.944e9 / 20 / 3,600 = 27,000 h = 1,125 days', () => {
    // 20 µW over 10 s is 200 µJ.
    expect(projectBatteryLife(CR2032, 200, 10_000_000)).toEqual({ averageMicroWatts: 20, lifeHours: 27_000, lifeDays: 1_125 });
  });

  it('AAA alkaline at 100 µW: 3.672e9 / 100 / 3,600 = 10,200 h = 425 days', () => {
    expect(projectBatteryLife(AAA_ALKALINE, 8_640_000, 86_400_000_000)).toEqual({ averageMicroWatts: 100, lifeHours: 10_200, lifeDays: 425 });
  });

  it('is the documented formula, in its order, for arbitrary figures', () => {
    const microJoules = 123_456.789;
    const elapsedUs = 987_654_321;
    const avg = (microJoules * 1_000_000) / elapsedUs;
    const hours = (C.aaaAlkalineUsableMilliAmpHours.value * C.aaaAlkalineAverageVolts.value * 3_600_000 * C.dcdcBoostEfficiencyRelative.value) / avg / 3_600;
    expect(projectBatteryLife(AAA_ALKALINE, microJoules, elapsedUs)).toEqual({ averageMicroWatts: avg, lifeHours: hours, lifeDays: hours / 24 });
  });

  it('refuses a projection from no time or no energy', () => {
    expect(() => projectBatteryLife(CR2032, 100, 0)).toThrow(MedtwinError);
    expect(() => projectBatteryLife(CR2032, 0, 1_000)).toThrow(MedtwinError);
    expect(() => projectBatteryLife(CR2032, Number.NaN, 1_000)).toThrow(MedtwinError);
  });
});

describe('discharge curves', () => {
  it.each([
    [0, 3.0],
    [0.4, 2.9], // on the plateau: 1 − 0.2 × 0.4 / 0.8 = 0.9 of the 1 V span
    [0.8, 2.8],
    [0.95, 2.5],
    [1, 2.0],
    [1.5, 2.0],
    [-1, 3.0],
  ])('CR2032 at %s used: %s V', (used, volts) => {
    expect(terminalVolts(CR2032, used)).toBeCloseTo(volts, 12);
  });

  it.each([
    [0, 1.5],
    [0.5, 1.2],
    [0.9, 1.05],
    [1, 0.9],
  ])('AAA alkaline at %s used: %s V', (used, volts) => {
    expect(terminalVolts(AAA_ALKALINE, used)).toBeCloseTo(volts, 12);
  });
});

describe('Kw31zPower', () => {
  it('reports the converter mode of its model', () => {
    expect(new Kw31zPower(CR2032, () => 0).dcdcMode).toBe('buck');
    expect(new Kw31zPower(AAA_ALKALINE, () => 0).dcdcMode).toBe('boost');
  });

  it('is full and at the fresh voltage before anything is used', () => {
    expect(new Kw31zPower(CR2032, () => 0).battery()).toEqual({ milliVolts: 3_000, levelPercent: 100, low: false });
    expect(new Kw31zPower(AAA_ALKALINE, () => 0).battery()).toEqual({ milliVolts: 1_500, levelPercent: 100, low: false });
  });

  it('follows the energy used: level = remaining share, voltage on the curve', () => {
    let used = 0;
    const p = new Kw31zPower(CR2032, () => used);
    used = 1_944_000_000 / 2;
    // 0.5 used: 1 − 0.2 × 0.5 / 0.8 = 0.875 → 2.0 + 0.875 V.
    expect(p.battery()).toEqual({ milliVolts: 2_875, levelPercent: 50, low: false });
    used = 1_944_000_000 * 0.9;
    // 0.9 used: 0.8 − 0.3 × 0.1 / 0.15 = 0.6 → 2.6 V.
    expect(p.battery()).toEqual({ milliVolts: 2_600, levelPercent: 10, low: true });
    used = 1_944_000_000 * 2;
    expect(p.battery()).toEqual({ milliVolts: 2_000, levelPercent: 0, low: true });
  });

  it('rounds the level down without binary-fraction slips, and is low below the threshold', () => {
    expect(LOW_BATTERY_PERCENT).toBe(15);
    let used = 0;
    const p = new Kw31zPower(AAA_ALKALINE, () => used);
    for (let pct = 0; pct <= 100; pct++) {
      used = (3_672_000_000 * pct) / 100;
      const b = p.battery();
      expect(b.levelPercent, `${pct} % used`).toBe(100 - pct);
      expect(b.low, `${pct} % used`).toBe(100 - pct < 15);
    }
    used = 3_672_000_000 * 0.505;
    expect(p.battery().levelPercent).toBe(49);
  });

  it('takes a low threshold and a part-used cell', () => {
    const p = new Kw31zPower(CR2032, () => 0, { lowPercent: 60, initialUsedMicroJoules: 1_944_000_000 / 2 });
    expect(p.battery()).toMatchObject({ levelPercent: 50, low: true });
    expect(() => new Kw31zPower(CR2032, () => 0, { lowPercent: 101 })).toThrow(MedtwinError);
    expect(() => new Kw31zPower(CR2032, () => 0, { initialUsedMicroJoules: -1 })).toThrow(MedtwinError);
  });

  it('reads a ledger: half a CR2032 of CPU cycles is 50 %', () => {
    const ledger = new Kw31zLedger('ph-meter', () => 0);
    const power = new Kw31zPower(CR2032, () => ledger.summary().microJoules);
    // One cycle = 3 mA × 3.6 V / 48 MHz = 0.000225 µJ; 972 J is 4.32e12 cycles.
    ledger.charge('app', { cpuCycles: 4_320_000_000_000 });
    expect(power.battery()).toEqual({ milliVolts: 2_875, levelPercent: 50, low: false });
  });
});
