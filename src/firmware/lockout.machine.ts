// The lockout machine: counts failed authentications and locks pairing and sessions out with
// doubling delays (docs/protocol.md §8). Not persistence or auditing: lockout-store.ts does those.

import { assertEvent, assign, emit, or, raise, setup } from 'xstate';
import type { AuthFailureKind } from '../session/ports.ts';

// ─── Policy (docs/protocol.md §8) ─────────────────────────────────────────────────────────────

/** Consecutive failures that start the first lockout. */
export const LOCKOUT_THRESHOLD = 5;
/** The first lockout lasts 60 s; each later one doubles it… */
export const LOCKOUT_BASE_S = 60;
/** …up to 1 h. */
export const LOCKOUT_MAX_S = 3_600;
/**
 * Lockouts since the last success, saturating: the 7th lasts 60 · 2⁶ = 3,840 s, capped to
 * 3,600 s, and every later one is capped too, so counting further would change nothing.
 */
export const LOCKOUT_MAX_LEVEL = 7;
/** The failure counter is a u16 on flash (lockout-store.ts); it saturates rather than wraps. */
export const LOCKOUT_MAX_FAILURES = 0xffff;

const US_PER_S = 1_000_000;

/** How long the lockout of `level` (1 = the first since a success) lasts, in µs. */
export function lockoutDurationUs(level: number): number {
  if (!Number.isInteger(level) || level < 1) return 0;
  return Math.min(LOCKOUT_BASE_S * 2 ** (level - 1), LOCKOUT_MAX_S) * US_PER_S;
}

/** The state that survives a reboot: exactly what lockout-store.ts writes to flash. */
export interface LockoutState {
  /** Consecutive failures since the last success (u16, saturating). */
  readonly failures: number;
  /** Lockouts since the last success, 0..LOCKOUT_MAX_LEVEL; 0 = never locked since then. */
  readonly level: number;
  /** When the current (or last) lockout ends, absolute device time in µs (the Alarm's clock); 0 = none yet. */
  readonly deadlineUs: number;
}

export const UNLOCKED_STATE: LockoutState = { failures: 0, level: 0, deadlineUs: 0 };

/** What ended up in the lockout.started record: a real failure, or a corrupt record on flash. */
export type LockoutCause = AuthFailureKind | 'corrupt-state';

export interface LockoutContext extends LockoutState {
  /**
   * Device time of the latest event, µs. Events carry the time (the machine reads no clock),
   * so the `untilDeadline` delay can be computed from context alone when `locked` is entered.
   */
  readonly nowUs: number;
}

export interface LockoutInput {
  /** As read back from flash (lockout-store.ts), or UNLOCKED_STATE on a fresh device. */
  readonly state: LockoutState;
  /** Device time at (re)start, µs. */
  readonly nowUs: number;
}

export type LockoutEvent =
  | { type: 'auth.failed'; kind: AuthFailureKind; nowUs: number }
  | { type: 'auth.succeeded'; nowUs: number }
  /**
   * The deadline came. Raised by the machine's own timer; anyone else sending it early
   * gets nothing (guard `deadlineReached`): only the deadline ends a lockout (§8).
   */
  | { type: 'lockout.expired'; nowUs: number };

export type LockoutEmitted =
  | { type: 'lockout.started'; cause: LockoutCause; level: number; durationS: number; failures: number; deadlineUs: number }
  | { type: 'lockout.ended'; level: number; failures: number };

/**
 * A deadline further ahead than the lockout that set it could last means the clock restarted
 * (a chip without a running RTC counts from 0 after a reset) or the record lies. The lockout then
 * lasts its full duration from now: never shorter than what was left, and bounded, so a bad
 * record cannot lock a patient's phone out for days.
 */
function boundedDeadlineUs(state: LockoutState, nowUs: number): number {
  const longestUs = lockoutDurationUs(Math.max(1, Math.min(state.level, LOCKOUT_MAX_LEVEL)));
  return Math.min(state.deadlineUs, nowUs + longestUs);
}

export const lockoutMachine = setup({
  types: {
    context: {} as LockoutContext,
    events: {} as LockoutEvent,
    input: {} as LockoutInput,
    emitted: {} as LockoutEmitted,
  },
  guards: {
    /** Restart: the persisted deadline is still ahead, so the device is still locked out. */
    deadlineStillAhead: ({ context }) => context.deadlineUs > context.nowUs,
    /** This failure is the 5th in a row (§8: 5 consecutive failures → 60 s). */
    reachesLockoutThreshold: ({ context }) => context.failures + 1 >= LOCKOUT_THRESHOLD,
    /** A lockout has ended since the last success: any failure now locks again, for twice as long (§8). */
    followsEndedLockout: ({ context }) => context.level >= 1,
    /** Only the deadline ends a lockout: an expiry stamped before it is ignored. */
    deadlineReached: ({ context, event }) => event.type === 'lockout.expired' && event.nowUs >= context.deadlineUs,
  },
  delays: {
    // XState delays are ms; the world clock adapter turns them back into whole µs.
    untilDeadline: ({ context }) => Math.max(0, context.deadlineUs - context.nowUs) / 1_000,
  },
  actions: {
    noteTime: assign({ nowUs: ({ context, event }) => Math.max(context.nowUs, event.nowUs) }),
    countFailure: assign({ failures: ({ context }) => Math.min(context.failures + 1, LOCKOUT_MAX_FAILURES) }),
    /** The next level's lockout, from the failure's instant (assign stays pure: no clock read). */
    startLockout: assign(({ context }) => {
      const level = Math.min(context.level + 1, LOCKOUT_MAX_LEVEL);
      return { level, deadlineUs: context.nowUs + lockoutDurationUs(level) };
    }),
    announceLockout: emit(({ context, event }) => {
      assertEvent(event, 'auth.failed'); // the only event that starts a lockout
      return {
        type: 'lockout.started' as const,
        cause: event.kind,
        level: context.level,
        durationS: lockoutDurationUs(context.level) / US_PER_S,
        failures: context.failures,
        deadlineUs: context.deadlineUs,
      };
    }),
    announceEnd: emit(({ context }) => ({ type: 'lockout.ended' as const, level: context.level, failures: context.failures })),
    /** A success resets the count and the doubling (§8). The old deadline is past: keep none. */
    resetCounters: assign({ failures: 0, level: 0, deadlineUs: 0 }),
    /** The timer fires at the deadline by construction (delay = deadline − time of entry). */
    raiseExpiry: raise(({ context }) => ({ type: 'lockout.expired' as const, nowUs: context.deadlineUs })),
  },
}).createMachine({
  id: 'lockout',
  context: ({ input }) => ({
    failures: Math.min(input.state.failures, LOCKOUT_MAX_FAILURES),
    level: Math.min(input.state.level, LOCKOUT_MAX_LEVEL),
    deadlineUs: boundedDeadlineUs(input.state, input.nowUs),
    nowUs: input.nowUs,
  }),
  initial: 'booting',
  states: {
    /**
     * Created from the persisted state on every (re)start. A restored XState snapshot would have
     * no pending delays (DESIGN §2), so the machine starts fresh and `locked` re-arms its timer
     * from the persisted deadline on entry.
     */
    booting: {
      always: [{ guard: 'deadlineStillAhead', target: 'locked' }, { target: 'unlocked' }],
    },
    unlocked: {
      on: {
        'auth.failed': [
          {
            guard: or(['followsEndedLockout', 'reachesLockoutThreshold']),
            target: 'locked',
            actions: ['noteTime', 'countFailure', 'startLockout', 'announceLockout'],
          },
          { actions: ['noteTime', 'countFailure'] },
        ],
        'auth.succeeded': { actions: ['noteTime', 'resetCounters'] },
      },
    },
    locked: {
      // Armed on entry, disarmed on exit (the only exit is the deadline).
      after: { untilDeadline: { actions: 'raiseExpiry' } },
      on: {
        // Only break-glass proofs still reach the lockout while it runs (§7): they count, but
        // neither shorten nor stretch it; the next failure after it ends locks again, doubled.
        'auth.failed': { actions: ['noteTime', 'countFailure'] },
        'lockout.expired': { guard: 'deadlineReached', target: 'unlocked', actions: ['noteTime', 'announceEnd'] },
        // No 'auth.succeeded' here: nothing but the deadline ends a lockout, and a success
        // cannot even happen while pairing and sessions are refused (break-glass never counts).
      },
    },
  },
});

export type LockoutMachine = typeof lockoutMachine;
