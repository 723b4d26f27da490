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
  /**
   * Plunger position in whole steps from the drive's zero, counting steps already completed
   * in a run. It is mechanical truth: it survives a firmware reset or power cut (a position
   * counter on the drive, or an absolute encoder), so the firmware can reconcile its
   * delivery journal with what was physically pushed. Synchronous: a register read.
   */
  positionSteps(): number;
}
