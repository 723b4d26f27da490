// The simulated MKW31Z's BLE radio: a PeripheralRadio on the air that charges the chip's
// ledger for every radio event. Not the link layer itself (src/sim/air) and not L2CAP/ATT (src/ble).
//
// Per-event charge (activity 'radio'), a pure function of the air's RadioEvent — see
// chargeForRadioEvent:
//
//   radioTxUs = event.txUs
//   radioRxUs = event.rxUs + radioWarmupUs × (event.txBursts + event.rxBursts)
//   cpuCycles = linkLayerCyclesPerEvent
//
// where txUs/rxUs are the air's on-air and listening times (LE 1M PHY: 8 µs per byte of
// preamble 1 + access address 4 + header 2 + payload + CRC 3), each transmission and each
// receive window is one burst that pays the PLL lock and ramp (costs.ts radioWarmupUs,
// charged at the RX current), and the link-layer ISR runs once per event. For example,
// with KW31Z_COSTS (warm-up 100 µs, 3,000 cycles):
// - an ADV_IND event with 3 bytes of AdvData nobody answers: 3 × ADV_IND (8 × (8 + 2 + 9) =
//   152 µs) TX, 3 × 40 µs listening → radioTxUs 456, radioRxUs 120 + 600 = 720, 3,000 cycles;
// - an empty-PDU connection event at 30 ms, peripheral side: RX 80 µs + window widening
//   ⌈(50 + 50 ppm) × 30 ms⌉ + 16 = 19 µs, TX 80 µs → radioTxUs 80, radioRxUs 99 + 200 = 299.

import type { Ledger, Meters } from '../ledger.ts';
import type { AdvertisingParams, BdAddress, ConnectionClient, Llid, PeripheralRadio } from '../radio.ts';
import type { HalResult } from '../result.ts';
import type { Air, AirPort, LlVersion, RadioEvent } from '../../src/sim/air/air.ts';
import { KW31Z_COSTS, type CostTable } from './costs.ts';

/**
 * Sleep clock accuracy of the 32.768 kHz crystal the link layer times connection events
 * with (assumption: a typical ±20 ppm crystal plus temperature drift, rounded to the SCA
 * class of 50 ppm). It sets the window widening the peripheral pays at every anchor.
 */
export const KW31Z_SLEEP_CLOCK_PPM = 50;

/**
 * What the KW31Z's controller announces in LL_VERSION_IND: Core 5.0 (VersNr 0x09) from NXP
 * (company identifier 0x0025). Assumption: the MCUXpresso KW41Z/31Z link layer is 5.0
 * qualified; sub-version not taken from a real part.
 */
export const KW31Z_LL_VERSION: LlVersion = { versNr: 0x09, compId: 0x0025, subVersNr: 0x0000 };

/** The meters one radio event costs the KW31Z (see the file header for the formula). */
export function chargeForRadioEvent(costs: CostTable, event: RadioEvent): Meters {
  return {
    radioTxUs: event.txUs,
    radioRxUs: event.rxUs + Math.round(costs.radioWarmupUs.value) * (event.txBursts + event.rxBursts),
    cpuCycles: Math.round(costs.linkLayerCyclesPerEvent.value),
  };
}

export interface Kw31zRadioOptions {
  readonly air: Air;
  /** The device's name: the air endpoint and trace device. */
  readonly device: string;
  readonly address: BdAddress;
  readonly ledger: Ledger;
  readonly costs?: CostTable;
}

export class Kw31zRadio implements PeripheralRadio {
  readonly address: BdAddress;
  /** No Data Length Extension: 27-byte LL payloads (Core Vol 6 Part B §4.5.10 defaults). */
  readonly maxPayloadBytes: number;
  /** The air-side endpoint, for tests and tools (detach models a power loss). */
  readonly port: AirPort;
  private readonly costs: CostTable;
  private readonly ledger: Ledger;
  // Most events repeat exactly (idle advertising, empty connection events): reuse the meters.
  private lastKind = '';
  private lastTxUs = -1;
  private lastRxUs = -1;
  private lastBursts = -1;
  private lastMeters: Meters = {};

  constructor(opts: Kw31zRadioOptions) {
    this.costs = opts.costs ?? KW31Z_COSTS;
    this.ledger = opts.ledger;
    this.port = opts.air.attach({
      name: opts.device,
      address: opts.address,
      onRadioEvent: (e) => this.charge(e),
      sleepClockPpm: KW31Z_SLEEP_CLOCK_PPM,
      version: KW31Z_LL_VERSION,
    });
    this.address = this.port.address;
    this.maxPayloadBytes = this.port.maxPayloadBytes;
  }

  private charge(e: RadioEvent): void {
    const bursts = e.txBursts * 65_536 + e.rxBursts;
    if (e.kind !== this.lastKind || e.txUs !== this.lastTxUs || e.rxUs !== this.lastRxUs || bursts !== this.lastBursts) {
      this.lastKind = e.kind;
      this.lastTxUs = e.txUs;
      this.lastRxUs = e.rxUs;
      this.lastBursts = bursts;
      this.lastMeters = chargeForRadioEvent(this.costs, e);
    }
    this.ledger.charge('radio', this.lastMeters);
  }

  setClient(client: ConnectionClient): void {
    this.port.setClient(client);
  }

  startAdvertising(params: AdvertisingParams): HalResult {
    return this.port.startAdvertising(params);
  }

  stopAdvertising(): HalResult {
    return this.port.stopAdvertising();
  }

  send(handle: number, llid: Llid, payload: Uint8Array): HalResult {
    return this.port.send(handle, llid, payload);
  }

  disconnect(handle: number, reason: number): HalResult {
    return this.port.disconnect(handle, reason);
  }
}

/** The KW31Z radio for a device on this air. */
export function createKw31zRadio(opts: Kw31zRadioOptions): Kw31zRadio {
  return new Kw31zRadio(opts);
}
