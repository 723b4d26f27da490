// Test fixture: a simulated KW31Z peripheral ("pump") and a simulated phone ("phone") on one air,
// with their host events logged. Not a test file itself, and not for production composition.

import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { Kw31zRadio } from '../../../hal/kw31z/radio.ts';
import type { BdAddress, Connection, ConnectionParams } from '../../../hal/radio.ts';
import { Air, type SniffedPdu } from '../../../src/sim/air/air.ts';
import { SimCentral } from '../../../src/sim/air/central.ts';
import { World } from '../../../src/sim/world.ts';

export const PUMP_ADDRESS: BdAddress = { address: 'C0:00:00:00:00:01', random: true };
export const PHONE_ADDRESS: BdAddress = { address: '11:22:33:44:55:66', random: false };

export interface HostEvent {
  readonly tUs: number;
  readonly who: 'pump' | 'phone';
  readonly what: 'connected' | 'received' | 'sent' | 'disconnected' | 'advertisement';
  readonly handle?: number;
  readonly text?: string;
  readonly llid?: number;
  readonly reason?: number;
  readonly pduType?: string;
}

export interface TwoDevicesOptions {
  seed?: string;
  loss?: number;
  verbose?: boolean;
  sniff?: boolean;
  extraLatencyUs?: number;
}

export const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');
export const bytesOf = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));

export function twoDevices(opts: TwoDevicesOptions = {}) {
  const world = new World({ seed: opts.seed ?? 'air-test', trace: { verbose: opts.verbose ?? false } });
  const air = new Air(world, { lossProbability: opts.loss ?? 0, extraLatencyUs: opts.extraLatencyUs ?? 0 });
  const ledger = new Kw31zLedger('pump', () => world.nowUs);
  const pump = new Kw31zRadio({ air, device: 'pump', address: PUMP_ADDRESS, ledger });
  const phone = new SimCentral({ air, name: 'phone', address: PHONE_ADDRESS });
  const events: HostEvent[] = [];
  const conns: { pump?: Connection; phone?: Connection } = {};
  const sniffed: SniffedPdu[] = [];
  if (opts.sniff) air.sniff((p) => sniffed.push(p));
  const log = (e: Omit<HostEvent, 'tUs'>) => events.push({ tUs: world.nowUs, ...e });
  pump.setClient({
    connected: (c) => {
      conns.pump = c;
      log({ who: 'pump', what: 'connected', handle: c.handle });
    },
    received: (handle, llid, payload) => log({ who: 'pump', what: 'received', handle, llid, text: text(payload) }),
    sent: (handle) => log({ who: 'pump', what: 'sent', handle }),
    disconnected: (handle, reason) => log({ who: 'pump', what: 'disconnected', handle, reason }),
  });
  phone.setClient({
    advertisement: (r) => log({ who: 'phone', what: 'advertisement', pduType: r.pduType, text: text(r.data) }),
    connected: (c) => {
      conns.phone = c;
      log({ who: 'phone', what: 'connected', handle: c.handle });
    },
    received: (handle, llid, payload) => log({ who: 'phone', what: 'received', handle, llid, text: text(payload) }),
    sent: (handle) => log({ who: 'phone', what: 'sent', handle }),
    disconnected: (handle, reason) => log({ who: 'phone', what: 'disconnected', handle, reason }),
  });

  const received = (who: 'pump' | 'phone') => events.filter((e) => e.who === who && e.what === 'received').map((e) => e.text);
  const disconnects = () => events.filter((e) => e.what === 'disconnected');

  /** Advertise at 100 ms, connect with these parameters, run until both ends heard `connected`. */
  function connect(params: ConnectionParams = { intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 1_000_000 }) {
    expectOk(
      pump.startAdvertising({ intervalUs: 100_000, advData: Uint8Array.of(2, 1, 6), scanRspData: bytesOf('\u0005\u0009pump'), connectable: true }),
    );
    expectOk(phone.connect(pump.address, params));
    for (let i = 0; i < 1000 && !(conns.pump && conns.phone); i++) world.runFor(1_000);
    if (!conns.pump || !conns.phone) throw new Error('fixture: the devices did not connect');
    const open = world.trace.filter({ kind: 'conn.open', device: 'pump' }).at(-1)!;
    return { pumpHandle: conns.pump.handle, phoneHandle: conns.phone.handle, accessAddress: open.fields.accessAddress as number };
  }

  return { world, air, ledger, pump, phone, events, conns, sniffed, received, disconnects, connect };
}

export function expectOk(r: { ok: boolean; code?: string; detail?: string }): void {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.detail ?? ''}`);
}

/** SN, NESN, LLID of a sniffed data PDU (header byte 0, §2.4). */
export function dataHeader(p: SniffedPdu): { llid: number; nesn: number; sn: number; md: boolean; length: number } {
  const b0 = p.bytes[0]!;
  return { llid: b0 & 3, nesn: (b0 >> 2) & 1, sn: (b0 >> 3) & 1, md: (b0 & 0x10) !== 0, length: p.bytes[1]! };
}
