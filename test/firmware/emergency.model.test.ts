// Model-based tests of the emergency override beside the lockout (xstate/graph): on every path Stop
// yields therapy.stop and nothing increasing delivery passes (issue 5, property 3). Not behaviour tests.

import { describe, expect, it } from 'vitest';
import { initialTransition, type ActorLogic, type Snapshot } from 'xstate';
import { getAdjacencyMap, getShortestPaths, getSimplePaths, type StatePath } from 'xstate/graph';
import { BREAK_GLASS_MAX_US, EmergencyOverride, emergencyAllows, emergencyMachine } from '../../src/firmware/emergency.machine.ts';
import { LOCKOUT_MAX_LEVEL, UNLOCKED_STATE, lockoutMachine, type LockoutInput } from '../../src/firmware/lockout.machine.ts';
import { Lockout } from '../../src/firmware/lockout-store.ts';
import { AUDIT_EVENTS, verifyAuditChain } from '../../src/firmware/audit-log.ts';
import { auditSinkOf, hash, rig, SERIAL, US_PER_S } from './fixtures.ts';
import {
  EMERGENCY_ALPHABET,
  EMERGENCY_TIMER_EVENT,
  LOCKOUT_TIMER_EVENT,
  concreteEmergencyEvent,
  concreteLockoutEvent,
  emittedBy,
  lockoutKey,
  pureStep,
  type EmergencySnapshot,
  type EmergencySym,
  type LockoutSnapshot,
  type LockoutSym,
} from './model.ts';

// ─── the product model: the lockout and the override side by side, as on the device ─────────

/** Both machines' snapshots; the Snapshot fields make it ActorLogic state for xstate/graph. */
type Device = Snapshot<undefined> & {
  readonly status: 'active';
  readonly lockout: LockoutSnapshot;
  readonly emergency: EmergencySnapshot;
};
/** An event for one of the two machines (`type` names which, as EventObject wants). */
type DeviceSym = { type: 'lockout'; sym: LockoutSym } | { type: 'emergency'; sym: EmergencySym };
type Emitted = ReturnType<typeof emittedBy>[number];

const LOCKOUT_PART: readonly LockoutSym[] = [{ type: 'auth.failed', kind: 'pairing' }, { type: 'auth.succeeded' }, { type: 'timer' }];
const ALPHABET: readonly DeviceSym[] = [
  ...LOCKOUT_PART.map((sym) => ({ type: 'lockout' as const, sym })),
  ...EMERGENCY_ALPHABET.map((sym) => ({ type: 'emergency' as const, sym })),
];
/**
 * Tried (and checked) in every state a path visits: they leave the state as it is, so no path of
 * distinct states can contain them, yet they are the ones the properties are about.
 */
const PROBES: readonly DeviceSym[] = ALPHABET.filter((e) => e.type === 'emergency' && (e.sym.type === 'button.stop.long' || e.sym.type === 'command.requested'));
/** For simple paths: the events that move between states (more would multiply the paths). */
const MOVES: readonly DeviceSym[] = [
  { type: 'lockout', sym: { type: 'auth.failed', kind: 'pairing' } },
  { type: 'lockout', sym: { type: 'timer' } },
  { type: 'emergency', sym: { type: 'breakglass.granted', forS: 600 } },
  { type: 'emergency', sym: { type: 'breakglass.ended' } },
  { type: 'emergency', sym: { type: 'timer' } },
];
const INPUT = { lockout: { state: UNLOCKED_STATE, nowUs: 0 } satisfies LockoutInput, emergency: { nowUs: 0 } };

const deviceKey = (d: Device) => `${lockoutKey(d.lockout)}|${String(d.emergency.value)}`;
const symKey = (e: DeviceSym) => JSON.stringify(e);

/** One step of the device: the event goes to its machine; the other one is left as it was. */
function deviceStep(d: Device, e: DeviceSym): { next: Device; emitted: Emitted[]; concrete: unknown } {
  if (e.type === 'lockout') {
    const concrete = concreteLockoutEvent(d.lockout, e.sym);
    const [lockout, actions] = pureStep(lockoutMachine, d.lockout, concrete as never);
    return { next: { ...d, lockout }, emitted: emittedBy(actions), concrete };
  }
  const concrete = concreteEmergencyEvent(d.emergency, e.sym);
  const [emergency, actions] = pureStep(emergencyMachine, d.emergency, concrete as never);
  return { next: { ...d, emergency }, emitted: emittedBy(actions), concrete };
}

const initialDevice = (): Device => ({
  status: 'active',
  output: undefined,
  error: undefined,
  lockout: initialTransition(lockoutMachine, INPUT.lockout)[0],
  emergency: initialTransition(emergencyMachine, INPUT.emergency)[0],
});

const deviceLogic = {
  transition: (d: Device, e: DeviceSym) => deviceStep(d, e).next,
  getInitialSnapshot: initialDevice,
  getPersistedSnapshot: (d: Device) => d,
} as unknown as ActorLogic<Device, DeviceSym, undefined>;

const traversal = { events: ALPHABET, serializeState: deviceKey, serializeEvent: symKey };

/** The rules of one step; a message for the first one broken. */
function checkStep(prev: Device, e: DeviceSym, concrete: unknown, next: Device, emitted: Emitted[]): string | undefined {
  const stops = emitted.filter((x) => x.type === 'therapy.stop').length;
  const audits = emitted.filter((x) => x.type === 'audit');
  if (e.type === 'emergency' && next.lockout !== prev.lockout) return 'an emergency event changed the lockout';
  if (e.type === 'lockout' && next.emergency !== prev.emergency) return 'a lockout event changed the override';
  if (e.type === 'emergency' && e.sym.type === 'button.stop.long') {
    // (3) Always a stop, whatever the lock state and access: exactly one, and audited.
    if (stops !== 1) return `${stops} therapy.stop for a Stop long press`;
    if (!audits.some((a) => a.event === AUDIT_EVENTS['emergency.stop'])) return 'stop not audited';
    if (next.emergency.value !== prev.emergency.value) return 'a Stop press changed the access';
  } else if (stops !== 0) return `therapy.stop on ${JSON.stringify(e)}`;
  const allowed = emitted.filter((x) => x.type === 'command.allowed');
  if (e.type === 'emergency' && e.sym.type === 'command.requested') {
    const cmd = e.sym.command;
    const mayPass = prev.emergency.value === 'breakGlass' && emergencyAllows(cmd);
    if (allowed.length !== (mayPass ? 1 : 0)) return `command ${JSON.stringify(cmd)} in ${String(prev.emergency.value)}: ${allowed.length} allowed`;
    // (3) Never one that increases delivery.
    if (cmd.increasesDelivery && allowed.length > 0) return 'a command that increases delivery got through';
    if (audits.length !== 1) return 'command answer not audited exactly once';
  } else if (allowed.length > 0) return `command.allowed on ${JSON.stringify(e)}`;
  const wasActive = prev.emergency.value === 'breakGlass';
  const isActive = next.emergency.value === 'breakGlass';
  if (wasActive && !isActive) {
    const c = concrete as { type: string; nowUs?: number };
    const byTime = c.type === EMERGENCY_TIMER_EVENT || (c.type === 'breakglass.expired' && (c.nowUs ?? -1) >= prev.emergency.context.untilUs);
    if (!byTime && c.type !== 'breakglass.ended') return `break-glass left on ${JSON.stringify(c)}`;
  }
  if (!wasActive && isActive) {
    if (e.type !== 'emergency' || e.sym.type !== 'breakglass.granted') return `break-glass entered on ${JSON.stringify(e)}`;
    const { untilUs, nowUs } = next.emergency.context;
    if (!(untilUs > nowUs && untilUs - nowUs <= BREAK_GLASS_MAX_US)) return `break-glass of ${(untilUs - nowUs) / US_PER_S} s`;
  }
  // The lockout part keeps its own rule: only the deadline leaves `locked`.
  if (prev.lockout.value === 'locked' && next.lockout.value !== 'locked' && (concrete as { type: string }).type !== LOCKOUT_TIMER_EVENT) {
    return `lockout left on ${JSON.stringify(concrete)}`;
  }
  return undefined;
}

function replayPure(path: StatePath<Device, DeviceSym>): void {
  const where = () => `[${path.steps.slice(1).map((s) => symKey(s.event)).join(', ')}]`;
  const check = (d: Device, e: DeviceSym, label: string): Device => {
    const { next, emitted, concrete } = deviceStep(d, e);
    const broken = checkStep(d, e, concrete, next, emitted);
    if (broken !== undefined) throw new Error(`${label} ${symKey(e)} in ${deviceKey(d)} on ${where()}: ${broken}`);
    return next;
  };
  let d = initialDevice();
  path.steps.slice(1).forEach((step, i) => {
    for (const probe of PROBES) check(d, probe, `probe before step ${i + 1}`);
    const next = check(d, step.event, `step ${i + 1}`);
    if (deviceKey(next) !== deviceKey(step.state)) throw new Error(`step ${i + 1}: replay ${deviceKey(next)}, graph ${deviceKey(step.state)}`);
    d = next;
  });
  for (const probe of PROBES) check(d, probe, 'probe at the end');
}

/**
 * Replay on the real services on one world clock (Lockout and EmergencyOverride on flash, the
 * audit log behind both). Time is shared here, so a long lockout may outlast a break-glass the
 * pure model still holds open: the checks are the properties, read from the services.
 */
function replayOnDevice(path: StatePath<Device, DeviceSym>): void {
  const r = rig({ sectorCount: 6 });
  const { world } = r;
  const store = r.openStore();
  const log = r.openAudit(store);
  const audit = auditSinkOf(log);
  const lockout = new Lockout({ store, alarm: world.alarm(), audit });
  const stops: number[] = [];
  const emergency = new EmergencyOverride({ alarm: world.alarm(), therapy: { stop: () => stops.push(world.nowUs) }, audit });
  let requestId = 0;
  let probes = 0;
  /** Stop, and every command declaration, in whatever state the device is in now. */
  const probe = () => {
    const lockBefore = lockout.status();
    const { breakGlass } = emergency.status();
    const n = stops.length;
    emergency.buttonLongPressed('stop');
    expect(stops.length).toBe(n + 1);
    for (const p of PROBES) {
      if (p.type !== 'emergency' || p.sym.type !== 'command.requested') continue;
      const answer = emergency.authorize(++requestId, p.sym.command);
      expect(answer.ok).toBe(breakGlass && emergencyAllows(p.sym.command));
      if (p.sym.command.increasesDelivery) expect(answer.ok).toBe(false);
    }
    expect(lockout.status()).toEqual(lockBefore);
    probes += 1;
  };
  for (const step of path.steps.slice(1)) {
    probe();
    const e = step.event;
    const lockBefore = lockout.status();
    if (e.type === 'lockout') {
      const deadline = lockout.state().deadlineUs;
      if (e.sym.type === 'timer') {
        if (lockBefore.locked) world.runUntil(deadline);
      } else {
        world.runUntil(lockBefore.locked ? Math.min(world.nowUs + US_PER_S, deadline - 1) : world.nowUs + US_PER_S);
        if (e.sym.type === 'auth.failed') lockout.recordFailure(e.sym.kind);
        else lockout.recordSuccess();
      }
      continue;
    }
    const active = emergency.status();
    const sym = e.sym;
    switch (sym.type) {
      case 'button.stop.long': {
        const n = stops.length;
        emergency.buttonLongPressed('stop');
        expect(stops.length).toBe(n + 1);
        break;
      }
      case 'breakglass.granted':
        world.runFor(active.breakGlass ? Math.min(US_PER_S, Math.max(0, active.remainingS * US_PER_S - 1)) : US_PER_S);
        emergency.grantBreakGlass(7, world.nowUs + sym.forS * US_PER_S);
        break;
      case 'breakglass.refused':
        emergency.refuseBreakGlass(3, 'proof-failed');
        break;
      case 'breakglass.ended':
        emergency.endBreakGlass();
        break;
      case 'breakglass.expired':
      case 'timer':
        // No way to send an expiry from outside: only time can end the access.
        if (sym.type === 'timer' || sym.at === 'expiry') world.runFor(active.remainingS * US_PER_S);
        break;
      case 'command.requested': {
        const answer = emergency.authorize(++requestId, sym.command);
        expect(answer.ok).toBe(active.breakGlass && emergencyAllows(sym.command));
        if (sym.command.increasesDelivery) expect(answer.ok).toBe(false);
        break;
      }
    }
    // Nothing the override does touches the lockout: it neither locks nor unlocks (only time may
    // have ended it, while this step waited for a break-glass expiry).
    const lockAfter = lockout.status();
    if (!lockBefore.locked) expect(lockAfter).toEqual(lockBefore);
    if (lockBefore.locked && world.nowUs < lockout.state().deadlineUs) expect(lockAfter.locked).toBe(true);
    expect(lockAfter.failures).toBe(lockBefore.failures);
  }
  probe();
  const stopSteps = path.steps.filter((s) => s.event.type === 'emergency' && s.event.sym.type === 'button.stop.long').length;
  expect(stops.length).toBe(stopSteps + probes);
  const records = log.read(1, 255);
  expect(verifyAuditChain(records, { serial: SERIAL, hash })).toMatchObject({ ok: true });
  lockout.stop();
  emergency.stop();
}

describe('emergency override with the lockout, model-based (xstate/graph)', () => {
  it('reaches every (lock state, access) pair; on every shortest path Stop stops and nothing increases delivery', () => {
    const paths = getShortestPaths(deviceLogic, traversal);
    // Each of the 19 lockout states, with and without break-glass access.
    expect(paths.length).toBe((5 + 2 * LOCKOUT_MAX_LEVEL) * 2);
    for (const path of paths) {
      replayPure(path);
      replayOnDevice(path);
    }
  });

  it('keeps the rules on every edge of the reachable graph, every event tried in every state', () => {
    const adjacency = getAdjacencyMap(deviceLogic, traversal);
    let edges = 0;
    for (const { state, transitions } of Object.values(adjacency)) {
      for (const { event } of Object.values(transitions) as Array<{ event: DeviceSym }>) {
        const d = state;
        const { next, emitted, concrete } = deviceStep(d, event);
        const broken = checkStep(d, event, concrete, next, emitted);
        if (broken !== undefined) throw new Error(`${deviceKey(d)} --${symKey(event)}--> ${deviceKey(next)}: ${broken}`);
        edges += 1;
      }
    }
    expect(edges).toBe((5 + 2 * LOCKOUT_MAX_LEVEL) * 2 * ALPHABET.length);
  });

  it('keeps the rules on every simple path through a lockout into break-glass and out again', () => {
    const moves = { ...traversal, events: MOVES };
    let count = 0;
    for (const [target, level] of [['locked/f5/l1|breakGlass', 1], ['unlocked/f5/l1|normal', 1]] as const) {
      // Simple paths multiply with every state the traversal may go through: keep it below the
      // target's lockout level (the lockout only moves forward along these events).
      const stopWhen = (d: Device) => d.lockout.context.level > level;
      const paths = getSimplePaths(deviceLogic, { ...moves, stopWhen, toState: (d: Device) => deviceKey(d) === target });
      expect(paths.length, target).toBeGreaterThan(0);
      for (const path of paths) replayPure(path);
      for (const path of paths.filter((_, i) => i % 50 === 0)) replayOnDevice(path);
      count += paths.length;
    }
    expect(count).toBeGreaterThan(100);
  });
});
