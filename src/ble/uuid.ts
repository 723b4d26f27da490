// Bluetooth UUIDs: 16-bit SIG-assigned and 128-bit, parsed from text or from the wire (little-endian), compared by value.
// Not a registry of assigned numbers: the few this stack needs are named where they are used (gatt-db.ts, services/).

/**
 * A UUID as ATT carries it. Every 16-bit (and 32-bit) UUID is an alias of a 128-bit one
 * built on the Bluetooth Base UUID 00000000-0000-1000-8000-00805F9B34FB (Core v5.x Vol 3
 * Part B §2.5.1); `text` is always that 128-bit form, so equality is `a.text === b.text`.
 */
export interface Uuid {
  /** 16 when the UUID is a 16-bit alias (sent as 2 bytes on ATT), 128 otherwise (16 bytes). */
  readonly bits: 16 | 128;
  /** Canonical 128-bit form, lower case with dashes: "0000180a-0000-1000-8000-00805f9b34fb". */
  readonly text: string;
  /** The 16-bit value when bits is 16, else undefined. */
  readonly value16: number | undefined;
  /** ATT wire form: 2 or 16 bytes, least significant byte first (Vol 3 Part F §3.2.1). Do not mutate. */
  readonly le: Uint8Array;
}

export type UuidErrorCode = 'uuid.text' | 'uuid.length';
export type UuidResult = { ok: true; value: Uuid } | { ok: false; code: UuidErrorCode; detail: string };

const BASE_SUFFIX = '-0000-1000-8000-00805f9b34fb';
const TEXT_128 = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TEXT_SHORT = /^(0x)?([0-9a-f]{4}|[0-9a-f]{8})$/;

const cache16 = new Map<number, Uuid>();

const hex2 = (b: number): string => b.toString(16).padStart(2, '0');

/** The 16-bit UUID `value` (0..0xFFFF). A value outside that range is a programming error and throws. */
export function uuid16(value: number): Uuid {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`a 16-bit UUID is 0..0xFFFF, got ${value}`);
  let u = cache16.get(value);
  if (!u) {
    u = Object.freeze({
      bits: 16,
      text: `0000${value.toString(16).padStart(4, '0')}${BASE_SUFFIX}`,
      value16: value,
      le: Uint8Array.of(value & 0xff, value >> 8),
    });
    cache16.set(value, u);
  }
  return u;
}

/** From 16 bytes in big-endian (text) order; a Base-UUID alias becomes the 16-bit form. */
function fromBigEndian16(be: Uint8Array): Uuid {
  let text = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text += '-';
    text += hex2(be[i]!);
  }
  if (text.endsWith(BASE_SUFFIX) && text.startsWith('0000')) return uuid16((be[2]! << 8) | be[3]!);
  const le = new Uint8Array(16);
  for (let i = 0; i < 16; i++) le[i] = be[15 - i]!;
  return Object.freeze({ bits: 128, text, value16: undefined, le });
}

/**
 * Parse "180A", "0x180a", a 32-bit "0000180a" or a 128-bit "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
 * (case-insensitive). Untrusted text gets a coded result, never an exception.
 */
export function parseUuid(text: string): UuidResult {
  const t = text.trim().toLowerCase();
  const short = TEXT_SHORT.exec(t);
  if (short) {
    const digits = short[2]!;
    if (digits.length === 4) return { ok: true, value: uuid16(parseInt(digits, 16)) };
    const n = parseInt(digits, 16) >>> 0;
    const be = new Uint8Array(16);
    be.set([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff], 0);
    be.set([0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0x80, 0x5f, 0x9b, 0x34, 0xfb], 4);
    return { ok: true, value: fromBigEndian16(be) };
  }
  if (!TEXT_128.test(t)) return { ok: false, code: 'uuid.text', detail: `not a UUID: "${text}"` };
  const be = Uint8Array.from(Buffer.from(t.replaceAll('-', ''), 'hex'));
  return { ok: true, value: fromBigEndian16(be) };
}

/** A UUID constant in source code (a typo throws at load time, which is what a constant wants). */
export function uuid(text: string): Uuid {
  const r = parseUuid(text);
  if (!r.ok) throw new RangeError(r.detail);
  return r.value;
}

/** From ATT wire bytes: 2, 4 (32-bit, Vol 3 Part B §2.5.1) or 16 bytes, least significant first. */
export function uuidFromLe(bytes: Uint8Array): UuidResult {
  if (bytes.length === 2) return { ok: true, value: uuid16(bytes[0]! | (bytes[1]! << 8)) };
  if (bytes.length !== 4 && bytes.length !== 16) {
    return { ok: false, code: 'uuid.length', detail: `a UUID is 2, 4 or 16 bytes, got ${bytes.length}` };
  }
  const be = new Uint8Array(16);
  if (bytes.length === 4) {
    be.set([bytes[3]!, bytes[2]!, bytes[1]!, bytes[0]!], 0);
    be.set([0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0x80, 0x5f, 0x9b, 0x34, 0xfb], 4);
  } else {
    for (let i = 0; i < 16; i++) be[i] = bytes[15 - i]!;
  }
  return { ok: true, value: fromBigEndian16(be) };
}

export function uuidEquals(a: Uuid, b: Uuid): boolean {
  return a === b || a.text === b.text;
}

/** "0x180A" for a 16-bit UUID, the 128-bit text otherwise (for traces and messages). */
export function uuidLabel(u: Uuid): string {
  return u.value16 !== undefined ? `0x${u.value16.toString(16).toUpperCase().padStart(4, '0')}` : u.text;
}
