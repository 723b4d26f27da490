// Tests for the delivery journal: intent/settled entries, reconciliation with the plunger at boot, the
// 24-hour buckets and the fill across reboots. Not the random power-cut enumeration (delivery-power-cut.test.ts).

import { describe, expect, it } from 'vitest';
import { MOTOR_STEP_US } from '../../../hal/kw31z/motor.ts';
import { ENTRY_BYTES } from '../../../devices/insulin-pump/delivery-journal.ts';
import { STORE_LOGS } from '../../../src/firmware/store-keys.ts';
import { must, rig, US_PER_H } from './delivery-fixtures.ts';

function stepMotor(r: ReturnType<typeof rig>): void {
  must(r.motor.step(1));
  r.world.runFor(MOTOR_STEP_US);
}

describe('DeliveryJournal', () => {
  it('starts fresh with a baseline entry at the plunger position and reopens clean', () => {
    const r = rig();
    expect(r.fw.journal.reconciliation).toEqual({ kind: 'fresh' });
    expect(r.fw.store.readLog(STORE_LOGS.pumpDelivery)).toHaveLength(1);
    expect(r.fw.store.readLog(STORE_LOGS.pumpDelivery)[0]!.value).toHaveLength(ENTRY_BYTES);
    const again = r.reboot();
    expect(again.journal.reconciliation).toEqual({ kind: 'clean' });
    expect(again.journal.totalPulses()).toBe(0);
  });

  it('settles an intent whose step was made before the cut: counted once, under its kind', () => {
    const r = rig();
    must(r.fw.journal.beginPulse('bolusFast', 7));
    stepMotor(r);
    const again = r.reboot();
    expect(again.journal.reconciliation).toEqual({ kind: 'completed-intent', pulseKind: 'bolusFast', madeSteps: 1, bolusId: 7 });
    expect(again.journal.pulses()).toMatchObject({ bolusFast: 1 });
    expect(again.journal.totalPulses()).toBe(r.motor.positionSteps());
    // A second reboot finds the settled entry: nothing is added again.
    const third = r.reboot();
    expect(third.journal.reconciliation).toEqual({ kind: 'clean' });
    expect(third.journal.totalPulses()).toBe(1);
  });

  it('closes an intent whose step never started with zero steps', () => {
    const r = rig();
    must(r.fw.journal.beginPulse('basal', 0));
    const again = r.reboot();
    expect(again.journal.reconciliation).toEqual({ kind: 'completed-intent', pulseKind: 'basal', madeSteps: 0, bolusId: 0 });
    expect(again.journal.totalPulses()).toBe(0);
  });

  it('counts plunger travel without an intent as unattributed and reports a mismatch', () => {
    const r = rig();
    stepMotor(r);
    stepMotor(r);
    const again = r.reboot();
    expect(again.journal.reconciliation).toEqual({ kind: 'mismatch', journalSteps: 0, physicalSteps: 2 });
    expect(again.journal.pulses()).toMatchObject({ unattributed: 2 });
    expect(again.journal.totalPulses()).toBe(2);
  });

  it('keeps the fill and derives the reservoir from the plunger', () => {
    const r = rig();
    must(r.fw.journal.recordFill(1_000));
    for (let i = 0; i < 3; i++) {
      must(r.fw.journal.beginPulse('basal', 0));
      stepMotor(r);
      must(r.fw.journal.settlePulse(1));
    }
    expect(r.fw.journal.reservoirRemainingMilliUnits()).toBe(850);
    const again = r.reboot();
    expect(again.journal.fillMilliUnits).toBe(1_000);
    expect(again.journal.reservoirRemainingMilliUnits()).toBe(850);
  });

  it('keeps the 24-hour window across a reboot, erring by at most the hour before it', () => {
    const r = rig();
    r.world.runUntil(US_PER_H / 2); // 00:30
    must(r.fw.journal.beginPulse('bolusFast', 1));
    stepMotor(r);
    must(r.fw.journal.settlePulse(1));
    r.world.runUntil(24 * US_PER_H + US_PER_H / 2 - 1); // just inside 24 h of it
    expect(r.reboot().journal.deliveredLast24hMilliUnits(r.world.nowUs)).toBe(50);
    r.world.runUntil(24 * US_PER_H + (3 * US_PER_H) / 4); // 45 min past: still counted (hour 0 is the oldest bucket)
    expect(r.fw.journal.deliveredLast24hMilliUnits(r.world.nowUs)).toBe(50);
    r.world.runUntil(25 * US_PER_H); // hour 0 has left the window
    expect(r.reboot().journal.deliveredLast24hMilliUnits(r.world.nowUs)).toBe(0);
  });

  it('journals the bolus in progress: its own pulses only, the one a cut left moving, and the last ID across reboots', () => {
    const r = rig();
    must(r.fw.journal.beginBolus(9));
    expect(r.fw.journal.openBolus).toEqual({ bolusId: 9, pulses: 0 });
    must(r.fw.journal.beginPulse('bolusFast', 9));
    stepMotor(r);
    must(r.fw.journal.settlePulse(1));
    // A basal pulse between two of the bolus's does not count for it.
    must(r.fw.journal.beginPulse('basal', 0));
    stepMotor(r);
    must(r.fw.journal.settlePulse(1));
    // Power lost with the next bolus pulse made but not settled: the reboot counts it for the bolus, once.
    must(r.fw.journal.beginPulse('bolusFast', 9));
    stepMotor(r);
    const again = r.reboot();
    expect(again.journal.openBolus).toEqual({ bolusId: 9, pulses: 2 });
    expect(again.journal.lastBolusId).toBe(9);
    must(again.journal.endBolus(9));
    expect(again.journal.openBolus).toBeUndefined();
    const third = r.reboot();
    expect(third.journal.openBolus).toBeUndefined();
    expect(third.journal.lastBolusId).toBe(9);
    expect(third.journal.pulses()).toMatchObject({ basal: 1, bolusFast: 2 });
    // Ending another bolus than the open one changes nothing.
    must(third.journal.beginBolus(10));
    must(third.journal.endBolus(9));
    expect(third.journal.openBolus).toEqual({ bolusId: 10, pulses: 0 });
  });

  it('lists its history: intent and settled entries in order', () => {
    const r = rig();
    must(r.fw.journal.beginPulse('tempBasal', 0));
    stepMotor(r);
    must(r.fw.journal.settlePulse(1));
    expect(r.fw.journal.history().map((e) => [e.phase, e.kind, e.steps, e.positionSteps])).toEqual([
      ['fill', 'basal', 0, 0],
      ['intent', 'tempBasal', 1, 0],
      ['settled', 'tempBasal', 1, 1],
    ]);
  });
});
