// The phone side of a session (docs/protocol.md §5, §7): opens a session with a bond or a
// break-glass code, checks the device's proof, sends requests, answers rekeys, and reports events.
// Not pairing (the pairing client) and not a GATT client: it talks over a MessageLink.
//
// Deterministic on the world clock: everything happens in the link's callbacks. A request's
// `response` is set, and its listeners called, when the response record arrives; `promise`
// resolves at the same moment (after the run of the world that delivered it). Nothing rejects.

import { constantTimeEqual } from '../crypto/index.ts';
import { clientProof, deriveRecordKeys, deriveSessionKeys, deviceProof, wipeKeys, type SessionKeys } from '../session/key-schedule.ts';
import type { MessageLink } from '../session/link.ts';
import { RecordLayer, type RecordCounters, type RecordDropCode } from '../session/record-layer.ts';
import type { Role } from '../session/roles.ts';
import {
  SESSION_MSG,
  SESSION_NONCE_BYTES,
  decodePlaintext,
  decodeSessionMessage,
  encodeBreakGlassHello,
  encodePlaintext,
  encodeSessionHello,
  encodeSessionProof,
  type RecordPlaintext,
} from '../session/wire-session.ts';

/** Where the client's nonces come from (the phone's CSPRNG; a world stream in simulation). */
export interface ClientRng {
  bytes(length: number): Uint8Array;
}

export interface ClientBond {
  readonly clientId: Uint8Array;
  readonly ltk: Uint8Array;
  readonly role: Role;
}

export interface OpenSessionOptions {
  readonly bond: ClientBond;
  readonly rng: ClientRng;
}

export interface OpenBreakGlassOptions {
  /** The 16-byte code the manufacturer issued (§7). */
  readonly code: Uint8Array;
  readonly index: number;
  readonly notAfterS: number;
  readonly rng: ClientRng;
}

export type ClientSessionState = 'handshaking' | 'open' | 'closed';

/** Why a client session ended (or failed to open). */
export type ClientFailure =
  | { readonly code: 'session-failed'; readonly reason: number; readonly remainingS?: number }
  /** Pd did not verify: not our device, or not our bond (§5.1). */
  | { readonly code: 'device-proof' }
  /** SESSION_ACCEPT granted another role than the bond's (or than emergency for break-glass). */
  | { readonly code: 'role-mismatch'; readonly role: Role }
  | { readonly code: 'protocol'; readonly detail: string }
  /** Three records from the device were dropped. */
  | { readonly code: 'drops' }
  | { readonly code: 'closed-by-device' }
  | { readonly code: 'closed-by-client' }
  | { readonly code: 'link-closed'; readonly reason: string };

export type ClientResponse =
  | { readonly ok: true; readonly status: number; readonly payload: Uint8Array }
  | { readonly ok: false; readonly code: 'closed' | 'too-large'; readonly failure?: ClientFailure };

export interface ClientRequest {
  readonly requestId: number;
  readonly command: number;
  /** Set when the answer arrives (or the session ends first). */
  readonly response: ClientResponse | undefined;
  readonly promise: Promise<ClientResponse>;
}

export type ClientSessionEvent =
  | { readonly type: 'open'; readonly role: Role; readonly idleTimeoutS: number }
  | { readonly type: 'event'; readonly event: number; readonly payload: Uint8Array }
  | { readonly type: 'rekeyed'; readonly epoch: number }
  | { readonly type: 'closed'; readonly failure: ClientFailure };

export interface ClientCounters {
  recordsSent: number;
  recordsReceived: number;
  /** Device records the record layer dropped, by code. */
  dropped: RecordCounters['dropped'];
  rekeys: number;
  /** Messages that are not for the session, or arrived when they make no sense. */
  ignored: number;
}

export interface ClientSession {
  readonly state: ClientSessionState;
  /** The granted role once open. */
  readonly role: Role | undefined;
  readonly idleTimeoutS: number | undefined;
  readonly epoch: number | undefined;
  readonly failure: ClientFailure | undefined;
  readonly counters: ClientCounters;
  /** Resolves when the session opens or fails to. */
  readonly opened: Promise<{ ok: true; role: Role } | { ok: false; failure: ClientFailure }>;
  /** Send a request; before the session is open it waits and goes out on open. */
  request(command: number, payload?: Uint8Array, onResponse?: (r: ClientResponse) => void): ClientRequest;
  /** Subscribe to session events; returns the unsubscribe function. */
  on(listener: (e: ClientSessionEvent) => void): () => void;
  /** Send the close plaintext (§5.4 0x12); the device then terminates the link. */
  close(): void;
}

/** Three dropped device records end the client's side too (mirrors §5.3). */
const CLIENT_DROP_LIMIT = 3;

interface PendingRequest {
  readonly requestId: number;
  readonly command: number;
  readonly payload: Uint8Array;
  response: ClientResponse | undefined;
  readonly listeners: Array<(r: ClientResponse) => void>;
  resolve: (r: ClientResponse) => void;
  readonly promise: Promise<ClientResponse>;
}

class SessionClient implements ClientSession {
  state: ClientSessionState = 'handshaking';
  role: Role | undefined;
  idleTimeoutS: number | undefined;
  failure: ClientFailure | undefined;
  readonly counters: ClientCounters = {
    recordsSent: 0,
    recordsReceived: 0,
    dropped: { replay: 0, epoch: 0, direction: 0, auth: 0, malformed: 0 },
    rekeys: 0,
    ignored: 0,
  };
  readonly opened: Promise<{ ok: true; role: Role } | { ok: false; failure: ClientFailure }>;
  private resolveOpened!: (r: { ok: true; role: Role } | { ok: false; failure: ClientFailure }) => void;
  private readonly listeners: Array<(e: ClientSessionEvent) => void> = [];
  private readonly waiting: PendingRequest[] = [];
  private readonly inFlight = new Map<number, PendingRequest>();
  private nextRequestId = 1;
  private keys: SessionKeys | undefined;
  private records: RecordLayer | undefined;
  /** Nd of the handshake, between SESSION_CHALLENGE and SESSION_ACCEPT. */
  private pendingNd: Uint8Array | undefined;
  private drops = 0;

  constructor(
    private readonly link: MessageLink,
    private readonly ltk: Uint8Array,
    private readonly nc: Uint8Array,
    private readonly expectedRole: Role,
    private readonly rng: ClientRng,
    hello: Uint8Array,
  ) {
    this.opened = new Promise((resolve) => {
      this.resolveOpened = resolve;
    });
    link.setReceiver((m) => this.receive(m));
    link.setClosedHandler((reason) => this.end({ code: 'link-closed', reason }, false));
    link.send(hello);
  }

  get epoch(): number | undefined {
    return this.records?.epoch;
  }

  on(listener: (e: ClientSessionEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  request(command: number, payload: Uint8Array = new Uint8Array(0), onResponse?: (r: ClientResponse) => void): ClientRequest {
    const requestId = this.nextRequestId;
    this.nextRequestId = this.nextRequestId === 0xffff ? 1 : this.nextRequestId + 1;
    let resolve!: (r: ClientResponse) => void;
    const promise = new Promise<ClientResponse>((r) => {
      resolve = r;
    });
    const p: PendingRequest = { requestId, command, payload: payload.slice(), response: undefined, listeners: onResponse ? [onResponse] : [], resolve, promise };
    if (this.state === 'closed') this.settle(p, { ok: false, code: 'closed', ...(this.failure ? { failure: this.failure } : {}) });
    else if (this.state === 'handshaking') this.waiting.push(p);
    else this.sendRequest(p);
    return {
      requestId,
      command,
      get response() {
        return p.response;
      },
      promise,
    };
  }

  close(): void {
    if (this.state === 'closed') return;
    if (this.state === 'open') this.sendPlaintext({ kind: 'close' });
    this.end({ code: 'closed-by-client' }, this.state !== 'open');
  }

  // ─── incoming ────────────────────────────────────────────────────────────────────────────

  private receive(message: Uint8Array): void {
    if (this.state === 'closed') {
      this.counters.ignored++;
      return;
    }
    const d = decodeSessionMessage(message);
    if (!d.ok) {
      // A malformed RECORD counts as a dropped record; anything else is not ours to act on.
      if (message[0] === SESSION_MSG.record && this.records) this.noteDrop('malformed');
      else this.counters.ignored++;
      return;
    }
    const m = d.value;
    switch (m.type) {
      case 'challenge':
        this.onChallenge(m.nd);
        return;
      case 'accept':
        this.onAccept(m.accept.pd, m.accept.role, m.accept.idleTimeoutS);
        return;
      case 'failed':
        this.end(m.failed.remainingS === undefined ? { code: 'session-failed', reason: m.failed.reason } : { code: 'session-failed', reason: m.failed.reason, remainingS: m.failed.remainingS }, false);
        return;
      case 'record':
        this.onRecord(m.record);
        return;
      default:
        this.counters.ignored++;
    }
  }

  /** §5.1 step 3: derive Kauth and the record keys, prove the bond. */
  private onChallenge(nd: Uint8Array): void {
    if (this.keys || this.state !== 'handshaking') {
      this.counters.ignored++;
      return;
    }
    this.keys = deriveSessionKeys(this.ltk, this.nc, nd);
    const pc = clientProof(this.keys.authKey, this.nc, nd);
    this.pendingNd = nd;
    this.link.send(encodeSessionProof(pc));
  }

  /** §5.1 step 4: check Pd (constant time) and the role; then records flow. */
  private onAccept(pd: Uint8Array, role: Role, idleTimeoutS: number): void {
    const keys = this.keys;
    const nd = this.pendingNd;
    if (!keys || !nd || this.state !== 'handshaking') {
      this.counters.ignored++;
      return;
    }
    const expected = deviceProof(keys.authKey, this.nc, nd);
    if (!constantTimeEqual(pd, expected)) {
      this.end({ code: 'device-proof' }, true);
      return;
    }
    if (role !== this.expectedRole) {
      this.end({ code: 'role-mismatch', role }, true);
      return;
    }
    this.records = new RecordLayer('client', keys);
    wipeKeys(keys);
    this.keys = undefined;
    this.state = 'open';
    this.role = role;
    this.idleTimeoutS = idleTimeoutS;
    this.resolveOpened({ ok: true, role });
    this.emit({ type: 'open', role, idleTimeoutS });
    const waiting = this.waiting.splice(0);
    for (const p of waiting) this.sendRequest(p);
  }

  private onRecord(record: Uint8Array): void {
    const records = this.records;
    if (!records || this.state !== 'open') {
      this.counters.ignored++;
      return;
    }
    const r = records.open(record);
    if (!r.ok) {
      this.noteDrop(r.code);
      return;
    }
    const p = decodePlaintext(r.plaintext);
    if (!p.ok) {
      this.noteDrop('malformed');
      return;
    }
    this.counters.recordsReceived++;
    this.onPlaintext(p.value);
  }

  private onPlaintext(p: RecordPlaintext): void {
    switch (p.kind) {
      case 'response': {
        const req = this.inFlight.get(p.requestId);
        if (!req) {
          this.counters.ignored++;
          return;
        }
        this.inFlight.delete(p.requestId);
        this.settle(req, { ok: true, status: p.status, payload: p.payload });
        return;
      }
      case 'event':
        this.emit({ type: 'event', event: p.event, payload: p.payload });
        return;
      case 'rekey-request':
        this.answerRekey(p.nd);
        return;
      case 'close':
        this.end({ code: 'closed-by-device' }, false);
        return;
      default:
        // A request or rekey response from the device: not a device's plaintext (§5.4).
        this.noteDrop('malformed');
    }
  }

  /** §5.3: REKEY_RESPONSE under the old keys, then both directions switch to epoch + 1. */
  private answerRekey(ndPrime: Uint8Array): void {
    const records = this.records;
    if (!records) return;
    const ncPrime = this.rng.bytes(SESSION_NONCE_BYTES);
    this.sendPlaintext({ kind: 'rekey-response', nc: ncPrime });
    const keys = deriveRecordKeys(this.ltk, ncPrime, ndPrime);
    const r = records.rekey(keys);
    wipeKeys(keys);
    if (!r.ok) {
      this.end({ code: 'protocol', detail: `rekey: ${r.code}` }, true);
      return;
    }
    this.counters.rekeys++;
    this.emit({ type: 'rekeyed', epoch: records.epoch });
  }

  private noteDrop(code: RecordDropCode): void {
    this.counters.dropped[code]++;
    this.drops++;
    if (this.drops >= CLIENT_DROP_LIMIT) this.end({ code: 'drops' }, true);
  }

  // ─── outgoing ────────────────────────────────────────────────────────────────────────────

  private sendRequest(p: PendingRequest): void {
    const ok = this.sendPlaintext({ kind: 'request', requestId: p.requestId, command: p.command, payload: p.payload });
    if (!ok) {
      this.settle(p, { ok: false, code: 'too-large' });
      return;
    }
    this.inFlight.set(p.requestId, p);
  }

  private sendPlaintext(p: RecordPlaintext): boolean {
    const records = this.records;
    if (!records) return false;
    const r = records.seal(encodePlaintext(p));
    if (!r.ok) return false;
    this.counters.recordsSent++;
    this.link.send(r.record);
    return true;
  }

  private settle(p: PendingRequest, r: ClientResponse): void {
    if (p.response !== undefined) return;
    p.response = r;
    for (const l of p.listeners) l(r);
    p.resolve(r);
  }

  private emit(e: ClientSessionEvent): void {
    for (const l of [...this.listeners]) l(e);
  }

  /** End once: settle everything, wipe keys, optionally terminate the link ourselves. */
  private end(failure: ClientFailure, closeLink: boolean): void {
    if (this.state === 'closed') return;
    const wasHandshaking = this.state === 'handshaking';
    this.state = 'closed';
    this.failure = failure;
    this.records?.destroy();
    if (this.keys) wipeKeys(this.keys);
    this.keys = undefined;
    this.nc.fill(0);
    this.ltk.fill(0);
    this.pendingNd = undefined;
    const closed: ClientResponse = { ok: false, code: 'closed', failure };
    for (const p of [...this.waiting.splice(0), ...this.inFlight.values()]) this.settle(p, closed);
    this.inFlight.clear();
    if (wasHandshaking) this.resolveOpened({ ok: false, failure });
    this.emit({ type: 'closed', failure });
    if (closeLink) this.link.close(failure.code);
  }
}

/** §5.1: SESSION_HELLO with a bond; the session opens when SESSION_ACCEPT checks out. */
export function openSession(link: MessageLink, opts: OpenSessionOptions): ClientSession {
  const nc = opts.rng.bytes(SESSION_NONCE_BYTES);
  const hello = encodeSessionHello({ clientId: opts.bond.clientId, nc });
  return new SessionClient(link, opts.bond.ltk.slice(), nc, opts.bond.role, opts.rng, hello);
}

/** §7: BREAK_GLASS_HELLO with a manufacturer's code; the session's role is emergency. */
export function openBreakGlass(link: MessageLink, opts: OpenBreakGlassOptions): ClientSession {
  const nc = opts.rng.bytes(SESSION_NONCE_BYTES);
  const hello = encodeBreakGlassHello({ index: opts.index, notAfterS: opts.notAfterS, nc });
  return new SessionClient(link, opts.code.slice(), nc, 'emergency', opts.rng, hello);
}
