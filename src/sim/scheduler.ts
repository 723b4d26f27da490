// The world's virtual clock and discrete-event scheduler: everything that waits is an event here.
// Not a wall-clock timer: time only moves when the scheduler advances, deadline by deadline.

import { MedtwinError } from '../errors.ts';

/** A pending event; keep it to cancel. */
export interface Timer {
  readonly atUs: number;
  readonly seq: number;
  readonly label: string;
  /** @internal */ fn: (() => void) | null;
}

/**
 * Min-heap of (atUs, seq). Events due at the same microsecond run in the order they were
 * scheduled, which is what makes two runs with the same seed identical.
 *
 * Why deadline by deadline: XState's SimulatedClock fires only timers due at the instant
 * you jump to, and timers armed during that flush start from the new time; a long jump
 * skips chained deadlines. Here each event runs at its own instant, so a timer armed by an
 * event starts from that event's time (DESIGN §2).
 */
export class Scheduler {
  private heap: Timer[] = [];
  private seqCounter = 0;
  private live = 0;
  private now = 0;
  /** Number of events run since creation (for benches and progress). */
  eventsRun = 0;

  /** Virtual time in microseconds. */
  get nowUs(): number {
    return this.now;
  }

  /** Events still pending (cancelled ones excluded). */
  get pending(): number {
    return this.live;
  }

  /** The deadline of the next pending event, or undefined when idle. */
  nextDeadlineUs(): number | undefined {
    this.dropCancelledTop();
    return this.heap[0]?.atUs;
  }

  schedule(delayUs: number, fn: () => void, label = ''): Timer {
    if (!(delayUs >= 0) || !Number.isFinite(delayUs)) {
      throw new MedtwinError('sim.delay', `cannot schedule "${label}" ${delayUs} µs from now: delay must be finite and ≥ 0`);
    }
    return this.scheduleAt(this.now + Math.round(delayUs), fn, label);
  }

  scheduleAt(atUs: number, fn: () => void, label = ''): Timer {
    if (!Number.isFinite(atUs) || atUs < this.now) {
      throw new MedtwinError('sim.past', `cannot schedule "${label}" at ${atUs} µs: now is ${this.now} µs`);
    }
    const t: Timer = { atUs: Math.round(atUs), seq: this.seqCounter++, label, fn };
    this.push(t);
    this.live++;
    return t;
  }

  /** Cancel a pending event; cancelling twice or after it ran does nothing. */
  cancel(timer: Timer | undefined): void {
    if (timer && timer.fn) {
      timer.fn = null;
      this.live--;
    }
  }

  /** Run the next event. Returns false when nothing is pending. */
  step(): boolean {
    this.dropCancelledTop();
    const t = this.pop();
    if (!t) return false;
    this.now = t.atUs;
    const fn = t.fn!;
    t.fn = null;
    this.live--;
    this.eventsRun++;
    fn();
    return true;
  }

  /** Run every event due at or before `atUs`, then set the clock to `atUs`. */
  runUntil(atUs: number): number {
    if (atUs < this.now) throw new MedtwinError('sim.past', `cannot run until ${atUs} µs: now is ${this.now} µs`);
    let n = 0;
    for (;;) {
      this.dropCancelledTop();
      const top = this.heap[0];
      if (!top || top.atUs > atUs) break;
      this.step();
      n++;
    }
    this.now = atUs;
    return n;
  }

  runFor(durationUs: number): number {
    return this.runUntil(this.now + durationUs);
  }

  /** Run until nothing is pending, or fail after `maxEvents` (a runaway periodic timer). */
  runUntilIdle(maxEvents = 10_000_000): number {
    let n = 0;
    while (this.step()) {
      if (++n >= maxEvents) {
        throw new MedtwinError('sim.runaway', `still busy after ${maxEvents} events at ${this.now} µs`);
      }
    }
    return n;
  }

  private dropCancelledTop(): void {
    while (this.heap.length > 0 && this.heap[0]!.fn === null) this.pop();
  }

  private less(a: Timer, b: Timer): boolean {
    return a.atUs < b.atUs || (a.atUs === b.atUs && a.seq < b.seq);
  }

  private push(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    if (!top) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

export const US_PER_MS = 1_000;
export const US_PER_S = 1_000_000;
