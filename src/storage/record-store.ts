// The one journaled record store on any Flash: keyed records and sequence-numbered logs in a
// log-structured region that survives a power cut at any program/erase. Not a file system or a cache.
//
// ─── On-flash format (version 1; every word is a little-endian u32) ──────────────────────────
//
// The store owns sectors [firstSector, firstSector + sectorCount). Each is erased (all 0xFF),
// "used" (valid header below) or dirty (anything else: a torn header, a retired sector, foreign
// data); dirty sectors are erased before they are used again.
//
// Sector header, 16 bytes at the start of a used sector:
//   +0  magic      0x3152544D ("MTR1" in byte order: format version 1)
//   +4  generation u32; the newest sector has the highest; a new one gets newest + 1
//   +8  headerCrc  CRC-32 of bytes +0..+7
//   +12 retired    0xFFFFFFFF while in use; 0x00000000 once its live records are copied out
// Order: magic and generation go in one program, headerCrc in a second, so a sector counts only
// once its header is complete (a cut in between leaves a CRC mismatch: dirty). `retired` is
// programmed just before the erase, so a sector whose erase was interrupted half-way (real
// silicon can leave stale but CRC-valid records behind) can never resurrect dropped data.
// 2^32 generations outlast the flash: 100k cycles × 256 sectors ≈ 2.6e7 sector openings.
//
// Record, packed after the sector header (never spanning sectors), 4-byte aligned:
//   +0  w0        type u8 (0x56 'V' value, 0x44 'D' tombstone, 0x4C 'L' log entry)
//                 | reserved u8 = 0x00 | length u16 (data bytes)
//   +4  id        key (V, D) or log id (L)
//   +8  seq       global sequence number: which version of a key is newest
//   +12 logSeq    per-log sequence number (L); 0 for V and D
//   +16 data      `length` bytes, then 0xFF padding (left unprogrammed) to a multiple of 4
//   +16+pad4(length)  commit   CRC-32 over the 16 header bytes then the `length` data bytes
// Order: w0 comes first because it tells a scanner the record's footprint, and a programmed w0
// is never 0xFFFFFFFF (type ≠ 0xFF), so "w0 erased" marks the end of the records in a sector.
// The header, the data and the commit are three separate program operations, in that order:
// the commit is programmed last, so a record counts only once everything before it landed
// (a cut anywhere earlier leaves a CRC mismatch). A CRC that happens to equal 0xFFFFFFFF
// validates before its commit is programmed, which is harmless: header and data are complete.
// No program unit is programmed twice, so the format also fits flash with per-unit ECC.
//
// Recovery (open): read every sector; used ones are scanned oldest generation first and each
// stops at its first invalid record: nothing is ever written after a torn record, because the
// newest sector takes further records only if everything after its last valid record is still
// erased. The newest record of a key is the one with the highest seq (ties: the later copy).
// The next seq is the highest found + 1; a number freed by a dropped tombstone may come back,
// which is safe because every record still on flash has a lower one.
//
// CRC-32 is the IEEE 802.3 / zlib one (reflected polynomial 0xEDB88320, initial value and final
// XOR 0xFFFFFFFF; check value 0xCBF43926 for "123456789"), from node:zlib (Node ≥ 20.15).
//
// Garbage collection keeps one erased spare: when the newest sector is full and the spare is
// the only free sector, the spare is opened, the live records of the oldest sector are copied
// into it (keeping their seq and logSeq), the oldest is retired and erased and becomes the
// spare. No user record is written until the erase is done, so finding no free sector on open
// means a GC was cut short: the newest sector holds only copies and is erased again. Sectors
// are taken in circular order, so erase counts stay within one of each other.
//
// What GC copies: the newest version of each key (tombstones are dropped: for each key, seq
// order is physical order, so older versions are all in the sector being erased); every entry
// of an ordinary log; the newest `keep` entries of a ring log (a bare ring id: keep 1), so the
// oldest entries go first and the newest keeps its log's sequence numbers going across reboots.
//
// ─── Ring logs ───────────────────────────────────────────────────────────────────────────────
// Which records GC copies is all a ring's retention changes: the on-flash format is the same.
// A copied entry keeps its seq and logSeq but lands after newer entries, so once GC has dropped
// some entries of a ring, older ones may still sit in sectors GC has not reached yet. What a ring
// holds is therefore defined from flash alone, the same in RAM and after any reboot: its entries
// are the contiguous run of logSeqs ending at its newest (the run's bottom is the ring's "floor").
// An entry below a gap is garbage: readLog never returns it and GC never copies it. So readLog
// returns a ring's entries in order with no gap, and the entries lost are always the oldest.
// GC copies an entry of ring L iff logSeq ≥ keepFrom(L) = max(floor(L), newest(L) − keep(L) + 1);
// entries beyond `keep` stay readable until GC reaches their sector.
//
// When ring entries yield (the store cannot afford every ring's retention besides the rest): a
// write's GC rounds keep every ring's retention if they can make room that way and none of them
// copies more than 3 bytes of ring entries (other than each ring's newest) per byte it frees;
// without that bound a store filling up with ring entries would copy nearly whole sectors to win
// a record's room. Otherwise the rings yield: the fewest GC rounds that make room with each ring
// keeping only its newest entry are run, and the sectors they collect keep only that (as with a
// bare ring id). The entries lost are the oldest in the store's circular order, and the run rule
// makes the loss a prefix of each ring: any older entry still elsewhere becomes garbage. A ring
// then holds what the store has room for, within about a sector, and a yielding round frees its
// sector's ring entries at once, so it is never spent to win a single record's room.
// Keyed values, ordinary logs and each ring's newest entry never yield: if the write does not
// fit even so, it is 'full', decided before anything is written. A cut anywhere in such a round
// leaves the ring as before (the copies erased at boot) or as after (the oldest erased).

import { crc32 } from 'node:zlib';
import type { Flash } from '../../hal/flash.ts';
import { MedtwinError } from '../errors.ts';

export type RecordStoreErrorCode = 'full' | 'too-large' | 'invalid-key' | 'flash';
export type StoreFailure = { ok: false; code: RecordStoreErrorCode; detail?: string };
export type StoreResult<T = void> = { ok: true; value: T } | StoreFailure;

/** A ring log that keeps its newest `keep` entries through GC (see "Ring logs" above). */
export interface RingLogOption {
  readonly id: number;
  /** Entries GC copies forward, newest first; at least 1 (the newest always survives). */
  readonly keep: number;
}

export interface RecordStoreOptions {
  firstSector: number;
  /** At least 2 (one in use, one spare); 3 or more lets a value of maxValueBytes be updated. */
  sectorCount: number;
  /**
   * Logs whose oldest entries are dropped when space is needed: a bare id keeps only its newest
   * entry through GC, `{ id, keep }` its newest `keep` (see "Ring logs" above).
   */
  ringLogs?: readonly (number | RingLogOption)[];
}

export interface LogEntry {
  readonly seq: number;
  readonly value: Uint8Array;
}

export const SECTOR_MAGIC = 0x3152544d;
export const SECTOR_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 16;
export const COMMIT_BYTES = 4;
export const RECORD_VALUE = 0x56;
export const RECORD_TOMBSTONE = 0x44;
export const RECORD_LOG = 0x4c;

const ERASED_WORD = 0xffffffff;
const RETIRED_WORD = 0x00000000;
const MAX_U32 = 0xffffffff;
const MAX_LENGTH_FIELD = 0xffff;
const SECTOR_RETIRED_OFFSET = 12;
/**
 * At most this many bytes of older ring entries copied per byte a GC round frees, or the rings
 * yield (see "When ring entries yield"): keeping a retention costs a bounded share of the flash work.
 */
const MAX_RING_COPY_PER_FREED_BYTE = 3;

const pad4 = (n: number): number => (n + 3) & ~3;
/** Bytes a record with `length` data bytes takes in a sector. */
export const recordFootprintBytes = (length: number): number => RECORD_HEADER_BYTES + pad4(length) + COMMIT_BYTES;
const MIN_RECORD_BYTES = recordFootprintBytes(0);

const ok = <T>(value: T): StoreResult<T> => ({ ok: true, value });
const okVoid: StoreResult = { ok: true, value: undefined };
const fail = (code: RecordStoreErrorCode, detail?: string): StoreFailure =>
  detail === undefined ? { ok: false, code } : { ok: false, code, detail };

function leWords(...words: number[]): Uint8Array {
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0, true));
  return bytes;
}

const u32At = (b: Uint8Array, offset: number): number =>
  (b[offset]! | (b[offset + 1]! << 8) | (b[offset + 2]! << 16) | (b[offset + 3]! << 24)) >>> 0;

function allErased(b: Uint8Array, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0xff) return false;
  return true;
}

const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= MAX_U32;

interface Rec {
  /** Byte offset inside its sector. */
  readonly offset: number;
  readonly type: number;
  readonly id: number;
  readonly seq: number;
  readonly logSeq: number;
  readonly length: number;
}

interface Sector {
  /** 0-based inside the store's region. */
  readonly index: number;
  state: 'erased' | 'dirty' | 'used';
  gen: number;
  recs: Rec[];
  /** Next record goes here; sectorBytes once the sector is sealed. */
  writeOffset: number;
}

interface Ref {
  readonly sector: Sector;
  readonly rec: Rec;
}

/** Everything the store knows in RAM, rebuilt from flash by recovery. */
interface State {
  readonly sectors: Sector[];
  /** Used sectors, oldest generation first; the last one is the head. */
  readonly used: Sector[];
  /** Newest record (value or tombstone) of each key. */
  readonly latest: Map<number, Ref>;
  /** Per log: logSeq → the record that holds it (the later copy if there are two). */
  readonly logs: Map<number, Map<number, Ref>>;
  readonly nextLogSeq: Map<number, number>;
  /** Per ring log with entries: the lowest logSeq of the contiguous run ending at its newest. */
  readonly ringFloor: Map<number, number>;
  nextSeq: number;
}

/** Per ring log: the lowest logSeq a GC round copies forward (see "Ring logs" in the header). */
type KeepFrom = ReadonlyMap<number, number>;

interface GcPlan {
  readonly rounds: number;
  readonly keepFrom: KeepFrom;
}

export class RecordStore {
  private readonly sectorBytes: number;
  /** Ring log id → how many of its newest entries GC keeps. */
  private readonly ringKeep: ReadonlyMap<number, number>;
  private state: State;
  /** Set when recovery itself failed: the RAM view may be stale, so writes are refused. */
  private broken = false;
  private yielded = 0;

  private constructor(
    private readonly flash: Flash,
    private readonly firstSector: number,
    private readonly sectorCount: number,
    ringKeep: ReadonlyMap<number, number>,
  ) {
    this.sectorBytes = flash.geometry.sectorBytes;
    this.ringKeep = ringKeep;
    this.state = emptyState(sectorCount, this.sectorBytes);
  }

  /**
   * Recover the store from flash. Configuration mistakes throw; a flash failure during
   * recovery is 'flash'. May erase the newest sector to finish an interrupted GC.
   */
  static open(flash: Flash, opts: RecordStoreOptions): StoreResult<RecordStore> {
    const { sizeBytes, sectorBytes, programUnitBytes } = flash.geometry;
    const { firstSector, sectorCount } = opts;
    const ringLogs = opts.ringLogs ?? [];
    if (![1, 2, 4].includes(programUnitBytes)) {
      // Every field is a 4-byte word programmed on its own; a wider unit would need padding.
      throw new MedtwinError('storage.config', `record store needs a program unit dividing 4 bytes, flash has ${programUnitBytes}`);
    }
    if (sectorBytes % 4 !== 0 || sectorBytes < SECTOR_HEADER_BYTES + 2 * MIN_RECORD_BYTES) {
      throw new MedtwinError('storage.config', `record store cannot use ${sectorBytes}-byte sectors`);
    }
    if (!Number.isInteger(firstSector) || !Number.isInteger(sectorCount) || firstSector < 0 || sectorCount < 2) {
      throw new MedtwinError('storage.config', `record store needs firstSector ≥ 0 and sectorCount ≥ 2, got ${firstSector}, ${sectorCount}`);
    }
    if ((firstSector + sectorCount) * sectorBytes > sizeBytes) {
      throw new MedtwinError('storage.config', `sectors ${firstSector}..${firstSector + sectorCount - 1} do not fit in ${sizeBytes} bytes of flash`);
    }
    const ringKeep = new Map<number, number>();
    for (const ring of ringLogs) {
      const { id, keep } = typeof ring === 'number' ? { id: ring, keep: 1 } : ring;
      if (!isU32(id)) throw new MedtwinError('storage.config', `ring log id ${id} is not a u32`);
      if (!Number.isInteger(keep) || keep < 1 || keep > MAX_U32) throw new MedtwinError('storage.config', `ring log ${id}: keep ${keep} is not an integer ≥ 1`);
      if (ringKeep.has(id)) throw new MedtwinError('storage.config', `ring log ${id} is listed twice`);
      ringKeep.set(id, keep);
    }
    const store = new RecordStore(flash, firstSector, sectorCount, ringKeep);
    const r = store.recover();
    return r.ok ? ok(store) : r;
  }

  /** The largest value put() or append() accepts: one sector minus the headers. */
  get maxValueBytes(): number {
    return Math.min(MAX_LENGTH_FIELD, this.sectorBytes - SECTOR_HEADER_BYTES - RECORD_HEADER_BYTES - COMMIT_BYTES);
  }

  // ─── keyed records ───────────────────────────────────────────────────────────────────────

  /** Store `value` under `key`, replacing any previous value atomically. */
  put(key: number, value: Uint8Array): StoreResult {
    const bad = this.checkWrite(key, value.length);
    if (bad) return bad;
    const r = this.write(RECORD_VALUE, key, 0, value);
    return r.ok ? okVoid : r;
  }

  get(key: number): Uint8Array | undefined {
    const ref = this.state.latest.get(key);
    if (ref === undefined || ref.rec.type !== RECORD_VALUE) return undefined;
    return this.readData(ref);
  }

  /**
   * Remove `key` by writing a tombstone; removing an absent key writes nothing. Like any
   * write it can be 'full' when every byte is live (the tombstone needs 20 bytes).
   */
  delete(key: number): StoreResult {
    const bad = this.checkWrite(key, 0);
    if (bad) return bad;
    const ref = this.state.latest.get(key);
    if (ref === undefined || ref.rec.type !== RECORD_VALUE) return okVoid;
    const r = this.write(RECORD_TOMBSTONE, key, 0, new Uint8Array(0));
    return r.ok ? okVoid : r;
  }

  /** Keys that hold a value, ascending. */
  keys(): number[] {
    const out: number[] = [];
    for (const [key, ref] of this.state.latest) if (ref.rec.type === RECORD_VALUE) out.push(key);
    return out.sort((a, b) => a - b);
  }

  // ─── logs ────────────────────────────────────────────────────────────────────────────────

  /** Append to log `logId`; the value is the entry's per-log sequence number (1, 2, 3, …). */
  append(logId: number, value: Uint8Array): StoreResult<number> {
    const bad = this.checkWrite(logId, value.length);
    if (bad) return bad;
    const logSeq = this.state.nextLogSeq.get(logId) ?? 1;
    if (logSeq > MAX_U32) throw new MedtwinError('storage.exhausted', `log ${logId} ran out of sequence numbers`);
    const r = this.write(RECORD_LOG, logId, logSeq, value);
    return r.ok ? ok(logSeq) : r;
  }

  /**
   * Entries of log `logId` with seq ≥ fromSeq, oldest first. A ring log's are the contiguous run
   * ending at its newest entry: no gaps (see "Ring logs" in the header).
   */
  readLog(logId: number, opts: { fromSeq?: number } = {}): LogEntry[] {
    const fromSeq = Math.max(opts.fromSeq ?? 0, this.state.ringFloor.get(logId) ?? 0);
    const entries = this.state.logs.get(logId);
    if (entries === undefined) return [];
    const seqs = [...entries.keys()].filter((s) => s >= fromSeq).sort((a, b) => a - b);
    return seqs.map((seq) => ({ seq, value: this.readData(entries.get(seq)!) }));
  }

  /**
   * Ring entries GC dropped since open although they were within their log's `keep`: the store
   * is too small for the rings' retention (see "When ring entries yield" in the header).
   */
  get ringEntriesYielded(): number {
    return this.yielded;
  }

  // ─── writing ─────────────────────────────────────────────────────────────────────────────

  private checkWrite(id: number, length: number): StoreFailure | undefined {
    if (!isU32(id)) return fail('invalid-key', `id ${id} is not a u32`);
    if (length > this.maxValueBytes) return fail('too-large', `${length} bytes > ${this.maxValueBytes}`);
    if (this.broken) return fail('flash', 'recovery after a flash failure did not complete');
    return undefined;
  }

  private write(type: number, id: number, logSeq: number, data: Uint8Array): StoreResult {
    const room = this.makeRoom(recordFootprintBytes(data.length));
    if (!room.ok) return room;
    const st = this.state;
    if (st.nextSeq > MAX_U32) throw new MedtwinError('storage.exhausted', 'record store ran out of sequence numbers');
    const head = st.used[st.used.length - 1]!;
    const rec = this.programRecord(head, type, id, st.nextSeq, logSeq, data);
    if (!rec.ok) return rec;
    st.nextSeq += 1;
    indexRecord(st, head, rec.value);
    // The first entry of a ring starts its run; later ones extend it (logSeq is newest + 1).
    if (type === RECORD_LOG && this.ringKeep.has(id) && !st.ringFloor.has(id)) st.ringFloor.set(id, logSeq);
    return okVoid;
  }

  /** Room in the head for `footprintBytes`, opening or collecting sectors as needed. */
  private makeRoom(footprintBytes: number): StoreResult {
    const plan = this.planGc(footprintBytes);
    if (plan === 'full') return fail('full', `no room for a ${footprintBytes}-byte record`);
    const st = this.state;
    for (let done = 0; ; ) {
      if (this.headRoomBytes() >= footprintBytes) return okVoid;
      const free = this.freeCount();
      if (free >= 2) {
        const r = this.openSector(this.nextFree());
        if (!r.ok) return r;
        continue;
      }
      if (done === plan.rounds) {
        throw new MedtwinError('storage.internal', `GC plan said ${plan.rounds} rounds, still no room (${st.used.length} sectors used)`);
      }
      const r = this.collectOldest(plan.keepFrom);
      if (!r.ok) return r;
      done += 1;
    }
  }

  private headRoomBytes(): number {
    const head = this.state.used[this.state.used.length - 1];
    return head === undefined ? 0 : this.sectorBytes - head.writeOffset;
  }

  private freeCount(): number {
    return this.sectorCount - this.state.used.length;
  }

  /** The first free sector after the head, in circular order (wear spreads round-robin). */
  private nextFree(): Sector {
    const st = this.state;
    const head = st.used[st.used.length - 1];
    const start = head === undefined ? 0 : head.index + 1;
    for (let i = 0; i < this.sectorCount; i++) {
      const s = st.sectors[(start + i) % this.sectorCount]!;
      if (s.state !== 'used') return s;
    }
    throw new MedtwinError('storage.internal', 'no free sector although one is always kept');
  }

  /**
   * The GC rounds the write of `footprintBytes` needs and what they copy, or 'full'. Every ring
   * keeps its retention if that can work; otherwise the oldest ring entries yield (the rule in
   * the header). Plans are dry runs on sizes only, so 'full' costs no flash operation.
   */
  private planGc(footprintBytes: number): GcPlan | 'full' {
    const keepFrom = this.keepFromSeqs();
    const rounds = this.planGcRounds(footprintBytes, keepFrom, true);
    if (rounds !== 'full') return { rounds, keepFrom };
    // The rings yield: the sectors collected keep only each ring's newest entry.
    const st = this.state;
    const newestOnly = new Map<number, number>();
    let yields = false;
    for (const [id, from] of keepFrom) {
      const newest = st.nextLogSeq.get(id)! - 1;
      newestOnly.set(id, newest);
      if (from < newest) yields = true;
    }
    if (!yields) return 'full';
    const yieldRounds = this.planGcRounds(footprintBytes, newestOnly);
    return yieldRounds === 'full' ? 'full' : { rounds: yieldRounds, keepFrom: newestOnly };
  }

  /** Each ring log's keepFrom while every ring keeps its retention. */
  private keepFromSeqs(): Map<number, number> {
    const st = this.state;
    const out = new Map<number, number>();
    for (const [id, keep] of this.ringKeep) {
      const floor = st.ringFloor.get(id);
      if (floor === undefined) continue;
      out.set(id, Math.max(floor, st.nextLogSeq.get(id)! - keep));
    }
    return out;
  }

  /**
   * How many GC rounds make room for `footprintBytes` when GC copies what `keepFrom` says, or
   * 'full'. A dry run of makeRoom's loop on sizes only. One cycle over the sectors in use
   * compacts everything; more rounds cannot help. `bounded`: also 'full' if a round would copy
   * more older ring entries than MAX_RING_COPY_PER_FREED_BYTE allows for what it frees.
   */
  private planGcRounds(footprintBytes: number, keepFrom: KeepFrom, bounded = false): number | 'full' {
    const st = this.state;
    const capacityBytes = this.sectorBytes - SECTOR_HEADER_BYTES;
    /** What GC would copy out of each sector, oldest first: counted only when a round needs it. */
    const keptQueue: (Sector | number)[] = [...st.used];
    let roomBytes = this.headRoomBytes();
    let free = this.freeCount();
    for (let rounds = 0; ; ) {
      if (roomBytes >= footprintBytes) return rounds;
      if (free >= 2) {
        free -= 1;
        roomBytes = capacityBytes;
        keptQueue.push(0);
        continue;
      }
      if (rounds === st.used.length) return 'full';
      const next = keptQueue.shift()!;
      const kept = typeof next === 'number' ? { bytes: next, olderRingBytes: 0 } : this.keptBytes(next, keepFrom);
      if (bounded && kept.olderRingBytes > MAX_RING_COPY_PER_FREED_BYTE * (capacityBytes - kept.bytes)) return 'full';
      roomBytes = capacityBytes - kept.bytes;
      keptQueue.push(kept.bytes);
      rounds += 1;
    }
  }

  /** Bytes GC would copy out of `s`, and how many of them are ring entries other than a ring's newest. */
  private keptBytes(s: Sector, keepFrom: KeepFrom): { bytes: number; olderRingBytes: number } {
    let bytes = 0;
    let olderRingBytes = 0;
    for (const rec of s.recs) {
      if (!this.survivesGc(s, rec, keepFrom)) continue;
      const n = recordFootprintBytes(rec.length);
      bytes += n;
      if (rec.type === RECORD_LOG && this.ringKeep.has(rec.id) && rec.logSeq !== this.state.nextLogSeq.get(rec.id)! - 1) olderRingBytes += n;
    }
    return { bytes, olderRingBytes };
  }

  private survivesGc(s: Sector, rec: Rec, keepFrom: KeepFrom): boolean {
    const st = this.state;
    if (rec.type === RECORD_VALUE) {
      const ref = st.latest.get(rec.id);
      return ref !== undefined && ref.rec === rec && ref.sector === s;
    }
    if (rec.type === RECORD_LOG) {
      const ref = st.logs.get(rec.id)?.get(rec.logSeq);
      if (ref === undefined || ref.rec !== rec || ref.sector !== s) return false;
      return !this.ringKeep.has(rec.id) || rec.logSeq >= keepFrom.get(rec.id)!;
    }
    return false; // tombstones: every older version of the key is in this sector too
  }

  /** One GC round: open the spare, copy the oldest sector's live records into it, erase the oldest. */
  private collectOldest(keepFrom: KeepFrom): StoreResult {
    const st = this.state;
    const oldest = st.used[0]!;
    const spare = this.nextFree();
    const survivors = oldest.recs.filter((rec) => this.survivesGc(oldest, rec, keepFrom));
    const retained = this.keepFromSeqs();
    const dropped = oldest.recs.filter((rec) => !survivors.includes(rec));
    const opened = this.openSector(spare);
    if (!opened.ok) return opened;
    for (const rec of survivors) {
      const data = this.flash.read(this.sectorAddress(oldest) + rec.offset + RECORD_HEADER_BYTES, rec.length);
      if (!data.ok) return this.failed(data);
      const copy = this.programRecord(spare, rec.type, rec.id, rec.seq, rec.logSeq, data.value);
      if (!copy.ok) return copy;
      indexRecord(st, spare, copy.value);
    }
    const retired = this.flash.program(this.sectorAddress(oldest) + SECTOR_RETIRED_OFFSET, leWords(RETIRED_WORD));
    if (!retired.ok) return this.failed(retired);
    const erased = this.flash.eraseSector(this.firstSector + oldest.index);
    if (!erased.ok) return this.failed(erased);
    for (const rec of dropped) {
      if (!unindexRecord(st, oldest, rec) || rec.type !== RECORD_LOG) continue;
      const floor = st.ringFloor.get(rec.id);
      // A ring entry of the run gone: the run now starts above it (older ones are garbage).
      if (floor === undefined || rec.logSeq < floor) continue;
      if (rec.logSeq >= retained.get(rec.id)!) this.yielded += 1;
      st.ringFloor.set(rec.id, rec.logSeq + 1);
    }
    st.used.shift();
    oldest.state = 'erased';
    oldest.recs = [];
    oldest.writeOffset = SECTOR_HEADER_BYTES;
    return okVoid;
  }

  /** Erase a dirty sector if need be and write a header that makes it the newest. */
  private openSector(s: Sector): StoreResult {
    const st = this.state;
    if (s.state === 'dirty') {
      const erased = this.flash.eraseSector(this.firstSector + s.index);
      if (!erased.ok) return this.failed(erased);
      s.state = 'erased';
    }
    const newest = st.used[st.used.length - 1];
    const gen = newest === undefined ? 1 : newest.gen + 1;
    if (gen > MAX_U32) throw new MedtwinError('storage.exhausted', 'record store ran out of sector generations');
    const address = this.sectorAddress(s);
    const idWords = leWords(SECTOR_MAGIC, gen);
    const first = this.flash.program(address, idWords);
    if (!first.ok) return this.failed(first);
    const second = this.flash.program(address + 8, leWords(crc32(idWords)));
    if (!second.ok) return this.failed(second);
    s.state = 'used';
    s.gen = gen;
    s.recs = [];
    s.writeOffset = SECTOR_HEADER_BYTES;
    st.used.push(s);
    return okVoid;
  }

  /** Header, data, commit: three programs, commit last (see the format above). */
  private programRecord(s: Sector, type: number, id: number, seq: number, logSeq: number, data: Uint8Array): StoreResult<Rec> {
    const offset = s.writeOffset;
    const address = this.sectorAddress(s) + offset;
    const header = leWords(type | (data.length << 16), id, seq, logSeq);
    const commit = leWords(crc32(data, crc32(header)));
    const wroteHeader = this.flash.program(address, header);
    if (!wroteHeader.ok) return this.failed(wroteHeader);
    const paddedBytes = pad4(data.length);
    if (paddedBytes > 0) {
      const padded = new Uint8Array(paddedBytes).fill(0xff);
      padded.set(data);
      const wroteData = this.flash.program(address + RECORD_HEADER_BYTES, padded);
      if (!wroteData.ok) return this.failed(wroteData);
    }
    const wroteCommit = this.flash.program(address + RECORD_HEADER_BYTES + paddedBytes, commit);
    if (!wroteCommit.ok) return this.failed(wroteCommit);
    const rec: Rec = { offset, type, id, seq, logSeq, length: data.length };
    s.recs.push(rec);
    s.writeOffset += recordFootprintBytes(data.length);
    return ok(rec);
  }

  /**
   * A flash operation failed mid-way: the RAM view no longer matches flash, so rebuild it the
   * way a reboot would (recovery copes with any torn state) and report 'flash'.
   */
  private failed(r: { ok: false; code: string; detail?: string }): { ok: false; code: 'flash'; detail: string } {
    const detail = `flash ${r.code}${r.detail === undefined ? '' : `: ${r.detail}`}`;
    this.recover();
    return { ok: false, code: 'flash', detail };
  }

  // ─── reading and recovery ────────────────────────────────────────────────────────────────

  private sectorAddress(s: Sector): number {
    return (this.firstSector + s.index) * this.sectorBytes;
  }

  private readData(ref: Ref): Uint8Array {
    const r = this.flash.read(this.sectorAddress(ref.sector) + ref.rec.offset + RECORD_HEADER_BYTES, ref.rec.length);
    // Recovery already read this record and checked its CRC; failing now is not expected.
    if (!r.ok) throw new MedtwinError('storage.read', `flash read failed: ${r.code}`);
    return r.value;
  }

  /** Rebuild the RAM view from flash (see "Recovery" in the header). */
  private recover(): StoreResult {
    const st = emptyState(this.sectorCount, this.sectorBytes);
    const contents: Uint8Array[] = [];
    for (const s of st.sectors) {
      const r = this.flash.read(this.sectorAddress(s), this.sectorBytes);
      if (!r.ok) return this.recoveryFailed(r);
      contents[s.index] = r.value;
      s.state = classify(r.value);
      if (s.state === 'used') s.gen = u32At(r.value, 4);
    }
    const byGen = st.sectors.filter((s) => s.state === 'used').sort((a, b) => a.gen - b.gen || a.index - b.index);
    const newest = byGen[byGen.length - 1];
    if (byGen.length === this.sectorCount && newest !== undefined) {
      // No free sector: a GC was cut before it erased the oldest. The newest holds only
      // copies of records still in the oldest, so erasing it loses nothing.
      const erased = this.flash.eraseSector(this.firstSector + newest.index);
      if (!erased.ok) return this.recoveryFailed(erased);
      newest.state = 'erased';
      byGen.pop();
    }
    for (const s of byGen) {
      scanRecords(s, contents[s.index]!, this.sectorBytes);
      st.used.push(s);
      for (const rec of s.recs) indexRecord(st, s, rec);
    }
    // Only the head takes new records; older sectors are sealed whatever their tail holds.
    for (const s of st.used.slice(0, -1)) s.writeOffset = this.sectorBytes;
    for (const id of this.ringKeep.keys()) {
      const entries = st.logs.get(id);
      if (entries === undefined || entries.size === 0) continue;
      let floor = st.nextLogSeq.get(id)! - 1;
      while (entries.has(floor - 1)) floor -= 1;
      st.ringFloor.set(id, floor);
    }
    this.state = st;
    this.broken = false;
    return okVoid;
  }

  private recoveryFailed(r: { ok: false; code: string; detail?: string }): StoreFailure {
    this.broken = true;
    return fail('flash', `recovery: flash ${r.code}${r.detail === undefined ? '' : `: ${r.detail}`}`);
  }
}

function emptyState(sectorCount: number, sectorBytes: number): State {
  const sectors: Sector[] = [];
  for (let index = 0; index < sectorCount; index++) {
    sectors.push({ index, state: 'erased', gen: 0, recs: [], writeOffset: sectorBytes });
  }
  return { sectors, used: [], latest: new Map(), logs: new Map(), nextLogSeq: new Map(), ringFloor: new Map(), nextSeq: 1 };
}

function classify(bytes: Uint8Array): Sector['state'] {
  const magic = u32At(bytes, 0);
  if (magic === ERASED_WORD) return allErased(bytes, 0) ? 'erased' : 'dirty';
  const valid =
    magic === SECTOR_MAGIC &&
    u32At(bytes, 8) === crc32(bytes.subarray(0, 8)) &&
    u32At(bytes, SECTOR_RETIRED_OFFSET) === ERASED_WORD;
  return valid ? 'used' : 'dirty';
}

/** Parse the valid prefix of a used sector's records and decide whether its tail is writable. */
function scanRecords(s: Sector, bytes: Uint8Array, sectorBytes: number): void {
  const recs: Rec[] = [];
  let offset = SECTOR_HEADER_BYTES;
  while (offset + MIN_RECORD_BYTES <= sectorBytes) {
    const w0 = u32At(bytes, offset);
    if (w0 === ERASED_WORD) break;
    const type = w0 & 0xff;
    const length = w0 >>> 16;
    const known = type === RECORD_VALUE || type === RECORD_TOMBSTONE || type === RECORD_LOG;
    if (!known || ((w0 >>> 8) & 0xff) !== 0) break;
    const footprintBytes = recordFootprintBytes(length);
    if (offset + footprintBytes > sectorBytes) break;
    const end = offset + RECORD_HEADER_BYTES + length;
    if (u32At(bytes, offset + RECORD_HEADER_BYTES + pad4(length)) !== crc32(bytes.subarray(offset, end))) break;
    recs.push({ offset, type, id: u32At(bytes, offset + 4), seq: u32At(bytes, offset + 8), logSeq: u32At(bytes, offset + 12), length });
    offset += footprintBytes;
  }
  s.recs = recs;
  // A torn record (or anything else) after the valid prefix seals the sector: its words may be
  // half-programmed, and programming over them could not be trusted.
  s.writeOffset = allErased(bytes, offset) ? offset : sectorBytes;
}

function indexRecord(st: State, sector: Sector, rec: Rec): void {
  if (rec.type === RECORD_LOG) {
    let entries = st.logs.get(rec.id);
    if (entries === undefined) st.logs.set(rec.id, (entries = new Map()));
    entries.set(rec.logSeq, { sector, rec });
    if (rec.logSeq >= (st.nextLogSeq.get(rec.id) ?? 1)) st.nextLogSeq.set(rec.id, rec.logSeq + 1);
  } else {
    const cur = st.latest.get(rec.id);
    if (cur === undefined || rec.seq >= cur.rec.seq) st.latest.set(rec.id, { sector, rec });
  }
  if (rec.seq >= st.nextSeq) st.nextSeq = rec.seq + 1;
}

/** Forget a record GC did not copy, if the index still points at it; true if it did. */
function unindexRecord(st: State, sector: Sector, rec: Rec): boolean {
  if (rec.type === RECORD_LOG) {
    const entries = st.logs.get(rec.id);
    const ref = entries?.get(rec.logSeq);
    if (entries === undefined || ref?.rec !== rec || ref.sector !== sector) return false;
    entries.delete(rec.logSeq);
    return true;
  }
  const ref = st.latest.get(rec.id);
  if (ref?.rec !== rec || ref.sector !== sector) return false;
  st.latest.delete(rec.id);
  return true;
}
