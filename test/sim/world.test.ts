import { describe, expect, it } from 'vitest';
import { World } from '../../src/sim/world.ts';

/** A few chained alarms whose firing times the test can compare across pacing modes. */
function arm(world: World): Array<[string, number]> {
  const fired: Array<[string, number]> = [];
  const alarm = world.alarm();
  alarm.setAlarm(10_000, () => {
    fired.push(['a', alarm.nowUs()]);
    alarm.setAlarm(25_000, () => fired.push(['c', alarm.nowUs()]));
  });
  alarm.setAlarm(20_000, () => fired.push(['b', alarm.nowUs()]));
  alarm.setAlarm(90_000, () => fired.push(['late', alarm.nowUs()]));
  return fired;
}

describe('World pacing', () => {
  it('real time (sped up 1,000×) runs the same events at the same virtual instants as fast', async () => {
    const fast = new World({ seed: 'p' });
    const fastFired = arm(fast);
    await fast.run(50_000, 'fast');
    const real = new World({ seed: 'p' });
    const realFired = arm(real);
    const running = real.run(50_000, 'realtime', 1_000);
    // Real time waits on the wall clock: nothing has run when run() returns its promise.
    expect(realFired).toEqual([]);
    await running;
    expect(realFired).toEqual([
      ['a', 10_000],
      ['b', 20_000],
      ['c', 35_000],
    ]);
    expect(realFired).toEqual(fastFired);
    expect(real.nowUs).toBe(50_000);
    expect(real.scheduler.pending).toBe(1); // 'late' stays armed past the target
  });

  it('refuses a real-time speed that is not positive, with a coded error', async () => {
    await expect(new World().run(1_000, 'realtime', 0)).rejects.toMatchObject({ code: 'sim.speed' });
  });
});

describe('World.settle', () => {
  it('runs event by event until the callback fires and returns its value; a coded error when nothing completes', () => {
    const world = new World();
    const alarm = world.alarm();
    alarm.setAlarm(5_000_000, () => {}); // a later event that must not run
    expect(world.settle<string>((done) => alarm.setAlarm(2_000, () => done('fired')))).toBe('fired');
    expect(world.nowUs).toBe(2_000);
    expect(world.scheduler.pending).toBe(1);
    expect(() => world.settle<void>(() => {}, 1_000_000)).toThrow(expect.objectContaining({ code: 'sim.stalled' }));
  });
});
