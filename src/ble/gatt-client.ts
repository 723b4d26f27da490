// GATT client procedures (Core v5.x Vol 3 Part G §4) on one ATT bearer: MTU exchange, discovery of services,
// characteristics and descriptors, reads (long, multiple, by type), writes (long, without response), subscriptions.
// Not the ATT rules underneath (att-client.ts) and not a phone app (src/client): every call is split-phase.

import { ATT_ERROR, type AttPdu, type HandleUuid, type HandleValue } from './att-pdu.ts';
import type { AttClient, AttClientFailure, AttClientResult } from './att-client.ts';
import { CCCD, CHARACTERISTIC_UUID, GATT_TYPE, PRIMARY_SERVICE_UUID, propertyNames, type CharacteristicProperty } from './gatt-db.ts';
import { uuidFromLe, type Uuid } from './uuid.ts';

export type GattResult<T> = AttClientResult<T>;
type Done<T> = (r: GattResult<T>) => void;

export interface GattDescriptor {
  readonly uuid: Uuid;
  readonly handle: number;
}

export interface GattCharacteristic {
  readonly uuid: Uuid;
  readonly declarationHandle: number;
  readonly valueHandle: number;
  /** Characteristic Properties bits (Vol 3 Part G §3.3.1.1). */
  readonly properties: number;
  readonly propertyNames: readonly CharacteristicProperty[];
  /** Last handle of its definition: the next declaration's handle − 1, or the service's end. */
  readonly endHandle: number;
  descriptors: GattDescriptor[];
}

export interface GattService {
  readonly uuid: Uuid;
  readonly startHandle: number;
  readonly endHandle: number;
  characteristics: GattCharacteristic[];
}

const isNotFound = (r: AttClientFailure): boolean => r.code === 'att' && r.attError === ATT_ERROR.ATTRIBUTE_NOT_FOUND;
const fail = (code: AttClientFailure['code'], detail: string): AttClientFailure => ({ ok: false, code, detail });

/** The response, checked for the expected kind (a server that answers with another PDU is 'bad-response'). */
function expect<K extends AttPdu['op']>(r: AttClientResult<AttPdu>, op: K): AttClientResult<Extract<AttPdu, { op: K }>> {
  if (!r.ok) return r;
  if (r.value.op !== op) return fail('bad-response', `expected ${op}, got ${r.value.op}`);
  return { ok: true, value: r.value as Extract<AttPdu, { op: K }> };
}

/** One connection's GATT client. */
export class GattClient {
  private readonly listeners = new Map<number, Set<(value: Uint8Array, kind: 'notification' | 'indication') => void>>();
  /** Every notification and indication, whatever its handle. */
  onAnyValue: ((handle: number, value: Uint8Array, kind: 'notification' | 'indication') => void) | undefined = undefined;

  constructor(readonly att: AttClient) {
    att.onValue = (handle, value, kind) => {
      this.onAnyValue?.(handle, value, kind);
      const set = this.listeners.get(handle);
      if (set) for (const l of [...set]) l(value, kind);
    };
  }

  get conn(): number {
    return this.att.bearer.conn;
  }

  /** ATT_MTU now. */
  get mtu(): number {
    return this.att.bearer.mtu;
  }

  // ------------------------------------------------------------------ configuration (§4.3)

  /** Exchange MTU with our Rx MTU (§4.3.1); `done` gets the resulting ATT_MTU. */
  exchangeMtu(done: Done<number>): void {
    this.att.request({ op: 'exchange-mtu-req', mtu: this.att.bearer.rxMtu }, (r) => {
      const x = expect(r, 'exchange-mtu-rsp');
      done(x.ok ? { ok: true, value: this.mtu } : x);
    });
  }

  // ------------------------------------------------------------------ discovery (§4.4 – §4.7)

  /** Discover All Primary Services (§4.4.1): Read By Group Type 0x2800 until Attribute Not Found. */
  discoverPrimaryServices(done: Done<GattService[]>): void {
    const out: GattService[] = [];
    const step = (start: number): void => {
      this.att.request({ op: 'read-by-group-type-req', startHandle: start, endHandle: 0xffff, type: PRIMARY_SERVICE_UUID }, (r) => {
        const x = expect(r, 'read-by-group-type-rsp');
        if (!x.ok) return done(isNotFound(x) ? { ok: true, value: out } : x);
        let last = start;
        for (const e of x.value.entries) {
          const u = uuidFromLe(e.value);
          if (!u.ok || e.endGroupHandle < e.handle || e.handle < start) return done(fail('bad-response', `service entry at 0x${e.handle.toString(16)} is malformed`));
          out.push({ uuid: u.value, startHandle: e.handle, endHandle: e.endGroupHandle, characteristics: [] });
          last = e.endGroupHandle;
        }
        if (last >= 0xffff) return done({ ok: true, value: out });
        step(last + 1);
      });
    };
    step(0x0001);
  }

  /** Discover Primary Service by Service UUID (§4.4.2): Find By Type Value 0x2800 = the UUID. */
  discoverPrimaryServicesByUuid(uuid: Uuid, done: Done<GattService[]>): void {
    const out: GattService[] = [];
    const step = (start: number): void => {
      this.att.request({ op: 'find-by-type-value-req', startHandle: start, endHandle: 0xffff, type: GATT_TYPE.PRIMARY_SERVICE, value: uuid.le }, (r) => {
        const x = expect(r, 'find-by-type-value-rsp');
        if (!x.ok) return done(isNotFound(x) ? { ok: true, value: out } : x);
        let last = start;
        for (const e of x.value.entries) {
          if (e.groupEndHandle < e.foundHandle || e.foundHandle < start) return done(fail('bad-response', 'handles information out of order'));
          out.push({ uuid, startHandle: e.foundHandle, endHandle: e.groupEndHandle, characteristics: [] });
          last = e.groupEndHandle;
        }
        if (last >= 0xffff) return done({ ok: true, value: out });
        step(last + 1);
      });
    };
    step(0x0001);
  }

  /** Discover All Characteristics of a Service (§4.6.1): Read By Type 0x2803 over its range. */
  discoverCharacteristics(service: { readonly startHandle: number; readonly endHandle: number }, done: Done<GattCharacteristic[]>): void {
    const found: { decl: number; props: number; valueHandle: number; uuid: Uuid }[] = [];
    const finish = (): void => {
      const out = found.map((c, i) => ({
        uuid: c.uuid,
        declarationHandle: c.decl,
        valueHandle: c.valueHandle,
        properties: c.props,
        propertyNames: propertyNames(c.props),
        endHandle: i + 1 < found.length ? found[i + 1]!.decl - 1 : service.endHandle,
        descriptors: [],
      }));
      done({ ok: true, value: out });
    };
    const step = (start: number): void => {
      if (start > service.endHandle) return finish();
      this.att.request({ op: 'read-by-type-req', startHandle: start, endHandle: service.endHandle, type: CHARACTERISTIC_UUID }, (r) => {
        const x = expect(r, 'read-by-type-rsp');
        if (!x.ok) return isNotFound(x) ? finish() : done(x);
        let last = start;
        for (const e of x.value.entries) {
          const v = e.value;
          const u = v.length === 5 || v.length === 19 ? uuidFromLe(v.subarray(3)) : null;
          if (!u || !u.ok || e.handle < start) return done(fail('bad-response', `characteristic declaration at 0x${e.handle.toString(16)} is malformed`));
          found.push({ decl: e.handle, props: v[0]!, valueHandle: v[1]! | (v[2]! << 8), uuid: u.value });
          last = e.handle;
        }
        if (last >= service.endHandle) return finish();
        step(last + 1);
      });
    };
    step(service.startHandle);
  }

  /** Discover All Characteristic Descriptors (§4.7.1): Find Information after the value handle. */
  discoverDescriptors(ch: { readonly valueHandle: number; readonly endHandle: number }, done: Done<GattDescriptor[]>): void {
    const out: GattDescriptor[] = [];
    const step = (start: number): void => {
      if (start > ch.endHandle) return done({ ok: true, value: out });
      this.findInformation(start, ch.endHandle, (r) => {
        if (!r.ok) return done(isNotFound(r) ? { ok: true, value: out } : r);
        let last = start;
        for (const e of r.value) {
          if (e.handle < start) return done(fail('bad-response', 'information data out of order'));
          out.push({ uuid: e.uuid, handle: e.handle });
          last = e.handle;
        }
        if (last >= ch.endHandle) return done({ ok: true, value: out });
        step(last + 1);
      });
    };
    step(ch.valueHandle + 1);
  }

  /** All primary services with their characteristics and descriptors (what a phone does on connecting). */
  discoverAll(done: Done<GattService[]>): void {
    this.discoverPrimaryServices((r) => {
      if (!r.ok) return done(r);
      const services = r.value;
      const chars: GattCharacteristic[] = [];
      const eachService = (i: number): void => {
        if (i >= services.length) return eachChar(0);
        const s = services[i]!;
        this.discoverCharacteristics(s, (c) => {
          if (!c.ok) return done(c);
          s.characteristics = c.value;
          chars.push(...c.value);
          eachService(i + 1);
        });
      };
      const eachChar = (i: number): void => {
        if (i >= chars.length) return done({ ok: true, value: services });
        const c = chars[i]!;
        if (c.endHandle <= c.valueHandle) return eachChar(i + 1);
        this.discoverDescriptors(c, (d) => {
          if (!d.ok) return done(d);
          c.descriptors = d.value;
          eachChar(i + 1);
        });
      };
      eachService(0);
    });
  }

  /** One Find Information request (§3.4.3.1). */
  findInformation(start: number, end: number, done: Done<HandleUuid[]>): void {
    this.att.request({ op: 'find-information-req', startHandle: start, endHandle: end }, (r) => {
      const x = expect(r, 'find-information-rsp');
      done(x.ok ? { ok: true, value: [...x.value.entries] } : x);
    });
  }

  // ------------------------------------------------------------------ reads (§4.8)

  /** Read Characteristic Value (§4.8.1): one Read Request, at most ATT_MTU − 1 bytes. */
  read(handle: number, done: Done<Uint8Array>): void {
    this.att.request({ op: 'read-req', handle }, (r) => {
      const x = expect(r, 'read-rsp');
      done(x.ok ? { ok: true, value: x.value.value } : x);
    });
  }

  /** One Read Blob Request (§3.4.4.5). */
  readBlob(handle: number, offset: number, done: Done<Uint8Array>): void {
    this.att.request({ op: 'read-blob-req', handle, offset }, (r) => {
      const x = expect(r, 'read-blob-rsp');
      done(x.ok ? { ok: true, value: x.value.value } : x);
    });
  }

  /**
   * Read Long Characteristic Values (§4.8.3): a Read Request, then Read Blob Requests while
   * each answer fills ATT_MTU − 1 bytes. Attribute Not Long after the first part ends it.
   */
  readLong(handle: number, done: Done<Uint8Array>): void {
    const parts: Uint8Array[] = [];
    let total = 0;
    const finish = (): void => {
      const out = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      done({ ok: true, value: out });
    };
    const more = (part: Uint8Array): void => {
      parts.push(part);
      total += part.length;
      if (part.length < this.mtu - 1 || total >= 512) return finish();
      this.readBlob(handle, total, (r) => {
        if (!r.ok) return r.code === 'att' && r.attError === ATT_ERROR.ATTRIBUTE_NOT_LONG ? finish() : done(r);
        if (r.value.length === 0) return finish();
        more(r.value);
      });
    };
    this.read(handle, (r) => (r.ok ? more(r.value) : done(r)));
  }

  /** Read Multiple Characteristic Values (§4.8.4): the values concatenated (the caller knows their lengths). */
  readMultiple(handles: readonly number[], done: Done<Uint8Array>): void {
    if (handles.length < 2) return this.fail(done, 'invalid', 'Read Multiple needs two or more handles');
    this.att.request({ op: 'read-multiple-req', handles }, (r) => {
      const x = expect(r, 'read-multiple-rsp');
      done(x.ok ? { ok: true, value: x.value.values } : x);
    });
  }

  /** Read Multiple Variable Length Characteristic Values (§4.8.5). */
  readMultipleVariable(handles: readonly number[], done: Done<Uint8Array[]>): void {
    if (handles.length < 2) return this.fail(done, 'invalid', 'Read Multiple Variable needs two or more handles');
    this.att.request({ op: 'read-multiple-variable-req', handles }, (r) => {
      const x = expect(r, 'read-multiple-variable-rsp');
      done(x.ok ? { ok: true, value: [...x.value.values] } : x);
    });
  }

  /** Read Using Characteristic UUID (§4.8.2): one Read By Type Request over a range. */
  readByType(type: Uuid, start: number, end: number, done: Done<HandleValue[]>): void {
    this.att.request({ op: 'read-by-type-req', startHandle: start, endHandle: end, type }, (r) => {
      const x = expect(r, 'read-by-type-rsp');
      done(x.ok ? { ok: true, value: [...x.value.entries] } : x);
    });
  }

  // ------------------------------------------------------------------ writes (§4.9)

  /** Write Characteristic Value (§4.9.3): one Write Request; longer than ATT_MTU − 3 is 'size' (use writeLong). */
  write(handle: number, value: Uint8Array, done: Done<void>): void {
    if (value.length > this.mtu - 3) return this.fail(done, 'size', `${value.length} bytes exceed ATT_MTU − 3 = ${this.mtu - 3}: use writeLong`);
    this.att.request({ op: 'write-req', handle, value }, (r) => {
      const x = expect(r, 'write-rsp');
      done(x.ok ? { ok: true, value: undefined } : x);
    });
  }

  /** Write Without Response (§4.9.1): a Write Command, now; nothing comes back. */
  writeWithoutResponse(handle: number, value: Uint8Array): GattResult<void> {
    if (value.length > this.mtu - 3) return fail('size', `${value.length} bytes exceed ATT_MTU − 3 = ${this.mtu - 3}`);
    return this.att.command({ op: 'write-cmd', handle, value });
  }

  /**
   * Write Long Characteristic Values (§4.9.4): Prepare Write Requests of ATT_MTU − 5 bytes,
   * each echo checked as for Reliable Writes (§4.9.5: a mismatch cancels with Execute Write
   * 0x00 and fails 'mismatch'), then Execute Write 0x01. An error cancels the queue too.
   */
  writeLong(handle: number, value: Uint8Array, done: Done<void>, offset = 0): void {
    const chunk = this.mtu - 5;
    const cancel = (why: AttClientFailure): void => {
      this.att.request({ op: 'execute-write-req', flags: 0x00 }, () => done(why));
    };
    const step = (at: number): void => {
      if (at >= value.length && at > 0) {
        this.att.request({ op: 'execute-write-req', flags: 0x01 }, (r) => {
          const x = expect(r, 'execute-write-rsp');
          done(x.ok ? { ok: true, value: undefined } : x);
        });
        return;
      }
      const part = value.subarray(at, Math.min(value.length, at + chunk));
      const partOffset = offset + at;
      this.att.request({ op: 'prepare-write-req', handle, offset: partOffset, value: part }, (r) => {
        const x = expect(r, 'prepare-write-rsp');
        if (!x.ok) return x.code === 'att' ? cancel(x) : done(x);
        const echo = x.value;
        if (echo.handle !== handle || echo.offset !== partOffset || !sameBytes(echo.value, part)) {
          return cancel(fail('mismatch', `Prepare Write Response at offset ${partOffset} does not echo the request`));
        }
        step(at + Math.max(1, part.length));
      });
    };
    step(0);
  }

  // ------------------------------------------------------------------ notifications and indications (§4.10, §4.11)

  /** Call `listener` for every notification or indication of this value handle; returns the unsubscribe function. */
  onValue(valueHandle: number, listener: (value: Uint8Array, kind: 'notification' | 'indication') => void): () => void {
    let set = this.listeners.get(valueHandle);
    if (!set) this.listeners.set(valueHandle, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Configure the CCCD (§4.12.3): 0x0001 notifications, 0x0002 indications, both, or none.
   * `cccdHandle` comes from discovery (the 0x2902 descriptor of the characteristic).
   */
  configure(cccdHandle: number, mode: { notify?: boolean; indicate?: boolean }, done: Done<void>): void {
    const bits = (mode.notify ? CCCD.NOTIFY : 0) | (mode.indicate ? CCCD.INDICATE : 0);
    this.write(cccdHandle, Uint8Array.of(bits & 0xff, bits >> 8), done);
  }

  /** Subscribe to a discovered characteristic: listener first, then the CCCD write. */
  subscribe(
    ch: GattCharacteristic,
    mode: 'notify' | 'indicate',
    listener: (value: Uint8Array, kind: 'notification' | 'indication') => void,
    done: Done<() => void>,
  ): void {
    const cccd = ch.descriptors.find((d) => d.uuid.value16 === GATT_TYPE.CCCD);
    if (!cccd) return this.fail(done, 'invalid', `characteristic 0x${ch.valueHandle.toString(16)} has no CCCD`);
    const off = this.onValue(ch.valueHandle, listener);
    this.configure(cccd.handle, mode === 'notify' ? { notify: true } : { indicate: true }, (r) => {
      if (!r.ok) {
        off();
        return done(r);
      }
      done({ ok: true, value: off });
    });
  }

  private fail<T>(done: Done<T>, code: AttClientFailure['code'], detail: string): void {
    this.att.bearer.env.alarm.setAlarm(0, () => done(fail(code, detail)));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Find a characteristic by UUID in discovered services. */
export function findCharacteristic(services: readonly GattService[], uuid: Uuid): GattCharacteristic | undefined {
  for (const s of services) for (const c of s.characteristics) if (c.uuid.text === uuid.text) return c;
  return undefined;
}
