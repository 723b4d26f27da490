// Tests for the simulated KW31Z ADC: exact codes, seeded noise, split-phase timing on the
// scheduler, errors that change nothing, exact ledger charges. Not tests of any sensor model.

import { describe, expect, it } from 'vitest';
import { ADC_FULL_SCALE_RAW, Kw31zAdc, adcRaw, type Kw31zAdcOptions } from '../../../hal/kw31z/adc.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import type { Activity } from '../../../hal/ledger.ts';
import type { HalResult } from '../../../hal/result.ts';
import { MedtwinError } from '../../../src/errors.ts';
import { World } from '../../../src/sim/world.ts';

interface Sample {
  readonly channel: string;
  readonly raw: number;
  readonly tUs: number;
}

function setup(opts: Partial<Omit<Kw31zAdcOptions, 'world' | 'ledger'>> & { seed?: string } = {}) {
  const device = opts.device ?? 'ph-meter';
  const world = new World({ seed: opts.seed ?? 'adc-test' });
  const ledger = new Kw31zLedger(device, () => world.nowUs);
  const adc = new Kw31zAdc({
    device,
    world,
    ledger,
    referenceVolts: opts.referenceVolts ?? 1.2,
    channels: opts.channels ?? { electrode: () => 0.6, thermistor: () => 0.3 },
    ...(opts.noiseLsbSigma === undefined ? {} : { noiseLsbSigma: opts.noiseLsbSigma }),
  });
  const samples: Sample[] = [];
  const client = { sampleDone: (channel: string, raw: number) => samples.push({ channel, raw, tUs: world.nowUs }) };
  const meters = (a: Activity) => ledger.summary().activities.find((x) => x.activity === a)!.meters;
  return { world, ledger, adc, samples, client, meters };
}

function ok(r: HalResult): void {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}`);
}

/** Convert once and run the world until the result is in. */
function convert(s: ReturnType<typeof setup>, channel: string): number {
  ok(s.adc.sample(channel));
  s.world.runFor(KW31Z_COSTS.adcConversionUs.value);
  const last = s.samples.at(-1);
  if (last === undefined) throw new Error('no sample');
  return last.raw;
}

describe('adcRaw', () => {
  it.each([
    [0.6, 1.2, 0, 32_768], // 0.5 × 65535 = 32767.5 rounds up
    [0, 1.2, 0, 0],
    [1.2, 1.2, 0, 65_535],
    [1.5, 3.0, 0, 32_768],
    [0.6, 1.2, 2.4, 32_770], // 32767.5 + 2.4 = 32769.9
    [0.6, 1.2, -2.6, 32_765], // 32764.9
    [-0.1, 1.2, 0, 0], // below ground clamps
    [1.3, 1.2, 0, 65_535], // over range clamps
    [1.2, 1.2, 10, 65_535],
    [0, 1.2, -10, 0],
  ])('adcRaw(%s V, vref %s V, noise %s LSB) = %i', (v, vref, noise, raw) => {
    expect(adcRaw(v, vref, noise)).toBe(raw);
  });
});

describe('Kw31zAdc conversions', () => {
  it('lists its channels and reference', () => {
    const { adc } = setup({ referenceVolts: 3.0 });
    expect(adc.channels).toEqual(['electrode', 'thermistor']);
    expect(adc.referenceVolts).toBe(3.0);
  });

  it('is ideal with noise 0: 0.6 V on a 1.2 V reference reads 32768', () => {
    const s = setup({ noiseLsbSigma: 0 });
    s.adc.setClient(s.client);
    expect(convert(s, 'electrode')).toBe(32_768);
    expect(convert(s, 'thermistor')).toBe(adcRaw(0.3, 1.2, 0));
  });

  it('adds noise of the given sigma from the stream (device, "adc"), exactly', () => {
    const s = setup({ noiseLsbSigma: 3 });
    s.adc.setClient(s.client);
    const raws = [0, 1, 2, 3, 4].map(() => convert(s, 'electrode'));
    const ref = new World({ seed: 'adc-test' }).random.stream('ph-meter', 'adc');
    expect(raws).toEqual([0, 1, 2, 3, 4].map(() => adcRaw(0.6, 1.2, 3 * ref.normal())));
    expect(new Set(raws).size).toBeGreaterThan(1);
    for (const r of raws) expect(Math.abs(r - 32_768)).toBeLessThan(30); // ±10σ
  });

  it('repeats for the same seed and device, and differs for another device or seed', () => {
    const run = (seed: string, device: string) => {
      const s = setup({ seed, device });
      s.adc.setClient(s.client);
      return [0, 1, 2, 3, 4, 5, 6, 7].map(() => convert(s, 'electrode'));
    };
    expect(run('adc-test', 'ph-meter')).toEqual(run('adc-test', 'ph-meter'));
    expect(run('adc-test', 'pump')).not.toEqual(run('adc-test', 'ph-meter'));
    expect(run('other', 'ph-meter')).not.toEqual(run('adc-test', 'ph-meter'));
  });

  it('reads the source at the start of the conversion (sample-and-hold)', () => {
    const seen: number[] = [];
    const s = setup({
      noiseLsbSigma: 0,
      channels: {
        ramp: (nowUs) => {
          seen.push(nowUs);
          return nowUs / 1_000_000; // 1 V per second
        },
      },
    });
    s.adc.setClient(s.client);
    s.world.runUntil(600_000);
    ok(s.adc.sample('ramp'));
    s.world.runFor(1_000);
    expect(seen).toEqual([600_000]);
    expect(s.samples).toEqual([{ channel: 'ramp', raw: adcRaw(0.6, 1.2, 0), tUs: 600_025 }]);
  });
});

describe('Kw31zAdc split-phase', () => {
  it('calls sampleDone from the scheduler, adcConversionUs after sample(), never inside it', () => {
    const s = setup({ noiseLsbSigma: 0 });
    s.adc.setClient(s.client);
    s.world.runUntil(1_000);
    ok(s.adc.sample('electrode'));
    expect(s.samples).toEqual([]);
    expect(s.adc.busy).toBe(true);
    s.world.runUntil(1_024);
    expect(s.samples).toEqual([]);
    s.world.runUntil(1_025);
    expect(s.samples).toEqual([{ channel: 'electrode', raw: 32_768, tUs: 1_025 }]);
    expect(s.adc.busy).toBe(false);
    expect(s.world.trace.filter({ layer: 'adc' }).map((r) => [r.tUs, r.kind, r.fields])).toEqual([
      [1_025, 'sample', { channel: 'electrode', raw: 32_768 }],
    ]);
  });

  it('lets the client start the next conversion from sampleDone', () => {
    const s = setup({ noiseLsbSigma: 0 });
    const times: number[] = [];
    s.adc.setClient({
      sampleDone: () => {
        times.push(s.world.nowUs);
        if (times.length < 3) ok(s.adc.sample('electrode'));
      },
    });
    ok(s.adc.sample('electrode'));
    s.world.runFor(1_000);
    expect(times).toEqual([25, 50, 75]);
  });
});

describe('Kw31zAdc errors', () => {
  it('is busy while converting; the refused call changes nothing', () => {
    const s = setup({ noiseLsbSigma: 3 });
    s.adc.setClient(s.client);
    ok(s.adc.sample('electrode'));
    expect(s.adc.sample('thermistor')).toMatchObject({ ok: false, code: 'busy' });
    expect(s.meters('sensing')).toMatchObject({ adcConversions: 1 });
    s.world.runFor(1_000);
    const ref = new World({ seed: 'adc-test' }).random.stream('ph-meter', 'adc');
    expect(s.samples).toEqual([{ channel: 'electrode', raw: adcRaw(0.6, 1.2, 3 * ref.normal()), tUs: 25 }]);
    // The refused call drew no noise: the next conversion takes the stream's second value.
    expect(convert(s, 'electrode')).toBe(adcRaw(0.6, 1.2, 3 * ref.normal()));
  });

  it('fails with invalid for an unknown channel and off without a client, charging nothing', () => {
    const s = setup();
    expect(s.adc.sample('electrode')).toMatchObject({ ok: false, code: 'off' });
    s.adc.setClient(s.client);
    expect(s.adc.sample('pressure')).toMatchObject({ ok: false, code: 'invalid' });
    expect(s.adc.busy).toBe(false);
    s.world.runFor(1_000);
    expect(s.samples).toEqual([]);
    expect(s.meters('sensing')).toMatchObject({ adcConversions: 0, cpuCycles: 0 });
  });

  it('throws for a bad configuration or a source that gives no number', () => {
    expect(() => setup({ referenceVolts: 0 })).toThrow(MedtwinError);
    expect(() => setup({ noiseLsbSigma: -1 })).toThrow(MedtwinError);
    const s = setup({ channels: { broken: () => Number.NaN } });
    s.adc.setClient(s.client);
    expect(() => s.adc.sample('broken')).toThrow(MedtwinError);
  });
});

describe('Kw31zAdc ledger', () => {
  it('charges sensing adcConversions 1 and the conversion time in cycles per conversion', () => {
    const s = setup();
    s.adc.setClient(s.client);
    for (let i = 0; i < 4; i++) convert(s, i % 2 ? 'electrode' : 'thermistor');
    // 25 µs at 48 MHz = 1,200 cycles per conversion.
    expect(KW31Z_COSTS.adcConversionUs.value).toBe(25);
    expect(s.meters('sensing')).toMatchObject({ adcConversions: 4, cpuCycles: 4 * 1_200 });
    expect(s.meters('crypto').cpuCycles).toBe(0);
    expect(ADC_FULL_SCALE_RAW).toBe(65_535);
  });
});
