// One connection's session on the device: decodes messages 0x20–0x30, draws nonces, derives keys,
// opens and seals records, and runs the session machine on the device's clock (docs/protocol.md §5,
// §7). Not the policy (session.machine.ts decides) and not the routing of other message types.
//
// The composition feeds it the Channel's whole messages whose type is a session type and calls
// linkClosed() when the connection ends. Keys live here, never in the machine's snapshot or in a
// trace; they are wiped when the machine reaches `closed`.

import { createActor, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import type { Alarm } from '../../hal/alarm.ts';
import type { Entropy } from '../../hal/entropy.ts';
import { budget, type CostContext } from '../crypto/index.ts';
import type { Trace, TraceFields } from '../sim/trace.ts';
import { xstateClock } from '../sim/xstate-clock.ts';
import { breakGlassCode, lastUsedBreakGlassIndex, persistBreakGlassIndex, type BreakGlassStore } from './break-glass.ts';
import { authorize, type Command, type CommandResult, type CommandTable } from './commands.ts';
import { clientProof, deriveRecordKeys, deriveSessionKeys, deviceProof, wipeKeys, type SessionKeys } from './key-schedule.ts';
import type { MessageLink } from './link.ts';
import type { AuditSink, AuthFailureKind, BondLookup, LockoutPort } from './ports.ts';
import { MAX_EPOCH, RecordLayer, type RecordDropCode } from './record-layer.ts';
import type { Role } from './roles.ts';
import {
  sessionMachine,
  type RecordOutcome,
  type RequestPlaintext,
  type SecurityAlarmReason,
  type SessionEvent,
  type SessionIo,
} from './session.machine.ts';
import {
  RESPONSE_STATUS,
  SESSION_MSG,
  SESSION_NONCE_BYTES,
  decodePlaintext,
  decodeSessionMessage,
  encodePlaintext,
  encodeSessionAccept,
  encodeSessionChallenge,
  encodeSessionFailed,
  isSessionMessageType,
  type BreakGlassHello,
  type SessionFailedReason,
  type SessionHello,
} from './wire-session.ts';

/**
 * The device's CPU for one session establishment (docs/protocol.md §10.2): Nd from the TRNG,
 * the key schedule, both proofs, the lockout update; at most 5 ms on the chip.
 */
export const ESTABLISHMENT_BUDGET = budget('session establishment (device)', { cpuMs: 5 });

/** Time between SESSION_FAILED (or a close record) and terminating the link, so the message gets out first. */
export const DEFAULT_CLOSE_GRACE_US = 100_000;
/** Outgoing records held while a rekey is pending; a client that lets more pile up is broken (§5.3). */
export const MAX_HELD_RECORDS = 32;

export interface DeviceSessionDeps {
  readonly alarm: Alarm;
  /** The chip's TRNG: Nd, Nd', the stand-in LTK for unknown client ids. */
  readonly entropy: Entropy;
  /** Charges CMACs and CCM to the device's ledger. */
  readonly cost?: CostContext;
  readonly bonds: BondLookup;
  readonly lockout: LockoutPort;
  readonly audit: AuditSink;
  readonly commands: CommandTable;
  /** Where the last break-glass index is kept (STORE_KEYS.breakGlassIndex). */
  readonly store: BreakGlassStore;
  /** Kdev from the write-once area (§7). */
  readonly breakGlassKey: Uint8Array;
  /** The device clock in whole seconds (break-glass not-after, §7). */
  readonly clockS: () => number;
  /** The security annunciation (display, buzzer): called once when a session ends for dropped records. */
  readonly onSecurityAlarm: (reason: SecurityAlarmReason) => void;
  readonly trace?: Trace;
  /** Trace device name; default the cost ledger's device, else 'device'. */
  readonly device?: string;
  readonly idleTimeoutS?: number;
  readonly breakGlassMaxS?: number;
  readonly rekeyThreshold?: number;
  readonly closeGraceUs?: number;
}

export interface DeviceSessionCounters {
  /** Session messages handled (types 0x20–0x30). */
  messages: number;
  /** Messages of other types, left to the composition. */
  notSession: number;
  recordsAccepted: number;
  /** Records dropped by the record layer, by code, plus 'unexpected' plaintext kinds. */
  recordsDropped: Record<RecordDropCode, number> & { unexpected: number };
  commandsRun: number;
  commandsRefused: number;
  rekeys: number;
}

export type DeviceSessionSnapshot = SnapshotFrom<typeof sessionMachine>;

/** Held between hello and accept, and for the rekeys of an open session. Never traced. */
interface HandshakeSecrets {
  /** The bond's LTK, or the break-glass code, or a random stand-in for an unknown client. */
  readonly ltk: Uint8Array;
  readonly nd: Uint8Array;
  readonly keys: SessionKeys;
  readonly pd: Uint8Array;
  readonly clientId: Uint8Array | undefined;
}

const EMPTY = new Uint8Array(0);

/** A dotted state name: `established.traffic.open,established.idleTimer.watching,…` → joined leaves. */
export function sessionStateName(snapshot: DeviceSessionSnapshot): string {
  const leaves: string[] = [];
  const walk = (prefix: string, v: unknown): void => {
    if (typeof v === 'string') leaves.push(prefix ? `${prefix}.${v}` : v);
    else if (v && typeof v === 'object') for (const [k, child] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, child);
  };
  walk('', snapshot.value);
  return leaves.join(',');
}

export class DeviceSession {
  private readonly deps: DeviceSessionDeps;
  private readonly link: MessageLink;
  private readonly actor: ActorRefFrom<typeof sessionMachine>;
  private readonly device: string;
  private readonly closeGraceUs: number;
  private secrets: HandshakeSecrets | undefined;
  private records: RecordLayer | undefined;
  /** Nd' of a rekey under way; outgoing records wait in `held` until the switch. */
  private rekeyNd: Uint8Array | undefined;
  private held: Uint8Array[] = [];
  private linkCloseArmed = false;
  /** How deep we are inside actor.send (rekey checks run only at depth 0). */
  private depth = 0;
  private lastState = '';
  readonly counters: DeviceSessionCounters = {
    messages: 0,
    notSession: 0,
    recordsAccepted: 0,
    recordsDropped: { replay: 0, epoch: 0, direction: 0, auth: 0, malformed: 0, unexpected: 0 },
    commandsRun: 0,
    commandsRefused: 0,
    rekeys: 0,
  };

  /** Throws RangeError for a configuration the protocol cannot carry (a composition bug, not peer input). */
  constructor(deps: DeviceSessionDeps, link: MessageLink) {
    const idle = deps.idleTimeoutS;
    if (idle !== undefined && (!Number.isInteger(idle) || idle < 1 || idle > 0xffff)) {
      throw new RangeError(`idle timeout must be 1..65535 s (SESSION_ACCEPT carries 2 bytes), got ${idle}`);
    }
    if (!(deps.breakGlassKey instanceof Uint8Array) || deps.breakGlassKey.length !== 16) throw new RangeError('Kdev must be 16 bytes');
    this.deps = deps;
    this.link = link;
    this.device = deps.device ?? deps.cost?.ledger.device ?? 'device';
    this.closeGraceUs = deps.closeGraceUs ?? DEFAULT_CLOSE_GRACE_US;
    const input = {
      io: this.io(),
      commands: deps.commands,
      ...(deps.idleTimeoutS !== undefined ? { idleTimeoutS: deps.idleTimeoutS } : {}),
      ...(deps.breakGlassMaxS !== undefined ? { breakGlassMaxS: deps.breakGlassMaxS } : {}),
    };
    this.actor = createActor(sessionMachine, { input, clock: xstateClock(deps.alarm) });
    this.actor.subscribe({
      next: (s) => {
        const name = sessionStateName(s);
        if (name !== this.lastState) {
          this.lastState = name;
          this.trace('session.state', { state: name });
        }
      },
      // An action threw: a firmware bug. End the connection rather than run on in an unknown state.
      error: (e) => {
        this.trace('session.error', { message: e instanceof Error ? e.message : String(e) });
        this.releaseSecrets();
        this.link.close('session error');
      },
    });
    this.actor.start();
  }

  // ─── what the composition calls ──────────────────────────────────────────────────────────

  /**
   * One whole Channel message. Returns 'not-session' (and does nothing) for types outside the
   * session's; never throws on peer input.
   */
  handle(message: Uint8Array): 'session' | 'not-session' {
    if (!(message instanceof Uint8Array) || !isSessionMessageType(message[0])) {
      this.counters.notSession++;
      return 'not-session';
    }
    this.counters.messages++;
    if (!this.active) return 'session';
    const decoded = decodeSessionMessage(message);
    if (!decoded.ok) {
      if (message[0] === SESSION_MSG.record) this.onRecord(message);
      else this.dispatch({ type: 'session.malformed', detail: decoded.detail });
      return 'session';
    }
    const m = decoded.value;
    switch (m.type) {
      case 'hello':
        this.onHello(m.hello);
        break;
      case 'break-glass-hello':
        this.onBreakGlassHello(m.hello);
        break;
      case 'proof':
        this.dispatch({ type: 'session.proof', pc: m.pc });
        break;
      case 'record':
        this.onRecord(m.record);
        break;
      default:
        // SESSION_CHALLENGE, SESSION_ACCEPT, SESSION_FAILED: only the device sends these.
        this.dispatch({ type: 'session.malformed', detail: `${m.type} is sent by the device only` });
    }
    return 'session';
  }

  /** The connection ended (from either side). */
  linkClosed(): void {
    if (this.active) this.dispatch({ type: 'link.closed' });
    this.releaseSecrets();
  }

  /** Start a rekey now (the record layer also asks for one at its threshold). */
  requestRekey(): void {
    if (this.active) this.dispatch({ type: 'rekey.due' });
  }

  /** End the session from the device's side: a close record, then the link is terminated. */
  close(): void {
    if (this.active) this.dispatch({ type: 'session.close' });
  }

  /** Send an event plaintext (§5.4 0x03: annunciations, status) if a session is open. */
  sendEvent(event: number, payload: Uint8Array = EMPTY): boolean {
    if (!this.records || !this.isEstablished()) return false;
    const ok = this.sendRecord(encodePlaintext({ kind: 'event', event, payload }));
    this.afterOutside();
    return ok;
  }

  get snapshot(): DeviceSessionSnapshot {
    return this.actor.getSnapshot();
  }

  /** The state as dotted leaves, e.g. `awaitingProof` or `established.traffic.open,…`. */
  get state(): string {
    return sessionStateName(this.actor.getSnapshot());
  }

  /** The role of an established session, else undefined. */
  get role(): Role | undefined {
    return this.isEstablished() ? (this.actor.getSnapshot().context.role ?? undefined) : undefined;
  }

  get epoch(): number | undefined {
    return this.records?.epoch;
  }

  get ended(): boolean {
    return !this.active;
  }

  // ─── incoming messages → machine events ──────────────────────────────────────────────────

  private get active(): boolean {
    return this.actor.getSnapshot().status === 'active';
  }

  private isEstablished(): boolean {
    return this.actor.getSnapshot().matches('established');
  }

  private dispatch(event: SessionEvent): void {
    this.depth++;
    try {
      this.actor.send(event);
    } finally {
      this.depth--;
    }
    this.afterOutside();
  }

  /** After any entry point: start a rekey the record layer asks for (§5.3). */
  private afterOutside(): void {
    if (this.depth > 0 || !this.records || !this.active) return;
    if (!this.records.rekeyDue || !this.actor.getSnapshot().matches({ established: { traffic: 'open' } })) return;
    // The epoch is one byte: after 255 rekeys the session ends instead (the client opens a new one).
    if (this.records.epoch >= MAX_EPOCH) this.dispatch({ type: 'session.close' });
    else this.dispatch({ type: 'rekey.due' });
  }

  private draw(length: number): Uint8Array | undefined {
    const r = this.deps.entropy.getBytes(length);
    if (r.ok) return r.value;
    this.trace('session.entropy', { code: r.code });
    return undefined;
  }

  /**
   * §5.1, §5.2: Nd, the bond (or a random stand-in LTK, so an unknown id costs the same and
   * gets a challenge all the same), the keys and both proofs. The machine decides what to do.
   */
  private onHello(hello: SessionHello): void {
    const lockout = this.deps.lockout.status();
    const found = this.deps.bonds.find(hello.clientId);
    // A clinician or service bond lives only as long as its role credential (§3.2, §5.1): once
    // the credential has expired the bond proves nothing, exactly like an unknown client id.
    const expired = found !== undefined && found.credentialNotAfterS > 0 && this.deps.clockS() > found.credentialNotAfterS;
    const bond = expired ? undefined : found;
    if (expired) this.trace('session.credential-expired', { notAfterS: found.credentialNotAfterS });
    const standIn = bond === undefined ? this.draw(16) : undefined;
    const ltk = bond?.ltk ?? standIn;
    const pc = ltk === undefined ? undefined : this.prepareHandshake(ltk, hello.nc, hello.clientId);
    standIn?.fill(0);
    if (pc === undefined) {
      this.dispatch({ type: 'session.close' });
      return;
    }
    this.dispatch({
      type: 'session.hello',
      clientId: hello.clientId,
      bondRole: bond?.role ?? null,
      expectedPc: pc,
      lockout: { locked: lockout.locked, remainingS: lockout.remainingS },
    });
  }

  /** §7: LTK := code = CMAC(Kdev, "mtBG" ‖ index ‖ notAfterS); the rest as §5.1. */
  private onBreakGlassHello(hello: BreakGlassHello): void {
    const code = breakGlassCode(this.deps.breakGlassKey, hello.index, hello.notAfterS, this.costOpts());
    const pc = this.prepareHandshake(code, hello.nc, undefined);
    code.fill(0);
    if (pc === undefined) {
      this.dispatch({ type: 'session.close' });
      return;
    }
    this.dispatch({
      type: 'breakglass.hello',
      index: hello.index,
      notAfterS: hello.notAfterS,
      nowS: this.deps.clockS(),
      lastUsedIndex: lastUsedBreakGlassIndex(this.deps.store),
      expectedPc: pc,
    });
  }

  /** Draw Nd, derive keys and proofs; keep them (not the machine); return the expected Pc. */
  private prepareHandshake(ltk: Uint8Array, nc: Uint8Array, clientId: Uint8Array | undefined): Uint8Array | undefined {
    // A hello while a session is open is a protocol error (the machine says so): keep the live keys.
    if (this.records) return EMPTY;
    const nd = this.draw(SESSION_NONCE_BYTES);
    if (nd === undefined) return undefined;
    const opts = this.costOpts();
    const keys = deriveSessionKeys(ltk, nc, nd, opts);
    const pc = clientProof(keys.authKey, nc, nd, opts);
    const pd = deviceProof(keys.authKey, nc, nd, opts);
    this.releaseSecrets();
    this.secrets = { ltk: ltk.slice(), nd, keys, pd, clientId };
    return pc;
  }

  private onRecord(record: Uint8Array): void {
    let outcome: RecordOutcome;
    if (!this.records) {
      outcome = { ok: false, code: 'no-session' };
    } else {
      const opened = this.records.open(record);
      if (!opened.ok) {
        this.counters.recordsDropped[opened.code]++;
        this.trace('record.dropped', { code: opened.code });
        outcome = { ok: false, code: opened.code };
      } else {
        const p = decodePlaintext(opened.plaintext);
        opened.plaintext.fill(0);
        if (p.ok) {
          outcome = { ok: true, message: p.value };
          if (p.value.kind !== 'request' && p.value.kind !== 'close' && !(p.value.kind === 'rekey-response' && this.rekeyNd)) {
            this.counters.recordsDropped.unexpected++;
            this.trace('record.dropped', { code: 'unexpected', kind: p.value.kind });
          } else {
            this.counters.recordsAccepted++;
          }
        } else {
          this.counters.recordsDropped.malformed++;
          this.trace('record.dropped', { code: 'malformed' });
          outcome = { ok: false, code: 'malformed' };
        }
      }
    }
    this.dispatch({ type: 'record.received', outcome });
  }

  // ─── the machine's side effects ──────────────────────────────────────────────────────────

  private io(): SessionIo {
    return {
      sendChallenge: () => {
        if (this.secrets) this.link.send(encodeSessionChallenge(this.secrets.nd));
      },
      startRecordLayer: () => {
        const s = this.secrets;
        if (!s) return;
        this.records = new RecordLayer('device', s.keys, {
          ...(this.deps.cost ? { cost: this.deps.cost } : {}),
          ...(this.deps.rekeyThreshold !== undefined ? { rekeyThreshold: this.deps.rekeyThreshold } : {}),
        });
      },
      sendAccept: (role, idleTimeoutS) => {
        const s = this.secrets;
        if (!s) return;
        this.link.send(encodeSessionAccept({ pd: s.pd, role, idleTimeoutS }));
        // Kauth and the epoch-0 keys are now in the record layer or no longer needed; the LTK stays for rekeys.
        wipeKeys(s.keys);
        s.pd.fill(0);
        this.trace('session.accepted', { role, idleTimeoutS });
      },
      fail: (reason, remainingS) => this.fail(reason, remainingS),
      runCommand: (request, command, role) => this.runCommand(request, command, role),
      respond: (requestId, status) => {
        if (status === RESPONSE_STATUS.insufficientRole) this.counters.commandsRefused++;
        this.trace('command.refused', { requestId, status });
        this.sendRecord(encodePlaintext({ kind: 'response', requestId, status, payload: EMPTY }));
      },
      sendClose: () => {
        this.sealAndSend(encodePlaintext({ kind: 'close' }));
        this.closeLinkSoon('device closed the session');
      },
      closeLink: (reason) => this.closeLinkSoon(reason),
      sendRekeyRequest: () => {
        const nd = this.draw(SESSION_NONCE_BYTES);
        if (nd === undefined || !this.records) {
          this.actor.send({ type: 'session.close' });
          return;
        }
        this.rekeyNd = nd;
        // Sealed at once under the current epoch; everything else waits for the switch.
        this.sealAndSend(encodePlaintext({ kind: 'rekey-request', nd }));
        this.trace('session.rekey', { phase: 'request', epoch: this.records.epoch });
      },
      switchEpoch: (ncPrime) => this.switchEpoch(ncPrime),
      persistBreakGlassIndex: (index) => {
        const r = persistBreakGlassIndex(this.deps.store, index);
        if (!r.ok) this.trace('breakglass.store', { code: r.code });
        // Queued by the actor's mailbox: processed right after the current event, before any peer message.
        this.actor.send({ type: r.ok ? 'breakglass.index.persisted' : 'breakglass.index.failed' });
      },
      recordLockoutFailure: (kind: AuthFailureKind) => {
        const s = this.deps.lockout.recordFailure(kind);
        this.trace('lockout.failure', { kind, failures: s.failures, locked: s.locked });
      },
      recordLockoutSuccess: () => this.deps.lockout.recordSuccess(),
      audit: (event, role, detail) => this.deps.audit(event, role, detail),
      securityAlarm: (reason) => {
        this.trace('session.alarm', { reason });
        this.deps.onSecurityAlarm(reason);
      },
      releaseSession: () => this.releaseSecrets(),
    };
  }

  private fail(reason: SessionFailedReason, remainingS?: number): void {
    this.link.send(encodeSessionFailed(remainingS === undefined ? { reason } : { reason, remainingS }));
    this.trace('session.failed', remainingS === undefined ? { reason } : { reason, remainingS });
    this.closeLinkSoon(`SESSION_FAILED 0x${reason.toString(16).padStart(2, '0')}`);
  }

  /** §5.4: after SESSION_FAILED the device terminates the connection, once the message is out. */
  private closeLinkSoon(reason: string): void {
    if (this.linkCloseArmed) return;
    this.linkCloseArmed = true;
    this.deps.alarm.setAlarm(this.closeGraceUs, () => this.link.close(reason));
  }

  private runCommand(request: RequestPlaintext, command: Command, role: Role): void {
    // Defence in depth: the machine's guard already decided; a disagreement is a firmware bug.
    if (!authorize(role, command).ok) {
      this.trace('command.mismatch', { command: command.id });
      this.sendRecord(encodePlaintext({ kind: 'response', requestId: request.requestId, status: RESPONSE_STATUS.insufficientRole, payload: EMPTY }));
      return;
    }
    const records = this.records;
    let answered = false;
    const respond = (result: CommandResult): void => {
      // One answer per request, and only into the session that asked.
      if (answered || this.records !== records || !this.isEstablished()) return;
      answered = true;
      this.counters.commandsRun++;
      this.trace('command.run', { command: command.id, requestId: request.requestId, status: result.status });
      const sent = this.sendRecord(encodePlaintext({ kind: 'response', requestId: request.requestId, status: result.status, payload: result.payload ?? EMPTY }));
      if (!sent) {
        // A response too large for one record: the handler's bug; the client still gets an answer.
        this.sendRecord(encodePlaintext({ kind: 'response', requestId: request.requestId, status: RESPONSE_STATUS.notPermittedNow, payload: EMPTY }));
      }
      this.afterOutside();
    };
    let result: CommandResult | undefined;
    try {
      result = command.handler({
        command,
        requestId: request.requestId,
        payload: request.payload,
        role,
        clientId: this.secrets?.clientId?.slice(),
        respond,
      });
    } catch (e) {
      // A handler that throws is a bug; the peer's input must not take the device down with it.
      this.trace('command.error', { command: command.id, message: e instanceof Error ? e.message : String(e) });
      result = { status: RESPONSE_STATUS.notPermittedNow };
    }
    if (result !== undefined) respond(result);
  }

  /** Seal and send, or hold while a rekey is pending (§5.3). False if it could not be sealed. */
  private sendRecord(plaintext: Uint8Array): boolean {
    if (this.rekeyNd) {
      if (this.held.length >= MAX_HELD_RECORDS) {
        this.trace('session.rekey', { phase: 'overflow' });
        this.actor.send({ type: 'session.malformed', detail: 'the client does not answer REKEY_REQUEST' });
        return false;
      }
      this.held.push(plaintext);
      return true;
    }
    return this.sealAndSend(plaintext);
  }

  private sealAndSend(plaintext: Uint8Array): boolean {
    if (!this.records) return false;
    const r = this.records.seal(plaintext);
    plaintext.fill(0);
    if (!r.ok) {
      this.trace('record.seal', { code: r.code });
      if (r.code === 'exhausted') this.closeLinkSoon('sequence numbers exhausted');
      return false;
    }
    this.link.send(r.record);
    return true;
  }

  /** §5.3: REKEY_RESPONSE accepted: derive epoch + 1 from Nc', Nd' and the LTK, then release held records. */
  private switchEpoch(ncPrime: Uint8Array): void {
    const nd = this.rekeyNd;
    const s = this.secrets;
    if (!nd || !s || !this.records) return;
    const keys = deriveRecordKeys(s.ltk, ncPrime, nd, this.costOpts());
    const r = this.records.rekey(keys);
    wipeKeys(keys);
    nd.fill(0);
    this.rekeyNd = undefined;
    if (!r.ok) {
      this.closeLinkSoon('no epoch left');
      return;
    }
    this.counters.rekeys++;
    this.trace('session.rekey', { phase: 'switched', epoch: this.records.epoch });
    const held = this.held;
    this.held = [];
    for (const p of held) this.sealAndSend(p);
  }

  private releaseSecrets(): void {
    const s = this.secrets;
    if (s) {
      s.ltk.fill(0);
      s.nd.fill(0);
      s.pd.fill(0);
      wipeKeys(s.keys);
      this.secrets = undefined;
    }
    this.records?.destroy();
    this.records = undefined;
    this.rekeyNd?.fill(0);
    this.rekeyNd = undefined;
    for (const p of this.held) p.fill(0);
    this.held = [];
  }

  private costOpts(): { cost?: CostContext } {
    return this.deps.cost ? { cost: this.deps.cost } : {};
  }

  /** Trace records carry codes, roles, numbers: never keys, nonces, proofs or plaintexts. */
  private trace(kind: string, fields: TraceFields): void {
    const t = this.deps.trace;
    if (t?.wants('session')) t.record(this.device, 'session', kind, fields);
  }
}
