// Test rig for the pump's delivery engine: one world, a small flash, the simulated motor and battery,
// boot and reboot (power cut) of store + journal + engine. Not a device composition (devices/insulin-pump/index.ts).

import { AAA_ALKALINE, deliverableMicroJoules, Kw31zPower } from '../../../hal/kw31z/battery.ts';
import { KW31Z_SECTOR_BYTES, Kw31zFlash } from '../../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { Kw31zPumpMotor, MOTOR_STEP_US } from '../../../hal/kw31z/motor.ts';
import type { Alarm } from '../../../hal/alarm.ts';
import { DeliveryEngine, type DeliveryEvent, type DeliveryEngineOptions } from '../../../devices/insulin-pump/delivery-engine.ts';
import { DeliveryJournal } from '../../../devices/insulin-pump/delivery-journal.ts';
import {
  ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR,
  ABSOLUTE_MAX_BOLUS_MILLIUNITS,
  ABSOLUTE_MAX_DAILY_MILLIUNITS,
  type HardLimits,
} from '../../../devices/insulin-pump/limits.ts';
import { RING_LOGS } from '../../../src/firmware/store-keys.ts';
import { World } from '../../../src/sim/world.ts';
import { RecordStore } from '../../../src/storage/record-store.ts';

export const US_PER_S = 1_000_000;
export const US_PER_MIN = 60 * US_PER_S;
export const US_PER_H = 60 * US_PER_MIN;

/** The absolute device bounds: tests that are not about limits should not trip over them. */
export const WIDE_LIMITS: HardLimits = {
  maxBolusMilliUnits: ABSOLUTE_MAX_BOLUS_MILLIUNITS,
  maxBasalRateMilliUnitsPerHour: ABSOLUTE_MAX_BASAL_MILLIUNITS_PER_HOUR,
  maxDailyMilliUnits: ABSOLUTE_MAX_DAILY_MILLIUNITS,
};

export interface RigOptions {
  readonly seed?: string | number;
  /** Flash sectors, all given to the record store. Default 4. */
  readonly sectors?: number;
  /** Pressure noise σ, kPa; default the motor's own (0.5). */
  readonly noiseKpa?: number;
  readonly limits?: HardLimits;
  readonly reservoirLowMilliUnits?: number;
  /** Energy already used from the AAA cell, as a fraction of what it can deliver. */
  readonly batteryUsedFraction?: number;
  /** Keep the motor's trace records (the step log). Default true. */
  readonly traceMotor?: boolean;
}

export interface Booted {
  readonly store: RecordStore;
  readonly journal: DeliveryJournal;
  readonly engine: DeliveryEngine;
  readonly events: DeliveryEvent[];
}

export interface Rig {
  readonly world: World;
  readonly alarm: Alarm;
  readonly flash: Kw31zFlash;
  readonly motor: Kw31zPumpMotor;
  readonly power: Kw31zPower;
  readonly ledger: Kw31zLedger;
  /** The firmware now running. */
  fw: Booted;
  boot(): Booted;
  /** Power lost (after a PowerCutError or not): the firmware dies, the step moving finishes, power returns, boot. */
  reboot(): Booted;
  /** Instants at which the motor was asked to step (the motor's own trace). */
  stepStartsUs(): number[];
}

export function must<T>(r: { ok: true; value: T } | { ok: false; code: string; detail?: string }): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}${r.detail === undefined ? '' : `: ${r.detail}`}`);
  return r.value;
}

export function rig(opts: RigOptions = {}): Rig {
  const world = new World({ seed: opts.seed ?? 'pump-delivery', trace: { layers: opts.traceMotor === false ? [] : ['motor'] } });
  const ledger = new Kw31zLedger('pump', () => world.nowUs);
  const sectors = opts.sectors ?? 4;
  const flash = new Kw31zFlash({ device: 'pump', ledger, sizeBytes: sectors * KW31Z_SECTOR_BYTES });
  const motor = new Kw31zPumpMotor({
    device: 'pump',
    world,
    ledger,
    ...(opts.noiseKpa === undefined ? {} : { pressureNoiseKpaSigma: opts.noiseKpa }),
  });
  const initialUsedMicroJoules = (opts.batteryUsedFraction ?? 0) * deliverableMicroJoules(AAA_ALKALINE);
  const power = new Kw31zPower(AAA_ALKALINE, () => ledger.summary().microJoules, { initialUsedMicroJoules });
  const alarm = world.alarm();
  const boot = (): Booted => {
    const store = must(RecordStore.open(flash, { firstSector: 0, sectorCount: sectors, ringLogs: RING_LOGS }));
    const journal = must(DeliveryJournal.open({ store, motor, alarm }));
    const engineOpts: DeliveryEngineOptions = {
      alarm,
      motor,
      power,
      journal,
      limits: opts.limits ?? WIDE_LIMITS,
      ...(opts.reservoirLowMilliUnits === undefined ? {} : { reservoirLowMilliUnits: opts.reservoirLowMilliUnits }),
    };
    const engine = new DeliveryEngine(engineOpts);
    const events: DeliveryEvent[] = [];
    engine.onEvent((e) => events.push(e));
    return { store, journal, engine, events };
  };
  const r: Rig = {
    world,
    alarm,
    flash,
    motor,
    power,
    ledger,
    fw: undefined as unknown as Booted,
    boot,
    reboot() {
      r.fw.engine.dispose();
      // RAM and timers are gone; the mechanism finishes the step it was making and stops.
      motor.setClient({ stepsDone: () => {} });
      motor.stop();
      world.runFor(MOTOR_STEP_US);
      flash.restorePower();
      r.fw = boot();
      return r.fw;
    },
    stepStartsUs: () => world.trace.filter({ layer: 'motor', kind: 'step' }).map((t) => t.tUs),
  };
  r.fw = boot();
  return r;
}

/** Fill, set a basal rate and run. */
export function startTherapy(fw: Booted, opts: { fillMilliUnits?: number; basalMilliUnitsPerHour?: number } = {}): void {
  must(fw.engine.fillReservoir(opts.fillMilliUnits ?? 200_000));
  must(fw.engine.setBasalRate(opts.basalMilliUnitsPerHour ?? 0));
  must(fw.engine.start());
}

export const pulsesOf = (events: readonly DeliveryEvent[], kind?: string) =>
  events.filter((e): e is Extract<DeliveryEvent, { type: 'pulse' }> => e.type === 'pulse' && (kind === undefined || e.kind === kind));
