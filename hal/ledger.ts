// What a HAL target charges: integer meters per device and per activity.
// Not the cost table: a target turns meters into energy with its own figures (hal/kw31z/costs.ts).

/** What the device was doing when the cost was spent. */
export type Activity = 'crypto' | 'radio' | 'flash' | 'sensing' | 'motor' | 'app' | 'idle';
export const ACTIVITIES: readonly Activity[] = ['crypto', 'radio', 'flash', 'sensing', 'motor', 'app', 'idle'];

/**
 * Integer quantities, counted exactly; energy is derived from them (so a test can check
 * the arithmetic exactly). Units are in the names.
 */
export interface Meters {
  cpuCycles?: number;
  radioTxUs?: number;
  radioRxUs?: number;
  flashProgramOps?: number;
  flashEraseOps?: number;
  adcConversions?: number;
  motorSteps?: number;
  aesBlocksHw?: number;
  /** Time asleep between activities (charged at the sleep current). */
  sleepUs?: number;
}
export type MeterName = keyof Meters;
export const METER_NAMES: readonly MeterName[] = [
  'cpuCycles',
  'radioTxUs',
  'radioRxUs',
  'flashProgramOps',
  'flashEraseOps',
  'adcConversions',
  'motorSteps',
  'aesBlocksHw',
  'sleepUs',
];

/** The charging side, which drivers, the air and crypto see. */
export interface Ledger {
  readonly device: string;
  charge(activity: Activity, meters: Meters): void;
}
