// Tests for the pump's profile templates: the IDS write transaction (each refusal code, discarding), activation, reset, template status, and persistence on the simulated flash.
// Not the time-of-day delivery (basal-schedule.test.ts) nor the session path (pump-templates.test.ts).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KW31Z_SECTOR_BYTES, Kw31zFlash } from '../../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import type { GlucoseRangeBlock, ProfileBlock } from '../../../devices/insulin-pump/ids/index.ts';
import {
  decodeTemplateRecord,
  encodeTemplateRecord,
  kindOfTemplate,
  ProfileTemplates,
  type ProfileKind,
} from '../../../devices/insulin-pump/profile-templates.ts';
import { RING_LOGS, STORE_KEYS } from '../../../src/firmware/store-keys.ts';
import { RecordStore } from '../../../src/storage/record-store.ts';
import { must } from './delivery-fixtures.ts';

const SECTORS = 4;

function flashAndStore(): { flash: Kw31zFlash; open: () => RecordStore } {
  let t = 0;
  const ledger = new Kw31zLedger('pump', () => t++);
  const flash = new Kw31zFlash({ device: 'pump', ledger, sizeBytes: SECTORS * KW31Z_SECTOR_BYTES });
  return { flash, open: () => must(RecordStore.open(flash, { firstSector: 0, sectorCount: SECTORS, ringLogs: RING_LOGS })) };
}

const fresh = (): ProfileTemplates => ProfileTemplates.open({ store: flashAndStore().open() });

/** 24 one-hour blocks, rate 100 × (hour + 1) mU/h. */
const HOURLY: ProfileBlock[] = Array.from({ length: 24 }, (_, h) => ({ durationMinutes: 60, valueMilli: 100 * (h + 1) }));
const THREE: ProfileBlock[] = [
  { durationMinutes: 360, valueMilli: 600 },
  { durationMinutes: 600, valueMilli: 1_000 },
  { durationMinutes: 480, valueMilli: 750 },
];

const rec = (templateNumber: number, firstTimeBlockIndex: number, blocks: readonly ProfileBlock[], endTransaction: boolean) => ({ endTransaction, templateNumber, firstTimeBlockIndex, blocks });

describe('write transaction (ids.md §7)', () => {
  it('a whole day in one record completes at once and is configured', () => {
    const t = fresh();
    expect(t.write('basal', rec(1, 1, THREE, true))).toEqual({ ok: true, completed: true, templateNumber: 1, blocks: THREE });
    expect(t.basal(1)).toEqual(THREE);
    expect(t.status('basal')).toEqual([
      { configurable: true, configured: true },
      { configurable: true, configured: false },
      { configurable: true, configured: false },
    ]);
  });

  it('24 blocks in eight records: open until End Transaction, then the blocks in index order', () => {
    const t = fresh();
    for (let i = 0; i < 21; i += 3) {
      expect(t.write('basal', rec(2, i + 1, HOURLY.slice(i, i + 3), false))).toEqual({ ok: true, completed: false });
      expect(t.basal(2)).toBeUndefined();
      expect(t.transactionOpen).toBe(true);
    }
    const last = t.write('basal', rec(2, 22, HOURLY.slice(21), true));
    expect(last.ok && last.completed).toBe(true);
    expect(t.basal(2)).toEqual(HOURLY);
    expect(t.transactionOpen).toBe(false);
  });

  it('records out of order are accepted (IDS forbids repeats and gaps, not disorder)', () => {
    const t = fresh();
    expect(t.write('basal', rec(1, 3, THREE.slice(2), false)).ok).toBe(true);
    expect(t.write('basal', rec(1, 1, THREE.slice(0, 2), true))).toEqual({ ok: true, completed: true, templateNumber: 1, blocks: THREE });
  });

  it.each([
    ['an incomplete day (1380 min)', [rec(1, 1, [{ durationMinutes: 1_380, valueMilli: 500 }], true)], 'plausibility-check-failed'],
    ['more than a day (1500 min)', [rec(1, 1, [{ durationMinutes: 1_000, valueMilli: 500 }], false), rec(1, 2, [{ durationMinutes: 500, valueMilli: 500 }], true)], 'plausibility-check-failed'],
    ['a gap in the block indices (1–3, then 5)', [rec(1, 1, THREE, false), rec(1, 5, [{ durationMinutes: 60, valueMilli: 1 }], true)], 'plausibility-check-failed'],
    ['a repeated block index', [rec(1, 1, THREE.slice(0, 2), false), rec(1, 2, THREE.slice(1), true)], 'plausibility-check-failed'],
    ['another template number mid-transaction', [rec(1, 1, THREE.slice(0, 2), false), rec(2, 3, THREE.slice(2), true)], 'plausibility-check-failed'],
    ['a block of 0 min', [rec(1, 1, [{ durationMinutes: 0, valueMilli: 500 }, { durationMinutes: 1_440, valueMilli: 500 }], true)], 'plausibility-check-failed'],
    ['First TB Index 0', [rec(1, 0, THREE, true)], 'parameter-out-of-range'],
    ['a block beyond 24 (index 23 with 3 blocks)', [rec(1, 23, THREE, true)], 'parameter-out-of-range'],
    ['template 4 (an ISF one) as basal', [rec(4, 1, THREE, true)], 'parameter-out-of-range'],
    ['template 0', [rec(0, 1, THREE, true)], 'parameter-out-of-range'],
  ] as const)('%s → %s, the transaction discarded, nothing stored', (_, records, code) => {
    const t = fresh();
    const results = records.map((r) => t.write('basal', r));
    const last = results.at(-1)!;
    expect(last.ok).toBe(false);
    expect(!last.ok && last.code).toBe(code);
    expect(t.transactionOpen).toBe(false);
    for (const n of [0, 1, 2, 3, 4]) expect(t.get(n)).toBeUndefined();
  });

  it('a refusal discards the earlier records too: the next record starts a new transaction', () => {
    const t = fresh();
    expect(t.write('basal', rec(1, 1, THREE.slice(0, 2), false)).ok).toBe(true);
    expect(t.write('basal', rec(1, 0, THREE.slice(2), false)).ok).toBe(false);
    // Block 3 alone does not complete the old day: blocks 1–2 are gone (a gap now).
    const r = t.write('basal', rec(1, 3, THREE.slice(2), true));
    expect(!r.ok && r.code).toBe('plausibility-check-failed');
  });

  it('abandon() (another procedure) discards the open transaction; earlier completed templates stay', () => {
    const t = fresh();
    expect(t.write('basal', rec(1, 1, THREE, true)).ok).toBe(true);
    expect(t.write('basal', rec(2, 1, HOURLY.slice(0, 3), false)).ok).toBe(true);
    t.abandon();
    const r = t.write('basal', rec(2, 4, HOURLY.slice(3, 6), true));
    expect(!r.ok && r.code).toBe('plausibility-check-failed');
    expect(t.basal(1)).toEqual(THREE);
  });

  it('a write of another type is another procedure: it discards the open one and starts its own', () => {
    const t = fresh();
    expect(t.write('basal', rec(1, 1, THREE.slice(0, 2), false)).ok).toBe(true);
    expect(t.write('isf', rec(5, 1, [{ durationMinutes: 1_440, valueMilli: 40_000 }], true)).ok).toBe(true);
    expect(t.transactionOpen).toBe(false);
    expect(t.get(5)).toEqual([{ durationMinutes: 1_440, valueMilli: 40_000 }]);
    expect(t.basal(1)).toBeUndefined();
  });

  it('value checks per type: ISF/I2CHO 0 → out of range; glucose lower > upper → plausibility; lower 0 → out of range', () => {
    const t = fresh();
    const day = (v: number) => [{ durationMinutes: 1_440, valueMilli: v }];
    const range = (lo: number, hi: number): GlucoseRangeBlock[] => [{ durationMinutes: 1_440, lowerMilli: lo, upperMilli: hi }];
    const code = (r: { ok: boolean; code?: string }) => (r.ok ? 'ok' : r.code);
    expect(code(t.write('isf', rec(4, 1, day(0), true)))).toBe('parameter-out-of-range');
    expect(code(t.write('i2cho', rec(7, 1, day(0), true)))).toBe('parameter-out-of-range');
    expect(code(t.write('targetGlucose', { endTransaction: true, templateNumber: 10, firstTimeBlockIndex: 1, blocks: range(180_000, 100_000) }))).toBe('plausibility-check-failed');
    expect(code(t.write('targetGlucose', { endTransaction: true, templateNumber: 10, firstTimeBlockIndex: 1, blocks: range(0, 100_000) }))).toBe('parameter-out-of-range');
    expect(code(t.write('targetGlucose', { endTransaction: true, templateNumber: 10, firstTimeBlockIndex: 1, blocks: range(100_000, 180_000) }))).toBe('ok');
    // A 0 U/h basal block is a plain pause in the profile.
    expect(code(t.write('basal', rec(1, 1, day(0), true)))).toBe('ok');
  });
});

describe('activation, reset, numbering', () => {
  it('template numbers: basal 1–3, ISF 4–6, I2CHO 7–9, target glucose 10–12, nothing else', () => {
    const kinds = Array.from({ length: 14 }, (_, n) => kindOfTemplate(n));
    const expected: (ProfileKind | undefined)[] = [undefined, 'basal', 'basal', 'basal', 'isf', 'isf', 'isf', 'i2cho', 'i2cho', 'i2cho', 'targetGlucose', 'targetGlucose', 'targetGlucose', undefined];
    expect(kinds).toEqual(expected);
  });

  it('activate needs a configured template (0x74 otherwise); one active per type', () => {
    const t = fresh();
    expect(t.activate(1)).toMatchObject({ ok: false, code: 'procedure-not-applicable' });
    expect(t.activate(13)).toMatchObject({ ok: false, code: 'procedure-not-applicable' });
    t.write('basal', rec(1, 1, THREE, true));
    t.write('basal', rec(2, 1, HOURLY, true));
    expect(t.activate(1)).toEqual({ ok: true });
    expect(t.activate(2)).toEqual({ ok: true });
    expect(t.activeOf('basal')).toBe(2);
    expect(t.activeNumbers()).toEqual([2]);
  });

  it('reset: all or nothing; an active or unconfigured template refuses the whole list (0x74)', () => {
    const t = fresh();
    t.write('basal', rec(1, 1, THREE, true));
    t.write('basal', rec(2, 1, HOURLY, true));
    t.activate(2);
    expect(t.reset([1, 2])).toMatchObject({ ok: false, code: 'procedure-not-applicable' });
    expect(t.reset([1, 3])).toMatchObject({ ok: false, code: 'procedure-not-applicable' });
    expect(t.basal(1)).toEqual(THREE);
    expect(t.reset([1])).toEqual({ ok: true });
    expect(t.basal(1)).toBeUndefined();
    expect(t.basal(2)).toEqual(HOURLY);
  });
});

describe('persistence (record store on the simulated flash)', () => {
  it('templates and the active numbers survive a reboot (a new store on the same flash)', () => {
    const { open } = flashAndStore();
    const a = ProfileTemplates.open({ store: open() });
    a.write('basal', rec(3, 1, HOURLY.slice(0, 12), false));
    a.write('basal', rec(3, 13, HOURLY.slice(12), true));
    a.write('targetGlucose', { endTransaction: true, templateNumber: 11, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1_440, lowerMilli: 90_000, upperMilli: 160_000 }] });
    a.activate(3);
    a.activate(11);
    // A transaction still open at the cut is not kept.
    a.write('basal', rec(1, 1, THREE.slice(0, 1), false));
    const b = ProfileTemplates.open({ store: open() });
    expect(b.corruptRecords).toBe(0);
    expect(b.basal(3)).toEqual(HOURLY);
    expect(b.get(11)).toEqual([{ durationMinutes: 1_440, lowerMilli: 90_000, upperMilli: 160_000 }]);
    expect(b.activeNumbers()).toEqual([3, 11]);
    expect(b.transactionOpen).toBe(false);
    expect(b.basal(1)).toBeUndefined();
  });

  it('a record that does not decode reads as not configured and is counted; its active number is dropped', () => {
    const { open } = flashAndStore();
    const store = open();
    must(store.put(STORE_KEYS.pumpProfileTemplateBase + 2, Uint8Array.of(1, 2, 1, 0x10, 0x00, 1, 0, 0, 0))); // 16 min: not a day
    must(store.put(STORE_KEYS.pumpActiveProfileTemplates, Uint8Array.of(1, 2, 0, 0, 0)));
    const t = ProfileTemplates.open({ store });
    expect(t.basal(2)).toBeUndefined();
    expect(t.activeOf('basal')).toBe(0);
    expect(t.corruptRecords).toBe(2);
  });

  it('record layout: encode → decode is the identity for every whole-day template (seeded)', () => {
    const blocksArb = fc
      .array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 23 })
      .map((ds) => {
        // Cut the day at sorted distinct minutes: 1..24 blocks summing to 1440.
        const cuts = [...new Set(ds.map((d) => d * 11))].filter((c) => c < 1_440).sort((x, y) => x - y);
        const edges = [0, ...cuts, 1_440];
        return edges.slice(1).map((e, i) => e - edges[i]!);
      });
    fc.assert(
      fc.property(blocksArb, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 5_000_000 }), (durations, n, v) => {
        const blocks = kindOfTemplate(n) === 'targetGlucose' ? durations.map((d, i) => ({ durationMinutes: d, lowerMilli: v, upperMilli: v + i })) : durations.map((d, i) => ({ durationMinutes: d, valueMilli: v + i }));
        expect(decodeTemplateRecord(n, encodeTemplateRecord(n, blocks))).toEqual(blocks);
        // The wrong template number in the record is refused.
        expect(decodeTemplateRecord(n === 12 ? 11 : n + 1, encodeTemplateRecord(n, blocks))).toBeUndefined();
      }),
      { seed: 6, numRuns: 300 },
    );
  });
});
