// Alarm: the device's view of time — read the clock and arm one-shot callbacks.
// Not a wall clock: on the simulated chip it is the world's virtual clock.

export type AlarmId = { readonly atUs: number };

export interface Alarm {
  /** Microseconds since the device's epoch (boot of the world). */
  nowUs(): number;
  /**
   * Arm a one-shot callback `delayUs` from now. Split-phase: the callback always runs
   * later, from the scheduler, never inside this call. Several may be armed at once
   * (a virtualised alarm, like Tock's MuxAlarm).
   */
  setAlarm(delayUs: number, fired: () => void): AlarmId;
  /** Disarm; disarming one that fired or was disarmed does nothing. */
  cancel(id: AlarmId): void;
}
