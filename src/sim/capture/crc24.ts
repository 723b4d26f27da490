// The BLE link-layer CRC-24 (Core v5.x Vol 6 Part B §3.1.1) over a PDU (header + payload), and its on-air byte order.
// Not a receiver's error model (the air decides what is corrupted) and not the MIC of encrypted PDUs (Vol 6 Part E).

import { MedtwinError } from '../../errors.ts';

/**
 * Vol 6 Part B §3.1.1: polynomial x^24 + x^10 + x^9 + x^6 + x^4 + x^3 + x + 1. In the
 * spec's LFSR, position k is bit k of a 24-bit register preset with CRCInit (LSB in
 * position 0); data bits enter least significant bit first, as they are transmitted; the
 * feedback comes from position 23. This is the polynomial in that "left-shift" form.
 */
export const CRC24_POLY = 0x00065b;

/** The same polynomial for the bit-reversed register (right shift): reverse24(0x00065B). */
const CRC24_POLY_REFLECTED = 0xda6000;

/** reverse24(x): bit k ↔ bit 23 − k. */
export function reverseBits24(x: number): number {
  let r = 0;
  for (let i = 0; i < 24; i++) r |= ((x >>> i) & 1) << (23 - i);
  return r >>> 0;
}

/**
 * One byte of input through the reflected register: the register holds position 23 in
 * bit 0, so a right shift is the spec's shift toward position 23 and the byte's LSB (the
 * first bit on air) meets the feedback first.
 */
const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    let r = b;
    for (let i = 0; i < 8; i++) r = r & 1 ? (r >>> 1) ^ CRC24_POLY_REFLECTED : r >>> 1;
    t[b] = r;
  }
  return t;
})();

/**
 * The CRC of `pdu` (header + payload, Vol 6 Part B §2.1) with the shift register preset to
 * `crcInit`: 0x555555 (ADV_CRC_INIT) on the advertising physical channel, the CRCInit of
 * CONNECT_IND's LLData on a connection. The result is the register after the last bit,
 * position k in bit k: the value Wireshark shows as "CRC" (btle.crc).
 */
export function bleCrc24(pdu: Uint8Array, crcInit: number): number {
  if (!Number.isInteger(crcInit) || crcInit < 0 || crcInit > 0xffffff) {
    throw new MedtwinError('capture.crc', `CRC init must be a 24-bit integer, got ${crcInit}`);
  }
  let r = reverseBits24(crcInit);
  for (let i = 0; i < pdu.length; i++) r = (r >>> 8) ^ TABLE[(r ^ pdu[i]!) & 0xff]!;
  return reverseBits24(r);
}

/**
 * Write a CRC (the register value bleCrc24 returns) as it goes on air: position 23 first
 * (§3.1.1), and each octet least significant bit first, so the first octet holds positions
 * 23..16 with position 23 in its bit 0. That is the reflected register, little-endian.
 */
export function writeCrc24OnAir(out: Uint8Array, offset: number, crc: number): void {
  const r = reverseBits24(crc);
  out[offset] = r & 0xff;
  out[offset + 1] = (r >>> 8) & 0xff;
  out[offset + 2] = r >>> 16;
}

/** The 3 CRC octets of `pdu` in on-air order. */
export function bleCrc24OnAir(pdu: Uint8Array, crcInit: number): Uint8Array {
  const out = new Uint8Array(3);
  writeCrc24OnAir(out, 0, bleCrc24(pdu, crcInit));
  return out;
}
