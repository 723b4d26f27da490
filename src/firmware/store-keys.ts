// Which keys and logs of the device's one journaled record store (src/storage) each firmware
// feature owns. Not the store itself: one table so two features never write the same key.

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
  /** The hash-chained audit log (docs/protocol.md §9). A ring: oldest records go first when flash is full. */
  audit: 0xa0d1,
  /**
   * The insulin pump's delivery journal: intent and settled snapshots, one per pulse phase
   * (devices/insulin-pump/delivery-journal.ts). A ring: the newest entry always survives.
   */
  pumpDelivery: 0xd311,
  /**
   * The insulin pump's IDS history (devices/insulin-pump/history.ts): one entry per group of
   * history records. A ring: oldest records go first, the newest keeps the sequence numbers going.
   */
  pumpHistory: 0x4157,
} as const;

/** Logs the record store must open as rings (RecordStoreOptions.ringLogs). */
export const RING_LOGS: readonly number[] = [STORE_LOGS.audit, STORE_LOGS.pumpDelivery, STORE_LOGS.pumpHistory];
