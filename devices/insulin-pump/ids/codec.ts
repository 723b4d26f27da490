// Internal machinery of the IDS codec: little-endian reader/writer, field descriptors that describe each IDS
// layout once for both directions, and op-code framing with optional E2E. Not public API: index.ts re-exports none of it.
//
// A message is described as a list of fields; optional fields hang off the message's one flags octet
// ("[bN]" in ids.md). The encoder derives every presence bit from which optional fields are set, so a value
// can never disagree with its flags. Decoders read in order and stop at the first 'length' or 'prohibited'
// fault; an RFU value ('operand') is remembered and reading goes on, so that a prohibited value later in the
// same message still wins (such a message is ignored rather than answered, ids.md §5).

import { checkE2e, withE2e } from './e2e.ts';
import { decodeAnnunciationType, decodeEnum, encodeEnum, type EnumTable } from './enums.ts';
import { fail, hex4, Reject, type IdsFailure, type IdsResult } from './result.ts';
import { decodeFloatMilli, decodeSfloatMilli, encodeFloatMilli, encodeSfloatMilli, SFLOAT_NAN } from './sfloat.ts';

export type Value = Record<string, unknown>;

// ─── reader / writer (every multi-octet field little-endian, §1.7) ─────────────────────────

export class Reader {
  pos: number;
  deferred: Reject | undefined;
  flags = 0;
  constructor(
    readonly b: Uint8Array,
    pos = 0,
  ) {
    this.pos = pos;
  }
  get remaining(): number {
    return this.b.length - this.pos;
  }
  need(n: number, what: string): void {
    if (this.remaining < n) throw new Reject('length', `${what}: needs ${n} more octet(s), ${this.remaining} left`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.pos++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.b[this.pos]! | (this.b[this.pos + 1]! << 8);
    this.pos += 2;
    return v;
  }
  u24(what: string): number {
    this.need(3, what);
    const v = this.b[this.pos]! | (this.b[this.pos + 1]! << 8) | (this.b[this.pos + 2]! << 16);
    this.pos += 3;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = (this.b[this.pos]! | (this.b[this.pos + 1]! << 8) | (this.b[this.pos + 2]! << 16) | (this.b[this.pos + 3]! << 24)) >>> 0;
    this.pos += 4;
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.b.slice(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  end(what: string): void {
    if (this.remaining !== 0) throw new Reject('length', `${what}: ${this.remaining} octet(s) too many`);
  }
  /** Remember the first RFU fault and go on reading. */
  defer(detail: string, responseCode?: number): void {
    this.deferred ??= new Reject('operand', detail, responseCode);
  }
}

export class Writer {
  private readonly out: number[] = [];
  get length(): number {
    return this.out.length;
  }
  private int(v: unknown, min: number, max: number, what: string): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${String(v)}`);
    return v;
  }
  u8(v: unknown, what: string): void {
    this.out.push(this.int(v, 0, 0xff, what));
  }
  s8(v: unknown, what: string): void {
    this.out.push(this.int(v, -0x80, 0x7f, what) & 0xff);
  }
  u16(v: unknown, what: string, min = 0): void {
    const x = this.int(v, min, min < 0 ? 0x7fff : 0xffff, what) & 0xffff;
    this.out.push(x & 0xff, x >>> 8);
  }
  u24(v: unknown, what: string): void {
    const x = this.int(v, 0, 0xffffff, what);
    this.out.push(x & 0xff, (x >>> 8) & 0xff, x >>> 16);
  }
  u32(v: unknown, what: string, min = 0): void {
    const x = this.int(v, min, min < 0 ? 0x7fffffff : 0xffffffff, what) >>> 0;
    this.out.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24);
  }
  bytes(v: unknown, n: number, what: string): void {
    if (!(v instanceof Uint8Array) || v.length !== n) throw new RangeError(`${what} must be ${n} octet(s)`);
    for (const x of v) this.out.push(x);
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

// ─── field descriptors ─────────────────────────────────────────────────────────────────────

export type IntKind = 'u8' | 'u16' | 'u32' | 's8' | 's16' | 's32';

export type Field =
  /** An integer; `mask` = the defined bits of a flag field: RFU bits are refused when encoding and read as 0 (§1.3). */
  | { readonly k: IntKind; readonly n: string; readonly min?: number; readonly max?: number; readonly allowed?: readonly number[]; readonly mask?: number }
  /** An enumeration as its name; names in `refuse` are refused as 'operand' (e.g. Undetermined in a command). */
  | { readonly k: 'enum'; readonly n: string; readonly t: EnumTable; readonly refuse?: readonly string[] }
  /** Annunciation Type u16 as its code (listed or manufacturer). */
  | { readonly k: 'annunciationType'; readonly n: string }
  /** SFLOAT as milli-values; `exp` = preferred exponent; `nan` lets NaN through as null; `unsigned` refuses < 0. */
  | { readonly k: 'sfloat'; readonly n: string; readonly exp: number; readonly nan?: boolean; readonly unsigned?: boolean }
  | { readonly k: 'float'; readonly n: string; readonly exp: number }
  | { readonly k: 'bytes'; readonly n: string; readonly len: number }
  /** The message's flags octet: named boolean bits; presence bits come from the 'opt' and 'blocks' fields after it. */
  | { readonly k: 'flags'; readonly bits: Readonly<Record<string, number>> }
  /** Present iff flag `bit` is set (and flag `requires`, when given). */
  | { readonly k: 'opt'; readonly bit: number; readonly requires?: number; readonly f: Field }
  /** `N u8, item[N]`, N in min..max. */
  | { readonly k: 'list'; readonly n: string; readonly min: number; readonly max: number; readonly item: 'u8' | 'u16' }
  /** `Count u8, item[min(count, cap)]` (Active Bolus IDs: the count may exceed what is sent). */
  | { readonly k: 'cappedList'; readonly countName: string; readonly n: string; readonly cap: number; readonly item: 'u16' }
  /** 1 + k time blocks; block j+2 is present iff flag presence[j]; a block is `Duration u16, SFLOAT` or `Duration u16, Lower, Upper`. */
  | { readonly k: 'blocks'; readonly n: string; readonly presence: readonly number[]; readonly range: boolean; readonly exp: number }
  /** Date Time (GSS §3.79): Year u16, Month, Day, Hours, Minutes, Seconds. */
  | { readonly k: 'dateTime'; readonly n: string }
  /**
   * Get Template Status and Details tail (§3.8.1.8, Table 3.19): `Number of Templates u8 | Max Supported Time Blocks u8 |
   * flags`, the flags 2 bits per template (bit 2i configurable, 2i+1 configured), padded with 0 to whole octets (1–11).
   */
  | { readonly k: 'templateStatus'; readonly n: string }
  /** All remaining octets, at most `max`. */
  | { readonly k: 'rest'; readonly n: string; readonly max: number };

export interface MessageDef {
  readonly name: string;
  readonly op: number;
  readonly fields: readonly Field[];
  /** Cross-field rules; returns why the value is invalid ('operand' on decode, RangeError on encode). */
  readonly check?: (v: Value) => string | undefined;
}

export interface DateTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hours: number;
  readonly minutes: number;
  readonly seconds: number;
}

function dateTimeFault(d: DateTime): string | undefined {
  if (d.year !== 0 && (d.year < 1582 || d.year > 9999)) return `year ${d.year} is not 0 or 1582..9999`;
  if (d.month > 12) return `month ${d.month} > 12`;
  if (d.day > 31) return `day ${d.day} > 31`;
  if (d.hours > 23) return `hours ${d.hours} > 23`;
  if (d.minutes > 59) return `minutes ${d.minutes} > 59`;
  if (d.seconds > 59) return `seconds ${d.seconds} > 59`;
  return undefined;
}

const INT_RANGE: Record<IntKind, [number, number, number]> = {
  u8: [1, 0, 0xff],
  u16: [2, 0, 0xffff],
  u32: [4, 0, 0xffffffff],
  s8: [1, -0x80, 0x7f],
  s16: [2, -0x8000, 0x7fff],
  s32: [4, -0x80000000, 0x7fffffff],
};

function intFault(f: Extract<Field, { k: IntKind }>, v: number): string | undefined {
  if (f.mask !== undefined && (v & ~f.mask) !== 0) return `${f.n} sets RFU bits`;
  if (f.allowed !== undefined && !f.allowed.includes(v)) return `${f.n} ${v} is not one of ${f.allowed.join(', ')}`;
  if (f.min !== undefined && v < f.min) return `${f.n} ${v} < ${f.min}`;
  if (f.max !== undefined && v > f.max) return `${f.n} ${v} > ${f.max}`;
  return undefined;
}

function readInt(r: Reader, k: IntKind, what: string): number {
  switch (k) {
    case 'u8':
      return r.u8(what);
    case 'u16':
      return r.u16(what);
    case 'u32':
      return r.u32(what);
    case 's8':
      return (r.u8(what) << 24) >> 24;
    case 's16':
      return (r.u16(what) << 16) >> 16;
    case 's32':
      return r.u32(what) | 0;
  }
}

function writeInt(w: Writer, k: IntKind, v: unknown, what: string): void {
  switch (k) {
    case 'u8':
      return w.u8(v, what);
    case 'u16':
      return w.u16(v, what);
    case 'u32':
      return w.u32(v, what);
    case 's8':
      return w.s8(v, what);
    case 's16':
      return w.u16(v, what, -0x8000);
    case 's32':
      return w.u32(v, what, -0x80000000);
  }
}

function isSet(v: Value, f: Field): boolean {
  switch (f.k) {
    case 'flags':
      return false;
    case 'opt':
      return isSet(v, f.f);
    case 'cappedList':
      return v[f.countName] !== undefined;
    default:
      return v[f.n] !== undefined;
  }
}

/** The flags octet a value implies: its named booleans plus the presence bits of what is set. */
function flagsOf(fields: readonly Field[], v: Value): number {
  let flags = 0;
  for (const f of fields) {
    if (f.k === 'flags') {
      for (const [name, bit] of Object.entries(f.bits)) {
        const b = v[name];
        if (b !== undefined && typeof b !== 'boolean') throw new RangeError(`${name} must be a boolean`);
        if (b === true) flags |= 1 << bit;
      }
    } else if (f.k === 'opt' && isSet(v, f.f)) {
      flags |= 1 << f.bit;
    } else if (f.k === 'blocks') {
      const blocks = v[f.n];
      if (!Array.isArray(blocks) || blocks.length < 1 || blocks.length > 1 + f.presence.length) {
        throw new RangeError(`${f.n} must hold 1..${1 + f.presence.length} blocks`);
      }
      for (let j = 0; j + 1 < blocks.length; j++) flags |= 1 << f.presence[j]!;
    }
  }
  for (const f of fields) {
    if (f.k === 'opt' && f.requires !== undefined && flags & (1 << f.bit) && !(flags & (1 << f.requires))) {
      throw new RangeError(`${describe(f.f)} needs the field(s) of flag bit ${f.requires}`);
    }
  }
  return flags;
}

const describe = (f: Field): string => (f.k === 'flags' ? 'flags' : f.k === 'opt' ? describe(f.f) : f.n);

function encodeField(w: Writer, f: Field, v: Value, flags: number): void {
  switch (f.k) {
    case 'u8':
    case 'u16':
    case 'u32':
    case 's8':
    case 's16':
    case 's32': {
      const x = v[f.n];
      writeInt(w, f.k, x, f.n);
      const fault = intFault(f, x as number);
      if (fault) throw new RangeError(fault);
      return;
    }
    case 'enum': {
      const name = v[f.n];
      if (typeof name !== 'string') throw new RangeError(`${f.n} must be a ${f.t.name} name`);
      if (f.refuse?.includes(name)) throw new RangeError(`${f.n} may not be ${name} here`);
      const code = encodeEnum(f.t, name);
      if (f.t.bits === 8) w.u8(code, f.n);
      else w.u16(code, f.n);
      return;
    }
    case 'annunciationType': {
      const x = v[f.n];
      if (typeof x !== 'number' || !decodeAnnunciationType(x).ok) throw new RangeError(`${f.n} ${String(x)} is not an Annunciation Type`);
      w.u16(x, f.n);
      return;
    }
    case 'sfloat': {
      const x = v[f.n];
      if (x === null && f.nan) return w.u16(SFLOAT_NAN, f.n);
      if (typeof x !== 'number') throw new RangeError(`${f.n} must be a milli-value${f.nan ? ' or null' : ''}`);
      if (f.unsigned && x < 0) throw new RangeError(`${f.n} must not be negative`);
      return w.u16(encodeSfloatMilli(x, f.exp), f.n);
    }
    case 'float': {
      const x = v[f.n];
      if (typeof x !== 'number') throw new RangeError(`${f.n} must be a milli-value`);
      return w.u32(encodeFloatMilli(x, f.exp), f.n);
    }
    case 'bytes':
      return w.bytes(v[f.n], f.len, f.n);
    case 'flags':
      return w.u8(flags, 'flags');
    case 'opt':
      if (flags & (1 << f.bit)) {
        if (!isSet(v, f.f)) throw new RangeError(`${describe(f.f)} is missing (its group is present)`);
        encodeField(w, f.f, v, flags);
      }
      return;
    case 'list': {
      const xs = v[f.n];
      if (!Array.isArray(xs) || xs.length < f.min || xs.length > f.max) throw new RangeError(`${f.n} must hold ${f.min}..${f.max} items`);
      w.u8(xs.length, f.n);
      for (const x of xs) if (f.item === 'u8') w.u8(x, f.n);
      else w.u16(x, f.n);
      return;
    }
    case 'cappedList': {
      const count = v[f.countName];
      const xs = v[f.n];
      w.u8(count, f.countName);
      if (!Array.isArray(xs) || xs.length !== Math.min(count as number, f.cap)) throw new RangeError(`${f.n} must hold min(${f.countName}, ${f.cap}) items`);
      for (const x of xs) w.u16(x, f.n);
      return;
    }
    case 'blocks': {
      for (const b of v[f.n] as readonly Value[]) {
        w.u16(b['durationMinutes'], 'durationMinutes');
        if (f.range) {
          encodeField(w, { k: 'sfloat', n: 'lowerMilli', exp: f.exp }, b, 0);
          encodeField(w, { k: 'sfloat', n: 'upperMilli', exp: f.exp }, b, 0);
        } else {
          encodeField(w, { k: 'sfloat', n: 'valueMilli', exp: f.exp }, b, 0);
        }
      }
      return;
    }
    case 'dateTime': {
      const d = v[f.n] as DateTime | undefined;
      if (d === undefined || typeof d !== 'object') throw new RangeError(`${f.n} must be a Date Time`);
      w.u16(d.year, 'year');
      w.u8(d.month, 'month');
      w.u8(d.day, 'day');
      w.u8(d.hours, 'hours');
      w.u8(d.minutes, 'minutes');
      w.u8(d.seconds, 'seconds');
      const fault = dateTimeFault(d);
      if (fault) throw new RangeError(fault);
      return;
    }
    case 'templateStatus': {
      const ts = v[f.n];
      if (!Array.isArray(ts) || ts.length < 1 || ts.length > 44) throw new RangeError(`${f.n} must describe 1..44 templates`);
      w.u8(ts.length, 'numberOfTemplates');
      w.u8(v['maxSupportedTimeBlocks'], 'maxSupportedTimeBlocks');
      const octets = new Uint8Array(Math.ceil(ts.length / 4));
      ts.forEach((t: { configurable?: unknown; configured?: unknown }, i) => {
        if (typeof t.configurable !== 'boolean' || typeof t.configured !== 'boolean') throw new RangeError(`${f.n}[${i}] needs configurable and configured`);
        const bits = (t.configurable ? 1 : 0) | (t.configured ? 2 : 0);
        octets[i >> 2]! |= bits << ((i & 3) * 2);
      });
      return w.bytes(octets, octets.length, f.n);
    }
    case 'rest': {
      const x = v[f.n];
      if (!(x instanceof Uint8Array) || x.length > f.max) throw new RangeError(`${f.n} must be at most ${f.max} octets`);
      return w.bytes(x, x.length, f.n);
    }
  }
}

function decodeField(r: Reader, f: Field, out: Value): void {
  switch (f.k) {
    case 'u8':
    case 'u16':
    case 'u32':
    case 's8':
    case 's16':
    case 's32': {
      const x = f.mask === undefined ? readInt(r, f.k, f.n) : readInt(r, f.k, f.n) & f.mask;
      const fault = intFault(f, x);
      if (fault) r.defer(fault);
      out[f.n] = x;
      return;
    }
    case 'enum': {
      const code = f.t.bits === 8 ? r.u8(f.n) : r.u16(f.n);
      const d = decodeEnum(f.t, code);
      if (!d.ok) {
        if (d.code === 'prohibited') throw new Reject('prohibited', `${f.n}: ${d.detail}`);
        r.defer(`${f.n}: ${d.detail}`);
        return;
      }
      if (f.refuse?.includes(d.value)) r.defer(`${f.n} may not be ${d.value} here`);
      out[f.n] = d.value;
      return;
    }
    case 'annunciationType': {
      const d = decodeAnnunciationType(r.u16(f.n));
      if (!d.ok) {
        if (d.code === 'prohibited') throw new Reject('prohibited', `${f.n}: ${d.detail}`);
        r.defer(`${f.n}: ${d.detail}`);
        return;
      }
      out[f.n] = d.value;
      return;
    }
    case 'sfloat': {
      const raw = r.u16(f.n);
      if (f.nan && raw === SFLOAT_NAN) {
        out[f.n] = null;
        return;
      }
      const d = decodeSfloatMilli(raw);
      if (!d.ok) return r.defer(`${f.n}: ${d.detail}`);
      if (f.unsigned && d.value < 0) return r.defer(`${f.n} is negative`);
      out[f.n] = d.value;
      return;
    }
    case 'float': {
      const d = decodeFloatMilli(r.u32(f.n));
      if (!d.ok) return r.defer(`${f.n}: ${d.detail}`);
      out[f.n] = d.value;
      return;
    }
    case 'bytes':
      out[f.n] = r.bytes(f.len, f.n);
      return;
    case 'flags': {
      r.flags = r.u8('flags');
      // RFU bits are treated as 0 on receipt (§1.3): only the named ones are read.
      for (const [name, bit] of Object.entries(f.bits)) out[name] = (r.flags & (1 << bit)) !== 0;
      return;
    }
    case 'opt':
      if (r.flags & (1 << f.bit)) {
        // The sender meant the field to be there: read it, but refuse the inconsistent flags.
        if (f.requires !== undefined && !(r.flags & (1 << f.requires))) r.defer(`flag bit ${f.bit} without flag bit ${f.requires}`);
        decodeField(r, f.f, out);
      }
      return;
    case 'list': {
      const n = r.u8(f.n);
      if (n < f.min || n > f.max) {
        r.defer(`${f.n}: count ${n} is not in ${f.min}..${f.max}`);
      }
      const xs: number[] = [];
      for (let i = 0; i < n; i++) xs.push(f.item === 'u8' ? r.u8(f.n) : r.u16(f.n));
      out[f.n] = xs;
      return;
    }
    case 'cappedList': {
      const count = r.u8(f.countName);
      const xs: number[] = [];
      for (let i = 0; i < Math.min(count, f.cap); i++) xs.push(r.u16(f.n));
      out[f.countName] = count;
      out[f.n] = xs;
      return;
    }
    case 'blocks': {
      // Block j+2 is present iff presence[j]; a gap (block 3 without block 2) is an invalid operand, and the
      // octets are still read as 1 + (number of presence bits) blocks so that the length check stays meaningful.
      let n = 1;
      for (let j = 0; j < f.presence.length; j++) {
        if (r.flags & (1 << f.presence[j]!)) {
          if (n !== j + 1) r.defer(`time block ${j + 2} without block ${j + 1}`);
          n++;
        }
      }
      const blocks: Value[] = [];
      for (let i = 0; i < n; i++) {
        const b: Value = { durationMinutes: r.u16('durationMinutes') };
        if (f.range) {
          decodeField(r, { k: 'sfloat', n: 'lowerMilli', exp: f.exp }, b);
          decodeField(r, { k: 'sfloat', n: 'upperMilli', exp: f.exp }, b);
        } else {
          decodeField(r, { k: 'sfloat', n: 'valueMilli', exp: f.exp }, b);
        }
        blocks.push(b);
      }
      out[f.n] = blocks;
      return;
    }
    case 'dateTime': {
      const d: DateTime = { year: r.u16('year'), month: r.u8('month'), day: r.u8('day'), hours: r.u8('hours'), minutes: r.u8('minutes'), seconds: r.u8('seconds') };
      const fault = dateTimeFault(d);
      if (fault) r.defer(`${f.n}: ${fault}`);
      out[f.n] = d;
      return;
    }
    case 'templateStatus': {
      const n = r.u8('numberOfTemplates');
      out['maxSupportedTimeBlocks'] = r.u8('maxSupportedTimeBlocks');
      if (n < 1 || n > 44) throw new Reject('operand', `numberOfTemplates ${n} is not in 1..44`);
      const octets = r.bytes(Math.ceil(n / 4), f.n);
      const ts: Array<{ configurable: boolean; configured: boolean }> = [];
      for (let i = 0; i < n; i++) {
        const bits = (octets[i >> 2]! >> ((i & 3) * 2)) & 3;
        ts.push({ configurable: (bits & 1) !== 0, configured: (bits & 2) !== 0 });
      }
      out[f.n] = ts;
      return;
    }
    case 'rest': {
      if (r.remaining > f.max) throw new Reject('length', `${f.n}: at most ${f.max} octets`);
      out[f.n] = r.bytes(r.remaining, f.n);
      return;
    }
  }
}

/** Encode the fields of `def` (without op code). Throws RangeError on a value of ours that does not fit. */
export function encodeFields(w: Writer, def: MessageDef, v: Value): void {
  const fault = def.check?.(v);
  if (fault) throw new RangeError(`${def.name}: ${fault}`);
  const flags = flagsOf(def.fields, v);
  for (const f of def.fields) encodeField(w, f, v, flags);
}

/** Decode the fields of `def` into `out`; throws Reject (caught by the public decoder). */
export function decodeFields(r: Reader, def: MessageDef, out: Value): void {
  for (const f of def.fields) decodeField(r, f, out);
  r.end(def.name);
  if (r.deferred) throw r.deferred;
  const fault = def.check?.(out);
  if (fault) throw new Reject('operand', `${def.name}: ${fault}`);
}

// ─── op-code framing with optional E2E ─────────────────────────────────────────────────────

/**
 * Whether the E2E fields are present (IDD Features bit 0, §3.5) and which counter the receiver expects
 * (see expectedE2eCounter). Without `expectedCounter` any counter 1..255 is accepted.
 */
export type Framing = { readonly e2e: false } | { readonly e2e: true; readonly expectedCounter?: number };
export const NO_E2E: Framing = { e2e: false };

/** The largest operand of a control point or Command Data value (ids.md §0, §2, §4). */
export const MAX_OPERAND_BYTES = 15;

/** Strip the E2E fields when the framing has them. */
export function unframe(bytes: Uint8Array, framing: Framing | undefined): IdsResult<Uint8Array> {
  if (!(bytes instanceof Uint8Array)) return fail('length', 'not bytes');
  if (!framing?.e2e) return { ok: true, value: bytes };
  const c = checkE2e(bytes, framing.expectedCounter);
  if (!c.ok) return c;
  return { ok: true, value: c.value.body, counter: c.value.counter };
}

/** Append the E2E fields when a counter is given (our own side's counter for this characteristic). */
export const frame = (body: Uint8Array, e2eCounter: number | undefined): Uint8Array => (e2eCounter === undefined ? body : withE2e(body, e2eCounter));

export interface OpSet {
  readonly what: string;
  /** Message definitions by op code. */
  readonly defs: ReadonlyMap<number, MessageDef>;
  /** Refuse op codes that are not in `defs`: 'prohibited' or 'opcode'. */
  readonly unknown: (op: number) => IdsFailure;
  /** Response Code Values to suggest for an RFU op code and for a bad operand (e.g. 0x70, 0x71). */
  readonly hints?: { readonly opcode: number; readonly operand: number };
}

/** Decode `Op Code u16 | Operand` after unframing. Never throws. */
export function decodeOp16<T>(bytes: Uint8Array, framing: Framing | undefined, set: OpSet): IdsResult<T> {
  const u = unframe(bytes, framing);
  if (!u.ok) return u;
  const body = u.value;
  if (body.length < 2) return fail('length', `${set.what}: no op code`);
  const op = body[0]! | (body[1]! << 8);
  const def = set.defs.get(op);
  if (def === undefined) {
    const f = set.unknown(op);
    return fail(f.code, f.detail, { opCode: op, ...(f.code === 'opcode' && set.hints ? { responseCode: set.hints.opcode } : {}) });
  }
  if (body.length - 2 > MAX_OPERAND_BYTES) {
    return fail('length', `${def.name}: operand longer than ${MAX_OPERAND_BYTES} octets`, { opCode: op, ...(set.hints ? { responseCode: set.hints.operand } : {}) });
  }
  return runDecode<T>(def, new Reader(body, 2), { op: def.name }, u.counter, op, set.hints?.operand);
}

/** Decode the rest of a message into `out`; converts a Reject into a failure. */
export function runDecode<T>(def: MessageDef, r: Reader, out: Value, counter: number | undefined, opCode?: number, operandHint?: number): IdsResult<T> {
  try {
    decodeFields(r, def, out);
  } catch (e) {
    if (!(e instanceof Reject)) throw e;
    const hint = e.responseCode ?? (e.code === 'operand' || e.code === 'length' ? operandHint : undefined);
    return fail(e.code, e.detail, { ...(opCode !== undefined ? { opCode } : {}), ...(hint !== undefined ? { responseCode: hint } : {}) });
  }
  return counter === undefined ? { ok: true, value: out as T } : { ok: true, value: out as T, counter };
}

/** Encode `Op Code u16 | Operand [| E2E]`. */
export function encodeOp16(def: MessageDef, v: Value, e2eCounter: number | undefined): Uint8Array {
  const w = new Writer();
  w.u16(def.op, 'op code');
  encodeFields(w, def, v);
  if (w.length - 2 > MAX_OPERAND_BYTES) throw new RangeError(`${def.name}: operand of ${w.length - 2} octets exceeds ${MAX_OPERAND_BYTES}`);
  return frame(w.finish(), e2eCounter);
}

export function defsByOp(defs: readonly MessageDef[]): ReadonlyMap<number, MessageDef> {
  const m = new Map<number, MessageDef>();
  for (const d of defs) {
    if (m.has(d.op)) throw new Error(`duplicate op ${hex4(d.op)}`);
    m.set(d.op, d);
  }
  return m;
}

export function defsByName(defs: readonly MessageDef[]): ReadonlyMap<string, MessageDef> {
  return new Map(defs.map((d) => [d.name, d]));
}

/** The layout named `name` in a defsByName map; a name not in it is our own bug (RangeError). */
export function defNamed(m: ReadonlyMap<string, MessageDef>, name: string): MessageDef {
  const d = m.get(name);
  if (d === undefined) throw new RangeError(`${name} is not a message here`);
  return d;
}

