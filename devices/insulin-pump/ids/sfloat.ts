// IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) as IDS uses them (ids.md §8; GSS §2.1.1; IDS v1.0.2 §3.14),
// and their conversion to/from integer milli-values (0.001 IU). Not the message layouts (codec.ts) nor any unit logic.
//
// Rules (stated once, tested in sfloat.test.ts):
// - Decoding to milli-units is EXACT: a value that is not a whole number of 0.001 (e.g. 0.0005 IU) or that is a
//   special value (NaN, NRes, ±INF, reserved) is refused as 'operand'; nothing is rounded silently.
// - Encoding is EXACT too: among the encodings that represent the value exactly (|mantissa| ≤ 2045, exponent −8..7)
//   the one whose exponent is nearest to `preferredExponent` is chosen, a tie going to the smaller exponent (more
//   precision). The default −3 gives the most precision that fits for milli-units. Zero is always 0x0000.
//   A value no encoding represents exactly throws a RangeError (a programming mistake of our own side);
//   callers that report a measured amount round it first with roundMilliToSfloat (half away from zero).

// ─── formats ───────────────────────────────────────────────────────────────────────────────

export type FloatSpecial = 'nan' | 'nres' | '+inf' | '-inf' | 'reserved';
export type FloatParts = { readonly kind: 'number'; readonly mantissa: number; readonly exponent: number } | { readonly kind: FloatSpecial };

interface FloatFormat {
  readonly name: string;
  readonly mantissaBits: number;
  readonly exponentMin: number;
  readonly exponentMax: number;
  /** The largest ordinary |mantissa|: the top three positive and bottom three negative mantissas are reserved. */
  readonly mantissaMax: number;
}

const SFLOAT: FloatFormat = { name: 'SFLOAT', mantissaBits: 12, exponentMin: -8, exponentMax: 7, mantissaMax: 2045 };
const FLOAT: FloatFormat = { name: 'FLOAT', mantissaBits: 24, exponentMin: -128, exponentMax: 127, mantissaMax: 2 ** 23 - 3 };

/** SFLOAT special values (GSS Table 2.1): exponent 0 with a reserved mantissa. */
export const SFLOAT_NAN = 0x07ff;
export const SFLOAT_NRES = 0x0800;
export const SFLOAT_POSITIVE_INFINITY = 0x07fe;
export const SFLOAT_NEGATIVE_INFINITY = 0x0802;
export const SFLOAT_RESERVED = 0x0801;
/** FLOAT special values (GSS Table 2.1). */
export const FLOAT_NAN = 0x007fffff;
export const FLOAT_NRES = 0x00800000;
export const FLOAT_POSITIVE_INFINITY = 0x007ffffe;
export const FLOAT_NEGATIVE_INFINITY = 0x00800002;
export const FLOAT_RESERVED = 0x00800001;

export const SFLOAT_MANTISSA_MAX = SFLOAT.mantissaMax;
export const FLOAT_MANTISSA_MAX = FLOAT.mantissaMax;

function specialOf(fmt: FloatFormat, mantissa: number): FloatSpecial | undefined {
  const top = 2 ** (fmt.mantissaBits - 1); // 2048 for SFLOAT
  if (mantissa === top - 1) return 'nan';
  if (mantissa === -top) return 'nres';
  if (mantissa === top - 2) return '+inf';
  if (mantissa === -(top - 2)) return '-inf';
  if (mantissa === -(top - 1)) return 'reserved';
  return undefined;
}

function splitRaw(fmt: FloatFormat, raw: number): FloatParts {
  const mBits = fmt.mantissaBits;
  const eBits = fmt === SFLOAT ? 4 : 8;
  const mRaw = raw % 2 ** mBits;
  const eRaw = Math.floor(raw / 2 ** mBits) % 2 ** eBits;
  const mantissa = mRaw >= 2 ** (mBits - 1) ? mRaw - 2 ** mBits : mRaw;
  const exponent = eRaw >= 2 ** (eBits - 1) ? eRaw - 2 ** eBits : eRaw;
  const special = specialOf(fmt, mantissa);
  // A reserved mantissa with a non-zero exponent is not a number either; it is reported as 'reserved'.
  if (special !== undefined) return { kind: exponent === 0 ? special : 'reserved' };
  return { kind: 'number', mantissa, exponent };
}

function joinRaw(fmt: FloatFormat, mantissa: number, exponent: number): number {
  const eBits = fmt === SFLOAT ? 4 : 8;
  if (!Number.isInteger(mantissa) || Math.abs(mantissa) > fmt.mantissaMax) {
    throw new RangeError(`${fmt.name} mantissa must be an integer within ±${fmt.mantissaMax}, got ${mantissa}`);
  }
  if (!Number.isInteger(exponent) || exponent < fmt.exponentMin || exponent > fmt.exponentMax) {
    throw new RangeError(`${fmt.name} exponent must be an integer in ${fmt.exponentMin}..${fmt.exponentMax}, got ${exponent}`);
  }
  const m = mantissa < 0 ? mantissa + 2 ** fmt.mantissaBits : mantissa;
  const e = exponent < 0 ? exponent + 2 ** eBits : exponent;
  return e * 2 ** fmt.mantissaBits + m;
}

function specialRaw(fmt: FloatFormat, s: FloatSpecial): number {
  const top = 2 ** (fmt.mantissaBits - 1);
  const m = { nan: top - 1, nres: -top, '+inf': top - 2, '-inf': -(top - 2), reserved: -(top - 1) }[s];
  return m < 0 ? m + 2 ** fmt.mantissaBits : m;
}

// ─── milli-value conversions ───────────────────────────────────────────────────────────────

/** m × 10^(e+3) when it is a safe integer, else undefined. */
function partsToMilli(mantissa: number, exponent: number): number | undefined {
  if (mantissa === 0) return 0;
  const shift = exponent + 3;
  if (shift >= 0) {
    const v = mantissa * 10 ** shift;
    return Number.isSafeInteger(v) ? v : undefined;
  }
  const d = 10 ** -shift;
  return mantissa % d === 0 ? mantissa / d : undefined;
}

/** The exact encodings of `milli` as [mantissa, exponent] pairs. */
function exactParts(fmt: FloatFormat, milli: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let e = fmt.exponentMin; e <= fmt.exponentMax; e++) {
    const shift = e + 3;
    let m: number;
    if (shift >= 0) {
      const d = 10 ** shift;
      if (milli % d !== 0) continue;
      m = milli / d;
    } else {
      if (-shift > 15) continue; // the mantissa could only grow beyond any format's range
      m = milli * 10 ** -shift;
    }
    if (Number.isSafeInteger(m) && Math.abs(m) <= fmt.mantissaMax) out.push([m, e]);
  }
  return out;
}

function encodeMilli(fmt: FloatFormat, milli: number, preferredExponent: number): number {
  if (!Number.isSafeInteger(milli)) throw new RangeError(`${fmt.name}: ${milli} is not an integer milli-value`);
  if (milli === 0) return 0;
  let best: [number, number] | undefined;
  for (const c of exactParts(fmt, milli)) {
    if (best === undefined || Math.abs(c[1] - preferredExponent) < Math.abs(best[1] - preferredExponent)) best = c;
  }
  if (best === undefined) throw new RangeError(`${fmt.name} cannot represent ${milli / 1000} exactly (round it first)`);
  return joinRaw(fmt, best[0], best[1]);
}

function roundMilli(fmt: FloatFormat, milli: number): number {
  if (!Number.isSafeInteger(milli)) throw new RangeError(`${fmt.name}: ${milli} is not an integer milli-value`);
  if (milli === 0 || exactParts(fmt, milli).length > 0) return milli;
  const sign = milli < 0 ? -1 : 1;
  for (let shift = 0; shift <= fmt.exponentMax + 3; shift++) {
    const d = 10 ** shift;
    const m = Math.floor(Math.abs(milli) / d + 0.5); // half away from zero
    if (m <= fmt.mantissaMax) return sign * m * d;
  }
  throw new RangeError(`${fmt.name} cannot hold ${milli / 1000}`);
}

function decodeMilli(fmt: FloatFormat, raw: number): { ok: true; value: number } | { ok: false; detail: string } {
  const p = splitRaw(fmt, raw);
  if (p.kind !== 'number') return { ok: false, detail: `${fmt.name} special value ${p.kind} is not an amount` };
  const v = partsToMilli(p.mantissa, p.exponent);
  if (v === undefined) return { ok: false, detail: `${fmt.name} ${p.mantissa}e${p.exponent} is not a whole number of 0.001` };
  return { ok: true, value: v };
}

// ─── SFLOAT API ────────────────────────────────────────────────────────────────────────────

/** The parts of a 16-bit SFLOAT (bits 15–12 exponent, 11–0 mantissa, both two's complement). */
export const decodeSfloat = (raw: number): FloatParts => splitRaw(SFLOAT, raw & 0xffff);
/** mantissa × 10^exponent as a 16-bit SFLOAT; throws RangeError outside ±2045 / −8..7. */
export const encodeSfloat = (mantissa: number, exponent: number): number => joinRaw(SFLOAT, mantissa, exponent);
export const sfloatSpecial = (s: FloatSpecial): number => specialRaw(SFLOAT, s);
/** The value as a JS number (NaN for NaN/NRes/reserved, ±Infinity), for display only. */
export function sfloatToNumber(raw: number): number {
  const p = decodeSfloat(raw);
  if (p.kind === 'number') return p.mantissa * 10 ** p.exponent;
  return p.kind === '+inf' ? Infinity : p.kind === '-inf' ? -Infinity : NaN;
}
/** Encode milli-units exactly (see the rules at the top). */
export const encodeSfloatMilli = (milli: number, preferredExponent = -3): number => encodeMilli(SFLOAT, milli, preferredExponent);
/** Decode to milli-units exactly; specials and sub-milli values are refused. */
export const decodeSfloatMilli = (raw: number): { ok: true; value: number } | { ok: false; detail: string } => decodeMilli(SFLOAT, raw & 0xffff);
/** The nearest milli-value an SFLOAT holds exactly (half away from zero), e.g. 52 345 → 52 300 (52.3 IU). */
export const roundMilliToSfloat = (milli: number): number => roundMilli(SFLOAT, milli);
/** Whether some SFLOAT holds `milli` exactly. */
export const sfloatHoldsMilli = (milli: number): boolean => Number.isSafeInteger(milli) && (milli === 0 || exactParts(SFLOAT, milli).length > 0);

// ─── FLOAT API (Get Delivered Insulin, IDS v1.0.2 §4.5.2.13) ────────────────────────────────

export const decodeFloat = (raw: number): FloatParts => splitRaw(FLOAT, raw >>> 0);
export const encodeFloat = (mantissa: number, exponent: number): number => joinRaw(FLOAT, mantissa, exponent);
export const floatSpecial = (s: FloatSpecial): number => specialRaw(FLOAT, s);
export const encodeFloatMilli = (milli: number, preferredExponent = -3): number => encodeMilli(FLOAT, milli, preferredExponent);
export const decodeFloatMilli = (raw: number): { ok: true; value: number } | { ok: false; detail: string } => decodeMilli(FLOAT, raw >>> 0);
export const roundMilliToFloat = (milli: number): number => roundMilli(FLOAT, milli);
