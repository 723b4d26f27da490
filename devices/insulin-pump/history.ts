// The insulin pump's IDS history (ids.md §4 "IDD History Data", §3.13): typed records with sequence numbers,
// journaled as a ring log in the record store, and the RACP query logic over them. Not the History Data/RACP byte codec (ids/).
//
// ─── Records ──────────────────────────────────────────────────────────────────────────────────
// One HistoryRecord is one IDS history record (ids.md §4 table): its own sequence number (from 0,
// +1 per record, never reset by Delete, kept across reboots, §3.10.4.2), a Relative Offset (s since
// the last Reference Time, §3.10.4.3) and typed event data. Amounts are integers with the unit in
// the field name (milliunits = 0.001 IU, mU/h); the codec turns them into SFLOAT. Enumerated fields
// carry the IDS values (ids.md §5). Flags fields of the IDS layout are not stored: they follow from
// which optional fields are present.
//
// Compound groups (ids.md §4, Table 3.28: Part 1/2 + 2/2, TBR + Delivered Basal Rate Changed, whole
// profiles) are appended with appendGroup: consecutive sequence numbers, one Relative Offset, and
// stored as ONE log entry, so a power cut leaves the whole group or none of it.
//
// ─── Log entry on flash (STORE_LOGS.pumpHistory, a ring; little-endian) ─────────────────────────
//   +0   version          u8   = 1
//   +1   count            u8   records in the group, 1..MAX_GROUP_RECORDS
//   +2   firstSeq         u32  sequence number of the group's first record
//   +6   timeS            u32  device time (Alarm clock) of the append, whole seconds
//   +10  relativeOffsetS  u16  the group's Relative Offset
//   +12  records, each:  eventType u16 (IDS value) | present u8 (bit i = optional field i present)
//                        | the mandatory fields in layout order | the present optional fields in order
// Field sizes: u8/s8 1, u16/s16 2, u32 4. A record whose layout has no optional field still has
// its `present` byte (0), so every record starts the same way.
//
// Delete (ids.md §4 RACP): the record store cannot cut a ring in the middle, so Delete moves a mark,
// STORE_KEYS.pumpHistoryDeleted (version u8 = 1 | firstKeptSeq u32): records below it are gone
// for every query, and the ring overwrites them in time. Supported: All records, ≤, within range
// when it starts at or below the oldest record, and First; never one that splits a group
// ("procedure not applicable"). ≥ and Last would leave a hole: "operator not supported".

import type { RecordStore, RecordStoreErrorCode } from '../../src/storage/record-store.ts';
import { STORE_KEYS, STORE_LOGS } from '../../src/firmware/store-keys.ts';

type FieldKind = 'u8' | 's8' | 'u16' | 's16' | 'u32';
const KIND_BYTES: Readonly<Record<FieldKind, number>> = { u8: 1, s8: 1, u16: 2, s16: 2, u32: 4 };
const KIND_RANGE: Readonly<Record<FieldKind, readonly [number, number]>> = {
  u8: [0, 0xff],
  s8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  s16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
};

interface Layout {
  readonly code: number;
  readonly fields: Readonly<Record<string, FieldKind>>;
  readonly optional?: Readonly<Record<string, FieldKind>>;
}

/**
 * The IDS history event types this pump records (ids.md §4 table; codes from there). Not recorded
 * (yet): Bolus Calculated, Reference Time Base Offset, ISF/I2CHO/Target Glucose blocks, templates,
 * Pointer Event, manufacturer events.
 */
export const HISTORY_EVENTS = {
  referenceTime: {
    code: 0x000f,
    fields: { recordingReason: 'u8', year: 'u16', month: 'u8', day: 'u8', hours: 'u8', minutes: 'u8', seconds: 'u8', timeZone: 's8', dstOffset: 'u8' },
  },
  bolusProgrammed1: { code: 0x005a, fields: { bolusId: 'u16', bolusType: 'u8', fastMilliunits: 'u32', extendedMilliunits: 'u32', durationMin: 'u16' } },
  /** `reasonFlags`: Set Bolus flags bits 3 (correction) and 4 (meal), ids.md §3.2. */
  bolusProgrammed2: { code: 0x0066, fields: { reasonFlags: 'u8' }, optional: { delayMin: 'u16', templateNumber: 'u8', activationType: 'u8' } },
  bolusDelivered1: {
    code: 0x0069,
    fields: { bolusId: 'u16', bolusType: 'u8', deliveredFastMilliunits: 'u32', deliveredExtendedMilliunits: 'u32', effectiveDurationMin: 'u16' },
  },
  bolusDelivered2: { code: 0x0096, fields: { startOffsetS: 'u32' }, optional: { activationType: 'u8', endReason: 'u8', annunciationId: 'u16' } },
  deliveredBasalRateChanged: { code: 0x0099, fields: { oldMilliunitsPerHour: 'u32', newMilliunitsPerHour: 'u32' }, optional: { deliveryContext: 'u8' } },
  /** `adjustment`: mU/h for an absolute TBR, percent for a relative one (150 = ×1.5). */
  tbrStarted: { code: 0x00a5, fields: { tbrType: 'u8', adjustment: 'u32', durationMin: 'u16' }, optional: { templateNumber: 'u8' } },
  tbrEnded: { code: 0x00aa, fields: { tbrType: 'u8', effectiveDurationMin: 'u16', endReason: 'u8' }, optional: { templateNumber: 'u8', annunciationId: 'u16' } },
  tbrChanged: { code: 0x00c3, fields: { tbrType: 'u8', adjustment: 'u32', durationMin: 'u16', elapsedMin: 'u16' }, optional: { templateNumber: 'u8' } },
  profileTemplateActivated: { code: 0x00cc, fields: { templateType: 'u8', oldNumber: 'u8', newNumber: 'u8' } },
  basalTimeBlockChanged: { code: 0x00f0, fields: { templateNumber: 'u8', blockNumber: 'u8', durationMin: 'u16', milliunitsPerHour: 'u32' } },
  totalDailyInsulin: { code: 0x00ff, fields: { flags: 'u8', bolusMilliunits: 'u32', basalMilliunits: 'u32', year: 'u16', month: 'u8', day: 'u8' } },
  therapyControlStateChanged: { code: 0x0303, fields: { oldState: 'u8', newState: 'u8' } },
  operationalStateChanged: { code: 0x030c, fields: { oldState: 'u8', newState: 'u8' } },
  reservoirRemainingChanged: { code: 0x0330, fields: { remainingMilliunits: 'u32' } },
  annunciationStatusChanged1: { code: 0x033f, fields: { instanceId: 'u16', annunciationType: 'u16', status: 'u8' }, optional: { auxInfo1: 'u16', auxInfo2: 'u16' } },
  annunciationStatusChanged2: { code: 0x0356, fields: {}, optional: { auxInfo3: 'u16', auxInfo4: 'u16', auxInfo5: 'u16' } },
  primingStarted: { code: 0x0395, fields: { programmedMilliunits: 'u32' } },
  primingDone: { code: 0x039a, fields: { deliveredMilliunits: 'u32', reason: 'u8' }, optional: { annunciationId: 'u16' } },
  dataCorruption: { code: 0x03a6, fields: {} },
  maxBolusChanged: { code: 0x03fc, fields: { oldMilliunits: 'u32', newMilliunits: 'u32' } },
} as const satisfies Record<string, Layout>;

type Layouts = typeof HISTORY_EVENTS;
export type HistoryEventName = keyof Layouts;
type Mandatory<K extends HistoryEventName> = { readonly [F in keyof Layouts[K]['fields']]: number };
type Optional<K extends HistoryEventName> = Layouts[K] extends { readonly optional: infer O } ? { readonly [F in keyof O]?: number } : unknown;
export type HistoryEventOf<K extends HistoryEventName> = { readonly type: K } & Mandatory<K> & Optional<K>;
export type HistoryEvent = { [K in HistoryEventName]: HistoryEventOf<K> }[HistoryEventName];

export interface HistoryRecord {
  /** IDS sequence number; DATA_CORRUPTION_SEQ for a record that could not be read back. */
  readonly seq: number;
  readonly relativeOffsetS: number;
  /** Device time of the append, s (not sent over the air; for the lead's daily totals and tests). */
  readonly timeS: number;
  readonly event: HistoryEvent;
}

/** ids.md §4: a Data Corruption event has sequence number 0xFFFFFFFF. */
export const DATA_CORRUPTION_SEQ = 0xffffffff;
/** The largest group: a whole 24-block profile plus its Reference Time, with room to spare. */
export const MAX_GROUP_RECORDS = 32;
/** ids.md §4: Reference Time at least every 65535 s; hourly keeps offsets small. */
export const DEFAULT_REFERENCE_PERIOD_S = 3_600;
export const HISTORY_ENTRY_VERSION = 1;
export const HISTORY_ENTRY_HEADER_BYTES = 12;
const DELETE_MARK_VERSION = 1;
const MAX_SEQ = 0xfffffffe;

/** Recording Reason (ids.md §5). */
export const RECORDING_REASON = { undetermined: 0x0f, setDateTime: 0x33, periodic: 0x3c, dateTimeLoss: 0x55 } as const;

/** Date Time, Time Zone, DST Offset of a Reference Time event (GSS; ids.md §4). */
export interface HistoryDateTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hours: number;
  readonly minutes: number;
  readonly seconds: number;
  readonly timeZone: number;
  readonly dstOffset: number;
}
/** Year 0 = unknown, time zone −128 = unknown, DST 255 = unknown. */
export const UNKNOWN_DATE_TIME: HistoryDateTime = { year: 0, month: 0, day: 0, hours: 0, minutes: 0, seconds: 0, timeZone: -128, dstOffset: 255 };

const BY_CODE = new Map<number, HistoryEventName>(Object.entries(HISTORY_EVENTS).map(([name, l]) => [l.code, name as HistoryEventName]));

// ─── encoding ────────────────────────────────────────────────────────────────────────────────

export type HistoryErrorCode = 'invalid-event' | 'group-size' | 'time' | 'exhausted' | RecordStoreErrorCode;
export type HistoryResult<T> = { ok: true; value: T } | { ok: false; code: HistoryErrorCode; detail?: string };

const layoutOf = (name: HistoryEventName): Layout => HISTORY_EVENTS[name] as Layout;

function recordBytes(event: HistoryEvent): number | string {
  const layout = layoutOf(event.type);
  const values = event as unknown as Record<string, unknown>;
  let n = 3;
  const check = (name: string, kind: FieldKind, v: unknown): string | undefined => {
    const [lo, hi] = KIND_RANGE[kind];
    return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? undefined : `${event.type}.${name} = ${String(v)} is not a ${kind}`;
  };
  for (const [name, kind] of Object.entries(layout.fields)) {
    const bad = check(name, kind, values[name]);
    if (bad !== undefined) return bad;
    n += KIND_BYTES[kind];
  }
  for (const [name, kind] of Object.entries(layout.optional ?? {})) {
    if (values[name] === undefined) continue;
    const bad = check(name, kind, values[name]);
    if (bad !== undefined) return bad;
    n += KIND_BYTES[kind];
  }
  return n;
}

function writeField(view: DataView, at: number, kind: FieldKind, v: number): number {
  if (kind === 'u8') view.setUint8(at, v);
  else if (kind === 's8') view.setInt8(at, v);
  else if (kind === 'u16') view.setUint16(at, v, true);
  else if (kind === 's16') view.setInt16(at, v, true);
  else view.setUint32(at, v, true);
  return at + KIND_BYTES[kind];
}

function readField(view: DataView, at: number, kind: FieldKind): number {
  if (kind === 'u8') return view.getUint8(at);
  if (kind === 's8') return view.getInt8(at);
  if (kind === 'u16') return view.getUint16(at, true);
  if (kind === 's16') return view.getInt16(at, true);
  return view.getUint32(at, true);
}

export interface HistoryGroup {
  readonly firstSeq: number;
  readonly timeS: number;
  readonly relativeOffsetS: number;
  readonly events: readonly HistoryEvent[];
}

/** One log entry (format in the header). Refuses events whose fields do not fit their layout. */
export function encodeHistoryGroup(group: HistoryGroup): HistoryResult<Uint8Array> {
  const { events } = group;
  if (events.length < 1 || events.length > MAX_GROUP_RECORDS) return { ok: false, code: 'group-size', detail: `${events.length} records` };
  let total = HISTORY_ENTRY_HEADER_BYTES;
  for (const e of events) {
    if (BY_CODE.get(HISTORY_EVENTS[e.type]?.code) !== e.type) return { ok: false, code: 'invalid-event', detail: `unknown event ${String(e.type)}` };
    const n = recordBytes(e);
    if (typeof n === 'string') return { ok: false, code: 'invalid-event', detail: n };
    total += n;
  }
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, HISTORY_ENTRY_VERSION);
  view.setUint8(1, events.length);
  view.setUint32(2, group.firstSeq, true);
  view.setUint32(6, group.timeS, true);
  view.setUint16(10, group.relativeOffsetS, true);
  let at = HISTORY_ENTRY_HEADER_BYTES;
  for (const e of events) {
    const layout = layoutOf(e.type);
    const values = e as unknown as Record<string, number | undefined>;
    view.setUint16(at, layout.code, true);
    const presentAt = at + 2;
    at += 3;
    for (const [name, kind] of Object.entries(layout.fields)) at = writeField(view, at, kind, values[name]!);
    let present = 0;
    Object.entries(layout.optional ?? {}).forEach(([name, kind], i) => {
      const v = values[name];
      if (v === undefined) return;
      present |= 1 << i;
      at = writeField(view, at, kind, v);
    });
    view.setUint8(presentAt, present);
  }
  return { ok: true, value: bytes };
}

export function decodeHistoryGroup(bytes: Uint8Array): { ok: true; value: HistoryGroup } | { ok: false; code: 'malformed'; detail: string } {
  const bad = (detail: string) => ({ ok: false as const, code: 'malformed' as const, detail });
  if (bytes.length < HISTORY_ENTRY_HEADER_BYTES) return bad(`${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(0) !== HISTORY_ENTRY_VERSION) return bad(`version ${view.getUint8(0)}`);
  const count = view.getUint8(1);
  if (count < 1 || count > MAX_GROUP_RECORDS) return bad(`count ${count}`);
  const firstSeq = view.getUint32(2, true);
  if (firstSeq + count - 1 > MAX_SEQ) return bad(`seq ${firstSeq}`);
  const events: HistoryEvent[] = [];
  let at = HISTORY_ENTRY_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + 3 > bytes.length) return bad(`record ${i} truncated`);
    const code = view.getUint16(at, true);
    const name = BY_CODE.get(code);
    if (name === undefined) return bad(`event type 0x${code.toString(16)}`);
    const layout = layoutOf(name);
    const present = view.getUint8(at + 2);
    const optional = Object.entries(layout.optional ?? {});
    if (present >> optional.length !== 0) return bad(`record ${i}: presence 0x${present.toString(16)}`);
    at += 3;
    const out: Record<string, unknown> = { type: name };
    const fields: Array<[string, FieldKind]> = [...Object.entries(layout.fields), ...optional.filter((_, j) => (present >> j) & 1)];
    for (const [f, kind] of fields) {
      if (at + KIND_BYTES[kind] > bytes.length) return bad(`record ${i} truncated`);
      out[f] = readField(view, at, kind);
      at += KIND_BYTES[kind];
    }
    events.push(out as unknown as HistoryEvent);
  }
  if (at !== bytes.length) return bad(`${bytes.length - at} trailing bytes`);
  return { ok: true, value: { firstSeq, timeS: view.getUint32(6, true), relativeOffsetS: view.getUint16(10, true), events } };
}

// ─── RACP (ids.md §4 IDD RACP, Tables 3.24–3.27) ──────────────────────────────────────────────

export type RacpFilter = 'seq' | 'seq-reference-time' | 'seq-other';
export type RacpQuery =
  | { readonly operator: 'all' }
  | { readonly operator: 'first' }
  | { readonly operator: 'last' }
  | { readonly operator: 'lte'; readonly filter: RacpFilter; readonly maxSeq: number }
  | { readonly operator: 'gte'; readonly filter: RacpFilter; readonly minSeq: number }
  | { readonly operator: 'range'; readonly filter: RacpFilter; readonly minSeq: number; readonly maxSeq: number };

/** RACP Response Code Values (Table 3.27), plus the ATT-level "procedure already in progress" (0xFE). */
export type RacpResponseCode =
  | 'success'
  | 'invalid-operator'
  | 'operator-not-supported'
  | 'invalid-operand'
  | 'no-records-found'
  | 'abort-unsuccessful'
  | 'procedure-not-completed'
  | 'operand-not-supported'
  | 'procedure-not-applicable'
  | 'procedure-already-in-progress';

export type RacpAnswer<T> = { readonly ok: true; readonly code: 'success'; readonly value: T } | { readonly ok: false; readonly code: Exclude<RacpResponseCode, 'success'>; readonly detail?: string };

const racpFail = (code: Exclude<RacpResponseCode, 'success'>, detail?: string): RacpAnswer<never> => (detail === undefined ? { ok: false, code } : { ok: false, code, detail });
const racpOk = <T>(value: T): RacpAnswer<T> => ({ ok: true, code: 'success', value });
const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

function filterMatches(filter: RacpFilter, r: HistoryRecord): boolean {
  if (filter === 'seq') return true;
  const isReference = r.event.type === 'referenceTime';
  return filter === 'seq-reference-time' ? isReference : !isReference;
}

/**
 * The records a query selects, oldest first (ids.md §4: "sent oldest first"). Pure, so the RACP
 * layer and tests can use it on any list. Data Corruption records (seq 0xFFFFFFFF) only match All.
 */
export function selectRecords(records: readonly HistoryRecord[], query: RacpQuery): RacpAnswer<HistoryRecord[]> {
  const real = records.filter((r) => r.seq !== DATA_CORRUPTION_SEQ);
  switch (query.operator) {
    case 'all':
      return racpOk([...records]);
    case 'first':
      return racpOk(real.slice(0, 1));
    case 'last':
      return racpOk(real.slice(-1));
    case 'lte':
      if (!isU32(query.maxSeq)) return racpFail('invalid-operand', `max ${query.maxSeq}`);
      return racpOk(real.filter((r) => r.seq <= query.maxSeq && filterMatches(query.filter, r)));
    case 'gte':
      if (!isU32(query.minSeq)) return racpFail('invalid-operand', `min ${query.minSeq}`);
      return racpOk(real.filter((r) => r.seq >= query.minSeq && filterMatches(query.filter, r)));
    case 'range':
      if (!isU32(query.minSeq) || !isU32(query.maxSeq) || query.minSeq > query.maxSeq) return racpFail('invalid-operand', `range ${query.minSeq}..${query.maxSeq}`);
      return racpOk(real.filter((r) => r.seq >= query.minSeq && r.seq <= query.maxSeq && filterMatches(query.filter, r)));
    default:
      return racpFail('operator-not-supported', `operator ${String((query as { operator: unknown }).operator)}`);
  }
}

/** A Report Stored Records transfer in progress: one History Data notification per `next()`. */
export interface HistoryReport {
  /** The next record to notify, or undefined when the transfer is complete (answer: Success). */
  next(): HistoryRecord | undefined;
  readonly remaining: number;
}

// ─── the history on the device ──────────────────────────────────────────────────────────────

export interface HistoryOptions {
  readonly store: RecordStore;
  /** The device clock (an Alarm will do): each group is stamped with it. */
  readonly clock: { nowUs(): number };
  /** The pump's calendar for Reference Time events; unknown (year 0) when absent. */
  readonly dateTime?: () => HistoryDateTime | undefined;
  /** Reference Time at least this often, s (≤ 65535; ids.md §4). */
  readonly referencePeriodS?: number;
}

/**
 * The pump's history. Appends go to the record store's ring log one group per entry; the ring
 * drops the oldest entries when flash is needed and always keeps the newest, whose sequence numbers
 * the next boot continues from. A power cut leaves an append whole or absent (the store's commit).
 */
export class History {
  private nextSeqValue = 0;
  /** Device time of the last Reference Time, s; undefined before the first. */
  private referenceS: number | undefined;
  private lastTimeS: number | undefined;
  private firstKeptSeq = 0;
  private report: { records: HistoryRecord[]; index: number } | undefined;

  private constructor(private readonly opts: HistoryOptions) {}

  static open(opts: HistoryOptions): History {
    const h = new History(opts);
    h.resync();
    return h;
  }

  /** The sequence number the next record gets. */
  get nextSeq(): number {
    return this.nextSeqValue;
  }

  /** Records below this are deleted (RACP Delete). */
  get deletedBelowSeq(): number {
    return this.firstKeptSeq;
  }

  append(event: HistoryEvent): HistoryResult<number> {
    const r = this.appendGroup([event]);
    return r.ok ? { ok: true, value: r.value[r.value.length - 1]! } : r;
  }

  /**
   * Append a compound group (ids.md §4 Table 3.28) atomically; the value is each record's sequence
   * number. A Reference Time record is put in front when none was recorded yet, when the clock went
   * back (a reset: reason Date Time Loss) or when the last is older than the reference period.
   */
  appendGroup(events: readonly HistoryEvent[]): HistoryResult<number[]> {
    const nowUs = this.opts.clock.nowUs();
    if (!Number.isSafeInteger(nowUs) || nowUs < 0 || nowUs / 1e6 > 0xffffffff) return { ok: false, code: 'time', detail: `device time ${nowUs} µs` };
    const nowS = Math.floor(nowUs / 1e6);
    const period = Math.min(this.opts.referencePeriodS ?? DEFAULT_REFERENCE_PERIOD_S, 0xffff);
    let group = [...events];
    let referenceS = this.referenceS;
    if (group[0]?.type === 'referenceTime') referenceS = nowS;
    else {
      const reason =
        referenceS === undefined || this.lastTimeS === undefined
          ? RECORDING_REASON.undetermined
          : nowS < this.lastTimeS
            ? RECORDING_REASON.dateTimeLoss
            : nowS - referenceS >= period
              ? RECORDING_REASON.periodic
              : undefined;
      if (reason !== undefined) {
        group = [{ type: 'referenceTime', recordingReason: reason, ...(this.opts.dateTime?.() ?? UNKNOWN_DATE_TIME) }, ...group];
        referenceS = nowS;
      }
    }
    const firstSeq = this.nextSeqValue;
    if (firstSeq + group.length - 1 > MAX_SEQ) return { ok: false, code: 'exhausted', detail: 'history sequence numbers exhausted' };
    const encoded = encodeHistoryGroup({ firstSeq, timeS: nowS, relativeOffsetS: nowS - referenceS!, events: group });
    if (!encoded.ok) return encoded;
    const stored = this.opts.store.append(STORE_LOGS.pumpHistory, encoded.value);
    if (!stored.ok) {
      this.resync(); // the store re-read flash after a failed write: follow it
      return stored.detail === undefined ? { ok: false, code: stored.code } : { ok: false, code: stored.code, detail: stored.detail };
    }
    this.nextSeqValue = firstSeq + group.length;
    this.referenceS = referenceS;
    this.lastTimeS = nowS;
    return { ok: true, value: group.map((_, i) => firstSeq + i) };
  }

  /** Every record not deleted, oldest first; an unreadable entry reads as one Data Corruption record. */
  records(): HistoryRecord[] {
    const out: HistoryRecord[] = [];
    for (const entry of this.opts.store.readLog(STORE_LOGS.pumpHistory)) {
      const g = decodeHistoryGroup(entry.value);
      if (!g.ok) {
        out.push({ seq: DATA_CORRUPTION_SEQ, relativeOffsetS: 0, timeS: 0, event: { type: 'dataCorruption' } });
        continue;
      }
      if (g.value.firstSeq < this.firstKeptSeq) continue; // deleted (Delete never splits a group)
      g.value.events.forEach((event, i) => out.push({ seq: g.value.firstSeq + i, relativeOffsetS: g.value.relativeOffsetS, timeS: g.value.timeS, event }));
    }
    return out;
  }

  // RACP procedures (ids.md §4). The one-procedure-at-a-time rule across CPs is the caller's.

  /** Report Number of Stored Records: 0 when none match (answered as `66 0F 00 00 00 00`). */
  count(query: RacpQuery): RacpAnswer<number> {
    const r = selectRecords(this.records(), query);
    return r.ok ? racpOk(r.value.length) : r;
  }

  /** Report Stored Records: a transfer to drain with next(); the records are copied now. */
  startReport(query: RacpQuery): RacpAnswer<HistoryReport> {
    if (this.report !== undefined) return racpFail('procedure-already-in-progress');
    const r = selectRecords(this.records(), query);
    if (!r.ok) return r;
    if (r.value.length === 0) return racpFail('no-records-found');
    const state = { records: r.value, index: 0 };
    this.report = state;
    const history = this;
    return racpOk({
      next() {
        if (history.report !== state) return undefined;
        const rec = state.records[state.index++];
        if (rec === undefined || state.index >= state.records.length) history.report = undefined;
        return rec;
      },
      get remaining() {
        return history.report === state ? state.records.length - state.index : 0;
      },
    });
  }

  /** Abort Operation: ends a running report (Success, even when nothing ran). */
  abort(): RacpAnswer<{ readonly aborted: boolean }> {
    const aborted = this.report !== undefined;
    this.report = undefined;
    return racpOk({ aborted });
  }

  /** A transfer cut short by a link loss or timeout (answer: Procedure not completed). */
  interruptReport(): RacpResponseCode {
    if (this.report === undefined) return 'success';
    this.report = undefined;
    return 'procedure-not-completed';
  }

  get reportRunning(): boolean {
    return this.report !== undefined;
  }

  /** Delete Stored Records (what is supported: see the header). The value is the number deleted. */
  delete(query: RacpQuery): RacpAnswer<number> {
    if (this.report !== undefined) return racpFail('procedure-already-in-progress');
    const records = this.records().filter((r) => r.seq !== DATA_CORRUPTION_SEQ);
    const oldest = records[0]?.seq;
    let firstKept: number;
    switch (query.operator) {
      case 'all':
        firstKept = this.nextSeqValue;
        break;
      case 'first':
        firstKept = oldest === undefined ? this.firstKeptSeq : oldest + 1;
        break;
      case 'lte':
      case 'range': {
        if (query.filter !== 'seq') return racpFail('operand-not-supported', 'delete filters only by sequence number');
        const sel = selectRecords(records, query);
        if (!sel.ok) return sel;
        if (query.operator === 'range' && oldest !== undefined && query.minSeq > oldest && sel.value.length > 0) {
          return racpFail('procedure-not-applicable', `range starts above the oldest record ${oldest}: the ring cannot leave a hole`);
        }
        firstKept = Math.min(query.maxSeq + 1, this.nextSeqValue);
        break;
      }
      default:
        return racpFail('operator-not-supported', `delete with ${query.operator}`);
    }
    const doomed = records.filter((r) => r.seq < firstKept).length;
    if (doomed === 0) return racpFail('no-records-found');
    if (this.splitsGroup(firstKept)) return racpFail('procedure-not-applicable', `deleting below ${firstKept} splits a group`);
    const mark = new Uint8Array(5);
    const view = new DataView(mark.buffer);
    view.setUint8(0, DELETE_MARK_VERSION);
    view.setUint32(1, firstKept, true);
    const r = this.opts.store.put(STORE_KEYS.pumpHistoryDeleted, mark);
    if (!r.ok) {
      this.resync();
      return racpFail('procedure-not-completed', `${r.code}${r.detail === undefined ? '' : `: ${r.detail}`}`);
    }
    this.firstKeptSeq = firstKept;
    return racpOk(doomed);
  }

  private splitsGroup(firstKept: number): boolean {
    for (const entry of this.opts.store.readLog(STORE_LOGS.pumpHistory)) {
      const g = decodeHistoryGroup(entry.value);
      if (g.ok && g.value.firstSeq < firstKept && firstKept < g.value.firstSeq + g.value.events.length) return true;
    }
    return false;
  }

  /** Rebuild the RAM view from the store (boot, or after a failed write). */
  private resync(): void {
    const mark = this.opts.store.get(STORE_KEYS.pumpHistoryDeleted);
    this.firstKeptSeq = 0;
    if (mark !== undefined && mark.length === 5 && mark[0] === DELETE_MARK_VERSION) {
      this.firstKeptSeq = new DataView(mark.buffer, mark.byteOffset, mark.byteLength).getUint32(1, true);
    }
    const entries = this.opts.store.readLog(STORE_LOGS.pumpHistory);
    let next = 0;
    this.referenceS = undefined;
    this.lastTimeS = undefined;
    for (let i = entries.length - 1; i >= 0; i--) {
      const g = decodeHistoryGroup(entries[i]!.value);
      if (!g.ok) continue;
      next = g.value.firstSeq + g.value.events.length;
      // An unreadable newer entry may have used numbers: skip past anything it could have held (gaps are allowed, §3.10.4.2).
      if (i !== entries.length - 1) next += (entries.length - 1 - i) * MAX_GROUP_RECORDS;
      this.referenceS = g.value.timeS - g.value.relativeOffsetS;
      this.lastTimeS = g.value.timeS;
      break;
    }
    this.nextSeqValue = Math.max(next, this.firstKeptSeq);
  }
}
