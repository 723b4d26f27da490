// Tests for the lockout policy (docs/protocol.md §8) on the world clock, its flash record, and the
// Lockout service across reboots. Not the power-cut enumeration (lockout-power-cut.test.ts).

import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS, decodeAuditRecord, verifyAuditChain } from '../../src/firmware/audit-log.ts';
import { LOCKOUT_MAX_LEVEL, lockoutDurationUs, type LockoutState } from '../../src/firmware/lockout.machine.ts';
import {
  LOCKOUT_CAUSE_CODES,
  Lockout,
  decodeLockoutState,
  encodeLockoutState,
  mostConservativeState,
} from '../../src/firmware/lockout-store.ts';
import { STORE_KEYS } from '../../src/firmware/store-keys.ts';
import { auditSinkOf, hash, recordingSink, rig, SERIAL, US_PER_S, type Rig } from './fixtures.ts';

function boot(r: Rig) {
  const store = r.openStore();
  const { sink, seen } = recordingSink(r.world);
  const lockout = new Lockout({ store, alarm: r.world.alarm(), audit: sink });
  return { store, lockout, seen };
}

/** Fail `n` times, one second apart (the time a real attempt would take is irrelevant here). */
function failTimes(lockout: Lockout, r: Rig, n: number): void {
  for (let i = 0; i < n; i++) {
    r.world.runFor(US_PER_S);
    lockout.recordFailure('pairing');
  }
}

describe('lockout policy (§8)', () => {
  it('4 failures do not lock; the 5th locks for exactly 60 s, ended by the deadline on the clock', () => {
    const r = rig();
    const { lockout, seen } = boot(r);
    failTimes(lockout, r, 4);
    expect(lockout.status()).toEqual({ locked: false, remainingS: 0, failures: 4, level: 0 });
    r.world.runFor(US_PER_S);
    const at = r.world.nowUs;
    const answer = lockout.recordFailure('session-proof');
    expect(answer).toEqual({ locked: true, remainingS: 60, failures: 5, level: 1, persisted: { ok: true } });
    expect(lockout.state().deadlineUs).toBe(at + 60 * US_PER_S);
    // Remaining seconds round up: 1 µs into the lockout, 60 s are still announced; 1 µs before
    // the end, 1 s.
    r.world.runUntil(at + 1);
    expect(lockout.status().remainingS).toBe(60);
    r.world.runUntil(at + 60 * US_PER_S - 1);
    expect(lockout.status()).toMatchObject({ locked: true, remainingS: 1 });
    r.world.runUntil(at + 60 * US_PER_S);
    expect(lockout.status()).toEqual({ locked: false, remainingS: 0, failures: 5, level: 1 });
    expect(seen.map((a) => [a.event, a.atUs])).toEqual([
      [AUDIT_EVENTS['lockout.started'], at],
      [AUDIT_EVENTS['lockout.ended'], at + 60 * US_PER_S],
    ]);
    // cause session-proof, level 1, 60 s, 5 failures; ended: level 1, 5 failures.
    expect(seen[0]!.detail).toEqual([LOCKOUT_CAUSE_CODES['session-proof'], 1, 60, 0, 5, 0]);
    expect(seen[1]!.detail).toEqual([1, 5, 0]);
  });

  it('fires the expiry from the timer at exactly the deadline, with nothing else calling in', () => {
    const r = rig();
    const { lockout, seen } = boot(r);
    failTimes(lockout, r, 5);
    const deadline = lockout.state().deadlineUs;
    r.world.runUntil(deadline - 1);
    expect(seen.length).toBe(1);
    r.world.runUntil(deadline + 10 * US_PER_S);
    expect(seen.map((a) => [a.event, a.atUs])[1]).toEqual([AUDIT_EVENTS['lockout.ended'], deadline]);
  });

  it('doubles each lockout after the first while no success comes: 120, 240, … up to 3,600 s', () => {
    const r = rig();
    const { lockout } = boot(r);
    failTimes(lockout, r, 5);
    const durations: number[] = [];
    const levels: number[] = [];
    for (let i = 0; i < 9; i++) {
      r.world.runUntil(lockout.state().deadlineUs); // the timer ends it
      expect(lockout.status().locked).toBe(false);
      r.world.runFor(7 * US_PER_S);
      const at = r.world.nowUs;
      const answer = lockout.recordFailure('passkey'); // one failure is enough now
      expect(answer.locked).toBe(true);
      durations.push((lockout.state().deadlineUs - at) / US_PER_S);
      expect(answer.remainingS).toBe(durations[durations.length - 1]);
      levels.push(answer.level);
    }
    expect(durations).toEqual([120, 240, 480, 960, 1_920, 3_600, 3_600, 3_600, 3_600]);
    expect(levels).toEqual([2, 3, 4, 5, 6, 7, 7, 7, 7]);
    expect(lockoutDurationUs(LOCKOUT_MAX_LEVEL)).toBe(3_600 * US_PER_S);
  });

  it('a success resets the count and the doubling', () => {
    const r = rig();
    const { lockout } = boot(r);
    failTimes(lockout, r, 5);
    r.world.runUntil(lockout.state().deadlineUs);
    failTimes(lockout, r, 1); // 120 s
    r.world.runUntil(lockout.state().deadlineUs);
    lockout.recordSuccess();
    expect(lockout.status()).toEqual({ locked: false, remainingS: 0, failures: 0, level: 0 });
    expect(lockout.state()).toEqual({ failures: 0, level: 0, deadlineUs: 0 });
    failTimes(lockout, r, 4);
    expect(lockout.status().locked).toBe(false);
    failTimes(lockout, r, 1);
    expect(lockout.status()).toMatchObject({ locked: true, remainingS: 60, level: 1 });
  });

  it('a success while locked changes nothing: only the deadline ends a lockout', () => {
    const r = rig();
    const { lockout } = boot(r);
    failTimes(lockout, r, 5);
    const before = lockout.state();
    r.world.runFor(10 * US_PER_S);
    lockout.recordSuccess();
    expect(lockout.state()).toEqual(before);
    expect(lockout.status()).toMatchObject({ locked: true, remainingS: 50 });
  });

  it('a failure during a lockout (a break-glass proof) is counted but does not move the deadline', () => {
    const r = rig();
    const { lockout } = boot(r);
    failTimes(lockout, r, 5);
    const deadline = lockout.state().deadlineUs;
    r.world.runFor(10 * US_PER_S);
    const answer = lockout.recordFailure('break-glass');
    expect(answer).toMatchObject({ locked: true, remainingS: 50, failures: 6, level: 1 });
    expect(lockout.state().deadlineUs).toBe(deadline);
  });

  it('sees the lockout ended when called at the deadline, before the timer event runs', () => {
    const r = rig();
    const { lockout } = boot(r);
    failTimes(lockout, r, 5);
    const deadline = lockout.state().deadlineUs;
    // Another event due at the same instant, scheduled before the lockout's timer: it runs first.
    let seen: ReturnType<Lockout['status']> | undefined;
    r.world.scheduler.scheduleAt(deadline, () => (seen = lockout.status()));
    r.world.runUntil(deadline);
    expect(seen).toEqual({ locked: false, remainingS: 0, failures: 5, level: 1 });
  });

  it('writes flash only when a success has something to reset', () => {
    const r = rig();
    const { lockout } = boot(r);
    const ops = r.flash.opsCount;
    lockout.recordSuccess();
    expect(r.flash.opsCount).toBe(ops);
    failTimes(lockout, r, 1);
    const afterFailure = r.flash.opsCount;
    expect(afterFailure).toBeGreaterThan(ops);
    lockout.recordSuccess();
    expect(r.flash.opsCount).toBeGreaterThan(afterFailure);
  });
});

describe('lockout across a reboot', () => {
  it('is still locked after a reboot, with the same deadline, and the re-armed timer ends it on time', () => {
    const r = rig();
    const first = boot(r);
    failTimes(first.lockout, r, 5);
    const state = first.lockout.state();
    r.world.runFor(20 * US_PER_S);
    first.lockout.stop(); // the chip resets: RAM and its timers are gone

    const second = boot(r);
    expect(second.lockout.boot).toEqual({ source: 'restored' });
    expect(second.lockout.state()).toEqual(state);
    expect(second.lockout.status()).toEqual({ locked: true, remainingS: 40, failures: 5, level: 1 });
    r.world.runUntil(state.deadlineUs - 1);
    expect(second.seen).toEqual([]);
    r.world.runUntil(state.deadlineUs);
    expect(second.seen.map((a) => [a.event, a.atUs])).toEqual([[AUDIT_EVENTS['lockout.ended'], state.deadlineUs]]);
    // The doubling survived too: the next failure locks for 120 s.
    r.world.runFor(US_PER_S);
    expect(second.lockout.recordFailure('pairing')).toMatchObject({ locked: true, remainingS: 120, level: 2 });
  });

  it('comes back unlocked if the deadline passed while it was off, keeping the level', () => {
    const r = rig();
    const first = boot(r);
    failTimes(first.lockout, r, 5);
    const { deadlineUs } = first.lockout.state();
    first.lockout.stop();
    r.world.runUntil(deadlineUs + 5 * US_PER_S);
    const second = boot(r);
    expect(second.lockout.status()).toEqual({ locked: false, remainingS: 0, failures: 5, level: 1 });
    expect(second.lockout.recordFailure('pairing')).toMatchObject({ locked: true, remainingS: 120 });
  });

  it('bounds a deadline too far ahead (clock restarted) to the full lockout from now', () => {
    const r = rig();
    const store = r.openStore();
    r.world.runUntil(1_000 * US_PER_S);
    store.put(STORE_KEYS.lockout, encodeLockoutState({ failures: 5, level: 1, deadlineUs: 1_000_000 * US_PER_S }));
    const lockout = new Lockout({ store, alarm: r.world.alarm(), audit: () => {} });
    expect(lockout.status()).toMatchObject({ locked: true, remainingS: 60 });
  });

  it('reads a corrupt record as locked at the top level from now, writes that back, and audits it', () => {
    const r = rig();
    const store = r.openStore();
    r.world.runUntil(500 * US_PER_S);
    store.put(STORE_KEYS.lockout, Uint8Array.of(1, 2, 3));
    const { sink, seen } = recordingSink(r.world);
    const lockout = new Lockout({ store, alarm: r.world.alarm(), audit: sink });
    expect(lockout.boot).toMatchObject({ source: 'corrupt', code: 'length' });
    expect(lockout.status()).toEqual({ locked: true, remainingS: 3_600, failures: 5, level: LOCKOUT_MAX_LEVEL });
    expect(decodeLockoutState(store.get(STORE_KEYS.lockout)!)).toEqual({ ok: true, value: mostConservativeState(500 * US_PER_S) });
    expect(seen.map((a) => [a.event, a.detail])).toEqual([[AUDIT_EVENTS['lockout.started'], [0xff, 7, 0x10, 0x0e, 5, 0]]]);
    // A later boot restores the rewritten record: the hour is not restarted.
    lockout.stop();
    r.world.runFor(600 * US_PER_S);
    expect(new Lockout({ store: r.openStore(), alarm: r.world.alarm(), audit: () => {} }).status()).toMatchObject({ locked: true, remainingS: 3_000 });
  });

  it('audits into the real audit log on the same store, and the chain verifies', () => {
    const r = rig();
    const store = r.openStore();
    const log = r.openAudit(store);
    const lockout = new Lockout({ store, alarm: r.world.alarm(), audit: auditSinkOf(log) });
    failTimes(lockout, r, 5);
    r.world.runUntil(lockout.state().deadlineUs);
    const records = r.openAudit(r.openStore()).read(1, 10);
    expect(records.map((b) => decodeAuditRecord(b)).map((d) => d.ok && d.value.event)).toEqual([AUDIT_EVENTS['lockout.started'], AUDIT_EVENTS['lockout.ended']]);
    expect(verifyAuditChain(records, { serial: SERIAL, hash })).toMatchObject({ ok: true, count: 2 });
  });
});

describe('lockout record codec', () => {
  const valid: LockoutState[] = [
    { failures: 0, level: 0, deadlineUs: 0 },
    { failures: 4, level: 0, deadlineUs: 0 },
    { failures: 5, level: 1, deadlineUs: 60_000_001 },
    { failures: 0xffff, level: 7, deadlineUs: Number.MAX_SAFE_INTEGER },
  ];

  it.each(valid)('round-trips %j', (state) => {
    const bytes = encodeLockoutState(state);
    expect(bytes.length).toBe(12);
    expect(decodeLockoutState(bytes)).toEqual({ ok: true, value: state });
  });

  it('lays the record out as version, failures u16, level u8, deadline u64, little-endian', () => {
    const bytes = encodeLockoutState({ failures: 0x0102, level: 3, deadlineUs: 0x0a0b0c0d0e });
    expect([...bytes]).toEqual([1, 0x02, 0x01, 3, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0, 0, 0]);
  });

  const good = [...encodeLockoutState({ failures: 5, level: 1, deadlineUs: 1 })];
  it.each([
    { name: 'too short', bytes: good.slice(0, 11), code: 'length' },
    { name: 'too long', bytes: [...good, 0], code: 'length' },
    { name: 'empty', bytes: [], code: 'length' },
    { name: 'version 2', bytes: [2, ...good.slice(1)], code: 'version' },
    { name: 'erased flash', bytes: new Array(12).fill(0xff), code: 'version' },
    { name: 'level 8', bytes: [1, 5, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0], code: 'level' },
    { name: 'deadline beyond 2^53 µs', bytes: [1, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0x20, 0], code: 'deadline' },
    { name: 'level 0 with a deadline', bytes: [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], code: 'inconsistent' },
    { name: 'level 0 with 5 failures', bytes: [1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], code: 'inconsistent' },
    { name: 'level 1 without a deadline', bytes: [1, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], code: 'inconsistent' },
    { name: 'level 1 with 4 failures', bytes: [1, 4, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0], code: 'inconsistent' },
  ])('refuses $name with $code', ({ bytes, code }) => {
    expect(decodeLockoutState(Uint8Array.from(bytes))).toMatchObject({ ok: false, code });
  });
});
