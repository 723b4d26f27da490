// Runs XState actors on the device's Alarm (the world's virtual clock in simulation):
// `createActor(machine, { clock: xstateClock(alarm) })`. Not a SimulatedClock: nothing jumps.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';

/** The clock shape XState v5 accepts in ActorOptions. */
export interface XstateClock {
  setTimeout(fn: (...args: unknown[]) => void, timeoutMs: number): AlarmId;
  clearTimeout(id: AlarmId): void;
}

export function xstateClock(alarm: Alarm): XstateClock {
  return {
    // XState delays are in ms; the alarm counts µs. Each `after` becomes one scheduler event,
    // so chained delays each start from the instant the previous one fired.
    setTimeout: (fn, timeoutMs) => alarm.setAlarm(Math.max(0, Math.round(timeoutMs * 1000)), () => fn()),
    clearTimeout: (id) => alarm.cancel(id),
  };
}
