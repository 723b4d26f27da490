// The lockout as firmware uses it: its flash record (STORE_KEYS.lockout) and the `Lockout` service
// that persists every failure before it is answered (docs/protocol.md §8). Not the policy: lockout.machine.ts.
//
// Record, 12 bytes, little-endian (version 1):
//   +0  version   u8  = 1
//   +1  failures  u16 consecutive failures since the last success
//   +3  level     u8  lockouts since the last success, 0..LOCKOUT_MAX_LEVEL
//   +4  deadline  u64 end of the current/last lockout, device time µs; 0 = none

import { createActor, type Actor } from 'xstate';
import type { Alarm } from '../../hal/alarm.ts';
import type { RecordStore, RecordStoreErrorCode } from '../storage/record-store.ts';
import type { AuditSink, AuthFailureKind, LockoutPort, LockoutStatus } from '../session/ports.ts';
import { xstateClock } from '../sim/xstate-clock.ts';
import { STORE_KEYS } from './store-keys.ts';
import {
  LOCKOUT_MAX_FAILURES,
  LOCKOUT_MAX_LEVEL,
  LOCKOUT_THRESHOLD,
  UNLOCKED_STATE,
  lockoutDurationUs,
  lockoutMachine,
  type LockoutCause,
  type LockoutEmitted,
  type LockoutState,
} from './lockout.machine.ts';

export const LOCKOUT_RECORD_VERSION = 1;
export const LOCKOUT_RECORD_BYTES = 12;
/** Deadlines are JS numbers of µs: 2⁵³ µs is 285 years of uptime, so anything above is corrupt. */
const MAX_DEADLINE_US = BigInt(Number.MAX_SAFE_INTEGER);

export type LockoutDecodeCode = 'length' | 'version' | 'level' | 'deadline' | 'inconsistent';
export type LockoutDecodeResult = { ok: true; value: LockoutState } | { ok: false; code: LockoutDecodeCode; detail: string };

const isUint = (n: number, max: number): boolean => Number.isInteger(n) && n >= 0 && n <= max;

export function encodeLockoutState(state: LockoutState): Uint8Array {
  if (!isUint(state.failures, LOCKOUT_MAX_FAILURES) || !isUint(state.level, LOCKOUT_MAX_LEVEL) || !isUint(state.deadlineUs, Number.MAX_SAFE_INTEGER)) {
    // The machine saturates every field, so this is a bug, not an input.
    throw new RangeError(`lockout state out of range: ${JSON.stringify(state)}`);
  }
  const bytes = new Uint8Array(LOCKOUT_RECORD_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, LOCKOUT_RECORD_VERSION);
  view.setUint16(1, state.failures, true);
  view.setUint8(3, state.level);
  view.setBigUint64(4, BigInt(state.deadlineUs), true);
  return bytes;
}

/** Strict: anything a version-1 writer could not have produced is refused with a code. */
export function decodeLockoutState(bytes: Uint8Array): LockoutDecodeResult {
  if (bytes.length !== LOCKOUT_RECORD_BYTES) return { ok: false, code: 'length', detail: `${bytes.length} bytes, expected ${LOCKOUT_RECORD_BYTES}` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  if (version !== LOCKOUT_RECORD_VERSION) return { ok: false, code: 'version', detail: `version ${version}` };
  const failures = view.getUint16(1, true);
  const level = view.getUint8(3);
  if (level > LOCKOUT_MAX_LEVEL) return { ok: false, code: 'level', detail: `level ${level} > ${LOCKOUT_MAX_LEVEL}` };
  const deadline = view.getBigUint64(4, true);
  if (deadline > MAX_DEADLINE_US) return { ok: false, code: 'deadline', detail: `deadline ${deadline} µs` };
  const deadlineUs = Number(deadline);
  // The machine only ever writes: level 0 with no deadline and fewer failures than the
  // threshold, or level ≥ 1 with a deadline (a success resets all three together).
  const consistent = level === 0 ? deadlineUs === 0 && failures < LOCKOUT_THRESHOLD : deadlineUs > 0 && failures >= LOCKOUT_THRESHOLD;
  if (!consistent) return { ok: false, code: 'inconsistent', detail: `failures ${failures}, level ${level}, deadline ${deadlineUs} µs` };
  return { ok: true, value: { failures, level, deadlineUs } };
}

/**
 * What a corrupt record is read as: locked at the highest level, from now. A corrupt record cannot
 * be told apart from an attack on the counter (a glitched or half-rewritten flash word); reading it
 * as "unlocked" would hand an attacker fresh attempts, so it costs at most one hour of refused
 * pairing and sessions instead — therapy is not affected, and Stop on the device still works (§8).
 */
export function mostConservativeState(nowUs: number): LockoutState {
  return { failures: LOCKOUT_THRESHOLD, level: LOCKOUT_MAX_LEVEL, deadlineUs: nowUs + lockoutDurationUs(LOCKOUT_MAX_LEVEL) };
}

/** On flash in the audit record's detail (docs/protocol.md §9): which failure started a lockout. */
export const LOCKOUT_CAUSE_CODES: Readonly<Record<LockoutCause, number>> = {
  pairing: 1,
  passkey: 2,
  credential: 3,
  'session-proof': 4,
  'break-glass': 5,
  'corrupt-state': 0xff,
};

/** Audit codes this service writes (the table is in audit-log.ts; not imported, see the class doc). */
const AUDIT_LOCKOUT_STARTED = 0x0030;
const AUDIT_LOCKOUT_ENDED = 0x0031;

/** Where the state came from when the service started. */
export type LockoutBoot =
  | { readonly source: 'fresh' | 'restored' }
  | { readonly source: 'corrupt'; readonly code: LockoutDecodeCode; readonly detail: string };

/** A failed flash write of the lockout record: the RAM state still applies until the next reboot. */
export type LockoutPersist = { readonly ok: true } | { readonly ok: false; readonly code: RecordStoreErrorCode; readonly detail?: string };

export interface LockoutAnswer extends LockoutStatus {
  /** Whether the new state reached flash before this answer (§8). */
  readonly persisted: LockoutPersist;
}

export interface LockoutOptions {
  readonly store: RecordStore;
  /** The device's clock and timers; the lockout timer runs on it. */
  readonly alarm: Alarm;
  /** Audit sink (docs/protocol.md §9): lockout.started, lockout.ended. */
  readonly audit: AuditSink;
}

/**
 * The lockout service: one per device, created at boot from flash.
 *
 * Order of a failure: the machine decides, the new state is written to flash, then the audit
 * record, then the answer. Side effects never run inside XState's processing: a power cut
 * (PowerCutError) must reach the caller like the chip dying, and XState would catch it and
 * re-throw it from a real setTimeout. So the machine only emits; the emitted events are
 * queued and run after `send` returns, or after the timer callback (for `lockout.ended`).
 *
 * The audit sink is injected rather than the audit log imported, so the composition decides
 * where records go (and tests can watch them).
 */
export class Lockout implements LockoutPort {
  readonly boot: LockoutBoot;
  private readonly store: RecordStore;
  private readonly alarm: Alarm;
  private readonly audit: AuditSink;
  private readonly actor: Actor<typeof lockoutMachine>;
  private readonly effects: LockoutEmitted[] = [];

  constructor(opts: LockoutOptions) {
    this.store = opts.store;
    this.alarm = opts.alarm;
    this.audit = opts.audit;
    const nowUs = this.alarm.nowUs();
    const raw = this.store.get(STORE_KEYS.lockout);
    let state: LockoutState = UNLOCKED_STATE;
    if (raw === undefined) this.boot = { source: 'fresh' };
    else {
      const decoded = decodeLockoutState(raw);
      if (decoded.ok) {
        state = decoded.value;
        this.boot = { source: 'restored' };
      } else {
        state = mostConservativeState(nowUs);
        this.boot = { source: 'corrupt', code: decoded.code, detail: decoded.detail };
      }
    }
    // The lockout's timer fires inside XState; its effects run right after, outside it.
    const clock = xstateClock(this.alarm, () => this.flush());
    this.actor = createActor(lockoutMachine, { input: { state, nowUs }, clock });
    this.actor.on('*', (e) => this.effects.push(e));
    this.actor.start();
    if (this.boot.source === 'corrupt') {
      // Write the conservative state back, so the hour is counted once and not again from every boot.
      this.persist();
      this.audit(AUDIT_LOCKOUT_STARTED, undefined, startedDetail('corrupt-state', state.level, lockoutDurationUs(state.level) / 1e6, state.failures));
    }
  }

  /**
   * Count a failed pairing, passkey, credential, session proof or break-glass proof (§8). The new
   * state is on flash when this returns, so the peer's answer (PAIR_FAILED / SESSION_FAILED,
   * 0x83 / 0x03 when now locked) goes out only after it.
   */
  recordFailure(kind: AuthFailureKind): LockoutAnswer {
    this.catchUp();
    this.actor.send({ type: 'auth.failed', kind, nowUs: this.alarm.nowUs() });
    const persisted = this.persist();
    this.flush();
    return { ...this.status(), persisted };
  }

  /**
   * A successful pairing or session proof (never break-glass: §7, it does not lift a lockout).
   * Ignored while locked — only the deadline ends a lockout. Writes only when there is something
   * to reset, so an ordinary session start costs no flash wear.
   */
  recordSuccess(): void {
    this.catchUp();
    const before = this.state();
    this.actor.send({ type: 'auth.succeeded', nowUs: this.alarm.nowUs() });
    const after = this.state();
    if (before.failures !== after.failures || before.level !== after.level || before.deadlineUs !== after.deadlineUs) this.persist();
    this.flush();
  }

  status(): LockoutStatus {
    this.catchUp();
    const snap = this.actor.getSnapshot();
    const locked = snap.matches('locked');
    const remainingUs = locked ? snap.context.deadlineUs - this.alarm.nowUs() : 0;
    // Rounded up: a client that waits the announced seconds is never refused again (§4.5).
    const remainingS = Math.max(0, Math.ceil(remainingUs / 1e6));
    return { locked, remainingS, failures: snap.context.failures, level: snap.context.level };
  }

  /** The persisted fields as the machine holds them (what the next write stores). */
  state(): LockoutState {
    const { failures, level, deadlineUs } = this.actor.getSnapshot().context;
    return { failures, level, deadlineUs };
  }

  /** Stop the machine and its timer (a reboot in tests; the next boot builds a new Lockout). */
  stop(): void {
    this.actor.stop();
  }

  /**
   * The timer and a caller can fall on the same microsecond; whichever the scheduler runs first,
   * a caller at or past the deadline sees the lockout ended (the guard still checks the time).
   */
  private catchUp(): void {
    const snap = this.actor.getSnapshot();
    const nowUs = this.alarm.nowUs();
    if (snap.matches('locked') && nowUs >= snap.context.deadlineUs) {
      this.actor.send({ type: 'lockout.expired', nowUs });
      this.flush();
    }
  }

  private persist(): LockoutPersist {
    const r = this.store.put(STORE_KEYS.lockout, encodeLockoutState(this.state()));
    return r.ok ? { ok: true } : r.detail === undefined ? { ok: false, code: r.code } : { ok: false, code: r.code, detail: r.detail };
  }

  private flush(): void {
    for (let e = this.effects.shift(); e !== undefined; e = this.effects.shift()) {
      if (e.type === 'lockout.started') this.audit(AUDIT_LOCKOUT_STARTED, undefined, startedDetail(e.cause, e.level, e.durationS, e.failures));
      else this.audit(AUDIT_LOCKOUT_ENDED, undefined, endedDetail(e.level, e.failures));
    }
  }
}

/** lockout.started detail (§9): cause u8 ‖ level u8 ‖ durationS u16 ‖ failures u16, little-endian. */
function startedDetail(cause: LockoutCause, level: number, durationS: number, failures: number): Uint8Array {
  const d = new Uint8Array(6);
  const v = new DataView(d.buffer);
  v.setUint8(0, LOCKOUT_CAUSE_CODES[cause]);
  v.setUint8(1, level);
  v.setUint16(2, durationS, true);
  v.setUint16(4, failures, true);
  return d;
}

/** lockout.ended detail (§9): level u8 ‖ failures u16, little-endian. */
function endedDetail(level: number, failures: number): Uint8Array {
  const d = new Uint8Array(3);
  const v = new DataView(d.buffer);
  v.setUint8(0, level);
  v.setUint16(1, failures, true);
  return d;
}
