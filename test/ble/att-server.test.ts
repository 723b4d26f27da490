// Tests of the ATT server at the radio boundary: every Error Response code, writes, prepare queue, hooks, deferral.
// Not the air (gatt.test.ts runs the same server through it).

import { describe, expect, it } from 'vitest';
import { ATT_ERROR } from '../../src/ble/att-pdu.ts';
import { DEFERRED, type ReadRequest, type ServiceDef, type WriteRequest } from '../../src/ble/gatt-db.ts';
import { BatteryService } from '../../src/ble/services/battery.ts';
import { uuid16 } from '../../src/ble/uuid.ts';
import { DATA_200, FixedPower, TEST_SERVICE_UUID, TEST_UUID, pumpServices } from './ble-devices.ts';
import { bytes, hex, loopback, type LoopbackOptions } from './loopback.ts';

const NAME = '6d656474 77696e20 70756d70'; // "medtwin pump"
const leHex = (u: { le: Uint8Array }): string => hex(u.le);

/** After the pump's services (0x0001–0x0026): a service of awkward attributes, 0x0027–0x002F. */
function awkward(reads: ReadRequest[], writes: WriteRequest[]): ServiceDef {
  return {
    uuid: uuid16(0xfff0),
    characteristics: [
      { uuid: uuid16(0xfff1), properties: ['read', 'write'], value: bytes('61757468'), security: { readAuthentication: true, writeAuthentication: true } }, // 0x0029
      {
        uuid: uuid16(0xfff2), // 0x002B: firmware answers later
        properties: ['read', 'write'],
        onRead: (r) => (reads.push(r), DEFERRED),
        onWrite: (w) => (writes.push(w), DEFERRED),
      },
      { uuid: uuid16(0xfff3), properties: ['read', 'write'], value: bytes('00000000'), fixedLengthBytes: 4 }, // 0x002D
      {
        uuid: uuid16(0xfff4), // 0x002F
        properties: ['read'],
        onRead: () => {
          throw new Error('firmware bug');
        },
      },
    ],
  };
}

function server(opts: Partial<LoopbackOptions> = {}) {
  const reads: ReadRequest[] = [];
  const writes: WriteRequest[] = [];
  const battery = new BatteryService(new FixedPower(87));
  const lb = loopback({ services: [...pumpServices(battery), awkward(reads, writes)], ...opts });
  battery.attach(lb.server);
  return { ...lb, reads, writes };
}

const rsp = (lb: ReturnType<typeof server>, req: string): string[] => lb.att(bytes(req)).map(hex);

describe('ATT server: Error Responses and answers (Vol 3 Part F §3.4)', () => {
  it('lays the database out with the handles the tests below use', () => {
    const { db } = server();
    expect(db.services.map((s) => [s.uuid.value16 ?? s.uuid.text, s.startHandle, s.endHandle])).toEqual([
      [0x1800, 0x01, 0x05],
      [0x1801, 0x06, 0x09],
      [0x180a, 0x0a, 0x14],
      [0x180f, 0x15, 0x18],
      [TEST_SERVICE_UUID.text, 0x19, 0x26],
      [0xfff0, 0x27, 0x2f],
    ]);
    expect(db.handleOf('test.data')).toBe(0x1b);
    expect(db.handleOf('test.stream.cccd')).toBe(0x21);
    expect(db.handleOf('bas.level')).toBe(0x17);
  });

  const TABLE: [string, string, string | null][] = [
    ['Read of handle 0x0000', '0a 0000', '01 0a 0000 01'],
    ['Read past the last handle', '0a 3000', '01 0a 3000 01'],
    ['Read of Service Changed (indicate only)', '0a 0800', '01 0a 0800 02'],
    ['Read needing authorization, no hook', '0a 2600', '01 0a 2600 08'],
    ['Read needing authentication', '0a 2900', '01 0a 2900 05'],
    ['Write needing authentication', '12 2900 00', '01 12 2900 05'],
    ['Write to the read-only Device Name', '12 0300 41', '01 12 0300 03'],
    ['Write to a declaration', '12 0200 00', '01 12 0200 03'],
    ['Write longer than control allows (16)', `12 1e00 ${'00'.repeat(17)}`, '01 12 1e00 0d'],
    ['Write of the wrong length to a fixed 4-byte value', '12 2d00 0102', '01 12 2d00 0d'],
    ['CCCD write of 3 bytes', '12 1800 010000', '01 12 1800 0d'],
    ['Read Request of 4 bytes (Invalid PDU)', '0a 0300 00', '01 0a 0000 04'],
    ['Write Request without a handle', '12 03', '01 12 0000 04'],
    ['Exchange MTU of 1 byte', '02 17', '01 02 0000 04'],
    ['an unknown request 0x3F', '3f 0102', '01 3f 0000 06'],
    ['an unknown command 0x7F (ignored)', '7f 0102', null],
    ['a malformed Write Command (ignored)', '52 1e', null],
    ['a Write Command to a read-only value (ignored)', '52 0300 41', null],
    ['a Signed Write Command (no signing key: ignored)', 'd2 1e00 01 000102030405060708090a0b', null],
    ['a Handle Value Confirmation nobody waits for (ignored)', '1e', null],
    ['a response sent to the server (ignored)', '0b 0102', null],
    ['Read Blob past the end of the 200-byte data', '0c 1b00 c900', '01 0c 1b00 07'],
    ['Read Blob at exactly the end', '0c 1b00 c800', '0d'],
    ['Read Blob of a short fixed value (Appearance)', '0c 0500 0000', '01 0c 0500 0b'],
    ['Read Blob of a declaration', '0c 0200 0000', '01 0c 0200 0b'],
    ['Read Blob in the middle', '0c 1b00 c000', '0d c0c1c2c3c4c5c6c7'],
    ['Find Information from 0x0000', '04 0000 ffff', '01 04 0000 01'],
    ['Find Information with start > end', '04 0500 0400', '01 04 0500 01'],
    ['Find Information past the end', '04 3000 ffff', '01 04 3000 0a'],
    ['Find Information 0x0008–0x0009', '04 0800 0900', '05 01 0800 052a 0900 0229'],
    ['Find Information stops where the UUID size changes', '04 1a00 1c00', '05 01 1a00 0328'],
    ['Find Information of one 128-bit type', '04 1b00 1b00', `05 02 1b00 ${leHex(TEST_UUID.data)}`],
    ['Read By Group Type of a non-grouping type', '10 0100 ffff 0328', '01 10 0100 10'],
    ['Read By Group Type with start 0', '10 0000 ffff 0028', '01 10 0000 01'],
    ['Read By Group Type stops where the value length changes', '10 1500 ffff 0028', '11 06 1500 1800 0f18'],
    ['Read By Group Type of the 128-bit service', '10 1900 2600 0028', `11 14 1900 2600 ${leHex(TEST_SERVICE_UUID)}`],
    ['Read By Group Type past the end', '10 3000 ffff 0028', '01 10 3000 0a'],
    ['Read By Type of Battery Level (from the Power HAL)', '08 0100 ffff 192a', '09 03 1700 57'],
    ['Read By Type of characteristics in GAP', '08 0100 0500 0328', '09 07 0200 020300002a 0400 020500012a'],
    ['Read By Type of the secret (authorization)', `08 0100 ffff ${leHex(TEST_UUID.secret)}`, '01 08 2600 08'],
    ['Read By Type of a type nobody has', '08 0100 ffff 3412', '01 08 0100 0a'],
    ['Read By Type with start > end', '08 0200 0100 0328', '01 08 0200 01'],
    ['Find By Type Value of the Battery service', '06 0100 ffff 0028 0f18', '07 1500 1800'],
    ['Find By Type Value of an absent service', '06 0100 ffff 0028 3412', '01 06 0100 0a'],
    ['Find By Type Value with start 0', '06 0000 ffff 0028 0f18', '01 06 0000 01'],
    ['Read Multiple with an invalid handle', '0e 0300 3000', '01 0e 3000 01'],
    ['Read Multiple with an unreadable one', '0e 0300 0800', '01 0e 0800 02'],
    ['Read Multiple of name and appearance', '0e 0300 0500', `0f ${NAME} 410d`],
    ['Read Multiple Variable of name and appearance', '20 0300 0500', `21 0c00 ${NAME} 0200 410d`],
    ['Read Multiple of one handle (Invalid PDU)', '0e 0300', '01 0e 0000 04'],
    ['Execute Write with reserved flags', '18 02', '01 18 0000 04'],
    ['Execute Write with an empty queue', '18 01', '19'],
    ['Prepare Write to a read-only value', '16 0300 0000 41', '01 16 0300 03'],
    ['Prepare Write to a missing handle', '16 3000 0000 41', '01 16 3000 01'],
    ['Read of a firmware callback that throws', '0a 2f00', '01 0a 2f00 0e'],
    ['Read of a fixed 4-byte value', '0a 2d00', '0b 00000000'],
    ['Read of the Device Name', '0a 0300', `0b ${NAME}`],
  ];

  it.each(TABLE)('%s: %s → %s', (_name, req, expected) => {
    const lb = server();
    expect(rsp(lb, req)).toEqual(expected === null ? [] : [expected.replaceAll(' ', '')]);
  });

  it('cuts a Read Response to ATT_MTU − 1 and a Read By Type value to ATT_MTU − 4', () => {
    const lb = server();
    expect(rsp(lb, '0a 1b00')).toEqual(['0b' + hex(DATA_200.subarray(0, 22))]);
    expect(rsp(lb, `08 1b00 1b00 ${leHex(TEST_UUID.data)}`)).toEqual(['09151b00' + hex(DATA_200.subarray(0, 19))]);
  });

  it('drops a PDU longer than ATT_MTU and records why', () => {
    const lb = server();
    expect(rsp(lb, `12 1b00 ${'aa'.repeat(21)}`)).toEqual([]); // 24 bytes > 23
    expect(lb.world.trace.filter({ kind: 'att.rx' }).at(-1)!.fields).toMatchObject({ opcode: 0x12, invalid: 'mtu', length: 24 });
    expect(lb.db.value(0x1b)).toEqual(DATA_200);
  });
});

describe('ATT server: MTU, writes and the prepare queue', () => {
  it('answers Exchange MTU with its Rx MTU and then uses the smaller of the two', () => {
    const lb = server({ rxMtu: 100 });
    expect(rsp(lb, '02 0002')).toEqual(['036400']);
    expect(rsp(lb, '0a 1b00')).toEqual(['0b' + hex(DATA_200.subarray(0, 99))]);
    // Below 23 counts as 23 (§3.4.2.2); the first exchange fixed ATT_MTU for the connection.
    const lb2 = server();
    expect(rsp(lb2, '02 0500')).toEqual(['03f700']);
    expect(lb2.host.link(1)!.att.mtu).toBe(23);
  });

  it('writes a long value through Prepare Write and Execute Write, in order and echoed', () => {
    const lb = server();
    const v = Uint8Array.from({ length: 40 }, (_, i) => 0xa0 + i);
    expect(rsp(lb, '16 1b00 0000' + hex(v.subarray(0, 18)))).toEqual(['17 1b00 0000'.replaceAll(' ', '') + hex(v.subarray(0, 18))]);
    expect(rsp(lb, '16 1b00 1200' + hex(v.subarray(18, 36)))).toEqual(['171b001200' + hex(v.subarray(18, 36))]);
    expect(rsp(lb, '16 1b00 2400' + hex(v.subarray(36)))).toEqual(['171b002400' + hex(v.subarray(36))]);
    expect(lb.db.value(0x1b)).toEqual(DATA_200); // nothing written before Execute Write
    expect(rsp(lb, '18 01')).toEqual(['19']);
    expect(lb.db.value(0x1b)).toEqual(v); // a long write of a shorter value shortens it
  });

  it('cancels the queue with Execute Write 0x00', () => {
    const lb = server();
    rsp(lb, '16 1b00 0000 ffff');
    expect(rsp(lb, '18 00')).toEqual(['19']);
    expect(rsp(lb, '18 01')).toEqual(['19']);
    expect(lb.db.value(0x1b)).toEqual(DATA_200);
  });

  it('checks offsets and lengths at Execute Write and then writes nothing (§3.4.6.3)', () => {
    const lb = server();
    rsp(lb, '16 1e00 0000 01'); // control: fine
    rsp(lb, '16 1b00 c900 01'); // data: offset 201 > 200
    expect(rsp(lb, '18 01')).toEqual(['01181b0007']);
    expect(lb.db.value(0x1e)).toEqual(Uint8Array.of(0));
    rsp(lb, '16 1e00 0000' + '11'.repeat(14));
    rsp(lb, '16 1e00 0e00 2222 33'); // 17 bytes > 16
    expect(rsp(lb, '18 01')).toEqual(['01181e000d']);
    expect(lb.db.value(0x1e)).toEqual(Uint8Array.of(0));
    // A fixed-length value takes a partial overwrite.
    rsp(lb, '16 2d00 0200 aabb');
    expect(rsp(lb, '18 01')).toEqual(['19']);
    expect(lb.db.value(0x2d)).toEqual(bytes('0000aabb'));
  });

  it('answers Prepare Queue Full beyond its limit', () => {
    const lb = server({ prepareQueueLimit: 2 });
    rsp(lb, '16 1b00 0000 01');
    rsp(lb, '16 1b00 0100 02');
    expect(rsp(lb, '16 1b00 0200 03')).toEqual(['01161b0009']);
    expect(rsp(lb, '18 01')).toEqual(['19']);
    expect(lb.db.value(0x1b)).toEqual(bytes('0102'));
  });

  it('applies a valid Write Command silently', () => {
    const lb = server();
    expect(rsp(lb, '52 1e00 0506')).toEqual([]);
    expect(lb.db.value(0x1e)).toEqual(bytes('0506'));
  });

  it('keeps CCCDs per client and reports writes to them', () => {
    const lb = server();
    const seen: [number, number, number][] = [];
    lb.server.onSubscription((conn, ch, v) => seen.push([conn, ch.valueHandle, v]));
    expect(rsp(lb, '12 2100 0100')).toEqual(['13']);
    expect(rsp(lb, '0a 2100')).toEqual(['0b0100']);
    expect(seen).toEqual([[1, 0x20, 1]]);
    expect(lb.server.subscription(1, 'test.stream')).toBe(1);
    expect(lb.db.value(0x21)).toBeUndefined(); // not a stored value
  });
});

describe('ATT server: hooks, firmware callbacks and ordering', () => {
  it('asks the authorize hook before every access and answers its code', () => {
    const asked: string[] = [];
    const lb = server({
      authorize: (r) => {
        asked.push(`${r.op}:${r.handle}:${r.authorizationRequired}`);
        return r.handle === 0x1e ? 0x80 : undefined;
      },
    });
    expect(rsp(lb, '0a 2600')).toEqual(['0b' + hex(Buffer.from('secret'))]);
    expect(rsp(lb, '12 1e00 01')).toEqual(['01121e0080']);
    expect(rsp(lb, '0a 0200')).toEqual(['0b020300002a']); // declarations are not gated
    expect(asked).toEqual(['read:38:true', 'write:30:false']);
  });

  it('lets the link say it is authenticated', () => {
    const lb = server({ isAuthenticated: () => true });
    expect(rsp(lb, '0a 2900')).toEqual(['0b61757468']);
  });

  it('answers a deferred read when firmware replies, and handles the next request after it, in order', () => {
    const lb = server();
    expect(rsp(lb, '0a 2b00')).toEqual([]); // firmware holds the answer
    expect(rsp(lb, '0a 0500')).toEqual([]); // a second request waits its turn (§3.3.2)
    expect(lb.reads.map((r) => [r.handle, r.offset])).toEqual([[0x2b, 0]]);
    lb.reads[0]!.reply({ ok: true, value: bytes('cafe') });
    expect(lb.drain().map((f) => hex(f.payload))).toEqual(['0bcafe', '0b410d']);
    lb.reads[0]!.reply({ ok: true, value: bytes('00') }); // a second reply is ignored
    expect(lb.drain()).toEqual([]);
  });

  it('passes a deferred write with its offset and answers firmware\'s error code', () => {
    const lb = server();
    expect(rsp(lb, '12 2b00 0102')).toEqual([]);
    const w = lb.writes[0]!;
    expect([w.handle, w.offset, hex(w.value), w.via]).toEqual([0x2b, 0, '0102', 'write-request']);
    w.reply({ ok: false, code: ATT_ERROR.VALUE_NOT_ALLOWED });
    expect(lb.drain().map((f) => hex(f.payload))).toEqual(['01122b0013']);
    expect(lb.server.handlerErrors).toEqual([]);
  });

  it('turns a throwing callback into Unlikely Error and records it', () => {
    const lb = server();
    rsp(lb, '0a 2f00');
    expect(lb.server.handlerErrors.map((e) => e.handle)).toEqual([0x2f]);
    expect(lb.world.trace.filter({ kind: 'att.handler-error' })[0]!.fields).toMatchObject({ handle: 0x2f, error: 'firmware bug' });
  });
});

describe('ATT server: notifications and indications (§3.4.7)', () => {
  it('notifies only a subscribed client and cuts the value to ATT_MTU − 3', () => {
    const lb = server();
    expect(lb.server.notify(1, 'test.stream', bytes('01'))).toMatchObject({ ok: false, code: 'not-subscribed' });
    rsp(lb, '12 2100 0100');
    expect(lb.server.notify(1, 'test.stream', new Uint8Array(30).fill(7))).toEqual({ ok: true });
    expect(lb.drain().map((f) => hex(f.payload))).toEqual(['1b2000' + '07'.repeat(20)]);
  });

  it('sends one indication at a time and completes each on its confirmation', () => {
    const lb = server();
    rsp(lb, '12 2400 0200');
    const done: string[] = [];
    lb.server.indicate(1, 'test.alert', bytes('01'), (r) => done.push(`1:${r.ok}`));
    lb.server.indicate(1, 'test.alert', bytes('02'), (r) => done.push(`2:${r.ok}`));
    expect(lb.drain().map((f) => hex(f.payload))).toEqual(['1d230001']);
    expect(rsp(lb, '1e')).toEqual(['1d230002']);
    expect(done).toEqual(['1:true']);
    expect(rsp(lb, '1e')).toEqual([]);
    expect(done).toEqual(['1:true', '2:true']);
  });

  it('closes the bearer when a confirmation does not come within 30 s (§3.3.3)', () => {
    const lb = server();
    rsp(lb, '12 2400 0200');
    rsp(lb, '12 2100 0100');
    const done: string[] = [];
    lb.server.indicate(1, 'test.alert', bytes('01'), (r) => done.push(r.ok ? 'ok' : r.code));
    lb.drain();
    lb.world.runFor(29_999_999);
    expect(done).toEqual([]);
    lb.world.runFor(1);
    expect(done).toEqual(['timeout']);
    expect(lb.server.notify(1, 'test.stream', bytes('01'))).toMatchObject({ ok: false, code: 'closed' });
    expect(rsp(lb, '0a 0300')).toEqual([]); // no more ATT on this bearer
  });
});
