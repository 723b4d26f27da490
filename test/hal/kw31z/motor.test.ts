// Tests for the simulated pump motor: split-phase steps, stop, occlusion pressure, seeded noise,
// errors that change nothing, exact ledger charges. Not tests of delivery logic (the pump firmware's).

import { describe, expect, it } from 'vitest';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { Kw31zPumpMotor, MOTOR_STEP_US, OCCLUSION_KPA_PER_STEP, PRESSURE_NOISE_KPA_SIGMA } from '../../../hal/kw31z/motor.ts';
import type { Activity } from '../../../hal/ledger.ts';
import type { HalResult } from '../../../hal/result.ts';
import { MedtwinError } from '../../../src/errors.ts';
import { World } from '../../../src/sim/world.ts';

type Done = [tUs: number, steps: number, pressureKpa: number];

function setup(opts: { seed?: string; device?: string; noise?: number } = {}) {
  const device = opts.device ?? 'pump';
  const world = new World({ seed: opts.seed ?? 'motor-test' });
  const ledger = new Kw31zLedger(device, () => world.nowUs);
  const motor = new Kw31zPumpMotor({ device, world, ledger, ...(opts.noise === undefined ? {} : { pressureNoiseKpaSigma: opts.noise }) });
  const done: Done[] = [];
  const client = { stepsDone: (steps: number, pressureKpa: number) => done.push([world.nowUs, steps, pressureKpa]) };
  const meters = (a: Activity) => ledger.summary().activities.find((x) => x.activity === a)!.meters;
  return { world, ledger, motor, done, client, meters };
}

function ok(r: HalResult): void {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}`);
}

/** The pressure the model reports for `trappedKpa` and one normal draw (see motor.ts). */
const expectedKpa = (trappedKpa: number, normal: number) => {
  const kpa = trappedKpa + PRESSURE_NOISE_KPA_SIGMA * normal;
  return kpa <= 0 ? 0 : Math.round(kpa * 10) / 10;
};

describe('Kw31zPumpMotor steps', () => {
  it('pushes 0.05 U (50 mU) per step', () => {
    expect(setup().motor.milliUnitsPerStep).toBe(50);
  });

  it('reports stepsDone n × MOTOR_STEP_US after step(n), from the scheduler, never inside the call', () => {
    const { world, motor, done, client } = setup({ noise: 0 });
    motor.setClient(client);
    world.runUntil(1_000);
    ok(motor.step(3));
    expect(done).toEqual([]);
    expect(motor.moving).toBe(true);
    world.runUntil(1_000 + 3 * MOTOR_STEP_US - 1);
    expect(done).toEqual([]);
    expect(motor.totalSteps).toBe(2);
    world.runUntil(1_000 + 3 * MOTOR_STEP_US);
    expect(MOTOR_STEP_US).toBe(100_000);
    expect(done).toEqual([[301_000, 3, 0]]);
    expect(motor.moving).toBe(false);
    expect(motor.totalSteps).toBe(3);
  });

  it('lets the client start the next run from stepsDone, and counts totalSteps across runs', () => {
    const { world, motor, done } = setup({ noise: 0 });
    motor.setClient({
      stepsDone: (steps, kpa) => {
        done.push([world.nowUs, steps, kpa]);
        if (done.length < 3) ok(motor.step(2));
      },
    });
    ok(motor.step(1));
    world.runFor(10_000_000);
    expect(done).toEqual([
      [100_000, 1, 0],
      [300_000, 2, 0],
      [500_000, 2, 0],
    ]);
    expect(motor.totalSteps).toBe(5);
  });

  it('stop() lets the step in progress finish, then reports the steps made', () => {
    const { world, motor, done, client, meters } = setup({ noise: 0 });
    motor.setClient(client);
    ok(motor.step(10));
    world.runUntil(250_000);
    motor.stop();
    expect(done).toEqual([]);
    world.runFor(10_000_000);
    expect(done).toEqual([[300_000, 3, 0]]);
    expect(motor.totalSteps).toBe(3);
    expect(meters('motor').motorSteps).toBe(3);
    expect(world.trace.filter({ layer: 'motor' }).map((r) => [r.tUs, r.kind, r.fields])).toEqual([
      [0, 'step', { steps: 10 }],
      [250_000, 'stop', { done: 2 }],
      [300_000, 'done', { steps: 3, requested: 10, pressureKpa: 0 }],
    ]);
  });

  it('positionSteps() reads the plunger position: completed steps, mid-run included, across clients', () => {
    const { world, motor, client } = setup({ noise: 0 });
    expect(motor.positionSteps()).toBe(0);
    motor.setClient(client);
    ok(motor.step(3));
    world.runUntil(2 * MOTOR_STEP_US + 1);
    expect(motor.positionSteps()).toBe(2);
    world.runFor(10_000_000);
    expect(motor.positionSteps()).toBe(3);
    // A new client (the firmware after a reboot) reads the same mechanical position.
    motor.setClient({ stepsDone: () => {} });
    expect(motor.positionSteps()).toBe(3);
    ok(motor.step(1));
    world.runFor(10_000_000);
    expect(motor.positionSteps()).toBe(4);
    expect(motor.positionSteps()).toBe(motor.totalSteps);
  });

  it('stop() when idle, or twice, does nothing more', () => {
    const { world, motor, done, client } = setup({ noise: 0 });
    motor.setClient(client);
    motor.stop();
    ok(motor.step(2));
    motor.stop();
    motor.stop();
    world.runFor(1_000_000);
    expect(done).toEqual([[100_000, 1, 0]]);
  });
});

describe('Kw31zPumpMotor pressure', () => {
  it('reads the baseline plus seeded noise from the stream (device, "motor"), exactly', () => {
    const { world, motor, done, client } = setup();
    motor.setClient(client);
    for (let i = 0; i < 6; i++) {
      ok(motor.step(1));
      world.runFor(MOTOR_STEP_US);
    }
    const ref = new World({ seed: 'motor-test' }).random.stream('pump', 'motor');
    expect(done.map((d) => d[2])).toEqual([0, 1, 2, 3, 4, 5].map(() => expectedKpa(0, ref.normal())));
    for (const [, , kpa] of done) expect(kpa).toBeLessThan(5 * PRESSURE_NOISE_KPA_SIGMA);
  });

  it('repeats for the same seed and device, and differs for another device', () => {
    const run = (device: string) => {
      const { world, motor, done, client } = setup({ device });
      motor.setClient(client);
      for (let i = 0; i < 12; i++) {
        ok(motor.step(1));
        world.runFor(MOTOR_STEP_US);
      }
      return done.map((d) => d[2]);
    };
    expect(run('pump')).toEqual(run('pump'));
    expect(run('pump-2')).not.toEqual(run('pump'));
  });

  it('rises OCCLUSION_KPA_PER_STEP per step while occluded, holds, and is released by clearOcclusion', () => {
    const { world, motor, done, client } = setup({ noise: 0 });
    motor.setClient(client);
    motor.injectOcclusion();
    ok(motor.step(4));
    world.runFor(1_000_000);
    ok(motor.step(2));
    world.runFor(1_000_000);
    motor.clearOcclusion();
    ok(motor.step(1));
    world.runFor(1_000_000);
    expect(OCCLUSION_KPA_PER_STEP).toBe(15);
    expect(done.map((d) => d.slice(1))).toEqual([
      [4, 60],
      [2, 90],
      [1, 0],
    ]);
    expect(world.trace.filter({ layer: 'motor', kind: 'occlusion' })).toHaveLength(1);
    expect(world.trace.filter({ layer: 'motor', kind: 'occlusion.clear' })).toHaveLength(1);
  });

  it('counts only the steps made after an occlusion appears mid-run', () => {
    const { world, motor, done, client } = setup({ noise: 0 });
    motor.setClient(client);
    ok(motor.step(4));
    world.runUntil(2 * MOTOR_STEP_US + 1);
    motor.injectOcclusion();
    world.runFor(1_000_000);
    expect(done).toEqual([[400_000, 4, 30]]);
  });

  it('adds the seeded noise on top of the trapped pressure', () => {
    const { world, motor, done, client } = setup();
    motor.setClient(client);
    motor.injectOcclusion();
    ok(motor.step(2));
    world.runFor(1_000_000);
    const ref = new World({ seed: 'motor-test' }).random.stream('pump', 'motor');
    expect(done).toEqual([[200_000, 2, expectedKpa(30, ref.normal())]]);
  });
});

describe('Kw31zPumpMotor errors', () => {
  it.each([0, -1, 1.5, Number.NaN])('step(%s) is invalid and changes nothing', (n) => {
    const { world, motor, done, client, meters } = setup();
    motor.setClient(client);
    expect(motor.step(n)).toMatchObject({ ok: false, code: 'invalid' });
    expect(motor.moving).toBe(false);
    world.runFor(1_000_000);
    expect(done).toEqual([]);
    expect(meters('motor')).toMatchObject({ motorSteps: 0, cpuCycles: 0 });
  });

  it('is off without a client', () => {
    const { world, motor, meters } = setup();
    expect(motor.step(1)).toMatchObject({ ok: false, code: 'off' });
    world.runFor(1_000_000);
    expect(motor.totalSteps).toBe(0);
    expect(meters('motor').motorSteps).toBe(0);
  });

  it('is busy while moving; the refused call leaves the run as it was', () => {
    const { world, motor, done, client } = setup({ noise: 0 });
    motor.setClient(client);
    ok(motor.step(3));
    world.runUntil(150_000);
    expect(motor.step(5)).toMatchObject({ ok: false, code: 'busy' });
    world.runFor(10_000_000);
    expect(done).toEqual([[300_000, 3, 0]]);
    expect(motor.totalSteps).toBe(3);
  });

  it('throws for a negative occlusion rise or noise', () => {
    const world = new World();
    const ledger = new Kw31zLedger('pump', () => world.nowUs);
    expect(() => new Kw31zPumpMotor({ device: 'pump', world, ledger, occlusionKpaPerStep: -1 })).toThrow(MedtwinError);
    expect(() => new Kw31zPumpMotor({ device: 'pump', world, ledger, pressureNoiseKpaSigma: -0.1 })).toThrow(MedtwinError);
  });
});

describe('Kw31zPumpMotor ledger', () => {
  it('charges motor motorSteps 1 and motorCyclesPerStep cycles per step made', () => {
    const { world, ledger, motor, client, meters } = setup();
    motor.setClient(client);
    ok(motor.step(7));
    world.runUntil(350_000);
    // Charged as each step completes: 3 so far.
    expect(meters('motor')).toMatchObject({ motorSteps: 3, cpuCycles: 3 * 500 });
    world.runFor(10_000_000);
    expect(KW31Z_COSTS.motorCyclesPerStep.value).toBe(500);
    expect(meters('motor')).toMatchObject({ motorSteps: 7, cpuCycles: 7 * 500 });
    // Energy: 7 × 300 µJ at the stepper plus 3,500 cycles × (3 mA × 3.6 V / 48 MHz = 0.000225 µJ).
    const motorMicroJoules = ledger.summary().activities.find((a) => a.activity === 'motor')!.microJoules;
    expect(motorMicroJoules).toBeCloseTo(7 * 300 + 3_500 * 0.000225, 9);
  });
});
