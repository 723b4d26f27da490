// The device's prepared pairing key (docs/protocol.md §4.1): an ephemeral P-256 key pair and the
// identity key's signature over "medtwin-pairkey-v1" ‖ PKb, made ahead so a pairing costs one ECDH.
// Not the ECDH and not the pairing: pairing.machine.ts takes one key per attempt from here.
//
// Made at boot and after every attempt; each key is handed out once and never again (a reused
// ephemeral key would let a peer that learnt one DHKey learn the next). The preparation's CPU —
// key generation ≈ 45 M cycles + signature ≈ 48 M cycles ≈ 1.94 s at 48 MHz — is charged to the
// ledger under the crypto activity, and the key becomes available only once that time has passed
// on the device's clock (afterCpu): a PAIR_REQUEST arriving earlier waits for it.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';
import type { Entropy } from '../../hal/entropy.ts';
import { budget, ecdsaP256Sign, p256Keypair, P256_KEYGEN_ENTROPY_BYTES, type BudgetReport, type CostContext, type MeteredLedger } from '../crypto/index.ts';
import { MedtwinError } from '../errors.ts';
import { afterCpu, type CpuMeter } from './cpu-time.ts';
import { pairKeySignedBytes } from './wire-pairing.ts';

/** One attempt's key: PKb, its private key and the identity signature over it. */
export interface PreparedKey {
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** The preparation's budget, separate from the pairing's (§4.1): keygen + sign ≈ 1.94 s, with headroom. */
export const KEY_PREPARATION_BUDGET = budget('pairing key preparation', { cpuMs: 2_100 });

export interface EphemeralKeysOptions {
  readonly alarm: Alarm;
  readonly meter: CpuMeter;
  readonly cost: CostContext;
  readonly entropy: Entropy;
  readonly identityPrivateKey: Uint8Array;
  /** The device ledger: each preparation is measured against KEY_PREPARATION_BUDGET. */
  readonly ledger?: MeteredLedger;
  /** Each preparation's budget report (figures only, no key material). */
  readonly onPrepared?: (report: BudgetReport | undefined, cpuUs: number) => void;
}

export interface KeyTake {
  /** Give the key back unseen (the attempt ended before it started): it stays for the next attempt. */
  cancel(): void;
}

/** Why no key came: the TRNG failed, the computation failed, or another attempt is already waiting for the key. */
export type KeyFailure = 'entropy' | 'crypto' | 'busy';

type Waiter = { deliver: (key: PreparedKey) => void; failed: (code: KeyFailure) => void; alarm?: AlarmId; done: boolean };

export class EphemeralKeys {
  private ready: PreparedKey | undefined;
  private preparing = false;
  private waiter: Waiter | undefined;
  private readonly identityPrivateKey: Uint8Array;
  /** Preparations completed (a test reads it: one per attempt, plus the boot one). */
  prepared = 0;

  constructor(private readonly opts: EphemeralKeysOptions) {
    this.identityPrivateKey = opts.identityPrivateKey.slice();
  }

  get state(): 'ready' | 'preparing' | 'empty' {
    return this.ready !== undefined ? 'ready' : this.preparing ? 'preparing' : 'empty';
  }

  /** Start making the next key unless one is ready or being made (boot, and after every attempt). */
  prepare(): void {
    if (this.ready !== undefined || this.preparing) return;
    this.preparing = true;
    const { alarm, meter, cost, entropy, ledger } = this.opts;
    const scope = ledger ? KEY_PREPARATION_BUDGET.start(ledger) : undefined;
    let report: BudgetReport | undefined;
    afterCpu(
      alarm,
      meter,
      () => {
        const seed = entropy.getBytes(P256_KEYGEN_ENTROPY_BYTES);
        if (!seed.ok) throw new MedtwinError('entropy', `TRNG ${seed.code}`);
        const pair = p256Keypair(seed.value, { cost });
        seed.value.fill(0);
        const signature = ecdsaP256Sign(this.identityPrivateKey, pairKeySignedBytes(pair.publicKey), { cost });
        return { privateKey: pair.privateKey, publicKey: pair.publicKey, signature };
      },
      (key, cpuUs) => {
        this.preparing = false;
        this.prepared++;
        this.opts.onPrepared?.(report, cpuUs);
        this.ready = key;
        this.handOut();
      },
      (error) => {
        this.preparing = false;
        const w = this.waiter;
        this.waiter = undefined;
        if (w !== undefined && !w.done) {
          w.done = true;
          w.failed(error instanceof MedtwinError && error.code === 'entropy' ? 'entropy' : 'crypto');
        }
      },
    );
    // afterCpu ran compute at once and delivers later: the scope's figures are final now, before
    // anything else the device does in the next ~2 s is charged to the same ledger.
    report = scope?.report();
  }

  /**
   * Take the next key, delivered from the alarm (never inside this call) as soon as it is
   * ready: at once if prepared, else when the preparation's CPU time has passed. One taker at
   * a time (one pairing at a time per device); the key is the taker's alone. A second taker
   * while one waits (a pairing on another connection) gets `busy`, also from the alarm.
   */
  take(deliver: (key: PreparedKey) => void, failed: (code: KeyFailure) => void): KeyTake {
    if (this.waiter !== undefined && !this.waiter.done) {
      const id = this.opts.alarm.setAlarm(0, () => failed('busy'));
      return { cancel: () => this.opts.alarm.cancel(id) };
    }
    const w: Waiter = { deliver, failed, done: false };
    this.waiter = w;
    if (this.ready !== undefined) this.handOut();
    else this.prepare();
    return {
      cancel: () => {
        if (w.done) return;
        w.done = true;
        if (w.alarm !== undefined) this.opts.alarm.cancel(w.alarm);
        if (this.waiter === w) this.waiter = undefined;
      },
    };
  }

  private handOut(): void {
    const w = this.waiter;
    if (w === undefined || w.done || w.alarm !== undefined || this.ready === undefined) return;
    // Reserved now, handed over from the alarm: cancel before then leaves it unseen and ready.
    w.alarm = this.opts.alarm.setAlarm(0, () => {
      const key = this.ready;
      if (w.done || key === undefined) return;
      w.done = true;
      this.ready = undefined;
      if (this.waiter === w) this.waiter = undefined;
      w.deliver(key);
    });
  }
}
