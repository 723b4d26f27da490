// Model-based test support: symbolic events for the lockout and emergency machines, made concrete
// from the snapshot they apply to, so any xstate/graph path replays. Not a test file itself.

import { createEmptyActor, type ActorLogic, type AnyStateMachine, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { emergencyMachine, type EmergencyCommand, type EmergencyEvent } from '../../src/firmware/emergency.machine.ts';
import { LOCKOUT_THRESHOLD, lockoutMachine, type LockoutEvent, type LockoutInput } from '../../src/firmware/lockout.machine.ts';
import type { AuthFailureKind } from '../../src/session/ports.ts';
import { US_PER_S } from './fixtures.ts';

export type LockoutSnapshot = SnapshotFrom<typeof lockoutMachine>;

export interface ExecutedAction {
  readonly type: string;
  readonly params: unknown;
}

/**
 * xstate's pure `transition()`, with one inert actor scope reused: `transition()` builds an actor
 * per call, which makes replaying thousands of paths slow. Same result: the next snapshot and
 * the actions it would execute (emits, raises with their delays, cancels), none executed.
 */
export function pureStep<M extends AnyStateMachine>(machine: M, snapshot: SnapshotFrom<M>, event: EventFromLogic<M>): [SnapshotFrom<M>, ExecutedAction[]] {
  const actions: ExecutedAction[] = [];
  collecting = actions;
  try {
    return [machine.transition(snapshot, event, inertScope as never) as SnapshotFrom<M>, actions];
  } finally {
    collecting = undefined;
  }
}

let collecting: ExecutedAction[] | undefined;
const inertSelf = createEmptyActor();
const inertScope = {
  self: inertSelf,
  id: '',
  sessionId: 'model',
  logger: () => {},
  defer: () => {},
  system: inertSelf.system,
  stopChild: () => {},
  emit: () => {},
  actionExecutor: (a: ExecutedAction) => collecting?.push({ type: a.type, params: a.params }),
};

/** The events a step emitted (the machines' only way to ask for side effects). */
export const emittedBy = (actions: readonly ExecutedAction[]): Array<{ type: string; [k: string]: unknown }> =>
  actions.filter((a) => a.type === 'xstate.emit').map((a) => (a.params as { event: { type: string } }).event);
export type EmergencySnapshot = SnapshotFrom<typeof emergencyMachine>;

/** The delayed event XState raises when `locked`'s `untilDeadline` timer fires. */
export const LOCKOUT_TIMER_EVENT = 'xstate.after.untilDeadline.lockout.locked';
export const EMERGENCY_TIMER_EVENT = 'xstate.after.untilExpiry.emergency.breakGlass';

/**
 * Symbolic lockout events. Time is relative to the snapshot: a failure or success comes 1 s
 * after the previous event (and before the deadline while locked), an expiry is stamped before,
 * at or after the deadline, and `timer` is the machine's own delayed event.
 */
export type LockoutSym =
  | { type: 'auth.failed'; kind: AuthFailureKind }
  | { type: 'auth.succeeded' }
  | { type: 'lockout.expired'; at: 'early' | 'deadline' | 'late' }
  | { type: 'timer' };

export const LOCKOUT_ALPHABET: readonly LockoutSym[] = [
  { type: 'auth.failed', kind: 'pairing' },
  { type: 'auth.failed', kind: 'break-glass' },
  { type: 'auth.succeeded' },
  { type: 'lockout.expired', at: 'early' },
  { type: 'lockout.expired', at: 'deadline' },
  { type: 'lockout.expired', at: 'late' },
  { type: 'timer' },
];

/** The concrete event, or the raw delayed timer event (not part of LockoutEvent's public union). */
export type LockoutConcrete = LockoutEvent | { type: typeof LOCKOUT_TIMER_EVENT };

export function concreteLockoutEvent(s: LockoutSnapshot, e: LockoutSym): LockoutConcrete {
  const { nowUs, deadlineUs } = s.context;
  const locked = s.value === 'locked';
  const next = locked ? Math.min(nowUs + US_PER_S, deadlineUs - 1) : nowUs + US_PER_S;
  switch (e.type) {
    case 'auth.failed':
      return { type: 'auth.failed', kind: e.kind, nowUs: next };
    case 'auth.succeeded':
      return { type: 'auth.succeeded', nowUs: next };
    case 'lockout.expired': {
      if (!locked) return { type: 'lockout.expired', nowUs: next };
      const at = e.at === 'early' ? deadlineUs - 1 : e.at === 'deadline' ? deadlineUs : deadlineUs + 5 * US_PER_S;
      return { type: 'lockout.expired', nowUs: Math.max(nowUs, at) };
    }
    case 'timer':
      return { type: LOCKOUT_TIMER_EVENT };
  }
}

/** What the graph tells states apart by: the state, failures up to the threshold, the level. */
export const lockoutKey = (s: LockoutSnapshot): string => `${String(s.value)}/f${Math.min(s.context.failures, LOCKOUT_THRESHOLD)}/l${s.context.level}`;

/**
 * The lockout machine with symbolic events, as ActorLogic the traversal can walk. The events
 * given to xstate/graph are tried in every state (a plain logic gets no event filtering), so a
 * path can carry any event anywhere, as an attacker's would.
 */
export const symbolicLockout = {
  transition: (s: LockoutSnapshot, e: LockoutSym, scope: unknown) => lockoutMachine.transition(s, concreteLockoutEvent(s, e) as LockoutEvent, scope as never),
  getInitialSnapshot: (scope: unknown, input: LockoutInput) => lockoutMachine.getInitialSnapshot(scope as never, input),
  getPersistedSnapshot: (s: LockoutSnapshot) => s,
} as unknown as ActorLogic<LockoutSnapshot, LockoutSym, LockoutInput>;

// ─── emergency ────────────────────────────────────────────────────────────────────────────────

/** Every §6 combination of the two declaration bits, including the contradictory one. */
export const DECLARATIONS: readonly EmergencyCommand[] = [
  { code: 0x0001, emergency: true, increasesDelivery: false }, // device.info
  { code: 0x0003, emergency: false, increasesDelivery: false }, // bonds.list
  { code: 0x0012, emergency: false, increasesDelivery: true }, // therapy.resume
  { code: 0x7fff, emergency: true, increasesDelivery: true }, // a table mistake: must still be refused
];

export type EmergencySym =
  | { type: 'button.stop.long' }
  | { type: 'breakglass.granted'; forS: number }
  | { type: 'breakglass.refused' }
  | { type: 'breakglass.ended' }
  | { type: 'breakglass.expired'; at: 'early' | 'expiry' }
  | { type: 'timer' }
  | { type: 'command.requested'; command: EmergencyCommand };

export const EMERGENCY_ALPHABET: readonly EmergencySym[] = [
  { type: 'button.stop.long' },
  { type: 'breakglass.granted', forS: 600 },
  { type: 'breakglass.granted', forS: 7_200 }, // asks for 2 h: capped to 30 min
  { type: 'breakglass.granted', forS: 0 }, // expiry not in the future
  { type: 'breakglass.refused' },
  { type: 'breakglass.ended' },
  { type: 'breakglass.expired', at: 'early' },
  { type: 'breakglass.expired', at: 'expiry' },
  { type: 'timer' },
  ...DECLARATIONS.map((command) => ({ type: 'command.requested' as const, command })),
];

export type EmergencyConcrete = EmergencyEvent | { type: typeof EMERGENCY_TIMER_EVENT };

export function concreteEmergencyEvent(s: EmergencySnapshot, e: EmergencySym, requestId = 1): EmergencyConcrete {
  const { nowUs, untilUs } = s.context;
  const active = s.value === 'breakGlass';
  switch (e.type) {
    case 'button.stop.long':
    case 'breakglass.ended':
      return { type: e.type };
    case 'breakglass.granted': {
      const at = active ? Math.min(nowUs + US_PER_S, untilUs - 1) : nowUs + US_PER_S;
      return { type: 'breakglass.granted', index: 7, nowUs: at, untilUs: at + e.forS * US_PER_S };
    }
    case 'breakglass.refused':
      return { type: 'breakglass.refused', index: 3, reason: 'proof-failed' };
    case 'breakglass.expired':
      if (!active) return { type: 'breakglass.expired', nowUs: nowUs + US_PER_S };
      return { type: 'breakglass.expired', nowUs: e.at === 'early' ? untilUs - 1 : untilUs };
    case 'timer':
      return { type: EMERGENCY_TIMER_EVENT };
    case 'command.requested':
      return { type: 'command.requested', requestId, command: e.command };
  }
}
