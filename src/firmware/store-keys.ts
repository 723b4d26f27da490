// Which keys and logs of the device's one journaled record store (src/storage) each firmware
// feature owns. Not the store itself: one table so two features never write the same key.

/** Keyed records (RecordStore.put/get). */
export const STORE_KEYS = {
  /** Lockout state: failures, level, deadline (src/firmware/lockout-store.ts). */
  lockout: 0x0010,
  /** Last break-glass code index used (docs/protocol.md §7). */
  breakGlassIndex: 0x0011,
  /** Bonds, one key per slot: bondBase + slot, slot 0..MAX_BONDS-1 (docs/protocol.md §4.6). */
  bondBase: 0x0100,
} as const;

/** Sequence-numbered logs (RecordStore.append/readLog). */
export const STORE_LOGS = {
  /** The hash-chained audit log (docs/protocol.md §9). A ring: oldest records go first when flash is full. */
  audit: 0xa0d1,
} as const;

/** Logs the record store must open as rings (RecordStoreOptions.ringLogs). */
export const RING_LOGS: readonly number[] = [STORE_LOGS.audit];
