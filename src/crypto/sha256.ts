// SHA-256 (FIPS 180-4) charged to the device's ledger per 64-byte compression, for the audit
// chain and anything else that hashes on the chip. Not HMAC and not a KDF: build those on it.

import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { CRYPTO_ACTIVITY, sha256BlockCount, type CostContext } from './cost.ts';
import { requireUint8Array } from './errors.ts';

export const SHA256_BYTES = 32;

export interface Sha256Options {
  readonly cost?: CostContext;
}

/** SHA-256 of `message`, charged as ⌈(n + 9) / 64⌉ blocks at the table's cycles per block (the KW31Z has no hash engine). */
export function sha256(message: Uint8Array, opts: Sha256Options = {}): Uint8Array {
  requireUint8Array('SHA-256 message', message);
  const digest = nobleSha256(message);
  const ctx = opts.cost;
  if (ctx !== undefined) {
    const blocks = sha256BlockCount(message.length);
    const meters = { cpuCycles: blocks * Math.round(ctx.costs.sha256CyclesPer64Bytes.value) };
    ctx.ledger.charge(CRYPTO_ACTIVITY, meters);
    ctx.onCharge?.({ operation: 'sha256', aesBlocks: 0, sha256Blocks: blocks, meters });
  }
  return digest;
}
