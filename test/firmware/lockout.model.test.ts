// Model-based tests of the lockout machine with xstate/graph: on every generated path a lockout is
// left only at its deadline (issue 5, property 2) and the §8 figures hold. Not the service tests.

import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, transition } from 'xstate';
import { getAdjacencyMap, getShortestPaths, getSimplePaths, type StatePath } from 'xstate/graph';
import {
  LOCKOUT_MAX_LEVEL,
  LOCKOUT_THRESHOLD,
  UNLOCKED_STATE,
  lockoutDurationUs,
  lockoutMachine,
  type LockoutInput,
} from '../../src/firmware/lockout.machine.ts';
import { World } from '../../src/sim/world.ts';
import { xstateClock } from '../../src/sim/xstate-clock.ts';
import { US_PER_S } from './fixtures.ts';
import {
  LOCKOUT_ALPHABET,
  LOCKOUT_TIMER_EVENT,
  concreteLockoutEvent,
  emittedBy,
  lockoutKey,
  pureStep,
  symbolicLockout,
  type LockoutConcrete,
  type LockoutSnapshot,
  type LockoutSym,
} from './model.ts';

const FRESH: LockoutInput = { state: UNLOCKED_STATE, nowUs: 0 };
/** Booted into a lockout that a previous life started (the restart case of DESIGN §2). */
const REBOOTED_LOCKED: LockoutInput = { state: { failures: 6, level: 2, deadlineUs: 90 * US_PER_S }, nowUs: 10 * US_PER_S };

const traversal = (input: LockoutInput) => ({ input, events: LOCKOUT_ALPHABET, serializeState: lockoutKey });

type Emitted = ReturnType<typeof emittedBy>[number];

/**
 * One step's rules: what may leave `locked`, what must enter it, with which figures. Returns a
 * message for the first rule broken, so a failing path names its step.
 */
function checkStep(prev: LockoutSnapshot, sym: LockoutSym, event: LockoutConcrete, next: LockoutSnapshot, emitted: Emitted[]): string | undefined {
  const p = prev.context;
  const n = next.context;
  if (prev.value === 'locked' && next.value !== 'locked') {
    // (2) Only the deadline: the machine's timer, or an expiry stamped at or after it.
    const byTimer = event.type === LOCKOUT_TIMER_EVENT;
    const byExpiry = event.type === 'lockout.expired' && event.nowUs >= p.deadlineUs;
    if (!byTimer && !byExpiry) return `left locked on ${JSON.stringify(event)} (deadline ${p.deadlineUs})`;
    if (n.level !== p.level || n.failures !== p.failures) return 'expiry changed the counters';
    if (!emitted.some((e) => e.type === 'lockout.ended')) return 'lockout ended without lockout.ended';
  }
  if (prev.value === 'locked' && next.value === 'locked' && n.deadlineUs !== p.deadlineUs) return 'the deadline moved during a lockout';
  if (prev.value === 'unlocked' && next.value === 'locked') {
    if (sym.type !== 'auth.failed') return `locked by ${sym.type}`;
    if (!(p.failures + 1 >= LOCKOUT_THRESHOLD || p.level >= 1)) return `locked after ${p.failures + 1} failures at level ${p.level}`;
    const level = Math.min(p.level + 1, LOCKOUT_MAX_LEVEL);
    if (n.level !== level) return `level ${n.level}, expected ${level}`;
    if (event.type !== 'auth.failed' || n.deadlineUs - event.nowUs !== lockoutDurationUs(level)) return `lockout of ${(n.deadlineUs - n.nowUs) / US_PER_S} s at level ${level}`;
    if (!emitted.some((e) => e.type === 'lockout.started' && e.level === level)) return 'lockout started without lockout.started';
  }
  if (prev.value === 'unlocked' && next.value === 'unlocked' && sym.type === 'auth.failed') {
    if (p.level >= 1 || p.failures + 1 >= LOCKOUT_THRESHOLD) return `failure ${p.failures + 1} at level ${p.level} did not lock`;
    if (n.failures !== p.failures + 1) return 'failure not counted';
  }
  if (sym.type === 'auth.failed' && n.failures < Math.min(p.failures + 1, 0xffff)) return 'failure not counted';
  if (sym.type === 'auth.succeeded' && prev.value === 'unlocked' && (n.failures !== 0 || n.level !== 0)) return 'success did not reset';
  if (sym.type === 'auth.succeeded' && prev.value === 'locked' && (n.failures !== p.failures || n.level !== p.level)) return 'success changed a lockout';
  return undefined;
}

/**
 * Replay a path's symbolic events with the pure transition function, checking every step. Paths
 * share prefixes, and a prefix always leads to the same concrete snapshot (time is relative to
 * it), so steps already checked are looked up in `seen` rather than run again. With `probe`,
 * every event of the alphabet is also tried (and checked) in every state the path visits, so
 * the events that leave a state unchanged — which no path of distinct states can contain —
 * are tried on the path too.
 */
function replayPure(input: LockoutInput, path: StatePath<LockoutSnapshot, LockoutSym>, opts: { seen?: Map<string, LockoutSnapshot>; probe?: boolean } = {}): LockoutSnapshot {
  const seen = opts.seen ?? new Map<string, LockoutSnapshot>();
  const where = () => `[${path.steps.slice(1).map((s) => JSON.stringify(s.event)).join(', ')}]`;
  const check = (snap: LockoutSnapshot, sym: LockoutSym, label: string): LockoutSnapshot => {
    const event = concreteLockoutEvent(snap, sym);
    const [after, actions] = pureStep(lockoutMachine, snap, event as never);
    const broken = checkStep(snap, sym, event, after, emittedBy(actions));
    if (broken !== undefined) throw new Error(`${label} (${JSON.stringify(sym)}) of ${where()}: ${broken}`);
    return after;
  };
  let [snap] = initialTransition(lockoutMachine, input);
  let prefix = '';
  path.steps.slice(1).forEach((step, i) => {
    if (opts.probe) for (const sym of LOCKOUT_ALPHABET) check(snap, sym, `probe before step ${i + 1}`);
    prefix += `|${JSON.stringify(step.event)}`;
    let next = seen.get(prefix);
    if (next === undefined) seen.set(prefix, (next = check(snap, step.event, `step ${i + 1}`)));
    if (lockoutKey(next) !== lockoutKey(step.state)) throw new Error(`step ${i + 1}: replay reached ${lockoutKey(next)}, the graph ${lockoutKey(step.state)}`);
    snap = next;
  });
  if (opts.probe) for (const sym of LOCKOUT_ALPHABET) check(snap, sym, 'probe at the end');
  return snap;
}

/**
 * Replay on a real actor on the world clock: time runs to each event's stamp, and `timer`, the
 * deadline expiry, are not sent but waited for — the machine's own `after` must fire them.
 */
function replayOnClock(input: LockoutInput, path: StatePath<LockoutSnapshot, LockoutSym>): void {
  const world = new World({ seed: 5 });
  world.runUntil(input.nowUs);
  const actor = createActor(lockoutMachine, { input, clock: xstateClock(world.alarm()) }).start();
  const ended: number[] = [];
  actor.on('lockout.ended', () => ended.push(world.nowUs));
  for (const step of path.steps.slice(1)) {
    const snap = actor.getSnapshot();
    const sym = step.event;
    const event = concreteLockoutEvent(snap, sym);
    if (event.type === LOCKOUT_TIMER_EVENT || (event.type === 'lockout.expired' && snap.value === 'locked' && event.nowUs >= snap.context.deadlineUs)) {
      if (snap.value === 'locked') {
        world.runUntil(snap.context.deadlineUs);
        expect(ended[ended.length - 1]).toBe(snap.context.deadlineUs);
      }
    } else {
      world.runUntil(Math.max(world.nowUs, event.nowUs));
      actor.send(event);
    }
    expect(lockoutKey(actor.getSnapshot())).toBe(lockoutKey(step.state));
  }
  actor.stop();
  expect(world.scheduler.pending).toBe(0); // the timer left with the state
}

describe('lockout machine, model-based (xstate/graph)', () => {
  it('reaches every state of the policy by shortest paths; every path keeps the rules, pure and on the clock', () => {
    const paths = getShortestPaths(symbolicLockout, traversal(FRESH));
    // unlocked with 0..4 failures, then each level locked and after its end: 5 + 7 + 7.
    expect(paths.map((p) => lockoutKey(p.state)).sort()).toHaveLength(5 + 2 * LOCKOUT_MAX_LEVEL);
    for (const path of paths) {
      replayPure(FRESH, path, { probe: true });
      replayOnClock(FRESH, path);
    }
  });

  it('keeps the rules on every simple path to the first two lockouts and after them', () => {
    // Simple paths multiply by about 6 per lockout level (two failure kinds, three ways to end
    // it): up to level 2 they are ~1,000, enough to mix every event into every order.
    let count = 0;
    const seen = new Map<string, LockoutSnapshot>();
    for (const target of ['locked/f5/l1', 'unlocked/f5/l1', 'locked/f5/l2', 'unlocked/f5/l2']) {
      const paths = getSimplePaths(symbolicLockout, { ...traversal(FRESH), toState: (s: LockoutSnapshot) => lockoutKey(s) === target });
      expect(paths.length, target).toBeGreaterThan(0);
      for (const path of paths) {
        expect(lockoutKey(replayPure(FRESH, path, { seen }))).toBe(target);
        count += 1;
      }
      // A sample on the world clock too (all of them would only repeat the pure replay slower).
      for (const path of paths.filter((_, i) => i % 25 === 0)) replayOnClock(FRESH, path);
    }
    expect(count).toBeGreaterThan(800);
  });

  it('keeps the rules on every edge of the reachable graph, every event tried in every state', () => {
    const adjacency = getAdjacencyMap(symbolicLockout, traversal(FRESH));
    let edges = 0;
    let leftLocked = 0;
    for (const { state, transitions } of Object.values(adjacency)) {
      for (const { event: sym } of Object.values(transitions) as Array<{ event: LockoutSym }>) {
        const event = concreteLockoutEvent(state, sym);
        const [next, actions] = pureStep(lockoutMachine, state, event as never);
        const broken = checkStep(state, sym, event, next, emittedBy(actions));
        if (broken !== undefined) throw new Error(`${lockoutKey(state)} --${JSON.stringify(sym)}--> ${lockoutKey(next)}: ${broken}`);
        if (state.value === 'locked' && next.value !== 'locked') leftLocked += 1;
        edges += 1;
      }
    }
    expect(edges).toBe((5 + 2 * LOCKOUT_MAX_LEVEL) * LOCKOUT_ALPHABET.length);
    // Out of the 7 lockout states × 7 events, only timer, expiry at and after the deadline leave.
    expect(leftLocked).toBe(LOCKOUT_MAX_LEVEL * 3);
  });

  it('after a reboot into a lockout, only its deadline ends it, and the doubling goes on', () => {
    const paths = getShortestPaths(symbolicLockout, traversal(REBOOTED_LOCKED));
    expect(paths[0]!.state.value).toBe('locked');
    for (const path of paths) {
      replayPure(REBOOTED_LOCKED, path, { probe: true });
      replayOnClock(REBOOTED_LOCKED, path);
    }
    const first = paths.find((p) => lockoutKey(p.state) === 'locked/f5/l3');
    // The deadline (by the timer or an expiry at it), then one failure: 240 s at level 3.
    expect(first?.steps.map((s) => s.event.type).slice(-1)).toEqual(['auth.failed']);
    expect(first?.steps.length).toBe(3);
  });

  it('cannot be cleared by any event while locked: a sweep of hostile events leaves the deadline alone', () => {
    const [snap] = initialTransition(lockoutMachine, REBOOTED_LOCKED);
    const hostile = [
      { type: 'auth.succeeded', nowUs: 11 * US_PER_S },
      { type: 'lockout.expired', nowUs: 89 * US_PER_S },
      { type: 'lockout.expired', nowUs: 0 },
      { type: 'lockout.cleared', nowUs: 11 * US_PER_S },
      { type: 'xstate.init' },
      { type: 'xstate.after.untilDeadline.lockout.unlocked' },
    ];
    for (const event of hostile) {
      const [next] = transition(lockoutMachine, snap, event as never);
      expect(next.value, JSON.stringify(event)).toBe('locked');
      expect(next.context.deadlineUs).toBe(90 * US_PER_S);
    }
  });
});
