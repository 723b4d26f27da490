// Model-based test of the session machine (docs/protocol.md §5, §6, §7) with xstate/graph: paths
// generated from the machine with explicit events (payloads, timeouts), each replayed on a real
// DeviceSession over the link with real crypto and a spy command table. Not the unit tests.
//
// On every path and every step: (1) the real device is in the state the model says; (2) a command
// handler runs only in an established session whose role meets the command, exactly when the
// model's step says it should; (3) no emergency-role path runs a command that increases delivery.

import { describe, expect, it } from 'vitest';
import { getAdjacencyMap, getShortestPaths, getSimplePaths } from 'xstate/graph';
import { getNextSnapshot, type SnapshotFrom } from 'xstate';
import { breakGlassCode } from '../../src/session/break-glass.ts';
import { authorize, CommandRegistry, genericCommands, type CommandHandler } from '../../src/session/commands.ts';
import { sessionStateName } from '../../src/session/device-session.ts';
import { clientProof, deriveRecordKeys, deriveSessionKeys, type SessionKeys } from '../../src/session/key-schedule.ts';
import { RecordLayer } from '../../src/session/record-layer.ts';
import type { Role } from '../../src/session/roles.ts';
import { sessionMachine, type SessionEvent, type SessionIo } from '../../src/session/session.machine.ts';
import {
  decodePlaintext,
  decodeSessionMessage,
  encodeBreakGlassHello,
  encodePlaintext,
  encodeSessionHello,
  encodeSessionProof,
  type RecordPlaintext,
} from '../../src/session/wire-session.ts';
import { CLINICIAN, KDEV, PATIENT, sessionFixture, STRANGER, type SessionFixture } from './session-fixture.ts';

type Snapshot = SnapshotFrom<typeof sessionMachine>;
/** Model events: the machine's own plus the delayed events the scheduler raises. */
type ModelEvent = SessionEvent | { type: `xstate.after.${string}` };

// ─── the model ─────────────────────────────────────────────────────────────────────────────

/** The model's proof values: the "right" Pc the hello events announce, and a wrong one. */
const MODEL_PC = new Uint8Array(16).fill(0xaa);
const WRONG_PC = new Uint8Array(16).fill(0xbb);
const NOW_S = 1_700_000_000;
const unlocked = { locked: false, remainingS: 0 };

const CMD = { deviceInfo: 0x0001, auditRead: 0x0002, bondsList: 0x0003, stop: 0x0010, resume: 0x0012, unknown: 0x7777 };
const request = (command: number): ModelEvent => ({
  type: 'record.received',
  outcome: { ok: true, message: { kind: 'request', requestId: 1, command, payload: new Uint8Array(0) } },
});
const record = (message: RecordPlaintext): ModelEvent => ({ type: 'record.received', outcome: { ok: true, message } });

const HELLOS: ModelEvent[] = [
  { type: 'session.hello', clientId: PATIENT.clientId, bondRole: 'patient', expectedPc: MODEL_PC, lockout: unlocked },
  { type: 'session.hello', clientId: CLINICIAN.clientId, bondRole: 'clinician', expectedPc: MODEL_PC, lockout: unlocked },
  { type: 'session.hello', clientId: STRANGER.clientId, bondRole: null, expectedPc: MODEL_PC, lockout: unlocked },
  { type: 'session.hello', clientId: PATIENT.clientId, bondRole: 'patient', expectedPc: MODEL_PC, lockout: { locked: true, remainingS: 60 } },
  { type: 'breakglass.hello', index: 1, notAfterS: NOW_S + 3600, nowS: NOW_S, lastUsedIndex: 0, expectedPc: MODEL_PC },
  { type: 'breakglass.hello', index: 0, notAfterS: NOW_S + 3600, nowS: NOW_S, lastUsedIndex: 0, expectedPc: MODEL_PC },
  { type: 'breakglass.hello', index: 1, notAfterS: NOW_S - 1, nowS: NOW_S, lastUsedIndex: 0, expectedPc: MODEL_PC },
];
const HANDSHAKE: ModelEvent[] = [
  { type: 'session.proof', pc: MODEL_PC },
  { type: 'session.proof', pc: WRONG_PC },
  { type: 'breakglass.index.persisted' },
  { type: 'breakglass.index.failed' },
  { type: 'session.malformed', detail: 'model' },
];
const COMMANDS: ModelEvent[] = [CMD.deviceInfo, CMD.auditRead, CMD.bondsList, CMD.stop, CMD.resume, CMD.unknown].map(request);
const RECORDS: ModelEvent[] = [
  { type: 'record.received', outcome: { ok: false, code: 'auth' } },
  record({ kind: 'rekey-response', nc: new Uint8Array(16).fill(0x11) }),
  record({ kind: 'close' }),
  { type: 'rekey.due' },
];
const TIMEOUTS: ModelEvent[] = [
  { type: 'xstate.after.idleTimeout.session.awaitingHello' },
  { type: 'xstate.after.idleTimeout.session.awaitingProof' },
  { type: 'xstate.after.idleTimeout.session.established.idleTimer.watching' },
  { type: 'xstate.after.breakGlassMax.session.established.lifetime.capped' },
];
const ENDS: ModelEvent[] = [{ type: 'session.close' }, { type: 'link.closed' }];
const ALL_EVENTS = [...HELLOS, ...HANDSHAKE, ...COMMANDS, ...RECORDS, ...TIMEOUTS, ...ENDS];
const PERSIST_ANSWERS: ModelEvent[] = [{ type: 'breakglass.index.persisted' }, { type: 'breakglass.index.failed' }];
/**
 * The environment: in `persistingIndex` the shell's answer to the index write is the only
 * event that can come (it is queued during the proof, before any peer message is handled).
 */
const eventsIn = (all: readonly ModelEvent[]) => (s: Snapshot): ModelEvent[] => (s.matches('persistingIndex') ? PERSIST_ANSWERS : [...all]);

/** The machine's guards look commands up here; the model never runs handlers (actions are not executed by the graph). */
const none: CommandHandler = () => ({ status: 0 });
const MODEL_COMMANDS = new CommandRegistry(
  genericCommands({ deviceInfo: none, auditRead: none, bondsList: none, unpair: none, therapyStop: none, therapySuspend: none, therapyResume: none }),
);
const noIo = new Proxy({} as SessionIo, { get: () => () => undefined });

const serializeState = (s: Snapshot): string =>
  JSON.stringify({ v: sessionStateName(s), m: s.context.mode, r: s.context.role, d: s.context.drops, pc: s.context.expectedPc !== null, st: s.status });
const serializeEvent = (e: ModelEvent): string =>
  JSON.stringify(e, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));

const traversal = (events: readonly ModelEvent[]) => ({
  input: { io: noIo, commands: MODEL_COMMANDS },
  events: eventsIn(events) as unknown as (s: Snapshot) => SessionEvent[],
  serializeState,
  serializeEvent: serializeEvent as (e: SessionEvent) => string,
});

// ─── the replay on a real device ───────────────────────────────────────────────────────────

interface Call {
  readonly command: number;
  readonly role: Role;
  readonly state: string;
  readonly sessionRole: Role | null;
  /** What the phone knows, independently of the device: the role it really proved, if any. */
  readonly provenRole: Role | null;
}

/** The phone side of a replay: real messages for model events, computed from what the device sent. */
class Driver {
  readonly fx: SessionFixture;
  readonly calls: Call[] = [];
  private ltk: Uint8Array | undefined;
  private nc: Uint8Array | undefined;
  private keys: SessionKeys | undefined;
  private nd: Uint8Array | undefined;
  private records: RecordLayer | undefined;
  private ndPrime: Uint8Array | undefined;
  private requestId = 1;
  /** Set at hello: the role a correct proof would earn (null: unknown bond, refused code). */
  private earnableRole: Role | null = null;
  /** Set at proof: the role the phone really proved with the right Pc; null otherwise. */
  provenRole: Role | null = null;

  constructor() {
    const calls = this.calls;
    let fx!: SessionFixture;
    const spy: CommandHandler = (r) => {
      const snap = fx.device.snapshot;
      calls.push({ command: r.command.id, role: r.role, state: sessionStateName(snap), sessionRole: snap.context.role, provenRole: this.provenRole });
      return { status: 0 };
    };
    const commands = new CommandRegistry(
      genericCommands({ deviceInfo: spy, auditRead: spy, bondsList: spy, unpair: spy, therapyStop: spy, therapySuspend: spy, therapyResume: spy }),
    );
    fx = sessionFixture({ seed: 'model', deps: { commands } });
    this.fx = fx;
    fx.phoneLink.setReceiver((m) => this.onDevice(m));
  }

  private onDevice(m: Uint8Array): void {
    const d = decodeSessionMessage(m);
    if (!d.ok) return;
    if (d.value.type === 'challenge' && this.ltk && this.nc) {
      this.nd = d.value.nd;
      this.keys = deriveSessionKeys(this.ltk, this.nc, this.nd);
    } else if (d.value.type === 'accept' && this.keys) {
      this.records = new RecordLayer('client', this.keys);
    } else if (d.value.type === 'record' && this.records) {
      const o = this.records.open(d.value.record);
      if (!o.ok) return;
      const p = decodePlaintext(o.plaintext);
      if (p.ok && p.value.kind === 'rekey-request') this.ndPrime = p.value.nd;
    }
  }

  private run(us = 40_000): void {
    this.fx.world.runFor(us);
  }

  /** A RECORD that is no session's (before the handshake, or to be dropped). */
  private junkRecord(): Uint8Array {
    return Uint8Array.from([0x30, 0, 0, 0, 0, 0, 1, ...this.fx.phoneRng.bytes(20)]);
  }

  private sealed(p: RecordPlaintext): Uint8Array {
    if (!this.records) return this.junkRecord();
    const r = this.records.seal(encodePlaintext(p));
    if (!r.ok) throw new Error(`driver seal: ${r.code}`);
    return r.record;
  }

  /** Perform one model event on the real system; `next` is the following model event (for persist failures). */
  step(e: ModelEvent, next: ModelEvent | undefined, modelBefore: Snapshot | undefined): void {
    const fx = this.fx;
    switch (e.type) {
      case 'session.hello': {
        if (e.lockout.locked) fx.lockout.lockFor(e.lockout.remainingS);
        else fx.lockout.lockedUntilUs = 0;
        const bond = e.bondRole === 'patient' ? PATIENT : e.bondRole === 'clinician' ? CLINICIAN : STRANGER;
        this.ltk = bond.ltk;
        this.earnableRole = e.lockout.locked ? null : e.bondRole;
        this.provenRole = null;
        this.nc = fx.phoneRng.bytes(16);
        fx.sendRaw(encodeSessionHello({ clientId: bond.clientId, nc: this.nc }));
        break;
      }
      case 'breakglass.hello': {
        const fresh = e.index > e.lastUsedIndex;
        const index = fresh ? 1 : 0;
        const notAfterS = e.notAfterS >= e.nowS ? fx.nowS() + 3600 : fx.nowS() - 1;
        this.ltk = breakGlassCode(KDEV, index, notAfterS);
        this.earnableRole = fresh && e.notAfterS >= e.nowS ? 'emergency' : null;
        this.provenRole = null;
        this.nc = fx.phoneRng.bytes(16);
        fx.sendRaw(encodeBreakGlassHello({ index, notAfterS, nc: this.nc }));
        break;
      }
      case 'session.proof': {
        const right = e.pc[0] === MODEL_PC[0] && this.keys && this.nc && this.nd;
        if (next?.type === 'breakglass.index.failed') fx.failStorePuts(true);
        this.provenRole = right && next?.type !== 'breakglass.index.failed' ? this.earnableRole : null;
        fx.sendRaw(encodeSessionProof(right ? clientProof(this.keys!.authKey, this.nc!, this.nd!) : new Uint8Array(16)));
        break;
      }
      case 'breakglass.index.persisted':
      case 'breakglass.index.failed':
        // The device does this itself right after the proof; nothing to send.
        return;
      case 'session.malformed':
        fx.sendRaw(Uint8Array.of(0x20, 0x00));
        break;
      case 'record.received': {
        const o = e.outcome;
        if (!o.ok) {
          const good = this.sealed({ kind: 'request', requestId: this.requestId++, command: CMD.deviceInfo, payload: new Uint8Array(0) });
          good[good.length - 1] = good[good.length - 1]! ^ 0x01;
          fx.sendRaw(good);
        } else if (o.message.kind === 'request') {
          fx.sendRaw(this.sealed({ ...o.message, requestId: this.requestId++ }));
        } else if (o.message.kind === 'rekey-response') {
          const ncPrime = fx.phoneRng.bytes(16);
          fx.sendRaw(this.sealed({ kind: 'rekey-response', nc: ncPrime }));
          if (this.ndPrime && this.records && this.ltk) {
            this.records.rekey(deriveRecordKeys(this.ltk, ncPrime, this.ndPrime));
            this.ndPrime = undefined;
          }
        } else {
          fx.sendRaw(this.sealed(o.message));
        }
        break;
      }
      case 'rekey.due':
        fx.device.requestRekey();
        break;
      case 'session.close':
        fx.device.close();
        break;
      case 'link.closed':
        fx.phoneLink.close('model');
        break;
      case 'session.activity':
        return;
      default: {
        // A delayed event of a state the model is not in is ignored by the model; no timer is due either.
        const node = e.type.replace(/^xstate\.after\.[A-Za-z]+\.session\./, '');
        const leaves = modelBefore ? sessionStateName(modelBefore).split(',') : ['awaitingHello'];
        if (!leaves.includes(node)) return;
        if (e.type.startsWith('xstate.after.breakGlassMax')) {
          // Keep the idle timer quiet with commands nobody handles until the 30 min cap ends it.
          for (let i = 0; i < 12 && !fx.device.ended; i++) {
            fx.sendRaw(this.sealed({ kind: 'request', requestId: this.requestId++, command: CMD.unknown, payload: new Uint8Array(0) }));
            this.run(200_000_000);
          }
        } else {
          this.run(301_000_000);
        }
      }
    }
    this.run();
  }
}

/** Replay one path; returns the number of handler calls, asserting the invariants on the way. */
function replay(path: { steps: Array<{ event: SessionEvent | { type: 'xstate.init' }; state: Snapshot }> }, name: string): number {
  const driver = new Driver();
  const { fx, calls } = driver;
  let prev: Snapshot | undefined;
  for (let i = 0; i < path.steps.length; i++) {
    const { event, state } = path.steps[i]!;
    // Step 0 is the initial state (alterPath's 'xstate.init'): nothing to do but check it.
    if (event.type !== 'xstate.init') {
      const before = calls.length;
      driver.step(event as ModelEvent, path.steps[i + 1]?.event as ModelEvent | undefined, prev);
      // (2) exactly the handler calls the model's step implies.
      const r = event.type === 'record.received' && event.outcome.ok && event.outcome.message.kind === 'request' ? event.outcome.message : undefined;
      const command = r ? MODEL_COMMANDS.get(r.command) : undefined;
      const shouldRun = prev !== undefined && prev.matches('established') && command !== undefined && prev.context.role !== null && authorize(prev.context.role, command).ok;
      expect(calls.length - before, `${name} step ${i}: handler calls`).toBe(shouldRun ? 1 : 0);
    }
    // (1) conformance; persistingIndex is over before a replay step returns.
    if (!state.matches('persistingIndex')) {
      const where = `${name} step ${i} (${event.type})`;
      expect(fx.device.state, where).toBe(sessionStateName(state));
      expect(fx.device.snapshot.context.drops, where).toBe(state.context.drops);
      expect(fx.device.snapshot.context.role, where).toBe(state.context.role);
    }
    prev = state;
  }
  // The shell re-checks authorization; a disagreement would mean the machine's guard let it through.
  expect(fx.world.trace.filter({ kind: 'command.mismatch' }), name).toEqual([]);
  for (const c of calls) {
    expect(c.state.startsWith('established'), `${name}: handler outside a session`).toBe(true);
    expect(c.sessionRole, name).toBe(c.role);
    // Independent of the machine: the phone really proved a bond (or a valid code) with this role.
    expect(c.provenRole, `${name}: handler without a real proof`).toBe(c.role);
    const command = MODEL_COMMANDS.get(c.command)!;
    expect(authorize(c.role, command).ok, `${name}: ${command.name} for ${c.role}`).toBe(true);
    // (3) never delivery up under break-glass.
    if (c.role === 'emergency') expect(command.increasesDelivery, name).toBe(false);
  }
  return calls.length;
}

type ModelPath = { steps: Array<{ event: SessionEvent; state: Snapshot }>; state: Snapshot };

const describePath = (p: ModelPath): string =>
  p.steps.map((s) => (s.event.type === 'record.received' && s.event.outcome.ok && s.event.outcome.message.kind === 'request' ? `request(0x${s.event.outcome.message.command.toString(16)})` : s.event.type)).join(' → ');

describe('session machine, model-based (xstate/graph)', () => {
  const shortest = getShortestPaths(sessionMachine, traversal(ALL_EVENTS));

  it('reaches every state of the machine, including the guarded ones', () => {
    const reached = new Set(shortest.map((p) => sessionStateName(p.state)));
    expect([...reached].sort()).toEqual(
      [
        'awaitingHello',
        'awaitingProof',
        'persistingIndex',
        'closed',
        'established.traffic.open,established.idleTimer.watching,established.lifetime.uncapped',
        'established.traffic.rekeying,established.idleTimer.watching,established.lifetime.uncapped',
        'established.traffic.open,established.idleTimer.watching,established.lifetime.capped',
        'established.traffic.rekeying,established.idleTimer.watching,established.lifetime.capped',
      ].sort(),
    );
    const roles = new Set(shortest.filter((p) => p.state.matches('established')).map((p) => p.state.context.role));
    expect([...roles].sort()).toEqual(['clinician', 'emergency', 'patient']);
  });

  it('replays every transition of the model (shortest path to each state, then each event) on a real device', () => {
    // Transition coverage: every (state, event) pair, including the self-loops a command is.
    const adjacency = getAdjacencyMap(sessionMachine, traversal(ALL_EVENTS)) as unknown as Record<string, { state: Snapshot; transitions: Record<string, { event: SessionEvent; state: Snapshot }> }>;
    const pathTo = new Map(shortest.map((p) => [serializeState(p.state as Snapshot), p as unknown as ModelPath]));
    let replays = 0;
    let runs = 0;
    for (const [serial, { state, transitions }] of Object.entries(adjacency)) {
      if (state.status !== 'active') continue;
      const base = pathTo.get(serial)!;
      for (const { event, state: next } of Object.values(transitions)) {
        const p: ModelPath = { steps: [...base.steps, { event, state: next }], state: next };
        runs += replay(p, describePath(p));
        replays++;
      }
    }
    const active = Object.values(adjacency).filter((a) => a.state.status === 'active');
    expect(replays).toBe(active.reduce((n, a) => n + eventsIn(ALL_EVENTS)(a.state).length, 0));
    expect(runs).toBeGreaterThan(20);
  });

  it('replays every simple path for each hello and proof, through the session, then every command', () => {
    // Commands do not change the state, so simple paths never contain one: each path is followed
    // by all of them. Wrong proofs, unknown bonds and refused codes are here too: if the machine
    // ever let one of them into a session, the commands would run without a real proof.
    const inside = [RECORDS[0]!, RECORDS[1]!, RECORDS[3]!, ENDS[0]!, TIMEOUTS[2]!, TIMEOUTS[3]!];
    const runsByRole: Partial<Record<string, number>> = {};
    let paths = 0;
    for (const hello of HELLOS) {
      for (const proof of [HANDSHAKE[0]!, HANDSHAKE[1]!]) {
        const simple = getSimplePaths(sessionMachine, {
          ...traversal([]),
          events: ((s: Snapshot) =>
            s.matches('established') ? inside : s.matches('persistingIndex') ? PERSIST_ANSWERS : s.matches('awaitingProof') ? [proof] : [hello]) as never,
        }) as unknown as ModelPath[];
        // A path cannot stop in persistingIndex: the store's answer always comes next (see eventsIn).
        for (const p of simple.filter((q) => !q.state.matches('persistingIndex'))) {
          const tail = COMMANDS.map((event) => ({ event: event as SessionEvent, state: getNextSnapshot(sessionMachine, p.state, event as SessionEvent) }));
          const full: ModelPath = { steps: [...p.steps, ...tail], state: p.state };
          paths++;
          const role = p.steps.find((st) => st.state.matches('established'))?.state.context.role ?? 'none';
          runsByRole[role] = (runsByRole[role] ?? 0) + replay(full, describePath(full));
        }
      }
    }
    expect(paths).toBeGreaterThan(100);
    // Commands ran for each role that can get a session, and never without one.
    expect(Object.keys(runsByRole).sort()).toEqual(['clinician', 'emergency', 'none', 'patient']);
    expect(runsByRole.none).toBe(0);
    expect([runsByRole.patient, runsByRole.clinician, runsByRole.emergency].every((n) => n! > 0)).toBe(true);
});
});
