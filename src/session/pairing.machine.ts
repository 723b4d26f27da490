// The device side of pairing (docs/protocol.md §4) as an XState machine: which message is accepted
// when, which check gates which step, what fails with which reason. Not the crypto or the I/O:
// every side effect is a named action that device-pairing.ts provides; results come back as events.
//
// LE Secure Connections (Core Vol 3 Part H §2.3.5.6) in our own messages: numeric comparison
// (§2.3.5.6.2; §4.2 here) and passkey entry (§2.3.5.6.3; §4.3), then the DHKey checks
// (§2.3.5.6.5; §4.4). The machine holds no key material: nonces, DHKey, MacKey and LTK live
// in device-pairing.ts's per-attempt vault, so a snapshot or an inspector never sees them.
// Guards read only the context and the event, so `xstate/graph` can walk every path
// (test/session/pairing-model.test.ts): the facts a guard needs (lockout status, room for a
// bond, a check's outcome) arrive in the event that asks for the decision.

import { and, assertEvent, assign, enqueueActions, not, setup } from 'xstate';
import { isValidP256PublicKey } from '../crypto/index.ts';
import type { Role } from './roles.ts';
import { PAIR_FAILED, PASSKEY_ROUNDS, PEER_CAUSED_REASONS, methodFromCode, type PairRequest, type PairingMethod } from './wire-pairing.ts';

/** 60 s for the device's user to answer the numeric comparison (§4.4), and for the client's user to type the passkey. */
export const USER_TIMEOUT_MS = 60_000;
/** 30 s for the peer's next message, as SMP's transaction timeout (Core Vol 3 Part H §3.4). */
export const PEER_TIMEOUT_MS = 30_000;

export type PairedRole = Exclude<Role, 'emergency'>;

export interface PairingContext {
  readonly method: PairingMethod | undefined;
  readonly role: PairedRole | undefined;
  /** The client id, hex: public (it travels in clear in PAIR_REQUEST), kept for audit. */
  readonly clientIdHex: string | undefined;
  /** Passkey entry round i = 0..19 (§4.3). */
  readonly round: number;
  /** Why the attempt is failing (PAIR_FAILED reason, §4.5), set on the way to `failing`/`peerFailed`. */
  readonly failure: { readonly reason: number; readonly remainingS: number } | undefined;
}

/** The lockout's answer when the request came in (LockoutPort.status(), §8). */
export interface LockoutFacts {
  readonly locked: boolean;
  readonly remainingS: number;
}

export type CryptoOutcome =
  | { readonly op: 'credential'; readonly valid: boolean }
  | { readonly op: 'dhkey'; readonly ok: boolean }
  | { readonly op: 'commitment'; readonly matches: boolean }
  | { readonly op: 'check'; readonly matches: boolean };

export type PairingEvent =
  /** PAIR_REQUEST, with the device facts the first decisions need. */
  | { readonly type: 'pairing.request'; readonly request: PairRequest; readonly lockout: LockoutFacts; readonly bondRoom: boolean; readonly busy: boolean }
  /** PAIR_RANDOM_C (Na). */
  | { readonly type: 'pairing.random'; readonly nonce: Uint8Array }
  /** PAIR_CHECK_C (Ea). */
  | { readonly type: 'pairing.check'; readonly ea: Uint8Array }
  /** PASSKEY_COMMIT_C (i, Caᵢ). */
  | { readonly type: 'passkey.commit'; readonly round: number; readonly ca: Uint8Array }
  /** PASSKEY_RANDOM_C (i, Naᵢ). */
  | { readonly type: 'passkey.random'; readonly round: number; readonly nonce: Uint8Array }
  /** The peer's PAIR_FAILED. */
  | { readonly type: 'pairing.failed'; readonly reason: number }
  /** A well-formed message the device never accepts (one of the device → client types). */
  | { readonly type: 'pairing.unexpected'; readonly messageType: number }
  /** A message that did not decode (wire-pairing.ts). */
  | { readonly type: 'pairing.malformed'; readonly detail: string }
  /** The prepared ephemeral key is this attempt's (ephemeral-key.ts). */
  | { readonly type: 'key.ready' }
  | { readonly type: 'key.failed'; readonly code: 'entropy' | 'crypto' | 'busy' }
  /** A costly computation finished after its CPU time (cpu-time.ts afterCpu). */
  | ({ readonly type: 'crypto.done' } & CryptoOutcome)
  | { readonly type: 'crypto.failed' }
  | { readonly type: 'bond.stored' }
  | { readonly type: 'bond.failed'; readonly code: 'full' | 'flash' | 'entropy' | 'invalid' }
  /** The device's OK button. */
  | { readonly type: 'user.confirmed' }
  /** The device's Cancel button. */
  | { readonly type: 'user.rejected' }
  | { readonly type: 'link.closed' };

const INITIAL_CONTEXT: PairingContext = { method: undefined, role: undefined, clientIdHex: undefined, round: 0, failure: undefined };

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** A transition to `failing` with PAIR_FAILED `reason`. */
const fail = (reason: number) => ({ target: '#pairing.failing', actions: { type: 'noteFailure', params: { reason } } }) as const;

const R = PAIR_FAILED;

/**
 * The device's pairing machine. Every action below except the `assign`s is a placeholder that
 * DevicePairing replaces with `machine.provide({ actions })`; the graph tests run it as is.
 */
export const pairingMachine = setup({
  types: {
    context: {} as PairingContext,
    events: {} as PairingEvent,
  },
  actions: {
    // ── context (pure) ──
    resetAttempt: assign(() => INITIAL_CONTEXT),
    beginAttempt: assign(({ event }) => {
      assertEvent(event, 'pairing.request');
      return { method: methodFromCode(event.request.method), role: event.request.role, clientIdHex: hex(event.request.clientId), round: 0, failure: undefined };
    }),
    noteFailure: assign((_, params: { reason: number }) => ({ failure: { reason: params.reason, remainingS: 0 } })),
    noteLockedOut: assign(({ event }) => {
      assertEvent(event, 'pairing.request');
      return { failure: { reason: R.lockedOut, remainingS: event.lockout.remainingS } };
    }),
    notePeerFailure: assign(({ event }) => {
      assertEvent(event, 'pairing.failed');
      return { failure: { reason: event.reason, remainingS: 0 } };
    }),
    nextRound: assign(({ context }) => ({ round: context.round + 1 })),
    // ── side effects, provided by DevicePairing ──
    /** Open the per-attempt vault with the request; start the pairing budget. */
    startAttempt: () => {},
    /** Ask ephemeral-key.ts for this attempt's key → key.ready / key.failed. */
    takeEphemeralKey: () => {},
    /** Verify the role credential (≈ 75 M cycles) → crypto.done { op: 'credential' }. */
    verifyCredential: () => {},
    /** ECDH with PKa (≈ 45 M cycles); Nb and Cb, or the passkey → crypto.done { op: 'dhkey' }. */
    computeDhKey: () => {},
    /** PAIR_RESPONSE: certificate, PKb, its signature, Cb (§4.1). */
    sendPairResponse: () => {},
    /** Keep Na; PAIR_RANDOM_D with Nb (§4.2 step 2). */
    sendDeviceRandom: () => {},
    /** Va = g2(PKa.x, PKb.x, Na, Nb) on the display (§4.2 step 4). */
    showComparisonValue: () => {},
    /** The passkey on the display (§4.3). */
    showPasskey: () => {},
    /** Keep Caᵢ; fresh Nbᵢ; PASSKEY_COMMIT_D with Cbᵢ (§4.3 step 2). */
    sendDeviceCommitment: () => {},
    /** Caᵢ =? f4(PKa.x, PKb.x, Naᵢ, rᵢ) → crypto.done { op: 'commitment' } (§4.3 step 3). */
    verifyCommitment: () => {},
    /** PASSKEY_RANDOM_D with Nbᵢ (§4.3 step 4). */
    sendPasskeyRandom: () => {},
    /** f5, then Ea =? f6(MacKey, Na, Nb, rb, IOcapA, A, B) → crypto.done { op: 'check' } (§4.4). */
    verifyCheck: () => {},
    /** Seal and store the bond (§4.6) → bond.stored / bond.failed. */
    storeBond: () => {},
    recordLockoutFailure: () => {},
    recordLockoutSuccess: () => {},
    auditFailure: () => {},
    auditAbort: () => {},
    auditSuccess: () => {},
    sendPairFailed: () => {},
    /** PAIR_CHECK_D with Eb and the granted role (§4.4). */
    sendPairCheck: () => {},
    /** Tell the session the bond is ready (same connection). */
    notifyPaired: () => {},
    /** End the budget, wipe the vault, clear the display, prepare the next ephemeral key. */
    endAttempt: () => {},
  },
  guards: {
    deviceBusy: ({ event }) => event.type === 'pairing.request' && event.busy,
    lockedOut: ({ event }) => event.type === 'pairing.request' && event.lockout.locked,
    methodSupported: ({ event }) => event.type === 'pairing.request' && methodFromCode(event.request.method) !== undefined,
    /** Full public-key validation before any work (invalid-curve attack, CVE-2018-5383; §4.1). */
    peerKeyOnCurve: ({ event }) => event.type === 'pairing.request' && isValidP256PublicKey(event.request.pka),
    /** Patient ⇔ no credential (§3.2: a credential must name the requested role). */
    credentialPresenceMatchesRole: ({ event }) =>
      event.type === 'pairing.request' && (event.request.role === 'patient') === (event.request.credential.length === 0),
    bondTableHasRoom: ({ event }) => event.type === 'pairing.request' && event.bondRoom,
    privilegedRoleRequested: ({ context }) => context.role === 'clinician' || context.role === 'service',
    credentialGrantsRequestedRole: ({ event }) => event.type === 'crypto.done' && event.op === 'credential' && event.valid,
    dhKeyComputed: ({ event }) => event.type === 'crypto.done' && event.op === 'dhkey' && event.ok,
    isNumericComparison: ({ context }) => context.method === 'numeric-comparison',
    roundInOrder: ({ context, event }) => (event.type === 'passkey.commit' || event.type === 'passkey.random') && event.round === context.round,
    commitmentMatches: ({ event }) => event.type === 'crypto.done' && event.op === 'commitment' && event.matches,
    isLastRound: ({ context }) => context.round === PASSKEY_ROUNDS - 1,
    awaitingFirstCommit: ({ context }) => context.round === 0,
    dhKeyCheckMatches: ({ event }) => event.type === 'crypto.done' && event.op === 'check' && event.matches,
    keyHeldByAnotherPairing: ({ event }) => event.type === 'key.failed' && event.code === 'busy',
    bondTableWasFull: ({ event }) => event.type === 'bond.failed' && event.code === 'full',
    failureCountsTowardsLockout: ({ context }) => context.failure !== undefined && PEER_CAUSED_REASONS.includes(context.failure.reason),
  },
  delays: {
    userTimeout: USER_TIMEOUT_MS,
    peerTimeout: PEER_TIMEOUT_MS,
    /** Round 0 waits for the user to type the passkey; later rounds for the peer. */
    commitTimeout: ({ context }) => (context.round === 0 ? USER_TIMEOUT_MS : PEER_TIMEOUT_MS),
  },
}).createMachine({
  id: 'pairing',
  initial: 'idle',
  context: INITIAL_CONTEXT,
  states: {
    idle: {
      entry: 'resetAttempt',
      on: {
        'pairing.request': [
          { guard: 'deviceBusy', target: 'failing', actions: { type: 'noteFailure', params: { reason: R.busy } } },
          { guard: 'lockedOut', target: 'failing', actions: 'noteLockedOut' },
          { guard: not('methodSupported'), target: 'failing', actions: { type: 'noteFailure', params: { reason: R.authenticationRequirements } } },
          { guard: not('peerKeyOnCurve'), target: 'failing', actions: { type: 'noteFailure', params: { reason: R.invalidParameters } } },
          { guard: not('credentialPresenceMatchesRole'), target: 'failing', actions: { type: 'noteFailure', params: { reason: R.credentialInvalid } } },
          { guard: not('bondTableHasRoom'), target: 'failing', actions: { type: 'noteFailure', params: { reason: R.bondTableFull } } },
          { target: 'attempt', actions: 'beginAttempt' },
        ],
        // Anything else with no attempt in progress is out of order (§4.5: 0x0A).
        'pairing.random': fail(R.invalidParameters),
        'pairing.check': fail(R.invalidParameters),
        'passkey.commit': fail(R.invalidParameters),
        'passkey.random': fail(R.invalidParameters),
        'pairing.unexpected': fail(R.invalidParameters),
        'pairing.malformed': fail(R.invalidParameters),
        'link.closed': 'closed',
      },
    },
    attempt: {
      entry: 'startAttempt',
      // Defaults for the whole attempt; a child that accepts an event overrides these.
      on: {
        'pairing.request': fail(R.invalidParameters),
        'pairing.random': fail(R.invalidParameters),
        'pairing.check': fail(R.invalidParameters),
        'passkey.commit': fail(R.invalidParameters),
        'passkey.random': fail(R.invalidParameters),
        'pairing.unexpected': fail(R.invalidParameters),
        'pairing.malformed': fail(R.invalidParameters),
        'pairing.failed': { target: 'peerFailed', actions: 'notePeerFailure' },
        'key.failed': [{ guard: 'keyHeldByAnotherPairing', ...fail(R.busy) }, fail(R.unspecified)],
        'crypto.failed': fail(R.unspecified),
        'link.closed': { target: 'closed', actions: 'auditAbort' },
      },
      initial: 'awaitingKey',
      states: {
        awaitingKey: {
          entry: 'takeEphemeralKey',
          on: {
            'key.ready': [{ guard: 'privilegedRoleRequested', target: 'verifyingCredential' }, { target: 'computingDhKey' }],
          },
        },
        verifyingCredential: {
          entry: 'verifyCredential',
          on: {
            'crypto.done': [{ guard: 'credentialGrantsRequestedRole', target: 'computingDhKey' }, fail(R.credentialInvalid)],
          },
        },
        computingDhKey: {
          entry: 'computeDhKey',
          on: {
            'crypto.done': [
              { guard: and(['dhKeyComputed', 'isNumericComparison']), target: 'numericComparison', actions: 'sendPairResponse' },
              { guard: 'dhKeyComputed', target: 'passkeyEntry', actions: 'sendPairResponse' },
              fail(R.invalidParameters),
            ],
          },
        },
        numericComparison: {
          initial: 'awaitingRandom',
          states: {
            awaitingRandom: {
              after: { peerTimeout: fail(R.unspecified) },
              on: { 'pairing.random': { target: 'comparing', actions: ['sendDeviceRandom', 'showComparisonValue'] } },
            },
            // Two things must happen, in either order, within 60 s: the device's user presses OK,
            // and the client's Ea verifies. Only then is the bond stored (§4.4).
            comparing: {
              type: 'parallel',
              after: { userTimeout: fail(R.numericComparisonFailed) },
              onDone: { target: '#pairing.attempt.storingBond' },
              states: {
                user: {
                  initial: 'deciding',
                  states: {
                    deciding: {
                      // The device's OK and Cancel belong to this comparison now (device-pairing.ts awaitingUser).
                      tags: ['awaiting-user'],
                      on: {
                        'user.confirmed': 'confirmed',
                        'user.rejected': fail(R.numericComparisonFailed),
                      },
                    },
                    confirmed: { type: 'final' },
                  },
                },
                peer: {
                  initial: 'awaitingCheck',
                  states: {
                    awaitingCheck: { on: { 'pairing.check': 'verifyingCheck' } },
                    verifyingCheck: {
                      entry: 'verifyCheck',
                      on: { 'crypto.done': [{ guard: 'dhKeyCheckMatches', target: 'verified' }, fail(R.dhKeyCheckFailed)] },
                    },
                    verified: { type: 'final' },
                  },
                },
              },
            },
          },
        },
        passkeyEntry: {
          entry: 'showPasskey',
          on: { 'user.rejected': fail(R.passkeyEntryFailed) },
          initial: 'awaitingCommit',
          states: {
            awaitingCommit: {
              after: { commitTimeout: [{ guard: 'awaitingFirstCommit', ...fail(R.passkeyEntryFailed) }, fail(R.unspecified)] },
              on: { 'passkey.commit': [{ guard: 'roundInOrder', target: 'awaitingRandom', actions: 'sendDeviceCommitment' }, fail(R.invalidParameters)] },
            },
            awaitingRandom: {
              after: { peerTimeout: fail(R.unspecified) },
              on: { 'passkey.random': [{ guard: 'roundInOrder', target: 'verifyingCommitment' }, fail(R.invalidParameters)] },
            },
            verifyingCommitment: {
              entry: 'verifyCommitment',
              on: {
                'crypto.done': [
                  { guard: and(['commitmentMatches', 'isLastRound']), target: 'awaitingCheck', actions: 'sendPasskeyRandom' },
                  { guard: 'commitmentMatches', target: 'awaitingCommit', actions: ['sendPasskeyRandom', 'nextRound'] },
                  fail(R.passkeyEntryFailed),
                ],
              },
            },
            awaitingCheck: {
              after: { peerTimeout: fail(R.unspecified) },
              on: { 'pairing.check': 'verifyingCheck' },
            },
            verifyingCheck: {
              entry: 'verifyCheck',
              on: { 'crypto.done': [{ guard: 'dhKeyCheckMatches', target: '#pairing.attempt.storingBond' }, fail(R.dhKeyCheckFailed)] },
            },
          },
        },
        // Reached only through a verified Ea (and, for numeric comparison, the user's OK).
        storingBond: {
          entry: 'storeBond',
          on: {
            'bond.stored': { target: '#pairing.paired' },
            'bond.failed': [{ guard: 'bondTableWasFull', ...fail(R.bondTableFull) }, fail(R.unspecified)],
          },
        },
      },
    },
    // The bond is on flash: count the success, audit, answer, hand the bond to the session.
    paired: {
      entry: ['recordLockoutSuccess', 'auditSuccess', 'sendPairCheck', 'notifyPaired', 'endAttempt'],
      always: 'idle',
    },
    // A failure the device answers: the lockout records it (when the peer caused it) BEFORE
    // PAIR_FAILED goes out (§4.5, §8), so a reboot between the two cannot forget it.
    failing: {
      entry: enqueueActions(({ enqueue, check }) => {
        if (check('failureCountsTowardsLockout')) enqueue('recordLockoutFailure');
        enqueue('auditFailure');
        enqueue('sendPairFailed');
        enqueue('endAttempt');
      }),
      always: 'idle',
    },
    // The peer gave up with PAIR_FAILED: counted like ours, not answered.
    peerFailed: {
      entry: enqueueActions(({ enqueue, check }) => {
        if (check('failureCountsTowardsLockout')) enqueue('recordLockoutFailure');
        enqueue('auditFailure');
        enqueue('endAttempt');
      }),
      always: 'idle',
    },
    closed: {
      type: 'final',
      entry: 'endAttempt',
    },
  },
});

export type PairingMachine = typeof pairingMachine;
