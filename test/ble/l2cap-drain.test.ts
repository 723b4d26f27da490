import { describe, expect, it } from 'vitest';
import type { GattResult, GattService } from '../../src/ble/gatt-client.ts';
import { bleDevices } from './ble-devices.ts';

describe('L2capLink.whenDrained', () => {
  it('calls back only after the peer acknowledged every fragment queued before it; at once when idle', () => {
    const d = bleDevices({ seed: 'drain' });
    const { phoneLink, pumpLink } = d.connect();
    const g = phoneLink.gatt;
    const services = d.settle<GattResult<GattService[]>>((done) => g.discoverAll(done));
    if (!services.ok) throw new Error(services.code);
    const stream = services.value[4]!.characteristics[2]!;
    const got: number[] = [];
    const sub = d.settle<GattResult<() => void>>((done) => g.subscribe(stream, 'notify', () => got.push(d.world.nowUs), done));
    expect(sub.ok).toBe(true);
    const conn = pumpLink.connection.handle;
    // 40 notifications of 20 bytes: several connection events' worth at 27-byte LL payloads.
    for (let i = 0; i < 40; i++) expect(d.server.notify(conn, 'test.stream', new Uint8Array(20).fill(i))).toEqual({ ok: true });
    const drainedAt = d.settle<number>((done) => pumpLink.l2cap.whenDrained(() => done(d.world.nowUs)));
    expect(got).toHaveLength(40);
    expect(drainedAt).toBeGreaterThanOrEqual(got.at(-1)!);
    // Nothing outstanding now: the callback comes on the next scheduler turn, same instant.
    const idleAt = d.settle<number>((done) => pumpLink.l2cap.whenDrained(() => done(d.world.nowUs)));
    const t = d.world.nowUs;
    expect(idleAt).toBe(t);
  });
});
