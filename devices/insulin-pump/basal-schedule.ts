// The time-of-day basal profile: which block of a basal template is in force at a device time, and the timer that
// hands the engine the block's rate at every block boundary. Not the templates (profile-templates.ts) nor the pulse pacing (delivery-engine.ts).
//
// The pump's day: IDS has no op code to set the time (Date Time comes from another service, and
// this pump has none), so local midnight is device time 0 and every 24 h after it: the time of
// day is `nowUs mod 24 h` on the Alarm clock, which runs on across reboots (hal/alarm.ts).
// Block k of a template starts at the sum of the durations before it (ids.md §3.1: index from 1,
// durations summing to 1440 min) and ends where block k+1 starts; the last ends at midnight.
//
// At a boundary the timer fires at exactly the block's end (integer µs on the virtual clock) and
// the rate is changed there: the engine accrues the old rate up to that instant and the new one
// after it (delivery-engine.ts `setBasalRate`), so a pulse never straddles two rates unaccounted.

import type { Alarm, AlarmId } from '../../hal/alarm.ts';
import type { ProfileBlock } from './ids/command-cp.ts';

export const US_PER_MINUTE = 60_000_000;
export const US_PER_DAY = 1_440 * US_PER_MINUTE;

export interface BlockInForce {
  /** Time block index, 1-based (ids.md §3.1). */
  readonly index: number;
  readonly rateMilliUnitsPerHour: number;
  /** Device time the block began and ends (the next boundary), µs. */
  readonly startUs: number;
  readonly endUs: number;
}

/** The block in force at device time `nowUs` (blocks summing to 24 h, as profile-templates.ts stores them). */
export function blockAt(blocks: readonly ProfileBlock[], nowUs: number): BlockInForce {
  const dayStartUs = nowUs - (nowUs % US_PER_DAY);
  let startUs = dayStartUs;
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i]!;
    const endUs = startUs + b.durationMinutes * US_PER_MINUTE;
    // The last block runs to midnight whatever rounding (the durations sum to 1440 min exactly).
    if (nowUs < endUs || i === blocks.length - 1) return { index: i + 1, rateMilliUnitsPerHour: b.valueMilli, startUs, endUs: i === blocks.length - 1 ? dayStartUs + US_PER_DAY : endUs };
    startUs = endUs;
  }
  throw new RangeError('a basal template without blocks');
}

export interface BasalScheduleOptions {
  readonly alarm: Alarm;
  /** Put `rate` in force now (the port passes it to the engine); called at follow() and at each boundary. */
  readonly apply: (rateMilliUnitsPerHour: number, block: BlockInForce) => void;
}

/** Follows one basal template by time of day: one Alarm per block boundary, none when idle. */
export class BasalSchedule {
  private blocks: readonly ProfileBlock[] | undefined;
  private timer: AlarmId | undefined;

  constructor(private readonly opts: BasalScheduleOptions) {}

  /** Follow `blocks` from now: the current block's rate at once, then each boundary. */
  follow(blocks: readonly ProfileBlock[]): BlockInForce {
    this.blocks = blocks;
    return this.tick();
  }

  /** Follow nothing (no timer left armed). */
  stop(): void {
    if (this.timer !== undefined) this.opts.alarm.cancel(this.timer);
    this.timer = undefined;
    this.blocks = undefined;
  }

  /** The block in force now, or undefined when no template is followed. */
  current(): BlockInForce | undefined {
    return this.blocks === undefined ? undefined : blockAt(this.blocks, this.opts.alarm.nowUs());
  }

  private tick(): BlockInForce {
    const { alarm } = this.opts;
    if (this.timer !== undefined) alarm.cancel(this.timer);
    const now = alarm.nowUs();
    const b = blockAt(this.blocks!, now);
    this.timer = alarm.setAlarm(b.endUs - now, () => {
      this.timer = undefined;
      if (this.blocks !== undefined) this.tick();
    });
    this.opts.apply(b.rateMilliUnitsPerHour, b);
    return b;
  }
}
