import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/sim/scheduler.ts';
import { MedtwinError } from '../../src/errors.ts';

describe('Scheduler', () => {
  it('runs events in deadline order, same-time events in scheduling order', () => {
    const s = new Scheduler();
    const seen: string[] = [];
    s.schedule(300, () => seen.push(`c@${s.nowUs}`));
    s.schedule(100, () => seen.push(`a@${s.nowUs}`));
    s.schedule(100, () => seen.push(`b@${s.nowUs}`));
    s.runUntilIdle();
    expect(seen).toEqual(['a@100', 'b@100', 'c@300']);
  });

  it('a timer armed by an event starts from that event time, not from the run target', () => {
    const s = new Scheduler();
    const fired: number[] = [];
    const chain = (n: number) => {
      fired.push(s.nowUs);
      if (n > 0) s.schedule(1_000, () => chain(n - 1));
    };
    s.schedule(1_000, () => chain(4));
    s.runUntil(10_000);
    expect(fired).toEqual([1_000, 2_000, 3_000, 4_000, 5_000]);
    expect(s.nowUs).toBe(10_000);
  });

  it('cancelled events never run and are not counted as pending', () => {
    const s = new Scheduler();
    let ran = false;
    const t = s.schedule(50, () => (ran = true));
    s.schedule(60, () => {});
    expect(s.pending).toBe(2);
    s.cancel(t);
    s.cancel(t);
    expect(s.pending).toBe(1);
    s.runUntilIdle();
    expect(ran).toBe(false);
    expect(s.nowUs).toBe(60);
    expect(s.pending).toBe(0);
  });

  it('rejects negative delays and deadlines in the past with a coded error', () => {
    const s = new Scheduler();
    s.runUntil(500);
    expect(() => s.schedule(-1, () => {})).toThrowError(expect.objectContaining({ code: 'sim.delay' }));
    expect(() => s.scheduleAt(499, () => {})).toThrowError(MedtwinError);
    expect(() => s.runUntil(10)).toThrowError(expect.objectContaining({ code: 'sim.past' }));
    expect(s.pending).toBe(0);
  });

  it('stops a runaway periodic timer with a coded error', () => {
    const s = new Scheduler();
    const tick = () => s.schedule(1, tick);
    tick();
    expect(() => s.runUntilIdle(1_000)).toThrowError(expect.objectContaining({ code: 'sim.runaway' }));
  });

  it('keeps order over many interleaved random deadlines (heap property)', () => {
    const s = new Scheduler();
    const order: number[] = [];
    let x = 12345;
    for (let i = 0; i < 2_000; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const at = x % 10_000;
      s.scheduleAt(at, () => order.push(at));
    }
    s.runUntilIdle();
    expect(order).toHaveLength(2_000);
    for (let i = 1; i < order.length; i++) expect(order[i]!).toBeGreaterThanOrEqual(order[i - 1]!);
  });
});
