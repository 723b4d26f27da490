// A GLP export: what leaves the meter for a downstream system (the phone, then a clinic's or a lab's
// server) — the meter's certificate, a signed checkpoint and the records it covers — and its bytes.
// Not the checking of it (glp-verify.ts) nor the query that makes one (glp-log.ts).
//
// ─── Export, version 1 (little-endian) ───────────────────────────────────────────────────────
//   +0    version      u8   = 1
//   +1    reserved     3    = 0
//   +4    count        u32  records that follow
//   +8    certificate  138  the meter's device certificate (docs/protocol.md §3.1)
//   +146  checkpoint   156  glp-checkpoint.ts
//   +302  records      count × 76, glp-record.ts, in the order they were given
//
// The container itself is not protected: every part inside is (the certificate by the
// manufacturer root, the checkpoint by the meter, the records by the chain to the checkpoint), so
// a change anywhere shows up as a failure of verifyGlpExport. Records are kept in the order given,
// even when it is wrong, so the verifier can say "reordered" rather than the codec hiding it.

import { DEVICE_CERTIFICATE_BYTES } from '../../src/session/wire-pairing.ts';
import { GLP_CHECKPOINT_BYTES } from './glp-checkpoint.ts';
import { GLP_RECORD_BYTES } from './glp-record.ts';

export const GLP_EXPORT_VERSION = 1;
export const GLP_EXPORT_HEADER_BYTES = 8;
const CERT_AT = GLP_EXPORT_HEADER_BYTES;
const CHECKPOINT_AT = CERT_AT + DEVICE_CERTIFICATE_BYTES;
const RECORDS_AT = CHECKPOINT_AT + GLP_CHECKPOINT_BYTES;

export interface GlpExport {
  readonly certificate: Uint8Array;
  readonly checkpoint: Uint8Array;
  /** 76-byte records, as the meter sent them (oldest first when nothing was tampered with). */
  readonly records: readonly Uint8Array[];
}

export type GlpExportDecodeResult = { readonly ok: true; readonly value: GlpExport } | { readonly ok: false; readonly code: 'malformed'; readonly detail: string };

/** Bytes of an export. Throws RangeError when a part has the wrong size (a caller's bug, not input). */
export function encodeGlpExport(e: GlpExport): Uint8Array {
  if (e.certificate.length !== DEVICE_CERTIFICATE_BYTES) throw new RangeError(`GLP export: certificate must be ${DEVICE_CERTIFICATE_BYTES} bytes`);
  if (e.checkpoint.length !== GLP_CHECKPOINT_BYTES) throw new RangeError(`GLP export: checkpoint must be ${GLP_CHECKPOINT_BYTES} bytes`);
  for (const r of e.records) if (r.length !== GLP_RECORD_BYTES) throw new RangeError(`GLP export: a record must be ${GLP_RECORD_BYTES} bytes`);
  const out = new Uint8Array(RECORDS_AT + e.records.length * GLP_RECORD_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, GLP_EXPORT_VERSION);
  v.setUint32(4, e.records.length, true);
  out.set(e.certificate, CERT_AT);
  out.set(e.checkpoint, CHECKPOINT_AT);
  e.records.forEach((r, i) => out.set(r, RECORDS_AT + i * GLP_RECORD_BYTES));
  return out;
}

/** Split export bytes into their parts (sizes only; never throws). */
export function decodeGlpExport(bytes: Uint8Array): GlpExportDecodeResult {
  const bad = (detail: string): GlpExportDecodeResult => ({ ok: false, code: 'malformed', detail });
  if (!(bytes instanceof Uint8Array)) return bad('not a byte string');
  if (bytes.length < RECORDS_AT) return bad(`${bytes.length} bytes < ${RECORDS_AT}`);
  if (bytes[0] !== GLP_EXPORT_VERSION) return bad(`export version ${bytes[0]}`);
  if (bytes[1] !== 0 || bytes[2] !== 0 || bytes[3] !== 0) return bad('a reserved byte is not 0');
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  const expected = RECORDS_AT + count * GLP_RECORD_BYTES;
  if (bytes.length !== expected) return bad(`${bytes.length} bytes, ${count} records make ${expected}`);
  const records: Uint8Array[] = [];
  for (let i = 0; i < count; i++) records.push(bytes.slice(RECORDS_AT + i * GLP_RECORD_BYTES, RECORDS_AT + (i + 1) * GLP_RECORD_BYTES));
  return { ok: true, value: { certificate: bytes.slice(CERT_AT, CHECKPOINT_AT), checkpoint: bytes.slice(CHECKPOINT_AT, RECORDS_AT), records } };
}
