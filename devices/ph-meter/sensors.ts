// The firmware's probe reader: one ProbeSample from two chained ADC conversions (electrode, then
// temperature), converted to mV and °C with the sensors' faults. Sees only the HAL Adc interface.
// Not the simulated probe hardware (electrode.ts, temperature-sensor.ts, simulated-probe.ts) nor
// what the machines make of the samples (stability, compensation, calibration).

import type { Adc, AdcClient } from '../../hal/adc.ts';
import { MedtwinError } from '../../src/errors.ts';
import { electrodeFromRaw, PH_METER_VREF_VOLTS } from './front-end.ts';
import type { ProbeFault, ProbeReader, ProbeSample } from './probe.ts';
import { tempCFromRaw } from './temperature-sensor.ts';

/** The ADC channel names the pH meter's board wires. */
export const ELECTRODE_CHANNEL = 'electrode';
export const TEMPERATURE_CHANNEL = 'temperature';

const OK = Object.freeze({ ok: true as const });
const BUSY = Object.freeze({ ok: false as const, code: 'busy' as const });

export interface ProbeSensorsOptions {
  /** The ADC with ELECTRODE_CHANNEL and TEMPERATURE_CHANNEL; the reader becomes its client. */
  readonly adc: Adc;
  /** The device clock (the HAL Alarm's nowUs): stamps each sample. */
  readonly nowUs: () => number;
}

interface Pending {
  readonly done: (sample: ProbeSample) => void;
  readonly atUs: number;
  electrodeRaw: number | undefined;
}

/**
 * read() starts the electrode conversion; its completion starts the temperature conversion (the ADC
 * does one at a time); the second completion delivers the sample. Each sample is stamped with the
 * time the electrode was sampled (the sample-and-hold instant), the value it describes; the two
 * conversions are one ADC conversion time apart (25 µs), far below anything either signal does.
 * `done` is called from the ADC's completion, never inside read(), and the reader is free again
 * before it runs, so `done` may start the next read.
 */
export class ProbeSensors implements ProbeReader, AdcClient {
  private readonly adc: Adc;
  private readonly nowUs: () => number;
  private pending: Pending | undefined;

  constructor(opts: ProbeSensorsOptions) {
    for (const ch of [ELECTRODE_CHANNEL, TEMPERATURE_CHANNEL]) {
      if (!opts.adc.channels.includes(ch)) {
        throw new MedtwinError('probe.config', `the ADC has no "${ch}" channel (has ${opts.adc.channels.join(', ')})`);
      }
    }
    this.adc = opts.adc;
    this.nowUs = opts.nowUs;
    opts.adc.setClient(this);
  }

  /** True while a read is in flight. */
  get busy(): boolean {
    return this.pending !== undefined;
  }

  read(done: (sample: ProbeSample) => void): { readonly ok: true } | { readonly ok: false; readonly code: 'busy' } {
    if (this.pending !== undefined) return BUSY;
    const atUs = this.nowUs();
    const r = this.adc.sample(ELECTRODE_CHANNEL);
    if (!r.ok) {
      if (r.code === 'busy') return BUSY; // a conversion we did not start: try later, nothing changed
      throw new MedtwinError('probe.adc', `electrode conversion refused: ${r.code}${r.detail === undefined ? '' : ` (${r.detail})`}`);
    }
    this.pending = { done, atUs, electrodeRaw: undefined };
    return OK;
  }

  sampleDone(channel: string, raw: number): void {
    const p = this.pending;
    if (p === undefined) return; // not ours (a conversion started by someone else before we became the client)
    if (p.electrodeRaw === undefined) {
      if (channel !== ELECTRODE_CHANNEL) return;
      p.electrodeRaw = raw;
      const r = this.adc.sample(TEMPERATURE_CHANNEL);
      // We own the client slot and the converter has just finished: a refusal is a wiring error.
      if (!r.ok) throw new MedtwinError('probe.adc', `temperature conversion refused: ${r.code}`);
      return;
    }
    if (channel !== TEMPERATURE_CHANNEL) return;
    this.pending = undefined;
    p.done(probeSample(p.atUs, p.electrodeRaw, raw, this.adc.referenceVolts));
  }
}

/**
 * The sample two raw codes make: the conversions and their faults, electrode first. The electrode's
 * bias is half the ADC reference (front-end.ts); the temperature divider is ratiometric.
 */
export function probeSample(atUs: number, electrodeRaw: number, temperatureRaw: number, vrefVolts = PH_METER_VREF_VOLTS): ProbeSample {
  const faults: ProbeFault[] = [];
  const e = electrodeFromRaw(electrodeRaw, vrefVolts);
  if (!e.ok) faults.push(e.code);
  const t = tempCFromRaw(temperatureRaw);
  if (!t.ok) faults.push(t.code);
  return { atUs, mv: e.ok ? e.mv : undefined, tempC: t.ok ? t.tempC : undefined, faults };
}
