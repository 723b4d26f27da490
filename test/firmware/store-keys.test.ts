// The store-key table: no two features' keys or key ranges overlap, and no log id is reused.
// Not the store (test/storage/).

import { describe, expect, it } from 'vitest';
import { GLP_MAX_CAPACITY } from '../../devices/ph-meter/glp-log.ts';
import { MAX_BONDS } from '../../src/session/bond-store.ts';
import { RING_LOGS, STORE_KEYS, STORE_LOGS } from '../../src/firmware/store-keys.ts';

/** How many keys each entry spans from its value (a base key owns a range). */
const SPAN: Readonly<Record<keyof typeof STORE_KEYS, number>> = {
  lockout: 1,
  breakGlassIndex: 1,
  pumpAnnunciations: 1,
  pumpHistoryDeleted: 1,
  pumpLimits: 1,
  pumpActiveProfileTemplates: 1,
  // + template number 1..12
  pumpProfileTemplateBase: 13,
  phGlpState: 1,
  phCalibration: 1,
  bondBase: MAX_BONDS,
  // slots 0..capacity
  phGlpSlotBase: GLP_MAX_CAPACITY + 1,
};

describe('store keys', () => {
  it('no two key ranges overlap', () => {
    const ranges = (Object.keys(STORE_KEYS) as (keyof typeof STORE_KEYS)[]).map((k) => ({ k, from: STORE_KEYS[k], to: STORE_KEYS[k] + SPAN[k] - 1 })).sort((a, b) => a.from - b.from);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.from, `${ranges[i - 1]!.k} overlaps ${ranges[i]!.k}`).toBeGreaterThan(ranges[i - 1]!.to);
  });

  it('log ids are distinct and every ring is a log', () => {
    const ids = Object.values(STORE_LOGS);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of RING_LOGS) expect(ids).toContain(r.id);
    expect(new Set(RING_LOGS.map((r) => r.id)).size).toBe(RING_LOGS.length);
  });
});
