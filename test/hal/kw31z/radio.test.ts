import { describe, expect, it } from 'vitest';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { KW31Z_SLEEP_CLOCK_PPM, chargeForRadioEvent, createKw31zRadio } from '../../../hal/kw31z/radio.ts';
import type { Meters } from '../../../hal/ledger.ts';
import { Air, RX_SYNC_WINDOW_US, windowWideningUs, type RadioEvent, type SniffedPdu } from '../../../src/sim/air/air.ts';
import { SimCentral } from '../../../src/sim/air/central.ts';
import { ADV_ACCESS_ADDRESS, airTimeUs } from '../../../src/sim/air/pdu.ts';
import { World } from '../../../src/sim/world.ts';

const PUMP = { address: 'C0:00:00:00:00:01', random: true };
const PHONE = { address: '11:22:33:44:55:66', random: false };
const AD = Uint8Array.of(2, 1, 6, 5, 9, 0x70, 0x75, 0x6d, 0x70); // flags + "pump": 9 bytes of AdvData

const radioMeters = (ledger: Kw31zLedger) => ({ ...ledger.summary().activities.find((a) => a.activity === 'radio')!.meters });
const times = (n: number, m: Meters) => ({ radioTxUs: n * m.radioTxUs!, radioRxUs: n * m.radioRxUs!, cpuCycles: n * m.cpuCycles! });

describe('chargeForRadioEvent', () => {
  it('charges on-air TX, RX plus one warm-up per burst, and the link-layer cycles, as integers', () => {
    const e: RadioEvent = { kind: 'adv', txUs: 456, rxUs: 120, txBursts: 3, rxBursts: 3 };
    expect(chargeForRadioEvent(KW31Z_COSTS, e)).toEqual({ radioTxUs: 456, radioRxUs: 120 + 6 * KW31Z_COSTS.radioWarmupUs.value, cpuCycles: KW31Z_COSTS.linkLayerCyclesPerEvent.value });
    expect(chargeForRadioEvent(KW31Z_COSTS, e)).toEqual({ radioTxUs: 456, radioRxUs: 720, cpuCycles: 3_000 });
  });
});

describe('Kw31zRadio charges its ledger per radio event', () => {
  function advertiseFor60s(sniff: boolean): { meters: ReturnType<typeof radioMeters>; sniffed: SniffedPdu[]; traceRecords: number } {
    const world = new World({ seed: 'adv-60s' });
    const air = new Air(world);
    const ledger = new Kw31zLedger('pump', () => world.nowUs);
    const radio = createKw31zRadio({ air, device: 'pump', address: PUMP, ledger });
    const sniffed: SniffedPdu[] = [];
    if (sniff) air.sniff((p) => sniffed.push(p));
    expect(radio.startAdvertising({ intervalUs: 1_000_000, advData: AD, scanRspData: new Uint8Array(0), connectable: true }).ok).toBe(true);
    world.runFor(60_000_000);
    return { meters: radioMeters(ledger), sniffed, traceRecords: world.trace.records.length };
  }

  it('60 s of connectable advertising at 1 s, nobody listening: events × per-event charge, exactly', () => {
    const quiet = advertiseFor60s(false);
    const tapped = advertiseFor60s(true);
    // Count events independently: three PDUs (37, 38, 39) per advertising event on the sniffer.
    const pdus = tapped.sniffed;
    expect(pdus.every((p) => p.accessAddress === ADV_ACCESS_ADDRESS && p.sender === 'pump')).toBe(true);
    expect(pdus.map((p) => p.channel).join('')).toBe('373839'.repeat(pdus.length / 3));
    const events = pdus.length / 3;
    // advInterval + advDelay (0–10 ms) between starts: 59 or 60 events fit in 60 s.
    expect(events).toBeGreaterThanOrEqual(59);
    expect(events).toBeLessThanOrEqual(60);
    // One event from first principles: ADV_IND = header 2 + AdvA 6 + 9 bytes AdvData on air, then 40 µs listening, on each of 3 channels.
    const advUs = (1 + 4 + 2 + 6 + AD.length + 3) * 8;
    expect(advUs).toBe(airTimeUs(2 + 6 + AD.length));
    const event: RadioEvent = { kind: 'adv', txUs: 3 * advUs, rxUs: 3 * RX_SYNC_WINDOW_US, txBursts: 3, rxBursts: 3 };
    const perEvent = chargeForRadioEvent(KW31Z_COSTS, event);
    expect(perEvent).toEqual({ radioTxUs: 600, radioRxUs: 120 + 600, cpuCycles: 3_000 });
    const expected = times(events, perEvent);
    expect(quiet.meters).toMatchObject(expected);
    expect(tapped.meters).toMatchObject(expected);
    // Advertising nobody hears leaves no trace records unless the trace is verbose.
    expect(quiet.traceRecords).toBe(0);
  });

  it('a 30 s connection at 30 ms with only empty PDUs: 1,000 events × per-event charge, both ends', () => {
    const world = new World({ seed: 'conn-30s' });
    const air = new Air(world);
    const ledger = new Kw31zLedger('pump', () => world.nowUs);
    const phoneLedger = new Kw31zLedger('phone', () => world.nowUs);
    const radio = createKw31zRadio({ air, device: 'pump', address: PUMP, ledger });
    const phone = new SimCentral({ air, name: 'phone', address: PHONE, ledger: phoneLedger });
    const sniffed: SniffedPdu[] = [];
    air.sniff((p) => sniffed.push(p));
    let connected = false;
    radio.setClient({ connected: () => (connected = true), received: () => {}, disconnected: () => {} });
    expect(radio.startAdvertising({ intervalUs: 100_000, advData: AD, scanRspData: new Uint8Array(0), connectable: true }).ok).toBe(true);
    expect(phone.connect(radio.address, { intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 2_000_000 }).ok).toBe(true);
    while (!connected) world.runFor(1_000);
    // Skip the first event: it widens its window over 1.25 ms since CONNECT_IND, not 30 ms.
    world.runFor(100_000);
    const t0 = world.nowUs;
    const before = radioMeters(ledger);
    const phoneBefore = radioMeters(phoneLedger);
    world.runFor(30_000_000);
    const t1 = world.nowUs;
    const after = radioMeters(ledger);
    const phoneAfter = radioMeters(phoneLedger);

    // Count connection events independently: the central's packet opens each one.
    const inWindow = (p: SniffedPdu) => p.accessAddress !== ADV_ACCESS_ADDRESS && p.tUs > t0 && p.tUs <= t1;
    const central = sniffed.filter((p) => inWindow(p) && p.sender === 'phone');
    const peripheral = sniffed.filter((p) => inWindow(p) && p.sender === 'pump');
    expect(central.length).toBe(1_000);
    expect(peripheral.length).toBe(1_000);
    expect([...central, ...peripheral].every((p) => p.bytes.length === 2 && (p.bytes[0]! & 3) === 1 && !p.lost)).toBe(true);

    // Peripheral: listens from window widening before the anchor (§4.5.7) through the 80 µs empty PDU, answers with one.
    const wwUs = windowWideningUs(50, KW31Z_SLEEP_CLOCK_PPM, 30_000);
    expect(wwUs).toBe(3 + 16);
    const pEvent: RadioEvent = { kind: 'conn', txUs: 80, rxUs: wwUs + 80, txBursts: 1, rxBursts: 1 };
    const perEvent = chargeForRadioEvent(KW31Z_COSTS, pEvent);
    expect(perEvent).toEqual({ radioTxUs: 80, radioRxUs: 99 + 200, cpuCycles: 3_000 });
    expect({
      radioTxUs: after.radioTxUs - before.radioTxUs,
      radioRxUs: after.radioRxUs - before.radioRxUs,
      cpuCycles: after.cpuCycles - before.cpuCycles,
    }).toEqual(times(1_000, perEvent));
    expect(after.radioTxUs - before.radioTxUs).toBe(80_000);
    expect(after.radioRxUs - before.radioRxUs).toBe(299_000);
    expect(after.cpuCycles - before.cpuCycles).toBe(3_000_000);

    // The phone's default charge is on-air time only: 80 µs out, 80 µs in per event.
    expect({ tx: phoneAfter.radioTxUs - phoneBefore.radioTxUs, rx: phoneAfter.radioRxUs - phoneBefore.radioRxUs, cpu: phoneAfter.cpuCycles - phoneBefore.cpuCycles }).toEqual({
      tx: 80_000,
      rx: 80_000,
      cpu: 0,
    });
  });

  it('is a PeripheralRadio without Data Length Extension', () => {
    const world = new World();
    const radio = createKw31zRadio({ air: new Air(world), device: 'd', address: PUMP, ledger: new Kw31zLedger('d', () => world.nowUs) });
    expect(radio.maxPayloadBytes).toBe(27);
    expect(radio.address).toEqual(PUMP);
  });
});
