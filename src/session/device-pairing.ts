// One connection's pairing on the device: decodes pairing messages (0x01–0x0F), drives the pairing
// machine, and does its I/O and crypto (docs/protocol.md §4). Not the session (it gets the bond via
// onPaired) and not the GATT binding (whoever owns the link routes messages to handle()).
//
// Key material of an attempt (ephemeral private key, DHKey, nonces, passkey, MacKey, LTK) stays in
// a vault here, never in the machine's context, events, the trace or an audit record, and is
// wiped when the attempt ends. Costly crypto runs through afterCpu, so its result reaches the
// machine only after the CPU time it charged (one ECDH ≈ 0.94 s on the KW31Z, §4.1).

import { createActor, type Actor } from 'xstate';
import type { Alarm } from '../../hal/alarm.ts';
import type { Entropy } from '../../hal/entropy.ts';
import type { ButtonName, Display } from '../../hal/ui.ts';
import {
  BudgetExceededError,
  budget,
  constantTimeEqual,
  f4,
  f5,
  f6,
  formatNumericComparison,
  g2,
  p256Ecdh,
  CryptoError,
  type BudgetReport,
  type BudgetScope,
  type CostContext,
  type MeteredLedger,
} from '../crypto/index.ts';
import { AUDIT_EVENTS } from '../firmware/audit-log.ts';
import { xstateClock } from '../sim/xstate-clock.ts';
import type { BondStore } from './bond-store.ts';
import { afterCpu, type CpuMeter } from './cpu-time.ts';
import type { EphemeralKeys, KeyTake, PreparedKey } from './ephemeral-key.ts';
import { verifyRoleCredential, type DeviceIdentity } from './identity.ts';
import type { MessageLink } from './link.ts';
import { pairingMachine, type PairedRole, type PairingEvent } from './pairing.machine.ts';
import type { AuditSink, AuthFailureKind, Bond, LockoutPort } from './ports.ts';
import { ROLE_CODES } from './roles.ts';
import {
  IOCAP_CLIENT,
  IOCAP_DEVICE,
  PAIR_FAILED,
  PAIRING_METHODS,
  PASSKEY_MAX,
  Z_NUMERIC_COMPARISON,
  clientAddress,
  decodePairingMessage,
  deviceAddress,
  encodePairCheckD,
  encodePairFailed,
  encodePairRandomD,
  encodePairResponse,
  encodePasskeyCommitD,
  encodePasskeyRandomD,
  isPairingMessageType,
  passkeyR,
  passkeyRoundZ,
  xOf,
  type PairRequest,
} from './wire-pairing.ts';

/** Audit event codes (docs/protocol.md §4.5, §9): the audit log's own table, not a copy. */
export const AUDIT_PAIRING_OK: number = AUDIT_EVENTS['pairing.ok'];
export const AUDIT_PAIRING_FAILED: number = AUDIT_EVENTS['pairing.failed'];
/** Bytes of the client id in an audit detail: the same six bytes as the f5/f6 address A (§4). */
export const AUDIT_CLIENT_ID_PREFIX_BYTES = 6;

/**
 * Pairing CPU on the device from PAIR_REQUEST to the attempt's end (the ephemeral key's
 * preparation has its own budget, ephemeral-key.ts). Patient: one ECDH (≈ 0.94 s) plus AES
 * toolbox calls and the bond write. Clinician/service: also the credential's ECDSA
 * verification (≈ 1.56 s).
 */
export const PAIRING_BUDGETS = {
  patient: budget('pairing CPU (patient)', { cpuMs: 2_500 }),
  privileged: budget('pairing CPU (clinician, service)', { cpuMs: 2_600 }),
} as const;

export type PairingTraceFields = Record<string, string | number | boolean>;

export interface DevicePairingDeps {
  readonly identity: DeviceIdentity;
  readonly keys: EphemeralKeys;
  readonly bonds: BondStore;
  readonly lockout: LockoutPort;
  readonly audit: AuditSink;
  readonly alarm: Alarm;
  readonly entropy: Entropy;
  readonly display: Display;
  /** Every crypto operation is charged here (the device's ledger and cost table). */
  readonly cost: CostContext;
  readonly meter: CpuMeter;
  /** The device ledger: each attempt is measured against PAIRING_BUDGETS. */
  readonly ledger?: MeteredLedger;
  /** Each attempt's budget report (also when exceeded; the pairing is not stopped by it). */
  readonly onBudget?: (report: BudgetReport) => void;
  /** Device clock in seconds, for credential expiry (§3.2). Default: the alarm's clock. */
  readonly clockS?: () => number;
  /** True while another pairing or a session holds the device (PAIR_FAILED 0x84). */
  readonly busy?: () => boolean;
  /** Trace sink (figures and codes only, never key material). */
  readonly trace?: (kind: string, fields: PairingTraceFields) => void;
}

/** Per-attempt secrets and the values derived from them; wiped by endAttempt. */
interface Vault {
  readonly no: number;
  readonly request: PairRequest;
  readonly a: Uint8Array;
  readonly b: Uint8Array;
  budget?: BudgetScope;
  take?: KeyTake;
  key?: PreparedKey;
  dhKey?: Uint8Array;
  na?: Uint8Array;
  nb?: Uint8Array;
  cb?: Uint8Array;
  passkey?: number;
  roundCa?: Uint8Array;
  roundNb?: Uint8Array;
  macKey?: Uint8Array;
  ltk?: Uint8Array;
  credentialNotAfterS: number;
  displayed: boolean;
  bond?: Bond;
}

const KIND_BY_REASON: Readonly<Record<number, AuthFailureKind>> = {
  [PAIR_FAILED.passkeyEntryFailed]: 'passkey',
  [PAIR_FAILED.credentialInvalid]: 'credential',
};

/** The device side of one connection's pairing. */
export class DevicePairing {
  private readonly actor: Actor<typeof pairingMachine>;
  private readonly pairedListeners: Array<(bond: Bond) => void> = [];
  private vault: Vault | undefined;
  private attempts = 0;
  /** The last attempt's budget report. */
  lastBudget: BudgetReport | undefined;

  constructor(
    private readonly deps: DevicePairingDeps,
    private readonly link: MessageLink,
    opts: { readonly onPaired?: (bond: Bond) => void } = {},
  ) {
    if (opts.onPaired) this.pairedListeners.push(opts.onPaired);
    const machine = pairingMachine.provide({ actions: this.actions() });
    this.actor = createActor(machine, { clock: xstateClock(deps.alarm) });
    this.actor.start();
  }

  /** Route the link's pairing messages and its close here (standalone use; a session dispatcher calls handle() itself). */
  attachToLink(): this {
    this.link.setReceiver((m) => {
      if (m[0] !== undefined && isPairingMessageType(m[0])) this.handle(m);
    });
    this.link.setClosedHandler(() => this.linkClosed());
    return this;
  }

  /** Called once per successful pairing, after PAIR_CHECK_D went out, with the stored bond. */
  onPaired(listener: (bond: Bond) => void): void {
    this.pairedListeners.push(listener);
  }

  /** The machine's state, e.g. `idle` or `{"attempt":"computingDhKey"}` (tests, traces). */
  get state(): string {
    const v = this.actor.getSnapshot().value;
    return typeof v === 'string' ? v : JSON.stringify(v);
  }

  /** The actor's status: `active` until the link closed (`done`); `error` would be a bug here. */
  get status(): 'active' | 'done' | 'error' | 'stopped' {
    return this.actor.getSnapshot().status;
  }

  /** One pairing message (type 0x01–0x0F). Never throws on what the peer sent. */
  handle(message: Uint8Array): void {
    const d = decodePairingMessage(message);
    if (!d.ok) {
      this.send({ type: 'pairing.malformed', detail: d.detail });
      return;
    }
    const m = d.value;
    switch (m.type) {
      case 'request': {
        const status = this.deps.lockout.status();
        this.send({
          type: 'pairing.request',
          request: m,
          lockout: { locked: status.locked, remainingS: status.remainingS },
          bondRoom: this.deps.bonds.hasRoomFor(m.clientId),
          busy: this.deps.busy?.() ?? false,
        });
        return;
      }
      case 'random-c':
        return this.send({ type: 'pairing.random', nonce: m.nonce });
      case 'check-c':
        return this.send({ type: 'pairing.check', ea: m.ea });
      case 'passkey-commit-c':
        return this.send({ type: 'passkey.commit', round: m.round, ca: m.value });
      case 'passkey-random-c':
        return this.send({ type: 'passkey.random', round: m.round, nonce: m.nonce });
      case 'failed':
        return this.send({ type: 'pairing.failed', reason: m.reason });
      default:
        // A device → client message sent to the device.
        return this.send({ type: 'pairing.unexpected', messageType: message[0]! });
    }
  }

  /** A button of the device (hal/ui.ts): OK confirms, Cancel refuses; Stop is not pairing's. */
  /** A comparison waits for the device's user: OK and Cancel are this pairing's, not the device's own procedures'. */
  get awaitingUser(): boolean {
    return this.actor.getSnapshot().hasTag('awaiting-user');
  }

  buttonPressed(name: ButtonName): void {
    if (name === 'ok') this.send({ type: 'user.confirmed' });
    else if (name === 'cancel') this.send({ type: 'user.rejected' });
  }

  linkClosed(): void {
    this.send({ type: 'link.closed' });
  }

  private send(event: PairingEvent): void {
    if (this.actor.getSnapshot().status !== 'active') return;
    this.actor.send(event);
  }

  private trace(kind: string, fields: PairingTraceFields): void {
    this.deps.trace?.(kind, fields);
  }

  /** Run `compute` now, deliver its event after its CPU time — unless the attempt has ended meanwhile. */
  private crypto<T>(compute: () => T, done: (r: T) => PairingEvent, failed: (e: unknown) => PairingEvent = () => ({ type: 'crypto.failed' })): void {
    const no = this.vault?.no;
    afterCpu(
      this.deps.alarm,
      this.deps.meter,
      compute,
      (r) => {
        if (this.vault?.no === no) this.send(done(r));
      },
      (e) => {
        if (this.vault?.no === no) this.send(failed(e));
      },
    );
  }

  private need(): Vault {
    // The machine calls these actions only inside an attempt: a missing vault is a bug here.
    if (this.vault === undefined) throw new Error('pairing action outside an attempt');
    return this.vault;
  }

  private random16(): Uint8Array {
    const r = this.deps.entropy.getBytes(16);
    if (!r.ok) throw new CryptoError('params', `TRNG ${r.code}`);
    return r.value;
  }

  /** A uniform passkey 0..999,999 from the TRNG (rejection sampling: no modulo bias). */
  private drawPasskey(): number {
    const limit = Math.floor(2 ** 32 / (PASSKEY_MAX + 1)) * (PASSKEY_MAX + 1);
    for (;;) {
      const r = this.deps.entropy.getBytes(4);
      if (!r.ok) throw new CryptoError('params', `TRNG ${r.code}`);
      const v = new DataView(r.value.buffer, r.value.byteOffset, 4).getUint32(0, true);
      r.value.fill(0);
      if (v < limit) return v % (PASSKEY_MAX + 1);
    }
  }

  private clientIdPrefix(clientId: Uint8Array | undefined): number[] {
    const out = new Array<number>(AUDIT_CLIENT_ID_PREFIX_BYTES).fill(0);
    if (clientId !== undefined) for (let i = 0; i < AUDIT_CLIENT_ID_PREFIX_BYTES; i++) out[i] = clientId[i] ?? 0;
    return out;
  }

  private actions() {
    const d = this.deps;
    const cost = { cost: d.cost };
    type Args = { context: { failure: { reason: number; remainingS: number } | undefined; role: PairedRole | undefined; round: number }; event: PairingEvent };

    const auditFailed = (reason: number, event: PairingEvent): void => {
      const clientId = event.type === 'pairing.request' ? event.request.clientId : this.vault?.request.clientId;
      d.audit(AUDIT_PAIRING_FAILED, undefined, Uint8Array.from([reason, ...this.clientIdPrefix(clientId)]));
      this.trace('pairing.failed', { reason });
    };

    return {
      startAttempt: ({ event }: Args) => {
        if (event.type !== 'pairing.request') return;
        const request = event.request;
        const privileged = request.role !== 'patient';
        this.vault = {
          no: ++this.attempts,
          request,
          a: clientAddress(request.clientId),
          b: deviceAddress(d.identity.serialBytes),
          credentialNotAfterS: 0,
          displayed: false,
          ...(d.ledger ? { budget: (privileged ? PAIRING_BUDGETS.privileged : PAIRING_BUDGETS.patient).start(d.ledger) } : {}),
        };
        this.trace('pairing.request', { method: request.method, role: request.role });
      },

      takeEphemeralKey: () => {
        const v = this.need();
        const no = v.no;
        v.take = d.keys.take(
          (key) => {
            if (this.vault?.no !== no) return;
            v.key = key;
            this.send({ type: 'key.ready' });
          },
          (code) => {
            if (this.vault?.no === no) this.send({ type: 'key.failed', code });
          },
        );
      },

      verifyCredential: () => {
        const v = this.need();
        const nowS = d.clockS ? d.clockS() : Math.floor(d.alarm.nowUs() / 1_000_000);
        this.crypto(
          () =>
            verifyRoleCredential(v.request.credential, {
              role: v.request.role,
              clientId: v.request.clientId,
              nowS,
              clinicalAuthorityPublicKey: d.identity.clinicalAuthorityPublicKey,
              serviceAuthorityPublicKey: d.identity.serviceAuthorityPublicKey,
              cost: d.cost,
            }),
          (r) => {
            if (r.ok) v.credentialNotAfterS = r.value.notAfterS;
            else this.trace('pairing.credential', { refused: r.detail });
            return { type: 'crypto.done', op: 'credential', valid: r.ok };
          },
        );
      },

      computeDhKey: () => {
        const v = this.need();
        const key = v.key;
        if (key === undefined) throw new Error('computeDhKey before key.ready');
        this.crypto(
          () => {
            v.dhKey = p256Ecdh(key.privateKey, v.request.pka, cost);
            if (v.request.method === PAIRING_METHODS.numericComparison) {
              // Numeric comparison: Nb now, so Cb = f4(PKb.x, PKa.x, Nb, 0x00) is in PAIR_RESPONSE (§4.1).
              v.nb = this.random16();
              v.cb = f4(xOf(key.publicKey), xOf(v.request.pka), v.nb, Z_NUMERIC_COMPARISON, cost);
            } else {
              v.passkey = this.drawPasskey();
            }
            return true;
          },
          () => ({ type: 'crypto.done', op: 'dhkey', ok: true }),
          (e) => (e instanceof CryptoError && e.code === 'point' ? { type: 'crypto.done', op: 'dhkey', ok: false } : { type: 'crypto.failed' }),
        );
      },

      sendPairResponse: () => {
        const v = this.need();
        const key = v.key!;
        this.link.send(
          encodePairResponse({
            method: v.request.method,
            certificate: d.identity.certificate,
            pkb: key.publicKey,
            pkbSignature: key.signature,
            cb: v.cb ?? new Uint8Array(16),
          }),
        );
        this.trace('pairing.response', { method: v.request.method });
      },

      sendDeviceRandom: ({ event }: Args) => {
        const v = this.need();
        if (event.type !== 'pairing.random') return;
        v.na = event.nonce.slice();
        this.link.send(encodePairRandomD(v.nb!));
      },

      showComparisonValue: () => {
        const v = this.need();
        const va = g2(xOf(v.request.pka), xOf(v.key!.publicKey), v.na!, v.nb!, cost);
        d.display.showDigits(formatNumericComparison(va));
        v.displayed = true;
      },

      showPasskey: () => {
        const v = this.need();
        d.display.showDigits(formatNumericComparison(v.passkey!));
        v.displayed = true;
      },

      sendDeviceCommitment: ({ context, event }: Args) => {
        const v = this.need();
        if (event.type !== 'passkey.commit') return;
        v.roundCa = event.ca.slice();
        v.roundNb = this.random16();
        const cbi = f4(xOf(v.key!.publicKey), xOf(v.request.pka), v.roundNb, passkeyRoundZ(v.passkey!, context.round), cost);
        this.link.send(encodePasskeyCommitD(context.round, cbi));
      },

      verifyCommitment: ({ context, event }: Args) => {
        const v = this.need();
        if (event.type !== 'passkey.random') return;
        const nai = event.nonce.slice();
        this.crypto(
          () => {
            const expected = f4(xOf(v.request.pka), xOf(v.key!.publicKey), nai, passkeyRoundZ(v.passkey!, context.round), cost);
            return constantTimeEqual(expected, v.roundCa!);
          },
          (matches) => {
            // After round 19, Na = Na₁₉ and Nb = Nb₁₉ (§4.3).
            v.na = nai;
            v.nb = v.roundNb;
            return { type: 'crypto.done', op: 'commitment', matches };
          },
        );
      },

      sendPasskeyRandom: ({ context }: Args) => {
        const v = this.need();
        this.link.send(encodePasskeyRandomD(context.round, v.roundNb!));
      },

      verifyCheck: ({ event }: Args) => {
        const v = this.need();
        if (event.type !== 'pairing.check') return;
        const ea = event.ea.slice();
        this.crypto(
          () => {
            const keys = f5(v.dhKey!, v.na!, v.nb!, v.a, v.b, cost);
            v.macKey = keys.macKey;
            v.ltk = keys.ltk;
            // Core Vol 3 Part H §2.3.5.6.5: Ea = f6(MacKey, Na, Nb, rb, IOcapA, A, B).
            const expected = f6(keys.macKey, v.na!, v.nb!, passkeyR(v.passkey), IOCAP_CLIENT, v.a, v.b, cost);
            return constantTimeEqual(expected, ea);
          },
          (matches) => ({ type: 'crypto.done', op: 'check', matches }),
        );
      },

      storeBond: () => {
        const v = this.need();
        const bond: Bond = {
          clientId: v.request.clientId.slice(),
          role: v.request.role,
          ltk: v.ltk!.slice(),
          createdUs: d.alarm.nowUs(),
          credentialNotAfterS: v.credentialNotAfterS,
        };
        this.crypto(
          () => d.bonds.store(bond),
          (r) => {
            if (!r.ok) return { type: 'bond.failed', code: r.code };
            v.bond = bond;
            return { type: 'bond.stored' };
          },
          () => ({ type: 'bond.failed', code: 'flash' }),
        );
      },

      recordLockoutFailure: ({ context }: Args) => {
        const reason = context.failure?.reason ?? PAIR_FAILED.unspecified;
        d.lockout.recordFailure(KIND_BY_REASON[reason] ?? 'pairing');
      },

      recordLockoutSuccess: () => d.lockout.recordSuccess(),

      auditFailure: ({ context, event }: Args) => auditFailed(context.failure?.reason ?? PAIR_FAILED.unspecified, event),

      auditAbort: ({ event }: Args) => auditFailed(PAIR_FAILED.unspecified, event),

      auditSuccess: () => {
        const v = this.need();
        d.audit(AUDIT_PAIRING_OK, v.request.role, Uint8Array.from([ROLE_CODES[v.request.role], ...this.clientIdPrefix(v.request.clientId)]));
      },

      sendPairFailed: ({ context }: Args) => {
        const f = context.failure ?? { reason: PAIR_FAILED.unspecified, remainingS: 0 };
        this.link.send(encodePairFailed(f.reason, f.remainingS));
      },

      sendPairCheck: () => {
        const v = this.need();
        // Eb = f6(MacKey, Nb, Na, ra, IOcapB, B, A) (§4.4; Core Vol 3 Part H §2.3.5.6.5).
        const eb = f6(v.macKey!, v.nb!, v.na!, passkeyR(v.passkey), IOCAP_DEVICE, v.b, v.a, cost);
        this.link.send(encodePairCheckD(eb, v.request.role));
        this.trace('pairing.paired', { role: v.request.role });
      },

      notifyPaired: () => {
        const v = this.need();
        const bond = v.bond!;
        for (const l of this.pairedListeners) l({ ...bond, clientId: bond.clientId.slice(), ltk: bond.ltk.slice() });
      },

      endAttempt: () => {
        const v = this.vault;
        this.vault = undefined;
        if (v === undefined) return;
        v.take?.cancel();
        if (v.budget) {
          let report: BudgetReport;
          try {
            report = v.budget.end();
          } catch (e) {
            if (!(e instanceof BudgetExceededError)) throw e;
            report = e.report;
          }
          this.lastBudget = report;
          d.onBudget?.(report);
          this.trace('pairing.budget', { budget: report.budget, cpuMs: Math.round(report.cpuMs * 100) / 100, ok: report.ok });
        }
        if (v.displayed) d.display.clear();
        for (const b of [v.dhKey, v.na, v.nb, v.cb, v.roundCa, v.roundNb, v.macKey, v.ltk, v.bond?.ltk]) b?.fill(0);
        // The key pair was this attempt's (§4.1: one attempt each): make the next one.
        if (v.key !== undefined) v.key.privateKey.fill(0);
        d.keys.prepare();
      },
    };
  }
}
