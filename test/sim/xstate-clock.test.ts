import { describe, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import { World } from '../../src/sim/world.ts';
import { xstateClock } from '../../src/sim/xstate-clock.ts';

// A machine with chained `after` delays: each state's timer is armed on entry, so a clock
// that jumps (XState's SimulatedClock.increment) would start the second timer from the
// jump target and skip ahead. The scheduler runs each deadline at its own instant.
const chained = setup({ delays: { shortMs: 250, longMs: 1_000 } }).createMachine({
  id: 'chained',
  initial: 'a',
  context: { steps: 0 },
  states: {
    a: { after: { shortMs: 'b' } },
    b: { after: { longMs: 'c' } },
    c: { after: { 500: 'd' } },
    d: { after: { 60_000: 'done' } },
    done: { type: 'final' },
  },
});

describe('XState on the world clock', () => {
  it('ends in the right state after one long run, each transition at its own deadline', () => {
    const world = new World({ seed: 1 });
    const entered: Array<[string, number]> = [];
    const actor = createActor(chained, { clock: xstateClock(world.alarm()) });
    actor.subscribe((s) => entered.push([String(s.value), world.nowUs]));
    actor.start();
    world.runUntil(3_600_000_000); // one hour in one call
    expect(actor.getSnapshot().status).toBe('done');
    expect(entered).toEqual([
      ['a', 0],
      ['b', 250_000],
      ['c', 1_250_000],
      ['d', 1_750_000],
      ['done', 61_750_000],
    ]);
  });

  it('does not fire a delay that a transition cancelled', () => {
    const m = setup({}).createMachine({
      initial: 'waiting',
      states: {
        waiting: { on: { go: 'moved' }, after: { 1_000: 'timedOut' } },
        moved: {},
        timedOut: {},
      },
    });
    const world = new World();
    const actor = createActor(m, { clock: xstateClock(world.alarm()) }).start();
    world.runUntil(500_000);
    actor.send({ type: 'go' });
    world.runUntil(5_000_000);
    expect(actor.getSnapshot().value).toBe('moved');
    expect(world.scheduler.pending).toBe(0);
  });
});
