// The pump's delivery journal: every motor pulse journaled in the record store so that a power cut at
// any flash boundary loses no delivered pulse and counts none twice. Not the IDS history or the therapy state.
//
// ─── Design ──────────────────────────────────────────────────────────────────────────────────
//
// Physical truth is the plunger position (PumpMotor.positionSteps(): mechanical, it survives a
// reboot). The journal is one ring log (STORE_LOGS.pumpDelivery) of self-contained snapshots;
// the newest entry alone is the journaled state, older entries are the pulse history.
//
//   1. intent   — written BEFORE motor.step(): "about to make `steps` steps of `kind` (bolus id)
//                 from settled position P at time t", plus every counter as of before.
//   2. settled  — written from stepsDone: position P + made, the kind's counter + made, the
//                 24-hour bucket of t + made.
//
// Each entry is one record-store append, atomic (its CRC commit is programmed last), so after a
// cut the newest entry is either the intent or the settled one, never half of either.
// Reconciliation at boot (DeliveryJournal.open) compares the newest entry with the plunger:
//   - settled and plunger at P: clean.
//   - intent: made = plunger − P, 0 ≤ made ≤ steps (a cut after the intent, before, during or
//     after the step, before its settled entry): append the settled entry the firmware never
//     wrote, attributing `made` to the intent's kind. The intent is what makes attribution possible.
//   - anything else (a plunger moved without an intent: cannot happen through this firmware):
//     steps outside the intent are counted as 'unattributed' and reported as a mismatch, so the
//     totals still equal the physical truth and the caller can raise an alarm.
// No pulse is lost (the plunger cannot forget it moved) and none is counted twice (a settled
// entry is appended only when the newest entry is an intent, and it closes that intent).
//
// The bolus in progress is part of every snapshot too: its ID and the pulses made for it so far
// (beginBolus when it is accepted, counted by each settled pulse of that ID, endBolus when it
// ended), and the newest bolus ID used. So after a cut the firmware knows which bolus the cut
// interrupted and how much of it the plunger delivered (its IDS Bolus Delivered record is written
// at boot: index.ts), and bolus IDs go on from the last one instead of starting again (IDS §7:
// unique for each programmed bolus). The caller ends a bolus only after recording it elsewhere,
// so a bolus open after a cut either has its record already (the caller checks) or has none.
//
// Why snapshots and not deltas: GC of a ring log keeps only the newest entry (record-store.ts),
// so an entry must stand alone. Why 25 hourly buckets in each entry: the max-daily limit must
// survive a reboot, and history entries may have been dropped; hour buckets covering the last
// 24 h (25 of them, partial hours at both ends counted whole) over-count by at most one hour,
// which errs towards refusing insulin, never towards exceeding the limit.
//
// Entry layout (little-endian, ENTRY_BYTES):
//   +0 u8 format 1 | +1 u8 phase (0 settled, 1 intent, 2 fill/baseline) | +2 u8 kind | +3 u8 0
//   +4 u32 positionSteps (settled position: before the intent's steps, after a settled entry's)
//   +8 u32 fillPositionSteps | +12 u32 fillMilliUnits
//   +16 u32 × 5 pulses: basal, tempBasal, bolusFast, bolusExtended, unattributed
//   +36 u16 bolusId (0: none) | +38 u16 steps (intent: requested; settled: made)
//   +40 f64 atUs (intent: when the step was requested; settled: when stepsDone came)
//   +48 u32 bucketNewestHour | +52 u16 × 25 pulses per hour, newest first
//   +102 u16 openBolusId (0: none) | +104 u16 openBolusPulses | +106 u16 lastBolusId (0: none yet)

import type { Alarm } from '../../hal/alarm.ts';
import type { PumpMotor } from '../../hal/motor.ts';
import { MedtwinError } from '../../src/errors.ts';
import { STORE_LOGS } from '../../src/firmware/store-keys.ts';
import type { RecordStore, StoreResult } from '../../src/storage/record-store.ts';

export type PulseKind = 'basal' | 'tempBasal' | 'bolusFast' | 'bolusExtended';
export const PULSE_KINDS: readonly PulseKind[] = ['basal', 'tempBasal', 'bolusFast', 'bolusExtended'];

/** Pulses per kind since the journal was created; `unattributed`: found by reconciliation only. */
export type PulseCounts = Record<PulseKind | 'unattributed', number>;

export type EntryPhase = 'settled' | 'intent' | 'fill';

export interface JournalEntry {
  readonly seq: number;
  readonly phase: EntryPhase;
  readonly kind: PulseKind;
  readonly steps: number;
  readonly bolusId: number;
  readonly atUs: number;
  readonly positionSteps: number;
}

export type Reconciliation =
  | { readonly kind: 'fresh' }
  | { readonly kind: 'clean' }
  /** An intent was open: `madeSteps` of it reached the plunger and are now settled. */
  | { readonly kind: 'completed-intent'; readonly pulseKind: PulseKind; readonly madeSteps: number; readonly bolusId: number }
  /** The plunger disagrees with the journal beyond any open intent (never expected: alarm). */
  | { readonly kind: 'mismatch'; readonly journalSteps: number; readonly physicalSteps: number };

export interface DeliveryJournalOptions {
  readonly store: RecordStore;
  readonly motor: PumpMotor;
  readonly alarm: Alarm;
}

export const ENTRY_BYTES = 108;
/** 2: the bolus in progress and the last bolus ID (+102…); format 1 had neither. */
const FORMAT = 2;
const PHASE_CODES: Record<EntryPhase, number> = { settled: 0, intent: 1, fill: 2 };
const PHASES: readonly EntryPhase[] = ['settled', 'intent', 'fill'];
const KIND_CODES: Record<PulseKind, number> = { basal: 0, tempBasal: 1, bolusFast: 2, bolusExtended: 3 };
/** 24 full hours plus the current partial one (see the header). */
export const DAILY_BUCKETS = 25;
export const US_PER_HOUR = 3_600_000_000;
const MAX_U16 = 0xffff;
const MAX_U32 = 0xffffffff;

interface State {
  phase: EntryPhase;
  kind: PulseKind;
  steps: number;
  bolusId: number;
  atUs: number;
  positionSteps: number;
  fillPositionSteps: number;
  fillMilliUnits: number;
  pulses: PulseCounts;
  bucketNewestHour: number;
  /** buckets[i]: pulses made in hour bucketNewestHour − i. */
  buckets: number[];
  /** The bolus in progress (0: none) and the pulses made for it so far. */
  openBolusId: number;
  openBolusPulses: number;
  lastBolusId: number;
}

const zeroCounts = (): PulseCounts => ({ basal: 0, tempBasal: 0, bolusFast: 0, bolusExtended: 0, unattributed: 0 });

function encode(s: State): Uint8Array {
  const bytes = new Uint8Array(ENTRY_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint8(0, FORMAT);
  v.setUint8(1, PHASE_CODES[s.phase]);
  v.setUint8(2, KIND_CODES[s.kind]);
  v.setUint32(4, s.positionSteps, true);
  v.setUint32(8, s.fillPositionSteps, true);
  v.setUint32(12, s.fillMilliUnits, true);
  v.setUint32(16, s.pulses.basal, true);
  v.setUint32(20, s.pulses.tempBasal, true);
  v.setUint32(24, s.pulses.bolusFast, true);
  v.setUint32(28, s.pulses.bolusExtended, true);
  v.setUint32(32, s.pulses.unattributed, true);
  v.setUint16(36, s.bolusId, true);
  v.setUint16(38, s.steps, true);
  v.setFloat64(40, s.atUs, true);
  v.setUint32(48, s.bucketNewestHour, true);
  for (let i = 0; i < DAILY_BUCKETS; i++) v.setUint16(52 + 2 * i, Math.min(MAX_U16, s.buckets[i] ?? 0), true);
  v.setUint16(102, s.openBolusId, true);
  v.setUint16(104, Math.min(MAX_U16, s.openBolusPulses), true);
  v.setUint16(106, s.lastBolusId, true);
  return bytes;
}

function decode(bytes: Uint8Array): State {
  // The record store's CRC already vouches for the bytes; a wrong format is a firmware mix-up.
  if (bytes.length !== ENTRY_BYTES || bytes[0] !== FORMAT) {
    throw new MedtwinError('journal.format', `delivery journal entry of ${bytes.length} bytes, format ${bytes[0]}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phase = PHASES[v.getUint8(1)];
  const kind = PULSE_KINDS[v.getUint8(2)];
  if (phase === undefined || kind === undefined) throw new MedtwinError('journal.format', 'unknown phase or kind in a journal entry');
  const buckets: number[] = [];
  for (let i = 0; i < DAILY_BUCKETS; i++) buckets.push(v.getUint16(52 + 2 * i, true));
  return {
    phase,
    kind,
    positionSteps: v.getUint32(4, true),
    fillPositionSteps: v.getUint32(8, true),
    fillMilliUnits: v.getUint32(12, true),
    pulses: {
      basal: v.getUint32(16, true),
      tempBasal: v.getUint32(20, true),
      bolusFast: v.getUint32(24, true),
      bolusExtended: v.getUint32(28, true),
      unattributed: v.getUint32(32, true),
    },
    bolusId: v.getUint16(36, true),
    steps: v.getUint16(38, true),
    atUs: v.getFloat64(40, true),
    bucketNewestHour: v.getUint32(48, true),
    buckets,
    openBolusId: v.getUint16(102, true),
    openBolusPulses: v.getUint16(104, true),
    lastBolusId: v.getUint16(106, true),
  };
}

const cloneState = (s: State): State => ({ ...s, pulses: { ...s.pulses }, buckets: s.buckets.slice() });
const hourOf = (atUs: number): number => Math.floor(atUs / US_PER_HOUR);

/** Add `steps` pulses made at `atUs` to the hour buckets, rolling them forward first. */
function addToBuckets(s: State, atUs: number, steps: number): void {
  const hour = hourOf(atUs);
  if (hour > s.bucketNewestHour) {
    const shift = Math.min(DAILY_BUCKETS, hour - s.bucketNewestHour);
    s.buckets = [...new Array<number>(shift).fill(0), ...s.buckets].slice(0, DAILY_BUCKETS);
    s.bucketNewestHour = hour;
  }
  const i = s.bucketNewestHour - hour;
  // A pulse older than the buckets (clock went back) is still counted in the oldest one.
  const index = Math.min(Math.max(i, 0), DAILY_BUCKETS - 1);
  s.buckets[index] = (s.buckets[index] ?? 0) + steps;
}

export class DeliveryJournal {
  private state: State;
  private readonly store: RecordStore;
  private readonly alarm: Alarm;
  readonly milliUnitsPerStep: number;
  /** What open() found and did. */
  readonly reconciliation: Reconciliation;

  private constructor(opts: DeliveryJournalOptions, state: State, reconciliation: Reconciliation) {
    this.store = opts.store;
    this.alarm = opts.alarm;
    this.milliUnitsPerStep = opts.motor.milliUnitsPerStep;
    this.state = state;
    this.reconciliation = reconciliation;
  }

  /**
   * Read the newest entry and reconcile it with the plunger (see the header). May append one
   * entry: the settled entry of an open intent, a mismatch correction, or the first baseline.
   */
  static open(opts: DeliveryJournalOptions): StoreResult<DeliveryJournal> {
    const entries = opts.store.readLog(STORE_LOGS.pumpDelivery);
    const newest = entries[entries.length - 1];
    const physical = opts.motor.positionSteps();
    const nowUs = opts.alarm.nowUs();
    if (newest === undefined) {
      // First boot: the plunger's position now is the journal's origin; no reservoir filled yet.
      const s: State = {
        phase: 'fill', kind: 'basal', steps: 0, bolusId: 0, atUs: nowUs, positionSteps: physical,
        fillPositionSteps: physical, fillMilliUnits: 0, pulses: zeroCounts(), bucketNewestHour: hourOf(nowUs),
        buckets: new Array<number>(DAILY_BUCKETS).fill(0), openBolusId: 0, openBolusPulses: 0, lastBolusId: 0,
      };
      const journal = new DeliveryJournal(opts, s, { kind: 'fresh' });
      const w = journal.write(s);
      return w.ok ? { ok: true, value: journal } : w;
    }
    const last = decode(newest.value);
    if (last.phase !== 'intent' && last.positionSteps === physical) {
      return { ok: true, value: new DeliveryJournal(opts, last, { kind: 'clean' }) };
    }
    const s = cloneState(last);
    let reconciliation: Reconciliation;
    const moved = physical - last.positionSteps;
    if (last.phase === 'intent' && moved >= 0 && moved <= last.steps) {
      s.phase = 'settled';
      s.steps = moved;
      s.positionSteps = physical;
      s.pulses[last.kind] += moved;
      if (last.bolusId !== 0 && last.bolusId === last.openBolusId) s.openBolusPulses += moved;
      // The steps were made around the intent's instant (a step is 100 ms): bucket them there.
      if (moved > 0) addToBuckets(s, last.atUs, moved);
      reconciliation = { kind: 'completed-intent', pulseKind: last.kind, madeSteps: moved, bolusId: last.bolusId };
    } else {
      // The plunger moved without an intent (or back): keep the totals equal to physics.
      const attributed = last.phase === 'intent' ? Math.max(0, Math.min(moved, last.steps)) : 0;
      const unattributed = Math.max(0, moved - attributed);
      s.phase = 'settled';
      s.steps = attributed;
      s.pulses[last.kind] += attributed;
      if (last.bolusId !== 0 && last.bolusId === last.openBolusId) s.openBolusPulses += attributed;
      s.pulses.unattributed += unattributed;
      if (attributed + unattributed > 0) addToBuckets(s, nowUs, attributed + unattributed);
      s.positionSteps = physical;
      if (physical < s.fillPositionSteps) s.fillPositionSteps = physical;
      reconciliation = { kind: 'mismatch', journalSteps: last.positionSteps, physicalSteps: physical };
    }
    s.atUs = nowUs;
    const journal = new DeliveryJournal(opts, s, reconciliation);
    const w = journal.write(s);
    return w.ok ? { ok: true, value: journal } : w;
  }

  /** Pulses per kind since the journal was created. */
  pulses(): Readonly<PulseCounts> {
    return { ...this.state.pulses };
  }

  /** Every pulse journaled, all kinds: equals the plunger's travel since the journal's origin. */
  totalPulses(): number {
    const p = this.state.pulses;
    return p.basal + p.tempBasal + p.bolusFast + p.bolusExtended + p.unattributed;
  }

  /** The settled plunger position the journal holds. */
  get positionSteps(): number {
    return this.state.positionSteps;
  }

  /** The open intent, if the newest entry is one (a pulse requested, its stepsDone not yet settled). */
  get openIntent(): { readonly kind: PulseKind; readonly steps: number; readonly bolusId: number } | undefined {
    const s = this.state;
    return s.phase === 'intent' ? { kind: s.kind, steps: s.steps, bolusId: s.bolusId } : undefined;
  }

  /** The bolus in progress as journaled: opened, not yet closed; `pulses` made for it so far. */
  get openBolus(): { readonly bolusId: number; readonly pulses: number } | undefined {
    const s = this.state;
    return s.openBolusId === 0 ? undefined : { bolusId: s.openBolusId, pulses: s.openBolusPulses };
  }

  /** The newest bolus ID ever opened (0: none): the next one follows it, across reboots. */
  get lastBolusId(): number {
    return this.state.lastBolusId;
  }

  /**
   * Journal a bolus accepted: from now on its pulses are counted for it. Call before the bolus
   * may pulse; on a failed write nothing changed and the bolus must be refused. Keeps an open
   * intent as it is (a basal pulse may be moving when a bolus is accepted).
   */
  beginBolus(bolusId: number): StoreResult {
    if (!Number.isInteger(bolusId) || bolusId < 1 || bolusId > MAX_U16) throw new MedtwinError('journal.bolus', `bad bolus id ${bolusId}`);
    const s = cloneState(this.state);
    s.openBolusId = bolusId;
    s.openBolusPulses = 0;
    s.lastBolusId = bolusId;
    const w = this.write(s);
    if (w.ok) this.state = s;
    return w;
  }

  /**
   * The bolus ended and the caller has recorded it: it is no longer open. The RAM state follows
   * even when the write fails (the next boot then finds it open, and the caller's record of it).
   */
  endBolus(bolusId: number): StoreResult {
    if (this.state.openBolusId !== bolusId) return { ok: true, value: undefined };
    const s = cloneState(this.state);
    s.openBolusId = 0;
    s.openBolusPulses = 0;
    this.state = s;
    return this.write(s);
  }

  get fillMilliUnits(): number {
    return this.state.fillMilliUnits;
  }

  /** Reservoir left: the fill minus what the plunger pushed since (never below 0). */
  reservoirRemainingMilliUnits(): number {
    const s = this.state;
    const pushed = (s.positionSteps - s.fillPositionSteps) * this.milliUnitsPerStep;
    return Math.max(0, s.fillMilliUnits - pushed);
  }

  /**
   * Delivered within the rolling 24 h ending at `nowUs`, over-counted by at most the hour
   * before the window (see the header): the figure max daily is checked against.
   */
  deliveredLast24hMilliUnits(nowUs: number): number {
    const s = this.state;
    const oldestHour = hourOf(nowUs) - (DAILY_BUCKETS - 1);
    let pulses = 0;
    for (let i = 0; i < DAILY_BUCKETS; i++) if (s.bucketNewestHour - i >= oldestHour) pulses += s.buckets[i] ?? 0;
    return pulses * this.milliUnitsPerStep;
  }

  /** A new reservoir of `milliUnits` from the plunger's position now. */
  recordFill(milliUnits: number): StoreResult {
    if (!Number.isInteger(milliUnits) || milliUnits < 0 || milliUnits > MAX_U32) {
      throw new MedtwinError('journal.fill', `fill must be whole milli-units, got ${milliUnits}`);
    }
    if (this.state.phase === 'intent') throw new MedtwinError('journal.state', 'fill while a pulse is open');
    const s = cloneState(this.state);
    s.phase = 'fill';
    s.steps = 0;
    s.bolusId = 0;
    s.atUs = this.alarm.nowUs();
    s.fillPositionSteps = s.positionSteps;
    s.fillMilliUnits = milliUnits;
    // Only a journaled fill counts: after a failed write the old reservoir figure stays, as on reboot.
    const w = this.write(s);
    if (w.ok) this.state = s;
    return w;
  }

  /**
   * Journal the intent to make `steps` steps of `kind` (call BEFORE motor.step). On a failed
   * write the RAM state is unchanged and the caller must not step.
   */
  beginPulse(kind: PulseKind, bolusId: number, steps = 1): StoreResult {
    if (this.state.phase === 'intent') throw new MedtwinError('journal.state', 'a pulse is already open');
    if (!Number.isInteger(steps) || steps <= 0 || steps > MAX_U16 || !Number.isInteger(bolusId) || bolusId < 0 || bolusId > MAX_U16) {
      throw new MedtwinError('journal.pulse', `bad pulse: ${steps} steps, bolus ${bolusId}`);
    }
    const s = cloneState(this.state);
    s.phase = 'intent';
    s.kind = kind;
    s.steps = steps;
    s.bolusId = bolusId;
    s.atUs = this.alarm.nowUs();
    const w = this.write(s);
    if (w.ok) this.state = s;
    return w;
  }

  /**
   * Settle the open intent with the steps the motor reported. The RAM state follows the motor
   * even when the write fails (the limits must see what was delivered); reconciliation at the
   * next boot then writes what this call could not.
   */
  settlePulse(stepsMade: number): StoreResult {
    const open = this.state;
    if (open.phase !== 'intent') throw new MedtwinError('journal.state', 'settle without an open pulse');
    if (!Number.isInteger(stepsMade) || stepsMade < 0 || stepsMade > open.steps) {
      throw new MedtwinError('journal.pulse', `${stepsMade} steps made of ${open.steps} requested`);
    }
    const s = cloneState(open);
    const nowUs = this.alarm.nowUs();
    s.phase = 'settled';
    s.steps = stepsMade;
    s.atUs = nowUs;
    s.positionSteps += stepsMade;
    s.pulses[open.kind] += stepsMade;
    if (open.bolusId !== 0 && open.bolusId === s.openBolusId) s.openBolusPulses += stepsMade;
    if (stepsMade > 0) addToBuckets(s, nowUs, stepsMade);
    this.state = s;
    return this.write(s);
  }

  /** Journal entries still on flash, oldest first (GC of the ring drops the oldest). */
  history(): JournalEntry[] {
    return this.store.readLog(STORE_LOGS.pumpDelivery).map((e) => {
      const s = decode(e.value);
      return { seq: e.seq, phase: s.phase, kind: s.kind, steps: s.steps, bolusId: s.bolusId, atUs: s.atUs, positionSteps: s.positionSteps };
    });
  }

  private write(s: State): StoreResult {
    const r = this.store.append(STORE_LOGS.pumpDelivery, encode(s));
    return r.ok ? { ok: true, value: undefined } : r;
  }
}
