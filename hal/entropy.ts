// Entropy: true random bytes from the chip's TRNG.
// Not a PRNG for simulation: in the simulator the TRNG is fed from the world's seeded stream.

import type { HalResult } from './result.ts';

/** Blocking like the SDK's TRNG_GetRandomData; the target charges the sampling time. */
export interface Entropy {
  getBytes(length: number): HalResult<Uint8Array>;
}
