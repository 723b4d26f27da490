// The clinician's hard limits kept in the record store, so a reboot cannot quietly put the
// factory limits back (a lowered max bolus raised again by a power cut would be a hazard).
// Not the limits' rules (limits.ts) nor who may change them (ids-commands.ts).
//
// Record STORE_KEYS.pumpLimits (little-endian), version 1:
//   +0 version u8 = 1 | +1..3 reserved 0 | +4 max bolus mU u32 | +8 max basal mU/h u32 | +12 max daily mU u32

import { STORE_KEYS } from '../../src/firmware/store-keys.ts';
import type { RecordStore, StoreResult } from '../../src/storage/record-store.ts';
import { validateLimits, type HardLimits } from './limits.ts';

const BYTES = 16;

export function encodeLimits(l: HardLimits): Uint8Array {
  const out = new Uint8Array(BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1);
  v.setUint32(4, l.maxBolusMilliUnits, true);
  v.setUint32(8, l.maxBasalRateMilliUnitsPerHour, true);
  v.setUint32(12, l.maxDailyMilliUnits, true);
  return out;
}

/** The limits a record holds, or undefined for bytes that are not valid limits (then the factory ones apply). */
export function decodeLimits(b: Uint8Array): HardLimits | undefined {
  if (b.length !== BYTES || b[0] !== 1 || b[1] !== 0 || b[2] !== 0 || b[3] !== 0) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const l: HardLimits = { maxBolusMilliUnits: v.getUint32(4, true), maxBasalRateMilliUnitsPerHour: v.getUint32(8, true), maxDailyMilliUnits: v.getUint32(12, true) };
  return validateLimits(l).ok ? l : undefined;
}

export function loadLimits(store: RecordStore): HardLimits | undefined {
  const b = store.get(STORE_KEYS.pumpLimits);
  return b === undefined ? undefined : decodeLimits(b);
}

export function saveLimits(store: RecordStore, l: HardLimits): StoreResult {
  return store.put(STORE_KEYS.pumpLimits, encodeLimits(l));
}
