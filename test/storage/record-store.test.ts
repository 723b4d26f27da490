// Tests for the journaled record store: keyed records, logs, GC, wear, limits, recovery from torn
// states, and a power cut at every flash operation boundary. Not flash-HAL tests (test/hal/kw31z).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Flash } from '../../hal/flash.ts';
import { Kw31zFlash, PowerCutError } from '../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../hal/kw31z/ledger.ts';
import { fail, type HalResult } from '../../hal/result.ts';
import {
  RECORD_HEADER_BYTES,
  RECORD_VALUE,
  RecordStore,
  SECTOR_HEADER_BYTES,
  SECTOR_MAGIC,
  recordFootprintBytes,
  type RecordStoreOptions,
  type RingLogOption,
} from '../../src/storage/record-store.ts';
import { MedtwinError } from '../../src/errors.ts';

const SECTOR_BYTES = 2048;
const FLASH_BYTES = 16 * SECTOR_BYTES;
/** Not sector 0, so an address that forgets firstSector shows up. */
const FIRST = 3;

function newFlash(opts: { imagePath?: string } = {}) {
  const ledger = new Kw31zLedger('dev', () => 0);
  return { flash: new Kw31zFlash({ device: 'dev', ledger, sizeBytes: FLASH_BYTES, ...opts }), ledger };
}

function open(flash: Flash, opts: Partial<RecordStoreOptions> = {}): RecordStore {
  const r = RecordStore.open(flash, { firstSector: FIRST, sectorCount: 4, ...opts });
  if (!r.ok) throw new Error(`open failed: ${r.code} ${r.detail ?? ''}`);
  return r.value;
}

/** Deterministic bytes: a value is recognisable by (tag, length). */
function val(tag: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (tag * 31 + i * 7 + (i >> 8)) & 0xff;
  return b;
}

const OK = { ok: true, value: undefined };

function imageOf(flash: Flash): Uint8Array {
  const r = flash.read(0, flash.geometry.sizeBytes);
  if (!r.ok) throw new Error('read');
  return r.value;
}

describe('RecordStore keyed records', () => {
  it('puts, gets, updates, deletes and lists keys', () => {
    const { flash } = newFlash();
    const store = open(flash);
    expect(store.get(1)).toBeUndefined();
    expect(store.put(1, val(1, 10))).toEqual(OK);
    expect(store.put(2, val(2, 0))).toEqual(OK);
    expect(store.put(0xffff_ffff, val(3, 5))).toEqual(OK);
    expect(store.get(1)).toEqual(val(1, 10));
    expect(store.get(2)).toEqual(new Uint8Array(0));
    expect(store.put(1, val(4, 33))).toEqual(OK);
    expect(store.get(1)).toEqual(val(4, 33));
    expect(store.keys()).toEqual([1, 2, 0xffff_ffff]);
    expect(store.delete(2)).toEqual(OK);
    expect(store.get(2)).toBeUndefined();
    expect(store.keys()).toEqual([1, 0xffff_ffff]);
  });

  it('writes nothing to delete an absent key', () => {
    const { flash } = newFlash();
    const store = open(flash);
    store.put(1, val(1, 4));
    store.delete(1);
    const ops = flash.opsCount;
    expect(store.delete(1)).toEqual(OK);
    expect(store.delete(99)).toEqual(OK);
    expect(flash.opsCount).toBe(ops);
  });

  it('returns a copy: changing a value returned by get() changes nothing stored', () => {
    const store = open(newFlash().flash);
    store.put(5, val(5, 8));
    store.get(5)![0] = 0;
    expect(store.get(5)).toEqual(val(5, 8));
  });

  it('refuses ids that are not u32 with invalid-key and writes nothing', () => {
    const { flash } = newFlash();
    const store = open(flash);
    for (const id of [-1, 1.5, 2 ** 32, Number.NaN]) {
      expect(store.put(id, val(0, 1))).toMatchObject({ ok: false, code: 'invalid-key' });
      expect(store.delete(id)).toMatchObject({ ok: false, code: 'invalid-key' });
      expect(store.append(id, val(0, 1))).toMatchObject({ ok: false, code: 'invalid-key' });
    }
    expect(flash.opsCount).toBe(0);
  });

  it('accepts a value of one sector minus the headers and refuses one byte more with too-large', () => {
    const { flash } = newFlash();
    const store = open(flash, { sectorCount: 3 });
    expect(store.maxValueBytes).toBe(SECTOR_BYTES - SECTOR_HEADER_BYTES - RECORD_HEADER_BYTES - 4);
    expect(store.put(1, val(1, store.maxValueBytes + 1))).toMatchObject({ ok: false, code: 'too-large' });
    expect(store.append(1, val(1, store.maxValueBytes + 1))).toMatchObject({ ok: false, code: 'too-large' });
    expect(flash.opsCount).toBe(0);
    // With three sectors a full-size value can be replaced: old and new coexist until GC.
    for (let i = 0; i < 5; i++) {
      expect(store.put(1, val(i, store.maxValueBytes))).toEqual(OK);
      expect(open(flash, { sectorCount: 3 }).get(1)).toEqual(val(i, store.maxValueBytes));
    }
  });

  it('reads charge nothing; writes are charged by the flash target', () => {
    const { flash, ledger } = newFlash();
    const store = open(flash);
    const flashMeters = () => ({ ...ledger.summary().activities.find((a) => a.activity === 'flash')!.meters });
    expect(flashMeters().flashProgramOps).toBe(0);
    store.put(1, val(1, 8));
    // Sector header: magic+generation (2 longwords) then its CRC (1); the record: header (4),
    // data (2), commit (1).
    expect(flashMeters()).toMatchObject({ flashProgramOps: 2 + 1 + 4 + 2 + 1, flashEraseOps: 0, cpuCycles: 10 * 3_120 });
    const before = flashMeters();
    store.get(1);
    store.keys();
    store.readLog(1);
    open(flash).get(1);
    expect(flashMeters()).toEqual(before);
  });
});

describe('RecordStore persistence', () => {
  it('reopens after a clean stop with every key and log entry', () => {
    const { flash } = newFlash();
    const store = open(flash);
    store.put(1, val(1, 20));
    store.put(2, val(2, 30));
    store.put(1, val(3, 40));
    store.delete(2);
    expect(store.append(7, val(4, 5))).toEqual({ ok: true, value: 1 });
    expect(store.append(7, val(5, 6))).toEqual({ ok: true, value: 2 });

    const again = open(flash);
    expect(again.keys()).toEqual([1]);
    expect(again.get(1)).toEqual(val(3, 40));
    expect(again.readLog(7)).toEqual([
      { seq: 1, value: val(4, 5) },
      { seq: 2, value: val(5, 6) },
    ]);
    // Log sequence numbers continue where they stopped.
    expect(again.append(7, val(6, 1))).toEqual({ ok: true, value: 3 });
  });

  it('survives a process restart through the file-backed flash image', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medtwin-store-'));
    try {
      const path = join(dir, 'flash.bin');
      const first = newFlash({ imagePath: path }).flash;
      const store = open(first);
      for (let i = 0; i < 40; i++) store.put(i % 5, val(i, 100));
      store.append(9, val(99, 12));
      first.close();

      const second = newFlash({ imagePath: path }).flash;
      const again = open(second);
      expect(again.keys()).toEqual([0, 1, 2, 3, 4]);
      for (let k = 0; k < 5; k++) expect(again.get(k)).toEqual(val(35 + k, 100));
      expect(again.readLog(9)).toEqual([{ seq: 1, value: val(99, 12) }]);
      second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stays inside its sectors', () => {
    const { flash } = newFlash();
    const store = open(flash, { sectorCount: 4 });
    for (let i = 0; i < 200; i++) store.put(i % 7, val(i, 150));
    const image = imageOf(flash);
    const counts = flash.eraseCounts();
    for (let s = 0; s < 16; s++) {
      if (s >= FIRST && s < FIRST + 4) continue;
      expect(counts[s]).toBe(0);
      expect(image.subarray(s * SECTOR_BYTES, (s + 1) * SECTOR_BYTES).every((b) => b === 0xff)).toBe(true);
    }
  });
});

describe('RecordStore logs', () => {
  it('numbers entries per log and reads them oldest first, from a given seq', () => {
    const store = open(newFlash().flash);
    expect(store.append(1, val(1, 3))).toEqual({ ok: true, value: 1 });
    expect(store.append(2, val(2, 3))).toEqual({ ok: true, value: 1 });
    expect(store.append(1, val(3, 3))).toEqual({ ok: true, value: 2 });
    expect(store.append(1, val(4, 0))).toEqual({ ok: true, value: 3 });
    expect(store.readLog(1).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(store.readLog(1, { fromSeq: 2 })).toEqual([
      { seq: 2, value: val(3, 3) },
      { seq: 3, value: new Uint8Array(0) },
    ]);
    expect(store.readLog(2)).toEqual([{ seq: 1, value: val(2, 3) }]);
    expect(store.readLog(3)).toEqual([]);
    // Logs and keys are separate name spaces.
    expect(store.get(1)).toBeUndefined();
  });

  it('keeps every entry of an ordinary log through GC, and says full when it cannot', () => {
    const { flash } = newFlash();
    const store = open(flash);
    store.put(1, val(1, 50));
    let appended = 0;
    for (;;) {
      const opsBefore = flash.opsCount;
      const imageBefore = imageOf(flash);
      const r = store.append(4, val(appended, 200));
      if (!r.ok) {
        expect(r.code).toBe('full');
        // 'full' is decided before anything is written.
        expect(flash.opsCount).toBe(opsBefore);
        expect(imageOf(flash)).toEqual(imageBefore);
        break;
      }
      appended += 1;
      expect(r.value).toBe(appended);
    }
    // Three of the four sectors hold data (one spare). A 200-byte entry takes 16 + 200 + 4 =
    // 220 bytes, so 9 fit in the 2032 bytes after a sector header; the first sector also holds
    // key 1 (16 + 52 + 4 = 72 bytes), leaving room for 8 there.
    expect(appended).toBe(8 + 9 + 9);
    expect(store.put(2, val(2, 200))).toMatchObject({ ok: false, code: 'full' });
    const again = open(flash);
    expect(again.readLog(4).map((e) => e.seq)).toEqual(Array.from({ length: appended }, (_, i) => i + 1));
    for (const e of again.readLog(4)) expect(e.value).toEqual(val(e.seq - 1, 200));
    expect(again.get(1)).toEqual(val(1, 50));
    // A small record still fits where the 220-byte one did not (52 bytes left in the head).
    expect(again.put(3, val(3, 4))).toEqual(OK);
  });

  it('drops the oldest entries of a ring log when space is needed, never the keyed records', () => {
    const { flash } = newFlash();
    const store = open(flash, { ringLogs: [6] });
    store.put(1, val(1, 300));
    store.append(8, val(8, 100)); // an ordinary log next to the ring
    for (let i = 1; i <= 200; i++) {
      expect(store.append(6, val(i, 120))).toEqual({ ok: true, value: i });
    }
    const check = (s: RecordStore) => {
      const ring = s.readLog(6);
      const seqs = ring.map((e) => e.seq);
      // Newest kept, a contiguous run ending at it, values intact, older ones gone.
      expect(seqs[seqs.length - 1]).toBe(200);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 201 - seqs.length + i));
      expect(seqs.length).toBeGreaterThan(20);
      expect(seqs.length).toBeLessThan(100);
      for (const e of ring) expect(e.value).toEqual(val(e.seq, 120));
      expect(s.get(1)).toEqual(val(1, 300));
      expect(s.readLog(8)).toEqual([{ seq: 1, value: val(8, 100) }]);
    };
    check(store);
    const again = open(flash, { ringLogs: [6] });
    check(again);
    expect(again.append(6, val(201, 120))).toEqual({ ok: true, value: 201 });
  });

  it('keeps a ring log numbering across reboots even when only its newest entry is left', () => {
    const { flash } = newFlash();
    const store = open(flash, { ringLogs: [6], sectorCount: 2 });
    store.append(6, val(1, 10));
    // Fill with keyed updates so GC runs many times over the ring entry.
    for (let i = 0; i < 100; i++) store.put(1, val(i, 300));
    expect(store.readLog(6)).toEqual([{ seq: 1, value: val(1, 10) }]);
    expect(open(flash, { ringLogs: [6], sectorCount: 2 }).append(6, val(2, 10))).toEqual({ ok: true, value: 2 });
  });
});

describe('RecordStore ring logs with a retention (keep)', () => {
  /** The seqs of a ring must be a contiguous run ending at `newest`. */
  const expectRun = (seqs: number[], newest: number) => {
    expect(seqs[seqs.length - 1]).toBe(newest);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => newest - seqs.length + 1 + i));
  };

  it('refuses a retention that is not an integer ≥ 1, and a ring listed twice', () => {
    const { flash } = newFlash();
    for (const ringLogs of [[{ id: 6, keep: 0 }], [{ id: 6, keep: 1.5 }], [{ id: 6, keep: -1 }], [6, { id: 6, keep: 3 }], [{ id: -1, keep: 3 }]]) {
      let thrown: unknown;
      try {
        RecordStore.open(flash, { firstSector: FIRST, sectorCount: 4, ringLogs });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(MedtwinError);
      expect((thrown as MedtwinError).code).toBe('storage.config');
    }
    expect(flash.opsCount).toBe(0);
  });

  it('keeps the newest `keep` entries through many GC cycles, in order and without gaps, across reboots', () => {
    // 8 sectors; 40 ring entries of 120 bytes (4.8 KB) fit beside 1.5 KB of churning keys.
    const run = (ring: number | RingLogOption) => {
      const { flash } = newFlash();
      const opts = { sectorCount: 8, ringLogs: [ring] };
      let store = open(flash, opts);
      store.put(1, val(1, 300));
      store.append(8, val(8, 100));
      let fewest = Number.POSITIVE_INFINITY;
      for (let i = 1; i <= 600; i++) {
        expect(store.append(6, val(i, 100))).toEqual({ ok: true, value: i });
        if (i % 3 === 0) expect(store.put(2 + (i % 4), val(i, 200 + (i % 7) * 40))).toEqual(OK);
        const seqs = store.readLog(6).map((e) => e.seq);
        expectRun(seqs, i);
        fewest = Math.min(fewest, i >= 60 ? seqs.length : Number.POSITIVE_INFINITY);
        if (i % 97 === 0) {
          const before = store.readLog(6);
          store = open(flash, opts);
          // RAM and flash agree on what the ring holds: the run is defined by flash alone.
          expect(store.readLog(6)).toEqual(before);
        }
      }
      for (const e of store.readLog(6)) expect(e.value).toEqual(val(e.seq, 100));
      expect(store.get(1)).toEqual(val(1, 300));
      expect(store.readLog(8)).toEqual([{ seq: 1, value: val(8, 100) }]);
      expect(store.ringEntriesYielded).toBe(0);
      const erases = flash.eraseCounts().slice(FIRST, FIRST + 8).reduce((a, b) => a + b);
      return { fewest, erases };
    };
    const kept = run({ id: 6, keep: 60 });
    // The store went round its 8 sectors many times, and the ring never held fewer than 40.
    expect(kept.erases).toBeGreaterThan(8 * 5);
    expect(kept.fewest).toBeGreaterThanOrEqual(60);
    // The same load with a bare ring id keeps only what GC has not reached: fewer than 60 at times.
    expect(run(6).fewest).toBeLessThan(60);
  });

  it('drops entries beyond `keep` and reads from a given seq within the run', () => {
    const { flash } = newFlash();
    const opts = { sectorCount: 4, ringLogs: [{ id: 6, keep: 10 }] };
    const store = open(flash, opts);
    for (let i = 1; i <= 200; i++) store.append(6, val(i, 100));
    const seqs = store.readLog(6).map((e) => e.seq);
    expectRun(seqs, 200);
    // A 120-byte entry: 16 to a sector. Entries beyond 10 linger only until GC reaches their
    // sector, so at most the head, the sector before it and the 10 copied are there.
    expect(seqs.length).toBeGreaterThanOrEqual(10);
    expect(seqs.length).toBeLessThanOrEqual(10 + 2 * 16);
    expect(store.readLog(6, { fromSeq: 195 }).map((e) => e.seq)).toEqual([195, 196, 197, 198, 199, 200]);
    expect(store.readLog(6, { fromSeq: 1 })).toEqual(store.readLog(6));
    expect(open(flash, opts).readLog(6)).toEqual(store.readLog(6));
  });

  it('yields the oldest ring entries when the retention does not fit, never keys or ordinary logs, at a bounded cost', () => {
    // 4 sectors (3 × 2,032 bytes in use): a retention of 1,000 × 120 bytes cannot fit.
    const load = (ring: number | RingLogOption) => {
      const { flash } = newFlash();
      const opts = { sectorCount: 4, ringLogs: [ring] };
      const store = open(flash, opts);
      expect(store.put(1, val(1, 1000))).toEqual(OK);
      /** Per append after the first 100: ring entries held, and the room left for them. */
      const held: { length: number; roomEntries: number }[] = [];
      for (let i = 1; i <= 600; i++) {
        expect(store.append(6, val(i, 100))).toEqual({ ok: true, value: i });
        if (i % 20 === 0) expect(store.append(8, val(i, 40))).toEqual({ ok: true, value: i / 20 });
        const seqs = store.readLog(6).map((e) => e.seq);
        expectRun(seqs, i);
        // 3 sectors in use at most (one spare) minus key 1 (1,020 bytes) and the ordinary log
        // (60 bytes an entry), in 120-byte ring entries.
        if (i > 100) held.push({ length: seqs.length, roomEntries: (3 * 2032 - 1020 - 60 * Math.floor(i / 20)) / 120 });
      }
      return { flash, store, opts, held };
    };
    const { flash, store, opts, held } = load({ id: 6, keep: 1_000 });
    expect(store.ringEntriesYielded).toBeGreaterThan(0);
    expect(store.get(1)).toEqual(val(1, 1000));
    expect(store.readLog(8).map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    // The ring holds what the store has room for, within a sector's worth (16 ring entries).
    for (const h of held) {
      expect(h.length).toBeLessThanOrEqual(Math.floor(h.roomEntries));
      expect(h.length).toBeGreaterThanOrEqual(Math.floor(h.roomEntries - 2032 / 120));
    }
    // The flash work stays that of a bare ring's store within a tenth (measured: 3,033 operations
    // against 3,030): no near-empty GC rounds, no copying of entries about to yield.
    const bare = load(6);
    expect(flash.opsCount).toBeLessThanOrEqual(1.1 * bare.flash.opsCount);
    // Keyed values (bonds, the lockout state) still land: ring entries make room for them.
    const erasesBefore = flash.eraseCounts().reduce((a, b) => a + b);
    const ringBefore = store.readLog(6).length;
    expect(store.put(2, val(2, 1000))).toEqual(OK);
    expect(store.put(3, val(3, 1000))).toEqual(OK);
    expect(flash.eraseCounts().reduce((a, b) => a + b)).toBeGreaterThan(erasesBefore);
    expect(store.readLog(6).length).toBeLessThan(ringBefore);
    expectRun(store.readLog(6).map((e) => e.seq), 600);
    const again = open(flash, opts);
    expect(again.get(2)).toEqual(val(2, 1000));
    expect(again.get(3)).toEqual(val(3, 1000));
    expect(again.get(1)).toEqual(val(1, 1000));
    expectRun(again.readLog(6).map((e) => e.seq), 600);
    expect(again.readLog(6)).toEqual(store.readLog(6));
    expect(again.append(6, val(601, 100))).toEqual({ ok: true, value: 601 });
  });

  it('gives up every ring entry but the newest before saying full, and then writes nothing', () => {
    const { flash } = newFlash();
    const opts = { sectorCount: 4, ringLogs: [{ id: 6, keep: 1_000 }] };
    const store = open(flash, opts);
    for (let i = 1; i <= 30; i++) store.append(6, val(i, 100));
    let appended = 0;
    for (;;) {
      const opsBefore = flash.opsCount;
      const r = store.append(4, val(appended, 200));
      if (!r.ok) {
        expect(r.code).toBe('full');
        expect(flash.opsCount).toBe(opsBefore);
        break;
      }
      appended += 1;
    }
    // The ordinary log took the ring's room: 9 of its 220-byte entries to a sector, 3 sectors,
    // less the ring's newest (120 bytes) in one of them: 26, as a store without the ring holds.
    expect(appended).toBe(9 + 9 + 8);
    expect(store.readLog(6).map((e) => e.seq)).toEqual([30]);
    const again = open(flash, opts);
    expect(again.readLog(4).length).toBe(appended);
    expect(again.readLog(6)).toEqual([{ seq: 30, value: val(30, 100) }]);
  });

  it('yields oldest first across rings: two rings sharing a store keep runs of similar age', () => {
    const { flash } = newFlash();
    const opts = { sectorCount: 4, ringLogs: [{ id: 6, keep: 1_000 }, { id: 7, keep: 1_000 }] };
    const store = open(flash, opts);
    for (let i = 1; i <= 300; i++) {
      store.append(6, val(i, 100));
      store.append(7, val(i, 100));
    }
    const a = store.readLog(6).map((e) => e.seq);
    const b = store.readLog(7).map((e) => e.seq);
    expectRun(a, 300);
    expectRun(b, 300);
    // Appended in turns, so the same age is the same logSeq: their oldest kept differ by at most a
    // sector's worth of entries (16 of 120 bytes).
    expect(Math.abs(a[0]! - b[0]!)).toBeLessThanOrEqual(16);
    expect(a.length).toBeGreaterThan(10);
  });
});

describe('RecordStore GC and wear', () => {
  it('keeps every live record through many GC cycles over many sectors', () => {
    const { flash } = newFlash();
    const opts = { sectorCount: 8 };
    let store = open(flash, opts);
    const model = new Map<number, Uint8Array>();
    for (let i = 0; i < 1500; i++) {
      const key = (i * 7) % 23;
      if (i % 11 === 5) {
        expect(store.delete(key)).toEqual(OK);
        model.delete(key);
      } else {
        const v = val(i, (i * 37) % 180);
        expect(store.put(key, v)).toEqual(OK);
        model.set(key, v);
      }
      if (i % 250 === 0) store = open(flash, opts);
    }
    for (const s of [store, open(flash, opts)]) {
      expect(s.keys()).toEqual([...model.keys()].sort((a, b) => a - b));
      for (const [k, v] of model) expect(s.get(k)).toEqual(v);
    }
    const counts = flash.eraseCounts().slice(FIRST, FIRST + 8);
    expect(Math.min(...counts)).toBeGreaterThan(5);
  });

  it('collects a second sector when the oldest one is all live', () => {
    const { flash } = newFlash();
    const opts = { sectorCount: 3 };
    const store = open(flash, opts);
    expect(store.put(1, val(1, 1800))).toEqual(OK); // sector 0: 1,820 of 2,032 bytes
    for (let i = 0; i < 17; i++) expect(store.put(2, val(i, 100))).toEqual(OK); // 120 bytes each: 1 in sector 0, 16 in sector 1
    expect(flash.eraseCounts().slice(FIRST, FIRST + 3)).toEqual([0, 0, 0]);
    // 1,020 bytes: GC of sector 0 only moves key 1 (room left 212); GC of sector 1 frees it.
    expect(store.put(3, val(3, 1000))).toEqual(OK);
    expect(flash.eraseCounts().slice(FIRST, FIRST + 3)).toEqual([1, 1, 0]);
    for (const s of [store, open(flash, opts)]) {
      expect(s.get(1)).toEqual(val(1, 1800));
      expect(s.get(2)).toEqual(val(16, 100));
      expect(s.get(3)).toEqual(val(3, 1000));
    }
  });

  it('spreads erases evenly: after many updates of one key, counts differ by at most 1', () => {
    const { flash } = newFlash();
    const store = open(flash, { sectorCount: 8 });
    for (let i = 0; i < 3000; i++) expect(store.put(42, val(i, 100))).toEqual(OK);
    const counts = flash.eraseCounts().slice(FIRST, FIRST + 8);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(store.get(42)).toEqual(val(2999, 100));
  });
});

describe('RecordStore recovery from torn states', () => {
  const sectorAddress = (relative: number) => (FIRST + relative) * SECTOR_BYTES;
  const le = (...words: number[]) => {
    const b = new Uint8Array(words.length * 4);
    const v = new DataView(b.buffer);
    words.forEach((w, i) => v.setUint32(i * 4, w, true));
    return b;
  };

  it('treats a half-initialised sector header as garbage, erases it before use', () => {
    const { flash } = newFlash();
    // Magic and generation programmed, the header CRC not: a cut while opening sector 0.
    flash.program(sectorAddress(0), le(SECTOR_MAGIC, 1));
    const store = open(flash);
    expect(store.keys()).toEqual([]);
    expect(flash.eraseCounts()[FIRST]).toBe(0); // recovery itself did not need to erase
    expect(store.put(1, val(1, 10))).toEqual(OK);
    expect(flash.eraseCounts()[FIRST]).toBe(1); // erased when taken into use
    expect(open(flash).get(1)).toEqual(val(1, 10));
  });

  it('ignores a record whose header landed but not its data or commit, and does not write after it', () => {
    const { flash } = newFlash();
    const store = open(flash);
    store.put(1, val(1, 10));
    const headOffset = SECTOR_HEADER_BYTES + recordFootprintBytes(10);
    // A torn put of key 1: header only (length 100), no data, no commit.
    flash.program(sectorAddress(0) + headOffset, le(RECORD_VALUE | (100 << 16), 1, 2, 0));
    const again = open(flash);
    expect(again.get(1)).toEqual(val(1, 10));
    expect(again.put(2, val(2, 10))).toEqual(OK);
    // The rest of sector 0 was not trusted: the new record went to a fresh sector.
    const image = imageOf(flash);
    expect(image.subarray(sectorAddress(1), sectorAddress(1) + 4)).toEqual(le(SECTOR_MAGIC));
    const third = open(flash);
    expect(third.get(1)).toEqual(val(1, 10));
    expect(third.get(2)).toEqual(val(2, 10));
  });

  it('ignores a retired sector whose erase never happened', () => {
    const { flash } = newFlash();
    const store = open(flash);
    store.put(1, val(1, 10));
    flash.program(sectorAddress(0) + 12, le(0));
    expect(open(flash).keys()).toEqual([]);
  });

  it('treats foreign bytes in its sectors as garbage', () => {
    const { flash } = newFlash();
    flash.program(sectorAddress(2) + 100, le(0x12345678, 0));
    const store = open(flash);
    for (let i = 0; i < 60; i++) expect(store.put(i % 3, val(i, 150))).toEqual(OK);
    expect(open(flash).get(2)).toEqual(val(59, 150));
  });
});

/** A flash that fails the n-th program with a code, as a worn or locked-out part would. */
class FailingFlash implements Flash {
  failAt = -1;
  private programs = 0;
  constructor(private readonly inner: Flash) {}
  get geometry() {
    return this.inner.geometry;
  }
  read(address: number, length: number): HalResult<Uint8Array> {
    return this.inner.read(address, length);
  }
  program(address: number, data: Uint8Array): HalResult {
    if (this.programs++ === this.failAt) return fail('fail', 'injected');
    return this.inner.program(address, data);
  }
  eraseSector(sector: number): HalResult {
    return this.inner.eraseSector(sector);
  }
}

/** Programs one longword per operation, as the FTFA does, so a cut can tear any multi-word write. */
class LongwordFlash implements Flash {
  constructor(private readonly inner: Flash) {}
  get geometry() {
    return this.inner.geometry;
  }
  read(address: number, length: number): HalResult<Uint8Array> {
    return this.inner.read(address, length);
  }
  program(address: number, data: Uint8Array): HalResult {
    for (let i = 0; i < data.length; i += 4) {
      const r = this.inner.program(address + i, data.subarray(i, i + 4));
      if (!r.ok) return r;
    }
    return { ok: true, value: undefined };
  }
  eraseSector(sector: number): HalResult {
    return this.inner.eraseSector(sector);
  }
}

describe('RecordStore flash failures', () => {
  it('reports a failed program as flash, keeps the old value, and goes on working', () => {
    const { flash: inner } = newFlash();
    const flash = new FailingFlash(inner);
    const store = open(flash);
    store.put(1, val(1, 10));
    flash.failAt = 5; // the data program of the next put
    expect(store.put(1, val(2, 10))).toMatchObject({ ok: false, code: 'flash' });
    expect(store.get(1)).toEqual(val(1, 10));
    expect(store.put(1, val(3, 10))).toEqual(OK);
    expect(open(flash).get(1)).toEqual(val(3, 10));
  });

  it('lets a power cut through as PowerCutError', () => {
    const { flash } = newFlash();
    const store = open(flash);
    flash.armPowerCut(1);
    expect(() => store.put(1, val(1, 10))).toThrow(PowerCutError);
  });
});

// ─── power cut at every boundary ─────────────────────────────────────────────────────────────

type Op =
  | { kind: 'put'; key: number; value: Uint8Array }
  | { kind: 'delete'; key: number }
  | { kind: 'append'; log: number; value: Uint8Array };

const RING = 2;
const PLAIN = 1;

interface Model {
  keys: Map<number, Uint8Array>;
  logs: Map<number, { seq: number; value: Uint8Array }[]>;
}

const cloneModel = (m: Model): Model => ({
  keys: new Map(m.keys),
  logs: new Map([...m.logs].map(([id, entries]) => [id, [...entries]])),
});

function nextSeq(m: Model, log: number): number {
  const entries = m.logs.get(log) ?? [];
  return entries.length === 0 ? 1 : entries[entries.length - 1]!.seq + 1;
}

/** Apply `op` to the store; on success apply it to a copy of the model and return that. */
function step(store: RecordStore, model: Model, op: Op): Model {
  const next = cloneModel(model);
  if (op.kind === 'put') {
    const r = store.put(op.key, op.value);
    if (r.ok) next.keys.set(op.key, op.value);
    else expect(r.code).toBe('full');
  } else if (op.kind === 'delete') {
    const r = store.delete(op.key);
    if (r.ok) next.keys.delete(op.key);
    else expect(r.code).toBe('full');
  } else {
    const r = store.append(op.log, op.value);
    if (r.ok) {
      expect(r.value).toBe(nextSeq(model, op.log));
      next.logs.set(op.log, [...(next.logs.get(op.log) ?? []), { seq: r.value, value: op.value }]);
    } else expect(r.code).toBe('full');
  }
  return next;
}

/** What the store holds, in the model's shape; ring entries as found. */
function observe(store: RecordStore): Model {
  const keys = new Map(store.keys().map((k) => [k, store.get(k)!]));
  const logs = new Map<number, { seq: number; value: Uint8Array }[]>();
  for (const id of [PLAIN, RING]) {
    const entries = store.readLog(id);
    if (entries.length > 0) logs.set(id, entries);
  }
  return { keys, logs };
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a !== undefined && b !== undefined && Buffer.compare(a, b) === 0;

/**
 * Does the store hold exactly the model? Keys and ordinary logs must match exactly; a ring
 * log may have lost its oldest entries but keeps a contiguous run ending at the newest, of at
 * least `ringKeep` entries (or all the model has, if fewer).
 */
function matches(seen: Model, model: Model, ringKeep = 1): boolean {
  if (seen.keys.size !== model.keys.size) return false;
  for (const [k, v] of model.keys) if (!sameBytes(seen.keys.get(k), v)) return false;
  const same = (a: { seq: number; value: Uint8Array }[], b: { seq: number; value: Uint8Array }[]) =>
    a.length === b.length && a.every((e, i) => e.seq === b[i]!.seq && sameBytes(e.value, b[i]!.value));
  if (!same(seen.logs.get(PLAIN) ?? [], model.logs.get(PLAIN) ?? [])) return false;
  const ring = seen.logs.get(RING) ?? [];
  const modelRing = model.logs.get(RING) ?? [];
  if (ring.length < Math.min(ringKeep, modelRing.length)) return false;
  return same(ring, modelRing.slice(modelRing.length - ring.length));
}

const describeModel = (m: Model) =>
  JSON.stringify({
    keys: [...m.keys].map(([k, v]) => [k, v.length, v[0]]),
    logs: [...m.logs].map(([id, e]) => [id, e.map((x) => x.seq)]),
  });

/** The sweeps' store: the ring log RING as a bare id (keep the newest) or with a retention. */
const storeOpts = (sectorCount: number, ring: number | RingLogOption = RING): RecordStoreOptions => ({ firstSector: FIRST, sectorCount, ringLogs: [ring] });

interface CutOutcome {
  /** Index of the operation the cut interrupted; ops.length if none. */
  cutOp: number;
  store: RecordStore;
  flash: Kw31zFlash;
}

/** Run `ops` with a cut armed after `k` flash operations (none if undefined), then reboot. */
function runWithCut(
  ops: readonly Op[],
  k: number | undefined,
  wrap: (f: Flash) => Flash,
  sectorCount: number,
  ring: number | RingLogOption = RING,
): CutOutcome & { opsTotal: number; yielded: number } {
  const { flash } = newFlash();
  const target = wrap(flash);
  const store = open(target, storeOpts(sectorCount, ring));
  if (k !== undefined) flash.armPowerCut(k);
  let cutOp = ops.length;
  let model: Model = { keys: new Map(), logs: new Map() };
  for (let i = 0; i < ops.length; i++) {
    try {
      model = step(store, model, ops[i]!);
    } catch (e) {
      if (!(e instanceof PowerCutError)) throw e;
      cutOp = i;
      break;
    }
  }
  const opsTotal = flash.opsCount;
  flash.restorePower();
  return { cutOp, store: open(target, storeOpts(sectorCount, ring)), flash, opsTotal, yielded: store.ringEntriesYielded };
}

/** Models before and after each op of an uncut run: models[i] is the state before ops[i]. */
function modelsOf(ops: readonly Op[], wrap: (f: Flash) => Flash, sectorCount: number, ring: number | RingLogOption = RING): { models: Model[]; opsTotal: number } {
  const { flash } = newFlash();
  const store = open(wrap(flash), storeOpts(sectorCount, ring));
  const models: Model[] = [{ keys: new Map(), logs: new Map() }];
  for (const op of ops) models.push(step(store, models[models.length - 1]!, op));
  return { models, opsTotal: flash.opsCount };
}

/** A script of puts, updates, deletes and appends to an ordinary and a ring log. */
function script(count: number, maxPutBytes: number): Op[] {
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const key = i % 5;
    if (i % 9 === 8) ops.push({ kind: 'delete', key: (i * 3) % 5 });
    else if (i % 7 === 3) ops.push({ kind: 'append', log: PLAIN, value: val(i, 8 + (i % 5)) });
    else if (i % 4 === 1) ops.push({ kind: 'append', log: RING, value: val(i, maxPutBytes / 4) });
    else ops.push({ kind: 'put', key, value: val(i, maxPutBytes / 2 + ((i * 53) % (maxPutBytes / 2))) });
  }
  return ops;
}

describe('RecordStore power cut at every flash operation', () => {
  it.each([
    // Each HAL call is one cut point: 4 sectors, the script wraps them several times.
    { name: 'each HAL program/erase call', wrap: (f: Flash) => f, sectorCount: 4, ops: script(150, 400), minErases: 12, ring: RING, yields: false },
    // Each longword is a cut point (FTFA programs longword by longword), so multi-word programs
    // tear; a shorter script over 3 sectors keeps the runs × cut points product small.
    { name: 'each longword (torn multi-word programs)', wrap: (f: Flash) => new LongwordFlash(f), sectorCount: 3, ops: script(100, 160), minErases: 4, ring: RING, yields: false },
    // A ring with a retention that fits: GC copies several ring entries per round, and the ring
    // must keep all 6 newest whatever the cut.
    { name: 'each HAL call, ring keeping 6', wrap: (f: Flash) => f, sectorCount: 4, ops: script(150, 400), minErases: 12, ring: { id: RING, keep: 6 }, yields: false },
    { name: 'each longword, ring keeping 6', wrap: (f: Flash) => new LongwordFlash(f), sectorCount: 3, ops: script(100, 160), minErases: 4, ring: { id: RING, keep: 6 }, yields: false },
    // A retention the store cannot hold: ring entries yield to the keys and the ordinary log.
    { name: 'each HAL call, ring keeping more than fits', wrap: (f: Flash) => f, sectorCount: 4, ops: script(150, 400), minErases: 12, ring: { id: RING, keep: 1_000 }, yields: true },
  ])('loses nothing acknowledged and never mixes versions: cut at $name', ({ wrap, sectorCount, ops, minErases, ring, yields }) => {
    const { models, opsTotal } = modelsOf(ops, wrap, sectorCount, ring);
    // The script must exercise GC, more than once round the sectors.
    const uncut = runWithCut(ops, undefined, wrap, sectorCount, ring);
    const erases = uncut.flash.eraseCounts().slice(FIRST, FIRST + sectorCount);
    expect(Math.min(...erases)).toBeGreaterThanOrEqual(1);
    expect(erases.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(minErases);
    expect(uncut.opsTotal).toBe(opsTotal);
    // The ring log lost entries to GC, so its looser check is exercised too.
    expect(uncut.store.readLog(RING)[0]!.seq).toBeGreaterThan(1);
    // Whether the retention had to yield is part of the case: without yields the ring keeps it all.
    const keep = typeof ring === 'number' ? 1 : ring.keep;
    if (yields) expect(uncut.yielded).toBeGreaterThan(0);
    else expect(uncut.yielded).toBe(0);
    const ringKeep = yields ? 1 : keep;
    if (!yields) expect(uncut.store.readLog(RING).length).toBeGreaterThanOrEqual(keep);

    for (let k = 0; k <= opsTotal; k++) {
      const { cutOp, store, flash } = runWithCut(ops, k, wrap, sectorCount, ring);
      if (k === opsTotal) expect(cutOp).toBe(ops.length);
      else expect(cutOp).toBeLessThan(ops.length);
      const before = models[cutOp]!;
      const after = models[Math.min(cutOp + 1, ops.length)]!;
      const seen = observe(store);
      if (!matches(seen, before, ringKeep) && !matches(seen, after, ringKeep)) {
        throw new Error(
          `cut after ${k} flash ops, during op ${cutOp} (${ops[cutOp]?.kind}): ` +
            `store ${describeModel(seen)}, expected ${describeModel(before)} or ${describeModel(after)}`,
        );
      }
      // The recovered store keeps working: a new key lands and nothing else changes; a ring
      // append continues the numbering from the newest entry, which the cut never loses.
      expect(store.put(100, val(k, 64))).toEqual(OK);
      const again = observe(open(wrap(flash), storeOpts(sectorCount, ring)));
      expect(again.keys.get(100)).toEqual(val(k, 64));
      again.keys.delete(100);
      expect(matches(again, seen, ringKeep)).toBe(true);
    }
  });

  it('holds for random operation sequences and random cut points (seeded property)', () => {
    // Three sectors: small enough that most sequences run GC, fill an ordinary log or hit 'full'.
    const PROPERTY_SECTORS = 3;
    // Values are (tag, length) pairs turned into bytes by val(): counterexamples stay readable
    // and shrink fast.
    const bytesArb = (maxLength: number) =>
      fc.tuple(fc.nat({ max: 255 }), fc.nat({ max: maxLength })).map(([tag, length]) => val(tag, length));
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.nat({ max: 7 }), value: bytesArb(400) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat({ max: 7 }) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('append' as const), log: fc.constantFrom(PLAIN, RING), value: bytesArb(200) }) },
    );
    const NUM_RUNS = 1000;
    const stats = { runs: 0, gc: 0, cut: 0, torn: 0, keep: 0 };
    // The ring as a bare id, with a retention that mostly fits, and with one that never does.
    const ringArb = fc.constantFrom<number | RingLogOption>(RING, { id: RING, keep: 4 }, { id: RING, keep: 1_000 });
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), fc.nat(), fc.boolean(), ringArb, (ops, cutSeed, torn, ring) => {
        const wrap = torn ? (f: Flash) => new LongwordFlash(f) : (f: Flash) => f;
        const { models, opsTotal } = modelsOf(ops, wrap, PROPERTY_SECTORS, ring);
        const k = cutSeed % (opsTotal + 1);
        const { cutOp, store, flash } = runWithCut(ops, k, wrap, PROPERTY_SECTORS, ring);
        const before = models[cutOp]!;
        const after = models[Math.min(cutOp + 1, ops.length)]!;
        const seen = observe(store);
        const landed = matches(seen, after) ? after : matches(seen, before) ? before : undefined;
        if (landed === undefined) {
          throw new Error(`cut after ${k} ops in op ${cutOp}: store ${describeModel(seen)}, expected ${describeModel(before)} or ${describeModel(after)}`);
        }
        // Carry on with the rest of the sequence on the recovered store, then reboot and compare.
        let model: Model = { ...cloneModel(landed), logs: new Map(seen.logs) };
        for (const op of ops.slice(cutOp + 1)) model = step(store, model, op);
        const final = observe(open(wrap(flash), storeOpts(PROPERTY_SECTORS, ring)));
        stats.runs += 1;
        if (flash.eraseCounts().some((n) => n > 0)) stats.gc += 1;
        if (cutOp < ops.length) stats.cut += 1;
        if (torn) stats.torn += 1;
        if (typeof ring !== 'number') stats.keep += 1;
        if (!matches(final, model)) throw new Error(`after recovery and ${ops.length - cutOp - 1} more ops: ${describeModel(final)} ≠ ${describeModel(model)}`);
      }),
      { seed: 42, numRuns: NUM_RUNS },
    );
    // The generator must reach what the property is about: GC, cuts, torn multi-word programs.
    expect(stats.runs).toBe(NUM_RUNS);
    expect(stats.gc).toBeGreaterThan(NUM_RUNS / 2);
    expect(stats.cut).toBeGreaterThan(NUM_RUNS * 0.9);
    expect(stats.torn).toBeGreaterThan(NUM_RUNS / 3);
    expect(stats.keep).toBeGreaterThan(NUM_RUNS / 2);
  });
});
