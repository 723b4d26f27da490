// The pH meter's GLP record (DESIGN §6: reading, temperature, mV, calibration in force, time) and
// its byte codec, with the hash that chains each record to the one before. Not the log on flash
// (glp-log.ts), the signed checkpoint (glp-checkpoint.ts) nor the downstream check (glp-verify.ts).
//
// ─── Record, version 1 (76 bytes, little-endian; docs/protocol.md §1 conventions) ──────────────
//   +0   version            u8   = 1
//   +1   reserved           u8   = 0
//   +2   flags              u16  GLP_FLAGS, bit i = GLP_FLAGS[i]; bits 10..15 reserved = 0
//   +4   seq                u32  from 1, +1 per record, never reused
//   +8   timeS              u32  device time of the append, whole seconds
//   +12  serial             8    the meter's serial (§3.1): which instrument (GLP), and which chain
//   +20  phMilli            i32  pH × 1000 (7.003 → 7003); NO_VALUE_I32 when there is none
//   +24  mvCenti            i32  electrode mV × 100; NO_VALUE_I32 when there is none
//   +28  tempCentiC         i16  solution °C × 100; NO_VALUE_I16 when there is none
//   +30  calOffsetCentiMv   i16  calibration in force: mV at pH 7 × 100 (|offset| ≤ 60 mV accepted)
//   +32  calId              u32  calibration in force: its id; 0 = none (the ideal line, nernst.ts)
//   +36  calTimeS           u32  calibration in force: device time it was made, s
//   +40  calSlopeCentiPct   u16  calibration in force: slope in 0.01 % of Nernst (9850 = 98.50 %)
//   +42  calPoints          u8   calibration in force: buffers used, 1..5; 0 with calId 0
//   +43  reserved           u8   = 0
//   +44  hash               32   SHA-256(previous record's hash ‖ bytes 0..43)
//
// The first record's "previous hash" is the genesis SHA-256("medtwin-glp-v1" ‖ serial), so a
// chain belongs to one meter. With no calibration (calId 0) slope, offset and time are the ideal
// line's: 10000, 0, 0. Integers, not floats: the record is what the meter displayed, exactly, and
// two implementations hash the same bytes. Why a chain and not a signature per record: glp-log.ts.

import { SHA256_BYTES, sha256, type CostContext } from '../../src/crypto/index.ts';
import { isValidSerial, SERIAL_BYTES } from '../../src/session/identity.ts';
import { MedtwinError } from '../../src/errors.ts';
import type { CalibrationLine } from './nernst.ts';
import { MAX_CALIBRATION_POINTS } from './calibration.ts';

export const GLP_RECORD_VERSION = 1;
/** Bytes the hash covers (after the previous hash). */
export const GLP_BODY_BYTES = 44;
export const GLP_HASH_BYTES = SHA256_BYTES;
export const GLP_RECORD_BYTES = GLP_BODY_BYTES + GLP_HASH_BYTES;
/** "No value" in an i32 field (the most negative i32, as IEEE 11073 sets aside NaN codes). */
export const NO_VALUE_I32 = -0x8000_0000;
/** "No value" in an i16 field. */
export const NO_VALUE_I16 = -0x8000;
/** The ideal line's slope, 100.00 %, in the record's unit. */
export const IDEAL_SLOPE_CENTI_PERCENT = 10_000;
const GENESIS_LABEL = 'medtwin-glp-v1';

/** Status flags, bit i = index i. Order is the format: append only. */
export const GLP_FLAGS = [
  /** The reading met the stability criterion before it was taken. */
  'stable',
  /** Taken from the display's hold (the user froze it) rather than live. */
  'held',
  /** Temperature entered by hand; clear = measured by the probe (ATC). */
  'manual-temperature',
  /** pH outside the meter's display range. */
  'ph-out-of-range',
  /** Electrode potential outside the front end's range (ADC at a rail). */
  'mv-out-of-range',
  /** Temperature outside the compensation range. */
  'temperature-out-of-range',
  /** The calibration in force passed with a warning (slope < 92 % or |offset| > 30 mV, DESIGN §6). */
  'calibration-warning',
  /** The calibration in force is past its due date. */
  'calibration-expired',
  /** The electrode gave no usable signal (probe.ts 'electrode-dead'). */
  'electrode-fault',
  /** The temperature channel is open or short (probe.ts). */
  'temperature-fault',
] as const;
export type GlpFlag = (typeof GLP_FLAGS)[number];
const RESERVED_FLAG_MASK = 0xffff & ~((1 << GLP_FLAGS.length) - 1);

/** The calibration in force when the reading was taken. */
export interface GlpCalibration {
  /** u32 ≥ 1: which calibration (the calibration module numbers them). */
  readonly id: number;
  /** u16, 0.01 % of the Nernst slope. */
  readonly slopeCentiPercent: number;
  /** i16, 0.01 mV. */
  readonly offsetCentiMv: number;
  /** u32, device seconds. */
  readonly timeS: number;
  /** 1..5 buffers. */
  readonly points: number;
}

/** What the meter hands the log: one reading in the record's units. */
export interface GlpReading {
  /** i32 milli-pH; undefined when the meter has none (electrode fault). */
  readonly phMilli: number | undefined;
  /** i32, 0.01 mV; undefined when the meter has none. */
  readonly mvCenti: number | undefined;
  /** i16, 0.01 °C; undefined when the meter has none (temperature fault, no manual value). */
  readonly tempCentiC: number | undefined;
  /** In GLP_FLAGS order, each at most once. */
  readonly flags: readonly GlpFlag[];
  /** undefined: no calibration yet (the ideal line). */
  readonly calibration: GlpCalibration | undefined;
}

/** The fields of a record the log adds to a reading. */
export interface GlpRecordFields extends GlpReading {
  readonly seq: number;
  readonly timeS: number;
  readonly serial: string;
}

export interface GlpRecord extends GlpRecordFields {
  readonly version: 1;
  /** SHA-256(previous hash ‖ body), as stored (the verifier recomputes it). */
  readonly hash: Uint8Array;
}

export type GlpDecodeCode = 'length' | 'version' | 'reserved' | 'flags' | 'sequence' | 'serial' | 'calibration';
export type GlpDecodeResult = { readonly ok: true; readonly value: GlpRecord } | { readonly ok: false; readonly code: GlpDecodeCode; readonly detail: string };

const isInt = (n: unknown, min: number, max: number): n is number => typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max;
const U16 = 0xffff;
const U32 = 0xffff_ffff;
const I16_MAX = 0x7fff;
const I32_MAX = 0x7fff_ffff;

/** Why `r` cannot be recorded, or undefined when it can (every field in its range, flags known and ordered). */
export function checkGlpReading(r: GlpReading): string | undefined {
  if (r.phMilli !== undefined && !isInt(r.phMilli, NO_VALUE_I32 + 1, I32_MAX)) return `phMilli ${String(r.phMilli)} is not an i32 (or is the no-value code)`;
  if (r.mvCenti !== undefined && !isInt(r.mvCenti, NO_VALUE_I32 + 1, I32_MAX)) return `mvCenti ${String(r.mvCenti)} is not an i32 (or is the no-value code)`;
  if (r.tempCentiC !== undefined && !isInt(r.tempCentiC, NO_VALUE_I16 + 1, I16_MAX)) return `tempCentiC ${String(r.tempCentiC)} is not an i16 (or is the no-value code)`;
  if (!Array.isArray(r.flags)) return 'flags is not a list';
  let lastBit = -1;
  for (const f of r.flags) {
    const bit = GLP_FLAGS.indexOf(f);
    if (bit < 0) return `unknown flag ${JSON.stringify(f)}`;
    if (bit <= lastBit) return `flag ${f} out of GLP_FLAGS order or repeated`;
    lastBit = bit;
  }
  const c = r.calibration;
  if (c !== undefined) {
    if (!isInt(c.id, 1, U32)) return `calibration id ${String(c.id)} is not a u32 ≥ 1 (0 means none: leave calibration undefined)`;
    if (!isInt(c.slopeCentiPercent, 0, U16)) return `calibration slope ${String(c.slopeCentiPercent)} is not a u16`;
    if (!isInt(c.offsetCentiMv, -0x8000, I16_MAX)) return `calibration offset ${String(c.offsetCentiMv)} is not an i16`;
    if (!isInt(c.timeS, 0, U32)) return `calibration time ${String(c.timeS)} is not a u32`;
    if (!isInt(c.points, 1, MAX_CALIBRATION_POINTS)) return `calibration points ${String(c.points)} is not 1..${MAX_CALIBRATION_POINTS}`;
  }
  return undefined;
}

function checkFields(f: GlpRecordFields): string | undefined {
  if (!isInt(f.seq, 1, U32)) return `seq ${String(f.seq)} is not a u32 ≥ 1`;
  if (!isInt(f.timeS, 0, U32)) return `time ${String(f.timeS)} s is not a u32`;
  if (!isValidSerial(f.serial)) return `serial ${JSON.stringify(f.serial)} is not 8 printable ASCII characters`;
  return checkGlpReading(f);
}

/** Bytes 0..43 of a record (what its hash covers after the previous hash). Throws RangeError on a field out of range. */
export function encodeGlpBody(f: GlpRecordFields): Uint8Array {
  const bad = checkFields(f);
  if (bad !== undefined) throw new RangeError(`GLP record: ${bad}`);
  const body = new Uint8Array(GLP_BODY_BYTES);
  const v = new DataView(body.buffer);
  v.setUint8(0, GLP_RECORD_VERSION);
  v.setUint16(2, f.flags.reduce((m, flag) => m | (1 << GLP_FLAGS.indexOf(flag)), 0), true);
  v.setUint32(4, f.seq, true);
  v.setUint32(8, f.timeS, true);
  body.set(new TextEncoder().encode(f.serial), 12);
  v.setInt32(20, f.phMilli ?? NO_VALUE_I32, true);
  v.setInt32(24, f.mvCenti ?? NO_VALUE_I32, true);
  v.setInt16(28, f.tempCentiC ?? NO_VALUE_I16, true);
  const c = f.calibration;
  v.setInt16(30, c?.offsetCentiMv ?? 0, true);
  v.setUint32(32, c?.id ?? 0, true);
  v.setUint32(36, c?.timeS ?? 0, true);
  v.setUint16(40, c?.slopeCentiPercent ?? IDEAL_SLOPE_CENTI_PERCENT, true);
  v.setUint8(42, c?.points ?? 0);
  return body;
}

/** The whole 76-byte record: body ‖ hash. */
export function encodeGlpRecord(f: GlpRecordFields, hash: Uint8Array): Uint8Array {
  if (!(hash instanceof Uint8Array) || hash.length !== GLP_HASH_BYTES) throw new RangeError(`GLP record: hash must be ${GLP_HASH_BYTES} bytes`);
  const out = new Uint8Array(GLP_RECORD_BYTES);
  out.set(encodeGlpBody(f));
  out.set(hash, GLP_BODY_BYTES);
  return out;
}

/**
 * Parse one record's layout and fields. The hash is returned, not checked (glp-verify.ts chains it).
 * Never throws: anything that is not a version-1 record is a coded failure.
 */
export function decodeGlpRecord(bytes: Uint8Array): GlpDecodeResult {
  const bad = (code: GlpDecodeCode, detail: string): GlpDecodeResult => ({ ok: false, code, detail });
  if (!(bytes instanceof Uint8Array)) return bad('length', 'not a byte string');
  if (bytes.length !== GLP_RECORD_BYTES) return bad('length', `${bytes.length} bytes, a record is ${GLP_RECORD_BYTES}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint8(0) !== GLP_RECORD_VERSION) return bad('version', `version ${v.getUint8(0)}`);
  if (v.getUint8(1) !== 0 || v.getUint8(43) !== 0) return bad('reserved', 'a reserved byte is not 0');
  const flagBits = v.getUint16(2, true);
  if ((flagBits & RESERVED_FLAG_MASK) !== 0) return bad('flags', `reserved flag bits 0x${(flagBits & RESERVED_FLAG_MASK).toString(16)}`);
  const seq = v.getUint32(4, true);
  if (seq === 0) return bad('sequence', 'sequence 0 (they start at 1)');
  const serial = String.fromCharCode(...bytes.subarray(12, 12 + SERIAL_BYTES));
  if (!isValidSerial(serial)) return bad('serial', 'serial is not 8 printable ASCII characters');
  const id = v.getUint32(32, true);
  const points = v.getUint8(42);
  const offsetCentiMv = v.getInt16(30, true);
  const calTimeS = v.getUint32(36, true);
  const slopeCentiPercent = v.getUint16(40, true);
  let calibration: GlpCalibration | undefined;
  if (id === 0) {
    if (points !== 0 || offsetCentiMv !== 0 || calTimeS !== 0 || slopeCentiPercent !== IDEAL_SLOPE_CENTI_PERCENT) {
      return bad('calibration', 'calibration id 0 (none) with a non-ideal line, time or points');
    }
  } else {
    if (points < 1 || points > MAX_CALIBRATION_POINTS) return bad('calibration', `calibration ${id} with ${points} points`);
    calibration = { id, slopeCentiPercent, offsetCentiMv, timeS: calTimeS, points };
  }
  const ph = v.getInt32(20, true);
  const mv = v.getInt32(24, true);
  const temp = v.getInt16(28, true);
  return {
    ok: true,
    value: {
      version: 1,
      seq,
      timeS: v.getUint32(8, true),
      serial,
      phMilli: ph === NO_VALUE_I32 ? undefined : ph,
      mvCenti: mv === NO_VALUE_I32 ? undefined : mv,
      tempCentiC: temp === NO_VALUE_I16 ? undefined : temp,
      flags: GLP_FLAGS.filter((_, bit) => (flagBits >> bit) & 1),
      calibration,
      hash: bytes.slice(GLP_BODY_BYTES),
    },
  };
}

// ─── the chain ────────────────────────────────────────────────────────────────────────────────

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/** The "previous hash" of record 1: SHA-256("medtwin-glp-v1" ‖ serial). Not charged: a constant per device. */
/** The sequence number of a record's bytes (offset 4), without decoding the rest: for paging. */
export function glpRecordSeq(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
}

export function glpGenesisHash(serial: string): Uint8Array {
  if (!isValidSerial(serial)) throw new MedtwinError('glp.serial', `serial must be 8 printable ASCII characters, got ${JSON.stringify(serial)}`);
  return sha256(new TextEncoder().encode(GENESIS_LABEL + serial));
}

/**
 * A record's hash: SHA-256(previous hash ‖ body), 32 + 44 = 76 bytes = 2 compressions
 * (FIPS 180-4 §5.1.1), charged to `cost` when given (on the chip; the verifier passes none).
 */
export function glpChainHash(prevHash: Uint8Array, body: Uint8Array, opts: { readonly cost?: CostContext } = {}): Uint8Array {
  return sha256(concat(prevHash, body), opts.cost === undefined ? {} : { cost: opts.cost });
}

// ─── from the meter's numbers ─────────────────────────────────────────────────────────────────

/** A reading in the meter's own units (nernst.ts), before rounding to the record's. */
export interface GlpMeasurement {
  readonly ph: number | undefined;
  readonly mv: number | undefined;
  readonly tempC: number | undefined;
  readonly flags: readonly GlpFlag[];
  /** The calibration in force; undefined for the ideal line before any calibration. */
  readonly calibration: { readonly id: number; readonly line: CalibrationLine; readonly timeS: number; readonly points: number } | undefined;
}

/**
 * Round a measurement to the record's units (half away from zero, as a display rounds); flags are
 * put in GLP_FLAGS order. Out-of-range values stay out of range: checkGlpReading (and so
 * GlpLog.append) refuses them.
 */
export function glpReadingFrom(m: GlpMeasurement): GlpReading {
  const round = (x: number | undefined, scale: number): number | undefined => (x === undefined ? undefined : Math.sign(x) * Math.round(Math.abs(x) * scale) + 0); // + 0: no −0
  const c = m.calibration;
  return {
    phMilli: round(m.ph, 1000),
    mvCenti: round(m.mv, 100),
    tempCentiC: round(m.tempC, 100),
    flags: GLP_FLAGS.filter((f) => m.flags.includes(f)),
    calibration:
      c === undefined
        ? undefined
        : { id: c.id, slopeCentiPercent: round(c.line.slopeFraction, 10_000)!, offsetCentiMv: round(c.line.offsetMv, 100)!, timeS: c.timeS, points: c.points },
  };
}
