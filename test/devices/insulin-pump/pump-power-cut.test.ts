// A power cut at 210 seeded random flash program/erase boundaries of a day of therapy on the composed pump
// (createInsulinPump on a KW31Z board), plus every operation at the end of each garbage collection: after each, a
// fresh pump boots on the same flash and the same motor, and its IDS history must agree with what the plunger
// delivered, with therapy in a safe Stop; where that boot had to write a record, it is cut again. Not the journal
// alone (delivery-power-cut.test.ts) nor history appends alone (history-power-cut.test.ts).
//
// "History consistent with the pulses" — what this test holds the pump to. The IDS history this pump keeps has a
// Bolus Delivered record per bolus and no record of basal amounts (IDS has none per pulse: Delivered Basal Rate
// Changed logs rates, Total Daily Insulin Delivery whole days), so:
//   - every bolus the pump accepted has exactly one Bolus Delivered record (no bolus ID twice, none missing), and its
//     amount is the pulses made for it: those the dead firmware settled plus the one the reboot found the plunger
//     had finished (the journal's reconciliation);
//   - the history's bolus amounts plus the journal's basal pulses equal the plunger's travel × 50 mU — the motor's
//     position is the side the code under test cannot change;
//   - after the reboot therapy is Stop, the line is not primed, Run is refused until it is primed, nothing moves on
//     its own for an hour; after priming and Run it delivers again, and a new bolus gets an ID never used before.
//
// Speed: each cut is a fresh run of the day up to its cut point (a day with a few pulses an hour, like
// delivery-power-cut.test.ts) — commands reach the pump's IDS handlers directly, as the session would hand them over
// (the session itself is covered by session-properties.test.ts; pairing per cut would cost more than the day), and
// the pump advertises at 10.24 s, the longest interval BLE allows, since no phone is near.

import { describe, expect, it } from 'vitest';
import type { Alarm, AlarmId } from '../../../hal/alarm.ts';
import { createKw31zBoard, type Kw31zBoard } from '../../../hal/kw31z/board.ts';
import { PowerCutError } from '../../../hal/kw31z/flash.ts';
import { MOTOR_STEP_US, Kw31zPumpMotor } from '../../../hal/kw31z/motor.ts';
import { Kw31zRadio } from '../../../hal/kw31z/radio.ts';
import type { DeliveryEvent } from '../../../devices/insulin-pump/delivery-engine.ts';
import { createInsulinPump, IDS_COMMANDS, type InsulinPump } from '../../../devices/insulin-pump/index.ts';
import { decodeCcpResponse, encodeCcpRequest, type CcpRequest, type CcpResponse } from '../../../devices/insulin-pump/ids/index.ts';
import { provisionDevice } from '../../../src/session/identity.ts';
import { Manufacturer } from '../../../src/session/manufacturer.ts';
import type { Role } from '../../../src/session/roles.ts';
import { Air } from '../../../src/sim/air/air.ts';
import { World } from '../../../src/sim/world.ts';

const US_PER_S = 1_000_000;
const US_PER_MIN = 60 * US_PER_S;
const US_PER_H = 60 * US_PER_MIN;
const DAY_US = 24 * US_PER_H;
const PULSE_MU = 50;
const CUTS = 210;
/** Operations before each garbage-collection erase that are cut as well (see below). */
const GC_TAIL_OPS = 8;
const SERIAL = 'PU000042';
const ADDRESS = { address: 'C0:00:00:00:00:01', random: true };
const MANUFACTURER = new Manufacturer('pump-power-cut-manufacturer');
const IDENTITY = MANUFACTURER.issueDeviceIdentity(SERIAL, 'insulin-pump');


// ─── the board, the mechanism, and one boot of firmware ──────────────────────────────────────

/** The firmware's clock on one boot: a power cut silences every timer it armed (RAM and timers are gone). */
function poweredAlarm(world: World): { readonly alarm: Alarm; cut(): void } {
  const base = world.alarm();
  const armed = new Set<AlarmId>();
  let on = true;
  const alarm: Alarm = {
    nowUs: () => base.nowUs(),
    setAlarm: (delayUs, fired) => {
      const id = base.setAlarm(delayUs, () => {
        armed.delete(id);
        if (on) fired();
      });
      armed.add(id);
      return id;
    },
    cancel: (id) => {
      armed.delete(id);
      base.cancel(id);
    },
  };
  return {
    alarm,
    cut: () => {
      on = false;
      for (const id of armed) base.cancel(id);
      armed.clear();
    },
  };
}

interface Firmware {
  readonly pump: InsulinPump;
  readonly cut: () => void;
  /** What this boot's engine reported (pulses settled, boluses ended). */
  readonly events: DeliveryEvent[];
  /** Bolus IDs this boot accepted (answered Set Bolus Response). */
  readonly accepted: number[];
}

interface Rig {
  readonly world: World;
  readonly board: Kw31zBoard;
  /** Hardware: outlives every boot (hal/kw31z/motor.ts positionSteps is mechanical). */
  readonly motor: Kw31zPumpMotor;
  fw: Firmware;
  /**
   * Power lost: the firmware dies, the step moving finishes, power returns, a new pump boots on the same flash.
   * With `cutAfterOps`, the power goes again after that many flash operations of the boot: undefined if it did.
   */
  reboot(cutAfterOps?: number): Firmware | undefined;
}

/** `traceFlash`: keep the flash's program/erase records (the reference run finds its garbage collections with them). */
function newRig(traceFlash = false): Rig {
  const world = new World({ seed: 'pump-power-cut', trace: { layers: traceFlash ? ['flash'] : [], keep: traceFlash } });
  const air = new Air(world);
  const board = createKw31zBoard({ world, air, device: 'pump', address: ADDRESS, battery: 'aaa-alkaline', flashSizeBytes: 64 * 2048 });
  const provisioned = provisionDevice(board.flash, IDENTITY);
  if (!provisioned.ok) throw new Error(provisioned.code);
  const motor = new Kw31zPumpMotor({ device: 'pump', world, ledger: board.ledger, costs: board.costs });
  let booting: (() => void) | undefined;
  const boot = (radio: Kw31zRadio): Firmware => {
    const power = poweredAlarm(world);
    // What a boot cut short leaves behind: its timers and its radio.
    booting = () => {
      power.cut();
      radio.port.detach();
    };
    const pump = createInsulinPump({ world, board: { ...board, alarm: power.alarm, radio }, serial: SERIAL, motor, advertisingIntervalUs: 10_240_000 });
    const events: DeliveryEvent[] = [];
    pump.engine.onEvent((e) => events.push(e));
    return {
      pump,
      events,
      accepted: [],
      cut: () => {
        power.cut();
        pump.engine.dispose();
        radio.port.detach();
      },
    };
  };
  const r: Rig = {
    world,
    board,
    motor,
    fw: boot(board.radio),
    reboot(cutAfterOps) {
      r.fw.cut();
      motor.stop();
      world.runFor(MOTOR_STEP_US);
      board.flash.restorePower();
      if (cutAfterOps !== undefined) board.flash.armPowerCut(cutAfterOps);
      try {
        // A new radio endpoint: the dead one left the air (the same address comes back on a fresh medium).
        r.fw = boot(new Kw31zRadio({ air: new Air(world), device: 'pump', address: ADDRESS, ledger: board.ledger, costs: board.costs }));
      } catch (e) {
        if (!(e instanceof PowerCutError)) throw e;
        booting?.();
        return undefined;
      }
      board.flash.restorePower(); // disarm a cut the boot did not reach
      return r.fw;
    },
  };
  return r;
}

/** One IDS CCP request, handed to the pump's ids.ccp handler as the session would after authorizing `role`. */
function ccp(fw: Firmware, role: Role, m: CcpRequest): CcpResponse | undefined {
  const command = fw.pump.device.commands.get(IDS_COMMANDS.ccp.id)!;
  const r = command.handler({ command, requestId: 1, payload: encodeCcpRequest(m), role, clientId: undefined, respond: () => {} });
  if (r?.payload === undefined || r.payload.length === 0) return undefined;
  const d = decodeCcpResponse(r.payload);
  if (d.ok && d.value.op === 'setBolusResponse') fw.accepted.push(d.value.bolusId);
  return d.ok ? d.value : undefined;
}

/** ids.stop under break-glass (the emergency role). */
function emergencyPause(fw: Firmware): void {
  const command = fw.pump.device.commands.get(IDS_COMMANDS.stop.id)!;
  command.handler({ command, requestId: 1, payload: encodeCcpRequest({ op: 'setTherapyControlState', state: 'pause' }), role: 'emergency', clientId: undefined, respond: () => {} });
}

const tcs = (state: 'run' | 'pause' | 'stop'): CcpRequest => ({ op: 'setTherapyControlState', state });
const template = (n: number, muPerH: number): CcpRequest => ({ op: 'writeBasalRateProfileTemplate', endTransaction: true, templateNumber: n, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1_440, valueMilli: muPerH }] });
const fast = (mu: number): CcpRequest => ({ op: 'setBolus', bolusType: 'fast', fastAmountMilliUnits: mu, extendedAmountMilliUnits: 0, durationMinutes: 0, reasonCorrection: false, reasonMeal: true });

// ─── the day ─────────────────────────────────────────────────────────────────────────────────

interface Action {
  readonly atUs: number;
  readonly run: (fw: Firmware) => unknown;
}

const H = (h: number, min = 0, s = 0): number => h * US_PER_H + min * US_PER_MIN + s * US_PER_S;

/** Basal 0.40–0.65 U/h from three templates, four boluses (fast, extended, multiwave, one cancelled), a TBR, pauses, a break-glass pause. */
const DAY: readonly Action[] = [
  { atUs: H(0, 0, 2), run: (fw) => ccp(fw, 'service', { op: 'setInitialReservoirFillLevel', fillLevelMilliUnits: 150_000 }) },
  { atUs: H(0, 0, 2), run: (fw) => ccp(fw, 'service', { op: 'startPriming', amountMilliUnits: 1_000 }) },
  { atUs: H(0, 0, 10), run: (fw) => [template(1, 450), template(2, 700), template(3, 600)].map((m) => ccp(fw, 'clinician', m)) },
  { atUs: H(0, 0, 10), run: (fw) => ccp(fw, 'clinician', { op: 'activateProfileTemplates', templateNumbers: [1] }) },
  { atUs: H(0, 0, 11), run: (fw) => ccp(fw, 'patient', tcs('run')) },
  { atUs: H(6), run: (fw) => [tcs('pause'), { op: 'activateProfileTemplates', templateNumbers: [2] }, tcs('run')].map((m) => ccp(fw, 'clinician', m as CcpRequest)) },
  { atUs: H(7, 5), run: (fw) => ccp(fw, 'patient', fast(3_000)) },
  { atUs: H(10), run: (fw) => ccp(fw, 'patient', tcs('pause')) },
  { atUs: H(10, 20), run: (fw) => ccp(fw, 'patient', tcs('run')) },
  { atUs: H(12, 10), run: (fw) => ccp(fw, 'patient', { op: 'setBolus', bolusType: 'extended', fastAmountMilliUnits: 0, extendedAmountMilliUnits: 2_000, durationMinutes: 60, reasonCorrection: false, reasonMeal: true }) },
  { atUs: H(15, 0, 30), run: (fw) => ccp(fw, 'patient', { op: 'setTbrAdjustment', changeTbr: false, tbrType: 'relative', adjustmentMilli: 1_500, durationMinutes: 90 }) },
  { atUs: H(19, 15), run: (fw) => ccp(fw, 'patient', { op: 'setBolus', bolusType: 'multiwave', fastAmountMilliUnits: 1_000, extendedAmountMilliUnits: 2_000, durationMinutes: 60, reasonCorrection: false, reasonMeal: true }) },
  { atUs: H(21), run: (fw) => [tcs('pause'), { op: 'activateProfileTemplates', templateNumbers: [3] }, tcs('run')].map((m) => ccp(fw, 'clinician', m as CcpRequest)) },
  { atUs: H(22), run: (fw) => ccp(fw, 'patient', fast(1_500)) },
  // 31 s into a 2 s-per-pulse bolus: pulses at 0, 2, … 30 s have started (16), the next is due at 32 s.
  { atUs: H(22, 0, 31), run: (fw) => ccp(fw, 'patient', { op: 'cancelBolus', bolusId: fw.accepted[fw.accepted.length - 1] ?? 0 }) },
  { atUs: H(23), run: (fw) => emergencyPause(fw) },
  { atUs: H(23, 10), run: (fw) => ccp(fw, 'patient', tcs('run')) },
];

/** Run the day on the rig's firmware, cut after `cutAfterOps` more flash operations if given; true if it was cut. */
function runDay(r: Rig, cutAfterOps?: number): boolean {
  if (cutAfterOps !== undefined) r.board.flash.armPowerCut(cutAfterOps);
  try {
    for (const a of DAY) {
      r.world.runUntil(a.atUs);
      a.run(r.fw); // answers mostly ignored: a command refused in the state it meets is part of the story
    }
    r.world.runUntil(DAY_US);
    return false;
  } catch (e) {
    if (!(e instanceof PowerCutError)) throw e;
    return true;
  }
}

// ─── what the history says ───────────────────────────────────────────────────────────────────

/** Bolus Delivered records, in history order: bolus ID and the amount (fast + extended parts). */
function bolusRecords(pump: InsulinPump): { id: number; mu: number }[] {
  const out: { id: number; mu: number }[] = [];
  for (const r of pump.history.records()) {
    if (r.event.type === 'bolusDelivered1') out.push({ id: r.event.bolusId, mu: r.event.deliveredFastMilliunits + r.event.deliveredExtendedMilliunits });
  }
  return out;
}

/** Pulses each bolus made, as the engine settled them on this boot. */
function settledPerBolus(events: readonly DeliveryEvent[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of events) if (e.type === 'pulse' && e.bolusId !== 0) m.set(e.bolusId, (m.get(e.bolusId) ?? 0) + e.steps);
  return m;
}

/** History and journal against the plunger: the identity this test is about (see the header). */
function expectConsistent(pump: InsulinPump, motor: Kw31zPumpMotor, where: string): void {
  const j = pump.journal.pulses();
  expect(j.unattributed, where).toBe(0);
  expect(pump.journal.totalPulses(), `${where}: journal = plunger`).toBe(motor.positionSteps());
  const records = bolusRecords(pump);
  const ids = records.map((b) => b.id);
  expect(new Set(ids).size, `${where}: a bolus ID recorded twice: ${ids.join(',')}`).toBe(ids.length);
  const historyBolusMu = records.reduce((n, b) => n + b.mu, 0);
  expect(historyBolusMu + (j.basal + j.tempBasal) * PULSE_MU, `${where}: history boluses + journal basal = plunger`).toBe(motor.positionSteps() * PULSE_MU);
}

describe('composed pump under power cuts during a day of therapy', () => {
  it('keeps the IDS history equal to what the plunger delivered at 210 random cut points and through garbage collection, and reboots into a safe Stop', () => {
    // The uncut day: how many flash operations it makes after boot, and that it really does what it says.
    const ref = newRig(true);
    const opsAtStart = ref.board.flash.opsCount;
    expect(runDay(ref)).toBe(false);
    const totalOps = ref.board.flash.opsCount - opsAtStart;
    const flashOps = ref.world.trace.filter({ layer: 'flash' });
    expect(flashOps).toHaveLength(ref.board.flash.opsCount);
    const pulses = ref.fw.pump.journal.pulses();
    expect(pulses).toMatchObject({ bolusFast: 60 + 20 + 16, bolusExtended: 40 + 40, unattributed: 0 });
    expect(pulses.tempBasal).toBeGreaterThan(0);
    expect(ref.fw.accepted).toEqual([1, 2, 3, 4]);
    expect(bolusRecords(ref.fw.pump)).toEqual([
      { id: 1, mu: 3_000 },
      { id: 2, mu: 2_000 },
      { id: 3, mu: 3_000 },
      { id: 4, mu: 16 * PULSE_MU },
    ]);
    expectConsistent(ref.fw.pump, ref.motor, 'uncut day');
    expect(ref.fw.pump.therapy.status().therapyControlState).toBe('run');
    // The record store (63 sectors) fills up in the evening and garbage-collects its oldest sectors: the
    // history ring drops what they held (boot and morning records, no Bolus Delivered: checked above).
    const gcErases = flashOps.map((t, i) => (t.kind === 'erase' ? i - opsAtStart : -1)).filter((i) => i >= 0);
    expect(gcErases.length).toBeGreaterThan(0);

    const rng = new World({ seed: 61 }).random.stream('test', 'pump-power-cut-points');
    const cutPoints = new Set<number>();
    while (cutPoints.size < CUTS) cutPoints.add(rng.int(0, totalOps - 1));
    // Few uniform points fall inside a collection (a handful of operations a day): add every operation of each
    // one's end — the copies of live records, the retire mark, the erase (record-store.ts).
    for (const e of gcErases) for (let k = e - GC_TAIL_OPS; k <= e; k++) cutPoints.add(k);

    const seen = { boluses: 0, recoveredRecords: 0, recoveredPulses: 0, recoveredCuts: 0, intentMade: 0, clean: 0, doubleCuts: 0 };
    const rebootRng = new World({ seed: 61 }).random.stream('test', 'pump-reboot-cut-points');
    for (const k of [...cutPoints].sort((a, b) => a - b)) {
      const r = newRig();
      expect(runDay(r, k)).toBe(true);
      const where = `cut after ${k} of ${totalOps} flash ops at ${(r.world.nowUs / US_PER_H).toFixed(3)} h`;
      const dead = r.fw;
      const opsBeforeBoot = r.board.flash.opsCount;
      const fw = r.reboot()!;
      const bootOps = r.board.flash.opsCount - opsBeforeBoot;
      const rec = fw.pump.journal.reconciliation;
      if (rec.kind === 'mismatch') throw new Error(`${where}: journal mismatch ${JSON.stringify(rec)}`);
      if (rec.kind === 'completed-intent' && rec.madeSteps > 0) seen.intentMade++;
      if (rec.kind === 'clean') seen.clean++;

      // None lost, none twice: every accepted bolus has one record, of the pulses made for it.
      expectConsistent(fw.pump, r.motor, where);
      const records = bolusRecords(fw.pump);
      const settled = settledPerBolus(dead.events);
      const inFlight = rec.kind === 'completed-intent' && rec.bolusId !== 0 ? rec : undefined;
      expect(records.map((b) => b.id), where).toEqual(dead.accepted);
      for (const b of records) {
        const made = (settled.get(b.id) ?? 0) + (inFlight?.bolusId === b.id ? inFlight.madeSteps : 0);
        expect(b.mu, `${where}: bolus ${b.id}`).toBe(made * PULSE_MU);
      }
      seen.boluses += records.length;
      // Records the dead firmware never got to write (its bolus still running, or the cut inside that very
      // append: my listener comes after the pump's own, so it saw no end): the reboot wrote them from the journal.
      const ended = new Set(dead.events.flatMap((e) => (e.type === 'bolus.done' || e.type === 'bolus.cancelled' ? [e.bolusId] : [])));
      const recovered = records.filter((b) => !ended.has(b.id));
      seen.recoveredRecords += recovered.length;
      seen.recoveredPulses += recovered.reduce((n, b) => n + b.mu / PULSE_MU, 0);

      // A second cut inside that reboot, where it wrote a record for the dead firmware: the boot after it
      // must end with the very same records (written once, whichever side of the cut the record fell).
      // One seeded boot operation each time, and every one of them for one such cut in eight.
      if (recovered.length > 0) {
        const all = seen.recoveredCuts++ % 8 === 0;
        for (const j of all ? [...Array(bootOps).keys()] : [rebootRng.int(0, bootOps - 1)]) {
          const twice = `${where}, then the boot cut after ${j} of its ${bootOps} flash ops`;
          const r2 = newRig();
          expect(runDay(r2, k)).toBe(true);
          expect(r2.reboot(j), twice).toBeUndefined();
          const fw2 = r2.reboot()!;
          expectConsistent(fw2.pump, r2.motor, twice);
          expect(bolusRecords(fw2.pump), twice).toEqual(records);
          seen.doubleCuts++;
        }
      }
      // Insulin on board and the daily limit still see everything delivered (the journal is the plunger).
      expect(fw.pump.engine.deliveredLast24hMilliUnits(), where).toBe(r.motor.positionSteps() * PULSE_MU);

      // Safe state: Stop, the line not primed, no bolus, no TBR; Run refused until primed; nothing moves.
      const st = fw.pump.therapy.status();
      expect(st.therapyControlState, where).toBe('stop');
      expect(st.primed, where).toBe(false);
      expect(['waiting', 'standby'], where).toContain(st.operationalState);
      expect(fw.pump.engine.state, where).toBe('stopped');
      expect(fw.pump.engine.activeBolus, where).toBeUndefined();
      expect(fw.pump.engine.activeTempBasal, where).toBeUndefined();
      expect(ccp(fw, 'patient', tcs('run')), where).toEqual({ op: 'responseCode', requestOpCode: 0x0f5a, responseCode: 'procedureNotApplicable' });
      const atBoot = r.motor.positionSteps();
      r.world.runFor(US_PER_H);
      expect(r.motor.positionSteps(), `${where}: moved on its own`).toBe(atBoot);

      // The service primes (refilling if the cut took the fill with it); basal templates live in RAM
      // (delivery-port.ts), so the clinician sets one again; the patient runs and boluses.
      if (st.operationalState === 'standby') ccp(fw, 'service', { op: 'setInitialReservoirFillLevel', fillLevelMilliUnits: 150_000 });
      expect(ccp(fw, 'service', { op: 'startPriming', amountMilliUnits: 500 }), where).toEqual({ op: 'responseCode', requestOpCode: 0x127b, responseCode: 'success' });
      r.world.runFor(5 * US_PER_S);
      ccp(fw, 'clinician', template(1, 400));
      ccp(fw, 'clinician', { op: 'activateProfileTemplates', templateNumbers: [1] });
      expect(ccp(fw, 'patient', tcs('run')), where).toEqual({ op: 'responseCode', requestOpCode: 0x0f5a, responseCode: 'success' });
      const again = ccp(fw, 'patient', fast(500));
      const usedBefore = Math.max(0, ...dead.accepted);
      // A fresh ID, after every one used before the cut (IDS §7: unique per programmed bolus).
      expect(again, where).toEqual({ op: 'setBolusResponse', bolusId: usedBefore + 1 });
      r.world.runFor(US_PER_H + US_PER_S);
      // 0.5 U = 10 pulses, and 0.4 U/h is one pulse every 450 s from Run: 8 in the hour (a new boot accrues from 0).
      expect(r.motor.positionSteps() - atBoot, `${where}: delivers again`).toBe(10 + 8);
      expectConsistent(fw.pump, r.motor, `${where}, an hour after the reboot`);
      expect(bolusRecords(fw.pump).at(-1), where).toEqual({ id: usedBefore + 1, mu: 500 });
    }
    // The cut points reached what matters: boluses cut mid-delivery (recorded at boot), steps the reboot had to settle.
    expect(seen.recoveredRecords).toBeGreaterThan(5);
    expect(seen.recoveredPulses).toBeGreaterThan(50);
    expect(seen.intentMade).toBeGreaterThan(0);
    expect(seen.clean).toBeGreaterThan(0);
    expect(seen.boluses).toBeGreaterThan(CUTS);
    expect(seen.doubleCuts).toBeGreaterThan(20);
  });
});
