// The pump's profile templates — basal rate, ISF, I2CHO ratio, target glucose range (ids.md §3.1, §4 "Get Template
// Status", §7 "Transactions"): template numbers, the IDS write transaction, configured/active status, persisted in the record store.
// Not delivery (basal-schedule.ts and delivery-port.ts follow the active basal template), nor roles, hard limits or the
// therapy gate (ids-commands.ts checks those before a record gets here), nor the byte codec (ids/).
//
// Template numbers are unique across types (ids.md §4: each type owns Start … Start+N−1):
//   basal 1–3, ISF 4–6, I2CHO 7–9, target glucose range 10–12; every one configurable, up to
//   MAX_TIME_BLOCKS (24) time blocks each. TBR and bolus templates are not supported.
//
// The write transaction (ids.md §7, IDS §3.11.2, §3.7.2.1.2), one at a time:
//   - each record: template number in its type's range and First TB Index ≥ 1 with the record's
//     last block ≤ 24, else 0x73 'parameter-out-of-range'; a record for another template number
//     than the open transaction's, a block index already received, or a block of 0 min → 0x75
//     'plausibility-check-failed'; a value the type cannot hold (ISF/I2CHO 0, a glucose limit 0)
//     → 0x73, a glucose range lower > upper → 0x75;
//   - records may come in any order (IDS forbids repeats and, at the end, gaps; not disorder);
//   - End Transaction: indices 1..n with no gap and durations summing to 1440 min, else 0x75;
//     the template is stored (a failed store → 0x72 'procedure-not-completed') and Configured.
//   - any refusal, and any other CP procedure (the caller calls `abandon()`), discards the whole
//     open transaction; completed templates stay (ids.md §7).
//   A transaction lives in RAM only: a reboot abandons it (IDP §4.15.4.1 abandons it on a timeout).
//
// Records (little-endian) — one key per template, STORE_KEYS.pumpProfileTemplateBase + number:
//   +0 version u8 = 1 | +1 template number u8 | +2 block count u8 (1..24)
//   then per block: duration u16 min | value u32 (basal mU/h, ISF 0.001 mg/dL/IU, I2CHO 0.001 g/IU)
//                   or, for target glucose, lower u32 | upper u32 (0.001 mg/dL)
// and the active template of each type, STORE_KEYS.pumpActiveProfileTemplates:
//   +0 version u8 = 1 | basal u8 | ISF u8 | I2CHO u8 | target glucose u8   (0 = none active)
// A record that does not decode (or names the wrong template) is ignored at open and counted in
// `corruptRecords`: the template reads as not configured rather than as something nobody wrote.

import type { RecordStore } from '../../src/storage/record-store.ts';
import { STORE_KEYS } from '../../src/firmware/store-keys.ts';
import type { GlucoseRangeBlock, ProfileBlock, ProfileWrite, TemplateStatus } from './ids/command-cp.ts';
import type { TemplateType } from './ids/enums.ts';

export type ProfileKind = 'basal' | 'isf' | 'i2cho' | 'targetGlucose';
export const PROFILE_KINDS: readonly ProfileKind[] = ['basal', 'isf', 'i2cho', 'targetGlucose'];

/** Blocks of each kind: a value block, or a lower/upper range block for target glucose. */
export type BlockOf<K extends ProfileKind> = K extends 'targetGlucose' ? GlucoseRangeBlock : ProfileBlock;
export type AnyBlock = ProfileBlock | GlucoseRangeBlock;

/** The template numbers each kind owns (ids.md §4: unique across types). */
export const TEMPLATE_RANGES: Readonly<Record<ProfileKind, { readonly first: number; readonly count: number }>> = {
  basal: { first: 1, count: 3 },
  isf: { first: 4, count: 3 },
  i2cho: { first: 7, count: 3 },
  targetGlucose: { first: 10, count: 3 },
};
/** Max Supported Time Blocks of every profile template (Get Template Status and Details). */
export const MAX_TIME_BLOCKS = 24;
/** A profile covers one day (ids.md §7: durations sum to 1440 min). */
export const MINUTES_PER_DAY = 1_440;

/** Template Type of Get Template Status and Details (ids.md §5 "Template Type — Command Data"). */
export const TEMPLATE_TYPE_OF: Readonly<Record<ProfileKind, TemplateType>> = {
  basal: 'basalRateProfile',
  isf: 'isfProfile',
  i2cho: 'i2choRatioProfile',
  targetGlucose: 'targetGlucoseRangeProfile',
};

export const PROFILE_TEMPLATE_RECORD_VERSION = 1;
const MAX_U32 = 0xffffffff;

export type TemplateRefusalCode = 'parameter-out-of-range' | 'plausibility-check-failed' | 'procedure-not-completed' | 'procedure-not-applicable';
export type TemplateFailure = { readonly ok: false; readonly code: TemplateRefusalCode; readonly detail: string };
/** A record accepted: the transaction goes on (`completed` false) or the template is stored (`completed` true). */
export type TemplateWriteResult<B extends AnyBlock = AnyBlock> =
  | { readonly ok: true; readonly completed: false }
  | { readonly ok: true; readonly completed: true; readonly templateNumber: number; readonly blocks: readonly B[] }
  | TemplateFailure;
export type TemplateResult = { readonly ok: true } | TemplateFailure;

const refuse = (code: TemplateRefusalCode, detail: string): TemplateFailure => ({ ok: false, code, detail });

/** The kind that owns `templateNumber`, or undefined (no such template on this pump). */
export function kindOfTemplate(templateNumber: number): ProfileKind | undefined {
  return PROFILE_KINDS.find((k) => templateNumber >= TEMPLATE_RANGES[k].first && templateNumber < TEMPLATE_RANGES[k].first + TEMPLATE_RANGES[k].count);
}

const isRange = (b: AnyBlock): b is GlucoseRangeBlock => 'lowerMilli' in b;

/** A block's value fault for its kind: [code, detail], or undefined. */
function valueFault(kind: ProfileKind, b: AnyBlock): [TemplateRefusalCode, string] | undefined {
  if (!Number.isInteger(b.durationMinutes) || b.durationMinutes < 1 || b.durationMinutes > MINUTES_PER_DAY) return ['plausibility-check-failed', `a block of ${b.durationMinutes} min`];
  if (kind === 'targetGlucose') {
    if (!isRange(b)) return ['plausibility-check-failed', 'a target glucose block without a range'];
    if (!isU32(b.lowerMilli) || !isU32(b.upperMilli) || b.lowerMilli === 0) return ['parameter-out-of-range', `glucose range ${b.lowerMilli}..${b.upperMilli}`];
    if (b.lowerMilli > b.upperMilli) return ['plausibility-check-failed', `glucose range lower ${b.lowerMilli} > upper ${b.upperMilli}`];
    return undefined;
  }
  if (isRange(b)) return ['plausibility-check-failed', 'a range block in a value template'];
  if (!isU32(b.valueMilli)) return ['parameter-out-of-range', `value ${b.valueMilli}`];
  // A basal block may be 0 U/h (a pause in the profile); an ISF or I2CHO of 0 means nothing.
  if (kind !== 'basal' && b.valueMilli === 0) return ['parameter-out-of-range', `${kind} value 0`];
  return undefined;
}

const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= MAX_U32;

// ─── records ────────────────────────────────────────────────────────────────────────────────

export function encodeTemplateRecord(templateNumber: number, blocks: readonly AnyBlock[]): Uint8Array {
  const range = blocks.length > 0 && isRange(blocks[0]!);
  const per = range ? 10 : 6;
  const out = new Uint8Array(3 + per * blocks.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, PROFILE_TEMPLATE_RECORD_VERSION);
  v.setUint8(1, templateNumber);
  v.setUint8(2, blocks.length);
  blocks.forEach((b, i) => {
    const o = 3 + i * per;
    v.setUint16(o, b.durationMinutes, true);
    if (isRange(b)) {
      v.setUint32(o + 2, b.lowerMilli, true);
      v.setUint32(o + 6, b.upperMilli, true);
    } else v.setUint32(o + 2, b.valueMilli, true);
  });
  return out;
}

/** The blocks of a template record, or undefined when it does not decode as a whole day of `templateNumber`. */
export function decodeTemplateRecord(templateNumber: number, bytes: Uint8Array): AnyBlock[] | undefined {
  const kind = kindOfTemplate(templateNumber);
  if (kind === undefined || bytes.length < 3) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getUint8(2);
  const per = kind === 'targetGlucose' ? 10 : 6;
  if (v.getUint8(0) !== PROFILE_TEMPLATE_RECORD_VERSION || v.getUint8(1) !== templateNumber || n < 1 || n > MAX_TIME_BLOCKS || bytes.length !== 3 + n * per) return undefined;
  const blocks: AnyBlock[] = [];
  for (let i = 0; i < n; i++) {
    const o = 3 + i * per;
    const durationMinutes = v.getUint16(o, true);
    blocks.push(kind === 'targetGlucose' ? { durationMinutes, lowerMilli: v.getUint32(o + 2, true), upperMilli: v.getUint32(o + 6, true) } : { durationMinutes, valueMilli: v.getUint32(o + 2, true) });
  }
  if (blocks.some((b) => valueFault(kind, b) !== undefined) || blocks.reduce((s, b) => s + b.durationMinutes, 0) !== MINUTES_PER_DAY) return undefined;
  return blocks;
}

// ─── the templates ──────────────────────────────────────────────────────────────────────────

interface Transaction {
  readonly kind: ProfileKind;
  readonly templateNumber: number;
  /** Time block index (1-based) → block. */
  readonly blocks: Map<number, AnyBlock>;
}

export interface ProfileTemplatesOptions {
  readonly store: RecordStore;
}

export class ProfileTemplates {
  private readonly store: RecordStore;
  private readonly templates = new Map<number, readonly AnyBlock[]>();
  private readonly active: Record<ProfileKind, number> = { basal: 0, isf: 0, i2cho: 0, targetGlucose: 0 };
  private open: Transaction | undefined;
  /** Records found at open that did not decode (ignored: those templates read as not configured). */
  readonly corruptRecords: number;

  static open(opts: ProfileTemplatesOptions): ProfileTemplates {
    return new ProfileTemplates(opts.store);
  }

  private constructor(store: RecordStore) {
    this.store = store;
    let corrupt = 0;
    for (const kind of PROFILE_KINDS) {
      const { first, count } = TEMPLATE_RANGES[kind];
      for (let n = first; n < first + count; n++) {
        const raw = store.get(STORE_KEYS.pumpProfileTemplateBase + n);
        if (raw === undefined) continue;
        const blocks = decodeTemplateRecord(n, raw);
        if (blocks === undefined) corrupt++;
        else this.templates.set(n, blocks);
      }
    }
    const act = store.get(STORE_KEYS.pumpActiveProfileTemplates);
    if (act !== undefined) {
      if (act.length === 1 + PROFILE_KINDS.length && act[0] === PROFILE_TEMPLATE_RECORD_VERSION) {
        PROFILE_KINDS.forEach((kind, i) => {
          const n = act[1 + i]!;
          // An active number must name a configured template of its own kind.
          if (n === 0 || (kindOfTemplate(n) === kind && this.templates.has(n))) this.active[kind] = n;
          else corrupt++;
        });
      } else corrupt++;
    }
    this.corruptRecords = corrupt;
  }

  // ─── reads ──────────────────────────────────────────────────────────────────────────────

  /** The blocks of a configured template, in time-block order; undefined when not configured. */
  get(templateNumber: number): readonly AnyBlock[] | undefined {
    return this.templates.get(templateNumber);
  }

  /** A configured basal template's blocks (mU/h values). */
  basal(templateNumber: number): readonly ProfileBlock[] | undefined {
    return kindOfTemplate(templateNumber) === 'basal' ? (this.templates.get(templateNumber) as readonly ProfileBlock[] | undefined) : undefined;
  }

  /** The active template of `kind`; 0 = none. */
  activeOf(kind: ProfileKind): number {
    return this.active[kind];
  }

  /** Every active template number, basal first (Get Activated Profile Templates). */
  activeNumbers(): number[] {
    return PROFILE_KINDS.map((k) => this.active[k]).filter((n) => n !== 0);
  }

  /** Configurable / configured per template of `kind`, in number order (Get Template Status and Details). */
  status(kind: ProfileKind): TemplateStatus[] {
    const { first, count } = TEMPLATE_RANGES[kind];
    return Array.from({ length: count }, (_, i) => ({ configurable: true, configured: this.templates.has(first + i) }));
  }

  get transactionOpen(): boolean {
    return this.open !== undefined;
  }

  /** The kind of the open transaction (the caller keeps other procedures from interleaving). */
  get transactionKind(): ProfileKind | undefined {
    return this.open?.kind;
  }

  // ─── writes ─────────────────────────────────────────────────────────────────────────────

  /** Discard the open transaction (any other CP procedure arrived, ids.md §7). */
  abandon(): void {
    this.open = undefined;
  }

  /** One Write … Profile Template record (see the header for every check). Any refusal discards the transaction. */
  write<K extends ProfileKind>(kind: K, record: ProfileWrite<BlockOf<K>>): TemplateWriteResult<BlockOf<K>> {
    const r = this.writeRecord(kind, record);
    if (!r.ok) this.open = undefined;
    return r as TemplateWriteResult<BlockOf<K>>;
  }

  /** Make `templateNumber` the active template of its kind (persisted). The caller checks limits and the therapy gate. */
  activate(templateNumber: number): TemplateResult {
    const kind = kindOfTemplate(templateNumber);
    // ids.md §3.3 0x74: "Activate naming an invalid or unconfigured template".
    if (kind === undefined || !this.templates.has(templateNumber)) return refuse('procedure-not-applicable', `template ${templateNumber} is not configured`);
    const before = this.active[kind];
    this.active[kind] = templateNumber;
    const w = this.persistActive();
    if (!w.ok) this.active[kind] = before;
    return w;
  }

  /**
   * Reset Template Status (ids.md §3.3: 0x74 for an invalid, unconfigured or currently activated
   * template; all or nothing, §3.7.2.18): the named templates are no longer configured.
   */
  reset(templateNumbers: readonly number[]): TemplateResult {
    for (const n of templateNumbers) {
      const kind = kindOfTemplate(n);
      if (kind === undefined || !this.templates.has(n)) return refuse('procedure-not-applicable', `template ${n} is not configured`);
      if (this.active[kind] === n) return refuse('procedure-not-applicable', `template ${n} is active`);
    }
    for (const n of new Set(templateNumbers)) {
      const d = this.store.delete(STORE_KEYS.pumpProfileTemplateBase + n);
      // Deleted ones before a failure stay deleted: the store cannot undo; say what happened.
      if (!d.ok) return refuse('procedure-not-completed', `template ${n}: ${d.code}`);
      this.templates.delete(n);
    }
    return { ok: true };
  }

  private writeRecord(kind: ProfileKind, record: ProfileWrite<AnyBlock>): TemplateWriteResult {
    const { first, count } = TEMPLATE_RANGES[kind];
    const { templateNumber: n, firstTimeBlockIndex: index, blocks } = record;
    if (n < first || n >= first + count) return refuse('parameter-out-of-range', `template ${n} is not a ${kind} template (${first}..${first + count - 1})`);
    if (index < 1 || index + blocks.length - 1 > MAX_TIME_BLOCKS) return refuse('parameter-out-of-range', `time blocks ${index}..${index + blocks.length - 1} outside 1..${MAX_TIME_BLOCKS}`);
    // Only one transaction at a time: another kind's write is another procedure (discards the old one).
    if (this.open !== undefined && this.open.kind !== kind) this.open = undefined;
    const t: Transaction = this.open ?? { kind, templateNumber: n, blocks: new Map() };
    if (t.templateNumber !== n) return refuse('plausibility-check-failed', `template ${n} in a transaction for template ${t.templateNumber}`);
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!;
      if (t.blocks.has(index + i)) return refuse('plausibility-check-failed', `time block ${index + i} repeated`);
      const f = valueFault(kind, b);
      if (f !== undefined) return refuse(f[0], `time block ${index + i}: ${f[1]}`);
      t.blocks.set(index + i, b);
    }
    this.open = t;
    if (!record.endTransaction) return { ok: true, completed: false };
    this.open = undefined;
    const ordered: AnyBlock[] = [];
    for (let i = 1; i <= t.blocks.size; i++) {
      const b = t.blocks.get(i);
      if (b === undefined) return refuse('plausibility-check-failed', `time block ${i} missing (a gap)`);
      ordered.push(b);
    }
    const minutes = ordered.reduce((s, b) => s + b.durationMinutes, 0);
    if (minutes !== MINUTES_PER_DAY) return refuse('plausibility-check-failed', `time blocks cover ${minutes} min, not ${MINUTES_PER_DAY}`);
    const w = this.store.put(STORE_KEYS.pumpProfileTemplateBase + n, encodeTemplateRecord(n, ordered));
    if (!w.ok) return refuse('procedure-not-completed', `template ${n} not stored: ${w.code}`);
    this.templates.set(n, ordered);
    return { ok: true, completed: true, templateNumber: n, blocks: ordered };
  }

  private persistActive(): TemplateResult {
    const w = this.store.put(STORE_KEYS.pumpActiveProfileTemplates, Uint8Array.of(PROFILE_TEMPLATE_RECORD_VERSION, ...PROFILE_KINDS.map((k) => this.active[k])));
    return w.ok ? { ok: true } : refuse('procedure-not-completed', `active templates not stored: ${w.code}`);
  }
}
