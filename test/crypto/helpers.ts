// Shared helpers for the crypto tests: hex codecs and the vector files (test/vectors/*.json, copied
// from ../shared/vectors with their source fields, plus ecdsa_p256_rfc6979.json). Not a test file and not a vector source itself.

import { readFileSync } from 'node:fs';

export const fromHex = (h: string): Uint8Array => {
  if (h.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(h)) throw new Error(`bad hex: ${h.slice(0, 20)}…`);
  return Uint8Array.from(Buffer.from(h, 'hex'));
};
export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export function loadVectors<T>(file: 'ccm.json' | 'cmac.json' | 'le_sc_toolbox.json' | 'ecdsa_p256_rfc6979.json'): T {
  return JSON.parse(readFileSync(new URL(`../vectors/${file}`, import.meta.url), 'utf8')) as T;
}

/** A copy of `b` with bit `bit` (0 = MSB of byte 0) flipped. */
export function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const out = b.slice();
  out[bit >> 3]! ^= 0x80 >> (bit & 7);
  return out;
}
