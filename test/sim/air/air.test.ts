import { describe, expect, it } from 'vitest';
import { ADV_ACCESS_ADDRESS, airTimeUs, csa1NextChannel, decodeAdvPdu, encodeAdvPdu, encodeDataPdu, encodeLlControl } from '../../../src/sim/air/pdu.ts';
import { Air, HCI } from '../../../src/sim/air/air.ts';
import { SimCentral } from '../../../src/sim/air/central.ts';
import { World } from '../../../src/sim/world.ts';
import { PHONE_ADDRESS, PUMP_ADDRESS, bytesOf, dataHeader, expectOk, text, twoDevices } from './two-devices.ts';

const CONN = { intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 1_000_000 };

describe('advertise → scan → connect → data both ways → terminate', () => {
  it('delivers every step to the hosts from the scheduler, never inside the call', () => {
    const d = twoDevices({ sniff: true });
    expectOk(d.pump.startAdvertising({ intervalUs: 100_000, advData: Uint8Array.of(2, 1, 6), scanRspData: bytesOf('\u0005\u0009pump'), connectable: true }));
    expectOk(d.phone.startScanning({ active: true }));
    expect(d.events).toEqual([]); // split-phase: nothing yet
    d.world.runFor(150_000);
    const adv = d.events.filter((e) => e.what === 'advertisement');
    expect(adv.map((e) => e.pduType)).toEqual(['adv_ind', 'scan_rsp', 'adv_ind']); // one SCAN_REQ per advertiser per scan session
    expect(adv[1]!.text).toBe('\u0005\u0009pump');

    expectOk(d.phone.connect(d.pump.address, CONN));
    expect(d.events.filter((e) => e.what === 'connected')).toEqual([]);
    d.world.runFor(200_000);
    const [pc, hc] = [d.conns.pump!, d.conns.phone!];
    expect(pc).toMatchObject({ role: 'peripheral', peer: PHONE_ADDRESS, intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 1_000_000 });
    expect(hc).toMatchObject({ role: 'central', peer: PUMP_ADDRESS });
    // The advertiser stopped advertising when it accepted CONNECT_IND (§4.4.2).
    expect(d.pump.stopAdvertising()).toMatchObject({ ok: false, code: 'already' });

    expectOk(d.phone.send(hc.handle, 2, bytesOf('ping')));
    expectOk(d.pump.send(pc.handle, 2, bytesOf('pong')));
    expectOk(d.pump.send(pc.handle, 1, bytesOf('-cont')));
    d.world.runFor(100_000);
    expect(d.received('pump')).toEqual(['ping']);
    expect(d.received('phone')).toEqual(['pong', '-cont']);
    expect(d.events.filter((e) => e.what === 'received' && e.who === 'phone').map((e) => e.llid)).toEqual([2, 1]);
    expect(d.events.filter((e) => e.what === 'sent').map((e) => e.who).sort()).toEqual(['phone', 'pump']);

    expectOk(d.phone.disconnect(hc.handle, HCI.REMOTE_USER_TERMINATED));
    expect(d.phone.disconnect(hc.handle, 0x13)).toMatchObject({ ok: false, code: 'already' });
    d.world.runFor(100_000);
    const disc = d.disconnects();
    // The peer gets the reason in LL_TERMINATE_IND; the initiator gets 0x16 (local host).
    expect(disc.map((e) => [e.who, e.reason])).toEqual([
      ['pump', 0x13],
      ['phone', 0x16],
    ]);
    expect(d.phone.send(hc.handle, 2, bytesOf('late'))).toMatchObject({ ok: false, code: 'off' });
    // LL control PDUs never reach the host, but taps see them.
    expect(d.sniffed.some((p) => p.sender === 'phone' && p.accessAddress !== ADV_ACCESS_ADDRESS && p.bytes[2] === 0x02 && p.bytes[3] === 0x13)).toBe(true);
    // Nothing more happens on the air once both ends left.
    const n = d.sniffed.length;
    d.world.runFor(1_000_000);
    expect(d.sniffed.length).toBe(n);
  });

  it('reports ADV_NONCONN_IND to a passive scanner and sends no SCAN_REQ', () => {
    const d = twoDevices({ sniff: true });
    expectOk(d.pump.startAdvertising({ intervalUs: 1_000_000, advData: Uint8Array.of(2, 1, 4), scanRspData: new Uint8Array(0), connectable: false }));
    expectOk(d.phone.startScanning({ active: true }));
    d.world.runFor(3_000_000);
    const reports = d.events.filter((e) => e.what === 'advertisement');
    expect(reports.length).toBe(3);
    expect(new Set(reports.map((r) => r.pduType))).toEqual(new Set(['adv_nonconn_ind']));
    expect(d.sniffed.every((p) => p.sender === 'pump' && (p.bytes[0]! & 0x0f) === 0b0010)).toBe(true);
  });

  it('answers HAL misuse with coded results', () => {
    const d = twoDevices();
    const adv = { intervalUs: 100_000, advData: new Uint8Array(0), scanRspData: new Uint8Array(0), connectable: true };
    expect(d.pump.startAdvertising({ ...adv, intervalUs: 19_375 })).toMatchObject({ ok: false, code: 'invalid' });
    expect(d.pump.startAdvertising({ ...adv, advData: new Uint8Array(32) })).toMatchObject({ ok: false, code: 'size' });
    expectOk(d.pump.startAdvertising(adv));
    expect(d.pump.startAdvertising(adv)).toMatchObject({ ok: false, code: 'already' });
    expect(d.pump.send(7, 2, bytesOf('x'))).toMatchObject({ ok: false, code: 'off' });
    expect(d.phone.connect(d.pump.address, { ...CONN, intervalUs: 31_000 })).toMatchObject({ ok: false, code: 'invalid' });
    expect(d.phone.connect(d.pump.address, { ...CONN, supervisionTimeoutUs: 100_000, latency: 1 })).toMatchObject({ ok: false, code: 'invalid' });
    expectOk(d.phone.connect(d.pump.address, CONN));
    expect(d.phone.connect(d.pump.address, CONN)).toMatchObject({ ok: false, code: 'busy' });
    d.world.runFor(300_000);
    const h = d.conns.phone!.handle;
    expect(d.phone.send(h, 2, new Uint8Array(28))).toMatchObject({ ok: false, code: 'size' });
    expect(d.phone.send(h, 2, new Uint8Array(0))).toMatchObject({ ok: false, code: 'size' });
    expect(() => d.air.attach({ name: 'pump', address: PUMP_ADDRESS })).toThrowError(expect.objectContaining({ code: 'air.name' }));
  });
});

describe('delivery timing', () => {
  it('extraLatencyUs delays every host event by that much after the link layer had it', () => {
    const run = (extraLatencyUs: number) => {
      const d = twoDevices({ sniff: true, extraLatencyUs });
      const { phoneHandle } = d.connect();
      d.world.runUntil(300_000); // send at the same virtual time in both runs
      expectOk(d.phone.send(phoneHandle, 2, bytesOf('x')));
      d.world.runFor(100_000);
      return d.events.filter((e) => e.what !== 'advertisement').map((e) => `${e.who}:${e.what}@${e.tUs}`);
    };
    const plain = run(0);
    const late = run(5_000);
    expect(late).toEqual(plain.map((s) => s.replace(/@(\d+)$/, (_m, t: string) => `@${Number(t) + 5_000}`)));
  });

  it('records no empty PDUs in the trace unless it is verbose', () => {
    const d = twoDevices();
    d.connect();
    d.world.runFor(1_000_000);
    expect(d.world.trace.filter({ kind: 'data.tx' })).toEqual([]);
    const v = twoDevices({ verbose: true });
    v.connect();
    v.world.runFor(1_000_000);
    expect(v.world.trace.filter({ kind: 'data.tx' }).length).toBeGreaterThan(60);
  });
});

describe('acknowledgement and retransmission (§4.5.9)', () => {
  it('under 25 % loss delivers every payload exactly once, in order, both ways', () => {
    const d = twoDevices({ sniff: true, seed: 'loss-1' });
    const { pumpHandle, phoneHandle } = d.connect({ intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 2_000_000 });
    d.air.lossProbability = 0.25;
    const up = Array.from({ length: 40 }, (_, i) => `c${i}`);
    const down = Array.from({ length: 40 }, (_, i) => `p${i}`);
    for (const m of up) expectOk(d.phone.send(phoneHandle, 2, bytesOf(m)));
    for (const m of down) expectOk(d.pump.send(pumpHandle, 2, bytesOf(m)));
    d.world.runFor(10_000_000);
    expect(d.received('pump')).toEqual(up);
    expect(d.received('phone')).toEqual(down);
    expect(d.disconnects()).toEqual([]);
    // Loss happened and was repaired by retransmission: some payloads went on the air more than once.
    const data = d.sniffed.filter((p) => p.accessAddress !== ADV_ACCESS_ADDRESS && p.bytes.length > 2);
    expect(data.filter((p) => p.lost).length).toBeGreaterThan(10);
    const times = new Map<string, number>();
    for (const p of data) times.set(text(p.bytes.subarray(2)), (times.get(text(p.bytes.subarray(2))) ?? 0) + 1);
    expect([...times.values()].some((n) => n > 1)).toBe(true);
    // Every event closes after at most maxPairsPerEvent pairs (MD bit, §4.5.6).
    const perEvent = new Map<number, number>();
    for (const r of d.world.trace.filter({ kind: 'data.tx', device: 'phone' })) perEvent.set(r.fields.event as number, (perEvent.get(r.fields.event as number) ?? 0) + 1);
    expect(Math.max(...perEvent.values())).toBeLessThanOrEqual(4);
    expect(Math.max(...perEvent.values())).toBeGreaterThan(1);
  });

  it('sends several PDUs per event while MD is set', () => {
    const d = twoDevices({ sniff: true });
    const { phoneHandle } = d.connect();
    for (let i = 0; i < 3; i++) expectOk(d.phone.send(phoneHandle, 2, bytesOf(`m${i}`)));
    d.world.runFor(30_000);
    const phonePdus = d.sniffed.filter((p) => p.sender === 'phone' && p.accessAddress !== ADV_ACCESS_ADDRESS);
    expect(phonePdus.map((p) => [text(p.bytes.subarray(2)), dataHeader(p).md])).toEqual([
      ['m0', true],
      ['m1', true],
      ['m2', false],
    ]);
    expect(new Set(phonePdus.map((p) => p.channel)).size).toBe(1); // one event, one channel
  });
});

describe('supervision timeout (§4.5.2)', () => {
  it('under 100 % loss both ends disconnect with 0x08 exactly one timeout after their last valid packet', () => {
    const d = twoDevices({ sniff: true });
    d.connect();
    d.world.runFor(200_000);
    d.air.lossProbability = 1;
    d.world.runFor(3_000_000);
    const lastGood = (sender: string) => {
      const p = d.sniffed.filter((s) => s.sender === sender && s.accessAddress !== ADV_ACCESS_ADDRESS && !s.lost).at(-1)!;
      return p.tUs + airTimeUs(p.bytes.length);
    };
    const disc = d.disconnects();
    expect(disc.map((e) => e.reason)).toEqual([HCI.CONNECTION_TIMEOUT, HCI.CONNECTION_TIMEOUT]);
    expect(disc.find((e) => e.who === 'pump')!.tUs).toBe(lastGood('phone') + 1_000_000);
    expect(disc.find((e) => e.who === 'phone')!.tUs).toBe(lastGood('pump') + 1_000_000);
    expect(d.world.trace.filter({ kind: 'supervision.timeout' })).toHaveLength(2);
  });

  it('when the peripheral loses power, the central times out and the peripheral hears nothing', () => {
    const d = twoDevices({ sniff: true });
    d.connect();
    d.world.runFor(100_000);
    d.pump.port.detach();
    const last = d.sniffed.filter((s) => s.sender === 'pump').at(-1)!;
    d.world.runFor(2_000_000);
    expect(d.disconnects().map((e) => [e.who, e.reason, e.tUs])).toEqual([['phone', 0x08, last.tUs + airTimeUs(last.bytes.length) + 1_000_000]]);
  });

  it('a CONNECT_IND the advertiser never heard leaves the central to fail with 0x3E after six intervals', () => {
    const d = twoDevices({ sniff: true });
    d.air.intercept((p) => (p.accessAddress === ADV_ACCESS_ADDRESS && (p.bytes[0]! & 0x0f) === 0b0101 ? 'drop' : undefined));
    expectOk(d.pump.startAdvertising({ intervalUs: 100_000, advData: new Uint8Array(0), scanRspData: new Uint8Array(0), connectable: true }));
    expectOk(d.phone.connect(d.pump.address, CONN));
    d.world.runFor(1_000_000);
    const ci = d.sniffed.find((p) => (p.bytes[0]! & 0x0f) === 0b0101)!;
    expect(ci.lost).toBe(true);
    const createdUs = ci.tUs + airTimeUs(ci.bytes.length);
    expect(d.events.filter((e) => e.who === 'phone' && e.what !== 'advertisement').map((e) => [e.what, e.tUs, e.reason])).toEqual([
      ['connected', createdUs, undefined],
      ['disconnected', createdUs + 6 * 30_000, HCI.FAILED_TO_ESTABLISH],
    ]);
    expect(d.conns.pump).toBeUndefined();
    expect(d.pump.stopAdvertising().ok).toBe(true); // still advertising
  });
});

describe('peripheral latency (§4.5.1)', () => {
  it('the peripheral sleeps through up to `latency` events when idle, and answers at once when it has data', () => {
    const d = twoDevices({ sniff: true });
    const { pumpHandle } = d.connect({ intervalUs: 30_000, latency: 4, supervisionTimeoutUs: 2_000_000 });
    d.world.runFor(100_000);
    const from = d.world.nowUs;
    d.world.runFor(3_000_000);
    const conn = (who: string) => d.sniffed.filter((p) => p.sender === who && p.accessAddress !== ADV_ACCESS_ADDRESS && p.tUs > from);
    const central = conn('phone');
    const peripheral = conn('pump');
    expect(central.length).toBe(100);
    expect(peripheral.length).toBe(20);
    const gaps = peripheral.slice(1).map((p, i) => p.tUs - peripheral[i]!.tUs);
    expect(new Set(gaps)).toEqual(new Set([150_000]));
    // Unanswered central packets are lost (nobody listened), not corrupted.
    expect(central.filter((p) => p.lost).every((p) => p.crcOk)).toBe(true);

    const sendAt = d.world.nowUs;
    expectOk(d.pump.send(pumpHandle, 2, bytesOf('alarm')));
    d.world.runFor(200_000);
    const rx = d.events.find((e) => e.who === 'phone' && e.what === 'received')!;
    expect(rx.text).toBe('alarm');
    expect(rx.tUs - sendAt).toBeLessThanOrEqual(30_000 + 1_000);
  });
});

describe('taps', () => {
  it('sniff sees every PDU put on the air (one record per trace transmission, verbose)', () => {
    const d = twoDevices({ sniff: true, verbose: true });
    expectOk(d.phone.startScanning({ active: true }));
    const { phoneHandle, pumpHandle } = d.connect();
    expectOk(d.phone.send(phoneHandle, 2, bytesOf('hello')));
    expectOk(d.pump.send(pumpHandle, 2, bytesOf('world')));
    d.world.runFor(500_000);
    expectOk(d.phone.disconnect(phoneHandle, 0x13));
    d.world.runFor(500_000);
    const txKinds = new Set(['adv.tx', 'scan.req', 'scan.rsp', 'connect.ind', 'data.tx']);
    for (const who of ['pump', 'phone']) {
      const traced = d.world.trace.records.filter((r) => r.device === who && r.layer === 'll' && txKinds.has(r.kind)).length;
      expect(d.sniffed.filter((p) => p.sender === who).length).toBe(traced);
    }
    expect(d.sniffed.length).toBeGreaterThan(30);
    // Data PDUs hop over the data channels per channel selection algorithm #1 from CONNECT_IND's Hop.
    const ci = decodeAdvPdu(d.sniffed.find((p) => (p.bytes[0]! & 0x0f) === 0b0101)!.bytes);
    expect(ci.ok && ci.value.type === 'CONNECT_IND').toBe(true);
    if (!ci.ok || ci.value.type !== 'CONNECT_IND') return;
    const { hop, accessAddress } = ci.value.llData;
    const all = Array.from({ length: 37 }, (_, i) => i);
    const mask = all.map(() => true);
    let last = 0;
    const expected: number[] = [];
    const central = d.sniffed.filter((p) => p.sender === 'phone' && p.accessAddress === accessAddress);
    for (let i = 0; i < central.length; i++) {
      const r = csa1NextChannel(last, hop, all, mask);
      last = r.unmapped;
      expected.push(r.channel);
    }
    // One central PDU per event here (no MD), so the k-th central PDU is event k.
    expect(central.map((p) => p.channel)).toEqual(expected);
  });

  it('inject as a forged central reaches the peripheral; as a forged peripheral reaches the central', () => {
    const d = twoDevices({ sniff: true });
    const { accessAddress } = d.connect();
    d.world.runFor(200_000);
    // An attacker who sniffed the last exchange knows the sequence numbers the peer expects.
    const lastPump = dataHeader(d.sniffed.filter((p) => p.sender === 'pump').at(-1)!);
    const forged = encodeDataPdu({ llid: 2, sn: lastPump.nesn, nesn: lastPump.sn ^ 1, md: false, payload: bytesOf('bolus 25U') });
    expectOk(d.air.inject(forged, { accessAddress, asAddress: PHONE_ADDRESS.address }));
    d.world.runFor(100_000);
    expect(d.received('pump')).toEqual(['bolus 25U']);
    const inj = d.sniffed.filter((p) => p.injected);
    expect(inj).toHaveLength(1);
    expect(inj[0]).toMatchObject({ sender: PHONE_ADDRESS.address, lost: false, crcOk: true });

    // The central's next NESN asks for the pump's next SN; its next SN is what the pump last acknowledged.
    const pumpNow = dataHeader(d.sniffed.filter((p) => p.sender === 'pump').at(-1)!);
    const forgedUp = encodeDataPdu({ llid: 2, sn: pumpNow.sn ^ 1, nesn: pumpNow.nesn ^ 1, md: false, payload: bytesOf('glucose 40') });
    expectOk(d.air.inject(forgedUp, { accessAddress, asAddress: PUMP_ADDRESS.address }));
    d.world.runFor(100_000);
    expect(d.received('phone')).toEqual(['glucose 40']);
    // On the wrong channel it reaches nobody, and the event goes on as if it was not there.
    const before = d.sniffed.length;
    expectOk(d.air.inject(forged, { accessAddress, channel: 39, asAddress: PHONE_ADDRESS.address }));
    expectOk(d.air.inject(forgedUp, { accessAddress, channel: 39, asAddress: PUMP_ADDRESS.address }));
    d.world.runFor(100_000);
    expect(d.received('pump')).toEqual(['bolus 25U']);
    expect(d.received('phone')).toEqual(['glucose 40']);
    const stray = d.sniffed.slice(before).filter((p) => p.injected);
    expect(stray.map((p) => [p.channel, p.lost])).toEqual([
      [39, true],
      [39, true],
    ]);
    expect(d.disconnects()).toEqual([]);
    // A payload longer than the receiver accepts (27 bytes, no DLE) is acknowledged and dropped.
    const lp = dataHeader(d.sniffed.filter((p) => p.sender === 'pump' && !p.injected).at(-1)!);
    expectOk(d.air.inject(encodeDataPdu({ llid: 2, sn: lp.nesn, nesn: lp.sn ^ 1, md: false, payload: new Uint8Array(100) }), { accessAddress }));
    d.world.runFor(100_000);
    expect(d.received('pump')).toEqual(['bolus 25U']);
    expect(d.world.trace.filter({ kind: 'data.invalid' }).map((r) => r.fields.reason)).toEqual(['length']);
  });

  it('an injected CONNECT_IND connects the advertiser to an attacker nobody follows up (fails with 0x3E)', () => {
    const d = twoDevices({ sniff: true });
    expectOk(d.pump.startAdvertising({ intervalUs: 100_000, advData: new Uint8Array(0), scanRspData: new Uint8Array(0), connectable: true }));
    const mallory = { address: 'DE:AD:BE:EF:00:01', random: true };
    const llData = {
      accessAddress: 0x71764129,
      crcInit: 0xabcdef,
      winSizeUnits1250us: 2,
      winOffsetUnits1250us: 0,
      intervalUnits1250us: 24,
      latency: 0,
      timeoutUnits10ms: 100,
      channelMapLe: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x1f),
      hop: 9,
      sca: 5,
    };
    expectOk(d.air.inject(encodeAdvPdu({ type: 'CONNECT_IND', initA: mallory, advA: PUMP_ADDRESS, llData }), { accessAddress: ADV_ACCESS_ADDRESS, channel: 38, asAddress: mallory.address }));
    d.world.runFor(1_000_000);
    expect(d.conns.pump).toMatchObject({ peer: mallory, role: 'peripheral' });
    expect(d.disconnects().map((e) => [e.who, e.reason])).toEqual([['pump', HCI.FAILED_TO_ESTABLISH]]);
  });

  it('intercept can drop (the link layer retransmits) and rewrite (the peer gets the rewrite)', () => {
    const d = twoDevices({ sniff: true });
    const { phoneHandle, pumpHandle } = d.connect();
    let drops = 0;
    d.air.intercept((p) => {
      const payload = text(p.bytes.subarray(2));
      if (payload === 'secret' && drops < 3) {
        drops++;
        return 'drop';
      }
      if (payload === 'pong') {
        const b = p.bytes.slice();
        b.set(bytesOf('PWND'), 2);
        return b;
      }
      return undefined;
    });
    expectOk(d.phone.send(phoneHandle, 2, bytesOf('secret')));
    expectOk(d.phone.send(phoneHandle, 2, bytesOf('after')));
    expectOk(d.pump.send(pumpHandle, 2, bytesOf('pong')));
    d.world.runFor(500_000);
    expect(drops).toBe(3);
    expect(d.received('pump')).toEqual(['secret', 'after']);
    expect(d.received('phone')).toEqual(['PWND']);
    const secret = d.sniffed.filter((p) => text(p.bytes.subarray(2)) === 'secret');
    expect(secret.map((p) => p.lost)).toEqual([true, true, true, false]);
    expect(d.sniffed.filter((p) => p.rewritten).map((p) => text(p.bytes.subarray(2)))).toEqual(['PWND']);
  });

  it('a rewritten CONNECT_IND splits the two sides: neither establishes', () => {
    const d = twoDevices({ sniff: true });
    d.air.intercept((p) => {
      if (p.accessAddress !== ADV_ACCESS_ADDRESS || (p.bytes[0]! & 0x0f) !== 0b0101) return undefined;
      const b = p.bytes.slice();
      b[2 + 12 + 10] = 40; // Interval: 50 ms instead of 30 ms
      return b;
    });
    d.connect();
    d.world.runFor(1_000_000);
    expect(d.conns.phone!.intervalUs).toBe(30_000);
    expect(d.conns.pump!.intervalUs).toBe(50_000); // the peripheral follows the LLData it received
    expect(d.disconnects().map((e) => e.reason)).toEqual([HCI.FAILED_TO_ESTABLISH, HCI.FAILED_TO_ESTABLISH]);
  });
});

describe('the link layer handles LL control PDUs itself (§5.1)', () => {
  it('answers LL_VERSION_IND, LL_LENGTH_REQ, LL_PING_REQ and unknown opcodes; the hosts see none of it', () => {
    const d = twoDevices({ sniff: true });
    const { phoneHandle, accessAddress } = d.connect();
    // A fuzzing phone host may send raw LLID 0b11 PDUs.
    expectOk(d.phone.send(phoneHandle, 3, encodeLlControl({ type: 'LL_VERSION_IND', versNr: 0x0c, compId: 0xffff, subVersNr: 1 })));
    expectOk(d.phone.send(phoneHandle, 3, encodeLlControl({ type: 'LL_LENGTH_REQ', maxRxOctets: 251, maxRxTimeUs: 2120, maxTxOctets: 251, maxTxTimeUs: 2120 })));
    expectOk(d.phone.send(phoneHandle, 3, encodeLlControl({ type: 'LL_PING_REQ' })));
    expectOk(d.phone.send(phoneHandle, 3, Uint8Array.of(0xff, 1, 2)));
    d.world.runFor(300_000);
    const fromPump = d.sniffed
      .filter((p) => p.sender === 'pump' && p.accessAddress === accessAddress && (p.bytes[0]! & 3) === 3)
      .map((p) => Buffer.from(p.bytes.subarray(2)).toString('hex'));
    expect(fromPump).toEqual([
      '0c0925000000', // LL_VERSION_IND: Core 5.0, NXP (0x0025)
      '151b0048011b004801', // LL_LENGTH_RSP 27 / 328 µs
      '13', // LL_PING_RSP
      '07ff', // LL_UNKNOWN_RSP
    ]);
    expect(d.received('pump')).toEqual([]);
    expect(d.received('phone')).toEqual([]);
    expect(d.disconnects()).toEqual([]);
  });

  it('an injected LL_CONNECTION_UPDATE_IND moves the peripheral away: the central loses it (0x08)', () => {
    const d = twoDevices({ sniff: true });
    const { accessAddress } = d.connect();
    d.world.runFor(200_000);
    const lastPump = dataHeader(d.sniffed.filter((p) => p.sender === 'pump').at(-1)!);
    const counter = d.sniffed.filter((p) => p.sender === 'phone' && p.accessAddress === accessAddress).length; // next event's counter
    const upd = encodeLlControl({ type: 'LL_CONNECTION_UPDATE_IND', winSizeUnits1250us: 1, winOffsetUnits1250us: 0, intervalUnits1250us: 80, latency: 0, timeoutUnits10ms: 200, instant: counter + 6 });
    expectOk(d.air.inject(encodeDataPdu({ llid: 3, sn: lastPump.nesn, nesn: lastPump.sn ^ 1, md: false, payload: upd }), { accessAddress }));
    d.world.runFor(5_000_000);
    const update = d.world.trace.filter({ kind: 'conn.update' });
    expect(update.map((r) => [r.fields.intervalUs, r.fields.split])).toEqual([[100_000, true]]);
    const disc = d.disconnects();
    expect(disc.map((e) => [e.who, e.reason])).toEqual([
      ['phone', HCI.CONNECTION_TIMEOUT],
      ['pump', HCI.CONNECTION_TIMEOUT],
    ]);
    // The pump listened at 100 ms anchors after the instant.
    const pumpTimeout = disc.find((e) => e.who === 'pump')!.tUs;
    const phoneTimeout = disc.find((e) => e.who === 'phone')!.tUs;
    expect(pumpTimeout - phoneTimeout).toBeGreaterThan(500_000); // new timeout 2 s vs 1 s
  });
});

describe('determinism and robustness', () => {
  function scripted(seed: string): string {
    const d = twoDevices({ sniff: true, seed, loss: 0.2 });
    expectOk(d.phone.startScanning({ active: true }));
    const { phoneHandle, pumpHandle } = d.connect({ intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 2_000_000 });
    for (let i = 0; i < 10; i++) {
      expectOk(d.phone.send(phoneHandle, 2, bytesOf(`up${i}`)));
      expectOk(d.pump.send(pumpHandle, 2, bytesOf(`down${i}`)));
    }
    d.world.runFor(2_000_000);
    return d.sniffed.map((p) => `${p.tUs} ${p.channel} ${p.accessAddress} ${p.sender} ${p.crcOk} ${p.lost} ${Buffer.from(p.bytes).toString('hex')}`).join('\n');
  }

  it('same seed ⇒ identical sniff log; different seed ⇒ different', () => {
    const a = scripted('alpha');
    expect(a.split('\n').length).toBeGreaterThan(50);
    expect(scripted('alpha')).toBe(a);
    expect(scripted('beta')).not.toBe(a);
  });

  it('malformed PDUs (random bytes, wrong lengths, LLID 0, oversized) never throw out of the air', () => {
    const d = twoDevices({ sniff: true, seed: 'fuzz' });
    const { accessAddress } = d.connect({ intervalUs: 7_500, latency: 0, supervisionTimeoutUs: 1_000_000 });
    expectOk(d.phone.startScanning({ active: true }));
    const rng = d.world.random.stream('test', 'fuzz');
    d.air.intercept((p) => (rng.chance(0.05) ? rng.bytes(rng.int(0, 40)) : undefined));
    for (let round = 0; round < 200; round++) {
      const junk = rng.bytes(rng.int(0, 60));
      if (junk.length > 0 && rng.chance(0.5)) junk[0] = (junk[0]! & 0xf0) | rng.int(0, 8); // plausible advertising PDU types
      expectOk(d.air.inject(junk, { accessAddress: ADV_ACCESS_ADDRESS, channel: 37 + rng.int(0, 2) }));
      const h = dataHeader(d.sniffed.filter((p) => p.sender === 'pump').at(-1)!);
      const weird = [
        Uint8Array.of(0x00 | (h.nesn << 3) | ((h.sn ^ 1) << 2), 0), // LLID 0 deadlock PDU (CVE-2019-17060)
        Uint8Array.of(0x02 | (h.nesn << 3) | ((h.sn ^ 1) << 2), 255, ...new Uint8Array(255)), // length over 251 (CVE-2019-17519)
        Uint8Array.of(0x02, 200, 1, 2, 3), // Length field larger than the bytes
        Uint8Array.of(0x03 | (h.nesn << 3) | ((h.sn ^ 1) << 2), 1, 0x0c), // LL_VERSION_IND cut short
        rng.bytes(rng.int(0, 30)),
      ];
      expectOk(d.air.inject(weird[round % weird.length]!, { accessAddress, asAddress: rng.chance(0.5) ? PUMP_ADDRESS.address : PHONE_ADDRESS.address }));
      d.world.runFor(20_000);
    }
    d.world.runFor(3_000_000);
    expect(d.world.trace.filter({ kind: 'data.invalid' }).length).toBeGreaterThan(0);
    expect(d.received('pump').every((t) => t !== undefined)).toBe(true);
  });

  it('a tap-free world builds no PDU bytes and still behaves the same (sniffing does not change the outcome)', () => {
    const run = (sniff: boolean) => {
      const d = twoDevices({ sniff, seed: 's', loss: 0.1 });
      const { phoneHandle } = d.connect();
      for (let i = 0; i < 20; i++) expectOk(d.phone.send(phoneHandle, 2, bytesOf(`m${i}`)));
      d.world.runFor(2_000_000);
      return JSON.stringify({ events: d.events, ledger: d.ledger.summary().totals, trace: d.world.trace.toJsonLines() });
    };
    expect(run(false)).toBe(run(true));
  });

  it('two centrals can hold connections to two peripherals on one air', () => {
    const world = new World({ seed: 'many' });
    const air = new Air(world);
    const a = new SimCentral({ air, name: 'phoneA', address: { address: '00:00:00:00:00:0A', random: false } });
    const b = new SimCentral({ air, name: 'phoneB', address: { address: '00:00:00:00:00:0B', random: false } });
    const pa = air.attach({ name: 'devA', address: { address: 'C0:00:00:00:00:0A', random: true } });
    const pb = air.attach({ name: 'devB', address: { address: 'C0:00:00:00:00:0B', random: true } });
    const got: string[] = [];
    for (const [p, tag] of [
      [pa, 'A'],
      [pb, 'B'],
    ] as const) {
      p.setClient({ received: (_h, _l, payload) => got.push(`${tag}:${text(payload)}`), connected: (c) => void p.send(c.handle, 2, bytesOf(`hi from ${tag}`)) });
      expectOk(p.startAdvertising({ intervalUs: 50_000, advData: new Uint8Array(0), scanRspData: new Uint8Array(0), connectable: true }));
    }
    const heard: string[] = [];
    const quiet = { advertisement: () => {}, disconnected: () => {} };
    a.setClient({ ...quiet, received: (_h, _l, p) => void heard.push(`a:${text(p)}`), connected: (c) => void a.send(c.handle, 2, bytesOf('to A')) });
    b.setClient({ ...quiet, received: (_h, _l, p) => void heard.push(`b:${text(p)}`), connected: (c) => void b.send(c.handle, 2, bytesOf('to B')) });
    expectOk(a.connect(pa.address, CONN));
    expectOk(b.connect(pb.address, CONN));
    world.runFor(1_000_000);
    expect(got.sort()).toEqual(['A:to A', 'B:to B']);
    expect(heard.sort()).toEqual(['a:hi from A', 'b:hi from B']);
  });
});
