// The GATT database (Core v5.x Vol 3 Part G §3): services, characteristics and descriptors as attributes with
// handles fixed at build time, permissions and values (static or backed by callbacks). Not the ATT protocol (att-server.ts).

import { MedtwinError } from '../errors.ts';
import { ATT_MAX_VALUE_BYTES } from './att-pdu.ts';
import { uuid16, uuidLabel, type Uuid } from './uuid.ts';

/** Attribute types GATT defines (Vol 3 Part G §3; Assigned Numbers §3.6 "Declarations", §3.7 "Descriptors"). */
export const GATT_TYPE = {
  PRIMARY_SERVICE: 0x2800,
  SECONDARY_SERVICE: 0x2801,
  INCLUDE: 0x2802,
  CHARACTERISTIC: 0x2803,
  EXTENDED_PROPERTIES: 0x2900,
  USER_DESCRIPTION: 0x2901,
  CCCD: 0x2902,
  SCCD: 0x2903,
  PRESENTATION_FORMAT: 0x2904,
  AGGREGATE_FORMAT: 0x2905,
} as const;

export const PRIMARY_SERVICE_UUID = uuid16(GATT_TYPE.PRIMARY_SERVICE);
export const SECONDARY_SERVICE_UUID = uuid16(GATT_TYPE.SECONDARY_SERVICE);
export const CHARACTERISTIC_UUID = uuid16(GATT_TYPE.CHARACTERISTIC);
export const CCCD_UUID = uuid16(GATT_TYPE.CCCD);
export const USER_DESCRIPTION_UUID = uuid16(GATT_TYPE.USER_DESCRIPTION);

/** Characteristic Properties bits of the declaration (Vol 3 Part G §3.3.1.1, Table 3.5). */
export const CHAR_PROPERTY = {
  broadcast: 0x01,
  read: 0x02,
  writeWithoutResponse: 0x04,
  write: 0x08,
  notify: 0x10,
  indicate: 0x20,
  authenticatedSignedWrites: 0x40,
  extendedProperties: 0x80,
} as const;
export type CharacteristicProperty = keyof typeof CHAR_PROPERTY;

export function propertyBits(props: readonly CharacteristicProperty[]): number {
  let b = 0;
  for (const p of props) b |= CHAR_PROPERTY[p];
  return b;
}

export function propertyNames(bits: number): CharacteristicProperty[] {
  return (Object.keys(CHAR_PROPERTY) as CharacteristicProperty[]).filter((k) => (bits & CHAR_PROPERTY[k]) !== 0);
}

/** CCCD bits (Vol 3 Part G §3.3.3.3). */
export const CCCD = { NOTIFY: 0x0001, INDICATE: 0x0002 } as const;

// ---------------------------------------------------------------------------------------------
// Values backed by callbacks
// ---------------------------------------------------------------------------------------------

/**
 * An attribute access's outcome: a value, or an ATT error code (Vol 3 Part F Table 3.4; an
 * application may use 0x80–0x9F) that the server sends in its Error Response.
 */
export type AttResult<T> = { ok: true; value: T } | { ok: false; code: number };

/** Return this from onRead/onWrite to answer later through `reply` (from a scheduler event). */
export const DEFERRED: unique symbol = Symbol('gatt.deferred');
export type Deferred = typeof DEFERRED;

export interface ReadRequest {
  /** Connection handle of the client. */
  readonly conn: number;
  readonly handle: number;
  /** Read Blob offset (0 for Read and the other reads). The handler returns the whole value; the server slices it. */
  readonly offset: number;
  /** Answer a read the handler deferred. Later calls, and calls after a disconnection, are ignored. */
  reply(r: AttResult<Uint8Array>): void;
}

export interface WriteRequest {
  readonly conn: number;
  readonly handle: number;
  /**
   * Where `value` goes: the new value is the old one up to `offset`, then `value` (0 for a
   * Write Request or Command; a prepared write's offset after Execute Write).
   */
  readonly offset: number;
  readonly value: Uint8Array;
  /** Which ATT procedure wrote: a Write Command expects no answer, `reply` is then ignored. */
  readonly via: 'write-request' | 'write-command' | 'execute-write';
  reply(r: AttResult<void>): void;
}

export type ReadHandler = (req: ReadRequest) => AttResult<Uint8Array> | Deferred;
export type WriteHandler = (req: WriteRequest) => AttResult<void> | Deferred;

// ---------------------------------------------------------------------------------------------
// Definitions (what firmware writes)
// ---------------------------------------------------------------------------------------------

/** Extra conditions on an access (Vol 3 Part F §3.2.5): the server checks them before any value is touched. */
export interface AccessSecurity {
  readonly readAuthentication?: boolean;
  readonly readAuthorization?: boolean;
  readonly writeAuthentication?: boolean;
  readonly writeAuthorization?: boolean;
}

interface ValueDef {
  /** Initial (or only) value of a static attribute. Default empty. */
  readonly value?: Uint8Array;
  /** Longest value a write may leave (default 512, Vol 3 Part F §3.2.9). */
  readonly maxLengthBytes?: number;
  /** Writes must leave exactly this many bytes (and Read Blob answers Attribute Not Long when it fits ATT_MTU - 3). */
  readonly fixedLengthBytes?: number;
  /** Serve reads from firmware instead of the stored value. */
  readonly onRead?: ReadHandler;
  /** Take writes in firmware; without it a valid write replaces the stored value. */
  readonly onWrite?: WriteHandler;
  readonly security?: AccessSecurity;
  /** A name to find the handle by (`db.handleOf(id)`); unique in the database. */
  readonly id?: string;
}

export interface DescriptorDef extends ValueDef {
  readonly uuid: Uuid;
  /** ATT permissions (descriptors have no properties): default read only. */
  readonly readable?: boolean;
  readonly writable?: boolean;
}

export interface CharacteristicDef extends ValueDef {
  readonly uuid: Uuid;
  readonly properties: readonly CharacteristicProperty[];
  /** Adds a Characteristic User Description (0x2901), read only. */
  readonly userDescription?: string;
  readonly descriptors?: readonly DescriptorDef[];
  /** Conditions on the automatic CCCD (added when notify or indicate is set). */
  readonly cccdSecurity?: AccessSecurity;
}

export interface ServiceDef {
  readonly uuid: Uuid;
  readonly id?: string;
  /** A secondary service (0x2801); default primary (0x2800). */
  readonly secondary?: boolean;
  /** Pin the service declaration's handle, so services added before it later do not move it. */
  readonly startHandle?: number;
  /** Reserve handles up to this one (room to grow without moving the services after it). */
  readonly endHandle?: number;
  readonly characteristics: readonly CharacteristicDef[];
}

// ---------------------------------------------------------------------------------------------
// The built database
// ---------------------------------------------------------------------------------------------

export type AttributeRole = 'primary-service' | 'secondary-service' | 'characteristic' | 'value' | 'cccd' | 'descriptor';

export interface CharacteristicInfo {
  readonly uuid: Uuid;
  readonly id: string | undefined;
  readonly declarationHandle: number;
  readonly valueHandle: number;
  /** Last handle of the characteristic definition (its last descriptor, or the value). */
  readonly endHandle: number;
  readonly properties: number;
  readonly cccdHandle: number | undefined;
  readonly serviceStartHandle: number;
}

export interface ServiceInfo {
  readonly uuid: Uuid;
  readonly id: string | undefined;
  readonly primary: boolean;
  readonly startHandle: number;
  readonly endHandle: number;
  readonly characteristics: readonly CharacteristicInfo[];
}

export interface Attribute {
  readonly handle: number;
  readonly type: Uuid;
  readonly role: AttributeRole;
  /** Services: the last handle of the group (Vol 3 Part G §3.1); other attributes: their own handle. */
  readonly endGroupHandle: number;
  /** ATT permissions (Vol 3 Part F §3.2.5). For a characteristic value they follow its properties. */
  readonly readable: boolean;
  /** Write Request and Prepare Write. */
  readonly writable: boolean;
  /** Write Command. */
  readonly writableByCommand: boolean;
  readonly security: Required<AccessSecurity>;
  readonly maxLengthBytes: number;
  readonly fixedLengthBytes: number | undefined;
  readonly onRead: ReadHandler | undefined;
  readonly onWrite: WriteHandler | undefined;
  /** The characteristic a value, CCCD or descriptor belongs to (and a declaration describes). */
  readonly characteristic: CharacteristicInfo | undefined;
  readonly id: string | undefined;
}

const OPEN: Required<AccessSecurity> = Object.freeze({ readAuthentication: false, readAuthorization: false, writeAuthentication: false, writeAuthorization: false });

function security(s: AccessSecurity | undefined): Required<AccessSecurity> {
  if (!s) return OPEN;
  return {
    readAuthentication: s.readAuthentication ?? false,
    readAuthorization: s.readAuthorization ?? false,
    writeAuthentication: s.writeAuthentication ?? false,
    writeAuthorization: s.writeAuthorization ?? false,
  };
}

const configError = (detail: string): MedtwinError => new MedtwinError('gatt.config', detail);

export class GattDb {
  /** Every attribute, by ascending handle. */
  readonly attributes: readonly Attribute[];
  readonly services: readonly ServiceInfo[];
  /** The last handle in use (or reserved by a service's endHandle). */
  readonly lastHandle: number;
  private readonly byHandle: (Attribute | undefined)[];
  private readonly index: Int32Array;
  private readonly values: (Uint8Array | undefined)[];
  private readonly ids: ReadonlyMap<string, number>;

  /** @internal Use buildGattDb. */
  constructor(attributes: Attribute[], services: ServiceInfo[], values: Map<number, Uint8Array>, ids: Map<string, number>, lastHandle: number) {
    this.attributes = attributes;
    this.services = services;
    this.lastHandle = lastHandle;
    this.byHandle = [];
    this.values = [];
    // index[h] = position of the first attribute with handle ≥ h (range requests start anywhere).
    this.index = new Int32Array(lastHandle + 2);
    let pos = 0;
    for (let h = 0; h <= lastHandle + 1; h++) {
      while (pos < attributes.length && attributes[pos]!.handle < h) pos++;
      this.index[h] = pos;
    }
    for (const a of attributes) {
      this.byHandle[a.handle] = a;
      this.values[a.handle] = values.get(a.handle);
    }
    this.ids = ids;
  }

  get(handle: number): Attribute | undefined {
    return this.byHandle[handle];
  }

  /** Position in `attributes` of the first attribute whose handle is ≥ `handle`. */
  firstIndexAtOrAfter(handle: number): number {
    if (handle <= 0) return 0;
    if (handle > this.lastHandle) return this.attributes.length;
    return this.index[handle]!;
  }

  /** The stored value (a copy), or undefined for an attribute without one (callbacks, CCCD) or no attribute. */
  value(handle: number): Uint8Array | undefined {
    return this.values[handle]?.slice();
  }

  /** @internal The stored value itself, for the server's reads (never handed out). */
  storedValue(handle: number): Uint8Array | undefined {
    return this.values[handle];
  }

  /**
   * Replace a stored value from firmware (no permission checks, no notification: see
   * GattServer.updateValue for that). 'size' when it breaks the attribute's length rules.
   */
  setValue(handle: number, value: Uint8Array): { ok: true } | { ok: false; code: 'no-attribute' | 'not-stored' | 'size'; detail: string } {
    const a = this.byHandle[handle];
    if (!a) return { ok: false, code: 'no-attribute', detail: `no attribute at handle ${handle}` };
    if (this.values[handle] === undefined) return { ok: false, code: 'not-stored', detail: `handle ${handle} has no stored value (callbacks or CCCD)` };
    if (value.length > a.maxLengthBytes || (a.fixedLengthBytes !== undefined && value.length !== a.fixedLengthBytes)) {
      return { ok: false, code: 'size', detail: `${value.length} bytes do not fit handle ${handle}` };
    }
    this.values[handle] = value.slice();
    return { ok: true };
  }

  /** @internal A write the server validated. */
  store(handle: number, value: Uint8Array): void {
    this.values[handle] = value;
  }

  /** The handle of a service, characteristic value or descriptor by its `id`. An unknown id is a programming error. */
  handleOf(id: string): number {
    const h = this.ids.get(id);
    if (h === undefined) throw new MedtwinError('gatt.id', `no attribute with id "${id}"`);
    return h;
  }

  /** The characteristic with this value handle (or id). */
  characteristic(valueHandleOrId: number | string): CharacteristicInfo | undefined {
    const h = typeof valueHandleOrId === 'string' ? this.ids.get(valueHandleOrId) : valueHandleOrId;
    if (h === undefined) return undefined;
    const a = this.byHandle[h];
    return a?.role === 'value' ? a.characteristic : undefined;
  }

  /** Copies of every stored value by handle (tests compare snapshots). */
  snapshot(): Map<number, Uint8Array> {
    const m = new Map<number, Uint8Array>();
    for (const a of this.attributes) {
      const v = this.values[a.handle];
      if (v !== undefined) m.set(a.handle, v.slice());
    }
    return m;
  }
}

/** Characteristic declaration value: Properties (1), Value Handle (2, LE), UUID (2 or 16, LE) (Vol 3 Part G §3.3.1). */
export function characteristicDeclarationValue(properties: number, valueHandle: number, type: Uuid): Uint8Array {
  const v = new Uint8Array(3 + type.le.length);
  v[0] = properties;
  v[1] = valueHandle & 0xff;
  v[2] = valueHandle >> 8;
  v.set(type.le, 3);
  return v;
}

/**
 * Lay the services out as attributes: each service's declaration, then per characteristic
 * its declaration, its value, its descriptors (CCCD first when notify/indicate is set, then
 * the user description, then the listed ones). Handles count up from 0x0001 or a service's
 * startHandle; the same definitions always give the same handles. Bad definitions are
 * programming errors and throw.
 */
export function buildGattDb(defs: readonly ServiceDef[]): GattDb {
  const attributes: Attribute[] = [];
  const services: ServiceInfo[] = [];
  const values = new Map<number, Uint8Array>();
  const ids = new Map<string, number>();
  let next = 1;
  const claimId = (id: string | undefined, handle: number): void => {
    if (id === undefined) return;
    if (ids.has(id)) throw configError(`duplicate id "${id}"`);
    ids.set(id, handle);
  };
  const take = (): number => {
    if (next > 0xffff) throw configError('more than 65,535 attributes');
    return next++;
  };
  const checkValue = (where: string, def: ValueDef): { max: number; fixed: number | undefined; value: Uint8Array } => {
    const value = def.value ?? new Uint8Array(0);
    const fixed = def.fixedLengthBytes;
    const max = fixed ?? def.maxLengthBytes ?? ATT_MAX_VALUE_BYTES;
    if (!Number.isInteger(max) || max < 0 || max > ATT_MAX_VALUE_BYTES) throw configError(`${where}: maxLengthBytes must be 0..512, got ${max}`);
    if (def.onRead === undefined && (value.length > max || (fixed !== undefined && value.length !== fixed))) {
      throw configError(`${where}: initial value of ${value.length} bytes breaks its length limit (${fixed !== undefined ? `exactly ${fixed}` : `≤ ${max}`})`);
    }
    return { max, fixed, value };
  };

  for (const s of defs) {
    if (s.startHandle !== undefined) {
      if (!Number.isInteger(s.startHandle) || s.startHandle < next || s.startHandle > 0xffff) {
        throw configError(`service ${uuidLabel(s.uuid)}: startHandle ${s.startHandle} is taken or out of range (next free is ${next})`);
      }
      next = s.startHandle;
    }
    const start = take();
    const firstAttr = attributes.length;
    const serviceType = s.secondary ? SECONDARY_SERVICE_UUID : PRIMARY_SERVICE_UUID;
    // The service declaration's endGroupHandle is patched once the group is laid out.
    attributes.push(declaration(start, serviceType, s.secondary ? 'secondary-service' : 'primary-service', start, undefined, s.id));
    values.set(start, s.uuid.le.slice());
    claimId(s.id, start);
    const chars: CharacteristicInfo[] = [];
    for (const c of s.characteristics) {
      const where = `characteristic ${uuidLabel(c.uuid)}`;
      const props = propertyBits(c.properties);
      const declHandle = take();
      const valueHandle = take();
      const wantsCccd = (props & (CHAR_PROPERTY.notify | CHAR_PROPERTY.indicate)) !== 0;
      const descriptorCount = (wantsCccd ? 1 : 0) + (c.userDescription !== undefined ? 1 : 0) + (c.descriptors?.length ?? 0);
      const endHandle = valueHandle + descriptorCount;
      const cccdHandle = wantsCccd ? valueHandle + 1 : undefined;
      const info: CharacteristicInfo = { uuid: c.uuid, id: c.id, declarationHandle: declHandle, valueHandle, endHandle, properties: props, cccdHandle, serviceStartHandle: start };
      chars.push(info);
      attributes.push(declaration(declHandle, CHARACTERISTIC_UUID, 'characteristic', declHandle, info, undefined));
      values.set(declHandle, characteristicDeclarationValue(props, valueHandle, c.uuid));
      const v = checkValue(where, c);
      attributes.push({
        handle: valueHandle,
        type: c.uuid,
        role: 'value',
        endGroupHandle: valueHandle,
        readable: (props & CHAR_PROPERTY.read) !== 0,
        writable: (props & CHAR_PROPERTY.write) !== 0,
        writableByCommand: (props & CHAR_PROPERTY.writeWithoutResponse) !== 0,
        security: security(c.security),
        maxLengthBytes: v.max,
        fixedLengthBytes: v.fixed,
        onRead: c.onRead,
        onWrite: c.onWrite,
        characteristic: info,
        id: c.id,
      });
      if (c.onRead === undefined) values.set(valueHandle, v.value.slice());
      claimId(c.id, valueHandle);
      if (cccdHandle !== undefined) {
        attributes.push({
          handle: take(),
          type: CCCD_UUID,
          role: 'cccd',
          endGroupHandle: cccdHandle,
          readable: true,
          writable: true,
          writableByCommand: true,
          security: security(c.cccdSecurity),
          maxLengthBytes: 2,
          fixedLengthBytes: 2,
          onRead: undefined,
          onWrite: undefined,
          characteristic: info,
          id: c.id !== undefined ? `${c.id}.cccd` : undefined,
        });
        claimId(c.id !== undefined ? `${c.id}.cccd` : undefined, cccdHandle);
      }
      if (c.userDescription !== undefined) {
        const h = take();
        const text = Uint8Array.from(Buffer.from(c.userDescription, 'utf8'));
        attributes.push(descriptor(h, USER_DESCRIPTION_UUID, info, { readable: true }, checkValue(where, { value: text, fixedLengthBytes: text.length })));
        values.set(h, text);
      }
      for (const d of c.descriptors ?? []) {
        const h = take();
        const dv = checkValue(`${where} descriptor ${uuidLabel(d.uuid)}`, d);
        if (d.uuid.value16 === GATT_TYPE.CCCD) throw configError(`${where}: the CCCD is added automatically for notify/indicate`);
        attributes.push(descriptor(h, d.uuid, info, d, dv));
        if (d.onRead === undefined) values.set(h, dv.value.slice());
        claimId(d.id, h);
      }
      if (next - 1 !== endHandle) throw new Error('gatt-db: handle arithmetic'); // impossible: a bug here
    }
    let end = next - 1;
    if (s.endHandle !== undefined) {
      if (!Number.isInteger(s.endHandle) || s.endHandle < end || s.endHandle > 0xffff) {
        throw configError(`service ${uuidLabel(s.uuid)}: endHandle ${s.endHandle} is below its last attribute ${end} or out of range`);
      }
      end = s.endHandle;
      next = end + 1;
    }
    const decl = attributes[firstAttr]!;
    attributes[firstAttr] = { ...decl, endGroupHandle: end };
    services.push({ uuid: s.uuid, id: s.id, primary: !s.secondary, startHandle: start, endHandle: end, characteristics: chars });
  }
  return new GattDb(attributes, services, values, ids, Math.max(0, next - 1));
}

function declaration(handle: number, type: Uuid, role: AttributeRole, end: number, info: CharacteristicInfo | undefined, id: string | undefined): Attribute {
  // Declarations are read-only without authentication or authorization (Vol 3 Part G §3.1, §3.3.1).
  return {
    handle,
    type,
    role,
    endGroupHandle: end,
    readable: true,
    writable: false,
    writableByCommand: false,
    security: OPEN,
    maxLengthBytes: ATT_MAX_VALUE_BYTES,
    fixedLengthBytes: undefined,
    onRead: undefined,
    onWrite: undefined,
    characteristic: info,
    id,
  };
}

function descriptor(
  handle: number,
  type: Uuid,
  info: CharacteristicInfo,
  d: Pick<DescriptorDef, 'readable' | 'writable' | 'security' | 'onRead' | 'onWrite' | 'id'>,
  v: { max: number; fixed: number | undefined },
): Attribute {
  const writable = d.writable ?? false;
  return {
    handle,
    type,
    role: 'descriptor',
    endGroupHandle: handle,
    readable: d.readable ?? true,
    writable,
    writableByCommand: writable,
    security: security(d.security),
    maxLengthBytes: v.max,
    fixedLengthBytes: v.fixed,
    onRead: d.onRead,
    onWrite: d.onWrite,
    characteristic: info,
    id: d.id,
  };
}
