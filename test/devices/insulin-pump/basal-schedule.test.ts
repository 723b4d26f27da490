// Tests for time-of-day basal: the delivery port following the active basal template with the real engine, journal and motor —
// pulse instants against an independent integral, the rate switch at the boundary, a relative TBR per block, max basal, and a reboot on the same flash.
// Not the template transaction rules (profile-templates.test.ts) nor the session path (pump-templates.test.ts).

import { describe, expect, it } from 'vitest';
import { MOTOR_STEP_US } from '../../../hal/kw31z/motor.ts';
import { blockAt, US_PER_DAY } from '../../../devices/insulin-pump/basal-schedule.ts';
import { EngineDeliveryPort } from '../../../devices/insulin-pump/delivery-port.ts';
import type { ProfileBlock } from '../../../devices/insulin-pump/ids/index.ts';
import { ProfileTemplates } from '../../../devices/insulin-pump/profile-templates.ts';
import { must, rig, US_PER_H, US_PER_MIN, US_PER_S, WIDE_LIMITS, type Rig, type RigOptions } from './delivery-fixtures.ts';

/** 0:00–7:25 1.0 U/h, 7:25–14:00 2.0 U/h, 14:00–24:00 0.5 U/h: the first boundary falls a third of a pulse in. */
const DAY: ProfileBlock[] = [
  { durationMinutes: 445, valueMilli: 1_000 },
  { durationMinutes: 395, valueMilli: 2_000 },
  { durationMinutes: 600, valueMilli: 500 },
];
const B1 = 445 * US_PER_MIN;
const B2 = 840 * US_PER_MIN;

/** One pulse of accrual in the test's own units: 50 mU × 1 h in µs × 100 (percent). */
const PULSE = 50n * 3_600_000_000n * 100n;

/**
 * Pulse instants of a piecewise-constant rate, computed on their own: pulse k is at the first
 * whole µs where ∫ rate dt reaches k pulses. `rateAt(t)` = centi-mU/h in force from t until the
 * next breakpoint; `breaks` sorted, the first at `fromUs`.
 */
function pulseInstants(breaks: readonly number[], rateAt: (t: number) => bigint, fromUs: number, toUs: number): number[] {
  const out: number[] = [];
  let acc = 0n;
  let k = 1n;
  const edges = [...breaks.filter((b) => b > fromUs && b < toUs), toUs];
  let t = fromUs;
  for (const e of edges) {
    const r = rateAt(t);
    for (;;) {
      if (r === 0n) break;
      const need = k * PULSE - acc;
      const at = BigInt(t) + (need + r - 1n) / r;
      if (at > BigInt(e)) break;
      out.push(Number(at));
      k++;
    }
    acc += r * BigInt(e - t);
    t = e;
  }
  return out;
}

const dayRate = (t: number): bigint => {
  const tod = t % US_PER_DAY;
  return tod < B1 ? 100_000n : tod < B2 ? 200_000n : 50_000n;
};

interface BasalRig {
  readonly r: Rig;
  port: EngineDeliveryPort;
  templates: ProfileTemplates;
  /** Power cut and boot: engine, journal, store, templates and port built again on the same flash. */
  reboot(): void;
}

function basalRig(opts: RigOptions = {}): BasalRig {
  const r = rig({ noiseKpa: 0, ...opts });
  const build = () => {
    const templates = ProfileTemplates.open({ store: r.fw.store });
    const port = new EngineDeliveryPort({ engine: r.fw.engine, alarm: r.alarm, templates, milliUnitsPerPulse: r.motor.milliUnitsPerStep, primingPulseUs: MOTOR_STEP_US });
    return { templates, port };
  };
  const b: BasalRig = {
    r,
    ...build(),
    reboot() {
      b.port.dispose();
      r.reboot();
      Object.assign(b, build());
    },
  };
  return b;
}

function writeDay(port: EngineDeliveryPort, n: number, blocks: readonly ProfileBlock[]): void {
  for (let i = 0; i < blocks.length; i += 2) {
    const w = port.writeBasalTemplate({ endTransaction: i + 2 >= blocks.length, templateNumber: n, firstTimeBlockIndex: i + 1, blocks: blocks.slice(i, i + 2) });
    expect(w.ok).toBe(true);
  }
}

describe('time of day', () => {
  it('blockAt: midnight is device time 0; boundaries belong to the block they start; the day repeats', () => {
    expect(blockAt(DAY, 0)).toEqual({ index: 1, rateMilliUnitsPerHour: 1_000, startUs: 0, endUs: B1 });
    expect(blockAt(DAY, B1 - 1).index).toBe(1);
    expect(blockAt(DAY, B1)).toEqual({ index: 2, rateMilliUnitsPerHour: 2_000, startUs: B1, endUs: B2 });
    expect(blockAt(DAY, US_PER_DAY - 1)).toEqual({ index: 3, rateMilliUnitsPerHour: 500, startUs: B2, endUs: US_PER_DAY });
    expect(blockAt(DAY, 3 * US_PER_DAY + B1 + 5)).toEqual({ index: 2, rateMilliUnitsPerHour: 2_000, startUs: 3 * US_PER_DAY + B1, endUs: 3 * US_PER_DAY + B2 });
  });
});

describe('the engine follows the active basal template', () => {
  it('a 3-block day: every pulse at its exact instant, delivered within one pulse of ∫ rate dt', () => {
    const b = basalRig();
    writeDay(b.port, 1, DAY);
    must(b.r.fw.engine.fillReservoir(200_000));
    expect(b.port.setBasalProfile(1)).toEqual({ ok: true, value: undefined });
    must(b.r.fw.engine.start());
    b.r.world.runUntil(US_PER_DAY);
    const expected = pulseInstants([0, B1, B2], dayRate, 0, US_PER_DAY);
    // ∫ = 7416.67 + 13166.67 + 5000 mU = 25583.33 mU: 511 whole pulses, a third left to carry.
    expect(expected.length).toBe(511);
    expect(b.r.stepStartsUs()).toEqual(expected);
    const integral = 1_000 * (445 / 60) + 2_000 * (395 / 60) + 500 * 10;
    const delivered = b.r.fw.journal.pulses().basal * 50;
    expect(delivered).toBeLessThanOrEqual(integral);
    expect(integral - delivered).toBeLessThan(50);
    expect(b.port.programmed.basalMilliUnits).toBe(Math.floor(integral));
  });

  it('the rate switches exactly at the boundary: old rate up to it, new rate from it (the carried third of a pulse takes 60 s at 2 U/h)', () => {
    const b = basalRig();
    writeDay(b.port, 1, DAY);
    must(b.r.fw.engine.fillReservoir(200_000));
    b.port.setBasalProfile(1);
    must(b.r.fw.engine.start());
    b.r.world.runUntil(B1 - 1);
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(1_000);
    expect(b.port.basalBlockInForce()?.index).toBe(1);
    b.r.world.runUntil(B1);
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(2_000);
    b.r.world.runUntil(B1 + 2 * US_PER_MIN);
    const starts = b.r.stepStartsUs();
    // 148 pulses at k × 180 s up to 7:24; the 149th 60 s after 7:25, then every 90 s.
    expect(starts.length).toBe(149);
    expect(starts[147]).toBe(148 * 180 * US_PER_S);
    expect(starts[148]).toBe(B1 + 60 * US_PER_S);
    b.r.world.runUntil(B1 + 60 * US_PER_S + 90 * US_PER_S);
    expect(b.r.stepStartsUs()[149]).toBe(B1 + 150 * US_PER_S);
  });

  it('a relative TBR applies to the block in force, across a boundary', () => {
    const b = basalRig();
    writeDay(b.port, 1, DAY);
    must(b.r.fw.engine.fillReservoir(200_000));
    b.port.setBasalProfile(1);
    const startUs = 6 * US_PER_H;
    b.r.world.runUntil(startUs);
    must(b.r.fw.engine.start());
    expect(b.port.setTbr({ kind: 'relative', percent: 50, durationMin: 120, change: false }).ok).toBe(true);
    const endUs = startUs + 2 * US_PER_H;
    b.r.world.runUntil(endUs);
    expect(b.r.fw.engine.activeTempBasal).toBeUndefined();
    const expected = pulseInstants([startUs, B1], (t) => dayRate(t) / 2n, startUs, endUs);
    // 85 min at 0.5 U/h + 35 min at 1.0 U/h = 0.708 + 0.583 U: 25 pulses.
    expect(expected.length).toBe(25);
    expect(b.r.stepStartsUs()).toEqual(expected);
    expect(b.r.fw.journal.pulses().tempBasal).toBe(25);
  });

  it('rewriting the active template while stopped is followed at once', () => {
    const b = basalRig();
    writeDay(b.port, 1, DAY);
    b.port.setBasalProfile(1);
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(1_000);
    writeDay(b.port, 1, [{ durationMinutes: 1_440, valueMilli: 350 }]);
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(350);
    b.r.world.runUntil(B1 + US_PER_MIN);
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(350);
  });
});

describe('max basal', () => {
  const limits = { ...WIDE_LIMITS, maxBasalRateMilliUnitsPerHour: 1_500 };

  it('a record with a block above max basal is refused (parameter out of range) and discards the transaction', () => {
    const b = basalRig({ limits });
    expect(b.port.writeBasalTemplate({ endTransaction: false, templateNumber: 1, firstTimeBlockIndex: 1, blocks: DAY.slice(0, 1) }).ok).toBe(true);
    const w = b.port.writeBasalTemplate({ endTransaction: true, templateNumber: 1, firstTimeBlockIndex: 2, blocks: DAY.slice(1) });
    expect(w).toMatchObject({ ok: false, code: 'parameter-out-of-range' });
    expect(b.templates.transactionOpen).toBe(false);
    expect(b.port.basalTemplate(1)).toBeUndefined();
  });

  it('activation checks every block against the limits in force; a limit lowered later holds the block at max basal', () => {
    const b = basalRig();
    writeDay(b.port, 1, DAY);
    must(b.r.fw.engine.setLimits(limits));
    expect(b.port.setBasalProfile(1)).toMatchObject({ ok: false, code: 'parameter-out-of-range' });
    expect(b.port.activeBasalTemplate).toBe(0);
    must(b.r.fw.engine.setLimits(WIDE_LIMITS));
    expect(b.port.setBasalProfile(1).ok).toBe(true);
    must(b.r.fw.engine.setLimits(limits));
    b.r.world.runUntil(B1);
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(1_500);
    b.r.world.runUntil(B2);
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(500);
  });
});

describe('reboot', () => {
  it('a new port on the same flash follows the persisted active template by time of day', () => {
    const b = basalRig();
    writeDay(b.port, 2, DAY);
    must(b.r.fw.engine.fillReservoir(200_000));
    expect(b.port.setBasalProfile(2).ok).toBe(true);
    must(b.r.fw.engine.start());
    b.r.world.runUntil(10 * US_PER_H);
    b.reboot();
    expect(b.port.activeBasalTemplate).toBe(2);
    expect(b.port.basalTemplate(2)).toEqual(DAY);
    // Stopped after the reboot (safe state), but the rate in force is already the 10:00 block's.
    expect(b.r.fw.engine.state).toBe('stopped');
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(2_000);
    must(b.r.fw.engine.start());
    b.r.world.runUntil(B2);
    expect(b.r.fw.engine.basalRateMilliUnitsPerHour).toBe(500);
  });
});
