// The electrochemistry every part of the pH meter agrees on: the Nernst slope at a temperature,
// the calibration line, and mV ⇄ pH through it. Pure numbers; not the electrode's imperfections
// (electrode.ts), the buffers (buffers.ts) nor the acceptance rules (calibration.ts).
//
// Convention (IUPAC, and every lab meter's display): a glass electrode against its reference gives
//   E = offsetMv − slopeFraction · S(T) · (pH − 7)
// with S(T) = ln(10)·R·T/F the Nernst slope (59.16 mV/pH at 25 °C), offsetMv the potential at the
// isopotential point pH 7 (ideally 0 mV), and slopeFraction the electrode's efficiency (1 = 100 %).
// Acid reads positive: pH 4 at 25 °C is about +177 mV.

/** Molar gas constant, J/(mol·K) (CODATA 2018, exact in the 2019 SI). */
export const GAS_CONSTANT = 8.314462618;
/** Faraday constant, C/mol (CODATA 2018, exact in the 2019 SI). */
export const FARADAY = 96485.33212;
/** 0 °C in kelvin. */
export const KELVIN_AT_0C = 273.15;
/** The electrode's isopotential point: the pH at which E = offset whatever the temperature. */
export const ISOPOTENTIAL_PH = 7;

/** The Nernst slope ln(10)·R·T/F in mV per pH at `tempC` °C: 59.159 at 25 °C, 54.199 at 0 °C. */
export function nernstSlopeMv(tempC: number): number {
  return ((Math.LN10 * GAS_CONSTANT * (tempC + KELVIN_AT_0C)) / FARADAY) * 1000;
}

/** A calibration line: what the meter needs to turn mV into pH. */
export interface CalibrationLine {
  /** Slope as a fraction of the Nernst slope (0.85..1.05 accepted, calibration.ts). */
  readonly slopeFraction: number;
  /** mV at pH 7 (|offset| ≤ 60 mV accepted). */
  readonly offsetMv: number;
}

/** The ideal electrode: 100 % slope, 0 mV offset (the line before any calibration). */
export const IDEAL_LINE: CalibrationLine = Object.freeze({ slopeFraction: 1, offsetMv: 0 });

/** pH from an electrode potential at `tempC` through `line` (automatic temperature compensation: S(T)). */
export function phFromMv(mv: number, tempC: number, line: CalibrationLine): number {
  return ISOPOTENTIAL_PH - (mv - line.offsetMv) / (line.slopeFraction * nernstSlopeMv(tempC));
}

/** The potential an electrode with `line` gives in a solution of `ph` at `tempC`. */
export function mvFromPh(ph: number, tempC: number, line: CalibrationLine): number {
  return line.offsetMv - line.slopeFraction * nernstSlopeMv(tempC) * (ph - ISOPOTENTIAL_PH);
}
