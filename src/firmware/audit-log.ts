// The device's append-only, hash-chained audit log on the record store (STORE_LOGS.audit, a ring),
// and the pure chain verifier clients run on what audit.read returns (docs/protocol.md §9). Not a trace.
//
// Record (docs/protocol.md §9), little-endian:
//   +0       seq     u32  from 1, +1 per record (= the store's per-log sequence number)
//   +4       time    u64  device time, µs
//   +12      event   u16  AUDIT_EVENTS, or a device event ≥ 0x0100
//   +14      role    u8   the actor's role code (§3.3); 0 = the device itself or a local user
//   +15      D       u8   detail length
//   +16      detail  D bytes
//   +16 + D  hash    32   SHA-256(previous hash ‖ bytes 0 .. 15 + D); before seq 1: SHA-256("medtwin-audit-v1" ‖ serial)

import type { RecordStore, RecordStoreErrorCode } from '../storage/record-store.ts';
import { ROLE_CODES, type Role } from '../session/roles.ts';
import { MedtwinError } from '../errors.ts';
import { STORE_LOGS } from './store-keys.ts';

/** Event codes (docs/protocol.md §9). Device-specific events use 0x0100 and above. */
export const AUDIT_EVENTS = {
  boot: 0x0001,
  'pairing.ok': 0x0010,
  'pairing.failed': 0x0011,
  unpair: 0x0012,
  'session.opened': 0x0020,
  'session.proofFailed': 0x0021,
  'record.rejected': 0x0022,
  'session.ended': 0x0023,
  'session.lockedOut': 0x0024,
  'session.idleTimeout': 0x0025,
  'lockout.started': 0x0030,
  'lockout.ended': 0x0031,
  'breakglass.used': 0x0040,
  'breakglass.refused': 0x0041,
  'breakglass.ended': 0x0042,
  'emergency.stop': 0x0050,
  'command.refused': 0x0060,
  'command.emergency': 0x0061,
} as const;

export type AuditEventName = keyof typeof AUDIT_EVENTS;
/** First code a device (insulin pump, pH meter) may use for its own events. */
export const AUDIT_DEVICE_EVENTS_FROM = 0x0100;

export const AUDIT_HEADER_BYTES = 16;
export const AUDIT_HASH_BYTES = 32;
export const AUDIT_MAX_DETAIL_BYTES = 255;
/** The role byte of an event the device itself (or a user at its buttons) caused. */
export const AUDIT_ROLE_DEVICE = 0;
const GENESIS_LABEL = 'medtwin-audit-v1';
const SERIAL_BYTES = 8;

/** SHA-256, injected so the composition can pass the crypto core's charged implementation. */
export type Sha256 = (bytes: Uint8Array) => Uint8Array;

export interface AuditRecord {
  readonly seq: number;
  readonly timeUs: number;
  readonly event: number;
  /** Role code (§3.3), AUDIT_ROLE_DEVICE for the device. */
  readonly role: number;
  readonly detail: Uint8Array;
  readonly hash: Uint8Array;
}

export type AuditDecodeResult = { ok: true; value: AuditRecord } | { ok: false; code: 'malformed'; detail: string };

const u32At = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

function serialBytes(serial: string): Uint8Array {
  // §3.1: 8 ASCII characters. A wrong one is a provisioning bug, not an input.
  if (!/^[\x20-\x7e]{8}$/.test(serial)) throw new MedtwinError('audit.serial', `serial must be ${SERIAL_BYTES} printable ASCII characters, got ${JSON.stringify(serial)}`);
  return new TextEncoder().encode(serial);
}

function checkedHash(hash: Sha256, bytes: Uint8Array): Uint8Array {
  const h = hash(bytes);
  if (h.length !== AUDIT_HASH_BYTES) throw new MedtwinError('audit.hash', `the injected hash returned ${h.length} bytes, SHA-256 gives ${AUDIT_HASH_BYTES}`);
  return h;
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The "previous hash" of record 1: SHA-256("medtwin-audit-v1" ‖ serial) (§9). */
export function auditGenesis(serial: string, hash: Sha256): Uint8Array {
  return checkedHash(hash, concat(new TextEncoder().encode(GENESIS_LABEL), serialBytes(serial)));
}

/** Bytes 0 .. 15 + D of a record: everything its hash covers after the previous hash. */
function encodeBody(seq: number, timeUs: number, event: number, role: number, detail: Uint8Array): Uint8Array {
  const body = new Uint8Array(AUDIT_HEADER_BYTES + detail.length);
  const v = new DataView(body.buffer);
  v.setUint32(0, seq, true);
  v.setBigUint64(4, BigInt(timeUs), true);
  v.setUint16(12, event, true);
  v.setUint8(14, role);
  v.setUint8(15, detail.length);
  body.set(detail, AUDIT_HEADER_BYTES);
  return body;
}

/** Parse one record's layout; the hash is not checked here (verifyAuditChain does). */
export function decodeAuditRecord(bytes: Uint8Array): AuditDecodeResult {
  const minBytes = AUDIT_HEADER_BYTES + AUDIT_HASH_BYTES;
  if (bytes.length < minBytes) return { ok: false, code: 'malformed', detail: `${bytes.length} bytes < ${minBytes}` };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const d = v.getUint8(15);
  if (bytes.length !== minBytes + d) return { ok: false, code: 'malformed', detail: `${bytes.length} bytes, detail length says ${minBytes + d}` };
  const seq = v.getUint32(0, true);
  if (seq === 0) return { ok: false, code: 'malformed', detail: 'sequence 0 (they start at 1)' };
  const time = v.getBigUint64(4, true);
  if (time > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, code: 'malformed', detail: `time ${time} µs` };
  return {
    ok: true,
    value: {
      seq,
      timeUs: Number(time),
      event: v.getUint16(12, true),
      role: v.getUint8(14),
      detail: bytes.slice(AUDIT_HEADER_BYTES, AUDIT_HEADER_BYTES + d),
      hash: bytes.slice(AUDIT_HEADER_BYTES + d),
    },
  };
}

// ─── verifying ────────────────────────────────────────────────────────────────────────────────

/** A record the verifier already trusts: seq 0 with auditGenesis(serial) is the start of the log. */
export interface AuditAnchor {
  readonly seq: number;
  readonly hash: Uint8Array;
}

export interface AuditVerifyOptions {
  /** The device's serial (§3.1), for the genesis hash. */
  readonly serial: string;
  readonly hash: Sha256;
  /**
   * The record just before the first one given. Omitted: the log's start (seq 0, genesis hash)
   * when the first record is seq 1, else a head the ring dropped (see `headTruncated`). A client
   * reading page after page passes the last record it verified, so a page cannot start late.
   */
  readonly genesis?: AuditAnchor;
}

export type AuditVerifyCode = 'gap' | 'order' | 'edited' | 'malformed';

export type AuditVerifyResult =
  | {
      ok: true;
      count: number;
      /** The last record verified (the anchor for the next page); the anchor itself when none. */
      last: AuditAnchor | undefined;
      /**
       * The ring dropped the oldest records (STORE_LOGS.audit is a ring), or the caller started
       * mid-log: the first record's seq > 1 and no genesis was given. Its own hash cannot be
       * recomputed (its predecessor is gone) and is taken as the anchor; every later record is
       * checked against it. Only a verifier holding an earlier anchor can check it too.
       */
      headTruncated?: { firstSeq: number };
    }
  | { ok: false; code: AuditVerifyCode; atSeq: number; detail: string };

/**
 * Recompute the chain and report the first record that is malformed, missing (a sequence gap),
 * out of order, or edited (hash mismatch), with the sequence number expected at that place.
 *
 * What a chain of unkeyed hashes does not catch, and why: records cut off the tail (compare the
 * newest seq with one seen before), and a chain rewritten whole from the genesis (anyone can
 * compute SHA-256) — a verifier that kept an earlier anchor catches the latter.
 */
export function verifyAuditChain(records: readonly Uint8Array[], opts: AuditVerifyOptions): AuditVerifyResult {
  const { hash } = opts;
  const decoded = records.map(decodeAuditRecord);
  const seqAt = (i: number): number | undefined => {
    const d = decoded[i];
    return d !== undefined && d.ok ? d.value.seq : undefined;
  };
  const fail = (code: AuditVerifyCode, atSeq: number, detail: string): AuditVerifyResult => ({ ok: false, code, atSeq, detail });

  let start = 0;
  let anchor: AuditAnchor;
  let headTruncated: { firstSeq: number } | undefined;
  const first = decoded[0];
  if (first === undefined) return { ok: true, count: 0, last: opts.genesis };
  if (opts.genesis !== undefined) anchor = opts.genesis;
  else if (!first.ok) return fail('malformed', records[0]!.length >= 4 ? u32At(records[0]!, 0) : 0, first.detail);
  else if (first.value.seq === 1) anchor = { seq: 0, hash: auditGenesis(opts.serial, hash) };
  else {
    anchor = { seq: first.value.seq, hash: first.value.hash };
    headTruncated = { firstSeq: first.value.seq };
    start = 1;
  }

  /** Hashes of records accepted so far, to tell a genuine record moved back from an edited one. */
  const accepted = new Map<number, Uint8Array>([[anchor.seq, anchor.hash]]);
  let prev = anchor;
  for (let i = start; i < records.length; i++) {
    const expected = prev.seq + 1;
    const d = decoded[i]!;
    if (!d.ok) return fail('malformed', expected, d.detail);
    const r = d.value;
    const body = records[i]!.subarray(0, records[i]!.length - AUDIT_HASH_BYTES);
    if (r.seq === expected) {
      if (!sameBytes(checkedHash(hash, concat(prev.hash, body)), r.hash)) return fail('edited', expected, `record ${expected}: hash mismatch`);
      prev = { seq: r.seq, hash: r.hash };
      accepted.set(r.seq, r.hash);
      continue;
    }
    // The record that belongs here comes later: records were swapped or moved.
    for (let j = i + 1; j < records.length; j++) {
      if (seqAt(j) === expected) return fail('order', expected, `record ${expected} found after record ${r.seq}`);
    }
    if (r.seq < expected) {
      // An earlier record again: a genuine copy still chains from its own predecessor.
      const before = accepted.get(r.seq - 1);
      const genuine = before !== undefined && sameBytes(checkedHash(hash, concat(before, body)), r.hash);
      return genuine ? fail('order', expected, `record ${r.seq} again after record ${prev.seq}`) : fail('edited', expected, `record with seq ${r.seq} where ${expected} belongs`);
    }
    // seq jumped ahead. A real gap keeps counting from there; a successor that does not follow
    // on means this record's own seq field was changed.
    const next = seqAt(i + 1);
    if (next !== undefined && next !== r.seq + 1) return fail('edited', expected, `seq ${r.seq} where ${expected} belongs, followed by ${next}`);
    return fail('gap', expected, `record ${expected}${r.seq - 1 > expected ? `..${r.seq - 1}` : ''} missing`);
  }
  const count = records.length;
  return headTruncated === undefined ? { ok: true, count, last: prev } : { ok: true, count, last: prev, headTruncated };
}

// ─── the log on the device ────────────────────────────────────────────────────────────────────

export type AuditErrorCode = 'unknown-event' | 'detail-too-long' | 'time' | 'malformed' | RecordStoreErrorCode;
export type AuditResult<T> = { ok: true; value: T } | { ok: false; code: AuditErrorCode; detail?: string };

export interface AuditLogOptions {
  readonly store: RecordStore;
  /** §3.1 serial, 8 ASCII characters: the genesis hash depends on it. */
  readonly serial: string;
  readonly hash: Sha256;
  /** The device clock (an Alarm will do): each record is stamped with it. */
  readonly clock: { nowUs(): number };
}

function eventCode(event: AuditEventName | number): number | undefined {
  if (typeof event === 'string') return AUDIT_EVENTS[event];
  if (!Number.isInteger(event) || event < 0 || event > 0xffff) return undefined;
  if (event >= AUDIT_DEVICE_EVENTS_FROM) return event;
  return (Object.values(AUDIT_EVENTS) as number[]).includes(event) ? event : undefined;
}

/**
 * The device's audit log. Appends go to the record store one record per log entry, whose
 * per-log sequence number is the record's seq; the ring drops the oldest when flash is full,
 * which the verifier reports as a truncated head. A power cut leaves the last append either
 * whole or absent (the store's commit word), and reopening continues the chain from the last
 * record on flash.
 */
export class AuditLog {
  private nextSeq = 1;
  private prevHash: Uint8Array;

  private constructor(private readonly opts: AuditLogOptions) {
    this.prevHash = auditGenesis(opts.serial, opts.hash);
  }

  /** Reopen the log from flash ('malformed' when its last record is not one of ours). */
  static open(opts: AuditLogOptions): AuditResult<AuditLog> {
    const log = new AuditLog(opts);
    const r = log.resync();
    return r.ok ? { ok: true, value: log } : r;
  }

  /** seq of the newest record, 0 when the log is empty. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** The newest record's hash (the genesis hash when empty): what a later record chains from. */
  get headHash(): Uint8Array {
    return this.prevHash.slice();
  }

  /**
   * Append one record; its seq is the value. Matches the session's AuditSink (src/session/ports.ts):
   * `role` undefined is the device itself or a local user.
   */
  append(event: AuditEventName | number, role: Role | undefined, detail: Uint8Array = new Uint8Array(0)): AuditResult<number> {
    const code = eventCode(event);
    if (code === undefined) return { ok: false, code: 'unknown-event', detail: `event ${String(event)}` };
    if (detail.length > AUDIT_MAX_DETAIL_BYTES) return { ok: false, code: 'detail-too-long', detail: `${detail.length} bytes > ${AUDIT_MAX_DETAIL_BYTES}` };
    const timeUs = this.opts.clock.nowUs();
    if (!Number.isSafeInteger(timeUs) || timeUs < 0) return { ok: false, code: 'time', detail: `device time ${timeUs} µs` };
    const seq = this.nextSeq;
    const body = encodeBody(seq, timeUs, code, role === undefined ? AUDIT_ROLE_DEVICE : ROLE_CODES[role], detail);
    const hash = checkedHash(this.opts.hash, concat(this.prevHash, body));
    const stored = this.opts.store.append(STORE_LOGS.audit, concat(body, hash));
    if (!stored.ok) {
      // The store re-read flash after a failed write; follow it rather than guess.
      this.resync();
      return stored;
    }
    if (stored.value !== seq) {
      throw new MedtwinError('audit.sequence', `audit log entry landed as ${stored.value}, expected ${seq}: another writer uses log ${STORE_LOGS.audit}`);
    }
    this.nextSeq = seq + 1;
    this.prevHash = hash;
    return { ok: true, value: seq };
  }

  /** Whole records with seq ≥ fromSeq, oldest first, at most `max` (audit.read, §6). */
  read(fromSeq: number, max: number): Uint8Array[] {
    if (!Number.isInteger(fromSeq) || !Number.isInteger(max) || max <= 0) return [];
    return this.opts.store
      .readLog(STORE_LOGS.audit, { fromSeq })
      .slice(0, max)
      .map((e) => e.value);
  }

  private resync(): AuditResult<void> {
    const entries = this.opts.store.readLog(STORE_LOGS.audit);
    const last = entries[entries.length - 1];
    if (last === undefined) {
      this.nextSeq = 1;
      this.prevHash = auditGenesis(this.opts.serial, this.opts.hash);
      return { ok: true, value: undefined };
    }
    const d = decodeAuditRecord(last.value);
    if (!d.ok) return { ok: false, code: 'malformed', detail: `log entry ${last.seq}: ${d.detail}` };
    if (d.value.seq !== last.seq) return { ok: false, code: 'malformed', detail: `log entry ${last.seq} holds record ${d.value.seq}` };
    this.nextSeq = last.seq + 1;
    this.prevHash = d.value.hash;
    return { ok: true, value: undefined };
  }
}
