// Break-glass codes (docs/protocol.md §7): the manufacturer's derivation of a code for one
// device, and the device's checks (index not used before, not-after not passed) with the last
// used index persisted before a session is granted. Not the session itself (session.machine.ts).

import { aesCmac, type CostContext } from '../crypto/index.ts';
import { STORE_KEYS } from '../firmware/store-keys.ts';
import type { StoreResult } from '../storage/record-store.ts';
import { readU32le, u32leBytes } from './wire-session.ts';
import { concatBytes } from '@noble/hashes/utils.js';

/** The longest emergency session, seconds (§7: at most 30 min). */
export const BREAK_GLASS_MAX_SESSION_S = 30 * 60;
export const BREAK_GLASS_CODE_BYTES = 16;

/** The part of the record store break-glass uses (RecordStore fits). */
export interface BreakGlassStore {
  get(key: number): Uint8Array | undefined;
  put(key: number, value: Uint8Array): StoreResult;
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const LABEL_DEVICE_KEY = ascii('mtDK');
const LABEL_CODE = ascii('mtBG');


/**
 * Manufacturer side: `Kdev = CMAC(Kmaster, "mtDK" ‖ serial)` (§7), provisioned into the
 * device's write-once area. `serial` is the certificate's 8 ASCII bytes (§3.1).
 */
export function breakGlassDeviceKey(masterKey: Uint8Array, serial: Uint8Array): Uint8Array {
  return aesCmac(masterKey, concatBytes(LABEL_DEVICE_KEY, serial));
}

/**
 * `code = CMAC(Kdev, "mtBG" ‖ index[4] ‖ notAfterS[4])` (§7; integers little-endian, §1).
 * The manufacturer issues it; the device computes the same to check a BREAK_GLASS_HELLO.
 */
export function breakGlassCode(deviceKey: Uint8Array, index: number, notAfterS: number, opts: { readonly cost?: CostContext } = {}): Uint8Array {
  const m = concatBytes(LABEL_CODE, u32leBytes(index), u32leBytes(notAfterS));
  return aesCmac(deviceKey, m, opts.cost ? { cost: opts.cost } : {});
}

/** A code as it is handed out: 32 hex digits (§7). */
export function formatBreakGlassCode(code: Uint8Array): string {
  return Buffer.from(code).toString('hex');
}

export function parseBreakGlassCode(hex: string): { ok: true; value: Uint8Array } | { ok: false; code: 'malformed'; detail: string } {
  const s = hex.replace(/[\s-]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(s)) return { ok: false, code: 'malformed', detail: 'a break-glass code is 32 hex digits' };
  return { ok: true, value: Uint8Array.from(Buffer.from(s, 'hex')) };
}

/**
 * The last index used (0: none yet, so codes start at index 1). A stored value that is not
 * 4 bytes is treated as 0xFFFFFFFF: every code is refused rather than one reused (fail closed).
 */
export function lastUsedBreakGlassIndex(store: BreakGlassStore): number {
  const v = store.get(STORE_KEYS.breakGlassIndex);
  if (v === undefined) return 0;
  return v.length === 4 ? readU32le(v, 0) : 0xffff_ffff;
}

/** Is `index` unused, i.e. greater than the last one used (§7)? */
export function isBreakGlassIndexFresh(index: number, lastUsedIndex: number): boolean {
  return index > lastUsedIndex;
}

/** Has the code's not-after not passed on the device clock (seconds)? Valid through notAfterS itself. */
export function isBreakGlassCodeCurrent(notAfterS: number, nowS: number): boolean {
  return nowS <= notAfterS;
}

export type BreakGlassRefusal = 'index-used' | 'expired';

/** Both checks of a BREAK_GLASS_HELLO, as a coded value (the proof is checked later, §5.1). */
export function checkBreakGlassHello(
  hello: { readonly index: number; readonly notAfterS: number },
  device: { readonly lastUsedIndex: number; readonly nowS: number },
): { ok: true } | { ok: false; code: BreakGlassRefusal } {
  if (!isBreakGlassIndexFresh(hello.index, device.lastUsedIndex)) return { ok: false, code: 'index-used' };
  if (!isBreakGlassCodeCurrent(hello.notAfterS, device.nowS)) return { ok: false, code: 'expired' };
  return { ok: true };
}

/**
 * Record `index` as used, in flash, before the session is granted (§7). Refuses to go
 * backwards (a second device session racing with an older index is a bug, not a peer input).
 */
export function persistBreakGlassIndex(store: BreakGlassStore, index: number): { ok: true } | { ok: false; code: 'store' | 'not-fresh'; detail: string } {
  const last = lastUsedBreakGlassIndex(store);
  if (!isBreakGlassIndexFresh(index, last)) return { ok: false, code: 'not-fresh', detail: `index ${index} ≤ last used ${last}` };
  const r = store.put(STORE_KEYS.breakGlassIndex, u32leBytes(index));
  if (!r.ok) return { ok: false, code: 'store', detail: `${r.code}${r.detail ? `: ${r.detail}` : ''}` };
  return { ok: true };
}
