// Test fixture: a GATT server behind a PeripheralHost on a fake radio that records what the host sends, so tests
// drive the radio boundary (`host.received`) directly and read the answers at once. Not a radio model (no air timing).

import type { AdvertisingParams, BdAddress, Connection, ConnectionClient, Llid, PeripheralRadio } from '../../hal/radio.ts';
import { fail, okVoid, type HalResult } from '../../hal/result.ts';
import { buildGattDb, type GattDb, type ServiceDef } from '../../src/ble/gatt-db.ts';
import { GattServer, type GattServerOptions } from '../../src/ble/gatt-server.ts';
import { PeripheralHost } from '../../src/ble/peripheral-host.ts';
import type { TraceOptions } from '../../src/sim/trace.ts';
import { World } from '../../src/sim/world.ts';

/** A PeripheralRadio that keeps every PDU the host queues; `limit` makes it answer 'busy' like a full LL queue. */
export class RecordingRadio implements PeripheralRadio {
  readonly address: BdAddress = { address: 'C0:00:00:00:00:01', random: true };
  readonly sent: { handle: number; llid: Llid; payload: Uint8Array }[] = [];
  client: ConnectionClient | undefined;
  limit = Infinity;
  queued = 0;
  constructor(readonly maxPayloadBytes = 27) {}
  setClient(c: ConnectionClient): void {
    this.client = c;
  }
  startAdvertising(_p: AdvertisingParams): HalResult {
    return okVoid;
  }
  stopAdvertising(): HalResult {
    return okVoid;
  }
  send(handle: number, llid: Llid, payload: Uint8Array): HalResult {
    if (payload.length > this.maxPayloadBytes) return fail('size');
    if (this.queued >= this.limit) return fail('busy');
    this.queued++;
    this.sent.push({ handle, llid, payload: payload.slice() });
    return okVoid;
  }
  disconnect(_handle: number, _reason: number): HalResult {
    return okVoid;
  }
}

/** Rebuild B-frames from LL payloads (an independent reassembler: the test's own reading of §7.2). */
export function frames(pdus: readonly { llid: Llid; payload: Uint8Array }[]): { cid: number; payload: Uint8Array }[] {
  const out: { cid: number; payload: Uint8Array }[] = [];
  let buf: number[] = [];
  for (const p of pdus) {
    if (p.llid === 2) buf = [];
    buf.push(...p.payload);
    if (buf.length >= 4) {
      const len = buf[0]! | (buf[1]! << 8);
      if (buf.length === 4 + len) {
        out.push({ cid: buf[2]! | (buf[3]! << 8), payload: Uint8Array.from(buf.slice(4)) });
        buf = [];
      }
    }
  }
  return out;
}

export const CONN_HANDLE = 1;

export interface LoopbackOptions extends Omit<GattServerOptions, 'db'> {
  readonly services: readonly ServiceDef[];
  readonly rxMtu?: number;
  readonly maxPayloadBytes?: number;
  readonly trace?: TraceOptions;
}

export function loopback(opts: LoopbackOptions) {
  const world = new World({ seed: 'loopback', trace: opts.trace ?? { keep: true } });
  const radio = new RecordingRadio(opts.maxPayloadBytes ?? 27);
  const db: GattDb = buildGattDb(opts.services);
  const { services: _s, rxMtu, maxPayloadBytes: _m, trace: _t, ...serverOpts } = opts;
  const server = new GattServer({ db, ...serverOpts });
  const host = new PeripheralHost({ env: { alarm: world.alarm(), trace: world.trace, device: 'pump' }, radio, server, ...(rxMtu !== undefined ? { rxMtu } : {}) });
  const conn: Connection = { handle: CONN_HANDLE, peer: { address: '11:22:33:44:55:66', random: false }, role: 'peripheral', intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 4_000_000 };
  host.connected(conn);
  let seen = 0;

  /** Everything sent since the last call, as B-frames. */
  function drain(): { cid: number; payload: Uint8Array }[] {
    const pdus = radio.sent.slice(seen);
    seen = radio.sent.length;
    radio.queued = 0;
    return frames(pdus);
  }

  /** Deliver one B-frame on `cid` (fragmented to 27 bytes) and return the frames answered at once. */
  function sendFrame(cid: number, payload: Uint8Array): { cid: number; payload: Uint8Array }[] {
    const f = new Uint8Array(4 + payload.length);
    f.set([payload.length & 0xff, payload.length >> 8, cid & 0xff, cid >> 8]);
    f.set(payload, 4);
    for (let i = 0; i < f.length; i += 27) host.received(CONN_HANDLE, i === 0 ? 2 : 1, f.subarray(i, i + 27));
    return drain();
  }

  /** Send ATT bytes; return the ATT PDUs answered at once. */
  function att(bytes: Uint8Array | readonly number[]): Uint8Array[] {
    return sendFrame(4, Uint8Array.from(bytes))
      .filter((f) => f.cid === 4)
      .map((f) => f.payload);
  }

  return { world, radio, db, server, host, conn, drain, sendFrame, att };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replaceAll(' ', ''), 'hex'));
