// KW31Z battery models (CR2032 via the buck, AAA alkaline via the boost), life projection, and Power.
// Not a ledger (ledger.ts) and not an electrochemical model: a documented curve over energy used.

import type { BatteryStatus, DcdcMode, Power } from '../power.ts';
import { MedtwinError } from '../../src/errors.ts';
import { KW31Z_COSTS, type CostTable } from './costs.ts';

export type BatteryKind = 'cr2032' | 'aaa-alkaline';

/**
 * Terminal voltage against depth of discharge, as (fraction of usable energy used,
 * fraction of the way from cut-off to fresh voltage) points; linear in between.
 * Assumptions, shaped after the manufacturers' discharge curves at light load:
 * - Li/MnO2 coin cell: a flat plateau at the nominal 3.0 V, a slow sag to 2.8 V at 80 %,
 *   then the knee: 2.5 V at 95 %, the 2.0 V cut-off at 100 %.
 * - Alkaline: a steady slope, 1.5 V fresh, 1.2 V at half, 1.05 V at 90 %, 0.9 V at the end
 *   (the mean over the curve, ≈ 1.22 V, matches the aaaAlkalineAverageVolts row).
 */
export type DischargeCurve = readonly (readonly [usedFraction: number, voltsFraction: number])[];

const CR2032_CURVE: DischargeCurve = [
  [0, 1],
  [0.8, 0.8],
  [0.95, 0.5],
  [1, 0],
];
const ALKALINE_CURVE: DischargeCurve = [
  [0, 1],
  [0.5, 0.5],
  [0.9, 0.25],
  [1, 0],
];

export interface BatteryModel {
  readonly kind: BatteryKind;
  readonly dcdcMode: DcdcMode;
  /** Charge the device can use before the cut-off, mAh. */
  readonly usableMilliAmpHours: number;
  /** Mean terminal voltage over that charge, V: usable energy = mAh × this. */
  readonly averageVolts: number;
  readonly freshVolts: number;
  readonly cutoffVolts: number;
  /** Share of the cell's energy that reaches the ledger's reference supply (costs.ts dcdc* rows). */
  readonly converterEfficiency: number;
  readonly curve: DischargeCurve;
}

/** The model for `kind` with the figures of `costs` (every number comes from a row). */
export function batteryModel(kind: BatteryKind, costs: CostTable = KW31Z_COSTS): BatteryModel {
  switch (kind) {
    case 'cr2032':
      return {
        kind,
        dcdcMode: 'buck',
        usableMilliAmpHours: costs.cr2032UsableMilliAmpHours.value,
        // The plateau holds the nominal voltage for most of the charge (see CR2032_CURVE).
        averageVolts: costs.cr2032NominalVolts.value,
        freshVolts: costs.cr2032NominalVolts.value,
        cutoffVolts: costs.cr2032CutoffVolts.value,
        converterEfficiency: costs.dcdcBuckEfficiencyRelative.value,
        curve: CR2032_CURVE,
      };
    case 'aaa-alkaline':
      return {
        kind,
        dcdcMode: 'boost',
        usableMilliAmpHours: costs.aaaAlkalineUsableMilliAmpHours.value,
        averageVolts: costs.aaaAlkalineAverageVolts.value,
        freshVolts: costs.aaaAlkalineFreshVolts.value,
        cutoffVolts: costs.aaaAlkalineCutoffVolts.value,
        converterEfficiency: costs.dcdcBoostEfficiencyRelative.value,
        curve: ALKALINE_CURVE,
      };
  }
}

export const CR2032: BatteryModel = batteryModel('cr2032');
export const AAA_ALKALINE: BatteryModel = batteryModel('aaa-alkaline');

/** 1 mAh at 1 V = 1 mWh = 3.6 J = 3,600,000 µJ. */
const MICROJOULES_PER_MILLIAMP_HOUR_VOLT = 3_600_000;
const US_PER_S = 1_000_000;
const S_PER_HOUR = 3_600;
const HOURS_PER_DAY = 24;

/** Usable energy stored in the cell, µJ: mAh × average V × 3,600,000. */
export function batteryEnergyMicroJoules(model: BatteryModel): number {
  return model.usableMilliAmpHours * model.averageVolts * MICROJOULES_PER_MILLIAMP_HOUR_VOLT;
}

/** Of that, what the device's ledger can spend (after the converter), µJ. */
export function deliverableMicroJoules(model: BatteryModel): number {
  return batteryEnergyMicroJoules(model) * model.converterEfficiency;
}

export interface BatteryLifeProjection {
  /** Mean power over the measured span, µW (= µJ per s). */
  readonly averageMicroWatts: number;
  /** How long a fresh cell lasts at that mean power. */
  readonly lifeHours: number;
  readonly lifeDays: number;
}

/**
 * Project a fresh cell's life from `microJoules` spent (a ledger summary) over `elapsedUs`:
 *
 *   averageMicroWatts = microJoules × 1,000,000 / elapsedUs
 *   lifeHours         = deliverableMicroJoules(model) / averageMicroWatts / 3,600
 *   lifeDays          = lifeHours / 24
 *
 * Pure and in exactly this order, so a test can state the expected figure. Assumes the
 * measured span repeats: run a scenario long enough to hold a representative duty cycle.
 */
export function projectBatteryLife(model: BatteryModel, microJoules: number, elapsedUs: number): BatteryLifeProjection {
  if (!(elapsedUs > 0) || !Number.isFinite(elapsedUs)) {
    throw new MedtwinError('battery.span', `cannot project from a span of ${elapsedUs} µs: run the world first`);
  }
  if (!(microJoules > 0) || !Number.isFinite(microJoules)) {
    throw new MedtwinError('battery.energy', `cannot project from ${microJoules} µJ: nothing was charged`);
  }
  const averageMicroWatts = (microJoules * US_PER_S) / elapsedUs;
  const lifeHours = deliverableMicroJoules(model) / averageMicroWatts / S_PER_HOUR;
  return { averageMicroWatts, lifeHours, lifeDays: lifeHours / HOURS_PER_DAY };
}

/** Terminal voltage, V, after using `usedFraction` (0..1) of the usable energy. */
export function terminalVolts(model: BatteryModel, usedFraction: number): number {
  const u = usedFraction <= 0 ? 0 : usedFraction >= 1 ? 1 : usedFraction;
  const c = model.curve;
  let frac = 0;
  for (let i = 1; i < c.length; i++) {
    const [u0, f0] = c[i - 1]!;
    const [u1, f1] = c[i]!;
    if (u <= u1) {
      frac = f0 + ((f1 - f0) * (u - u0)) / (u1 - u0);
      break;
    }
  }
  return model.cutoffVolts + (model.freshVolts - model.cutoffVolts) * frac;
}

/** Default low-battery threshold, % remaining (assumption: ~1–2 weeks' warning on either device). */
export const LOW_BATTERY_PERCENT = 15;

export interface Kw31zPowerOptions {
  /** Report `low` below this level, %. Default LOW_BATTERY_PERCENT. */
  readonly lowPercent?: number;
  /** Energy already used before the simulation started (a part-used cell), µJ. Default 0. */
  readonly initialUsedMicroJoules?: number;
}

/**
 * The battery as the firmware reads it (Battery Service, low-battery alarm), driven by the
 * ledger: `usedMicroJoules` is read on every call, e.g. `() => ledger.summary().microJoules`.
 *
 * levelPercent = ⌊remaining deliverable energy / deliverable energy × 100⌋ — rounded down so
 * the device never claims more than it has (100 only for an unused cell). milliVolts follows
 * the model's discharge curve over the same used fraction.
 */
export class Kw31zPower implements Power {
  readonly dcdcMode: DcdcMode;
  private readonly capacityMicroJoules: number;
  private readonly lowPercent: number;
  private readonly initialUsedMicroJoules: number;

  constructor(
    readonly model: BatteryModel,
    private readonly usedMicroJoules: () => number,
    opts: Kw31zPowerOptions = {},
  ) {
    this.dcdcMode = model.dcdcMode;
    this.capacityMicroJoules = deliverableMicroJoules(model);
    this.lowPercent = opts.lowPercent ?? LOW_BATTERY_PERCENT;
    this.initialUsedMicroJoules = opts.initialUsedMicroJoules ?? 0;
    if (!(this.lowPercent >= 0 && this.lowPercent <= 100)) {
      throw new MedtwinError('battery.config', `low threshold must be 0–100 %, got ${this.lowPercent}`);
    }
    if (!(this.initialUsedMicroJoules >= 0)) {
      throw new MedtwinError('battery.config', `initial use must be ≥ 0 µJ, got ${this.initialUsedMicroJoules}`);
    }
  }

  /** Fraction of the deliverable energy used so far, 0..1. */
  usedFraction(): number {
    const used = (this.initialUsedMicroJoules + this.usedMicroJoules()) / this.capacityMicroJoules;
    return used <= 0 ? 0 : used >= 1 ? 1 : used;
  }

  battery(): BatteryStatus {
    const used = this.usedFraction();
    // The 1e-9 keeps binary fractions honest: (1 - 0.34) × 100 is 65.99999999999999.
    const levelPercent = Math.floor((1 - used) * 100 + 1e-9);
    return {
      milliVolts: Math.round(terminalVolts(this.model, used) * 1000),
      levelPercent,
      low: levelPercent < this.lowPercent,
    };
  }
}
