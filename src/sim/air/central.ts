// The simulated phone's radio: a CentralRadio on the air (scan, connect, send), optionally
// charging a ledger. Not a host stack (GATT client, pairing live in src/client) and not a chip model.

import type { Ledger, Meters } from '../../../hal/ledger.ts';
import type { BdAddress, CentralClient, CentralRadio, ConnectionParams, Llid, ScanParams } from '../../../hal/radio.ts';
import type { HalResult } from '../../../hal/result.ts';
import type { Air, AirPort, LlVersion, RadioEvent } from './air.ts';

export interface SimCentralOptions {
  readonly air: Air;
  /** Endpoint name on the air (trace device, sniff sender). */
  readonly name: string;
  readonly address: BdAddress;
  /** Charge this ledger per radio event (activity 'radio'); nothing is charged without one. */
  readonly ledger?: Ledger;
  /** Meters per radio event; default: the on-air time only (radioTxUs, radioRxUs). */
  readonly charge?: (event: RadioEvent) => Meters;
  /** Sleep clock accuracy in ppm (default 50): the SCA field of the CONNECT_IND it sends. */
  readonly sleepClockPpm?: number;
  readonly maxPayloadBytes?: number;
  readonly version?: LlVersion;
}

/**
 * The supervision timeout the simulated phone asks for at `intervalUs`: six intervals, at least
 * 1 s, in the spec's 10 ms units (Core Vol 6 Part B §4.5.2 needs more than 2 × interval).
 */
export function defaultSupervisionTimeoutUs(intervalUs: number): number {
  return Math.max(1_000_000, Math.ceil((intervalUs * 6) / 10_000) * 10_000);
}

const onAirTimeOnly = (e: RadioEvent): Meters => ({ radioTxUs: e.txUs, radioRxUs: e.rxUs });

export class SimCentral implements CentralRadio {
  readonly address: BdAddress;
  readonly maxPayloadBytes: number;
  /** The air-side endpoint, for tests and tools that need more than the HAL (cancelConnect, detach). */
  readonly port: AirPort;

  constructor(opts: SimCentralOptions) {
    const ledger = opts.ledger;
    const charge = opts.charge ?? onAirTimeOnly;
    this.port = opts.air.attach({
      name: opts.name,
      address: opts.address,
      ...(ledger ? { onRadioEvent: (e: RadioEvent) => ledger.charge('radio', charge(e)) } : {}),
      ...(opts.sleepClockPpm !== undefined ? { sleepClockPpm: opts.sleepClockPpm } : {}),
      ...(opts.maxPayloadBytes !== undefined ? { maxPayloadBytes: opts.maxPayloadBytes } : {}),
      ...(opts.version !== undefined ? { version: opts.version } : {}),
    });
    this.address = this.port.address;
    this.maxPayloadBytes = this.port.maxPayloadBytes;
  }

  setClient(client: CentralClient): void {
    this.port.setClient(client);
  }

  startScanning(params: ScanParams): HalResult {
    return this.port.startScanning(params);
  }

  stopScanning(): HalResult {
    return this.port.stopScanning();
  }

  connect(peer: BdAddress, params: ConnectionParams): HalResult {
    return this.port.connect(peer, params);
  }

  send(handle: number, llid: Llid, payload: Uint8Array): HalResult {
    return this.port.send(handle, llid, payload);
  }

  disconnect(handle: number, reason: number): HalResult {
    return this.port.disconnect(handle, reason);
  }
}
