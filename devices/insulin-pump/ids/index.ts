// Public API of the IDS codec (Insulin Delivery Service v1.0.2): byte layouts of every IDS characteristic.
// Not the pump's behaviour: the therapy machine, delivery engine and GATT service use this module.

export type { IdsCode, IdsFailure, IdsResult } from './result.ts';
export type { Framing, DateTime } from './codec.ts';
export { NO_E2E, MAX_OPERAND_BYTES } from './codec.ts';
export * from './sfloat.ts';
export * from './e2e.ts';
export * from './enums.ts';
export * from './command-cp.ts';
export * from './status-reader-cp.ts';
export * from './status.ts';
export * from './racp.ts';
export {
  decodeHistoryRecord,
  encodeHistoryRecord,
  DATA_CORRUPTION_SEQUENCE_NUMBER,
  HISTORY_EVENT_TYPES,
  MAX_EVENT_DATA_BYTES,
  type HistoryEvent,
  type HistoryRecord,
} from './history-data.ts';
