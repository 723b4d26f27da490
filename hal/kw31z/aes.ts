// The simulated MKW31Z LTC (AES-128 engine): one block at a time with a key expanded once,
// charged to the ledger. Not a mode of operation (CCM, CMAC live in src/crypto) and not AES-192/256.

import { unsafe as aesRaw } from '@noble/ciphers/aes.js';
import type { AesEngine } from '../aes.ts';
import type { Ledger, Meters } from '../ledger.ts';
import { fail, okVoid, type HalResult } from '../result.ts';
import type { World } from '../../src/sim/world.ts';
import { KW31Z_COSTS, type CostTable } from './costs.ts';

/** The LTC on the KW41Z/31Z does AES-128 only (DESIGN §3). */
export const AES128_KEY_BYTES = 16;
export const AES_BLOCK_BYTES = 16;

export interface Kw31zAesOptions {
  readonly device: string;
  readonly world: World;
  readonly ledger: Ledger;
  readonly costs?: CostTable;
}

/** Little-endian 32-bit word at `i`: the state layout noble's expandKeyLE/encrypt work in. */
const wordLe = (b: Uint8Array, i: number): number => (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;

function putWordLe(b: Uint8Array, i: number, w: number): void {
  b[i] = w & 0xff;
  b[i + 1] = (w >>> 8) & 0xff;
  b[i + 2] = (w >>> 16) & 0xff;
  b[i + 3] = (w >>> 24) & 0xff;
}

/**
 * Why noble's `unsafe.expandKeyLE` + `unsafe.encrypt` and not `ecb(key).encrypt(block)`:
 * the engine keeps one expanded key like the LTC keeps its key registers, and CCM/CMAC call
 * it once per block, so a per-block cipher object, padding check and output array would be
 * pure overhead. `unsafe.encryptBlock` would do, but it builds a Uint32Array view of the
 * block on every call and needs the block 4-byte aligned; `encrypt` takes the four state
 * words, so we pack them ourselves with the byte order explicit. `unsafe` is documented as
 * "may change at any time": the version is pinned in package.json and the FIPS-197 vector
 * and the cross-check against `ecb` in test/hal/kw31z/aes.test.ts catch a change on upgrade.
 */
export class Kw31zAes implements AesEngine {
  private readonly device: string;
  private readonly world: World;
  private readonly ledger: Ledger;
  private readonly blockMeters: Meters;
  /** Round keys (FIPS-197 §5.2, 44 words); undefined until setKey. */
  private roundKeys: Uint32Array | undefined;

  constructor(opts: Kw31zAesOptions) {
    this.device = opts.device;
    this.world = opts.world;
    this.ledger = opts.ledger;
    const costs = opts.costs ?? KW31Z_COSTS;
    // The LTC's own current is inside the CPU run current while the CPU waits for it
    // (ledger.ts charges aesBlocksHw at 0 µJ), so the block costs the cycles the CPU stalls.
    this.blockMeters = { aesBlocksHw: 1, cpuCycles: Math.round(costs.aesLtcCyclesPerBlock.value) };
  }

  setKey(key: Uint8Array): HalResult {
    if (!(key instanceof Uint8Array) || key.length !== AES128_KEY_BYTES) {
      return fail('invalid', `AES-128 key must be ${AES128_KEY_BYTES} bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`);
    }
    // Wipe the old schedule: a key left in memory is a key that can leak (the LTC clears its
    // key registers on a new load too).
    this.roundKeys?.fill(0);
    this.roundKeys = aesRaw.expandKeyLE(key);
    // No key material in the trace, only that a key was loaded. Not charged: the load is a
    // few register writes next to the per-block cost (assumption).
    if (this.world.trace.wants('crypto')) this.world.trace.record(this.device, 'crypto', 'aes.set-key', {});
    return okVoid;
  }

  encryptBlock(input: Uint8Array, output: Uint8Array): HalResult {
    const xk = this.roundKeys;
    if (xk === undefined) return fail('off', 'no key loaded');
    if (input.length !== AES_BLOCK_BYTES || output.length !== AES_BLOCK_BYTES) {
      return fail('size', `blocks are ${AES_BLOCK_BYTES} bytes, got input ${input.length} and output ${output.length}`);
    }
    // All four words are read before any is written, so output may be input.
    const s = aesRaw.encrypt(xk, wordLe(input, 0), wordLe(input, 4), wordLe(input, 8), wordLe(input, 12));
    putWordLe(output, 0, s.s0);
    putWordLe(output, 4, s.s1);
    putWordLe(output, 8, s.s2);
    putWordLe(output, 12, s.s3);
    this.ledger.charge('crypto', this.blockMeters);
    // Per-block records only in verbose traces: CCM makes several per packet.
    if (this.world.trace.verbose && this.world.trace.wants('crypto')) {
      this.world.trace.record(this.device, 'crypto', 'aes.block', {});
    }
    return okVoid;
  }
}
