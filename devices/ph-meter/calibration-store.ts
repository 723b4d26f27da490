// The calibration in force, kept in the record store so a reboot measures with it (and keeps its
// number: GLP records name it). Not the fit or the acceptance rules (calibration.ts) nor the
// procedure (calibration.machine.ts): only the record's bytes.
//
// Record STORE_KEYS.phCalibration (little-endian), version 1:
//   +0  version u8 = 1        +1  buffer set u8 (ph-wire BUFFER_SET_CODES)   +2 warnings u8 (ph-wire warningBits: bit 0 slope, bit 1 offset)
//   +3  performed by u8 (0 local, else the session role's code, src/session/roles.ts)
//   +4  id u32                +8  slope fraction f64            +16 offset mV f64
//   +24 accepted at µs f64    +32 mean temperature °C f64       +40 point count u8 (1..5)
//   +41 per point, 49 bytes: mV f64 | °C f64 | buffer pH at °C f64 | nominal pH f64 | at µs f64
//                            | buffer index in the set u8 | temperature source u8 (0 ATC, 1 manual, 2 fallback)
// The line is stored as accepted rather than refitted: a one-point calibration kept the slope in
// force then, which a refit on boot could not know. Segment slopes are recomputed from the points.
// Doubles, not the GLP record's rounded integers: the meter measures with exactly the line it accepted.

import { STORE_KEYS } from '../../src/firmware/store-keys.ts';
import { roleFromCode, ROLE_CODES } from '../../src/session/roles.ts';
import type { RecordStore, StoreResult } from '../../src/storage/record-store.ts';
import { BUFFER_SETS, type BufferSetId } from './buffers.ts';
import { BUFFER_SET_CODES, warningBits, warningsOf } from './ph-wire.ts';
import { fitCalibrationLine, MAX_CALIBRATION_POINTS, type Calibration, type CalibrationOperator, type RecordedPoint, type TemperatureSource } from './calibration.ts';

const VERSION = 1;
const HEADER_BYTES = 41;
const POINT_BYTES = 49;
const TEMP_SOURCES: readonly TemperatureSource[] = ['atc', 'manual', 'manual-fallback'];

export function encodeCalibration(c: Calibration): Uint8Array {
  const set = BUFFER_SETS[c.bufferSet];
  const out = new Uint8Array(HEADER_BYTES + c.points.length * POINT_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, VERSION);
  v.setUint8(1, BUFFER_SET_CODES[c.bufferSet]);
  v.setUint8(2, warningBits(c.warnings));
  v.setUint8(3, c.performedBy.source === 'local' ? 0 : ROLE_CODES[c.performedBy.role]);
  v.setUint32(4, c.id, true);
  v.setFloat64(8, c.line.slopeFraction, true);
  v.setFloat64(16, c.line.offsetMv, true);
  v.setFloat64(24, c.atUs, true);
  v.setFloat64(32, c.tempC, true);
  v.setUint8(40, c.points.length);
  c.points.forEach((p, i) => {
    const at = HEADER_BYTES + i * POINT_BYTES;
    v.setFloat64(at, p.mv, true);
    v.setFloat64(at + 8, p.tempC, true);
    v.setFloat64(at + 16, p.bufferPhAtT, true);
    v.setFloat64(at + 24, p.nominalPh, true);
    v.setFloat64(at + 32, p.atUs, true);
    v.setUint8(at + 40, set.buffers.findIndex((b) => b.id === p.bufferId));
    v.setUint8(at + 41, TEMP_SOURCES.indexOf(p.temperatureSource));
  });
  return out;
}

/** The calibration a record holds, or undefined for bytes that are not one (a corrupt record reads as none). */
export function decodeCalibration(bytes: Uint8Array): Calibration | undefined {
  if (bytes.length < HEADER_BYTES) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint8(0) !== VERSION) return undefined;
  const bufferSet = (Object.keys(BUFFER_SET_CODES) as BufferSetId[]).find((k) => BUFFER_SET_CODES[k] === v.getUint8(1));
  const count = v.getUint8(40);
  if (bufferSet === undefined || count < 1 || count > MAX_CALIBRATION_POINTS || bytes.length !== HEADER_BYTES + count * POINT_BYTES) return undefined;
  const by = v.getUint8(3);
  const role = by === 0 ? undefined : roleFromCode(by);
  if (by !== 0 && role === undefined) return undefined;
  const performedBy: CalibrationOperator = role === undefined ? { source: 'local' } : { source: 'session', role };
  const set = BUFFER_SETS[bufferSet];
  const points: RecordedPoint[] = [];
  for (let i = 0; i < count; i++) {
    const at = HEADER_BYTES + i * POINT_BYTES;
    const buffer = set.buffers[v.getUint8(at + 40)];
    const temperatureSource = TEMP_SOURCES[v.getUint8(at + 41)];
    if (buffer === undefined || temperatureSource === undefined) return undefined;
    points.push({ mv: v.getFloat64(at, true), tempC: v.getFloat64(at + 8, true), bufferPhAtT: v.getFloat64(at + 16, true), nominalPh: v.getFloat64(at + 24, true), atUs: v.getFloat64(at + 32, true), bufferId: buffer.id, temperatureSource });
  }
  const line = { slopeFraction: v.getFloat64(8, true), offsetMv: v.getFloat64(16, true) };
  if (!Number.isFinite(line.slopeFraction) || !(line.slopeFraction > 0) || !Number.isFinite(line.offsetMv)) return undefined;
  const fit = fitCalibrationLine(points, { previousSlopeFraction: line.slopeFraction });
  const bits = v.getUint8(2);
  return {
    id: v.getUint32(4, true),
    line,
    slopePercent: line.slopeFraction * 100,
    offsetMv: line.offsetMv,
    segments: fit.ok ? fit.value.segments : [],
    points,
    tempC: v.getFloat64(32, true),
    atUs: v.getFloat64(24, true),
    bufferSet,
    warnings: warningsOf(bits),
    performedBy,
  };
}

/** The stored calibration in force, if any. */
export function loadCalibration(store: RecordStore): Calibration | undefined {
  const bytes = store.get(STORE_KEYS.phCalibration);
  return bytes === undefined ? undefined : decodeCalibration(bytes);
}

export function saveCalibration(store: RecordStore, c: Calibration): StoreResult {
  return store.put(STORE_KEYS.phCalibration, encodeCalibration(c));
}
