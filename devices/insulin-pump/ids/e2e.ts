// IDS E2E-Protection (ids.md §6; IDS v1.0.2 §1.8, §1.9, §3.1, §3.15, §3.16; GSS §2.5): CRC-16/MCRF4XX,
// the E2E fields appended to a value, and the E2E-Counter rules. Not the per-characteristic counter state of a
// connection (the GATT service keeps it) nor the Features value, whose CRC comes first (status.ts).

import { fail, hex4, ok, type IdsResult } from './result.ts';

/** ATT application errors IDS uses (§1.8 Table 1.4; 0xFD/0xFE from Core Spec Supplement Part B, §3.11). */
export const IDS_ATT_ERROR = {
  invalidCrc: 0x81,
  invalidCounter: 0x82,
  cccdImproperlyConfigured: 0xfd,
  procedureAlreadyInProgress: 0xfe,
} as const;

/** Counter + CRC: the octets E2E-Protection adds at the end of a value (§3.2.1.2 …). */
export const E2E_TRAILER_BYTES = 3;
/** The CRC IDD Features carries when E2E is not supported (§3.5.1.1). */
export const E2E_CRC_UNSUPPORTED = 0xffff;

/**
 * CRC-16/MCRF4XX: CRC-CCITT g(D)=D¹⁶+D¹²+D⁵+1, preset 0xFFFF, octets fed LSB first (reflected poly 0x8408),
 * no final XOR (§3.16, GSS §2.5). crc16Mcrf4xx("123456789") = 0x6F91.
 */
export function crc16Mcrf4xx(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]!;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return crc;
}

/** The counter after `counter`: 1..255, then 1 again; 0 is skipped (§3.15). A connection starts at 1. */
export const nextE2eCounter = (counter: number): number => (counter >= 255 ? 1 : counter + 1);
/** The server's stored "last received" counter at connection start (§3.15), so the first write must carry 1. */
export const E2E_LAST_RECEIVED_INITIAL = 255;
/** The only counter a CP accepts after `lastReceived`: received − (last mod 255) == 1 (§3.15). */
export const expectedE2eCounter = (lastReceived: number): number => (lastReceived % 255) + 1;

function checkCounter(counter: number): void {
  if (!Number.isInteger(counter) || counter < 1 || counter > 255) throw new RangeError(`E2E-Counter must be in 1..255, got ${counter}`);
}

/** `body ‖ counter ‖ CRC(body ‖ counter)` with the CRC LSO first (§3.16). */
export function withE2e(body: Uint8Array, counter: number): Uint8Array {
  checkCounter(counter);
  const out = new Uint8Array(body.length + E2E_TRAILER_BYTES);
  out.set(body, 0);
  out[body.length] = counter;
  const crc = crc16Mcrf4xx(out, 0, body.length + 1);
  out[body.length + 1] = crc & 0xff;
  out[body.length + 2] = crc >>> 8;
  return out;
}

/** `body ‖ CRC(body)`: IDD History Data carries a CRC but no counter (§3.10.4.5). */
export function withCrc(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 2);
  out.set(body, 0);
  const crc = crc16Mcrf4xx(body);
  out[body.length] = crc & 0xff;
  out[body.length + 1] = crc >>> 8;
  return out;
}

export interface E2eChecked {
  readonly body: Uint8Array;
  readonly counter: number;
}

/**
 * Check and strip the E2E fields. The CRC is checked before the counter, because a counter read from a
 * corrupted value means nothing (IDS fixes no order, ids.md §6). Without `expectedCounter` any counter
 * 1..255 is accepted; 0 never is, since it is skipped (§3.15). `body` is a copy.
 */
export function checkE2e(bytes: Uint8Array, expectedCounter?: number): IdsResult<E2eChecked> {
  if (!(bytes instanceof Uint8Array) || bytes.length < E2E_TRAILER_BYTES) return fail('length', 'too short for the E2E-Counter and E2E-CRC');
  const end = bytes.length - 2;
  const crc = bytes[end]! | (bytes[end + 1]! << 8);
  const computed = crc16Mcrf4xx(bytes, 0, end);
  if (crc !== computed) return fail('crc', `E2E-CRC ${hex4(crc)} ≠ computed ${hex4(computed)}`);
  const counter = bytes[end - 1]!;
  if (counter === 0) return fail('counter', 'E2E-Counter 0 is never sent');
  if (expectedCounter !== undefined && counter !== expectedCounter) return fail('counter', `E2E-Counter ${counter}, expected ${expectedCounter}`);
  return { ok: true, value: { body: bytes.slice(0, end - 1), counter }, counter };
}

/** Check and strip the CRC of a History Data value (no counter, §3.10.4.5). */
export function checkCrc(bytes: Uint8Array): IdsResult<Uint8Array> {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) return fail('length', 'too short for the E2E-CRC');
  const end = bytes.length - 2;
  const crc = bytes[end]! | (bytes[end + 1]! << 8);
  const computed = crc16Mcrf4xx(bytes, 0, end);
  if (crc !== computed) return fail('crc', `E2E-CRC ${hex4(crc)} ≠ computed ${hex4(computed)}`);
  return ok(bytes.slice(0, end));
}
