// The device side of one session (docs/protocol.md §5, §7) as an XState v5 machine: handshake,
// lockout answers, authorization of every command, the drop limit, rekey, idle timeout and the
// break-glass cap. Not the bytes or the crypto: device-session.ts decodes, derives and seals, and
// turns what it established into this machine's events; the machine decides what happens.
//
// Pure core, effectful shell: guards read only the context and the event, `assign` computes only
// data, and every side effect is a named action calling the `SessionIo` port. So `xstate/graph`
// can walk the machine with explicit events (test/session/session-model.test.ts), and nothing
// secret lives in a snapshot: keys stay in the shell, the context holds the expected proof Pc only
// until the proof arrives.

import { AUDIT_EVENTS } from '../firmware/audit-log.ts';
import { and, assign, not, raise, setup } from 'xstate';
import { constantTimeEqual } from '../crypto/index.ts';
import { BREAK_GLASS_MAX_SESSION_S, isBreakGlassCodeCurrent, isBreakGlassIndexFresh } from './break-glass.ts';
import { authorize, type Command, type CommandTable } from './commands.ts';
import type { AuthFailureKind } from './ports.ts';
import type { RecordDropCode } from './record-layer.ts';
import { ROLE_CODES, type Role } from './roles.ts';
import { RESPONSE_STATUS, SESSION_FAILED, type RecordPlaintext, type SessionFailedReason } from './wire-session.ts';

/** Default idle timeout, seconds (docs/protocol.md §5.4). */
export const DEFAULT_IDLE_TIMEOUT_S = 300;
/** Dropped records that end a session (docs/protocol.md §5.3). */
export const DROP_LIMIT = 3;

/**
 * Audit event codes the session writes (docs/protocol.md §5.5). `detail` layouts are listed
 * there; roles are the actor's.
 */
export const SESSION_AUDIT = {
  sessionOpened: AUDIT_EVENTS['session.opened'],
  proofFailed: AUDIT_EVENTS['session.proofFailed'],
  lockedOut: AUDIT_EVENTS['session.lockedOut'],
  tooManyDrops: AUDIT_EVENTS['record.rejected'],
  idleTimeout: AUDIT_EVENTS['session.idleTimeout'],
  breakGlassOpened: AUDIT_EVENTS['breakglass.used'],
  breakGlassRefused: AUDIT_EVENTS['breakglass.refused'],
  breakGlassEnded: AUDIT_EVENTS['breakglass.ended'],
  commandRefused: AUDIT_EVENTS['command.refused'],
  emergencyCommand: AUDIT_EVENTS['command.emergency'],
} as const;

/** Why a break-glass session was refused (audit detail byte 0, docs/protocol.md §5.5). */
export const BREAK_GLASS_REFUSAL = { indexUsed: 1, expired: 2, proof: 3, store: 4 } as const;
export type BreakGlassRefusalReason = keyof typeof BREAK_GLASS_REFUSAL;

/** Reasons for the device's security annunciation. */
export type SecurityAlarmReason = 'records-dropped';

/** The request plaintext a command event carries. */
export type RequestPlaintext = Extract<RecordPlaintext, { kind: 'request' }>;

/**
 * What the shell established about one RECORD: opened and decoded, or dropped with the
 * record layer's code ('malformed' also for an authentic record whose plaintext does not
 * decode), or 'no-session' when no record keys exist yet.
 */
export type RecordOutcome =
  | { readonly ok: true; readonly message: RecordPlaintext }
  | { readonly ok: false; readonly code: RecordDropCode | 'no-session' };

export interface LockoutFacts {
  readonly locked: boolean;
  readonly remainingS: number;
}

export type SessionEvent =
  /** SESSION_HELLO decoded; the shell drew Nd, looked the bond up and derived the expected Pc. */
  | {
      readonly type: 'session.hello';
      readonly clientId: Uint8Array;
      /** The bond's role, or null for an unknown client id (it still gets a challenge, §5.1). */
      readonly bondRole: Role | null;
      readonly expectedPc: Uint8Array;
      readonly lockout: LockoutFacts;
    }
  /** BREAK_GLASS_HELLO decoded; the shell read the last used index and the device clock. */
  | {
      readonly type: 'breakglass.hello';
      readonly index: number;
      readonly notAfterS: number;
      readonly nowS: number;
      readonly lastUsedIndex: number;
      readonly expectedPc: Uint8Array;
    }
  | { readonly type: 'session.proof'; readonly pc: Uint8Array }
  /** A handshake message that does not decode, or one only the device sends (§5.4: 0x06). */
  | { readonly type: 'session.malformed'; readonly detail: string }
  | { readonly type: 'breakglass.index.persisted' }
  | { readonly type: 'breakglass.index.failed' }
  | { readonly type: 'record.received'; readonly outcome: RecordOutcome }
  /** The record layer reached its rekey threshold (or the composition asks for a rekey). */
  | { readonly type: 'rekey.due' }
  /** The device ends the session (composition, or the shell when it cannot go on). */
  | { readonly type: 'session.close' }
  | { readonly type: 'link.closed' }
  /** Internal: a valid record arrived (restarts the idle timer). */
  | { readonly type: 'session.activity' };

/** The side effects the machine's actions ask for; device-session.ts implements them. */
export interface SessionIo {
  sendChallenge(): void;
  startRecordLayer(): void;
  sendAccept(role: Role, idleTimeoutS: number): void;
  /** SESSION_FAILED, then the link is terminated (§5.4). */
  fail(reason: SessionFailedReason, remainingS?: number): void;
  /** Run an authorized command; its handler answers now or later. */
  runCommand(request: RequestPlaintext, command: Command, role: Role): void;
  /** A response without running anything (unknown command, refused). */
  respond(requestId: number, status: number): void;
  /** A close record (0x12), then the link is terminated. */
  sendClose(): void;
  /** Terminate the link without a message (the client closed). */
  closeLink(reason: string): void;
  sendRekeyRequest(): void;
  switchEpoch(ncPrime: Uint8Array): void;
  /** Persist the index, then send `breakglass.index.persisted` or `.failed` to the machine. */
  persistBreakGlassIndex(index: number): void;
  recordLockoutFailure(kind: AuthFailureKind): void;
  recordLockoutSuccess(): void;
  audit(event: number, role: Role | undefined, detail: Uint8Array): void;
  securityAlarm(reason: SecurityAlarmReason): void;
  /** Wipe keys and stop timers: the machine reached `closed`. */
  releaseSession(): void;
}

export interface SessionInput {
  readonly io: SessionIo;
  readonly commands: CommandTable;
  readonly idleTimeoutS?: number;
  /** At most 30 min (§7); tests may shorten it. */
  readonly breakGlassMaxS?: number;
}

export interface SessionContext {
  readonly io: SessionIo;
  readonly commands: CommandTable;
  readonly idleTimeoutS: number;
  readonly breakGlassMaxS: number;
  /** Which handshake is under way or established. */
  mode: 'none' | 'bond' | 'break-glass';
  clientId: Uint8Array | null;
  /** The role the proof grants: the bond's, emergency for break-glass, null for an unknown client. */
  role: Role | null;
  /** The Pc the shell derived for this handshake; null once used. */
  expectedPc: Uint8Array | null;
  breakGlassIndex: number | null;
  drops: number;
}

// ─── event narrowing (guards and actions see the union) ────────────────────────────────────

type EventOf<T extends SessionEvent['type']> = Extract<SessionEvent, { type: T }>;
const is = <T extends SessionEvent['type']>(e: SessionEvent, type: T): e is EventOf<T> => e.type === type;

function requestOf(e: SessionEvent): RequestPlaintext | undefined {
  return is(e, 'record.received') && e.outcome.ok && e.outcome.message.kind === 'request' ? e.outcome.message : undefined;
}

/** Dropped: not opened, or a plaintext the client may not send here (§5.4: the request and close kinds; rekey response only while rekeying, which `rekeying` catches first). */
function isDropped(e: SessionEvent): boolean {
  if (!is(e, 'record.received')) return false;
  if (!e.outcome.ok) return true;
  const kind = e.outcome.message.kind;
  return kind !== 'request' && kind !== 'close';
}

// ─── little audit details (docs/protocol.md §5.5) ──────────────────────────────────────────

const u16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

// ─── the machine ───────────────────────────────────────────────────────────────────────────

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  delays: {
    idleTimeout: ({ context }) => context.idleTimeoutS * 1000,
    breakGlassMax: ({ context }) => context.breakGlassMaxS * 1000,
  },
  guards: {
    isLockedOut: ({ event }) => is(event, 'session.hello') && event.lockout.locked,
    isBreakGlassIndexFresh: ({ event }) => is(event, 'breakglass.hello') && isBreakGlassIndexFresh(event.index, event.lastUsedIndex),
    isBreakGlassCodeCurrent: ({ event }) => is(event, 'breakglass.hello') && isBreakGlassCodeCurrent(event.notAfterS, event.nowS),
    isBondHandshake: ({ context }) => context.mode === 'bond',
    /** §5.1: Pc matches the one derived from the bond (or code); an unknown client (role null) never matches. */
    proofMatches: ({ context, event }) =>
      is(event, 'session.proof') && context.role !== null && context.expectedPc !== null && constantTimeEqual(event.pc, context.expectedPc),
    isRecordDropped: ({ event }) => isDropped(event),
    isDropLimitReached: ({ context, event }) => isDropped(event) && context.drops + 1 >= DROP_LIMIT,
    isClientClose: ({ event }) => is(event, 'record.received') && event.outcome.ok && event.outcome.message.kind === 'close',
    isRekeyResponse: ({ event }) => is(event, 'record.received') && event.outcome.ok && event.outcome.message.kind === 'rekey-response',
    isUnknownCommand: ({ context, event }) => {
      const r = requestOf(event);
      return r !== undefined && context.commands.get(r.command) === undefined;
    },
    /** §3.3, §6: the session's role meets the command's declaration (commands.ts authorize). */
    roleMeetsCommand: ({ context, event }) => {
      const r = requestOf(event);
      const command = r === undefined ? undefined : context.commands.get(r.command);
      return command !== undefined && context.role !== null && authorize(context.role, command).ok;
    },
    isEmergencySession: ({ context }) => context.role === 'emergency',
  },
  actions: {
    assignBondHandshake: assign(({ event }) =>
      is(event, 'session.hello')
        ? { mode: 'bond' as const, clientId: event.clientId, role: event.bondRole === 'emergency' ? null : event.bondRole, expectedPc: event.expectedPc }
        : {},
    ),
    assignBreakGlassHandshake: assign(({ event }) =>
      is(event, 'breakglass.hello')
        ? { mode: 'break-glass' as const, clientId: null, role: 'emergency' as const, expectedPc: event.expectedPc, breakGlassIndex: event.index }
        : {},
    ),
    forgetExpectedProof: assign({ expectedPc: null }),
    countDrop: assign({ drops: ({ context }) => context.drops + 1 }),
    noteActivity: raise({ type: 'session.activity' }),

    sendChallenge: ({ context }) => context.io.sendChallenge(),
    startRecordLayer: ({ context }) => context.io.startRecordLayer(),
    sendAccept: ({ context }) => context.io.sendAccept(context.role!, context.idleTimeoutS),
    recordLockoutSuccess: ({ context }) => context.io.recordLockoutSuccess(),
    /** §8: stored before SESSION_FAILED 0x02 goes out (the action order of the transition). */
    recordProofFailure: ({ context }) => context.io.recordLockoutFailure('session-proof'),
    recordBreakGlassFailure: ({ context }) => context.io.recordLockoutFailure('break-glass'),
    persistBreakGlassIndex: ({ context }) => context.io.persistBreakGlassIndex(context.breakGlassIndex!),

    failNoSession: ({ context }) => context.io.fail(SESSION_FAILED.noSession),
    failProofFailed: ({ context }) => context.io.fail(SESSION_FAILED.proofFailed),
    failLockedOut: ({ context, event }) => context.io.fail(SESSION_FAILED.lockedOut, is(event, 'session.hello') ? event.lockout.remainingS : 0),
    failTooManyDrops: ({ context }) => context.io.fail(SESSION_FAILED.tooManyDrops),
    failIdleTimeout: ({ context }) => context.io.fail(SESSION_FAILED.idleTimeout),
    failProtocolError: ({ context }) => context.io.fail(SESSION_FAILED.protocolError),
    failBreakGlassRefused: ({ context }) => context.io.fail(SESSION_FAILED.breakGlassRefused),
    raiseSecurityAlarm: ({ context }) => context.io.securityAlarm('records-dropped'),

    runCommand: ({ context, event }) => {
      const r = requestOf(event);
      const command = r === undefined ? undefined : context.commands.get(r.command);
      if (r !== undefined && command !== undefined && context.role !== null) context.io.runCommand(r, command, context.role);
    },
    respondUnknownCommand: ({ context, event }) => {
      const r = requestOf(event);
      if (r !== undefined) context.io.respond(r.requestId, RESPONSE_STATUS.unknownCommand);
    },
    refuseCommand: ({ context, event }) => {
      const r = requestOf(event);
      if (r !== undefined) context.io.respond(r.requestId, RESPONSE_STATUS.insufficientRole);
    },
    sendCloseRecord: ({ context }) => context.io.sendClose(),
    closeLinkOnClientClose: ({ context }) => context.io.closeLink('client closed the session'),
    closeLinkQuietly: ({ context }) => context.io.closeLink('device closed the session'),
    sendRekeyRequest: ({ context }) => context.io.sendRekeyRequest(),
    switchEpoch: ({ context, event }) => {
      if (is(event, 'record.received') && event.outcome.ok && event.outcome.message.kind === 'rekey-response') context.io.switchEpoch(event.outcome.message.nc);
    },
    releaseSession: ({ context }) => context.io.releaseSession(),

    auditSessionOpened: ({ context }) => context.io.audit(SESSION_AUDIT.sessionOpened, context.role!, Uint8Array.from([...(context.clientId ?? []), ROLE_CODES[context.role!]])),
    auditProofFailed: ({ context }) => context.io.audit(SESSION_AUDIT.proofFailed, undefined, Uint8Array.from(context.clientId ?? [])),
    auditLockedOut: ({ context, event }) =>
      context.io.audit(SESSION_AUDIT.lockedOut, undefined, Uint8Array.from(u32(is(event, 'session.hello') ? event.lockout.remainingS : 0))),
    auditTooManyDrops: ({ context }) => context.io.audit(SESSION_AUDIT.tooManyDrops, context.role ?? undefined, Uint8Array.of(context.drops)),
    auditIdleTimeout: ({ context }) => context.io.audit(SESSION_AUDIT.idleTimeout, context.role ?? undefined, new Uint8Array(0)),
    auditBreakGlassOpened: ({ context }) => context.io.audit(SESSION_AUDIT.breakGlassOpened, 'emergency', Uint8Array.from(u32(context.breakGlassIndex ?? 0))),
    auditBreakGlassRefused: ({ context, event }, params: { reason: BreakGlassRefusalReason }) => {
      const index = is(event, 'breakglass.hello') ? event.index : (context.breakGlassIndex ?? 0);
      context.io.audit(SESSION_AUDIT.breakGlassRefused, undefined, Uint8Array.from([BREAK_GLASS_REFUSAL[params.reason], ...u32(index)]));
    },
    auditBreakGlassEnded: ({ context }) => context.io.audit(SESSION_AUDIT.breakGlassEnded, 'emergency', Uint8Array.from(u32(context.breakGlassIndex ?? 0))),
    auditCommandRefused: ({ context, event }) => {
      const r = requestOf(event);
      if (r !== undefined) context.io.audit(SESSION_AUDIT.commandRefused, context.role ?? undefined, Uint8Array.from([...u16(r.command), ROLE_CODES[context.role ?? 'emergency']]));
    },
    auditEmergencyCommand: ({ context, event }) => {
      const r = requestOf(event);
      if (r !== undefined) context.io.audit(SESSION_AUDIT.emergencyCommand, 'emergency', Uint8Array.from(u16(r.command)));
    },
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => ({
    io: input.io,
    commands: input.commands,
    idleTimeoutS: input.idleTimeoutS ?? DEFAULT_IDLE_TIMEOUT_S,
    // §7: never more than 30 min, whatever the configuration asks.
    breakGlassMaxS: Math.min(input.breakGlassMaxS ?? BREAK_GLASS_MAX_SESSION_S, BREAK_GLASS_MAX_SESSION_S),
    mode: 'none',
    clientId: null,
    role: null,
    expectedPc: null,
    breakGlassIndex: null,
    drops: 0,
  }),
  initial: 'awaitingHello',
  on: {
    'link.closed': { target: '.closed' },
  },
  states: {
    /** Connected, no handshake yet. Nothing but a hello is acceptable (§5.4 0x01, 0x06). */
    awaitingHello: {
      after: { idleTimeout: { target: 'closed', actions: 'failIdleTimeout' } },
      on: {
        'session.hello': [
          { guard: 'isLockedOut', target: 'closed', actions: ['auditLockedOut', 'failLockedOut'] },
          { target: 'awaitingProof', actions: ['assignBondHandshake', 'sendChallenge'] },
        ],
        'breakglass.hello': [
          // §7: checked at the hello (index and not-after are public); break-glass ignores the lockout.
          {
            guard: not('isBreakGlassIndexFresh'),
            target: 'closed',
            actions: [{ type: 'auditBreakGlassRefused', params: { reason: 'indexUsed' } }, 'failBreakGlassRefused'],
          },
          {
            guard: not('isBreakGlassCodeCurrent'),
            target: 'closed',
            actions: [{ type: 'auditBreakGlassRefused', params: { reason: 'expired' } }, 'failBreakGlassRefused'],
          },
          { target: 'awaitingProof', actions: ['assignBreakGlassHandshake', 'sendChallenge'] },
        ],
        'session.proof': { target: 'closed', actions: 'failNoSession' },
        'record.received': { target: 'closed', actions: 'failNoSession' },
        'session.malformed': { target: 'closed', actions: 'failProtocolError' },
        'session.close': { target: 'closed', actions: 'closeLinkQuietly' },
      },
    },
    /** SESSION_CHALLENGE sent; waiting for SESSION_PROOF (§5.1 step 3). */
    awaitingProof: {
      after: { idleTimeout: { target: 'closed', actions: 'failIdleTimeout' } },
      on: {
        'session.proof': [
          {
            guard: and(['isBondHandshake', 'proofMatches']),
            target: 'established',
            actions: ['forgetExpectedProof', 'recordLockoutSuccess', 'startRecordLayer', 'sendAccept', 'auditSessionOpened'],
          },
          { guard: 'isBondHandshake', target: 'closed', actions: ['recordProofFailure', 'auditProofFailed', 'failProofFailed'] },
          // Break-glass: the index is persisted before anything is granted (§7).
          { guard: 'proofMatches', target: 'persistingIndex', actions: 'forgetExpectedProof' },
          {
            target: 'closed',
            actions: ['recordBreakGlassFailure', { type: 'auditBreakGlassRefused', params: { reason: 'proof' } }, 'failBreakGlassRefused'],
          },
        ],
        'session.hello': { target: 'closed', actions: 'failProtocolError' },
        'breakglass.hello': { target: 'closed', actions: 'failProtocolError' },
        'session.malformed': { target: 'closed', actions: 'failProtocolError' },
        'record.received': { target: 'closed', actions: 'failNoSession' },
        'session.close': { target: 'closed', actions: 'closeLinkQuietly' },
      },
    },
    /** Break-glass proof matched; the index goes to flash, and only then SESSION_ACCEPT (§7). */
    persistingIndex: {
      entry: 'persistBreakGlassIndex',
      on: {
        'breakglass.index.persisted': { target: 'established', actions: ['startRecordLayer', 'sendAccept', 'auditBreakGlassOpened'] },
        'breakglass.index.failed': {
          target: 'closed',
          actions: [{ type: 'auditBreakGlassRefused', params: { reason: 'store' } }, 'failBreakGlassRefused'],
        },
        'session.close': { target: 'closed', actions: 'closeLinkQuietly' },
      },
    },
    /** Records flow. Three regions: traffic (records, rekey), the idle timer, the break-glass cap. */
    established: {
      type: 'parallel',
      on: {
        'session.hello': { target: 'closed', actions: 'failProtocolError' },
        'breakglass.hello': { target: 'closed', actions: 'failProtocolError' },
        'session.proof': { target: 'closed', actions: 'failProtocolError' },
        'session.malformed': { target: 'closed', actions: 'failProtocolError' },
        'session.close': { target: 'closed', actions: 'sendCloseRecord' },
      },
      states: {
        traffic: {
          initial: 'open',
          on: {
            'record.received': [
              // §5.3: the third dropped record ends the session, with an alarm and an audit record.
              { guard: 'isDropLimitReached', target: '#session.closed', actions: ['countDrop', 'auditTooManyDrops', 'raiseSecurityAlarm', 'failTooManyDrops'] },
              { guard: 'isRecordDropped', actions: 'countDrop' },
              { guard: 'isClientClose', target: '#session.closed', actions: 'closeLinkOnClientClose' },
              { guard: 'isUnknownCommand', actions: ['respondUnknownCommand', 'noteActivity'] },
              { guard: and(['roleMeetsCommand', 'isEmergencySession']), actions: ['auditEmergencyCommand', 'runCommand', 'noteActivity'] },
              { guard: 'roleMeetsCommand', actions: ['runCommand', 'noteActivity'] },
              // Anything else is a request the role may not make: refused and audited (§6).
              { actions: ['auditCommandRefused', 'refuseCommand', 'noteActivity'] },
            ],
          },
          states: {
            open: {
              on: { 'rekey.due': 'rekeying' },
            },
            /** REKEY_REQUEST sent under the current epoch; other outgoing records wait for the switch (§5.3). */
            rekeying: {
              entry: 'sendRekeyRequest',
              on: {
                'record.received': { guard: 'isRekeyResponse', target: 'open', actions: ['switchEpoch', 'noteActivity'] },
              },
            },
          },
        },
        idleTimer: {
          initial: 'watching',
          states: {
            watching: {
              // §5.4: no valid record for idleTimeoutS ends the session.
              after: { idleTimeout: { target: '#session.closed', actions: ['auditIdleTimeout', 'failIdleTimeout'] } },
              on: { 'session.activity': { target: 'watching', reenter: true } },
            },
          },
        },
        lifetime: {
          initial: 'deciding',
          states: {
            deciding: {
              always: [{ guard: 'isEmergencySession', target: 'capped' }, { target: 'uncapped' }],
            },
            /** §7: an emergency session lasts at most 30 min. */
            capped: {
              after: { breakGlassMax: { target: '#session.closed', actions: ['auditBreakGlassEnded', 'sendCloseRecord'] } },
            },
            uncapped: {},
          },
        },
      },
    },
    closed: {
      type: 'final',
      entry: ['forgetExpectedProof', 'releaseSession'],
    },
  },
});

export type SessionMachine = typeof sessionMachine;
