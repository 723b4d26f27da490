// Model-based tests of the device pairing machine with xstate/graph (DESIGN §2): explicit events
// with payloads (guards read them), time-outs and crypto completions included, so every guarded
// path is reachable. On every path: a bond is stored only after a matching DHKey check and, for
// numeric comparison, the user's OK — and never while locked out; counted failures reach the
// lockout before PAIR_FAILED leaves.

import { describe, expect, it } from 'vitest';
import { createActor, getNextSnapshot, transition, type AnyStateNode, type SnapshotFrom, type StateValue } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { p256Keypair } from '../../src/crypto/index.ts';
import { pairingMachine, type PairingEvent } from '../../src/session/pairing.machine.ts';
import { PEER_CAUSED_REASONS, type PairRequest } from '../../src/session/wire-pairing.ts';

type Snap = SnapshotFrom<typeof pairingMachine>;

const VALID_PKA = p256Keypair(new Uint8Array(48).fill(1)).publicKey;
const OFF_CURVE = VALID_PKA.slice();
OFF_CURVE[63]! ^= 1;
const CLIENT_ID = new Uint8Array(16).fill(0xc1);
const CREDENTIAL = new Uint8Array(87).fill(0xcc);
const N16 = new Uint8Array(16).fill(0x42);

const request = (over: Partial<PairRequest>, facts: { locked?: boolean; bondRoom?: boolean; busy?: boolean } = {}): PairingEvent => ({
  type: 'pairing.request',
  request: { type: 'request', method: 1, role: 'patient', clientId: CLIENT_ID, pka: VALID_PKA, credential: new Uint8Array(0), ...over },
  lockout: { locked: facts.locked ?? false, remainingS: facts.locked ? 42 : 0 },
  bondRoom: facts.bondRoom ?? true,
  busy: facts.busy ?? false,
});

/** The requests that matter to the machine's first decisions. */
const REQUESTS: PairingEvent[] = [
  request({}),
  request({ method: 2 }),
  request({ role: 'clinician', credential: CREDENTIAL }),
  request({}, { locked: true }),
  request({ method: 2 }, { locked: true }),
  request({ role: 'clinician', credential: CREDENTIAL }, { locked: true }),
  request({ method: 9 }),
  request({ pka: OFF_CURVE }),
  request({ role: 'clinician' }),
  request({ credential: CREDENTIAL }),
  request({}, { bondRoom: false }),
  request({}, { busy: true }),
];

/** Every `after` of the machine, as the event the scheduler would raise (xstate.after.<delay>.<state id>). */
function timeoutEvents(node: AnyStateNode = pairingMachine.root): PairingEvent[] {
  const own = node.after.map((t) => ({ type: String(t.eventType) }) as unknown as PairingEvent);
  return [...own, ...Object.values(node.states).flatMap((child) => timeoutEvents(child))];
}

const TIMEOUTS = timeoutEvents();

/** The events offered in a state: fixed ones plus passkey rounds in and out of order for the current round. */
function eventsFor(s: Snap): PairingEvent[] {
  const r = s.context.round;
  return [
    ...REQUESTS,
    { type: 'key.ready' },
    { type: 'key.failed', code: 'crypto' },
    { type: 'key.failed', code: 'busy' },
    { type: 'crypto.done', op: 'credential', valid: true },
    { type: 'crypto.done', op: 'credential', valid: false },
    { type: 'crypto.done', op: 'dhkey', ok: true },
    { type: 'crypto.done', op: 'dhkey', ok: false },
    { type: 'crypto.done', op: 'commitment', matches: true },
    { type: 'crypto.done', op: 'commitment', matches: false },
    { type: 'crypto.done', op: 'check', matches: true },
    { type: 'crypto.done', op: 'check', matches: false },
    { type: 'crypto.failed' },
    { type: 'pairing.random', nonce: N16 },
    { type: 'pairing.check', ea: N16 },
    { type: 'passkey.commit', round: r, ca: N16 },
    { type: 'passkey.commit', round: r + 1, ca: N16 },
    { type: 'passkey.random', round: r, nonce: N16 },
    { type: 'passkey.random', round: r + 1, nonce: N16 },
    { type: 'bond.stored' },
    { type: 'bond.failed', code: 'full' },
    { type: 'bond.failed', code: 'flash' },
    { type: 'user.confirmed' },
    { type: 'user.rejected' },
    { type: 'pairing.failed', reason: 0x0c },
    { type: 'pairing.failed', reason: 0x80 },
    { type: 'pairing.malformed', detail: 'short' },
    { type: 'pairing.unexpected', messageType: 0x02 },
    { type: 'link.closed' },
    ...TIMEOUTS,
  ];
}

/** 'attempt.numericComparison.comparing.peer.verifyingCheck'-style names of a state value's leaves. */
function leaves(v: StateValue, prefix = ''): string[] {
  if (typeof v === 'string') return [prefix + v];
  return Object.entries(v).flatMap(([k, child]) => (child === undefined ? [prefix + k] : leaves(child as StateValue, `${prefix}${k}.`)));
}

const inState = (s: Snap, name: string): boolean => leaves(s.value).some((l) => l === name || l.startsWith(`${name}.`) || l.endsWith(`.${name}`) || l.includes(`.${name}.`));
const storing = (s: Snap): boolean => leaves(s.value).includes('attempt.storingBond');

const serializeState = (s: Snap): string => JSON.stringify({ v: s.value, c: s.context, st: s.status });

interface Verdict {
  readonly storedBonds: number;
  readonly violations: string[];
}

/** Walk one path's steps and check the invariants on the state changes it makes. */
function judge(steps: ReadonlyArray<{ event: PairingEvent; state: Snap }>, initial: Snap): Verdict {
  const violations: string[] = [];
  let storedBonds = 0;
  let lockedAtRequest = false;
  let method: string | undefined;
  let checkPassed = false;
  let userConfirmed = false;
  let prev = initial;
  for (const [i, { event, state }] of steps.entries()) {
    if (event.type === 'pairing.request') {
      lockedAtRequest = event.lockout.locked;
      method = event.request.method === 1 ? 'nc' : 'passkey';
      checkPassed = false;
      userConfirmed = false;
    }
    if (inState(prev, 'verifyingCheck') && event.type === 'crypto.done' && event.op === 'check' && event.matches && (inState(state, 'verified') || storing(state))) checkPassed = true;
    if (inState(prev, 'deciding') && event.type === 'user.confirmed') userConfirmed = true;
    if (storing(state) && !storing(prev)) {
      storedBonds++;
      if (lockedAtRequest) violations.push(`step ${i}: bond stored while locked out`);
      if (!checkPassed) violations.push(`step ${i}: bond stored without a matching DHKey check`);
      if (method === 'nc' && !userConfirmed) violations.push(`step ${i}: numeric-comparison bond stored without the user's OK`);
    }
    if (state.value === 'idle') {
      checkPassed = false;
      userConfirmed = false;
    }
    prev = state;
  }
  return { storedBonds, violations };
}

describe('the pairing machine, model-based (xstate/graph)', () => {
  const initial = createActor(pairingMachine).getSnapshot();
  const options = { events: eventsFor, serializeState };

  it('shortest paths reach every stable state of the machine', () => {
    const paths = getShortestPaths(pairingMachine, options);
    const reached = new Set(paths.flatMap((p) => leaves(p.state.value)));
    const expected = [
      'idle',
      'closed',
      'attempt.awaitingKey',
      'attempt.verifyingCredential',
      'attempt.computingDhKey',
      'attempt.numericComparison.awaitingRandom',
      'attempt.numericComparison.comparing.user.deciding',
      'attempt.numericComparison.comparing.user.confirmed',
      'attempt.numericComparison.comparing.peer.awaitingCheck',
      'attempt.numericComparison.comparing.peer.verifyingCheck',
      'attempt.numericComparison.comparing.peer.verified',
      'attempt.passkeyEntry.awaitingCommit',
      'attempt.passkeyEntry.awaitingRandom',
      'attempt.passkeyEntry.verifyingCommitment',
      'attempt.passkeyEntry.awaitingCheck',
      'attempt.passkeyEntry.verifyingCheck',
      'attempt.storingBond',
    ];
    expect([...reached].sort()).toEqual(expected.sort());
    // All 20 passkey rounds are walked.
    expect(new Set(paths.filter((p) => inState(p.state, 'passkeyEntry')).map((p) => p.state.context.round)).size).toBe(20);
    for (const p of paths) expect(judge(p.steps as never, initial).violations, p.steps.map((s) => s.event.type).join(' → ')).toEqual([]);
  });

  // Simple paths cannot come back to their start, so they start inside each accepted request's
  // attempt and stop where the attempt ends (idle or closed): every path is one whole attempt.
  const ACCEPTED = REQUESTS.filter((r) => getNextSnapshot(pairingMachine, initial, r).value !== 'idle');
  const simple = ACCEPTED.flatMap((r) => {
    const fromState = getNextSnapshot(pairingMachine, initial, r);
    const paths = getSimplePaths(pairingMachine, {
      ...options,
      fromState,
      events: (st: Snap) => eventsFor(st).filter((e) => e.type !== 'pairing.request' || e === REQUESTS[0]),
      stopWhen: (st: Snap) => st.value === 'idle' || st.status === 'done',
    });
    // Put the request back in front: [init, request, …].
    return paths.map((p) => ({ ...p, steps: [{ event: { type: 'xstate.init' } as unknown as PairingEvent, state: initial }, { event: r, state: fromState }, ...p.steps.slice(1)] }));
  });
  const ended = simple.filter((p) => p.state.value === 'idle' || p.state.status === 'done');

  it(`on every simple path (${simple.length}, ${ended.length} to the attempt's end), a bond is stored only after a matching DHKey check (and the user's OK for numeric comparison), never while locked`, () => {
    let withBond = 0;
    for (const p of simple) {
      const v = judge(p.steps as never, initial);
      if (v.violations.length > 0) throw new Error(`${v.violations.join('; ')}\n  path: ${p.steps.map((s) => s.event.type).join(' → ')}`);
      if (v.storedBonds > 0) withBond++;
    }
    expect(withBond).toBeGreaterThan(10);
    expect(ACCEPTED).toHaveLength(3);
    expect(ended.length).toBeGreaterThan(500);
  });

  it('a request while locked out (or busy, or refused for its contents) goes straight back to idle, with no attempt', () => {
    const refused = REQUESTS.filter((x) => !ACCEPTED.includes(x));
    expect(refused).toHaveLength(REQUESTS.length - 3);
    for (const r of REQUESTS.filter((x) => x.type === 'pairing.request' && x.lockout.locked)) {
      const [next, actions] = transition(pairingMachine, initial, r);
      expect(next.value).toBe('idle');
      // `assign`s are applied, not returned: the side effects, in order. No lockout record: 0x83 is not counted.
      expect(actions.map((a) => a.type)).toEqual(['auditFailure', 'sendPairFailed', 'endAttempt']);
      expect(next.context).toEqual(initial.context);
    }
    for (const r of refused) {
      const [next, actions] = transition(pairingMachine, initial, r);
      expect(next.value).toBe('idle');
      const names = actions.map((a) => a.type);
      expect(names).not.toContain('startAttempt');
      expect(names).not.toContain('takeEphemeralKey');
      expect(names.filter((n) => !['resetAttempt', 'noteFailure', 'noteLockedOut'].includes(n)).slice(-2)).toEqual(['sendPairFailed', 'endAttempt']);
    }
  });

  it('replayed step by step with transition(), every path runs its side effects in a safe order', () => {
    const pure = new Set(['resetAttempt', 'beginAttempt', 'noteFailure', 'noteLockedOut', 'notePeerFailure', 'nextRound']);
    for (const p of simple) {
      const log: Array<{ name: string; reason: number | undefined }> = [];
      let snap = initial;
      for (const step of p.steps.slice(1)) {
        const [next, actions] = transition(pairingMachine, snap, step.event);
        for (const a of actions) {
          if (pure.has(a.type) || a.type.startsWith('xstate.')) continue;
          const ctx = (a as unknown as { info?: { context?: Snap['context'] } }).info?.context;
          log.push({ name: a.type, reason: ctx?.failure?.reason });
        }
        snap = next;
      }
      expect(serializeState(snap)).toBe(serializeState(p.state));
      const seq = log.map((l) => l.name);
      // storeBond only after a verifyCheck; PAIR_CHECK_D only after the bond was stored and the success recorded.
      const store = seq.indexOf('storeBond');
      if (store >= 0) expect(seq.lastIndexOf('verifyCheck', store)).toBeGreaterThanOrEqual(0);
      const check = seq.indexOf('sendPairCheck');
      if (check >= 0) {
        expect(store).toBeGreaterThanOrEqual(0);
        expect(seq.lastIndexOf('recordLockoutSuccess', check)).toBeGreaterThan(store);
        expect(p.steps.some((st) => st.event.type === 'bond.stored')).toBe(true);
      }
      // Every PAIR_FAILED: a counted reason was recorded just before it (then audited); an uncounted one not at all.
      log.forEach((l, i) => {
        if (l.name !== 'sendPairFailed') return;
        const counted = PEER_CAUSED_REASONS.includes(l.reason!);
        expect(log[i - 2]?.name === 'recordLockoutFailure', `reason ${l.reason}`).toBe(counted);
        expect(log[i - 1]?.name).toBe('auditFailure');
      });
      // Every attempt that ended ran endAttempt last (budget closed, vault wiped, next key prepared).
      if (p.state.value === 'idle' || p.state.value === 'closed') expect(seq.at(-1)).toBe('endAttempt');
    }
  });
});
