// End-to-end tests of the probe reader on the real Kw31zAdc and World: exact samples (both noise
// streams replayed), chained split-phase conversions, busy, ledger charges, faults visible in the
// samples, t90 as the meter sees it, determinism. Not the models' own figures (their tests).

import { describe, expect, it } from 'vitest';
import { adcRaw, Kw31zAdc } from '../../../hal/kw31z/adc.ts';
import { createKw31zBoard } from '../../../hal/kw31z/board.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { NEW_PROBE, OLD_PROBE, type ElectrodeFault } from '../../../devices/ph-meter/electrode.ts';
import { frontEndVolts, mvFromRaw, PH_METER_VREF_VOLTS } from '../../../devices/ph-meter/front-end.ts';
import { nernstSlopeMv } from '../../../devices/ph-meter/nernst.ts';
import type { ProbeSample } from '../../../devices/ph-meter/probe.ts';
import { ProbeSensors } from '../../../devices/ph-meter/sensors.ts';
import { DEFAULT_STABILITY, judgeStability } from '../../../devices/ph-meter/stability.ts';
import { createPhProbe } from '../../../devices/ph-meter/simulated-probe.ts';
import { tempCFromRaw } from '../../../devices/ph-meter/temperature-sensor.ts';
import { Air } from '../../../src/sim/air/air.ts';
import { World } from '../../../src/sim/world.ts';
import { DEVICE, mustNumber, probeRig, US_PER_S } from './probe-fixtures.ts';

const CONVERSION_US = KW31Z_COSTS.adcConversionUs.value; // 25 µs
/** Electrode noise (10 µV) and ADC noise (3 LSB × 18.31 µV) together, rms, mV. */
const NEW_PROBE_SIGMA_MV = Math.hypot(0.01, (3 * 1.2) / 65.535);

describe('a new probe in pH 7.00 at 25 °C', () => {
  it('reads exactly what the electrode, front end and ADC make of it (both noise streams replayed)', () => {
    const r = probeRig({ solution: { ph: 7, tempC: 25 } });
    const electrodeNoise = new World({ seed: 'probe-test' }).random.stream(DEVICE, 'electrode');
    const adcNoise = new World({ seed: 'probe-test' }).random.stream(DEVICE, 'adc');
    const times = [0, US_PER_S, 2 * US_PER_S];
    const samples = r.readAt(times);
    samples.forEach((s, i) => {
      const t = times[i]!;
      // One electrode draw at the S/H instant, then one ADC draw per conversion (electrode, temperature).
      const e = r.probe.electrode.responseMvAt(t) + 0.01 * electrodeNoise.normal();
      const eRaw = adcRaw(frontEndVolts(e), PH_METER_VREF_VOLTS, 3 * adcNoise.normal());
      const tRaw = adcRaw(r.probe.thermistor.voltsAt(t + CONVERSION_US), PH_METER_VREF_VOLTS, 3 * adcNoise.normal());
      const temp = tempCFromRaw(tRaw);
      expect(s).toEqual({ atUs: t, mv: mvFromRaw(eRaw), tempC: temp.ok ? temp.tempC : undefined, faults: [] });
    });
  });

  it('reads the electrode’s +4 mV offset within 5σ of the noise (0.28 mV) and 25 °C within 0.1 °C, over 50 samples', () => {
    const r = probeRig({ solution: { ph: 7, tempC: 25 } });
    const samples = r.readAt(Array.from({ length: 50 }, (_, i) => i * 200_000));
    for (const s of samples) {
      expect(s.faults).toEqual([]);
      expect(Math.abs(mustNumber(s.mv, 'mv') - NEW_PROBE.offsetMv)).toBeLessThan(5 * NEW_PROBE_SIGMA_MV);
      expect(Math.abs(mustNumber(s.tempC, 'tempC') - 25)).toBeLessThan(0.1);
    }
  });

  it('reads pH 4.01 at 25 °C as offset − 0.99·59.16·(4.01 − 7) = +179.12 mV', () => {
    const r = probeRig({ solution: { ph: 4.01, tempC: 25 } });
    const expected = 4 + 0.99 * nernstSlopeMv(25) * 2.99;
    expect(expected).toBeCloseTo(179.12, 2);
    const [s] = r.readAt([0]);
    expect(Math.abs(mustNumber(s!.mv, 'mv') - expected)).toBeLessThan(5 * NEW_PROBE_SIGMA_MV);
  });
});

describe('split-phase, one read at a time', () => {
  it('converts the electrode then the temperature, 25 µs apart, and calls back 50 µs after read(), never inside it', () => {
    const r = probeRig();
    r.world.runUntil(1_000);
    const got: { sample: ProbeSample; tUs: number }[] = [];
    expect(r.probe.reader.read((sample) => got.push({ sample, tUs: r.world.nowUs }))).toEqual({ ok: true });
    expect(got).toEqual([]);
    expect(r.probe.reader.busy).toBe(true);
    r.world.runUntil(1_049);
    expect(got).toEqual([]);
    r.world.runUntil(1_050);
    expect(got.map((g) => [g.tUs, g.sample.atUs])).toEqual([[1_050, 1_000]]);
    expect(r.probe.reader.busy).toBe(false);
    expect(r.world.trace.filter({ layer: 'adc' }).map((x) => [x.tUs, x.fields['channel']])).toEqual([
      [1_025, 'electrode'],
      [1_050, 'temperature'],
    ]);
  });

  it('answers busy to a second read in flight; the refused read charges nothing and is never called back', () => {
    const r = probeRig();
    const first: ProbeSample[] = [];
    const second: ProbeSample[] = [];
    expect(r.probe.reader.read((s) => first.push(s)).ok).toBe(true);
    expect(r.probe.reader.read((s) => second.push(s))).toEqual({ ok: false, code: 'busy' });
    expect(r.meters('sensing').adcConversions).toBe(1);
    r.world.runFor(CONVERSION_US); // between the two conversions: still busy
    expect(r.probe.reader.read((s) => second.push(s))).toEqual({ ok: false, code: 'busy' });
    r.world.runFor(1_000);
    expect(first).toHaveLength(1);
    expect(second).toEqual([]);
    expect(r.meters('sensing').adcConversions).toBe(2);
  });

  it('answers busy while the ADC runs a conversion it did not start, and ignores that conversion’s result', () => {
    const r = probeRig();
    expect(r.probe.adc.sample('temperature').ok).toBe(true);
    expect(r.probe.reader.read(() => {})).toEqual({ ok: false, code: 'busy' });
    r.world.runFor(1_000);
    expect(r.probe.reader.busy).toBe(false);
    expect(r.read().faults).toEqual([]);
  });

  it('may start the next read from the callback', () => {
    const r = probeRig();
    const at: number[] = [];
    const next = (s: ProbeSample) => {
      at.push(s.atUs);
      if (at.length < 3) expect(r.probe.reader.read(next).ok).toBe(true);
    };
    r.probe.reader.read(next);
    r.world.runFor(1_000);
    expect(at).toEqual([0, 50, 100]);
  });

  it('charges the ledger two ADC conversions (and their 2 × 1,200 polling cycles) per read', () => {
    const r = probeRig();
    r.readAt(Array.from({ length: 7 }, (_, i) => i * 1_000));
    expect(r.meters('sensing')).toMatchObject({ adcConversions: 14, cpuCycles: 14 * 1_200 });
  });

  it('builds on a board in one call, charging the board’s ledger', () => {
    const world = new World({ seed: 'board' });
    const board = createKw31zBoard({
      world,
      air: new Air(world),
      device: 'meter',
      address: { address: 'C0:00:00:00:00:07', random: true },
      battery: 'cr2032',
      flashSizeBytes: 16 * 1024,
    });
    const probe = createPhProbe({ ...board, electrode: OLD_PROBE, solution: { ph: 7, tempC: 25 } });
    const s = world.settle<ProbeSample>((done) => probe.reader.read(done));
    expect(Math.abs(mustNumber(s.mv, 'mv') - 31)).toBeLessThan(0.5); // the old probe's offset
    const sensing = board.ledger.summary().activities.find((a) => a.activity === 'sensing')!;
    expect(sensing.meters.adcConversions).toBe(2);
  });

  it('refuses an ADC without its two channels (probe.config)', () => {
    const world = new World();
    const adc = new Kw31zAdc({
      device: DEVICE,
      world,
      ledger: new Kw31zLedger(DEVICE, () => world.nowUs),
      referenceVolts: 1.2,
      channels: { electrode: () => 0.6 },
    });
    expect(() => new ProbeSensors({ adc, nowUs: () => world.nowUs })).toThrow(expect.objectContaining({ code: 'probe.config' }));
  });
});

describe('electrode faults in the samples', () => {
  it('dead-open: electrode-dead with no mV, the temperature still good; both faults together in order', () => {
    const r = probeRig({ solution: { ph: 7, tempC: 25 } });
    r.probe.electrode.setFault('dead-open');
    const s = r.read();
    expect(s.faults).toEqual(['electrode-dead']);
    expect(s.mv).toBeUndefined();
    expect(Math.abs(mustNumber(s.tempC, 'tempC') - 25)).toBeLessThan(0.1);
    r.probe.thermistor.setFault('open');
    expect(r.read()).toMatchObject({ mv: undefined, tempC: undefined, faults: ['electrode-dead', 'temperature-open'] });
  });

  it('dead-shorted: no fault flag, but the same ~0 mV in pH 4 and pH 10 (no response: calibration rejects it)', () => {
    const r = probeRig({ solution: { ph: 7, tempC: 25 } });
    r.probe.electrode.setFault('dead-shorted');
    const mv: number[] = [];
    for (const ph of [4, 10]) {
      r.probe.immerse({ ph, tempC: 25 });
      const [s] = r.readAt([r.world.nowUs + 10 * NEW_PROBE.t90Us]);
      expect(s!.faults).toEqual([]);
      mv.push(mustNumber(s!.mv, 'mv'));
    }
    for (const v of mv) expect(Math.abs(v)).toBeLessThan(5 * NEW_PROBE_SIGMA_MV);
    // A healthy electrode would span 0.99 × 59.16 × 6 = 351 mV between the two.
    expect(Math.abs(mv[0]! - mv[1]!)).toBeLessThan(10 * NEW_PROBE_SIGMA_MV);
  });

  it('unstable: the meter’s own stability test (stability.ts, default criterion) never passes in 10 min at 1 Hz; a healthy probe passes', () => {
    const verdicts = (fault: ElectrodeFault) => {
      const r = probeRig({ solution: { ph: 7, tempC: 25 } });
      r.probe.electrode.setFault(fault);
      const window = DEFAULT_STABILITY.windowSamples;
      const mv = r.readAt(Array.from({ length: 600 }, (_, i) => i * US_PER_S)).map((s) => ({ atUs: s.atUs, mv: mustNumber(s.mv, 'mv') }));
      return Array.from({ length: mv.length - window + 1 }, (_, i) => judgeStability(mv.slice(i, i + window), DEFAULT_STABILITY));
    };
    const unstable = verdicts('unstable');
    expect(unstable.filter((v) => v.stable)).toEqual([]);
    // Not by a hair: the wander leaves more than twice the 0.3 mV noise bound in every window.
    expect(Math.min(...unstable.map((v) => v.noiseMvRms!))).toBeGreaterThan(0.6);
    const healthy = verdicts('none');
    expect(healthy.filter((v) => v.stable).length).toBeGreaterThan(0.95 * healthy.length);
  });
});

describe('response time as the meter sees it', () => {
  it('a 7 → 4 step crosses 90 % at t90 (5 s) ± one 100 ms sampling step', () => {
    const r = probeRig({ solution: { ph: 7, tempC: 25 } });
    r.world.runUntil(US_PER_S);
    const from = mustNumber(r.read().mv, 'mv');
    const t0 = r.world.nowUs;
    r.probe.immerse({ ph: 4, tempC: 25 });
    const to = r.probe.electrode.targetMvAt(t0);
    const times = Array.from({ length: 100 }, (_, i) => t0 + (i + 1) * 100_000);
    const samples = r.readAt(times);
    const first90 = samples.find((s) => mustNumber(s.mv, 'mv') >= from + 0.9 * (to - from));
    expect(first90).toBeDefined();
    expect(Math.abs(first90!.atUs - (t0 + NEW_PROBE.t90Us))).toBeLessThanOrEqual(100_000);
  });
});

describe('determinism', () => {
  const story = (seed: string) => {
    const r = probeRig({ seed, solution: { ph: 7, tempC: 25 } });
    const out: ProbeSample[] = [];
    out.push(...r.readAt([0, 500_000]));
    r.probe.immerse({ ph: 10.01, tempC: 30 });
    out.push(...r.readAt([1_000_000, 3_000_000, 6_000_000]));
    r.probe.electrode.setFault('unstable');
    out.push(...r.readAt([7_000_000, 8_000_000]));
    r.probe.thermistor.setFault('short');
    out.push(...r.readAt([9_000_000]));
    return { out, trace: r.world.trace.toJsonLines() };
  };
  it('same seed ⇒ the same samples and trace; another seed gives other samples', () => {
    const a = story('s1');
    expect(story('s1')).toEqual(a);
    expect(story('s2').out).not.toEqual(a.out);
    expect(a.out.at(-1)!.faults).toEqual(['temperature-short']);
  });
});
