// The simulated MKW31Z TRNG: random bytes from the world's seeded stream, charged to the ledger.
// Not a source of real entropy: runs must repeat; a real target reads real entropy.

import type { Entropy } from '../entropy.ts';
import type { Ledger } from '../ledger.ts';
import { fail, ok, type HalResult } from '../result.ts';
import type { Rng } from '../../src/sim/random.ts';
import type { World } from '../../src/sim/world.ts';
import { KW31Z_COSTS, type CostTable } from './costs.ts';

/**
 * Largest single request. The SDK's TRNG_GetRandomData has no such limit, but a firmware
 * asking for more than a few keys' worth at once is a bug we want to see (assumption).
 */
export const KW31Z_TRNG_MAX_BYTES = 4096;

export interface Kw31zTrngOptions {
  readonly device: string;
  readonly world: World;
  readonly ledger: Ledger;
  readonly costs?: CostTable;
}

export class Kw31zTrng implements Entropy {
  private readonly device: string;
  private readonly world: World;
  private readonly ledger: Ledger;
  private readonly rng: Rng;
  private readonly cyclesPerByte: number;

  constructor(opts: Kw31zTrngOptions) {
    this.device = opts.device;
    this.world = opts.world;
    this.ledger = opts.ledger;
    // One stream per device and purpose: another peripheral drawing randomness (ADC noise,
    // radio loss) never shifts the bytes this device's keys are made from.
    this.rng = opts.world.random.stream(opts.device, 'trng');
    this.cyclesPerByte = Math.round((opts.costs ?? KW31Z_COSTS).trngCyclesPerByte.value);
  }

  /**
   * `length` fresh bytes. Drawn in 32-bit words, like reading the TRNG's ENT registers; the
   * unused bytes of a last partial word are discarded, so 3 + 3 bytes differ from 6 at once.
   */
  getBytes(length: number): HalResult<Uint8Array> {
    if (!Number.isInteger(length) || length <= 0) return fail('invalid', `length must be a positive integer, got ${length}`);
    if (length > KW31Z_TRNG_MAX_BYTES) return fail('size', `at most ${KW31Z_TRNG_MAX_BYTES} bytes per request, got ${length}`);
    const bytes = this.rng.bytes(length);
    // Blocking: the CPU waits while the TRNG samples (costs.ts trngCyclesPerByte).
    this.ledger.charge('crypto', { cpuCycles: length * this.cyclesPerByte });
    // The length only: the bytes become keys and nonces, which never go into a trace.
    if (this.world.trace.wants('crypto')) this.world.trace.record(this.device, 'crypto', 'trng.read', { length });
    return ok(bytes);
  }
}
