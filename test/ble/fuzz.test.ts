// Seeded fuzz of the pump's host at the radio boundary: 100,000 random, mutated and L2CAP-malformed PDUs driven
// straight into PeripheralHost.received, each answer checked against an oracle written from the spec; then a
// smaller run through the air compared PDU for PDU with the same inputs fed directly.

import { describe, expect, it } from 'vitest';
import type { Llid } from '../../hal/radio.ts';
import type { Attribute, ServiceDef } from '../../src/ble/gatt-db.ts';
import { BatteryService } from '../../src/ble/services/battery.ts';
import { uuid16 } from '../../src/ble/uuid.ts';
import { Rng } from '../../src/sim/random.ts';
import { FixedPower, TEST_UUID, bleDevices, pumpServices } from './ble-devices.ts';
import { CONN_HANDLE, frames, hex, loopback } from './loopback.ts';

const LEVEL = 87;
const EXTRA: ServiceDef = {
  uuid: uuid16(0xfff0),
  characteristics: [
    { uuid: uuid16(0xfff1), properties: ['read', 'write'], value: Uint8Array.of(1, 2), security: { readAuthentication: true, writeAuthentication: true } }, // 0x0029
    { uuid: uuid16(0xfff3), properties: ['read', 'write', 'writeWithoutResponse'], value: new Uint8Array(4), fixedLengthBytes: 4 }, // 0x002B
  ],
};

function makeServer() {
  const battery = new BatteryService(new FixedPower(LEVEL));
  // No trace kept: 100,000 cases would keep several hundred thousand records.
  const lb = loopback({ services: [...pumpServices(battery), EXTRA], trace: { keep: false } });
  battery.attach(lb.server);
  return lb;
}

type Fragment = { llid: Llid; payload: Uint8Array };

// ------------------------------------------------------------------------------------------
// Generator
// ------------------------------------------------------------------------------------------

const le16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
const TYPES: number[][] = [le16(0x2800), le16(0x2801), le16(0x2803), le16(0x2902), le16(0x2a19), le16(0x2a00), [...TEST_UUID.data.le], [...TEST_UUID.secret.le]];

class Gen {
  constructor(readonly rng: Rng) {}
  handle(): number {
    const r = this.rng;
    return r.chance(0.85) ? r.int(0, 0x2e) : r.int(0, 0xffff);
  }
  bytes(max: number): number[] {
    return [...this.rng.bytes(this.rng.int(0, max))];
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(0, xs.length - 1)]!;
  }
  /** A PDU of a defined opcode with plausible fields. */
  wellFormed(): number[] {
    const r = this.rng;
    const h = this.handle();
    const range = (): number[] => {
      const a = this.handle();
      const b = r.chance(0.3) ? 0xffff : r.chance(0.2) ? r.int(0, a) : a + r.int(0, 12);
      return [...le16(a), ...le16(Math.min(b, 0xffff))];
    };
    switch (r.int(0, 17)) {
      case 0:
        return [0x02, ...le16(r.chance(0.5) ? r.int(0, 600) : r.int(0, 0xffff))];
      case 1:
        return [0x04, ...range()];
      case 2:
        return [0x06, ...range(), ...le16(r.chance(0.7) ? 0x2800 : r.int(0, 0xffff)), ...(r.chance(0.5) ? le16(this.pick([0x180f, 0x1800, 0x180a, 0x1234])) : this.bytes(8))];
      case 3:
        return [0x08, ...range(), ...this.pick(TYPES)];
      case 4:
      case 5:
        return [0x0a, ...le16(h)];
      case 6:
        return [0x0c, ...le16(h), ...le16(r.chance(0.8) ? r.int(0, 210) : r.int(0, 0xffff))];
      case 7:
        return [this.pick([0x0e, 0x20]), ...Array.from({ length: r.int(2, 5) }, () => le16(this.handle())).flat()];
      case 8:
        return [0x10, ...range(), ...(r.chance(0.8) ? le16(0x2800) : this.pick(TYPES))];
      case 9:
      case 10:
        return [0x12, ...le16(h), ...this.bytes(r.chance(0.5) ? 4 : 20)];
      case 11:
        return [0x52, ...le16(h), ...this.bytes(r.chance(0.5) ? 4 : 20)];
      case 12:
      case 13:
        return [0x16, ...le16(h), ...le16(r.chance(0.8) ? r.int(0, 40) : r.int(0, 0xffff)), ...this.bytes(18)];
      case 14:
        return [0x18, r.chance(0.9) ? r.int(0, 1) : r.int(0, 255)];
      case 15:
        return [this.pick([0x1b, 0x1d, 0x1e, 0xd2]), ...le16(h), ...this.bytes(16)];
      case 16:
        return [this.pick([0x01, 0x03, 0x05, 0x07, 0x09, 0x0b, 0x0d, 0x0f, 0x11, 0x13, 0x17, 0x19, 0x21, 0x23]), ...this.bytes(10)];
      default:
        return [r.int(0, 255), ...this.bytes(6)];
    }
  }
  mutate(b: number[]): number[] {
    const r = this.rng;
    const out = [...b];
    switch (r.int(0, 4)) {
      case 0: // flip bits
        for (let k = r.int(1, 3); k > 0 && out.length > 0; k--) out[r.int(0, out.length - 1)]! ^= 1 << r.int(0, 7);
        return out;
      case 1: // truncate
        return out.slice(0, r.int(0, out.length));
      case 2: // extend
        return [...out, ...this.bytes(6)];
      case 3: // another opcode, same body
        if (out.length > 0) out[0] = r.int(0, 255);
        return out;
      default: // a byte replaced
        if (out.length > 0) out[r.int(0, out.length - 1)] = r.int(0, 255);
        return out;
    }
  }
  /** One case: the ATT bytes (undefined when the frame is not for the ATT channel) and the LL fragments carrying it. */
  next(partialOpen: boolean): { att: number[] | undefined; fragments: Fragment[]; leavesPartial: boolean } {
    const r = this.rng;
    const roll = r.nextFloat();
    const att = roll < 0.45 ? this.wellFormed() : roll < 0.75 ? this.mutate(this.wellFormed()) : roll < 0.85 ? [r.int(0, 255), ...this.bytes(28)] : null;
    if (att !== null) return { att, fragments: this.split(frame(4, att), r.chance(0.2)), leavesPartial: false };
    // L2CAP-level trouble.
    const body = this.bytes(20);
    switch (r.int(0, 4)) {
      case 0: // an unknown fixed channel
        return { att: undefined, fragments: this.split(frame(this.pick([0x0000, 0x0001, 0x0003, 0x0007, 0x003f, 0x0040, 0xffff]), body), false), leavesPartial: false };
      case 1: // the Length field promises more than comes
        return { att: undefined, fragments: [{ llid: 2, payload: Uint8Array.from([...le16(body.length + r.int(1, 40)), 4, 0, ...body]) }], leavesPartial: true };
      case 2: // the Length field promises less than comes
        return { att: undefined, fragments: this.split(Uint8Array.from([...le16(Math.max(0, body.length - r.int(1, 5))), 4, 0, ...body, 0]), false), leavesPartial: false };
      case 3: // a continuation nobody started (only when nothing is being reassembled)
        if (!partialOpen) return { att: undefined, fragments: [{ llid: 1, payload: Uint8Array.from([...body, 1]) }], leavesPartial: false };
        return { att: undefined, fragments: [], leavesPartial: true };
      default: // signalling or SMP noise: answered there, never on ATT
        return { att: undefined, fragments: this.split(frame(this.pick([5, 6]), body), false), leavesPartial: false };
    }
  }
  split(f: Uint8Array, random: boolean): Fragment[] {
    const out: Fragment[] = [];
    for (let i = 0; i < f.length; ) {
      const n = random ? this.rng.int(1, 27) : 27;
      out.push({ llid: i === 0 ? 2 : 1, payload: f.slice(i, i + n) });
      i += n;
    }
    return out;
  }
}

function frame(cid: number, payload: readonly number[]): Uint8Array {
  return Uint8Array.from([...le16(payload.length), ...le16(cid), ...payload]);
}

// ------------------------------------------------------------------------------------------
// Oracle: what Vol 3 Part F says the server answers, from the attributes' metadata and a shadow of the values
// ------------------------------------------------------------------------------------------

const REQUEST_LENGTH_OK: Record<number, (n: number) => boolean> = {
  0x02: (n) => n === 3,
  0x04: (n) => n === 5,
  0x06: (n) => n >= 7,
  0x08: (n) => n === 7 || n === 21,
  0x0a: (n) => n === 3,
  0x0c: (n) => n === 5,
  0x0e: (n) => n >= 5 && n % 2 === 1,
  0x10: (n) => n === 7 || n === 21,
  0x12: (n) => n >= 3,
  0x16: (n) => n >= 5,
  0x18: (n) => n === 2,
  0x20: (n) => n >= 5 && n % 2 === 1,
};
const CLIENT_BOUND = new Set([0x01, 0x03, 0x05, 0x07, 0x09, 0x0b, 0x0d, 0x0f, 0x11, 0x13, 0x17, 0x19, 0x21, 0x1b, 0x1d, 0x23]);
const DEFINED_COMMANDS = new Set([0x52, 0xd2, 0x1e]);
const RANGE_REQUESTS = new Set([0x04, 0x06, 0x08, 0x10]);

type Expect = { kind: 'none' } | { kind: 'exact'; hex: string; apply?: () => void } | { kind: 'answer'; opcode: number };

class Oracle {
  mtu = 23;
  mtuExchanged = false;
  readonly values: Map<number, Uint8Array>;
  readonly cccd = new Map<number, number>();
  queue: { h: number; offset: number; value: Uint8Array }[] = [];

  constructor(readonly attr: (h: number) => Attribute | undefined, snapshot: Map<number, Uint8Array>) {
    this.values = snapshot;
  }

  private isDeclaration(a: Attribute): boolean {
    return a.role === 'primary-service' || a.role === 'secondary-service' || a.role === 'characteristic';
  }
  private value(a: Attribute): Uint8Array {
    if (a.role === 'cccd') return Uint8Array.from(le16(this.cccd.get(a.handle) ?? 0));
    if (a.onRead) return Uint8Array.of(LEVEL); // the only callback-backed value: Battery Level
    return this.values.get(a.handle)!;
  }
  private readDenied(a: Attribute): number {
    if (this.isDeclaration(a)) return 0;
    if (!a.readable) return 0x02;
    if (a.security.readAuthentication) return 0x05;
    if (a.security.readAuthorization) return 0x08;
    return 0;
  }
  private writeDenied(a: Attribute, command: boolean): number {
    if (this.isDeclaration(a) || !(command ? a.writableByCommand : a.writable)) return 0x03;
    if (a.security.writeAuthentication) return 0x05;
    if (a.security.writeAuthorization) return 0x08;
    return 0;
  }
  private fixedLength(a: Attribute): number | undefined {
    return a.role === 'cccd' ? 2 : a.fixedLengthBytes;
  }
  private store(a: Attribute, v: Uint8Array): void {
    if (a.role === 'cccd') this.cccd.set(a.handle, v[0]! | (v[1]! << 8));
    else this.values.set(a.handle, v);
  }
  private err(op: number, h: number, code: number): Expect {
    return { kind: 'exact', hex: hex(Uint8Array.from([0x01, op, ...le16(h), code])) };
  }

  expect(b: Uint8Array): Expect {
    const n = b.length;
    if (n === 0 || n > this.mtu) return { kind: 'none' };
    const op = b[0]!;
    const u16 = (i: number): number => b[i]! | (b[i + 1]! << 8);
    if (CLIENT_BOUND.has(op)) {
      // The pump's own client: it confirms a well-formed indication and ignores the rest.
      return op === 0x1d && n >= 3 ? { kind: 'exact', hex: '1e' } : { kind: 'none' };
    }
    const lengthOk = REQUEST_LENGTH_OK[op];
    if (lengthOk === undefined) {
      if (DEFINED_COMMANDS.has(op) || (op & 0x40) !== 0) {
        if (op === 0x52 && n >= 3) this.writeCommand(u16(1), b.slice(3));
        return { kind: 'none' };
      }
      return this.err(op, 0, 0x06);
    }
    if (!lengthOk(n)) return this.err(op, 0, 0x04);
    if (RANGE_REQUESTS.has(op) && (u16(1) === 0 || u16(1) > u16(3))) return this.err(op, u16(1), 0x01);
    switch (op) {
      case 0x02:
        return {
          kind: 'exact',
          hex: '03f700',
          apply: () => {
            if (!this.mtuExchanged) this.mtu = Math.max(23, Math.min(u16(1), 247));
            this.mtuExchanged = true;
          },
        };
      case 0x0a: {
        const a = this.attr(u16(1));
        if (!a) return this.err(op, u16(1), 0x01);
        const d = this.readDenied(a);
        if (d) return this.err(op, a.handle, d);
        return { kind: 'exact', hex: '0b' + hex(this.value(a).subarray(0, this.mtu - 1)) };
      }
      case 0x0c: {
        const a = this.attr(u16(1));
        const offset = u16(3);
        if (!a) return this.err(op, u16(1), 0x01);
        const d = this.readDenied(a);
        if (d) return this.err(op, a.handle, d);
        const v = this.value(a);
        const fixed = this.isDeclaration(a) ? v.length : this.fixedLength(a);
        if (fixed !== undefined && v.length <= this.mtu - 3) return this.err(op, a.handle, 0x0b);
        if (offset > v.length) return this.err(op, a.handle, 0x07);
        return { kind: 'exact', hex: '0d' + hex(v.subarray(offset, offset + this.mtu - 1)) };
      }
      case 0x0e:
      case 0x20: {
        const parts: Uint8Array[] = [];
        for (let i = 1; i < n; i += 2) {
          const a = this.attr(u16(i));
          if (!a) return this.err(op, u16(i), 0x01);
          const d = this.readDenied(a);
          if (d) return this.err(op, a.handle, d);
          parts.push(this.value(a));
        }
        const room = this.mtu - 1;
        let body: number[] = [];
        if (op === 0x0e) body = parts.flatMap((p) => [...p]).slice(0, room);
        else
          for (const p of parts) {
            if (body.length + 2 > room) break;
            const take = Math.min(p.length, room - body.length - 2);
            body.push(...le16(take), ...p.subarray(0, take));
            if (take < p.length) break;
          }
        return { kind: 'exact', hex: hex(Uint8Array.from([op + 1, ...body])) };
      }
      case 0x12: {
        const a = this.attr(u16(1));
        const v = b.slice(3);
        if (!a) return this.err(op, u16(1), 0x01);
        const d = this.writeDenied(a, false);
        if (d) return this.err(op, a.handle, d);
        const fixed = this.fixedLength(a);
        if (fixed !== undefined ? v.length !== fixed : v.length > a.maxLengthBytes) return this.err(op, a.handle, 0x0d);
        return { kind: 'exact', hex: '13', apply: () => this.store(a, v) };
      }
      case 0x16: {
        const a = this.attr(u16(1));
        if (!a) return this.err(op, u16(1), 0x01);
        const d = this.writeDenied(a, false);
        if (d) return this.err(op, a.handle, d);
        if (this.queue.length >= 32) return this.err(op, a.handle, 0x09);
        return { kind: 'exact', hex: '17' + hex(b.subarray(1)), apply: () => this.queue.push({ h: a.handle, offset: u16(3), value: b.slice(5) }) };
      }
      case 0x18: {
        const flags = b[1]!;
        if (flags > 1) return this.err(op, 0, 0x04);
        const q = this.queue;
        this.queue = [];
        if (flags === 0) return { kind: 'exact', hex: '19' };
        // Each part, in order, on a working copy: the offset within what is there, the end within the limit.
        const working = new Map<number, Uint8Array>();
        for (const p of q) {
          const a = this.attr(p.h)!;
          const base = working.get(p.h) ?? this.value(a);
          if (p.offset > base.length) return this.err(op, p.h, 0x07);
          const fixed = this.fixedLength(a);
          if (p.offset + p.value.length > (fixed ?? a.maxLengthBytes)) return this.err(op, p.h, 0x0d);
          const next = fixed !== undefined ? Uint8Array.from(base) : new Uint8Array(p.offset + p.value.length);
          if (fixed === undefined) next.set(base.subarray(0, p.offset));
          next.set(p.value, p.offset);
          working.set(p.h, next);
        }
        return { kind: 'exact', hex: '19', apply: () => working.forEach((v, h) => this.store(this.attr(h)!, v)) };
      }
      default:
        return { kind: 'answer', opcode: op };
    }
  }

  private writeCommand(h: number, v: Uint8Array): void {
    const a = this.attr(h);
    if (!a || this.writeDenied(a, true)) return;
    const fixed = this.fixedLength(a);
    if (fixed !== undefined ? v.length !== fixed : v.length > a.maxLengthBytes) return;
    this.store(a, v);
  }
}

/** Stored values as the oracle sees them (CCCDs are per client, not in the database). */
function sameValues(db: Map<number, Uint8Array>, shadow: Map<number, Uint8Array>): string[] {
  const diffs: string[] = [];
  for (const [h, v] of db) if (hex(v) !== hex(shadow.get(h) ?? new Uint8Array(0))) diffs.push(`0x${h.toString(16)}: ${hex(v)} ≠ ${hex(shadow.get(h)!)}`);
  return diffs;
}

describe('fuzzing the pump at the radio boundary', () => {
  it('answers 100,000 random, mutated and malformed PDUs as the spec says and changes only what valid writes change', () => {
    const lb = makeServer();
    const oracle = new Oracle((h) => lb.db.get(h), lb.db.snapshot());
    const gen = new Gen(new Rng('medtwin-ble-fuzz-1'));
    const tally = { cases: 0, answered: 0, silent: 0, exact: 0, applied: 0, attCases: 0 };
    let partial = false;
    for (let i = 0; i < 100_000; i++) {
      const c = gen.next(partial);
      partial = c.leavesPartial || (partial && c.fragments.length === 0);
      tally.cases++;
      for (const f of c.fragments) lb.host.received(CONN_HANDLE, f.llid, f.payload); // must never throw
      const out = lb.drain().filter((f) => f.cid === 4);
      if (c.att === undefined) {
        if (out.length !== 0) throw new Error(`case ${i}: L2CAP-malformed frame got an ATT answer ${hex(out[0]!.payload)}`);
        continue;
      }
      tally.attCases++;
      const e = oracle.expect(Uint8Array.from(c.att));
      const got = out.map((f) => hex(f.payload));
      const where = `case ${i}: ${hex(Uint8Array.from(c.att))}`;
      if (e.kind === 'none') {
        if (got.length !== 0) throw new Error(`${where}: expected no answer, got ${got.join(' ')}`);
        tally.silent++;
      } else if (e.kind === 'exact') {
        if (got.length !== 1 || got[0] !== e.hex) throw new Error(`${where}: expected ${e.hex}, got ${got.join(' ') || 'nothing'}`);
        tally.exact++;
        if (e.apply) {
          e.apply();
          tally.applied++;
        }
      } else {
        const p = out[0]?.payload;
        const okAnswer = out.length === 1 && p !== undefined && p.length <= oracle.mtu && (p[0] === e.opcode + 1 || (p[0] === 0x01 && p[1] === e.opcode && p.length === 5));
        if (!okAnswer) throw new Error(`${where}: expected one answer to 0x${e.opcode.toString(16)}, got ${got.join(' ') || 'nothing'}`);
        tally.answered++;
      }
      if (i % 5_000 === 0) {
        const diffs = sameValues(lb.db.snapshot(), oracle.values);
        if (diffs.length > 0) throw new Error(`case ${i}: database differs from the valid writes: ${diffs.join('; ')}`);
      }
    }
    expect(sameValues(lb.db.snapshot(), oracle.values)).toEqual([]);
    expect(lb.server.handlerErrors).toEqual([]);
    expect(tally.cases).toBe(100_000);
    // The mix actually exercised every kind of outcome.
    expect(tally.attCases).toBeGreaterThan(80_000);
    expect(tally.exact).toBeGreaterThan(40_000);
    expect(tally.silent).toBeGreaterThan(5_000);
    expect(tally.answered).toBeGreaterThan(5_000);
    expect(tally.applied).toBeGreaterThan(2_000);
  });

  it('gives the same answers through the air as at the boundary (2,000 PDUs, raw LL fragments from the phone)', () => {
    const gen = new Gen(new Rng('medtwin-ble-fuzz-air'));
    const cases: Fragment[][] = [];
    let partial = false;
    for (let i = 0; i < 2_000; i++) {
      const c = gen.next(partial);
      partial = c.leavesPartial || (partial && c.fragments.length === 0);
      cases.push(c.fragments);
    }
    // Directly.
    const lb = makeServer();
    const direct: string[] = [];
    for (const fr of cases) {
      for (const f of fr) lb.host.received(CONN_HANDLE, f.llid, f.payload);
      for (const f of lb.drain()) direct.push(`${f.cid}:${hex(f.payload)}`);
    }
    // Through the air: the phone's radio sends the same fragments (its host is bypassed).
    const d = bleDevices({ power: new FixedPower(LEVEL), extraServices: [EXTRA] });
    const { phoneLink } = d.connect();
    const h = phoneLink.connection.handle;
    const heard: Fragment[] = [];
    d.phone.setClient({
      advertisement: () => {},
      connected: () => {},
      received: (_h, llid, payload) => {
        heard.push({ llid, payload });
      },
      disconnected: () => {},
    });
    for (const fr of cases) {
      for (const f of fr) {
        while (!d.phone.send(h, f.llid, f.payload).ok) d.world.runFor(30_000);
      }
    }
    d.world.runFor(20_000_000);
    const viaAir = frames(heard).map((f) => `${f.cid}:${hex(f.payload)}`);
    expect(d.disconnects()).toEqual([]);
    expect(viaAir.length).toBeGreaterThan(1_000);
    expect(viaAir).toEqual(direct);
    expect(sameValues(d.db.snapshot(), lb.db.snapshot())).toEqual([]);
  });
});
