// Tests for the glass electrode model: Nernst figures, exact output for a known line (noise drawn from
// the same seeded stream), t90, drift, ageing and the presets, faults, bad input. Not the ADC path (sensors.test.ts).

import { describe, expect, it } from 'vitest';
import {
  agedLine,
  NEW_PROBE,
  OLD_PROBE,
  PhElectrode,
  UNSTABLE_NOISE_UV_RMS,
  type ElectrodeFault,
  type ElectrodeSpec,
  type Solution,
} from '../../../devices/ph-meter/electrode.ts';
import { nernstSlopeMv } from '../../../devices/ph-meter/nernst.ts';
import { MedtwinError } from '../../../src/errors.ts';
import { World } from '../../../src/sim/world.ts';

const US_PER_S = 1_000_000;
const US_PER_H = 3_600 * US_PER_S;
const DEVICE = 'ph-meter';

/** An electrode that neither drifts nor ages, so its line is exactly its spec. */
const STILL: ElectrodeSpec = { ...NEW_PROBE, driftMvPerHour: 0, slopeLossPerDay: 0, offsetGrowthMvPerDay: 0 };

function rig(spec: ElectrodeSpec, solution?: Solution, seed = 'electrode-test') {
  const world = new World({ seed });
  const electrode = new PhElectrode({ world, device: DEVICE, spec, ...(solution === undefined ? {} : { solution }) });
  /** The stream the electrode draws from, replayed independently. */
  const noise = new World({ seed }).random.stream(DEVICE, 'electrode');
  return { world, electrode, noise };
}

function mustMv(mv: number | undefined): number {
  if (mv === undefined) throw new Error('no potential');
  return mv;
}

describe('Nernst slope (ln10·RT/F)', () => {
  // Published table values (e.g. any pH handbook: 55.19 at 5 °C, 59.16 at 25 °C, 63.13 at 45 °C),
  // and S proportional to absolute temperature.
  it.each([
    [5, 55.19],
    [25, 59.16],
    [45, 63.13],
  ])('%i °C: %s mV/pH', (tempC, mv) => {
    expect(nernstSlopeMv(tempC)).toBeCloseTo(mv, 2);
    expect(nernstSlopeMv(tempC) / nernstSlopeMv(25)).toBeCloseTo((tempC + 273.15) / 298.15, 12);
  });
});

describe('output for a known line', () => {
  const line = { ...STILL, offsetMv: -12, slopeFraction: 0.95, noiseUvRms: 10 };
  it.each([
    [4.0, 25],
    [10.0, 5],
    [1.68, 45],
    [7.0, 25],
  ])('pH %s at %i °C: offset − slope·S(T)·(pH − 7) plus the stream’s noise, exactly', (ph, tempC) => {
    const { electrode, noise } = rig(line, { ph, tempC });
    const ideal = -12 - 0.95 * nernstSlopeMv(tempC) * (ph - 7);
    for (let i = 0; i < 5; i++) {
      const mv = mustMv(electrode.mvAt(0));
      expect(mv).toBeCloseTo(ideal + 0.01 * noise.normal(), 9);
      expect(Math.abs(mv - ideal)).toBeLessThan(0.05); // 5σ of 10 µV
    }
    expect(electrode.targetMvAt(0)).toBeCloseTo(ideal, 12);
  });

  it('acid reads positive: pH 4 at 25 °C with the ideal line is +177.48 mV', () => {
    const { electrode } = rig({ ...STILL, offsetMv: 0, slopeFraction: 1 }, { ph: 4, tempC: 25 });
    expect(electrode.targetMvAt(0)).toBeCloseTo(3 * 59.1593, 3);
  });

  it('has the stated noise: 4,000 draws have an rms of 10 µV ± 10 % (the estimate’s error is 1.1 %)', () => {
    const { electrode } = rig(STILL, { ph: 7, tempC: 25 });
    const target = electrode.targetMvAt(0);
    let sum2 = 0;
    for (let i = 0; i < 4_000; i++) sum2 += (mustMv(electrode.mvAt(0)) - target) ** 2;
    expect(Math.sqrt(sum2 / 4_000) * 1000).toBeGreaterThan(9);
    expect(Math.sqrt(sum2 / 4_000) * 1000).toBeLessThan(11);
  });
});

describe('response time', () => {
  it('reaches 90 % of a step at t90 and 99 % at 2·t90, continuously from where it was', () => {
    const { world, electrode } = rig(STILL, { ph: 7, tempC: 25 });
    world.runUntil(10 * US_PER_S);
    const from = electrode.responseMvAt(world.nowUs);
    electrode.immerse({ ph: 4, tempC: 25 });
    const t0 = world.nowUs;
    const to = electrode.targetMvAt(t0);
    expect(to - from).toBeCloseTo(0.99 * 59.1593 * 3, 3);
    expect(electrode.responseMvAt(t0)).toBeCloseTo(from, 12); // no jump
    const frac = (t: number) => (electrode.responseMvAt(t) - from) / (to - from);
    expect(frac(t0 + NEW_PROBE.t90Us)).toBeCloseTo(0.9, 12);
    expect(frac(t0 + 2 * NEW_PROBE.t90Us)).toBeCloseTo(0.99, 12);
    expect(frac(t0 + NEW_PROBE.t90Us - 100_000)).toBeLessThan(0.9);
  });

  it('a second change mid-response starts from where the glass is, not from the last target', () => {
    const { world, electrode } = rig(STILL, { ph: 7, tempC: 25 });
    electrode.immerse({ ph: 4, tempC: 25 });
    world.runUntil(NEW_PROBE.t90Us); // 90 % of the way to pH 4
    const mid = electrode.responseMvAt(world.nowUs);
    electrode.immerse({ ph: 10, tempC: 25 });
    expect(electrode.responseMvAt(world.nowUs)).toBeCloseTo(mid, 12);
    world.runUntil(world.nowUs + 10 * NEW_PROBE.t90Us);
    expect(electrode.responseMvAt(world.nowUs)).toBeCloseTo(electrode.targetMvAt(world.nowUs), 6);
  });

  it('the old probe is six times slower: at the new probe’s t90 it has covered 1 − 10^(−5/30) = 31.9 %', () => {
    const spec = { ...OLD_PROBE, driftMvPerHour: 0, slopeLossPerDay: 0, offsetGrowthMvPerDay: 0 };
    const { world, electrode } = rig(spec, { ph: 7, tempC: 25 });
    const from = electrode.responseMvAt(0);
    electrode.immerse({ ph: 4, tempC: 25 });
    const to = electrode.targetMvAt(0);
    world.runUntil(NEW_PROBE.t90Us);
    expect((electrode.responseMvAt(world.nowUs) - from) / (to - from)).toBeCloseTo(1 - 10 ** (-5 / 30), 12);
  });
});

describe('drift and ageing', () => {
  it('drifts its offset by driftMvPerHour: +1.5 mV after 3 h at 0.5 mV/h, at every pH', () => {
    const { world, electrode } = rig({ ...STILL, driftMvPerHour: 0.5 }, { ph: 9.18, tempC: 25 });
    const e0 = electrode.targetMvAt(0);
    world.runUntil(3 * US_PER_H);
    expect(electrode.lineAt(world.nowUs)).toEqual({ slopeFraction: STILL.slopeFraction, offsetMv: STILL.offsetMv + 1.5 });
    expect(electrode.targetMvAt(world.nowUs) - e0).toBeCloseTo(1.5, 9);
    expect(Math.abs(mustMv(electrode.mvAt(world.nowUs)) - e0 - 1.5)).toBeLessThan(0.05);
  });

  it('ages with its age in days: slope falls 0.03 %/day, offset grows 0.05 mV/day', () => {
    expect(agedLine(NEW_PROBE, 0)).toEqual({ slopeFraction: 0.99, offsetMv: 4 });
    const at100 = agedLine(NEW_PROBE, 100);
    expect(at100.slopeFraction).toBeCloseTo(0.96, 12);
    expect(at100.offsetMv).toBeCloseTo(9, 12);
    expect(agedLine(NEW_PROBE, 10_000).slopeFraction).toBe(0); // worn out, never negative
  });

  it('keeps ageing on the virtual clock: 10 days of run age the new probe by 10 days', () => {
    const { world, electrode } = rig({ ...NEW_PROBE, driftMvPerHour: 0 });
    world.runUntil(10 * 24 * US_PER_H);
    expect(electrode.ageDaysAt(world.nowUs)).toBeCloseTo(10, 12);
    expect(electrode.lineAt(world.nowUs).slopeFraction).toBeCloseTo(0.987, 12);
    expect(electrode.lineAt(world.nowUs).offsetMv).toBeCloseTo(4.5, 12);
  });

  it('NEW_PROBE is inside the acceptance window with margin; OLD_PROBE fails it on slope (< 85 %) and warns on offset (> 30 mV)', () => {
    // DESIGN §6: fail slope < 85 % or > 105 %, |offset| > 60 mV; warn slope < 92 %, |offset| > 30 mV.
    const fresh = agedLine(NEW_PROBE, NEW_PROBE.ageDays);
    expect(fresh.slopeFraction).toBeGreaterThanOrEqual(0.92);
    expect(Math.abs(fresh.offsetMv)).toBeLessThanOrEqual(30);
    const old = agedLine(OLD_PROBE, OLD_PROBE.ageDays);
    expect(old.slopeFraction).toBeCloseTo(0.828, 12);
    expect(old.slopeFraction).toBeLessThan(0.85);
    expect(old.offsetMv).toBeCloseTo(31, 12);
    expect(old.offsetMv).toBeGreaterThan(30);
    expect(old.offsetMv).toBeLessThan(60);
  });

  it('the old probe’s own potentials in pH 7 and pH 4 give its 82.8 % slope (what any two-point calibration sees)', () => {
    const { world, electrode } = rig(OLD_PROBE, { ph: 7, tempC: 25 });
    const e7 = mustMv(electrode.mvAt(world.nowUs));
    electrode.immerse({ ph: 4, tempC: 25 });
    world.runUntil(10 * OLD_PROBE.t90Us); // settled to 10^-10
    const e4 = mustMv(electrode.mvAt(world.nowUs));
    // Noise 50 µV on each of a 147 mV step: ±0.05 % of slope; the 5 min of ageing on the way is 1e-6.
    expect((e4 - e7) / (3 * nernstSlopeMv(25))).toBeCloseTo(0.828, 3);
    expect(e7).toBeCloseTo(31, 0);
  });
});

describe('faults', () => {
  it('dead-open gives no potential; dead-shorted is a flat 0 mV whatever the solution; clearing restores', () => {
    const { world, electrode } = rig(STILL, { ph: 4, tempC: 25 });
    electrode.setFault('dead-open');
    expect(electrode.mvAt(0)).toBeUndefined();
    electrode.setFault('dead-shorted');
    const shorted: number[] = [];
    for (const ph of [4, 10, 1.68]) {
      electrode.immerse({ ph, tempC: 25 });
      world.runUntil(world.nowUs + 10 * NEW_PROBE.t90Us);
      shorted.push(mustMv(electrode.mvAt(world.nowUs)));
    }
    for (const mv of shorted) expect(Math.abs(mv)).toBeLessThan(0.05); // 5σ of 10 µV: no response at all
    electrode.setFault('none');
    expect(mustMv(electrode.mvAt(world.nowUs))).toBeCloseTo(electrode.targetMvAt(world.nowUs), 1);
    expect(electrode.targetMvAt(world.nowUs)).toBeCloseTo(4 + 0.99 * 59.1593 * 5.32, 2);
  });

  it('unstable wanders: every 10 s window of 60 s sampled at 2 Hz spans more than 2 mV (the healthy one: < 0.1 mV)', () => {
    const spans = (fault: ElectrodeFault) => {
      const { world, electrode } = rig(STILL, { ph: 7, tempC: 25 });
      electrode.setFault(fault);
      const mv: number[] = [];
      for (let t = 0; t <= 60 * US_PER_S; t += US_PER_S / 2) {
        world.runUntil(t);
        mv.push(mustMv(electrode.mvAt(t)));
      }
      const out: number[] = [];
      for (let i = 0; i + 20 < mv.length; i++) {
        const w = mv.slice(i, i + 21);
        out.push(Math.max(...w) - Math.min(...w));
      }
      return out;
    };
    expect(Math.min(...spans('unstable'))).toBeGreaterThan(2);
    expect(Math.max(...spans('none'))).toBeLessThan(0.1);
    expect(UNSTABLE_NOISE_UV_RMS).toBe(500);
  });

  it('records immersions and faults in the trace', () => {
    const { world, electrode } = rig(STILL);
    electrode.immerse({ ph: 4.01, tempC: 20 });
    electrode.setFault('unstable');
    expect(world.trace.filter({ layer: 'probe' }).map((r) => [r.kind, r.fields])).toEqual([
      ['immerse', { ph: 4.01, tempC: 20 }],
      ['electrode.fault', { fault: 'unstable' }],
    ]);
  });
});

describe('determinism', () => {
  const run = (seed: string) => {
    const { world, electrode } = rig(NEW_PROBE, { ph: 7, tempC: 25 }, seed);
    const out: (number | undefined)[] = [];
    electrode.immerse({ ph: 4, tempC: 25 });
    for (let i = 0; i < 20; i++) {
      world.runUntil(i * 250_000);
      if (i === 10) electrode.setFault('unstable');
      out.push(electrode.mvAt(world.nowUs));
    }
    return out;
  };
  it('same seed ⇒ same potentials; another seed differs', () => {
    expect(run('a')).toEqual(run('a'));
    expect(run('b')).not.toEqual(run('a'));
  });
});

describe('bad input', () => {
  it.each([
    [{ ph: Number.NaN, tempC: 25 }],
    [{ ph: 17, tempC: 25 }],
    [{ ph: -3, tempC: 25 }],
    [{ ph: 7, tempC: 150 }],
    [{ ph: 7, tempC: -20 }],
  ])('immerse(%o) throws electrode.solution and changes nothing', (s) => {
    const { world, electrode } = rig(STILL, { ph: 4, tempC: 25 });
    world.runUntil(US_PER_S);
    const before = electrode.responseMvAt(world.nowUs);
    expect(() => electrode.immerse(s)).toThrow(expect.objectContaining({ code: 'electrode.solution' }));
    expect(electrode.solution).toEqual({ ph: 4, tempC: 25 });
    expect(electrode.responseMvAt(world.nowUs)).toBe(before);
    expect(world.trace.filter({ layer: 'probe' })).toEqual([]);
  });

  it.each([
    [{ slopeFraction: 0 }],
    [{ t90Us: 0 }],
    [{ noiseUvRms: -1 }],
    [{ offsetMv: Number.POSITIVE_INFINITY }],
    [{ ageDays: -1 }],
  ])('a spec with %o throws electrode.config', (bad) => {
    expect(() => rig({ ...NEW_PROBE, ...bad })).toThrow(expect.objectContaining({ code: 'electrode.config' }));
  });

  it('an unknown fault throws electrode.fault; asking before the last change throws electrode.time', () => {
    const { world, electrode } = rig(STILL);
    expect(() => electrode.setFault('melted' as ElectrodeFault)).toThrow(MedtwinError);
    expect(electrode.fault).toBe('none');
    world.runUntil(US_PER_S);
    electrode.immerse({ ph: 4, tempC: 25 });
    expect(() => electrode.responseMvAt(0)).toThrow(expect.objectContaining({ code: 'electrode.time' }));
  });
});
