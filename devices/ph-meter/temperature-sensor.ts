// The meter's temperature probe: an NTC thermistor in a divider on the ADC's reference (the physical
// side, which lags the solution with its own time constant) and the firmware's raw → °C with open and
// short detection. Not the electrode (electrode.ts) nor what the meter does with °C (temperature
// compensation through nernst.ts, in the measurement machine).
//
// Circuit (one channel of the KW31Z ADC, ratiometric):
//
//   VREF 1.2 V ──[ R_FIXED 10 kΩ 0.1 % ]──┬──► ADC 'temperature'
//                                          │
//                                     [ NTC 10 kΩ at 25 °C, β(25/85) 3435 K ]
//                                          │
//                                         GND
//
//   V = VREF · R_ntc / (R_FIXED + R_ntc), so raw / 65535 = R_ntc / (R_FIXED + R_ntc): the divider and
//   the ADC share VREF and its error cancels. R_ntc = R_FIXED · x / (1 − x) with x = raw / 65535.
//   Open (probe missing, wire broken): the node sits at VREF, raw 65535. Short: the node is at 0 V, raw 0.
//   Equal resistors at 25 °C put the steepest part of the curve (≈ 630 LSB/°C) where samples are.
// Assumptions: the divider is powered only while converting (60 µA through 20 kΩ would drain a
// CR2032 by ~1.4 mAh a day), so neither its current nor self-heating (~0.02 °C in liquid) is modelled.

import { MedtwinError } from '../../src/errors.ts';
import type { World } from '../../src/sim/world.ts';
import { ADC_FULL_SCALE_RAW } from '../../hal/kw31z/adc.ts';
import { KELVIN_AT_0C } from './nernst.ts';
import { SOLUTION_TEMP_C_RANGE } from './electrode.ts';
import { PH_METER_VREF_VOLTS } from './front-end.ts';

/** The fixed (top) resistor of the divider, Ω. */
export const R_FIXED_OHMS = 10_000;

/** An NTC's character: resistance at 25 °C and its β constant (the β equation, 25/85 °C datasheet pair). */
export interface ThermistorSpec {
  readonly r25Ohms: number;
  readonly betaK: number;
  /** Time to reach 63 % of a temperature step in liquid, µs (the probe's sheath and the glass). */
  readonly timeConstantUs: number;
}

/**
 * The typical 10 kΩ / 3435 K NTC (the common 0603 / bead part) in a stainless sheath: τ 15 s in
 * stirred liquid (assumption within the 5–30 s that ATC probes quote). The firmware converts with
 * these nominal values; a real part's tolerance (±1 % R25, ±1 % β) would be an error of ~0.25 °C.
 */
export const NOMINAL_NTC: ThermistorSpec = Object.freeze({ r25Ohms: 10_000, betaK: 3435, timeConstantUs: 15_000_000 });

const T25_K = 25 + KELVIN_AT_0C;

/** NTC resistance at `tempC` by the β equation: R = R25 · exp(β · (1/T − 1/T25)). */
export function ntcOhms(tempC: number, spec: Pick<ThermistorSpec, 'r25Ohms' | 'betaK'> = NOMINAL_NTC): number {
  return spec.r25Ohms * Math.exp(spec.betaK * (1 / (tempC + KELVIN_AT_0C) - 1 / T25_K));
}

/** The inverse: °C for a resistance, 1/T = 1/T25 + ln(R/R25)/β. */
export function tempCFromNtcOhms(ohms: number, spec: Pick<ThermistorSpec, 'r25Ohms' | 'betaK'> = NOMINAL_NTC): number {
  return 1 / (1 / T25_K + Math.log(ohms / spec.r25Ohms) / spec.betaK) - KELVIN_AT_0C;
}

/** The divider's output as a fraction of VREF for an NTC of `ohms`. */
export function dividerFraction(ohms: number): number {
  return ohms / (R_FIXED_OHMS + ohms);
}

/** The noise-free ADC code the nominal NTC gives at `tempC` (what the thresholds are made of). */
export function temperatureRawAt(tempC: number): number {
  return Math.round(dividerFraction(ntcOhms(tempC)) * ADC_FULL_SCALE_RAW);
}

/**
 * Detection limits. No aqueous sample is colder than −30 °C or hotter than 130 °C (the electrode model
 * accepts −10..110 °C), so a code beyond either is a wiring fault, not a temperature: above the −30 °C
 * code (61,029) the NTC is open or missing, below the 130 °C code (3,106) it is shorted. The margins
 * are thousands of LSB against an ADC noise of 3 LSB rms, so noise never crosses them.
 */
export const TEMPERATURE_OPEN_BELOW_C = -30;
export const TEMPERATURE_SHORT_ABOVE_C = 130;
export const TEMPERATURE_OPEN_RAW_MIN = temperatureRawAt(TEMPERATURE_OPEN_BELOW_C);
export const TEMPERATURE_SHORT_RAW_MAX = temperatureRawAt(TEMPERATURE_SHORT_ABOVE_C);

export type TemperatureReading =
  | { readonly ok: true; readonly tempC: number }
  | { readonly ok: false; readonly code: 'temperature-open' | 'temperature-short' };

/** Firmware: the temperature channel's raw code → °C by the β equation with the nominal NTC, or the wiring fault. */
export function tempCFromRaw(raw: number): TemperatureReading {
  if (!Number.isInteger(raw) || raw < 0 || raw > ADC_FULL_SCALE_RAW) {
    throw new MedtwinError('probe.raw', `an ADC code is an integer 0..${ADC_FULL_SCALE_RAW}, got ${raw}`);
  }
  if (raw >= TEMPERATURE_OPEN_RAW_MIN) return { ok: false, code: 'temperature-open' };
  if (raw <= TEMPERATURE_SHORT_RAW_MAX) return { ok: false, code: 'temperature-short' };
  const x = raw / ADC_FULL_SCALE_RAW;
  return { ok: true, tempC: tempCFromNtcOhms((R_FIXED_OHMS * x) / (1 - x)) };
}

/** Faults a scenario can inject: 'open' (probe missing or wire broken) and 'short'. */
export type ThermistorFault = 'none' | 'open' | 'short';
export const THERMISTOR_FAULTS: readonly ThermistorFault[] = Object.freeze(['none', 'open', 'short']);

export interface NtcThermistorOptions {
  readonly world: World;
  readonly device: string;
  /** Default NOMINAL_NTC. */
  readonly spec?: ThermistorSpec;
  /** The divider's supply, V: the ADC's reference (default PH_METER_VREF_VOLTS). */
  readonly supplyVolts?: number;
  /** Where the probe starts, settled, °C; default 25. */
  readonly tempC?: number;
}

/** The physical thermistor: its own temperature lags the solution's, first order, τ = spec.timeConstantUs. */
export class NtcThermistor {
  readonly spec: ThermistorSpec;
  private readonly world: World;
  private readonly device: string;
  private readonly supplyVolts: number;
  private targetC: number;
  private fromC: number;
  private changeUs: number;
  private faultNow: ThermistorFault = 'none';

  constructor(opts: NtcThermistorOptions) {
    const spec = opts.spec ?? NOMINAL_NTC;
    if (!(spec.r25Ohms > 0 && spec.betaK > 0 && spec.timeConstantUs > 0) || !Object.values(spec).every(Number.isFinite)) {
      throw new MedtwinError('thermistor.config', 'R25, β and the time constant must be positive numbers');
    }
    const supply = opts.supplyVolts ?? PH_METER_VREF_VOLTS;
    if (!(supply > 0) || !Number.isFinite(supply)) throw new MedtwinError('thermistor.config', `supply must be > 0 V, got ${supply}`);
    const t = opts.tempC ?? 25;
    checkTempC(t);
    this.spec = spec;
    this.world = opts.world;
    this.device = opts.device;
    this.supplyVolts = supply;
    this.targetC = t;
    this.fromC = t;
    this.changeUs = opts.world.nowUs;
  }

  get fault(): ThermistorFault {
    return this.faultNow;
  }

  /** The thermistor's own temperature at `nowUs`, °C (not the solution's until it has caught up). */
  tempCAt(nowUs: number): number {
    if (nowUs < this.changeUs) {
      throw new MedtwinError('thermistor.time', `${this.device}: asked for ${nowUs} µs, before the last change at ${this.changeUs} µs`);
    }
    return this.targetC + (this.fromC - this.targetC) * Math.exp(-(nowUs - this.changeUs) / this.spec.timeConstantUs);
  }

  /** The divider's output at `nowUs`, V: what the ADC channel sees. */
  voltsAt(nowUs: number): number {
    switch (this.faultNow) {
      case 'open':
        return this.supplyVolts;
      case 'short':
        return 0;
      case 'none':
        return this.supplyVolts * dividerFraction(ntcOhms(this.tempCAt(nowUs), this.spec));
    }
  }

  /** Move the probe into a solution at `tempC` now (a Solution works: only its temperature is read). */
  immerse(solution: { readonly tempC: number }): void {
    checkTempC(solution.tempC);
    const now = this.world.nowUs;
    this.fromC = this.tempCAt(now);
    this.targetC = solution.tempC;
    this.changeUs = now;
  }

  /** Inject (or clear, with 'none') a fault now. */
  setFault(fault: ThermistorFault): void {
    if (!THERMISTOR_FAULTS.includes(fault)) throw new MedtwinError('thermistor.fault', `no thermistor fault "${String(fault)}"`);
    this.faultNow = fault;
    if (this.world.trace.wants('probe')) this.world.trace.record(this.device, 'probe', 'thermistor.fault', { fault });
  }
}

function checkTempC(tempC: number): void {
  const { min, max } = SOLUTION_TEMP_C_RANGE;
  if (!(tempC >= min && tempC <= max)) throw new MedtwinError('thermistor.temperature', `temperature must be ${min}..${max} °C, got ${tempC}`);
}
