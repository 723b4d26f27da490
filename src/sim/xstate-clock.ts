// Runs XState actors on the device's Alarm (the world's virtual clock in simulation):
// `createActor(machine, { clock: xstateClock(alarm) })`. Not a SimulatedClock: nothing jumps.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';

/** The clock shape XState v5 accepts in ActorOptions (its names; the time is the Alarm's, never the wall's). */
export interface XstateClock {
  readonly setTimeout: (fn: (...args: unknown[]) => void, timeoutMs: number) => AlarmId;
  readonly clearTimeout: (id: AlarmId) => void;
}

/**
 * XState delays are in ms; the alarm counts µs. Each `after` becomes one scheduler event, so
 * chained delays each start from the instant the previous one fired. `afterFire`, when given,
 * runs right after each timer's transition: services that queue their side effects during an
 * XState step (flash writes, audit) flush them there, outside XState's processing.
 */
export function xstateClock(alarm: Alarm, afterFire?: () => void): XstateClock {
  return {
    setTimeout: (fn, timeoutMs) =>
      alarm.setAlarm(Math.max(0, Math.round(timeoutMs * 1000)), () => {
        fn();
        afterFire?.();
      }),
    clearTimeout: (id) => alarm.cancel(id),
  };
}
