// The deterministic world: one virtual clock and scheduler, the seeded random streams and
// the trace, shared by every device, radio and the air. Not a device: devices live in it.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';
import { MedtwinError } from '../errors.ts';
import { RandomStreams } from './random.ts';
import { Scheduler, type Timer } from './scheduler.ts';
import { Trace, type TraceOptions } from './trace.ts';

export type Pacing = 'fast' | 'realtime';

export interface WorldOptions {
  /** Same seed ⇒ same trace, byte for byte. Default "0". */
  seed?: string | number;
  trace?: TraceOptions;
}

export class World {
  readonly seed: string;
  readonly scheduler = new Scheduler();
  readonly random: RandomStreams;
  readonly trace: Trace;

  constructor(opts: WorldOptions = {}) {
    this.seed = String(opts.seed ?? '0');
    this.random = new RandomStreams(this.seed);
    this.trace = new Trace(() => this.scheduler.nowUs, opts.trace);
  }

  get nowUs(): number {
    return this.scheduler.nowUs;
  }

  /** The HAL Alarm a device sees: a view of the world's clock. */
  alarm(): Alarm {
    const s = this.scheduler;
    return {
      nowUs: () => s.nowUs,
      setAlarm: (delayUs: number, fired: () => void): AlarmId => s.schedule(delayUs, fired, 'alarm'),
      cancel: (id: AlarmId) => s.cancel(id as Timer),
    };
  }

  /** Advance virtual time to `untilUs`, as fast as possible. */
  runUntil(untilUs: number): void {
    this.scheduler.runUntil(untilUs);
  }

  runFor(durationUs: number): void {
    this.scheduler.runFor(durationUs);
  }

  /**
   * Start a split-phase operation and run the world event by event until its callback fires;
   * return what it got. For scenarios and tests that script a story step by step. A coded
   * error (`sim.stalled`) if nothing completes within `maxUs` of virtual time.
   */
  settle<T>(start: (done: (result: T) => void) => void, maxUs = 120_000_000): T {
    let out: { v: T } | undefined;
    start((r) => (out = { v: r }));
    const deadline = this.scheduler.nowUs + maxUs;
    while (out === undefined && this.scheduler.nowUs <= deadline && this.scheduler.step()) {
      // one event at a time until the completion arrives
    }
    if (out === undefined) throw new MedtwinError('sim.stalled', `no completion within ${maxUs / 1e6} virtual s`);
    return out.v;
  }

  /**
   * Advance virtual time to `untilUs`, either as fast as possible or in step with the wall
   * clock (demo rigs, real BLE stacks in the loop). `speed` > 1 runs real time faster.
   */
  async run(untilUs: number, pacing: Pacing = 'fast', speed = 1): Promise<void> {
    if (pacing === 'fast') {
      this.scheduler.runUntil(untilUs);
      return;
    }
    if (!(speed > 0)) throw new MedtwinError('sim.speed', `real-time speed must be > 0, got ${speed}`);
    const startVirtualUs = this.scheduler.nowUs;
    const startWallMs = performance.now(); // wall-clock: real-time pacing maps virtual time to the wall clock
    for (;;) {
      const next = this.scheduler.nextDeadlineUs();
      const target = next === undefined || next > untilUs ? untilUs : next;
      const dueWallMs = startWallMs + (target - startVirtualUs) / 1000 / speed;
      const waitMs = dueWallMs - performance.now(); // wall-clock: real-time pacing
      // Yield to the event loop before every deadline, even when behind: real BLE stacks in the
      // loop (bleno, noble) need their I/O turns between our events.
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs)); // wall-clock: real-time pacing
      else await new Promise((r) => setImmediate(r)); // wall-clock: real-time pacing yields to I/O
      if (target === untilUs && (next === undefined || next > untilUs)) {
        this.scheduler.runUntil(untilUs);
        return;
      }
      this.scheduler.runUntil(target);
    }
  }
}
