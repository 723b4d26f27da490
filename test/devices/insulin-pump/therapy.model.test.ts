// Model-based tests of the therapy machine with xstate/graph (explicit events with payloads): on every
// path Stop/Pause reach the DeliveryPort, delivery never starts without a filled reservoir and a primed
// line, and nothing primes or configures while running (ids.md §5, §7). Not the per-rule tables (therapy.test.ts).

import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type ActorLogic, type SnapshotFrom } from 'xstate';
import { getAdjacencyMap, getShortestPaths, getSimplePaths, type StatePath } from 'xstate/graph';
import {
  MAX_PRIMING_MILLIUNITS,
  RESERVOIR_CAPACITY_MILLIUNITS,
  Therapy,
  statusOf,
  therapyMachine,
  type TherapyEmitted,
  type TherapyEvent,
  type TherapyInput,
} from '../../../devices/insulin-pump/therapy.machine.ts';
import { FAST_BOLUS, FILL_MU, PRIME_MU, TBR, recordingPort } from './therapy-fixtures.ts';

type Snap = SnapshotFrom<typeof therapyMachine>;
/** The machine as xstate/graph's ActorLogic (its emitted-event typing does not line up with the graph's). */
const logic = therapyMachine as unknown as ActorLogic<Snap, TherapyEvent, TherapyInput>;

/** Every event, with in-range and out-of-range payloads so each guard is passed and failed. */
const ALPHABET: readonly TherapyEvent[] = [
  { type: 'therapy.run' },
  { type: 'therapy.pause' },
  { type: 'therapy.stop' },
  { type: 'reservoir.filled', fillMilliunits: FILL_MU },
  { type: 'reservoir.filled', fillMilliunits: RESERVOIR_CAPACITY_MILLIUNITS + 1 },
  { type: 'reservoir.removed' },
  { type: 'reservoir.empty' },
  { type: 'occlusion.detected' },
  { type: 'preparing.done' },
  { type: 'priming.start', amountMilliunits: PRIME_MU },
  { type: 'priming.start', amountMilliunits: MAX_PRIMING_MILLIUNITS + 1 },
  { type: 'priming.stop' },
  { type: 'priming.done' },
  { type: 'config.change', kind: 'basal-template' },
  { type: 'basal.activate', templateNumber: 1 },
  { type: 'tbr.set', tbr: TBR },
  { type: 'tbr.cancel' },
  { type: 'bolus.set', bolus: FAST_BOLUS },
  { type: 'bolus.cancel', bolusId: 1 },
  { type: 'device.off' },
  { type: 'device.on' },
  { type: 'flight.enter' },
  { type: 'flight.exit' },
  { type: 'delivery.failed' },
];

const key = (s: Snap): string => JSON.stringify([s.value, s.context]);
const traversal = (input: TherapyInput) => ({ input, events: ALPHABET as TherapyEvent[], serializeState: key });

const emittedBy = (actions: ReadonlyArray<{ type: string; params?: unknown }>): TherapyEmitted[] =>
  actions.filter((a) => a.type === 'xstate.emit').map((a) => (a.params as { event: TherapyEmitted }).event);

const STOPPING_FACTS = new Set(['occlusion.detected', 'reservoir.empty', 'reservoir.removed']);
const CONFIG = new Set(['delivery.setBasalProfile', 'config.accepted']);

/** The safety rules of one step; a message for the first one broken. */
function checkStep(prev: Snap, event: TherapyEvent, next: Snap, emitted: readonly TherapyEmitted[]): string | undefined {
  const p = statusOf(prev);
  const n = statusOf(next);
  const types = emitted.map((e) => e.type);
  // Stop and Pause: always accepted, always reach the port.
  if (event.type === 'therapy.stop' && (!types.includes('delivery.stop') || n.therapyControlState !== 'stop')) return 'stop did not stop';
  if (event.type === 'therapy.pause' && (!types.includes('delivery.pause') || n.therapyControlState === 'run')) return 'pause did not pause';
  if ((event.type === 'therapy.stop' || event.type === 'therapy.pause') && types.includes('command.refused')) return 'stop/pause refused';
  if (STOPPING_FACTS.has(event.type) && (!types.includes('delivery.stop') || n.therapyControlState !== 'stop')) return `${event.type} did not stop`;
  // Delivery starts only with a filled reservoir and a primed line, from ready.
  if (types.includes('delivery.start') && !(p.reservoir === 'filled' && p.primed && p.operationalState === 'ready')) return 'started without reservoir and priming';
  if (n.therapyControlState !== 'stop' && !(n.reservoir === 'filled' && n.primed)) return `${n.therapyControlState} without reservoir and priming`;
  if (n.therapyControlState === 'run' && p.therapyControlState !== 'run' && !types.includes('delivery.start')) return 'entered run without telling the port';
  // No priming, reservoir change or configuration while running.
  if (types.includes('delivery.prime') && p.therapyControlState !== 'stop') return 'primed while not stopped';
  if (n.operationalState === 'priming' && n.therapyControlState !== 'stop') return 'priming while not stopped';
  if (types.some((t) => CONFIG.has(t)) && p.therapyControlState === 'run') return 'configured while running';
  if (event.type === 'reservoir.filled' && next.context.fillMilliunits !== prev.context.fillMilliunits && p.therapyControlState !== 'stop') return 'reservoir changed while not stopped';
  if (types.includes('delivery.bolus') && p.therapyControlState !== 'run') return 'bolus while not running';
  // A refusal changes nothing and commands nothing.
  if (types.includes('command.refused') && (key(prev) !== key(next) || types.length !== 1)) return 'a refusal changed state or commanded the port';
  return undefined;
}

function step(snap: Snap, event: TherapyEvent): [Snap, TherapyEmitted[]] {
  const [next, actions] = transition(therapyMachine, snap, event);
  return [next, emittedBy(actions)];
}

/** Pure replay with the rules checked on each step, and Stop/Pause probed in every state visited. */
function replayPure(input: TherapyInput, path: StatePath<Snap, TherapyEvent>): void {
  let [snap] = initialTransition(therapyMachine, input);
  const probe = (s: Snap, where: string) => {
    for (const e of [{ type: 'therapy.stop' }, { type: 'therapy.pause' }] as const) {
      const [n, emitted] = step(s, e);
      const broken = checkStep(s, e, n, emitted);
      if (broken !== undefined) throw new Error(`probe ${e.type} ${where}: ${broken}`);
    }
  };
  path.steps.slice(1).forEach((st, i) => {
    probe(snap, `before step ${i + 1}`);
    const [next, emitted] = step(snap, st.event);
    const broken = checkStep(snap, st.event, next, emitted);
    if (broken !== undefined) throw new Error(`step ${i + 1} ${JSON.stringify(st.event)} of ${path.steps.map((s) => s.event.type).join(' → ')}: ${broken}`);
    expect(key(next)).toBe(key(st.state));
    snap = next;
  });
  probe(snap, 'at the end');
}

/** Replay on the Therapy service with a recording port: the calls the motor really got. */
function replayService(input: TherapyInput, path: StatePath<Snap, TherapyEvent>): void {
  const port = recordingPort();
  const therapy = new Therapy({ port, input });
  for (const st of path.steps.slice(1)) {
    const before = therapy.status();
    const from = port.calls.length;
    const r = therapy.send(st.event);
    const calls = port.calls.slice(from).map((c) => c.method);
    if (st.event.type === 'therapy.stop') expect(calls).toContain('stop');
    if (st.event.type === 'therapy.pause') expect(calls).toContain('pause');
    if (st.event.type === 'therapy.stop' || st.event.type === 'therapy.pause') expect(r.ok).toBe(true);
    if (calls.includes('start')) expect(before).toMatchObject({ reservoir: 'filled', primed: true, operationalState: 'ready' });
    if (calls.includes('prime')) expect(before.therapyControlState).toBe('stop');
    if (calls.includes('setBasalProfile')) expect(before.therapyControlState).not.toBe('run');
    expect(therapy.status()).toEqual(statusOf(st.state));
  }
  therapy.stop();
}

const INPUTS: ReadonlyArray<[string, TherapyInput]> = [
  ['fresh', {}],
  ['rebooted primed', { reservoir: 'filled', fillMilliunits: FILL_MU, primed: true }],
  ['rebooted empty', { reservoir: 'empty' }],
];

describe('therapy machine, model-based (xstate/graph)', () => {
  it.each(INPUTS)('keeps the rules on every edge of the reachable graph (%s)', (_, input) => {
    const adjacency = getAdjacencyMap(logic, traversal(input));
    let edges = 0;
    const ops = new Set<string>();
    for (const { state, transitions } of Object.values(adjacency)) {
      ops.add(`${statusOf(state).therapyControlState}/${statusOf(state).operationalState}`);
      for (const { event } of Object.values(transitions) as Array<{ event: TherapyEvent }>) {
        const [next, emitted] = step(state, event);
        const broken = checkStep(state, event, next, emitted);
        if (broken !== undefined) throw new Error(`${key(state)} --${JSON.stringify(event)}--> ${key(next)}: ${broken}`);
        edges += 1;
      }
    }
    expect(edges).toBe(Object.keys(adjacency).length * ALPHABET.length);
    // Every IDS operational state and Run/Pause are reachable.
    expect([...ops].sort()).toEqual(['pause/ready', 'run/ready', 'stop/off', 'stop/preparing', 'stop/priming', 'stop/ready', 'stop/standby', 'stop/waiting']);
  });

  it.each(INPUTS)('on every shortest path, pure and on the service (%s)', (_, input) => {
    const paths = getShortestPaths(logic, traversal(input));
    expect(paths.length).toBeGreaterThanOrEqual(16);
    for (const path of paths) {
      replayPure(input, path);
      replayService(input, path);
    }
  });

  it('on every simple path to every state from a fresh pump; paths into Run fill, then prime, then run', () => {
    // Without the flight-mode events (they double the graph and square the paths; the edge test covers them).
    const events = ALPHABET.filter((e) => !e.type.startsWith('flight.')) as TherapyEvent[];
    const targets = Object.values(getAdjacencyMap(logic, { ...traversal({}), events })).map((n) => key(n.state));
    let count = 0;
    let intoRun = 0;
    for (const target of targets) {
      const paths = getSimplePaths(logic, { ...traversal({}), events, toState: (s: Snap) => key(s) === target });
      expect(paths.length, target).toBeGreaterThan(0);
      for (const path of paths) {
        if (path.state.matches('run')) {
          // Every path into Run went through filling, then priming to its end, and ends on Run.
          const types = path.steps.map((s) => s.event.type);
          const lastFill = types.lastIndexOf('reservoir.filled');
          expect(lastFill).toBeGreaterThanOrEqual(0);
          expect(types.lastIndexOf('priming.done')).toBeGreaterThan(lastFill);
          expect(types[types.length - 1]).toBe('therapy.run');
          intoRun += 1;
        }
        replayPure({}, path);
        count += 1;
      }
      for (const path of paths.filter((_, i) => i % 7 === 0)) replayService({}, path);
    }
    expect(intoRun).toBeGreaterThan(5);
    expect(count).toBeGreaterThan(100);
  });
});
