// The pH meter's GLP log on the device's record store: hash-chained records kept until a downstream
// system acknowledged them, RACP-style queries, and the signed checkpoint that covers what a query
// returns. Not the record codec (glp-record.ts), the session commands nor the meter composition.
//
// ─── Integrity: a SHA-256 chain per record, one ECDSA signature per retrieval ──────────────────
// The requirement (DESIGN §6): a downstream system — a clinic's or a lab's server, after the records
// left the phone — detects a record edited, reordered or removed, holding only the manufacturer
// root's public key. Costs on the KW31Z, from hal/kw31z/costs.ts through the charged crypto
// (measured in test/devices/ph-meter/glp-log.test.ts; µJ at the 3.6 V supply reference):
//
//   per record   SHA-256(prev ‖ 44-byte body): 2 blocks = 16,800 cycles = 350 µs, 3.78 µJ
//                + the store's put of 76 bytes: 24 longword programs = 1,560 µs, 25.27 µJ
//   per sync     one checkpoint: ECDSA sign 48,000,000 + 2 SHA-256 blocks 16,800
//                = 48,016,800 cycles = 1.0004 s of CPU, 10,803.78 µJ
//
// The alternatives, costed the same way:
// - ECDSA per record: 48 M cycles (1.0 s of CPU after every reading) and 10.8 mJ per record; with
//   its 64-byte signature in place of the 32-byte hash the put is 32 programs (33.70 µJ): ≈ 10,836 µJ
//   per record, ≈ 370× the chain's. And it still misses records removed from the end: a shorter
//   run of validly signed records looks complete, so a signed "this is the newest" is needed anyway.
// - A CMAC chain on the LTC: 6 AES blocks = 1,200 cycles per record, the cheapest, but a verifier
//   needs the device's key, and the downstream system holds none of the device's secrets.
// - Chosen: the chain plus a signed checkpoint. Per record it costs 0.35 ms and 29 µJ with the store
//   write; the signature is paid once per retrieval (≈ 1 s, so the command that answers runs it in
//   afterCpu, src/session/cpu-time.ts). A day of 50 readings and one sync: 50 × 29.05 + 10,803.78
//   ≈ 12.3 mJ, against ≈ 542 mJ signing each record. The checkpoint names the first and last
//   sequence number it covers, the hash before the first and the hash of the last, so edits,
//   swaps and removals anywhere in the retrieval — first, middle or last — break it.
//   What it cannot show: a record never appended (a meter that lost power before the append). A
//   verifier that keeps the last { seq, hash } it accepted also catches a later retrieval that
//   starts late or a device whose log went backwards (glp-verify.ts `previous`).
//
// ─── Retention: kept until acknowledged, with a stated capacity ────────────────────────────────
// GLP wants raw data kept (OECD GLP Principles, 21 CFR 11.10(c): records protected throughout
// their retention period), and a lab meter whose memory is full says so rather than dropping
// results. So: at most `capacity` records may be waiting for acknowledgement; the append after
// that is refused with 'unsynced-full' (the meter shows "memory full, sync"), and an acknowledged
// record is overwritten only `capacity + 1` appends later.
//
// Why not a record-store log: even a ring log with a retention count (RING_LOGS `keep`) yields its
// older entries when the store needs room for keys and ordinary logs (record-store.ts), which
// any writer's traffic (audit records, lockout counters, bonds) can bring on, so an unsynced GLP
// record could still go; an ordinary log is never trimmed, so flash would fill for good. Instead each record is a keyed value in one of capacity + 1 slots,
// STORE_KEYS.phGlpSlotBase + (seq − 1) mod (capacity + 1): the store keeps a key's newest value
// whatever else is written (put is atomic across a power cut), so the GLP share of flash is fixed
// at (capacity + 1) × 96 bytes live and a record goes only when the log itself overwrites its slot.
// The extra slot keeps the record before the oldest one a query may return, whose hash is the
// checkpoint's anchor. STORE_KEYS.phGlpState holds (little-endian):
//   +0 version u8 = 1 | +1 reserved u8 = 0 | +2 capacity u16 | +4 acknowledgedSeq u32
// written before the first record and at each acknowledgement; a different capacity on reopening
// is a configuration error (the slots would map differently): migrate before changing it.
// Flash to give the store: keep (capacity + 1) × 96 bytes under about a quarter of it, so garbage
// collection copies little (GLP_DEFAULT_CAPACITY: ≈ 96 KB, 47 of the KW31Z's 2 KB sectors).

import type { RecordStore, RecordStoreErrorCode } from '../../src/storage/record-store.ts';
import { STORE_KEYS } from '../../src/firmware/store-keys.ts';
import { MedtwinError } from '../../src/errors.ts';
import type { CostContext } from '../../src/crypto/index.ts';
import type { DeviceIdentity } from '../../src/session/identity.ts';
import { signGlpCheckpoint } from './glp-checkpoint.ts';
import type { GlpExport } from './glp-export.ts';
import { checkGlpReading, decodeGlpRecord, encodeGlpBody, glpChainHash, glpGenesisHash, GLP_BODY_BYTES, type GlpReading } from './glp-record.ts';

/** Records that may wait for acknowledgement: ≈ 20 days of 50 readings, 96 KB of flash. */
export const GLP_DEFAULT_CAPACITY = 1_000;
/** Slots are u16-indexed from STORE_KEYS.phGlpSlotBase. */
export const GLP_MAX_CAPACITY = 0xfffe;
const STATE_VERSION = 1;
const STATE_BYTES = 8;
const U32 = 0xffff_ffff;
const US_PER_S = 1_000_000;

export type GlpLogErrorCode = 'invalid-reading' | 'time' | 'unsynced-full' | 'exhausted' | 'invalid-operand' | 'corrupt' | RecordStoreErrorCode;
export type GlpResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: GlpLogErrorCode; readonly detail?: string };

/** Which records a query selects (RACP operators, IDS v1.0.2 §3.9 vocabulary), always a contiguous run. */
export type GlpQuery =
  | { readonly operator: 'all' }
  | { readonly operator: 'gte'; readonly minSeq: number }
  | { readonly operator: 'lte'; readonly maxSeq: number }
  | { readonly operator: 'range'; readonly minSeq: number; readonly maxSeq: number }
  | { readonly operator: 'last'; readonly count: number };

export type GlpQueryCode = 'invalid-operand' | 'operator-not-supported' | 'no-records-found' | 'procedure-not-completed';
export type GlpQueryAnswer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: GlpQueryCode; readonly detail?: string };

export interface GlpLogOptions {
  readonly store: RecordStore;
  /** The device clock (an Alarm will do): records and checkpoints are stamped with it, in whole seconds. */
  readonly clock: { nowUs(): number };
  /** The meter's identity (src/session/identity.ts loadIdentity): serial and certificate go out, the key signs. */
  readonly identity: Pick<DeviceIdentity, 'serial' | 'certificate' | 'identityPrivateKey'>;
  /** Charges each record's hash and each checkpoint's signature to the chip's ledger. */
  readonly cost?: CostContext;
  /** Records that may wait for acknowledgement (1..GLP_MAX_CAPACITY); default GLP_DEFAULT_CAPACITY. */
  readonly capacity?: number;
}

const fail = (code: GlpLogErrorCode, detail?: string): { ok: false; code: GlpLogErrorCode; detail?: string } => (detail === undefined ? { ok: false, code } : { ok: false, code, detail });
const queryFail = (code: GlpQueryCode, detail?: string): GlpQueryAnswer<never> => (detail === undefined ? { ok: false, code } : { ok: false, code, detail });
const isU32 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= U32;

function encodeState(capacity: number, acknowledgedSeq: number): Uint8Array {
  const b = new Uint8Array(STATE_BYTES);
  const v = new DataView(b.buffer);
  v.setUint8(0, STATE_VERSION);
  v.setUint16(2, capacity, true);
  v.setUint32(4, acknowledgedSeq, true);
  return b;
}

/**
 * The meter's GLP log. Appends chain each record to the one before and put it in its slot; a power
 * cut leaves an append whole or absent (the store's put), and open() finds the newest record and
 * continues the chain from its hash.
 */
export class GlpLog {
  private readonly slots: number;
  private readonly privateKey: Uint8Array;
  private readonly genesis: Uint8Array;
  private last = 0;
  private head: Uint8Array;
  private acked = 0;
  private stateWritten = false;
  private cached: { first: number; last: number; newest: number; bytes: Uint8Array } | undefined;

  private constructor(
    private readonly opts: GlpLogOptions,
    readonly capacity: number,
  ) {
    this.slots = capacity + 1;
    this.privateKey = opts.identity.identityPrivateKey.slice();
    this.genesis = glpGenesisHash(opts.identity.serial);
    this.head = this.genesis;
  }

  /**
   * Recover the log from the store (boot). 'corrupt' when the state record is not one of ours;
   * a capacity other than the one on flash throws (configuration).
   */
  static open(opts: GlpLogOptions): GlpResult<GlpLog> {
    const capacity = opts.capacity ?? GLP_DEFAULT_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > GLP_MAX_CAPACITY) {
      throw new MedtwinError('glp.config', `GLP capacity must be 1..${GLP_MAX_CAPACITY}, got ${capacity}`);
    }
    const log = new GlpLog(opts, capacity);
    const r = log.resync();
    return r.ok ? { ok: true, value: log } : r;
  }

  /** Sequence number of the newest record; 0 when the log is empty. */
  get lastSeq(): number {
    return this.last;
  }

  /** Records up to this one were acknowledged and may be overwritten (0: none). */
  get acknowledgedSeq(): number {
    return this.acked;
  }

  /** Records appended and not yet acknowledged. */
  get unsyncedCount(): number {
    return Math.max(0, this.last - this.acked);
  }

  /** The oldest record a query can return (1 when the log is empty). */
  get firstSeq(): number {
    return Math.max(1, this.last - this.capacity + 1);
  }

  /** The newest record's hash (the genesis hash when empty): what the next record chains from. */
  get headHash(): Uint8Array {
    return this.head.slice();
  }

  /**
   * Record one reading, stamped with the clock; the value is its sequence number. Refused, with
   * nothing written: 'invalid-reading' (a field out of its range, checkGlpReading), 'time', 'exhausted'
   * (2³² − 1 records), 'unsynced-full' (capacity records wait for acknowledgement), or the store's code.
   */
  append(reading: GlpReading): GlpResult<number> {
    const bad = checkGlpReading(reading);
    if (bad !== undefined) return fail('invalid-reading', bad);
    const nowUs = this.opts.clock.nowUs();
    const timeS = Math.floor(nowUs / US_PER_S);
    if (!Number.isSafeInteger(nowUs) || nowUs < 0 || timeS > U32) return fail('time', `device time ${nowUs} µs`);
    const seq = this.last + 1;
    if (seq > U32) return fail('exhausted', 'GLP sequence numbers exhausted');
    if (seq - this.acked > this.capacity) return fail('unsynced-full', `${this.capacity} records wait for acknowledgement (up to ${this.acked} acknowledged)`);
    const body = encodeGlpBody({ ...reading, seq, timeS, serial: this.opts.identity.serial });
    const hash = glpChainHash(this.head, body, this.opts.cost === undefined ? {} : { cost: this.opts.cost });
    if (!this.stateWritten) {
      // Before the first record: a reboot must know the capacity the slots were laid out with.
      const s = this.opts.store.put(STORE_KEYS.phGlpState, encodeState(this.capacity, this.acked));
      if (!s.ok) return this.storeFailed(s);
      this.stateWritten = true;
    }
    const record = new Uint8Array(GLP_BODY_BYTES + hash.length);
    record.set(body);
    record.set(hash, GLP_BODY_BYTES);
    const stored = this.opts.store.put(this.slotKey(seq), record);
    if (!stored.ok) return this.storeFailed(stored);
    this.last = seq;
    this.head = hash;
    return { ok: true, value: seq };
  }

  /**
   * A downstream system has the records up to `upToSeq` (verified): they may be overwritten from now on.
   * Acknowledgements only move forward; an older one changes nothing. 'invalid-operand' beyond the newest record.
   */
  acknowledge(upToSeq: number): GlpResult<number> {
    if (!isU32(upToSeq) || upToSeq > this.last) return fail('invalid-operand', `acknowledge ${String(upToSeq)}: newest record is ${this.last}`);
    if (upToSeq <= this.acked) return { ok: true, value: this.acked };
    const r = this.opts.store.put(STORE_KEYS.phGlpState, encodeState(this.capacity, upToSeq));
    if (!r.ok) return this.storeFailed(r);
    this.stateWritten = true;
    this.acked = upToSeq;
    return { ok: true, value: upToSeq };
  }

  /** The 76-byte record `seq` if the log still holds it (including the anchor-only one before firstSeq). */
  record(seq: number): Uint8Array | undefined {
    if (!isU32(seq) || seq < 1 || seq > this.last || seq <= this.last - this.slots) return undefined;
    const bytes = this.opts.store.get(this.slotKey(seq));
    if (bytes === undefined) return undefined;
    const d = decodeGlpRecord(bytes);
    return d.ok && d.value.seq === seq ? bytes : undefined;
  }

  /** Report Number of Stored Records: how many a query selects (0 when none). */
  count(q: GlpQuery): GlpQueryAnswer<number> {
    const r = this.select(q);
    return r.ok ? { ok: true, value: r.value === undefined ? 0 : r.value.last - r.value.first + 1 } : r;
  }

  /** The records a query selects, oldest first, without a checkpoint (the meter's own display). */
  records(q: GlpQuery): GlpQueryAnswer<Uint8Array[]> {
    const r = this.select(q);
    if (!r.ok) return r;
    if (r.value === undefined) return queryFail('no-records-found');
    return this.read(r.value.first, r.value.last);
  }

  /**
   * Sign a checkpoint over records firstSeq..lastSeq as they are now (one ECDSA signature, ≈ 1 s
   * of CPU, charged; asking again for the same run before anything is appended reuses it).
   */
  checkpoint(firstSeq: number, lastSeq: number): GlpQueryAnswer<Uint8Array> {
    if (!isU32(firstSeq) || !isU32(lastSeq) || firstSeq < this.firstSeq || firstSeq > lastSeq || lastSeq > this.last) {
      return queryFail('invalid-operand', `checkpoint ${String(firstSeq)}..${String(lastSeq)}: the log holds ${this.firstSeq}..${this.last}`);
    }
    const c = this.cached;
    if (c !== undefined && c.first === firstSeq && c.last === lastSeq && c.newest === this.last) return { ok: true, value: c.bytes };
    const anchorHash = firstSeq === 1 ? this.genesis : this.hashOf(firstSeq - 1);
    const headHash = this.hashOf(lastSeq);
    if (anchorHash === undefined || headHash === undefined) return queryFail('procedure-not-completed', `a record of ${firstSeq - 1}..${lastSeq} is unreadable`);
    const nowUs = this.opts.clock.nowUs();
    const signedAtS = Math.min(U32, Math.max(0, Math.floor(nowUs / US_PER_S)));
    const bytes = signGlpCheckpoint(
      { serial: this.opts.identity.serial, firstSeq, lastSeq, newestSeq: this.last, signedAtS, anchorHash, headHash },
      this.privateKey,
      this.opts.cost === undefined ? {} : { cost: this.opts.cost },
    );
    this.cached = { first: firstSeq, last: lastSeq, newest: this.last, bytes };
    return { ok: true, value: bytes };
  }

  /** Report Stored Records for a downstream system: the records, the checkpoint covering exactly them and the certificate. */
  query(q: GlpQuery): GlpQueryAnswer<GlpExport> {
    const r = this.select(q);
    if (!r.ok) return r;
    if (r.value === undefined) return queryFail('no-records-found');
    const records = this.read(r.value.first, r.value.last);
    if (!records.ok) return records;
    const checkpoint = this.checkpoint(r.value.first, r.value.last);
    if (!checkpoint.ok) return checkpoint;
    return { ok: true, value: { certificate: this.opts.identity.certificate.slice(), checkpoint: checkpoint.value, records: records.value } };
  }

  // ─── inside ──────────────────────────────────────────────────────────────────────────────────

  private slotKey(seq: number): number {
    return STORE_KEYS.phGlpSlotBase + ((seq - 1) % this.slots);
  }

  private hashOf(seq: number): Uint8Array | undefined {
    const r = this.record(seq);
    return r?.slice(GLP_BODY_BYTES);
  }

  /** The run a query selects, clipped to what the log holds; undefined when it selects nothing. */
  private select(q: GlpQuery): GlpQueryAnswer<{ first: number; last: number } | undefined> {
    const lo = this.firstSeq;
    const hi = this.last;
    let first: number;
    let last: number;
    switch (q.operator) {
      case 'all':
        [first, last] = [lo, hi];
        break;
      case 'gte':
        if (!isU32(q.minSeq)) return queryFail('invalid-operand', `min ${String(q.minSeq)}`);
        [first, last] = [Math.max(lo, q.minSeq), hi];
        break;
      case 'lte':
        if (!isU32(q.maxSeq)) return queryFail('invalid-operand', `max ${String(q.maxSeq)}`);
        [first, last] = [lo, Math.min(hi, q.maxSeq)];
        break;
      case 'range':
        if (!isU32(q.minSeq) || !isU32(q.maxSeq) || q.minSeq > q.maxSeq) return queryFail('invalid-operand', `range ${String(q.minSeq)}..${String(q.maxSeq)}`);
        [first, last] = [Math.max(lo, q.minSeq), Math.min(hi, q.maxSeq)];
        break;
      case 'last':
        if (!isU32(q.count) || q.count < 1) return queryFail('invalid-operand', `last ${String(q.count)}`);
        [first, last] = [Math.max(lo, hi - q.count + 1), hi];
        break;
      default:
        return queryFail('operator-not-supported', `operator ${String((q as { operator: unknown }).operator)}`);
    }
    return { ok: true, value: hi === 0 || first > last ? undefined : { first, last } };
  }

  private read(first: number, last: number): GlpQueryAnswer<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let seq = first; seq <= last; seq++) {
      const r = this.record(seq);
      if (r === undefined) return queryFail('procedure-not-completed', `record ${seq} is unreadable`);
      out.push(r);
    }
    return { ok: true, value: out };
  }

  private storeFailed(r: { ok: false; code: RecordStoreErrorCode; detail?: string }): { ok: false; code: GlpLogErrorCode; detail?: string } {
    // The store re-read flash after a failed write: follow it rather than guess.
    this.resync();
    return fail(r.code, r.detail);
  }

  /** Rebuild the RAM view from the store: the state record, then the newest record in the slots. */
  private resync(): GlpResult<void> {
    const { store } = this.opts;
    this.cached = undefined;
    const state = store.get(STORE_KEYS.phGlpState);
    this.stateWritten = state !== undefined;
    this.acked = 0;
    if (state !== undefined) {
      if (state.length !== STATE_BYTES || state[0] !== STATE_VERSION || state[1] !== 0) return fail('corrupt', 'the GLP state record is not version 1');
      const v = new DataView(state.buffer, state.byteOffset, state.byteLength);
      const capacity = v.getUint16(2, true);
      if (capacity !== this.capacity) {
        throw new MedtwinError('glp.config', `the GLP log on flash has capacity ${capacity}, opened with ${this.capacity}: its slots would map differently`);
      }
      this.acked = v.getUint32(4, true);
    }
    // Every slot holds either nothing, or the record whose seq maps to it (a put is atomic, so a cut
    // leaves the old or the new one): the newest is the head. Anything else in a slot is ignored.
    let last = 0;
    let head = this.genesis;
    for (let slot = 0; slot < this.slots; slot++) {
      const bytes = store.get(STORE_KEYS.phGlpSlotBase + slot);
      if (bytes === undefined) continue;
      const d = decodeGlpRecord(bytes);
      if (!d.ok || (d.value.seq - 1) % this.slots !== slot || d.value.serial !== this.opts.identity.serial) continue;
      if (d.value.seq > last) {
        last = d.value.seq;
        head = d.value.hash;
      }
    }
    this.last = last;
    this.head = head;
    return { ok: true, value: undefined };
  }
}
