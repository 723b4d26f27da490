import { describe, expect, it } from 'vitest';
import { afterCpu, type CpuMeter } from '../../src/session/cpu-time.ts';
import { linkPair } from '../../src/session/link.ts';
import { World } from '../../src/sim/world.ts';

describe('linkPair', () => {
  it('delivers whole messages in order, latencyUs later, never inside send()', () => {
    const world = new World();
    const { a, b } = linkPair(world.alarm(), { latencyUs: 1_000 });
    const got: Array<[number, number]> = [];
    b.setReceiver((m) => got.push([world.nowUs, m[0]!]));
    a.send(Uint8Array.of(1));
    a.send(Uint8Array.of(2));
    expect(got).toEqual([]);
    world.runFor(5_000);
    expect(got).toEqual([
      [1_000, 1],
      [1_000, 2],
    ]);
  });

  it('lets a tap drop or replace a message, and stops everything after close()', () => {
    const world = new World();
    const { a, b } = linkPair(world.alarm(), { tap: (from, m) => (m[0] === 9 ? 'drop' : from === 'a' ? Uint8Array.of(m[0]! + 100) : undefined) });
    const got: number[] = [];
    const closed: string[] = [];
    b.setReceiver((m) => got.push(m[0]!));
    a.setClosedHandler((r) => closed.push(`a:${r}`));
    b.setClosedHandler((r) => closed.push(`b:${r}`));
    a.send(Uint8Array.of(1));
    a.send(Uint8Array.of(9));
    world.runFor(100_000);
    a.send(Uint8Array.of(3));
    b.close('done');
    a.send(Uint8Array.of(2));
    world.runFor(100_000);
    // 3 was sent before the close: it arrives; 2 came after: it never does.
    expect(got).toEqual([101, 103]);
    expect(closed).toEqual(['a:done', 'b:done']);
  });
});

describe('afterCpu', () => {
  it('delivers the result after the CPU time the computation charged', () => {
    const world = new World();
    let cycles = 0;
    const meter: CpuMeter = { cyclesNow: () => cycles, cpuClockHz: 48_000_000 };
    const done: Array<[string, number, number]> = [];
    afterCpu(
      world.alarm(),
      meter,
      () => {
        cycles += 45_000_000; // one P-256 ECDH on the KW31Z
        return 'dhkey';
      },
      (v, cpuUs) => done.push([v, cpuUs, world.nowUs]),
      () => done.push(['failed', 0, world.nowUs]),
    );
    expect(done).toEqual([]);
    world.runFor(2_000_000);
    expect(done).toEqual([['dhkey', 937_500, 937_500]]);
  });

  it('runs one computation at a time on a device: a second started meanwhile is delivered after the first', () => {
    const world = new World();
    let cycles = 0;
    const meter: CpuMeter = { cyclesNow: () => cycles, cpuClockHz: 48_000_000 };
    const done: Array<[string, number]> = [];
    const burn = (name: string, n: number) =>
      afterCpu(world.alarm(), meter, () => ((cycles += n), name), (v) => done.push([v, world.nowUs]), () => {});
    burn('keygen', 48_000_000); // 1 s
    burn('ecdh', 24_000_000); // 0.5 s, queued behind the keygen
    world.runFor(5_000_000);
    burn('cmac', 48_000); // 1 ms, on an idle CPU again
    world.runFor(1_000_000);
    expect(done).toEqual([
      ['keygen', 1_000_000],
      ['ecdh', 1_500_000],
      ['cmac', 5_001_000],
    ]);
  });

  it('delivers a thrown error as failed, never out of the call', () => {
    const world = new World();
    const seen: string[] = [];
    afterCpu(
      world.alarm(),
      { cyclesNow: () => 0, cpuClockHz: 48_000_000 },
      () => {
        throw new Error('bad point');
      },
      () => seen.push('done'),
      (e) => seen.push((e as Error).message),
    );
    world.runFor(1);
    expect(seen).toEqual(['bad point']);
  });
});
