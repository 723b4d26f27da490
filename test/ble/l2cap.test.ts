// Tests of L2CAP framing, fragmentation and reassembly, the LE signalling channel and the SMP refuser.
// Not ATT (att-*.test.ts).

import { describe, expect, it } from 'vitest';
import { L2capLink, encodeBFrame, fragmentFrame } from '../../src/ble/l2cap.ts';
import { connParamsInRange, decodeSigCommand, encodeSigCommand, LeSignalling } from '../../src/ble/l2cap-signalling.ts';
import { SmpRefuser } from '../../src/ble/smp.ts';
import { World } from '../../src/sim/world.ts';
import { RecordingRadio, bytes, hex } from './loopback.ts';

function link(limits: Record<number, number> = { 4: 64 }) {
  const world = new World({ seed: 'l2cap' });
  const radio = new RecordingRadio(27);
  const got: string[] = [];
  const l = new L2capLink({
    env: { alarm: world.alarm(), trace: world.trace, device: 'pump' },
    radio,
    handle: 1,
    rxLimitBytes: (cid) => limits[cid],
    deliver: (cid, p) => got.push(`${cid}:${hex(p)}`),
  });
  const drops = () => world.trace.filter({ kind: 'l2cap.drop' }).map((r) => r.fields.reason);
  return { world, radio, l, got, drops };
}

describe('L2CAP B-frames on LE-U (Vol 3 Part A §3.1, §7.2)', () => {
  it('fragments a frame to the LL payload size: LLID 2 first, LLID 1 after', () => {
    const f = encodeBFrame(4, Uint8Array.from({ length: 60 }, (_, i) => i));
    expect(hex(f.subarray(0, 4))).toBe('3c000400');
    expect(fragmentFrame(f, 27).map((p) => [p.llid, p.payload.length])).toEqual([
      [2, 27],
      [1, 27],
      [1, 10],
    ]);
  });

  it('queues what the radio cannot take and sends it on `sent`', () => {
    const { radio, l } = link();
    radio.limit = 2;
    l.send(4, new Uint8Array(100)); // 104 bytes: 4 fragments
    expect(radio.sent.length).toBe(2);
    expect(l.queuedFragments).toBe(2);
    radio.queued = 0;
    l.pump();
    expect(radio.sent.map((p) => p.llid)).toEqual([2, 1, 1, 1]);
    expect(l.queuedFragments).toBe(0);
  });

  type Step = [number, string];
  const CASES: [string, Step[], string[], string[]][] = [
    ['one fragment', [[2, '0300 0400 0a0300']], ['4:0a0300'], []],
    ['three fragments', [[2, '0500 0400 0102'], [1, '03'], [1, '0405']], ['4:0102030405'], []],
    ['a header split across fragments', [[2, '05'], [1, '00 04'], [1, '00 0102030405']], ['4:0102030405'], []],
    ['an empty payload', [[2, '0000 0400']], ['4:'], []],
    ['a continuation with no start', [[1, '0102']], [], ['continuation-without-start']],
    ['a new start before the last frame ended', [[2, '0500 0400 0102'], [2, '0100 0400 ff']], ['4:ff'], ['incomplete']],
    ['more bytes than the Length field says', [[2, '0200 0400 010203']], [], ['overrun']],
    ['an overrun in a continuation', [[2, '0300 0400 01'], [1, '020304']], [], ['overrun']],
    ['an unknown CID, then its continuation skipped', [[2, '0400 0700 0102'], [1, '0304'], [2, '0100 0400 aa']], ['4:aa'], ['unknown-cid']],
    ['a frame longer than the channel accepts', [[2, '4100 0400 00'], [2, '0100 0400 bb']], ['4:bb'], ['too-long']],
  ];

  it.each(CASES)('reassembles %s', (_name, steps, delivered, dropped) => {
    const { l, got, drops } = link();
    for (const [llid, h] of steps) l.received(llid as 1 | 2, bytes(h));
    expect(got).toEqual(delivered);
    expect(drops()).toEqual(dropped);
  });

  it('stops sending and receiving once closed', () => {
    const { radio, l, got } = link();
    l.close();
    expect(l.send(4, bytes('0a0300'))).toBe(false);
    l.received(2, bytes('0300 0400 0a0300'));
    expect(radio.sent).toEqual([]);
    expect(got).toEqual([]);
  });
});

describe('LE signalling (Vol 3 Part A §4)', () => {
  it.each([
    ['Command Reject', { code: 'command-reject' as const, identifier: 7, reason: 0, data: new Uint8Array(0) }, '01 07 0200 0000'],
    ['Connection Parameter Update Request', { code: 'connection-parameter-update-req' as const, identifier: 1, intervalMinUnits1250us: 24, intervalMaxUnits1250us: 40, latency: 4, timeoutUnits10ms: 600 }, '12 01 0800 1800 2800 0400 5802'],
    ['Connection Parameter Update Response', { code: 'connection-parameter-update-rsp' as const, identifier: 1, result: 1 }, '13 01 0200 0100'],
  ])('%s encodes and decodes', (_n, cmd, wire) => {
    expect(hex(encodeSigCommand(cmd))).toBe(wire.replaceAll(' ', ''));
    expect(decodeSigCommand(bytes(wire))).toEqual({ ok: true, value: cmd });
  });

  it.each([
    ['3 bytes', '12 01 08', 'short'],
    ['identifier 0', '12 00 0800 1800 2800 0400 5802', 'identifier'],
    ['Length field wrong', '12 01 0900 1800 2800 0400 5802', 'length'],
    ['update request of 6 bytes', '12 01 0600 1800 2800 0400', 'length'],
  ])('rejects %s', (_n, wire, code) => {
    expect(decodeSigCommand(bytes(wire))).toMatchObject({ ok: false, code });
  });

  it.each([
    [{ intervalMinUnits1250us: 6, intervalMaxUnits1250us: 3200, latency: 0, timeoutUnits10ms: 3200 }, true], // 32 s > 4 s × 2
    [{ intervalMinUnits1250us: 6, intervalMaxUnits1250us: 6, latency: 0, timeoutUnits10ms: 10 }, true],
    [{ intervalMinUnits1250us: 5, intervalMaxUnits1250us: 6, latency: 0, timeoutUnits10ms: 10 }, false],
    [{ intervalMinUnits1250us: 40, intervalMaxUnits1250us: 24, latency: 0, timeoutUnits10ms: 100 }, false],
    [{ intervalMinUnits1250us: 24, intervalMaxUnits1250us: 40, latency: 500, timeoutUnits10ms: 3200 }, false],
    [{ intervalMinUnits1250us: 24, intervalMaxUnits1250us: 40, latency: 4, timeoutUnits10ms: 50 }, false], // 500 ms ≤ 5 × 50 ms × 2
  ])('range check %j → %s', (p, expected) => {
    expect(connParamsInRange(p)).toBe(expected);
  });

  function sig(role: 'central' | 'peripheral') {
    const world = new World({ seed: 'sig' });
    const sent: string[] = [];
    const s = new LeSignalling({ env: { alarm: world.alarm(), trace: world.trace, device: 'x' }, conn: 1, role, send: (p) => sent.push(hex(p)) });
    return { world, s, sent };
  }

  it.each([
    ['central accepts an in-range request', 'central', '12 05 0800 1800 2800 0000 5802', ['130502000000']],
    ['central rejects an out-of-range one', 'central', '12 05 0800 0200 0300 0000 0a00', ['130502000100']],
    ['peripheral rejects the request itself', 'peripheral', '12 05 0800 1800 2800 0000 5802', ['010502000000']],
    ['an unknown command', 'central', '20 09 0100 00', ['010902000000']],
    ['an LE credit-based connection request (not supported)', 'peripheral', '14 02 0a00 8000 4000 1700 1700 0100', ['010202000000']],
    ['a malformed request of a known code', 'central', '12 05 0600 1800 2800 0000', ['010502000000']],
    ['a command longer than MTU_sig', 'central', `20 04 1400 ${'00'.repeat(20)}`, ['01040400010017 00'.replaceAll(' ', '')]],
    ['a stray response', 'peripheral', '13 05 0200 0000', []],
    ['a Command Reject', 'central', '01 05 0200 0000', []],
    ['identifier 0', 'central', '12 00 0800 1800 2800 0000 5802', []],
  ])('%s', (_n, role, wire, answers) => {
    const { s, sent } = sig(role as 'central' | 'peripheral');
    s.received(bytes(wire));
    expect(sent).toEqual(answers);
  });

  it('times out a request nobody answers after 30 s', () => {
    const { world, s } = sig('peripheral');
    const out: unknown[] = [];
    s.requestConnectionParameters({ intervalMinUnits1250us: 24, intervalMaxUnits1250us: 40, latency: 0, timeoutUnits10ms: 600 }, (r) => out.push(r));
    expect(s.requestConnectionParameters({ intervalMinUnits1250us: 24, intervalMaxUnits1250us: 40, latency: 0, timeoutUnits10ms: 600 }, () => {})).toEqual({ ok: false, code: 'busy' });
    world.runFor(30_000_000);
    expect(out).toMatchObject([{ ok: false, code: 'timeout' }]);
  });
});

describe('SMP without pairing (Vol 3 Part H §3.5.5)', () => {
  it.each([
    ['Pairing Request', '01 03 00 01 10 07 07', ['0505']],
    ['Pairing Request of the wrong length', '01 03 00', ['050a']],
    ['Security Request', '0b 01', ['0505']],
    ['Pairing Public Key', `0c ${'00'.repeat(64)}`, ['0505']],
    ['Pairing Failed (never answered)', '05 08', []],
    ['a reserved code (ignored)', '0f 00', []],
    ['code 0 (ignored)', '00', []],
    ['an empty frame', '', []],
    ['longer than the SMP MTU', `01 ${'00'.repeat(65)}`, []],
  ])('%s', (_n, wire, answers) => {
    const world = new World({ seed: 'smp' });
    const sent: string[] = [];
    new SmpRefuser({ alarm: world.alarm(), trace: world.trace, device: 'x' }, 1, (p) => sent.push(hex(p))).received(bytes(wire));
    expect(sent).toEqual(answers);
  });
});
