// The analog front end between the glass electrode and the single-ended ADC: the circuit (physical
// side: electrode mV → volts on the pin) and the firmware's raw → mV with dead-electrode detection.
// Not the electrode (electrode.ts), the ADC (hal/kw31z/adc.ts) nor the temperature channel.
//
// Circuit:
//
//   glass ───────────►(+) electrometer buffer, unity gain ──► ADC 'electrode'
//                           (fA bias, > 10 TΩ: the membrane is 50–500 MΩ)
//   reference ──┬── V_BIAS = VREF / 2 = 0.6 V (divider on VREF, buffered)
//
//   V_pin = V_BIAS + E, clamped to the buffer's rails 0..1.8 V (rail-to-rail, on the 1.8 V DC-DC output).
//   The ADC's span 0..VREF = 0..1.2 V holds E = −600..+600 mV at 18.3 µV per LSB (1.2 V / 65535):
//   pH 0–14 at 0–100 °C is ±518 mV at 100 % slope, plus up to ±60 mV of accepted offset.
//   An open input (cable broken, electrode unplugged) floats: the buffer's bias current charges
//   the input capacitance to a rail within seconds; modelled as the positive rail at once.
// The circuit is taken as ideal (no bias, gain or offset error): calibration absorbs such errors,
// and they would only hide the electrode's own figures the tests check.

import { MedtwinError } from '../../src/errors.ts';
import { ADC_FULL_SCALE_RAW } from '../../hal/kw31z/adc.ts';

/** The meter's analog reference: the ADC's reference, the source of the bias, the thermistor divider's supply. */
export const PH_METER_VREF_VOLTS = 1.2;
/** The buffer's supply: where its output goes with nothing on the input. */
export const FRONT_END_RAIL_VOLTS = 1.8;
/** One LSB at the electrode, µV: 1.2 V / 65535 = 18.31 µV. */
export const ELECTRODE_LSB_UV = (PH_METER_VREF_VOLTS / ADC_FULL_SCALE_RAW) * 1e6;

/** Physical: the pin voltage for an electrode potential (undefined = open input) with the bias at `vrefVolts` / 2. */
export function frontEndVolts(electrodeMv: number | undefined, vrefVolts = PH_METER_VREF_VOLTS): number {
  if (electrodeMv === undefined) return FRONT_END_RAIL_VOLTS;
  const v = vrefVolts / 2 + electrodeMv / 1000;
  return v < 0 ? 0 : v > FRONT_END_RAIL_VOLTS ? FRONT_END_RAIL_VOLTS : v;
}

/** Firmware: the electrode potential for a raw code, mV (the inverse of the circuit). */
export function mvFromRaw(raw: number, vrefVolts = PH_METER_VREF_VOLTS): number {
  return ((raw / ADC_FULL_SCALE_RAW) * vrefVolts - vrefVolts / 2) * 1000;
}

/**
 * A code within 1 % of full scale (655 LSB) of either end is a pinned input, not a potential: it is
 * E beyond ±588 mV, which no working electrode in the meter's range reaches (±518 mV + 60 mV offset at
 * 100 % slope, above), while an open input reads 65535 and a shorted buffer output 0. Noise (3 LSB rms) never
 * carries a real reading across.
 *
 * Dead-electrode detection is this one per-sample test, kept simple on purpose. A cracked membrane
 * (a flat ~0 mV) cannot be told from pH 7 by one sample; the calibration finds it (slope ≈ 0 %).
 */
export const ELECTRODE_RAIL_MARGIN_RAW = Math.round(ADC_FULL_SCALE_RAW / 100);

/**
 * The potentials the front end reports, mV: the codes inside the rail margins, −587.99..+587.99 mV
 * (the shape of the measurement machine's MvRange). Anything beyond reads as 'electrode-dead'.
 */
export const ELECTRODE_MV_RANGE = Object.freeze({
  minMv: mvFromRaw(ELECTRODE_RAIL_MARGIN_RAW + 1),
  maxMv: mvFromRaw(ADC_FULL_SCALE_RAW - ELECTRODE_RAIL_MARGIN_RAW - 1),
});

export type ElectrodeReading = { readonly ok: true; readonly mv: number } | { readonly ok: false; readonly code: 'electrode-dead' };

/** Firmware: raw → mV, or 'electrode-dead' for a rail-pinned code. */
export function electrodeFromRaw(raw: number, vrefVolts = PH_METER_VREF_VOLTS): ElectrodeReading {
  if (!Number.isInteger(raw) || raw < 0 || raw > ADC_FULL_SCALE_RAW) {
    throw new MedtwinError('probe.raw', `an ADC code is an integer 0..${ADC_FULL_SCALE_RAW}, got ${raw}`);
  }
  if (raw <= ELECTRODE_RAIL_MARGIN_RAW || raw >= ADC_FULL_SCALE_RAW - ELECTRODE_RAIL_MARGIN_RAW) {
    return { ok: false, code: 'electrode-dead' };
  }
  return { ok: true, mv: mvFromRaw(raw, vrefVolts) };
}
