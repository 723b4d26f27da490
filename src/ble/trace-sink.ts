// Where the host stack writes its trace records (the world's Trace fits), and the small shared host environment.
// Not the recorder itself (src/sim/trace.ts) and not a logger: records are structured fields that tests compare.

import type { Alarm } from '../../hal/alarm.ts';
import type { TraceFields } from '../sim/trace.ts';

/** The part of src/sim/trace.ts's Trace the stack needs. */
export interface TraceSink {
  /** Cheap check for hot paths: build the fields only when the layer is recorded. */
  wants(layer: string): boolean;
  record(device: string, layer: string, kind: string, fields?: TraceFields): void;
}

/** A sink that records nothing (unit tests of one layer, benches). */
export const NO_TRACE: TraceSink = { wants: () => false, record: () => {} };

/** What every layer of one device's host stack shares. */
export interface HostEnv {
  /** The device's clock and one-shot timers (`world.alarm()` on the simulated chip). */
  readonly alarm: Alarm;
  readonly trace: TraceSink;
  /** The trace's device name (the air endpoint's name, e.g. "pump"). */
  readonly device: string;
}
