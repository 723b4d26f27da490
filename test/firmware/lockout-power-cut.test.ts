// A power cut at every flash program/erase boundary of the lockout's updates: after the reboot the
// lockout is the old state or the new one, never less locked (docs/protocol.md §8). Not the policy tests.

import { describe, expect, it } from 'vitest';
import { KW31Z_SECTOR_BYTES, Kw31zFlash, PowerCutError } from '../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../hal/kw31z/ledger.ts';
import { AuditLog, verifyAuditChain } from '../../src/firmware/audit-log.ts';
import type { LockoutState } from '../../src/firmware/lockout.machine.ts';
import { Lockout } from '../../src/firmware/lockout-store.ts';
import { RING_LOGS } from '../../src/firmware/store-keys.ts';
import { World } from '../../src/sim/world.ts';
import { RecordStore } from '../../src/storage/record-store.ts';
import { auditSinkOf, hash, must, SERIAL, US_PER_S } from './fixtures.ts';

/** Three sectors: the script below wraps them several times, so GC boundaries are cut too. */
const SECTORS = 3;

type Op = { kind: 'failure' } | { kind: 'success' } | { kind: 'wait'; us: number } | { kind: 'untilDeadline' };

/** Failures in runs that reach lockouts and doublings, successes that reset, waits that let them end. */
function script(rounds: number): Op[] {
  const ops: Op[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < 5; i++) ops.push({ kind: 'failure' }, { kind: 'wait', us: 3 * US_PER_S });
    ops.push({ kind: 'failure' }); // during the lockout
    ops.push({ kind: 'untilDeadline' }, { kind: 'wait', us: US_PER_S }, { kind: 'failure' }); // doubled
    ops.push({ kind: 'untilDeadline' }, { kind: 'wait', us: US_PER_S });
    if (r % 3 !== 2) ops.push({ kind: 'success' }); // every third round keeps its level
    ops.push({ kind: 'wait', us: 2 * US_PER_S });
  }
  return ops;
}

interface Device {
  readonly world: World;
  readonly flash: Kw31zFlash;
  lockout: Lockout;
  log: AuditLog;
}

function newFlash(world: World): Kw31zFlash {
  return new Kw31zFlash({ device: 'dev', ledger: new Kw31zLedger('dev', () => world.nowUs), sizeBytes: SECTORS * KW31Z_SECTOR_BYTES });
}

/** Boot the firmware pieces on `flash`: store, audit log, lockout (the audit goes to the log). */
function bootOn(world: World, flash: Kw31zFlash): Device {
  const store = must(RecordStore.open(flash, { firstSector: 0, sectorCount: SECTORS, ringLogs: RING_LOGS }));
  const log = must(AuditLog.open({ store, serial: SERIAL, hash, clock: world.alarm() }));
  const lockout = new Lockout({ store, alarm: world.alarm(), audit: auditSinkOf(log) });
  return { world, flash, lockout, log };
}

function apply(d: Device, op: Op): void {
  if (op.kind === 'failure') d.lockout.recordFailure('pairing');
  else if (op.kind === 'success') d.lockout.recordSuccess();
  else if (op.kind === 'wait') d.world.runFor(op.us);
  else d.world.runUntil(Math.max(d.world.nowUs, d.lockout.state().deadlineUs));
}

function imageOf(flash: Kw31zFlash): Uint8Array {
  const r = flash.read(0, flash.geometry.sizeBytes);
  if (!r.ok) throw new Error('read');
  return r.value;
}

/** A fresh chip whose flash holds `image` (programmed sector by sector; erased bytes stay erased). */
function flashWith(world: World, image: Uint8Array): Kw31zFlash {
  const flash = newFlash(world);
  for (let s = 0; s < SECTORS; s++) {
    const r = flash.program(s * KW31Z_SECTOR_BYTES, image.subarray(s * KW31Z_SECTOR_BYTES, (s + 1) * KW31Z_SECTOR_BYTES));
    if (!r.ok) throw new Error(`program: ${r.code}`);
  }
  return flash;
}

interface Checkpoint {
  readonly opIndex: number;
  readonly atUs: number;
  readonly image: Uint8Array;
  readonly before: LockoutState;
  readonly after: LockoutState;
  /** Flash operations the uncut op took. */
  readonly ops: number;
  /** The op erased a sector (garbage collection ran inside it). */
  readonly collected: boolean;
}

/** Run the script uncut and remember, before every flash-writing op, the image, the time and both states. */
function checkpoints(ops: readonly Op[]): { points: Checkpoint[]; erases: number } {
  const world = new World({ seed: 7 });
  const d = bootOn(world, newFlash(world));
  const points: Checkpoint[] = [];
  ops.forEach((op, opIndex) => {
    if (op.kind !== 'failure' && op.kind !== 'success') return apply(d, op);
    const image = imageOf(d.flash);
    const before = d.lockout.state();
    const opsBefore = d.flash.opsCount;
    const erasesBefore = sum(d.flash.eraseCounts());
    apply(d, op);
    const collected = sum(d.flash.eraseCounts()) > erasesBefore;
    points.push({ opIndex, atUs: world.nowUs, image, before, after: d.lockout.state(), ops: d.flash.opsCount - opsBefore, collected });
  });
  return { points, erases: sum(d.flash.eraseCounts()) };
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

const lockedAt = (s: LockoutState, nowUs: number) => s.deadlineUs > nowUs;

describe('lockout power cut at every flash operation of its update', () => {
  it('comes back as the old state or the new one after a cut anywhere in recordFailure / recordSuccess', () => {
    const ops = script(20);
    const { points, erases } = checkpoints(ops);
    // The script must make the store collect garbage, so cuts inside GC are enumerated too.
    expect(erases).toBeGreaterThanOrEqual(SECTORS);
    expect(points.filter((p) => p.collected && ops[p.opIndex]!.kind === 'failure').length).toBeGreaterThan(0);
    expect(points.filter((p) => ops[p.opIndex]!.kind === 'failure').length).toBeGreaterThan(90);
    let cuts = 0;
    let sawOld = 0;
    let sawNew = 0;
    for (const p of points) {
      const op = ops[p.opIndex]!;
      for (let k = 0; k <= p.ops; k++) {
        const world = new World({ seed: 7 });
        world.runUntil(p.atUs);
        const flash = flashWith(world, p.image);
        const d = bootOn(world, flash);
        expect(d.lockout.state()).toEqual(p.before);
        flash.armPowerCut(k);
        let cut = false;
        try {
          apply(d, op);
        } catch (e) {
          if (!(e instanceof PowerCutError)) throw e;
          cut = true;
        }
        expect(cut).toBe(k < p.ops);
        d.lockout.stop(); // RAM and timers are lost with the power
        flash.restorePower();
        cuts += 1;

        const rebooted = bootOn(world, flash);
        const seen = rebooted.lockout.state();
        const where = `op ${p.opIndex} (${op.kind}), cut after ${k} of ${p.ops} flash ops`;
        const isOld = JSON.stringify(seen) === JSON.stringify(p.before);
        const isNew = JSON.stringify(seen) === JSON.stringify(p.after);
        if (!isOld && !isNew) throw new Error(`${where}: ${JSON.stringify(seen)}, expected ${JSON.stringify(p.before)} or ${JSON.stringify(p.after)}`);
        if (isOld && !isNew) sawOld += 1;
        if (isNew && !isOld) sawNew += 1;
        if (op.kind === 'failure') {
          // Never less locked than before the failure: same or later deadline, same or more counts.
          expect(seen.failures, where).toBeGreaterThanOrEqual(p.before.failures);
          expect(seen.level, where).toBeGreaterThanOrEqual(p.before.level);
          expect(seen.deadlineUs, where).toBeGreaterThanOrEqual(p.before.deadlineUs);
          if (lockedAt(p.before, world.nowUs)) expect(rebooted.lockout.status().locked, where).toBe(true);
        }
        if (k === p.ops) expect(isNew, where).toBe(true);
        // The audit log survived too: it reopens and its chain verifies.
        const records = rebooted.log.read(1, 1_000);
        const verdict = verifyAuditChain(records, { serial: SERIAL, hash });
        if (!verdict.ok) throw new Error(`${where}: audit chain ${verdict.code} at ${verdict.atSeq}`);
        rebooted.lockout.stop();
      }
    }
    // Both outcomes occur, so the enumeration really cut before and after the commit.
    expect(sawOld).toBeGreaterThan(0);
    expect(sawNew).toBeGreaterThan(0);
    expect(cuts).toBeGreaterThan(500);
  });

  it('re-arms the timer after a cut that left the lockout on flash: it ends at its deadline', () => {
    const world = new World({ seed: 3 });
    const flash = newFlash(world);
    const d = bootOn(world, flash);
    for (let i = 0; i < 4; i++) d.lockout.recordFailure('pairing');
    world.runFor(US_PER_S);
    // The lockout record takes 3 programs (header, data, commit); cut right after the commit,
    // before the lockout.started audit record.
    flash.armPowerCut(3);
    expect(() => d.lockout.recordFailure('pairing')).toThrow(PowerCutError);
    d.lockout.stop();
    flash.restorePower();
    const rebooted = bootOn(world, flash);
    const { deadlineUs } = rebooted.lockout.state();
    expect(deadlineUs).toBe(world.nowUs + 60 * US_PER_S);
    world.runUntil(deadlineUs - 1);
    expect(rebooted.lockout.status().locked).toBe(true);
    world.runUntil(deadlineUs);
    expect(rebooted.lockout.status().locked).toBe(false);
  });
});
