// Property tests of the delivery engine under seeded random command streams (bolus, TBR, basal, limits,
// stop/pause/resume): delivered never exceeds programmed, no limit is ever exceeded, stop/pause act within one pulse.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MOTOR_STEP_US } from '../../../hal/kw31z/motor.ts';
import type { DeliveryEngine, DeliveryEvent } from '../../../devices/insulin-pump/delivery-engine.ts';
import type { HardLimits } from '../../../devices/insulin-pump/limits.ts';
import { must, pulsesOf, rig, US_PER_H, US_PER_S } from './delivery-fixtures.ts';

const PULSE_MU = 50;
/** One pulse of basal accrual in the engine's units: 50 mU × µs/h × 100. */
const PULSE_ACCRUAL = PULSE_MU * US_PER_H * 100;

type Cmd =
  | { readonly t: 'fast'; readonly pulses: number }
  | { readonly t: 'extended'; readonly pulses: number; readonly minutes: number }
  | { readonly t: 'multiwave'; readonly fast: number; readonly extended: number; readonly minutes: number }
  | { readonly t: 'cancelBolus' }
  | { readonly t: 'tbrAbsolute'; readonly rate: number; readonly minutes: number }
  | { readonly t: 'tbrRelative'; readonly percent: number; readonly minutes: number }
  | { readonly t: 'cancelTbr' }
  | { readonly t: 'basal'; readonly rate: number }
  | { readonly t: 'stop' }
  | { readonly t: 'pause' }
  | { readonly t: 'resume' }
  | { readonly t: 'limits'; readonly limits: HardLimits };

/** Mostly generous, sometimes tight, sometimes past the absolute bounds (which must be refused). */
const limitArb = (tight: number, bound: number) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: Math.floor(bound / 2), max: bound }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: tight }) },
    { weight: 1, arbitrary: fc.integer({ min: bound + 1, max: bound + 5_000 }) },
  );
const limitsArb = fc.record({
  maxBolusMilliUnits: limitArb(3_000, 25_000),
  maxBasalRateMilliUnitsPerHour: limitArb(1_000, 5_000),
  maxDailyMilliUnits: limitArb(10_000, 80_000),
});
const minutes = fc.integer({ min: 1, max: 120 });
const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  w(4, fc.record({ t: fc.constant('fast' as const), pulses: fc.integer({ min: 1, max: 200 }) })),
  w(2, fc.record({ t: fc.constant('extended' as const), pulses: fc.integer({ min: 1, max: 200 }), minutes })),
  w(2, fc.record({ t: fc.constant('multiwave' as const), fast: fc.integer({ min: 1, max: 100 }), extended: fc.integer({ min: 1, max: 100 }), minutes })),
  w(1, fc.record({ t: fc.constant('cancelBolus' as const) })),
  w(2, fc.record({ t: fc.constant('tbrAbsolute' as const), rate: fc.integer({ min: 0, max: 6_000 }), minutes })),
  w(2, fc.record({ t: fc.constant('tbrRelative' as const), percent: fc.integer({ min: 0, max: 260 }), minutes })),
  w(1, fc.record({ t: fc.constant('cancelTbr' as const) })),
  w(3, fc.record({ t: fc.constant('basal' as const), rate: fc.integer({ min: 0, max: 6_000 }) })),
  w(1, fc.record({ t: fc.constant('stop' as const) })),
  w(1, fc.record({ t: fc.constant('pause' as const) })),
  w(3, fc.record({ t: fc.constant('resume' as const) })),
  w(1, fc.record({ t: fc.constant('limits' as const), limits: limitsArb })),
);
/** Gaps from one microsecond (inside a step) to half an hour. */
const gapArb = fc.oneof(w(1, fc.integer({ min: 0, max: 3 * MOTOR_STEP_US })), w(2, fc.integer({ min: 0, max: 1_800 * US_PER_S })));
const streamArb = fc.record({
  limits: limitsArb.filter((l) => l.maxBolusMilliUnits <= 25_000 && l.maxBasalRateMilliUnitsPerHour <= 5_000 && l.maxDailyMilliUnits <= 80_000),
  basal: fc.integer({ min: 0, max: 3_000 }),
  steps: fc.array(fc.tuple(gapArb, cmdArb), { minLength: 5, maxLength: 30, size: 'max' }),
});

/** The reference model's view of what is programmed, from the commands the engine accepted. */
class Model {
  profile = 0;
  tbr: { absolute?: number; percent?: number; endUs: number } | undefined;
  limits: HardLimits;
  running = false;
  /** Running basal segments: [fromUs, toUs), rate × 100 clamped to max basal. */
  readonly segments: { fromUs: number; toUs: number; rateCenti: number }[] = [];
  private atUs = 0;

  constructor(limits: HardLimits) {
    this.limits = limits;
  }

  private rateCenti(): number {
    const t = this.tbr;
    const raw = t === undefined ? this.profile * 100 : t.absolute !== undefined ? t.absolute * 100 : this.profile * t.percent!;
    return Math.min(raw, this.limits.maxBasalRateMilliUnitsPerHour * 100);
  }

  /** Move the model's clock to `nowUs`, ending a TBR at its instant on the way. */
  advance(nowUs: number): void {
    while (this.atUs < nowUs) {
      const to = this.tbr !== undefined && this.tbr.endUs <= nowUs ? Math.max(this.atUs, this.tbr.endUs) : nowUs;
      if (this.running && to > this.atUs) this.segments.push({ fromUs: this.atUs, toUs: to, rateCenti: this.rateCenti() });
      this.atUs = to;
      if (this.tbr !== undefined && this.tbr.endUs <= this.atUs) this.tbr = undefined;
    }
    if (this.tbr !== undefined && this.tbr.endUs <= this.atUs) this.tbr = undefined;
  }

  /** Basal accrued while running up to `tUs`, in the engine's units. */
  accrualAt(tUs: number): number {
    let a = 0;
    for (const s of this.segments) if (s.fromUs < tUs) a += s.rateCenti * (Math.min(s.toUs, tUs) - s.fromUs);
    return a;
  }
}

interface Run {
  readonly events: DeliveryEvent[];
  readonly stepStartsUs: number[];
  readonly model: Model;
  /** Accepted boluses: id → programmed pulses. */
  readonly boluses: Map<number, number>;
  /** Limits in force from each instant. */
  readonly limitsFrom: { fromUs: number; limits: HardLimits }[];
  /** [request instant, next successful resume or ∞) for every stop/pause that left therapy halted. */
  readonly halts: [number, number][];
  readonly endUs: number;
}

interface Stream {
  readonly limits: HardLimits;
  readonly basal: number;
  readonly steps: readonly (readonly [number, Cmd])[];
}

function execute(stream: Stream): Run {
  const r = rig({ seed: 'delivery-properties', limits: stream.limits, noiseKpa: 0, sectors: 6 });
  const e: DeliveryEngine = r.fw.engine;
  const model = new Model(stream.limits);
  const boluses = new Map<number, number>();
  const limitsFrom = [{ fromUs: 0, limits: stream.limits }];
  const halts: [number, number][] = [];
  must(e.fillReservoir(300_000));
  if (e.setBasalRate(stream.basal).ok) model.profile = stream.basal;
  must(e.start());
  model.running = true;
  let nextBolusId = 1;
  let now = 0;
  for (const [gap, cmd] of stream.steps) {
    now += gap;
    r.world.runUntil(now);
    model.advance(now);
    const before = e.state;
    switch (cmd.t) {
      case 'fast':
      case 'extended':
      case 'multiwave': {
        const bolusId = nextBolusId++;
        const res =
          cmd.t === 'fast'
            ? e.startBolus({ kind: 'fast', bolusId, amountMilliUnits: cmd.pulses * PULSE_MU })
            : cmd.t === 'extended'
              ? e.startBolus({ kind: 'extended', bolusId, amountMilliUnits: cmd.pulses * PULSE_MU, durationMinutes: cmd.minutes })
              : e.startBolus({ kind: 'multiwave', bolusId, fastMilliUnits: cmd.fast * PULSE_MU, extendedMilliUnits: cmd.extended * PULSE_MU, durationMinutes: cmd.minutes });
        if (res.ok) boluses.set(bolusId, cmd.t === 'multiwave' ? cmd.fast + cmd.extended : cmd.pulses);
        break;
      }
      case 'cancelBolus': {
        const active = e.activeBolus;
        if (active !== undefined) must(e.cancelBolus(active.bolusId));
        break;
      }
      case 'tbrAbsolute':
        if (e.setTempBasal({ kind: 'absolute', rateMilliUnitsPerHour: cmd.rate, durationMinutes: cmd.minutes }).ok) {
          model.tbr = { absolute: cmd.rate, endUs: now + cmd.minutes * 60 * US_PER_S };
        }
        break;
      case 'tbrRelative':
        if (e.setTempBasal({ kind: 'relative', percent: cmd.percent, durationMinutes: cmd.minutes }).ok) {
          model.tbr = { percent: cmd.percent, endUs: now + cmd.minutes * 60 * US_PER_S };
        }
        break;
      case 'cancelTbr':
        if (e.cancelTempBasal().ok) model.tbr = undefined;
        break;
      case 'basal':
        if (e.setBasalRate(cmd.rate).ok) model.profile = cmd.rate;
        break;
      case 'stop':
        must(e.stop());
        model.tbr = undefined;
        break;
      case 'pause':
        must(e.pause());
        break;
      case 'resume':
        must(e.start());
        break;
      case 'limits':
        if (e.setLimits(cmd.limits).ok) {
          model.limits = cmd.limits;
          limitsFrom.push({ fromUs: now, limits: cmd.limits });
        }
        break;
    }
    if (before === 'running' && e.state !== 'running') halts.push([now, Number.POSITIVE_INFINITY]);
    if (before !== 'running' && e.state === 'running') {
      const open = halts[halts.length - 1];
      if (open !== undefined && open[1] === Number.POSITIVE_INFINITY) open[1] = now;
    }
    model.running = e.state === 'running';
    if (e.state === 'stopped') model.tbr = undefined;
  }
  const endUs = now + 2 * US_PER_H;
  r.world.runUntil(endUs);
  model.advance(endUs);
  return { events: r.fw.events, stepStartsUs: r.stepStartsUs(), model, boluses, limitsFrom, halts, endUs };
}

const limitsAt = (run: Run, tUs: number): HardLimits => {
  let l = run.limitsFrom[0]!.limits;
  for (const x of run.limitsFrom) if (x.fromUs <= tUs) l = x.limits;
  return l;
};

describe('delivery engine properties (fast-check, seed 61)', () => {
  it('never delivers more than programmed, never exceeds a limit, and halts within one pulse', () => {
    const coverage = { runs: 0, pulses: 0, bolusPulses: 0, tempBasalPulses: 0, halts: 0, haltsMidStep: 0, limitReached: 0 };
    fc.assert(
      fc.property(streamArb, (stream) => {
        const run = execute(stream);
        const pulses = pulsesOf(run.events);
        coverage.runs += 1;
        coverage.pulses += pulses.length;
        coverage.bolusPulses += pulses.filter((p) => p.bolusId !== 0).length;
        coverage.tempBasalPulses += pulses.filter((p) => p.kind === 'tempBasal').length;
        coverage.halts += run.halts.length;
        coverage.haltsMidStep += run.halts.filter(([at]) => run.stepStartsUs.some((t) => t < at && at < t + MOTOR_STEP_US)).length;
        coverage.limitReached += run.events.filter((e) => e.type === 'limit.reached').length;
        // Each pulse event is one step the motor made; nothing was made that the engine did not report.
        expect(pulses.map((p) => p.startedAtUs)).toEqual(run.stepStartsUs.filter((t) => t <= run.endUs - MOTOR_STEP_US));

        // Delivered ≤ programmed: each bolus within its amount; basal within the accrued (limited) rate.
        const perBolus = new Map<number, number>();
        for (const p of pulses) if (p.bolusId !== 0) perBolus.set(p.bolusId, (perBolus.get(p.bolusId) ?? 0) + p.steps);
        for (const [id, n] of perBolus) {
          expect(run.boluses.has(id), `bolus ${id} delivered without being accepted`).toBe(true);
          expect(n).toBeLessThanOrEqual(run.boluses.get(id)!);
        }
        let basalSoFar = 0;
        for (const p of pulses) {
          if (p.kind !== 'basal' && p.kind !== 'tempBasal') continue;
          basalSoFar += 1;
          // At its start, every basal pulse so far had fully accrued under the programmed, clamped rate.
          expect(basalSoFar * PULSE_ACCRUAL).toBeLessThanOrEqual(run.model.accrualAt(p.startedAtUs));
        }

        // No limit exceeded at any instant.
        const seenInBolus = new Map<number, number>();
        let windowFrom = 0;
        for (let i = 0; i < pulses.length; i++) {
          const p = pulses[i]!;
          const l = limitsAt(run, p.startedAtUs);
          while (pulses[windowFrom]!.startedAtUs <= p.startedAtUs - 24 * US_PER_H) windowFrom++;
          const inWindow = i - windowFrom + 1;
          expect(inWindow * PULSE_MU, `max daily at ${p.startedAtUs}`).toBeLessThanOrEqual(l.maxDailyMilliUnits);
          if (p.bolusId !== 0) {
            const n = (seenInBolus.get(p.bolusId) ?? 0) + 1;
            seenInBolus.set(p.bolusId, n);
            expect(n * PULSE_MU, `max bolus at ${p.startedAtUs}`).toBeLessThanOrEqual(l.maxBolusMilliUnits);
          }
        }
        const maxBasalEver = Math.max(...run.limitsFrom.map((x) => x.limits.maxBasalRateMilliUnitsPerHour));
        const basalStarts = pulses.filter((p) => p.kind === 'basal' || p.kind === 'tempBasal').map((p) => p.startedAtUs);
        for (let i = 0, j = 0; i < basalStarts.length; i++) {
          while (j < basalStarts.length && basalStarts[j]! < basalStarts[i]! + US_PER_H) j++;
          const inHour = j - i;
          // R/50 pulses an hour, plus the fraction carried in (under one pulse).
          expect(inHour).toBeLessThanOrEqual(Math.floor(maxBasalEver / PULSE_MU) + 1);
        }

        // Stop/pause within one pulse: no step starts after the request until therapy runs again.
        for (const [atUs, untilUs] of run.halts) {
          const during = run.stepStartsUs.filter((t) => t > atUs && t < untilUs);
          expect(during, `steps after a halt at ${atUs}`).toEqual([]);
        }
      }),
      { seed: 61, numRuns: 200 },
    );
    // The streams really exercised the engine: deliveries of every sort, halts inside a step, limits hit.
    expect(coverage.runs).toBe(200);
    expect(coverage.pulses).toBeGreaterThan(20_000);
    expect(coverage.bolusPulses).toBeGreaterThan(2_000);
    expect(coverage.tempBasalPulses).toBeGreaterThan(500);
    expect(coverage.halts).toBeGreaterThan(100);
    expect(coverage.haltsMidStep).toBeGreaterThan(5);
    expect(coverage.limitReached).toBeGreaterThan(50);
  });
});
