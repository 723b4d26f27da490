// The phone side of pairing (docs/protocol.md §4): verifies the device's certificate, runs numeric
// comparison or passkey entry with a "user" delegate, and returns the bond. Not the session (§5).
//
// Split-phase and clock-driven like the firmware: every wait is an Alarm deadline on the world's
// clock and every answer arrives through the link's receiver, so a simulated run is deterministic.
// Expected failures are results with a code, never exceptions. Client entropy comes from the
// seeded Rng the caller passes in (src/sim/random.ts), so the same seed pairs the same way.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';
import {
  constantTimeEqual,
  ecdsaP256Verify,
  f4,
  f5,
  f6,
  formatNumericComparison,
  g2,
  isValidP256PublicKey,
  p256Ecdh,
  p256Keypair,
  P256_KEYGEN_ENTROPY_BYTES,
  type CostContext,
} from '../crypto/index.ts';
import { verifyDeviceCertificate, type DeviceCertificate, type DeviceType } from '../session/identity.ts';
import type { MessageLink } from '../session/link.ts';
import type { Role } from '../session/roles.ts';
import type { Rng } from '../sim/random.ts';
import {
  IOCAP_CLIENT,
  IOCAP_DEVICE,
  METHOD_CODES,
  PAIR_FAILED,
  PASSKEY_MAX,
  PASSKEY_ROUNDS,
  Z_NUMERIC_COMPARISON,
  clientAddress,
  decodePairingMessage,
  deviceAddress,
  encodePairCheckC,
  encodePairFailed,
  encodePairRandomC,
  encodePairRequest,
  encodePasskeyCommitC,
  encodePasskeyRandomC,
  isPairingMessageType,
  pairKeySignedBytes,
  passkeyR,
  passkeyRoundZ,
  xOf,
  type PairResponse,
  type PairingMessage,
  type PairingMethod,
} from '../session/wire-pairing.ts';

/** §4.1: a client must wait at least 5 s for PAIR_RESPONSE (the device's ECDH, maybe its key preparation and a credential check). */
export const MIN_RESPONSE_TIMEOUT_MS = 5_000;
export const DEFAULT_RESPONSE_TIMEOUT_MS = 10_000;
/** Other device messages: SMP's 30 s (Core Vol 3 Part H §3.4). */
export const DEFAULT_STEP_TIMEOUT_MS = 30_000;
/** PAIR_CHECK_D after numeric comparison: the device's user has up to 60 s (§4.4), plus margin. */
export const DEFAULT_CHECK_TIMEOUT_MS = 75_000;
/** The client's own user: 60 s to compare or type. */
export const DEFAULT_USER_TIMEOUT_MS = 60_000;

/**
 * The person at the phone. Answer at once by returning the value, or later (e.g. from an
 * Alarm callback) through `answer` and return undefined.
 */
export interface PairingUser {
  /** Numeric comparison: does the device show `sixDigits`? */
  compare?(sixDigits: string, answer: (same: boolean) => void): boolean | undefined;
  /** Passkey entry: the six digits the device shows, as a number. */
  passkey?(answer: (passkey: number) => void): number | undefined;
}

export interface PairOptions {
  readonly method: PairingMethod;
  readonly role: Exclude<Role, 'emergency'>;
  readonly clientId: Uint8Array;
  readonly credential?: Uint8Array;
  readonly expectedDeviceType: DeviceType;
  readonly manufacturerRootPublicKey: Uint8Array;
  readonly user: PairingUser;
  /** The client's entropy (seeded in simulation). */
  readonly rng: Rng;
  /** The client's clock (the world's, in simulation). */
  readonly alarm: Alarm;
  /** Charge the phone's crypto somewhere (optional). */
  readonly cost?: CostContext;
  /** At least MIN_RESPONSE_TIMEOUT_MS. */
  readonly responseTimeoutMs?: number;
  readonly stepTimeoutMs?: number;
  readonly checkTimeoutMs?: number;
  readonly userTimeoutMs?: number;
  /** Set the link's receiver and closed handler (default true); false when a dispatcher calls handle(). */
  readonly attach?: boolean;
}

export interface ClientBond {
  readonly clientId: Uint8Array;
  readonly ltk: Uint8Array;
  readonly role: Exclude<Role, 'emergency'>;
  readonly deviceSerial: string;
  readonly deviceCertificate: Uint8Array;
}

/**
 * - `certificate`: the device's certificate or PKb signature did not verify (we sent 0x80);
 * - `confirm`: Cb did not match (we sent 0x04); `passkey`: a Cbᵢ did not match, or the device said 0x01;
 * - `dhkey-check`: Eb did not match, or the device said 0x0B; `rejected`: a user refused (0x0C);
 * - `locked` (0x83, with remainingS), `credential` (0x81), `bonds-full` (0x82), `busy` (0x84);
 * - `device-failed`: any other PAIR_FAILED from the device (see `reason`);
 * - `malformed`: the device sent something we could not take (we sent 0x0A);
 * - `role`: the device granted another role than requested; `timeout`; `link-closed`.
 */
export type PairFailureCode =
  | 'certificate'
  | 'confirm'
  | 'passkey'
  | 'dhkey-check'
  | 'rejected'
  | 'locked'
  | 'credential'
  | 'bonds-full'
  | 'busy'
  | 'device-failed'
  | 'malformed'
  | 'role'
  | 'timeout'
  | 'link-closed';

export type PairResult =
  | { readonly ok: true; readonly bond: ClientBond }
  | {
      readonly ok: false;
      readonly code: PairFailureCode;
      /** The PAIR_FAILED reason byte, sent (`by: 'client'`) or received (`by: 'device'`). */
      readonly reason?: number;
      readonly by?: 'client' | 'device';
      readonly remainingS?: number;
      readonly detail?: string;
    };

const DEVICE_REASON_CODES: Readonly<Record<number, PairFailureCode>> = {
  [PAIR_FAILED.lockedOut]: 'locked',
  [PAIR_FAILED.credentialInvalid]: 'credential',
  [PAIR_FAILED.bondTableFull]: 'bonds-full',
  [PAIR_FAILED.busy]: 'busy',
  [PAIR_FAILED.numericComparisonFailed]: 'rejected',
  [PAIR_FAILED.passkeyEntryFailed]: 'passkey',
  [PAIR_FAILED.dhKeyCheckFailed]: 'dhkey-check',
  [PAIR_FAILED.confirmValueFailed]: 'confirm',
};

type Phase =
  | 'awaiting-response'
  | 'awaiting-random'
  | 'comparing'
  | 'typing'
  | 'awaiting-commit'
  | 'awaiting-round-random'
  | 'awaiting-check'
  | 'done';

/** One pairing run from the phone. */
export class ClientPairing {
  private phase: Phase = 'awaiting-response';
  private timer: AlarmId | undefined;
  private readonly a: Uint8Array;
  private pka: Uint8Array = new Uint8Array(0);
  private privateKey: Uint8Array = new Uint8Array(0);
  private pkb: Uint8Array = new Uint8Array(0);
  private certificate: DeviceCertificate | undefined;
  private b: Uint8Array = new Uint8Array(0);
  private dhKey: Uint8Array = new Uint8Array(0);
  private cb: Uint8Array = new Uint8Array(0);
  private na: Uint8Array = new Uint8Array(0);
  private nb: Uint8Array = new Uint8Array(0);
  private passkey: number | undefined;
  private round = 0;
  private roundNa: Uint8Array = new Uint8Array(0);
  private roundCb: Uint8Array = new Uint8Array(0);
  private macKey: Uint8Array = new Uint8Array(0);
  private ltk: Uint8Array = new Uint8Array(0);
  /** Every message this client sent, by type (tests assert e.g. that no PAIR_CHECK_C left). */
  readonly sentTypes: number[] = [];

  constructor(
    private readonly link: MessageLink,
    private readonly opts: PairOptions,
    private readonly done: (result: PairResult) => void,
  ) {
    this.a = clientAddress(opts.clientId);
  }

  get finished(): boolean {
    return this.phase === 'done';
  }

  start(): this {
    const o = this.opts;
    if (o.attach ?? true) {
      this.link.setReceiver((m) => {
        if (m[0] !== undefined && isPairingMessageType(m[0])) this.handle(m);
      });
      this.link.setClosedHandler(() => this.linkClosed());
    }
    const kp = p256Keypair(o.rng.bytes(P256_KEYGEN_ENTROPY_BYTES), this.cost());
    this.privateKey = kp.privateKey;
    this.pka = kp.publicKey;
    this.transmit(
      encodePairRequest({ method: METHOD_CODES[o.method], role: o.role, clientId: o.clientId, pka: this.pka, credential: o.credential ?? new Uint8Array(0) }),
    );
    this.wait(Math.max(MIN_RESPONSE_TIMEOUT_MS, o.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS), 'no PAIR_RESPONSE');
    return this;
  }

  /** A pairing message from the device (when not attached, the dispatcher calls this). */
  handle(bytes: Uint8Array): void {
    if (this.phase === 'done') return;
    const d = decodePairingMessage(bytes);
    if (!d.ok) return this.failSending('malformed', PAIR_FAILED.invalidParameters, d.detail);
    const m = d.value;
    if (m.type === 'failed') return this.finishFailed({ code: DEVICE_REASON_CODES[m.reason] ?? 'device-failed', reason: m.reason, by: 'device', ...(m.remainingS !== undefined ? { remainingS: m.remainingS } : {}) });
    this.step(m);
  }

  linkClosed(): void {
    if (this.phase !== 'done') this.finishFailed({ code: 'link-closed' });
  }

  /** Give up (the app was closed): nothing more is sent or reported. */
  cancel(): void {
    this.clearTimer();
    this.phase = 'done';
    this.wipe();
  }

  private cost(): { cost?: CostContext } {
    return this.opts.cost ? { cost: this.opts.cost } : {};
  }

  private step(m: PairingMessage): void {
    const c = this.cost();
    switch (this.phase) {
      case 'awaiting-response':
        if (m.type !== 'response') return this.unexpected(m);
        return this.onResponse(m);
      case 'awaiting-random': {
        if (m.type !== 'random-d') return this.unexpected(m);
        this.clearTimer();
        this.nb = m.nonce;
        // §4.2 step 3: Cb = f4(PKb.x, PKa.x, Nb, 0x00) commits the device to Nb before it saw Na.
        const cb = f4(xOf(this.pkb), xOf(this.pka), this.nb, Z_NUMERIC_COMPARISON, c);
        if (!constantTimeEqual(cb, this.cb)) return this.failSending('confirm', PAIR_FAILED.confirmValueFailed, 'Cb does not match Nb');
        const va = formatNumericComparison(g2(xOf(this.pka), xOf(this.pkb), this.na, this.nb, c));
        this.phase = 'comparing';
        this.wait(this.opts.userTimeoutMs ?? DEFAULT_USER_TIMEOUT_MS, 'the user did not compare', PAIR_FAILED.numericComparisonFailed);
        return this.ask<boolean>((answer) => this.opts.user.compare?.(va, answer), (same) => this.onCompared(same));
      }
      case 'awaiting-commit': {
        if (m.type !== 'passkey-commit-d') return this.unexpected(m);
        if (m.round !== this.round) return this.failSending('malformed', PAIR_FAILED.invalidParameters, `round ${m.round} out of order (expected ${this.round})`);
        this.clearTimer();
        this.roundCb = m.value;
        this.transmit(encodePasskeyRandomC(this.round, this.roundNa));
        this.phase = 'awaiting-round-random';
        return this.wait(this.opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS, 'no PASSKEY_RANDOM_D');
      }
      case 'awaiting-round-random': {
        if (m.type !== 'passkey-random-d') return this.unexpected(m);
        if (m.round !== this.round) return this.failSending('malformed', PAIR_FAILED.invalidParameters, `round ${m.round} out of order (expected ${this.round})`);
        this.clearTimer();
        const expected = f4(xOf(this.pkb), xOf(this.pka), m.nonce, passkeyRoundZ(this.passkey!, this.round), c);
        if (!constantTimeEqual(expected, this.roundCb)) return this.failSending('passkey', PAIR_FAILED.passkeyEntryFailed, `Cb${this.round} does not match`);
        this.na = this.roundNa;
        this.nb = m.nonce;
        this.round++;
        if (this.round < PASSKEY_ROUNDS) return this.commitRound();
        return this.sendCheck();
      }
      case 'awaiting-check': {
        if (m.type !== 'check-d') return this.unexpected(m);
        this.clearTimer();
        const b = this.b;
        const eb = f6(this.macKey, this.nb, this.na, passkeyR(this.passkey), IOCAP_DEVICE, b, this.a, c);
        if (!constantTimeEqual(eb, m.eb)) return this.failSending('dhkey-check', PAIR_FAILED.dhKeyCheckFailed, 'Eb does not match: bond discarded');
        if (m.role !== this.opts.role) return this.finishFailed({ code: 'role', detail: `granted ${m.role}, requested ${this.opts.role}` });
        const cert = this.certificate!;
        const bond: ClientBond = { clientId: this.opts.clientId.slice(), ltk: this.ltk.slice(), role: m.role, deviceSerial: cert.serial, deviceCertificate: cert.bytes.slice() };
        this.phase = 'done';
        this.wipe();
        this.done({ ok: true, bond });
        return;
      }
      default:
        // 'comparing' / 'typing': the device has no turn now.
        return this.unexpected(m);
    }
  }

  private onResponse(m: PairResponse): void {
    this.clearTimer();
    const o = this.opts;
    const c = this.cost();
    if (m.method !== METHOD_CODES[o.method]) return this.failSending('malformed', PAIR_FAILED.invalidParameters, `method ${m.method} is not the one requested`);
    // §3.1, §4.1: no spoofed devices. A certificate we cannot verify ends the pairing with 0x80.
    const cert = verifyDeviceCertificate(m.certificate, o.manufacturerRootPublicKey, { expectedDeviceType: o.expectedDeviceType, ...c });
    if (!cert.ok) return this.refuseDevice(cert.detail);
    if (!ecdsaP256Verify(cert.value.identityPublicKey, pairKeySignedBytes(m.pkb), m.pkbSignature, c)) return this.refuseDevice('PKb signature does not verify');
    if (!isValidP256PublicKey(m.pkb)) return this.failSending('malformed', PAIR_FAILED.invalidParameters, 'PKb is not on the curve');
    this.certificate = cert.value;
    this.b = deviceAddress(cert.value.serialBytes);
    this.pkb = m.pkb;
    this.cb = m.cb;
    this.dhKey = p256Ecdh(this.privateKey, this.pkb, c);
    if (o.method === 'numeric-comparison') {
      this.na = o.rng.bytes(16);
      this.transmit(encodePairRandomC(this.na));
      this.phase = 'awaiting-random';
      return this.wait(o.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS, 'no PAIR_RANDOM_D');
    }
    this.phase = 'typing';
    this.wait(o.userTimeoutMs ?? DEFAULT_USER_TIMEOUT_MS, 'the user did not type the passkey', PAIR_FAILED.passkeyEntryFailed);
    this.ask<number>((answer) => o.user.passkey?.(answer), (p) => this.onPasskey(p));
  }

  private onCompared(same: boolean): void {
    if (this.phase !== 'comparing') return;
    this.clearTimer();
    if (!same) return this.failSending('rejected', PAIR_FAILED.numericComparisonFailed, 'the user says the numbers differ');
    this.sendCheck();
  }

  private onPasskey(p: number): void {
    if (this.phase !== 'typing') return;
    this.clearTimer();
    if (!Number.isInteger(p) || p < 0 || p > PASSKEY_MAX) return this.failSending('passkey', PAIR_FAILED.passkeyEntryFailed, 'not a six-digit passkey');
    this.passkey = p;
    this.round = 0;
    this.commitRound();
  }

  /** §4.3 step 1: Caᵢ = f4(PKa.x, PKb.x, Naᵢ, rᵢ). */
  private commitRound(): void {
    this.roundNa = this.opts.rng.bytes(16);
    const ca = f4(xOf(this.pka), xOf(this.pkb), this.roundNa, passkeyRoundZ(this.passkey!, this.round), this.cost());
    this.transmit(encodePasskeyCommitC(this.round, ca));
    this.phase = 'awaiting-commit';
    this.wait(this.opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS, 'no PASSKEY_COMMIT_D');
  }

  /** §4.4: (MacKey, LTK) = f5(DHKey, Na, Nb, A, B); Ea = f6(MacKey, Na, Nb, rb, IOcapA, A, B). */
  private sendCheck(): void {
    const c = this.cost();
    const keys = f5(this.dhKey, this.na, this.nb, this.a, this.b, c);
    this.macKey = keys.macKey;
    this.ltk = keys.ltk;
    const ea = f6(this.macKey, this.na, this.nb, passkeyR(this.passkey), IOCAP_CLIENT, this.a, this.b, c);
    this.transmit(encodePairCheckC(ea));
    this.phase = 'awaiting-check';
    const ms = this.opts.method === 'numeric-comparison' ? (this.opts.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS) : (this.opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS);
    this.wait(ms, 'no PAIR_CHECK_D');
  }

  /** Ask the user: take a returned answer at once, else the first call of `answer`. */
  private ask<T>(question: (answer: (v: T) => void) => T | undefined, then: (v: T) => void): void {
    let answered = false;
    const once = (v: T): void => {
      if (answered) return;
      answered = true;
      then(v);
    };
    const now = question(once);
    if (now !== undefined) once(now);
  }

  private unexpected(m: PairingMessage): void {
    this.failSending('malformed', PAIR_FAILED.invalidParameters, `unexpected ${m.type} while ${this.phase}`);
  }

  private refuseDevice(detail: string): void {
    // §4.1: PAIR_FAILED 0x80, then disconnect.
    this.failSending('certificate', PAIR_FAILED.certificateInvalid, detail);
    this.link.close('certificate');
  }

  private failSending(code: PairFailureCode, reason: number, detail: string): void {
    this.transmit(encodePairFailed(reason));
    this.finishFailed({ code, reason, by: 'client', detail });
  }

  private finishFailed(f: Omit<Extract<PairResult, { ok: false }>, 'ok'>): void {
    if (this.phase === 'done') return;
    this.clearTimer();
    this.phase = 'done';
    this.wipe();
    this.done({ ok: false, ...f });
  }

  private transmit(message: Uint8Array): void {
    this.sentTypes.push(message[0]!);
    this.link.send(message);
  }

  private wait(ms: number, what: string, sendReason?: number): void {
    this.clearTimer();
    this.timer = this.opts.alarm.setAlarm(Math.round(ms * 1000), () => {
      this.timer = undefined;
      if (this.phase === 'done') return;
      if (sendReason !== undefined) this.transmit(encodePairFailed(sendReason));
      this.finishFailed({ code: 'timeout', detail: what, ...(sendReason !== undefined ? { reason: sendReason, by: 'client' as const } : {}) });
    });
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.opts.alarm.cancel(this.timer);
    this.timer = undefined;
  }

  private wipe(): void {
    for (const b of [this.privateKey, this.dhKey, this.na, this.nb, this.roundNa, this.macKey, this.ltk]) b.fill(0);
    this.passkey = undefined;
  }
}

/** Start pairing over `link`; `done` is called once with the result (from the link or the alarm). */
export function startPairing(link: MessageLink, opts: PairOptions, done: (result: PairResult) => void): ClientPairing {
  return new ClientPairing(link, opts, done).start();
}

/** The same as a Promise (resolved from the world's scheduler; await it after running the world). */
export function pair(link: MessageLink, opts: PairOptions): Promise<PairResult> {
  return new Promise((resolve) => {
    startPairing(link, opts, resolve);
  });
}
