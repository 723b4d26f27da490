// The device's CPU is busy while it computes: run a costly computation now, but deliver its
// result only after the CPU time it charged to the ledger. Not a scheduler of its own.
//
// Why: one P-256 ECDH is ≈ 45 M cycles ≈ 0.94 s on the KW31Z (hal/kw31z/costs.ts). Firmware
// on the chip answers a pairing request only after that time; the simulation must show it
// (DESIGN §3), so the machines get the result as an event `cpuUs` later on the world clock.

import type { Alarm } from '../../hal/alarm.ts';

/** What cpu-time reads: the ledger's running cycle total and the CPU clock. */
export interface CpuMeter {
  /** CPU cycles charged so far on this device (all activities). */
  cyclesNow(): number;
  readonly cpuClockHz: number;
  /**
   * When the CPU is free again (device µs): one core runs one computation at a time, so a
   * computation started while another is still "running" is delivered after it. Kept here,
   * on the device's one meter (ledgerCpuMeter returns the same meter for the same ledger).
   */
  busyUntilUs?: number;
}

/**
 * Run `compute` now, measure the cycles it charged, and call `done(result, cpuUs)` once that
 * CPU time has passed on the alarm. An exception from `compute` is delivered the same way
 * (as `failed`), so a bad peer input never throws out of a radio callback.
 */
export function afterCpu<T>(
  alarm: Alarm,
  meter: CpuMeter,
  compute: () => T,
  done: (result: T, cpuUs: number) => void,
  failed: (error: unknown, cpuUs: number) => void,
): void {
  const before = meter.cyclesNow();
  let result: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    result = { ok: true, value: compute() };
  } catch (error) {
    result = { ok: false, error };
  }
  const cpuUs = Math.ceil(((meter.cyclesNow() - before) * 1_000_000) / meter.cpuClockHz);
  const now = alarm.nowUs();
  const startUs = Math.max(now, meter.busyUntilUs ?? 0);
  meter.busyUntilUs = startUs + cpuUs;
  alarm.setAlarm(startUs - now + cpuUs, () => (result.ok ? done(result.value, cpuUs) : failed(result.error, cpuUs)));
}

type MeteredLedgerLike = { summary(): { cpuCycles: number }; costs: { cpuClockHz: { value: number } } };
const METERS = new WeakMap<MeteredLedgerLike, CpuMeter>();

/** The CpuMeter of a device's ledger (Kw31zLedger fits): the same one every time, so its CPU is shared. */
export function ledgerCpuMeter(ledger: MeteredLedgerLike): CpuMeter {
  let m = METERS.get(ledger);
  if (m === undefined) {
    m = { cyclesNow: () => ledger.summary().cpuCycles, cpuClockHz: ledger.costs.cpuClockHz.value };
    METERS.set(ledger, m);
  }
  return m;
}
