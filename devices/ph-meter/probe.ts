// What the meter's machines read: one probe sample (electrode mV and temperature) at a time,
// split-phase on the device's clock. Not the sensors (sensors.ts reads them through the KW31Z
// ADC) nor what the machines make of the samples (measurement.machine.ts, calibration.machine.ts).

/** Why a sample has no usable value. */
export type ProbeFault =
  /** The electrode's signal is pinned at a rail or flat: no glass membrane response (dead or unplugged probe). */
  | 'electrode-dead'
  /** The temperature channel reads open circuit (sensor missing or wire broken). */
  | 'temperature-open'
  /** The temperature channel reads short circuit. */
  | 'temperature-short';

/** One sample. */
export interface ProbeSample {
  /** Device time of the sample, µs. */
  readonly atUs: number;
  /** Electrode potential, mV (undefined with 'electrode-dead'). */
  readonly mv: number | undefined;
  /** Solution temperature, °C (undefined with a temperature fault). */
  readonly tempC: number | undefined;
  /** Faults the sensors saw in this sample; empty when both values are good. */
  readonly faults: readonly ProbeFault[];
}

/** Reads the probe. One read at a time: a second read while one is in flight answers 'busy'. */
export interface ProbeReader {
  /** Start one sample; `done` runs later on the device clock. */
  read(done: (sample: ProbeSample) => void): { readonly ok: true } | { readonly ok: false; readonly code: 'busy' };
}
