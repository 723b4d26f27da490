// The pH meter's session command numbers and the bytes of their payloads and answers
// (docs/protocol.md §6.2), shared by the meter (ph-commands.ts) and its clients. Not what the
// commands do: decoders here only check bytes and never throw.
//
// All little-endian. pH in 0.001 pH (i32), mV in 0.01 mV (i32), temperature in 0.01 °C (i16),
// slope in 0.01 % (u16), offset in 0.01 mV (i16), times in device seconds (u32).

import type { CommandDeclaration } from '../../src/session/commands.ts';
import type { BufferSetId } from './buffers.ts';
import type { AcceptanceFailure, AcceptanceWarning, CalibrationStatus } from './calibration.ts';
import type { CalibrationOutcome, PointRefusal } from './calibration.machine.ts';

export const PH_COMMANDS = {
  /** — → a GLP record (76 bytes) of the next stable reading, appended to the log. */
  measure: { id: 0x0200, name: 'ph.measure', leastRole: 'patient', emergency: true, increasesDelivery: false },
  /** bufferSet[1] → — : begin a calibration (the meter measures continuously until it ends). */
  calibrationStart: { id: 0x0201, name: 'ph.calibration.start', leastRole: 'clinician', emergency: false, increasesDelivery: false },
  /** — → the point taken in the buffer the probe is in, or why not. */
  calibrationPoint: { id: 0x0202, name: 'ph.calibration.point', leastRole: 'clinician', emergency: false, increasesDelivery: false },
  /** — → the outcome: accepted (now in force) or failed (the old one stays). */
  calibrationFinish: { id: 0x0203, name: 'ph.calibration.finish', leastRole: 'clinician', emergency: false, increasesDelivery: false },
  calibrationCancel: { id: 0x0204, name: 'ph.calibration.cancel', leastRole: 'clinician', emergency: false, increasesDelivery: false },
  /** — → the calibration in force and its status. */
  calibrationRead: { id: 0x0205, name: 'ph.calibration.read', leastRole: 'patient', emergency: true, increasesDelivery: false },
  /** fromSeq[4] ‖ max[1] → newest[4] ‖ count[1] ‖ records (76 bytes each, unsigned: ph.glp.checkpoint signs them). */
  glpRecords: { id: 0x0206, name: 'ph.glp.records', leastRole: 'patient', emergency: true, increasesDelivery: false },
  /** firstSeq[4] ‖ lastSeq[4] → the signed checkpoint (156 bytes) over that run. */
  glpCheckpoint: { id: 0x0207, name: 'ph.glp.checkpoint', leastRole: 'patient', emergency: true, increasesDelivery: false },
  /** upToSeq[4] → — : records up to it are safe downstream and may be overwritten. */
  glpAcknowledge: { id: 0x0208, name: 'ph.glp.ack', leastRole: 'patient', emergency: false, increasesDelivery: false },
  /** RACP-style: operator[1] ‖ operands → newest[4] ‖ matching[4] ‖ count[1] ‖ the first ≤ 11 matching records. */
  glpQuery: { id: 0x0209, name: 'ph.glp.query', leastRole: 'patient', emergency: true, increasesDelivery: false },
} as const satisfies Record<string, CommandDeclaration>;

/** Records per ph.glp.records answer: 5 + 11 × 76 = 841 bytes, inside one channel message. */
export const GLP_RECORDS_PER_ANSWER = 11;

export const BUFFER_SET_CODES: Readonly<Record<BufferSetId, number>> = { nist: 1, us: 2 };

/** Why a measurement or a point was refused, in the first byte of a not-permitted-now answer. */
export const PH_REFUSAL_CODES = {
  /** A calibration point: the reading did not settle in time. */
  'not-stable': 1,
  /** A measurement: no stable reading within the one-shot timeout. */
  timeout: 2,
  unrecognized: 3,
  'buffer-repeated': 4,
  'temperature-out-of-range': 5,
  /** The procedure ended (cancelled, timed out) or none is running. */
  interrupted: 6,
  'bad-input': 7,
  /** The measurement was stopped before it settled. */
  stopped: 8,
  /** The GLP log holds as many unsynced records as it may: sync (ph.glp.ack) first. */
  'unsynced-full': 9,
  'log-failed': 10,
  /** A calibration holds the probe. */
  calibrating: 11,
  /** The procedure already has its five points: finish it. */
  'max-points': 12,
  /** Finish with no point taken. */
  'no-points': 13,
  /** Not a procedure in progress. */
  'not-calibrating': 14,
} as const satisfies Record<string, number>;
export type PhRefusal = keyof typeof PH_REFUSAL_CODES;

export const CALIBRATION_STATUS_CODES: Readonly<Record<CalibrationStatus, number>> = { none: 0, valid: 1, reminder: 2, expired: 3 };
export const ACCEPTANCE_FAILURE_CODES: Readonly<Record<AcceptanceFailure | 'cancelled' | 'timeout' | 'fit', number>> = { 'slope-low': 1, 'slope-high': 2, offset: 3, cancelled: 4, timeout: 5, fit: 6 };
const WARNING_BITS: Readonly<Record<AcceptanceWarning, number>> = { 'slope-warn': 1, 'offset-warn': 2 };

/** Why a procedure ended without a calibration, as its answer and audit record code it (ACCEPTANCE_FAILURE_CODES). */
export function failureCodeOf(o: Exclude<CalibrationOutcome, { ok: true }>): number {
  const c = o.code;
  return c === 'slope-low' || c === 'slope-high' || c === 'offset' || c === 'cancelled' || c === 'timeout' ? ACCEPTANCE_FAILURE_CODES[c] : ACCEPTANCE_FAILURE_CODES.fit;
}

const i32 = (v: DataView, at: number, x: number): void => v.setInt32(at, Math.round(x), true);

export const warningBits = (ws: readonly AcceptanceWarning[]): number => ws.reduce((b, w) => b | WARNING_BITS[w], 0);
export const warningsOf = (bits: number): AcceptanceWarning[] => (Object.keys(WARNING_BITS) as AcceptanceWarning[]).filter((w) => (bits & WARNING_BITS[w]) !== 0);

// ─── a calibration point ─────────────────────────────────────────────────────────────────────

export interface PointAnswer {
  /** 1-based point number in this procedure. */
  readonly index: number;
  readonly nominalPh: number;
  readonly bufferPhAtT: number;
  readonly mv: number;
  readonly tempC: number;
}
export const POINT_ANSWER_BYTES = 15;

export function encodePointAnswer(p: PointAnswer): Uint8Array {
  const out = new Uint8Array(POINT_ANSWER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, p.index);
  v.setUint16(1, Math.round(p.nominalPh * 100), true);
  v.setUint16(3, Math.round(p.bufferPhAtT * 1000), true);
  i32(v, 5, p.mv * 100);
  v.setInt16(9, Math.round(p.tempC * 100), true);
  v.setUint32(11, 0, true);
  return out;
}

export function decodePointAnswer(b: Uint8Array): PointAnswer | undefined {
  if (b.length !== POINT_ANSWER_BYTES) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { index: v.getUint8(0), nominalPh: v.getUint16(1, true) / 100, bufferPhAtT: v.getUint16(3, true) / 1000, mv: v.getInt32(5, true) / 100, tempC: v.getInt16(9, true) / 100 };
}

/** A refused point or measurement: code[1] ‖ measured pH[4] (i32 0.001 pH, NO_PH when none). */
export const NO_PH = -0x8000_0000;
export function encodeRefusal(code: PhRefusal | PointRefusal, measuredPh?: number): Uint8Array {
  const out = new Uint8Array(5);
  const v = new DataView(out.buffer);
  v.setUint8(0, PH_REFUSAL_CODES[code]);
  v.setInt32(1, measuredPh === undefined ? NO_PH : Math.round(measuredPh * 1000), true);
  return out;
}

// ─── a calibration (the one in force, or an outcome) ─────────────────────────────────────────

export interface CalibrationAnswer {
  /** 0 accepted / in force; else ACCEPTANCE_FAILURE_CODES. */
  readonly failure: number;
  /** CALIBRATION_STATUS_CODES for ph.calibration.read; 0 in a finish answer. */
  readonly status: number;
  readonly id: number;
  readonly slopePercent: number;
  readonly offsetMv: number;
  readonly timeS: number;
  readonly points: number;
  readonly bufferSet: number;
  readonly warnings: readonly AcceptanceWarning[];
}
export const CALIBRATION_ANSWER_BYTES = 16;

export function encodeCalibrationAnswer(a: CalibrationAnswer): Uint8Array {
  const out = new Uint8Array(CALIBRATION_ANSWER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, a.failure);
  v.setUint8(1, a.status);
  v.setUint32(2, a.id, true);
  v.setUint16(6, Math.max(0, Math.min(0xffff, Math.round(a.slopePercent * 100))), true);
  v.setInt16(8, Math.max(-0x8000, Math.min(0x7fff, Math.round(a.offsetMv * 100))), true);
  v.setUint32(10, a.timeS, true);
  v.setUint8(14, a.points);
  v.setUint8(15, (a.bufferSet & 0x0f) | (warningBits(a.warnings) << 4));
  return out;
}

export function decodeCalibrationAnswer(b: Uint8Array): CalibrationAnswer | undefined {
  if (b.length !== CALIBRATION_ANSWER_BYTES) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const last = v.getUint8(15);
  return {
    failure: v.getUint8(0),
    status: v.getUint8(1),
    id: v.getUint32(2, true),
    slopePercent: v.getUint16(6, true) / 100,
    offsetMv: v.getInt16(8, true) / 100,
    timeS: v.getUint32(10, true),
    points: v.getUint8(14),
    bufferSet: last & 0x0f,
    warnings: warningsOf(last >> 4),
  };
}

// ─── GLP retrieval ───────────────────────────────────────────────────────────────────────────

export function encodeGlpRecordsRequest(fromSeq: number, max: number): Uint8Array {
  const out = new Uint8Array(5);
  new DataView(out.buffer).setUint32(0, fromSeq, true);
  out[4] = max;
  return out;
}

export function decodeGlpRecordsRequest(b: Uint8Array): { fromSeq: number; max: number } | undefined {
  if (b.length !== 5) return undefined;
  return { fromSeq: new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true), max: b[4]! };
}

export function encodeSeqPair(a: number, b: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, a, true);
  v.setUint32(4, b, true);
  return out;
}

export function decodeSeqPair(b: Uint8Array): { first: number; last: number } | undefined {
  if (b.length !== 8) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, 8);
  return { first: v.getUint32(0, true), last: v.getUint32(4, true) };
}

export function encodeSeq(seq: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, seq, true);
  return out;
}

export function decodeSeq(b: Uint8Array): number | undefined {
  return b.length === 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : undefined;
}

/**
 * RACP's Operator values (GATT Specification Supplement, Record Access Control Point: 0x01 All
 * records, 0x02 ≤, 0x03 ≥, 0x04 within range, 0x06 Last record), filtered on the sequence number;
 * Last takes a count here (the newest N; RACP's own Last record is N = 1).
 */
export const GLP_QUERY_OPERATORS = { all: 0x01, lte: 0x02, gte: 0x03, range: 0x04, last: 0x06 } as const;

export type GlpWireQuery =
  | { readonly operator: 'all' }
  | { readonly operator: 'gte'; readonly minSeq: number }
  | { readonly operator: 'lte'; readonly maxSeq: number }
  | { readonly operator: 'range'; readonly minSeq: number; readonly maxSeq: number }
  | { readonly operator: 'last'; readonly count: number };

export function encodeGlpQuery(q: GlpWireQuery): Uint8Array {
  const operands = q.operator === 'all' ? [] : q.operator === 'gte' ? [q.minSeq] : q.operator === 'lte' ? [q.maxSeq] : q.operator === 'range' ? [q.minSeq, q.maxSeq] : [q.count];
  const out = new Uint8Array(1 + 4 * operands.length);
  const v = new DataView(out.buffer);
  out[0] = GLP_QUERY_OPERATORS[q.operator];
  operands.forEach((x, i) => v.setUint32(1 + 4 * i, x, true));
  return out;
}

/** A query, or undefined for bytes that are not one (unknown operator, wrong operand length). */
export function decodeGlpQuery(b: Uint8Array): GlpWireQuery | undefined {
  if (b.length < 1) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (i: number): number => v.getUint32(1 + 4 * i, true);
  switch (b[0]) {
    case GLP_QUERY_OPERATORS.all:
      return b.length === 1 ? { operator: 'all' } : undefined;
    case GLP_QUERY_OPERATORS.gte:
      return b.length === 5 ? { operator: 'gte', minSeq: u32(0) } : undefined;
    case GLP_QUERY_OPERATORS.lte:
      return b.length === 5 ? { operator: 'lte', maxSeq: u32(0) } : undefined;
    case GLP_QUERY_OPERATORS.range:
      return b.length === 9 ? { operator: 'range', minSeq: u32(0), maxSeq: u32(1) } : undefined;
    case GLP_QUERY_OPERATORS.last:
      return b.length === 5 ? { operator: 'last', count: u32(0) } : undefined;
    default:
      return undefined;
  }
}

/** A ph.glp.query answer. */
export function decodeGlpQueryAnswer(b: Uint8Array, recordBytes: number): { newest: number; matching: number; records: Uint8Array[] } | undefined {
  const r = splitRecordsAnswer(b, 2, recordBytes);
  return r === undefined ? undefined : { newest: r.header[0]!, matching: r.header[1]!, records: r.records };
}

/** A ph.glp.records answer: newest sequence number on the meter and the records. */
export function decodeGlpRecordsAnswer(b: Uint8Array, recordBytes: number): { newest: number; records: Uint8Array[] } | undefined {
  const r = splitRecordsAnswer(b, 1, recordBytes);
  return r === undefined ? undefined : { newest: r.header[0]!, records: r.records };
}

/** `fields` u32 header fields ‖ count[1] ‖ count records of `recordBytes`, or undefined when the length disagrees. */
function splitRecordsAnswer(b: Uint8Array, fields: number, recordBytes: number): { header: number[]; records: Uint8Array[] } | undefined {
  const at = 4 * fields + 1;
  if (b.length < at) return undefined;
  const count = b[at - 1]!;
  if (b.length !== at + count * recordBytes) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const header = Array.from({ length: fields }, (_, i) => v.getUint32(4 * i, true));
  const records = Array.from({ length: count }, (_, i) => b.slice(at + i * recordBytes, at + (i + 1) * recordBytes));
  return { header, records };
}
