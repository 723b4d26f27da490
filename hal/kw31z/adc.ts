// The simulated MKW31Z 16-bit ADC: named channels wired to signal sources, split-phase
// conversions on the world's scheduler, seeded noise. Not a sensor model: the sources are the device's.

import type { Adc, AdcClient } from '../adc.ts';
import type { Ledger, Meters } from '../ledger.ts';
import { fail, okVoid, type HalResult } from '../result.ts';
import { MedtwinError } from '../../src/errors.ts';
import type { Rng } from '../../src/sim/random.ts';
import type { Timer } from '../../src/sim/scheduler.ts';
import type { World } from '../../src/sim/world.ts';
import { KW31Z_COSTS, cyclesForUs, type CostTable } from './costs.ts';

/** 16-bit single-ended result: 0..65535. */
export const ADC_FULL_SCALE_RAW = 65_535;

/**
 * Default input-referred noise, in LSB rms at 16 bits. Assumption: a Kinetis-class 16-bit SAR
 * with hardware averaging gives an effective resolution of roughly 13–14 bits, i.e. a few
 * LSB of noise at 16 bits; 3 LSB until the KW41Z ADC electrical table is read.
 */
export const KW31Z_ADC_NOISE_LSB_SIGMA = 3;

/** What is wired to a channel: its voltage at the sampling instant, V. */
export type SignalSource = (nowUs: number) => number;

export interface Kw31zAdcOptions {
  readonly device: string;
  readonly world: World;
  readonly ledger: Ledger;
  /** Channel name → what is wired to it (electrode, thermistor, pressure …); the device composition supplies these. */
  readonly channels: Readonly<Record<string, SignalSource>>;
  /** Volts at raw 65535: e.g. 1.2 V from the VREF or the 3.0 V supply. */
  readonly referenceVolts: number;
  /** Gaussian noise, LSB rms; default KW31Z_ADC_NOISE_LSB_SIGMA. 0 gives the ideal converter. */
  readonly noiseLsbSigma?: number;
  readonly costs?: CostTable;
}

/**
 * raw = clamp(round(volts / referenceVolts × 65535 + noiseLsbSigma × N(0, 1)), 0, 65535)
 *
 * Pure so the tests and a device's own calibration can state the expected code exactly.
 */
export function adcRaw(volts: number, referenceVolts: number, noiseLsb: number): number {
  const code = Math.round((volts / referenceVolts) * ADC_FULL_SCALE_RAW + noiseLsb);
  return code < 0 ? 0 : code > ADC_FULL_SCALE_RAW ? ADC_FULL_SCALE_RAW : code;
}

export class Kw31zAdc implements Adc {
  readonly channels: readonly string[];
  readonly referenceVolts: number;
  private readonly device: string;
  private readonly world: World;
  private readonly ledger: Ledger;
  private readonly sources: ReadonlyMap<string, SignalSource>;
  private readonly noiseLsbSigma: number;
  private readonly rng: Rng;
  private readonly conversionUs: number;
  private readonly conversionMeters: Meters;
  private client: AdcClient | undefined;
  private inFlight: Timer | undefined;

  constructor(opts: Kw31zAdcOptions) {
    if (!(opts.referenceVolts > 0) || !Number.isFinite(opts.referenceVolts)) {
      throw new MedtwinError('adc.config', `reference must be a positive voltage, got ${opts.referenceVolts} V`);
    }
    const noise = opts.noiseLsbSigma ?? KW31Z_ADC_NOISE_LSB_SIGMA;
    if (!(noise >= 0) || !Number.isFinite(noise)) {
      throw new MedtwinError('adc.config', `noise sigma must be ≥ 0 LSB, got ${noise}`);
    }
    this.device = opts.device;
    this.world = opts.world;
    this.ledger = opts.ledger;
    this.sources = new Map(Object.entries(opts.channels));
    this.channels = Object.freeze([...this.sources.keys()]);
    this.referenceVolts = opts.referenceVolts;
    this.noiseLsbSigma = noise;
    this.rng = opts.world.random.stream(opts.device, 'adc');
    const costs = opts.costs ?? KW31Z_COSTS;
    this.conversionUs = Math.round(costs.adcConversionUs.value);
    // The CPU is charged for the conversion time as if it waited (the SDK's polling
    // ADC16_GetChannelStatusFlags loop); the ADC's own current comes with adcConversions.
    this.conversionMeters = { adcConversions: 1, cpuCycles: cyclesForUs(costs, this.conversionUs) };
  }

  setClient(client: AdcClient): void {
    this.client = client;
  }

  /** True while a conversion is in flight. */
  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  sample(channel: string): HalResult {
    const source = this.sources.get(channel);
    if (source === undefined) return fail('invalid', `no channel "${channel}" (have ${this.channels.join(', ')})`);
    if (this.client === undefined) return fail('off', 'no client: nobody would receive the result');
    if (this.inFlight !== undefined) return fail('busy', 'a conversion is in flight');

    // The sample-and-hold captures the input at the start of the conversion, so the source
    // is read now; the result is only visible when the SAR has finished.
    const volts = source(this.world.nowUs);
    if (!Number.isFinite(volts)) {
      throw new MedtwinError('adc.signal', `${this.device}: channel "${channel}" source gave ${volts} V`);
    }
    // Always one draw per conversion, whatever the sigma: the stream's position then does not
    // depend on configuration, and a noiseless run stays aligned with a noisy one.
    const raw = adcRaw(volts, this.referenceVolts, this.noiseLsbSigma * this.rng.normal());
    this.ledger.charge('sensing', this.conversionMeters);
    this.inFlight = this.world.scheduler.schedule(this.conversionUs, () => this.done(channel, raw), 'adc.done');
    return okVoid;
  }

  private done(channel: string, raw: number): void {
    this.inFlight = undefined;
    if (this.world.trace.wants('adc')) this.world.trace.record(this.device, 'adc', 'sample', { channel, raw });
    // The client is read at completion: one set meanwhile is the one that receives it.
    this.client?.sampleDone(channel, raw);
  }
}
