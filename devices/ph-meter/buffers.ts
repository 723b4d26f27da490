// The calibration buffers the meter knows: the NIST/DIN set and the US technical set, each buffer's pH
// from 0 to 50 °C with linear interpolation, and automatic recognition of the buffer the probe is in.
// Not the fit or the acceptance rules (calibration.ts), nor the procedure (calibration.machine.ts).
//
// Sources of the tables (DESIGN §6 "calibration with 1–5 buffers (NIST and US sets)"):
//  - NIST set: the primary-standard values pH(PS) of DIN 19266 and IUPAC 2002 (Buck et al., "Measurement of
//    pH. Definition, standards, and procedures", Pure Appl. Chem. 74 (2002) 2169, Table 3 — values that go back to
//    the NBS certificates, Bates 1962, J. Res. NBS 66A, 179). Three decimals as those tables give them. They were
//    written from those tables as we know them, not re-read for this file; they agree to ±0.01 with two
//    independent two-decimal tables found for this work (Hanna HI 2214 manual p. 15 "pH buffer temperature
//    dependence"; Foxboro MI 611-211 (2005) Table 8 "NIST buffer tables"), which test/devices/ph-meter/buffers.test.ts
//    checks, and Ca(OH)₂ falls 0.033 pH/°C near 25 °C as Bates & Bower (J. Res. NBS 56 (1956) 305) state.
//  - US set: technical buffers 4.01 / 7.00 / 10.01. 7.00 and 10.01 from Foxboro MI 611-211 (2005) Table 7
//    "American buffer tables"; 4.01 from the 4.01 column of the Hanna HI 2214 table (Foxboro's column is a
//    4.00 buffer). Two decimals: technical buffers are specified to ±0.01–0.02 pH.

import { IDEAL_LINE, phFromMv, type CalibrationLine } from './nernst.ts';

export type BufferSetId = 'nist' | 'us';

/** Every set's table is given at these temperatures. */
export const BUFFER_TABLE_TEMPS_C: readonly number[] = Object.freeze([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
export const BUFFER_TEMP_MIN_C = 0;
export const BUFFER_TEMP_MAX_C = 50;

export interface PhBuffer {
  /** Stable name for records: `${set}-${nominal}` ('nist-6.86'). */
  readonly id: string;
  /** The label on the bottle: the pH at 25 °C to two decimals. */
  readonly nominalPh: number;
  readonly substance: string;
  /** pH at BUFFER_TABLE_TEMPS_C, in that order. */
  readonly phByTempC: readonly number[];
}

export interface BufferSet {
  readonly id: BufferSetId;
  readonly name: string;
  /** Ascending by pH. */
  readonly buffers: readonly PhBuffer[];
}

function buffer(set: BufferSetId, nominalPh: number, substance: string, phByTempC: readonly number[]): PhBuffer {
  if (phByTempC.length !== BUFFER_TABLE_TEMPS_C.length) throw new Error(`buffer ${set}-${nominalPh}: ${phByTempC.length} values`);
  return Object.freeze({ id: `${set}-${nominalPh.toFixed(2)}`, nominalPh, substance, phByTempC: Object.freeze([...phByTempC]) });
}

//                                                                         0 °C    5       10      15      20      25      30      35      40      45      50
export const NIST_BUFFERS: BufferSet = Object.freeze({
  id: 'nist',
  name: 'NIST / DIN 19266',
  buffers: Object.freeze([
    buffer('nist', 1.68, 'potassium tetroxalate 0.05 mol/kg', [1.666, 1.668, 1.67, 1.672, 1.675, 1.679, 1.683, 1.688, 1.694, 1.7, 1.707]),
    buffer('nist', 4.01, 'potassium hydrogen phthalate 0.05 mol/kg', [4.0, 3.998, 3.997, 3.998, 4.0, 4.005, 4.011, 4.018, 4.027, 4.038, 4.05]),
    buffer('nist', 6.86, 'KH₂PO₄ 0.025 + Na₂HPO₄ 0.025 mol/kg', [6.984, 6.951, 6.923, 6.9, 6.881, 6.865, 6.853, 6.844, 6.838, 6.834, 6.833]),
    buffer('nist', 9.18, 'borax 0.01 mol/kg', [9.464, 9.395, 9.332, 9.276, 9.225, 9.18, 9.139, 9.102, 9.068, 9.038, 9.011]),
    buffer('nist', 12.45, 'Ca(OH)₂ saturated at 25 °C', [13.423, 13.207, 13.003, 12.81, 12.627, 12.454, 12.289, 12.133, 11.984, 11.841, 11.705]),
  ]),
});

export const US_BUFFERS: BufferSet = Object.freeze({
  id: 'us',
  name: 'US technical',
  buffers: Object.freeze([
    buffer('us', 4.01, 'phthalate technical buffer', [4.01, 4.0, 4.0, 4.0, 4.0, 4.01, 4.02, 4.03, 4.04, 4.05, 4.06]),
    buffer('us', 7.0, 'phosphate technical buffer', [7.12, 7.09, 7.06, 7.04, 7.02, 7.0, 6.99, 6.99, 6.98, 6.98, 6.97]),
    buffer('us', 10.01, 'carbonate technical buffer', [10.32, 10.25, 10.18, 10.12, 10.06, 10.01, 9.97, 9.93, 9.89, 9.86, 9.83]),
  ]),
});

export const BUFFER_SETS: Readonly<Record<BufferSetId, BufferSet>> = Object.freeze({ nist: NIST_BUFFERS, us: US_BUFFERS });

/** The set named `id`, or undefined (a session command may carry any string). */
export function bufferSetById(id: string): BufferSet | undefined {
  return id === 'nist' || id === 'us' ? BUFFER_SETS[id] : undefined;
}

export type BufferPhResult = { readonly ok: true; readonly ph: number } | { readonly ok: false; readonly code: 'temperature-out-of-range' };

/**
 * The buffer's pH at `tempC`, linear between the 5 °C table points (the tables' own spacing: the curves are
 * smooth enough that the chord is within 0.002 pH of them). Outside 0–50 °C there is no table: a coded result,
 * never an extrapolation.
 */
export function bufferPhAt(buf: PhBuffer, tempC: number): BufferPhResult {
  if (!(tempC >= BUFFER_TEMP_MIN_C && tempC <= BUFFER_TEMP_MAX_C)) return { ok: false, code: 'temperature-out-of-range' };
  const step = BUFFER_TABLE_TEMPS_C[1]! - BUFFER_TABLE_TEMPS_C[0]!;
  const i = Math.min(Math.floor((tempC - BUFFER_TEMP_MIN_C) / step), BUFFER_TABLE_TEMPS_C.length - 2);
  const t0 = BUFFER_TABLE_TEMPS_C[i]!;
  const p0 = buf.phByTempC[i]!;
  const p1 = buf.phByTempC[i + 1]!;
  return { ok: true, ph: p0 + ((p1 - p0) * (tempC - t0)) / step };
}

// ─── automatic recognition ────────────────────────────────────────────────────────────────────

/**
 * A reading is taken for the nearest buffer of the set when it is within ±1.0 pH of it. Wide enough that an
 * electrode the acceptance rules would judge is recognized first even against the ideal line (60 mV offset
 * ≈ 1.0 pH at 25 °C; an 85 % slope is 0.45 pH off at 3 pH from the isopotential point) — so a worn probe is told
 * "slope-low", not "unrecognized"; narrower than half the closest gap of either set (NIST 1.68 → 4.01: 2.33 pH),
 * so one reading never falls into two windows.
 */
export const RECOGNITION_WINDOW_PH = 1.0;

export interface RecognitionQuery {
  readonly set: BufferSet;
  readonly mv: number;
  readonly tempC: number;
  /** The best line known: the calibration in force, or the points taken so far; default the ideal line. */
  readonly line?: CalibrationLine;
  /** Buffers already used in this calibration (ids): the same buffer twice is refused. */
  readonly used?: readonly string[];
  readonly windowPh?: number;
}

export type RecognitionCode = 'unrecognized' | 'buffer-repeated' | 'temperature-out-of-range' | 'bad-input';

export type Recognition =
  | {
      readonly ok: true;
      readonly buffer: PhBuffer;
      /** The buffer's pH at the reading's temperature (what the fit uses). */
      readonly phAtT: number;
      /** pH through `line`, and how far it is from phAtT. */
      readonly measuredPh: number;
      readonly deviationPh: number;
    }
  | { readonly ok: false; readonly code: RecognitionCode; readonly measuredPh?: number; readonly nearest?: PhBuffer };

/** Which buffer of the set the probe is in, by the pH the reading gives through `line`. */
export function recognizeBuffer(q: RecognitionQuery): Recognition {
  const line = q.line ?? IDEAL_LINE;
  const windowPh = q.windowPh ?? RECOGNITION_WINDOW_PH;
  if (!Number.isFinite(q.mv) || !Number.isFinite(q.tempC) || !(windowPh > 0) || !(line.slopeFraction > 0) || !Number.isFinite(line.offsetMv)) {
    return { ok: false, code: 'bad-input' };
  }
  const measuredPh = phFromMv(q.mv, q.tempC, line);
  let best: { buffer: PhBuffer; phAtT: number; deviationPh: number } | undefined;
  for (const b of q.set.buffers) {
    const at = bufferPhAt(b, q.tempC);
    if (!at.ok) return { ok: false, code: at.code, measuredPh };
    const deviationPh = measuredPh - at.ph;
    if (best === undefined || Math.abs(deviationPh) < Math.abs(best.deviationPh)) best = { buffer: b, phAtT: at.ph, deviationPh };
  }
  if (best === undefined || Math.abs(best.deviationPh) > windowPh) {
    return best === undefined ? { ok: false, code: 'unrecognized', measuredPh } : { ok: false, code: 'unrecognized', measuredPh, nearest: best.buffer };
  }
  // The nearest buffer is the one the probe is in; if it was used already the operator repeated it. Taking the
  // second nearest instead would record a point for a buffer the probe is not in.
  if (q.used?.includes(best.buffer.id)) return { ok: false, code: 'buffer-repeated', measuredPh, nearest: best.buffer };
  return { ok: true, buffer: best.buffer, phAtT: best.phAtT, measuredPh, deviationPh: best.deviationPh };
}
