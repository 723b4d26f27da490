// The pump's annunciations (ids.md §1.3, §5, §7 Snooze/Confirm): instance IDs, Pending → Snoozed → (re-raised) →
// Confirmed, the one IDD Annunciation Status reports, persisted so a reboot keeps every unconfirmed one. Not the byte codec (ids/).
//
// Record (STORE_KEYS.pumpAnnunciations), little-endian, version 1:
//   +0  version         u8  = 1
//   +1  nextInstanceId  u16 the Instance ID the next annunciation gets (1..0xFFFF; 0 is never used)
//   +3  count           u8  unconfirmed annunciations that follow
//   then per annunciation:
//       instanceId u16 | type u16 (IDS value) | status u8 (IDS value: 0x33 Pending, 0x3C Snoozed)
//       | snoozedUntilUs u64 (device time; 0 when Pending) | auxCount u8 (0..5) | auxInfo u16 × auxCount
// Confirmed annunciations leave the record (§3.4: only unconfirmed ones are active).

import type { Alarm, AlarmId } from '../../hal/alarm.ts';
import type { RecordStore, RecordStoreErrorCode } from '../../src/storage/record-store.ts';
import { ANNUNCIATION_STATUS, ANNUNCIATION_TYPE } from './ids/enums.ts';
import { STORE_KEYS } from '../../src/firmware/store-keys.ts';

/** IDS Annunciation Type values (ids.md §5, §4.3.3.1): the codec's table, not a second copy. */
export const ANNUNCIATION_TYPES = ANNUNCIATION_TYPE.codes;

export type AnnunciationType = keyof typeof ANNUNCIATION_TYPES;
export type AnnunciationStatus = 'pending' | 'snoozed' | 'confirmed';

/** IDS Annunciation Status values (ids.md §5, §4.3.5), from the codec's table. */
export const ANNUNCIATION_STATUS_CODES: Readonly<Record<AnnunciationStatus, number>> = {
  pending: ANNUNCIATION_STATUS.codes.pending,
  snoozed: ANNUNCIATION_STATUS.codes.snoozed,
  confirmed: ANNUNCIATION_STATUS.codes.confirmed,
};

/**
 * Which one IDD Annunciation Status shows when several are active (§3.4 leaves the choice to the
 * server, "e.g. the one with the highest priority"): therapy stopped or at risk first, then power,
 * then information. First = highest.
 */
export const ANNUNCIATION_PRIORITY: readonly AnnunciationType[] = [
  'occlusionDetected',
  'reservoirEmpty',
  'batteryEmpty',
  'mechanicalIssue',
  'systemIssue',
  'powerSourceInsufficient',
  'infusionSetDetached',
  'infusionSetIncomplete',
  'primingIssue',
  'reservoirIssue',
  'temperatureOutOfRange',
  'temperature',
  'airPressureOutOfRange',
  'maxDelivery',
  'reservoirLow',
  'batteryLow',
  'dateTimeIssue',
  'bolusCanceled',
  'tbrCanceled',
  'tbrOver',
  'batteryMedium',
  'batteryFull',
];

/** Vendor-chosen snooze time (§7 Snooze): 15 min. */
export const DEFAULT_SNOOZE_US = 15 * 60 * 1_000_000;
/** At most one unconfirmed annunciation per type, so this bounds the record. */
export const MAX_ACTIVE_ANNUNCIATIONS = ANNUNCIATION_PRIORITY.length;
export const MAX_AUX_INFO = 5;
export const ANNUNCIATIONS_RECORD_VERSION = 1;

const BY_CODE = ANNUNCIATION_TYPE.byCode;

export interface Annunciation {
  readonly instanceId: number;
  readonly type: AnnunciationType;
  readonly status: Exclude<AnnunciationStatus, 'confirmed'>;
  /** When a snoozed one comes back as Pending, device time µs; 0 while Pending. */
  readonly snoozedUntilUs: number;
  /** AuxInfo1..5 (§4.3.6, vendor-defined), u16 each. */
  readonly auxInfo: readonly number[];
}

/** What changed, for IDD Status Changed bit 3 and the history (Annunciation Status Changed). */
export interface AnnunciationChange {
  readonly annunciation: Annunciation | (Omit<Annunciation, 'status'> & { readonly status: 'confirmed' });
  readonly cause: 'raised' | 'snoozed' | 're-raised' | 'confirmed';
}

export type AnnunciationRefusal = 'procedure-not-applicable' | 'invalid-operand';

/** A failed flash write: the RAM state still applies (and is shown) until the next reboot. */
export type AnnunciationPersist = { readonly ok: true } | { readonly ok: false; readonly code: RecordStoreErrorCode; readonly detail?: string };

export type AnnunciationResult =
  | { readonly ok: true; readonly value: Annunciation; readonly persisted: AnnunciationPersist }
  | { readonly ok: false; readonly code: AnnunciationRefusal; readonly detail: string };

export type AnnunciationDecodeCode = 'length' | 'version' | 'value';

interface Persisted {
  readonly nextInstanceId: number;
  readonly active: Annunciation[];
}

export function encodeAnnunciations(state: Persisted): Uint8Array {
  let n = 4;
  for (const a of state.active) n += 14 + 2 * a.auxInfo.length;
  const bytes = new Uint8Array(n);
  const v = new DataView(bytes.buffer);
  v.setUint8(0, ANNUNCIATIONS_RECORD_VERSION);
  v.setUint16(1, state.nextInstanceId, true);
  v.setUint8(3, state.active.length);
  let at = 4;
  for (const a of state.active) {
    v.setUint16(at, a.instanceId, true);
    v.setUint16(at + 2, ANNUNCIATION_TYPES[a.type], true);
    v.setUint8(at + 4, ANNUNCIATION_STATUS_CODES[a.status]);
    v.setBigUint64(at + 5, BigInt(a.snoozedUntilUs), true);
    v.setUint8(at + 13, a.auxInfo.length);
    at += 14;
    for (const x of a.auxInfo) {
      v.setUint16(at, x, true);
      at += 2;
    }
  }
  return bytes;
}

export function decodeAnnunciations(bytes: Uint8Array): { ok: true; value: Persisted } | { ok: false; code: AnnunciationDecodeCode; detail: string } {
  const bad = (code: AnnunciationDecodeCode, detail: string) => ({ ok: false as const, code, detail });
  if (bytes.length < 4) return bad('length', `${bytes.length} bytes`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint8(0) !== ANNUNCIATIONS_RECORD_VERSION) return bad('version', `version ${v.getUint8(0)}`);
  const nextInstanceId = v.getUint16(1, true);
  const count = v.getUint8(3);
  if (nextInstanceId === 0 || count > MAX_ACTIVE_ANNUNCIATIONS) return bad('value', `next id ${nextInstanceId}, count ${count}`);
  const active: Annunciation[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 14 > bytes.length) return bad('length', `annunciation ${i} truncated`);
    const instanceId = v.getUint16(at, true);
    const type = BY_CODE.get(v.getUint16(at + 2, true));
    const statusCode = v.getUint8(at + 4);
    const until = v.getBigUint64(at + 5, true);
    const auxCount = v.getUint8(at + 13);
    at += 14;
    const status = statusCode === ANNUNCIATION_STATUS_CODES.pending ? 'pending' : statusCode === ANNUNCIATION_STATUS_CODES.snoozed ? 'snoozed' : undefined;
    if (type === undefined || status === undefined || instanceId === 0 || auxCount > MAX_AUX_INFO || until > BigInt(Number.MAX_SAFE_INTEGER)) {
      return bad('value', `annunciation ${i}`);
    }
    if ((status === 'pending') !== (until === 0n)) return bad('value', `annunciation ${i}: status and snooze deadline disagree`);
    if (at + 2 * auxCount > bytes.length) return bad('length', `annunciation ${i} aux truncated`);
    const auxInfo: number[] = [];
    for (let j = 0; j < auxCount; j++, at += 2) auxInfo.push(v.getUint16(at, true));
    if (active.some((a) => a.instanceId === instanceId || a.type === type)) return bad('value', `annunciation ${i} repeats an id or type`);
    active.push({ instanceId, type, status, snoozedUntilUs: Number(until), auxInfo });
  }
  if (at !== bytes.length) return bad('length', `${bytes.length - at} trailing bytes`);
  return { ok: true, value: { nextInstanceId, active } };
}

export interface AnnunciationsOptions {
  readonly store: RecordStore;
  /** The device's clock and timers: the snooze timer runs on it. */
  readonly alarm: Alarm;
  readonly snoozeUs?: number;
  /** Every change (raise, snooze, re-raise, confirm), after it is on flash. */
  readonly onChange?: (change: AnnunciationChange) => void;
}

export type AnnunciationsBoot =
  | { readonly source: 'fresh' | 'restored' }
  | { readonly source: 'corrupt'; readonly code: AnnunciationDecodeCode; readonly detail: string };

const isU16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;

/**
 * The pump's annunciations: one per device, created at boot from flash. Each change is written
 * before it is announced (onChange) or answered, so an acknowledged Snooze/Confirm and every raised
 * annunciation survive a power cut. At most one unconfirmed annunciation per type: raising a type
 * that is already active returns the active one (a Snoozed one stays snoozed).
 */
export class Annunciations {
  readonly boot: AnnunciationsBoot;
  private readonly store: RecordStore;
  private readonly alarm: Alarm;
  private readonly snoozeUs: number;
  private readonly onChange: ((change: AnnunciationChange) => void) | undefined;
  private nextInstanceId = 1;
  private list: Annunciation[] = [];
  private readonly timers = new Map<number, AlarmId>();

  constructor(opts: AnnunciationsOptions) {
    this.store = opts.store;
    this.alarm = opts.alarm;
    this.snoozeUs = opts.snoozeUs ?? DEFAULT_SNOOZE_US;
    this.onChange = opts.onChange;
    const raw = this.store.get(STORE_KEYS.pumpAnnunciations);
    if (raw === undefined) this.boot = { source: 'fresh' };
    else {
      const d = decodeAnnunciations(raw);
      if (d.ok) {
        this.boot = { source: 'restored' };
        this.nextInstanceId = d.value.nextInstanceId;
        this.list = d.value.active;
      } else this.boot = { source: 'corrupt', code: d.code, detail: d.detail };
    }
    // Snooze deadlines are absolute device time; a restored snapshot has no timers (DESIGN §2).
    const nowUs = this.alarm.nowUs();
    let changed = false;
    this.list = this.list.map((a) => {
      if (a.status !== 'snoozed') return a;
      // A deadline further ahead than a snooze can last means the clock restarted: snooze anew from now.
      if (a.snoozedUntilUs - nowUs > this.snoozeUs) {
        changed = true;
        return { ...a, snoozedUntilUs: nowUs + this.snoozeUs };
      }
      return a;
    });
    if (changed) this.persist();
    for (const a of this.list) if (a.status === 'snoozed') this.arm(a);
    // A lost record may have held unconfirmed alarms: say so rather than show nothing (§1.3 System Issue).
    if (this.boot.source === 'corrupt') this.raise('systemIssue');
  }

  /** The one IDD Annunciation Status reports (§1.3): Pending before Snoozed, then priority, then oldest. */
  current(): Annunciation | undefined {
    return this.active()[0];
  }

  /** Every unconfirmed annunciation, in the order current() picks. */
  active(): Annunciation[] {
    const rank = (a: Annunciation) => ANNUNCIATION_PRIORITY.indexOf(a.type);
    return [...this.list].sort((a, b) => (a.status === b.status ? 0 : a.status === 'pending' ? -1 : 1) || rank(a) - rank(b));
  }

  get(instanceId: number): Annunciation | undefined {
    return this.list.find((a) => a.instanceId === instanceId);
  }

  /** Raise an annunciation (Pending), or return the active one of the same type. */
  raise(type: AnnunciationType, auxInfo: readonly number[] = []): AnnunciationResult {
    if (!(type in ANNUNCIATION_TYPES)) return { ok: false, code: 'invalid-operand', detail: `type ${String(type)}` };
    if (auxInfo.length > MAX_AUX_INFO || !auxInfo.every(isU16)) return { ok: false, code: 'invalid-operand', detail: `auxInfo ${JSON.stringify(auxInfo)}` };
    const existing = this.list.find((a) => a.type === type);
    if (existing !== undefined) return { ok: true, value: existing, persisted: { ok: true } };
    const a: Annunciation = { instanceId: this.takeInstanceId(), type, status: 'pending', snoozedUntilUs: 0, auxInfo: [...auxInfo] };
    this.list.push(a);
    const persisted = this.persist();
    this.onChange?.({ annunciation: a, cause: 'raised' });
    return { ok: true, value: a, persisted };
  }

  /** Snooze Annunciation (0x0F69, §7): Snoozed now, Pending again after the snooze time. */
  snooze(instanceId: number): AnnunciationResult {
    const a = this.find(instanceId);
    if (!a.ok) return a;
    const snoozed: Annunciation = { ...a.value, status: 'snoozed', snoozedUntilUs: this.alarm.nowUs() + this.snoozeUs };
    this.replace(snoozed);
    const persisted = this.persist();
    this.arm(snoozed);
    this.onChange?.({ annunciation: snoozed, cause: 'snoozed' });
    return { ok: true, value: snoozed, persisted };
  }

  /** Confirm Annunciation (0x0F99, §7): it leaves the Annunciation Status for good. */
  confirm(instanceId: number): AnnunciationResult {
    const a = this.find(instanceId);
    if (!a.ok) return a;
    this.disarm(instanceId);
    this.list = this.list.filter((x) => x.instanceId !== instanceId);
    const persisted = this.persist();
    this.onChange?.({ annunciation: { ...a.value, status: 'confirmed' }, cause: 'confirmed' });
    return { ok: true, value: a.value, persisted };
  }

  /** Cancel the snooze timers (a reboot in tests; the next boot builds a new instance). */
  stop(): void {
    for (const id of this.timers.values()) this.alarm.cancel(id);
    this.timers.clear();
  }

  private find(instanceId: number): { ok: true; value: Annunciation } | { ok: false; code: AnnunciationRefusal; detail: string } {
    if (!isU16(instanceId)) return { ok: false, code: 'invalid-operand', detail: `instance ID ${instanceId}` };
    const a = this.get(instanceId);
    // §3.3 0x74: Snooze/Confirm of an unknown or already confirmed Instance ID.
    return a === undefined ? { ok: false, code: 'procedure-not-applicable', detail: `no active annunciation ${instanceId}` } : { ok: true, value: a };
  }

  private replace(a: Annunciation): void {
    this.list = this.list.map((x) => (x.instanceId === a.instanceId ? a : x));
  }

  /** Unique over time (§4.3.2): counts up, skips 0 and any ID still active after a wrap. */
  private takeInstanceId(): number {
    let id = this.nextInstanceId;
    while (this.list.some((a) => a.instanceId === id)) id = id >= 0xffff ? 1 : id + 1;
    this.nextInstanceId = id >= 0xffff ? 1 : id + 1;
    return id;
  }

  private arm(a: Annunciation): void {
    this.disarm(a.instanceId);
    const delayUs = Math.max(0, a.snoozedUntilUs - this.alarm.nowUs());
    this.timers.set(
      a.instanceId,
      this.alarm.setAlarm(delayUs, () => this.reRaise(a.instanceId)),
    );
  }

  private disarm(instanceId: number): void {
    const t = this.timers.get(instanceId);
    if (t !== undefined) this.alarm.cancel(t);
    this.timers.delete(instanceId);
  }

  private reRaise(instanceId: number): void {
    this.timers.delete(instanceId);
    const a = this.get(instanceId);
    if (a === undefined || a.status !== 'snoozed') return;
    const pending: Annunciation = { ...a, status: 'pending', snoozedUntilUs: 0 };
    this.replace(pending);
    this.persist();
    this.onChange?.({ annunciation: pending, cause: 're-raised' });
  }

  private persist(): AnnunciationPersist {
    const r = this.store.put(STORE_KEYS.pumpAnnunciations, encodeAnnunciations({ nextInstanceId: this.nextInstanceId, active: this.list }));
    return r.ok ? { ok: true } : r.detail === undefined ? { ok: false, code: r.code } : { ok: false, code: r.code, detail: r.detail };
  }
}
