// PumpMotor: the stepper that drives the reservoir plunger, with the line-pressure sensor.
// Not the delivery engine: pulses, rates and occlusion logic belong to the pump firmware.

import type { HalResult } from './result.ts';

export interface PumpMotorClient {
  /** The requested steps finished (or stopped early); pressure read right after, kPa. */
  stepsDone(stepsDone: number, pressureKpa: number): void;
}

export interface PumpMotor {
  /** Units of insulin one step pushes, in milli-units (0.05 U = 50). */
  readonly milliUnitsPerStep: number;
  setClient(client: PumpMotorClient): void;
  /** Start `steps` steps; 'busy' while moving. Split-phase: stepsDone arrives later. */
  step(steps: number): HalResult;
  /** Stop as soon as possible; stepsDone reports how many were made. */
  stop(): void;
}
