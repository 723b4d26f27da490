// Tests of the pump's history: the entry encoding, appends with sequence numbers and Reference Time,
// each RACP operator, Delete, and the ring overwriting the oldest first (ids.md §4, §3.13). Not power cuts (history-power-cut.test.ts).

import { describe, expect, it } from 'vitest';
import { KW31Z_SECTOR_BYTES, Kw31zFlash } from '../../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { RING_LOGS, STORE_LOGS } from '../../../src/firmware/store-keys.ts';
import { RecordStore } from '../../../src/storage/record-store.ts';
import {
  DATA_CORRUPTION_SEQ,
  History,
  MAX_GROUP_RECORDS,
  RECORDING_REASON,
  decodeHistoryGroup,
  encodeHistoryGroup,
  selectRecords,
  type HistoryEvent,
  type HistoryRecord,
  type RacpQuery,
} from '../../../devices/insulin-pump/history.ts';

const US_PER_S = 1_000_000;

export function historyRig(sectorCount = 4) {
  let nowUs = 0;
  const clock = { nowUs: () => nowUs };
  const flash = new Kw31zFlash({ device: 'pump', ledger: new Kw31zLedger('pump', () => nowUs), sizeBytes: sectorCount * KW31Z_SECTOR_BYTES });
  const openStore = () => {
    const r = RecordStore.open(flash, { firstSector: 0, sectorCount, ringLogs: RING_LOGS });
    if (!r.ok) throw new Error(r.code);
    return r.value;
  };
  const open = () => History.open({ store: openStore(), clock });
  return { flash, clock, open, openStore, setNowS: (s: number) => void (nowUs = s * US_PER_S), advanceS: (s: number) => void (nowUs += s * US_PER_S) };
}

const tcs = (oldState: number, newState: number): HistoryEvent => ({ type: 'therapyControlStateChanged', oldState, newState });

/** One sample per event type this history records. */
const SAMPLES: HistoryEvent[] = [
  { type: 'referenceTime', recordingReason: 0x33, year: 2025, month: 3, day: 14, hours: 15, minutes: 9, seconds: 26, timeZone: 4, dstOffset: 0 },
  { type: 'bolusProgrammed1', bolusId: 7, bolusType: 0x33, fastMilliunits: 2_500, extendedMilliunits: 0, durationMin: 0 },
  { type: 'bolusProgrammed2', reasonFlags: 0x10, activationType: 0x33 },
  { type: 'bolusDelivered1', bolusId: 7, bolusType: 0x33, deliveredFastMilliunits: 2_500, deliveredExtendedMilliunits: 0, effectiveDurationMin: 1 },
  { type: 'bolusDelivered2', startOffsetS: 3, endReason: 0x33, annunciationId: 0xbeef },
  { type: 'deliveredBasalRateChanged', oldMilliunitsPerHour: 1_000, newMilliunitsPerHour: 1_500, deliveryContext: 0x3c },
  { type: 'tbrStarted', tbrType: 0x3c, adjustment: 150, durationMin: 60 },
  { type: 'tbrEnded', tbrType: 0x3c, effectiveDurationMin: 60, endReason: 0x33 },
  { type: 'tbrChanged', tbrType: 0x33, adjustment: 800, durationMin: 30, elapsedMin: 10, templateNumber: 4 },
  { type: 'profileTemplateActivated', templateType: 0x33, oldNumber: 0, newNumber: 1 },
  { type: 'basalTimeBlockChanged', templateNumber: 1, blockNumber: 2, durationMin: 330, milliunitsPerHour: 1_500 },
  { type: 'totalDailyInsulin', flags: 0, bolusMilliunits: 12_000, basalMilliunits: 24_000, year: 2025, month: 3, day: 14 },
  tcs(0x33, 0x55),
  { type: 'operationalStateChanged', oldState: 0x66, newState: 0x96 },
  { type: 'reservoirRemainingChanged', remainingMilliunits: 150_000 },
  { type: 'annunciationStatusChanged1', instanceId: 3, annunciationType: 0x003c, status: 0x33, auxInfo2: 0x1234 },
  { type: 'annunciationStatusChanged2' },
  { type: 'primingStarted', programmedMilliunits: 2_000 },
  { type: 'primingDone', deliveredMilliunits: 2_000, reason: 0x3c },
  { type: 'dataCorruption' },
  { type: 'maxBolusChanged', oldMilliunits: 10_000, newMilliunits: 15_000 },
];

describe('history entry encoding', () => {
  it.each(SAMPLES.map((e) => [e.type, e] as const))('round-trips %s', (_, event) => {
    const enc = encodeHistoryGroup({ firstSeq: 42, timeS: 1_000, relativeOffsetS: 120, events: [event] });
    if (!enc.ok) throw new Error(enc.code);
    expect(decodeHistoryGroup(enc.value)).toEqual({ ok: true, value: { firstSeq: 42, timeS: 1_000, relativeOffsetS: 120, events: [event] } });
  });

  it('is compact: Therapy Control State Changed takes 12 + 5 bytes', () => {
    const enc = encodeHistoryGroup({ firstSeq: 42, timeS: 1, relativeOffsetS: 120, events: [tcs(0x33, 0x55)] });
    expect(enc.ok && [...enc.value]).toEqual([1, 1, 42, 0, 0, 0, 1, 0, 0, 0, 120, 0, 0x03, 0x03, 0x00, 0x33, 0x55]);
  });

  it('round-trips a whole group', () => {
    const enc = encodeHistoryGroup({ firstSeq: 0, timeS: 0, relativeOffsetS: 0, events: SAMPLES });
    expect(enc.ok && decodeHistoryGroup(enc.value)).toMatchObject({ ok: true, value: { events: SAMPLES } });
  });

  it.each<[string, HistoryEvent[]]>([
    ['a field out of range', [tcs(0x33, 0x100)]],
    ['a negative amount', [{ type: 'primingStarted', programmedMilliunits: -1 }]],
    ['a fraction', [{ type: 'reservoirRemainingChanged', remainingMilliunits: 1.5 }]],
    ['a missing field', [{ type: 'therapyControlStateChanged', oldState: 0x33 } as unknown as HistoryEvent]],
    ['an unknown type', [{ type: 'nope' } as unknown as HistoryEvent]],
  ])('refuses %s', (_, events) => {
    expect(encodeHistoryGroup({ firstSeq: 0, timeS: 0, relativeOffsetS: 0, events })).toMatchObject({ ok: false, code: 'invalid-event' });
  });

  it('refuses empty and oversized groups', () => {
    expect(encodeHistoryGroup({ firstSeq: 0, timeS: 0, relativeOffsetS: 0, events: [] })).toMatchObject({ ok: false, code: 'group-size' });
    const many = Array.from({ length: MAX_GROUP_RECORDS + 1 }, () => tcs(0x33, 0x55));
    expect(encodeHistoryGroup({ firstSeq: 0, timeS: 0, relativeOffsetS: 0, events: many })).toMatchObject({ ok: false, code: 'group-size' });
  });

  it.each<[string, number[]]>([
    ['too short', [1, 1, 0]],
    ['a wrong version', [2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x03, 0, 0x33, 0x55]],
    ['an unknown event type', [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x03, 0, 0x33, 0x55]],
    ['a truncated record', [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x03, 0, 0x33]],
    ['trailing bytes', [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x03, 0, 0x33, 0x55, 0]],
    ['an impossible presence bit', [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x03, 1, 0x33, 0x55]],
  ])('decoding refuses %s', (_, bytes) => {
    expect(decodeHistoryGroup(new Uint8Array(bytes))).toMatchObject({ ok: false, code: 'malformed' });
  });
});

describe('history appends', () => {
  it('numbers records from 0, puts a Reference Time first, and gives a group one offset', () => {
    const rig = historyRig();
    rig.setNowS(100);
    const h = rig.open();
    expect(h.append(tcs(0x33, 0x55))).toEqual({ ok: true, value: 1 });
    rig.advanceS(120);
    expect(h.appendGroup([SAMPLES[1]!, SAMPLES[2]!])).toEqual({ ok: true, value: [2, 3] });
    const recs = h.records();
    expect(recs.map((r) => [r.seq, r.event.type, r.relativeOffsetS])).toEqual([
      [0, 'referenceTime', 0],
      [1, 'therapyControlStateChanged', 0],
      [2, 'bolusProgrammed1', 120],
      [3, 'bolusProgrammed2', 120],
    ]);
    expect(recs[0]!.event).toMatchObject({ recordingReason: RECORDING_REASON.undetermined, year: 0, timeZone: -128 });
  });

  it('records Reference Time every period, and Date Time Loss when the clock restarts', () => {
    const rig = historyRig();
    const h = rig.open();
    h.append(tcs(0x33, 0x55));
    rig.advanceS(3_599);
    h.append(tcs(0x55, 0x3c));
    rig.advanceS(1);
    h.append(tcs(0x3c, 0x55));
    const reasons = h.records().filter((r) => r.event.type === 'referenceTime').map((r) => [r.seq, (r.event as { recordingReason: number }).recordingReason]);
    expect(reasons).toEqual([
      [0, RECORDING_REASON.undetermined],
      [3, RECORDING_REASON.periodic],
    ]);
    expect(h.records().at(-1)!.relativeOffsetS).toBe(0);
    // Reboot with a clock that starts from 0 again.
    rig.setNowS(5);
    const again = rig.open();
    expect(again.nextSeq).toBe(5);
    again.append(tcs(0x33, 0x55));
    expect(again.records().slice(-2).map((r) => [r.seq, r.event.type, r.relativeOffsetS])).toEqual([
      [5, 'referenceTime', 0],
      [6, 'therapyControlStateChanged', 0],
    ]);
    expect(again.records().at(-2)!.event).toMatchObject({ recordingReason: RECORDING_REASON.dateTimeLoss });
  });

  it('uses a Reference Time the caller gives, and the pump calendar when it has one', () => {
    const rig = historyRig();
    const h = History.open({ store: rig.openStore(), clock: rig.clock, dateTime: () => ({ year: 2025, month: 1, day: 2, hours: 3, minutes: 4, seconds: 5, timeZone: 4, dstOffset: 0 }) });
    h.append(tcs(0x33, 0x55));
    expect(h.records()[0]!.event).toMatchObject({ year: 2025, day: 2 });
    rig.advanceS(50);
    h.append(SAMPLES[0]!);
    rig.advanceS(10);
    h.append(tcs(0x55, 0x33));
    expect(h.records().map((r) => [r.event.type, r.relativeOffsetS])).toEqual([
      ['referenceTime', 0],
      ['therapyControlStateChanged', 0],
      ['referenceTime', 0],
      ['therapyControlStateChanged', 10],
    ]);
  });

  it('continues sequence numbers after a reboot', () => {
    const rig = historyRig();
    const h = rig.open();
    for (let i = 0; i < 10; i++) h.append(tcs(0x33, 0x55));
    expect(h.nextSeq).toBe(11);
    const rebooted = rig.open();
    expect(rebooted.nextSeq).toBe(11);
    expect(rebooted.append(tcs(0x55, 0x33))).toEqual({ ok: true, value: 11 });
    expect(rebooted.records().map((r) => r.seq)).toEqual([...Array(12).keys()]);
  });

  it('refuses an invalid event without using a sequence number', () => {
    const rig = historyRig();
    const h = rig.open();
    expect(h.append(tcs(0x33, 999))).toMatchObject({ ok: false, code: 'invalid-event' });
    expect(h.nextSeq).toBe(0);
  });

  it('overwrites the oldest first: after thousands of records the ring holds the newest, in order, and numbering goes on', () => {
    const rig = historyRig(4);
    const h = rig.open();
    const total = 4_000;
    for (let i = 0; i < total; i++) {
      if (i % 100 === 0) rig.advanceS(60);
      const r = h.append({ type: 'reservoirRemainingChanged', remainingMilliunits: i });
      if (!r.ok) throw new Error(`append ${i}: ${r.code}`);
    }
    const recs = h.records();
    const last = h.nextSeq - 1;
    expect(recs.at(-1)!.seq).toBe(last);
    // Contiguous up to the newest: the oldest went first, none in the middle.
    recs.forEach((r, i) => expect(r.seq).toBe(recs[0]!.seq + i));
    expect(recs.length).toBeGreaterThan(100);
    expect(recs.length).toBeLessThan(total);
    const amounts = recs.filter((r) => r.event.type === 'reservoirRemainingChanged').map((r) => (r.event as { remainingMilliunits: number }).remainingMilliunits);
    expect(amounts.at(-1)).toBe(total - 1);
    expect(rig.flash.eraseCounts().every((n) => n > 10)).toBe(true);
    const rebooted = rig.open();
    expect(rebooted.nextSeq).toBe(last + 1);
    expect(rebooted.records()).toEqual(recs);
  });

  it('reads an unreadable entry as a Data Corruption record (ids.md §6) and numbers past it', () => {
    const rig = historyRig();
    const store = rig.openStore();
    const h = History.open({ store, clock: rig.clock });
    h.append(tcs(0x33, 0x55));
    store.append(STORE_LOGS.pumpHistory, new Uint8Array([9, 9, 9]));
    const rebooted = History.open({ store, clock: rig.clock });
    expect(rebooted.records().map((r) => r.seq)).toEqual([0, 1, DATA_CORRUPTION_SEQ]);
    expect(rebooted.nextSeq).toBeGreaterThanOrEqual(2 + MAX_GROUP_RECORDS);
  });
});

// ─── RACP ─────────────────────────────────────────────────────────────────────────────────────

/** seq 0..9; seq 0 and 5 are Reference Time events. */
const TEN: HistoryRecord[] = Array.from({ length: 10 }, (_, seq) => ({
  seq,
  relativeOffsetS: 0,
  timeS: 0,
  event: seq % 5 === 0 ? SAMPLES[0]! : tcs(0x33, 0x55),
}));

describe('RACP selection (ids.md §4, Table 3.26)', () => {
  it.each<[string, RacpQuery, number[]]>([
    ['all', { operator: 'all' }, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ['first', { operator: 'first' }, [0]],
    ['last', { operator: 'last' }, [9]],
    ['≤ 3', { operator: 'lte', filter: 'seq', maxSeq: 3 }, [0, 1, 2, 3]],
    ['≥ 7', { operator: 'gte', filter: 'seq', minSeq: 7 }, [7, 8, 9]],
    ['within 2..4', { operator: 'range', filter: 'seq', minSeq: 2, maxSeq: 4 }, [2, 3, 4]],
    ['within 4..4', { operator: 'range', filter: 'seq', minSeq: 4, maxSeq: 4 }, [4]],
    ['≥ 100', { operator: 'gte', filter: 'seq', minSeq: 100 }, []],
    ['≥ 0, Reference Time only', { operator: 'gte', filter: 'seq-reference-time', minSeq: 0 }, [0, 5]],
    ['≤ 6, other events only', { operator: 'lte', filter: 'seq-other', maxSeq: 6 }, [1, 2, 3, 4, 6]],
    ['within 4..9, Reference Time only', { operator: 'range', filter: 'seq-reference-time', minSeq: 4, maxSeq: 9 }, [5]],
  ])('%s', (_, query, seqs) => {
    const r = selectRecords(TEN, query);
    expect(r.ok && r.value.map((x) => x.seq)).toEqual(seqs);
  });

  it.each<[string, RacpQuery, string]>([
    ['a range backwards', { operator: 'range', filter: 'seq', minSeq: 5, maxSeq: 4 }, 'invalid-operand'],
    ['a seq beyond u32', { operator: 'gte', filter: 'seq', minSeq: 2 ** 32 }, 'invalid-operand'],
    ['a negative seq', { operator: 'lte', filter: 'seq', maxSeq: -1 }, 'invalid-operand'],
    ['an unknown operator', { operator: 'nearest' } as unknown as RacpQuery, 'operator-not-supported'],
  ])('refuses %s', (_, query, code) => {
    expect(selectRecords(TEN, query)).toMatchObject({ ok: false, code });
  });

  it('first and last skip Data Corruption records; all keeps them', () => {
    const broken: HistoryRecord = { seq: DATA_CORRUPTION_SEQ, relativeOffsetS: 0, timeS: 0, event: { type: 'dataCorruption' } };
    const recs = [broken, ...TEN, broken];
    expect(selectRecords(recs, { operator: 'first' })).toMatchObject({ value: [{ seq: 0 }] });
    expect(selectRecords(recs, { operator: 'last' })).toMatchObject({ value: [{ seq: 9 }] });
    expect(selectRecords(recs, { operator: 'all' })).toMatchObject({ value: { length: 12 } });
  });
});

/** A history holding seq 0 (Reference Time) … 9, where 4..5 are one group. */
function tenOnFlash() {
  const rig = historyRig();
  const h = rig.open();
  h.append(tcs(0x33, 0x55)); // 0 reference, 1
  h.append(tcs(0x33, 0x55)); // 2
  h.append(tcs(0x33, 0x55)); // 3
  h.appendGroup([SAMPLES[1]!, SAMPLES[2]!]); // 4, 5
  for (let i = 0; i < 4; i++) h.append(tcs(0x33, 0x55)); // 6..9
  return { rig, h };
}

describe('RACP procedures on the history', () => {
  it('counts; no match is 0, not an error', () => {
    const { h } = tenOnFlash();
    expect(h.count({ operator: 'all' })).toEqual({ ok: true, code: 'success', value: 10 });
    expect(h.count({ operator: 'gte', filter: 'seq', minSeq: 8 })).toMatchObject({ value: 2 });
    expect(h.count({ operator: 'gte', filter: 'seq', minSeq: 80 })).toMatchObject({ ok: true, value: 0 });
  });

  it('reports oldest first, one record per next(), then frees the procedure', () => {
    const { h } = tenOnFlash();
    const r = h.startReport({ operator: 'gte', filter: 'seq', minSeq: 7 });
    if (!r.ok) throw new Error(r.code);
    expect(h.startReport({ operator: 'all' })).toMatchObject({ ok: false, code: 'procedure-already-in-progress' });
    expect(h.delete({ operator: 'all' })).toMatchObject({ ok: false, code: 'procedure-already-in-progress' });
    expect(r.value.remaining).toBe(3);
    expect([r.value.next()?.seq, r.value.next()?.seq, r.value.next()?.seq]).toEqual([7, 8, 9]);
    expect(r.value.next()).toBeUndefined();
    expect(h.reportRunning).toBe(false);
  });

  it('answers No records found to a report that matches nothing', () => {
    const { h } = tenOnFlash();
    expect(h.startReport({ operator: 'range', filter: 'seq', minSeq: 100, maxSeq: 200 })).toMatchObject({ ok: false, code: 'no-records-found' });
    expect(h.reportRunning).toBe(false);
  });

  it('aborts a running report; the cursor then gives nothing', () => {
    const { h } = tenOnFlash();
    const r = h.startReport({ operator: 'all' });
    if (!r.ok) throw new Error(r.code);
    r.value.next();
    expect(h.abort()).toEqual({ ok: true, code: 'success', value: { aborted: true } });
    expect(r.value.next()).toBeUndefined();
    expect(h.abort()).toMatchObject({ ok: true, value: { aborted: false } });
    expect(h.startReport({ operator: 'first' }).ok).toBe(true);
    expect(h.interruptReport()).toBe('procedure-not-completed');
  });

  it.each<[string, RacpQuery, number, number[]]>([
    ['all', { operator: 'all' }, 10, []],
    ['≤ 1', { operator: 'lte', filter: 'seq', maxSeq: 1 }, 2, [2, 3, 4, 5, 6, 7, 8, 9]],
    ['≤ 3', { operator: 'lte', filter: 'seq', maxSeq: 3 }, 4, [4, 5, 6, 7, 8, 9]],
    ['≤ 5', { operator: 'lte', filter: 'seq', maxSeq: 5 }, 6, [6, 7, 8, 9]],
    ['within 0..6', { operator: 'range', filter: 'seq', minSeq: 0, maxSeq: 6 }, 7, [7, 8, 9]],
    ['≤ 1000', { operator: 'lte', filter: 'seq', maxSeq: 1000 }, 10, []],
  ])('deletes %s, and the deletion and numbering survive a reboot', (_, query, deleted, left) => {
    const { rig, h } = tenOnFlash();
    expect(h.delete(query)).toEqual({ ok: true, code: 'success', value: deleted });
    expect(h.records().map((r) => r.seq)).toEqual(left);
    const rebooted = rig.open();
    expect(rebooted.records().map((r) => r.seq)).toEqual(left);
    expect(rebooted.nextSeq).toBe(10); // Delete never resets the numbering (§3.10.4.2)
    expect(rebooted.append(tcs(0x33, 0x55))).toMatchObject({ ok: true, value: 10 });
  });

  it.each<[string, RacpQuery, string]>([
    ['≥ (would leave a hole)', { operator: 'gte', filter: 'seq', minSeq: 5 }, 'operator-not-supported'],
    ['last', { operator: 'last' }, 'operator-not-supported'],
    ['a range in the middle', { operator: 'range', filter: 'seq', minSeq: 2, maxSeq: 3 }, 'procedure-not-applicable'],
    ['≤ 4 (splits the group 4..5)', { operator: 'lte', filter: 'seq', maxSeq: 4 }, 'procedure-not-applicable'],
    ['first (splits the group 0..1: Reference Time and its event)', { operator: 'first' }, 'procedure-not-applicable'],
    ['by event kind', { operator: 'lte', filter: 'seq-other', maxSeq: 4 }, 'operand-not-supported'],
    ['a backwards range', { operator: 'range', filter: 'seq', minSeq: 3, maxSeq: 2 }, 'invalid-operand'],
  ])('refuses to delete %s and changes nothing', (_, query, code) => {
    const { h } = tenOnFlash();
    expect(h.delete(query)).toMatchObject({ ok: false, code });
    expect(h.records()).toHaveLength(10);
  });

  it('deletes the first record when it is a group of its own', () => {
    const { h } = tenOnFlash();
    h.delete({ operator: 'lte', filter: 'seq', maxSeq: 1 });
    expect(h.delete({ operator: 'first' })).toEqual({ ok: true, code: 'success', value: 1 });
    expect(h.records()[0]!.seq).toBe(3);
  });

  it('answers No records found to a delete of nothing', () => {
    const { h } = tenOnFlash();
    h.delete({ operator: 'all' });
    expect(h.delete({ operator: 'all' })).toMatchObject({ ok: false, code: 'no-records-found' });
    expect(h.delete({ operator: 'first' })).toMatchObject({ ok: false, code: 'no-records-found' });
  });
});
