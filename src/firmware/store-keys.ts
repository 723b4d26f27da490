// Which keys and logs of the device's one journaled record store (src/storage) each firmware
// feature owns, and how many entries each ring log keeps. Not the store itself: one table so two
// features never write the same key.

import type { RingLogOption } from '../storage/record-store.ts';

/** Keyed records (RecordStore.put/get). */
export const STORE_KEYS = {
  /** Lockout state: failures, level, deadline (src/firmware/lockout-store.ts). */
  lockout: 0x0010,
  /** Last break-glass code index used (docs/protocol.md §7). */
  breakGlassIndex: 0x0011,
  /** The insulin pump's unconfirmed annunciations and next Instance ID (devices/insulin-pump/annunciations.ts). */
  pumpAnnunciations: 0x0020,
  /** The insulin pump's history delete mark: records below this sequence number are deleted (devices/insulin-pump/history.ts). */
  pumpHistoryDeleted: 0x0021,
  /** The insulin pump's hard limits as the clinician set them (devices/insulin-pump/limits-store.ts). */
  pumpLimits: 0x0022,
  /** The insulin pump's active profile template of each type (devices/insulin-pump/profile-templates.ts). */
  pumpActiveProfileTemplates: 0x0028,
  /** The insulin pump's profile templates, one key per template: base + template number 1..12 (devices/insulin-pump/profile-templates.ts). */
  pumpProfileTemplateBase: 0x0030,
  /** The pH meter's GLP log state: capacity and acknowledged-up-to sequence number (devices/ph-meter/glp-log.ts). */
  phGlpState: 0x0040,
  /** The pH meter's calibration in force (devices/ph-meter/calibration-store.ts). */
  phCalibration: 0x0041,
  /** Bonds, one key per slot: bondBase + slot, slot 0..MAX_BONDS-1 (docs/protocol.md §4.6). */
  bondBase: 0x0100,
  /**
   * The pH meter's GLP records, one key per slot: phGlpSlotBase + slot, slot 0..capacity (at most
   * 0xFFFE). Keyed values, not a log: a ring log would lose unacknowledged records to garbage
   * collection brought on by any writer, and an ordinary log is never trimmed (glp-log.ts).
   */
  phGlpSlotBase: 0x0001_0000,
} as const;

/** Sequence-numbered logs (RecordStore.append/readLog). */
export const STORE_LOGS = {
  /** The hash-chained audit log (docs/protocol.md §9). A ring: it keeps AUDIT_KEEP_ENTRIES, oldest overwritten first. */
  audit: 0xa0d1,
  /**
   * The insulin pump's delivery journal: intent and settled snapshots, one per pulse phase
   * (devices/insulin-pump/delivery-journal.ts). A ring: only the newest entry is needed, and kept.
   */
  pumpDelivery: 0xd311,
  /**
   * The insulin pump's IDS history (devices/insulin-pump/history.ts): one entry per group of
   * history records. A ring of PUMP_HISTORY_KEEP_ENTRIES: oldest overwritten first, the newest
   * keeps the sequence numbers going.
   */
  pumpHistory: 0x4157,
} as const;

/** Audit records kept through garbage collection (about 72 bytes of flash each). */
export const AUDIT_KEEP_ENTRIES = 1_000;

/**
 * IDS history entries kept through garbage collection (issue 6: several thousand records, oldest
 * overwritten first). An entry is one group (history.ts) of at least one record — usually one
 * event, often behind an hourly Reference Time — so 3,000 entries hold at least 3,000 records.
 * A one-event entry takes 40–64 bytes of flash: about 190 KB for 3,000.
 */
export const PUMP_HISTORY_KEEP_ENTRIES = 3_000;

/**
 * Logs the record store must open as rings (RecordStoreOptions.ringLogs), with how many of their
 * newest entries garbage collection keeps (src/storage/record-store.ts "Ring logs").
 */
export const RING_LOGS: readonly RingLogOption[] = [
  { id: STORE_LOGS.audit, keep: AUDIT_KEEP_ENTRIES },
  // The journal's newest snapshot is its whole state (delivery-journal.ts): older ones need no flash.
  { id: STORE_LOGS.pumpDelivery, keep: 1 },
  { id: STORE_LOGS.pumpHistory, keep: PUMP_HISTORY_KEEP_ENTRIES },
];
