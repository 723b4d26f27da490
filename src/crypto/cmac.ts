// AES-128-CMAC (RFC 4493, NIST SP 800-38B) through @noble/ciphers, with its block count charged.
// Not a general MAC registry and not AES-192/256 CMAC (the LE SC toolbox and session key derivation need AES-128 only).

import { cmac as nobleCmac } from '@noble/ciphers/aes.js';
import { AES128_KEY_BYTES } from './aes-block.ts';
import { chargeAes, cmacBlockCount, type CostContext } from './cost.ts';
import { requireBytes, requireUint8Array } from './errors.ts';

export const CMAC_TAG_BYTES = 16;

export interface CmacOptions {
  readonly cost?: CostContext;
}

/** CMAC without argument checks or charging: the toolbox checks its own inputs and charges once per function. */
export function cmacUnchecked(key: Uint8Array, message: Uint8Array): Uint8Array {
  // noble's argument order is (message, key).
  return nobleCmac(message, key);
}

/**
 * AES-CMAC_K(M), RFC 4493 §2.4: the full 16-byte tag, MSB-first as the RFC prints it.
 * Key and message are byte strings in the RFC's order. Charged as RFC 4493's block count
 * (cost.ts cmacBlockCount: the subkey block plus one per message block).
 */
export function aesCmac(key: Uint8Array, message: Uint8Array, opts: CmacOptions = {}): Uint8Array {
  requireBytes('AES-CMAC key', key, AES128_KEY_BYTES);
  requireUint8Array('AES-CMAC message', message);
  const tag = cmacUnchecked(key, message);
  chargeAes(opts.cost, 'cmac', cmacBlockCount(message.length));
  return tag;
}
