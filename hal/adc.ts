// Adc: a 16-bit successive-approximation converter with named channels.
// Not a sensor model: what is wired to a channel (electrode, thermistor, pressure) is the target's.

import type { HalResult } from './result.ts';

export interface AdcClient {
  /** One conversion finished: `raw` is 0..65535. */
  sampleDone(channel: string, raw: number): void;
}

export interface Adc {
  readonly channels: readonly string[];
  /** Volts at full scale (raw 65535). */
  readonly referenceVolts: number;
  setClient(client: AdcClient): void;
  /** Start one conversion; 'busy' while one is in flight, 'invalid' for an unknown channel. */
  sample(channel: string): HalResult;
}
