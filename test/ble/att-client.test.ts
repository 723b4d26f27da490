// Tests of the ATT client role on a bare bearer: response matching, confirmations, long-write echo checks.
// Not the server (att-server.test.ts) and not timing (gatt.test.ts, timing.test.ts).

import { describe, expect, it } from 'vitest';
import { AttBearer } from '../../src/ble/att-bearer.ts';
import { AttClient } from '../../src/ble/att-client.ts';
import { GattClient, type GattResult } from '../../src/ble/gatt-client.ts';
import { World } from '../../src/sim/world.ts';
import { bytes, hex } from './loopback.ts';
import { FixedPower, bleDevices } from './ble-devices.ts';

/** A GATT client on a bare bearer: what it sends is recorded, what the "server" says is fed in by hand. */
function client() {
  const world = new World({ seed: 'client' });
  const sent: string[] = [];
  const bearer = new AttBearer({ env: { alarm: world.alarm(), trace: world.trace, device: 'phone' }, conn: 1, sendFrame: (p) => (sent.push(hex(p)), true) });
  const g = new GattClient(new AttClient(bearer));
  const results: unknown[] = [];
  const keep = (r: unknown) => results.push(r);
  const server = (h: string) => bearer.received(bytes(h));
  return { world, bearer, g, sent, results, keep, server };
}

describe('ATT client: matching responses to its one outstanding request', () => {
  it('ignores responses that are not for its request, and fails a malformed one', () => {
    const c = client();
    c.g.read(0x03, c.keep);
    expect(c.sent).toEqual(['0a0300']);
    c.server('0d 0102'); // a Read Blob Response: not what was asked
    c.server('01 0c 0300 0a'); // an Error Response to another request
    c.server('13'); // a Write Response
    expect(c.results).toEqual([]);
    c.server('01 0a 03'); // an Error Response of 3 bytes
    expect(c.results).toMatchObject([{ ok: false, code: 'bad-response' }]);
    c.g.read(0x05, c.keep);
    c.server('01 0a 0500 02');
    expect(c.results[1]).toMatchObject({ ok: false, code: 'att', attError: 0x02, handle: 0x05 });
    expect(c.world.trace.filter({ kind: 'att.drop' }).map((r) => r.fields.reason)).toEqual(['unexpected-response', 'error-for-other-request', 'unexpected-response']);
  });

  it('confirms every well-formed indication after handing it over, and never a notification', () => {
    const c = client();
    const got: string[] = [];
    c.g.onValue(0x23, (v, kind) => got.push(`${kind}:${hex(v)}`));
    c.server('1d 2300 ee');
    c.server('1b 2300 dd');
    c.server('1d 23'); // malformed: dropped, not confirmed
    c.server('23 2300 0100 aa 1700 0100 bb');
    expect(got).toEqual(['indication:ee', 'notification:dd', 'notification:aa']);
    expect(c.sent).toEqual(['1e']);
  });

  it('refuses a value too long for one Write Request, from the scheduler', () => {
    const c = client();
    c.g.write(0x1e, new Uint8Array(21), c.keep);
    expect(c.results).toEqual([]);
    c.world.runFor(0);
    expect(c.results).toMatchObject([{ ok: false, code: 'size' }]);
    expect(c.g.writeWithoutResponse(0x1e, new Uint8Array(21))).toMatchObject({ ok: false, code: 'size' });
    expect(c.sent).toEqual([]);
  });

  it('cancels a long write whose Prepare Write echo differs (§4.9.5)', () => {
    const c = client();
    c.g.writeLong(0x1b, Uint8Array.from({ length: 20 }, (_, i) => i), c.keep);
    expect(c.sent).toEqual(['161b000000' + hex(Uint8Array.from({ length: 18 }, (_, i) => i))]);
    c.server('17 1b00 0000' + '00'.repeat(18)); // not an echo
    expect(c.sent.at(-1)).toBe('1800');
    c.server('19');
    expect(c.results).toMatchObject([{ ok: false, code: 'mismatch' }]);
  });

  it('ends discovery with bad-response when a server lists groups backwards', () => {
    const c = client();
    c.g.discoverPrimaryServices(c.keep);
    c.server('11 06 0500 0100 0018');
    expect(c.results).toMatchObject([{ ok: false, code: 'bad-response' }]);
  });

  it('discovers services over several requests and stops at Attribute Not Found', () => {
    const c = client();
    c.g.discoverPrimaryServices(c.keep);
    c.server('11 06 0100 0500 0018 0600 0900 0118');
    expect(c.sent.at(-1)).toBe('100a00ffff0028');
    c.server('01 10 0a00 0a');
    const r = c.results[0] as GattResult<{ startHandle: number; endHandle: number }[]>;
    expect(r.ok && r.value.map((s) => [s.startHandle, s.endHandle])).toEqual([
      [1, 5],
      [6, 9],
    ]);
  });
});

describe('a host without a GATT server', () => {
  it('still answers Exchange MTU, and Request Not Supported to the rest', () => {
    const d = bleDevices({ power: new FixedPower(50) });
    const { pumpLink, phoneLink } = d.connect();
    const pg = pumpLink.gatt; // the pump as a client of the phone
    expect(d.settle<GattResult<number>>((done) => pg.exchangeMtu(done))).toEqual({ ok: true, value: 247 });
    expect(phoneLink.att.mtu).toBe(247);
    expect(d.settle<GattResult<Uint8Array>>((done) => pg.read(0x0001, done))).toMatchObject({ ok: false, code: 'att', attError: 0x06, handle: 0 });
  });
});
