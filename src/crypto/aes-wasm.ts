// AES-128 and CCM's block work (A0, padding, CBC-MAC, CTR, the masked tag) as a small WebAssembly
// module, assembled at load from the instruction lists below, and the memory it works in. Not CCM's
// formatting of B0 and the AAD or its argument checks (ccm-wasm.ts, ccm.ts), not a general assembler.

import { MedtwinError } from '../errors.ts';
import { AES_SBOX, AES_T_TABLES } from './aes-block.ts';

/*
 * Why WebAssembly at all (issue 3 allows a core of our own only where the benchmark shows
 * it is needed, and @noble/ciphers has no CCM): with CCM in JS over our T-table block
 * (ccm-words.ts, its formatting already cut to word reads) `npm run bench -- crypto` gave
 * 20-byte records 0.19–0.33 of node:crypto's aes-128-ccm per call (goal ≤ 0.25) and
 * 244-byte opens 0.92–1.47 (goal ≤ 1.0) in three runs on the project's 2-core VM; the
 * block itself, about 80 ns in JS, and a JS call per block were the floor. Over noble's
 * own block the same JS pass does worse still (the bench's noble-block column: 0.24–0.46
 * at 20 bytes, 1.2–1.9 at 244). Here the same rounds run without bounds checks and with
 * the state mostly in registers (about 60–65 ns a block), a whole record is one call, and
 * the JS side only writes the record's bytes in and slices the result out: 0.13–0.24 at
 * 20 bytes and 0.52–0.87 at 244-byte opens over eight runs (README). The module is built
 * from this file at load: no binary blob, no toolchain, no dependency, integer-only code
 * that runs the same on every engine.
 *
 * Binary format: WebAssembly Core Specification 2.0, §5 (modules §5.5, instructions §5.4).
 */

// --- a minimal emitter: LEB128 numbers, vectors, sections (Core spec §5.1–5.2, §5.5.2) ---

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const vec = (items: readonly (readonly number[])[]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const section = (id: number, body: readonly number[]): number[] => [id, ...uleb(body.length), ...body];

const I32 = 0x7f;
/** Instructions used below, by their spec names (§5.4; memarg = log2 alignment, offset). */
const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  const: (v: number) => [0x41, ...sleb(v | 0)],
  load: (offset: number) => [0x28, 2, ...uleb(offset)],
  load8u: (offset: number) => [0x2d, 0, ...uleb(offset)],
  store: (offset: number) => [0x36, 2, ...uleb(offset)],
  store8: (offset: number) => [0x3a, 0, ...uleb(offset)],
  memoryCopy: [0xfc, 10, 0x00, 0x00], // bulk memory (§5.4.6): dst, src, len
  memoryFill: [0xfc, 11, 0x00], // dst, value, len
  eqz: [0x45],
  add: [0x6a],
  sub: [0x6b],
  and: [0x71],
  or: [0x72],
  xor: [0x73],
  shl: [0x74],
  shrU: [0x76],
  call: (f: number) => [0x10, ...uleb(f)],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  end: [0x0b],
} as const;

// --- memory layout (bytes) ---

/** T0..T3 (4 × 1 KB, LE words), then the S-box, then the 44-word key schedule. */
const TABLES = 0;
const SBOX = 4096;
export const WASM_KEY = 4352;
export const WASM_KEY_BYTES = 176;
/** The counter block A0 (SP 800-38C §A.3), formed from B0 by `formatA0`. */
const A0 = 4544;
/**
 * Where a record goes: B0 ‖ AAD blocks ‖ payload blocks ‖ one more block (T ⊕ S0 on the
 * way to its place), so a record of n payload bytes ends at the payload's start + ⌈n/16⌉·16 + 16.
 */
export const WASM_DATA = 4608;
const PAGE_BYTES = 65536;
const BLOCK = 16;

/** The four state words of a round's lookups: output column c reads input columns c, c+1, c+2, c+3 (ShiftRows). */
function tableRound(src: number, dst: number, keyWord: number): number[] {
  const code: number[] = [];
  for (let c = 0; c < 4; c++) {
    const col = (k: number) => src + ((c + k) % 4);
    // T_k[(x >>> 8k) & 0xff] is the word at byte ((x >>> 8k) & 0xff) << 2, i.e. (x >>> (8k − 2)) & 0x3fc
    // (for k = 0 a left shift by 2): one shift and one mask per lookup.
    code.push(...op.localGet(col(0)), ...op.const(2), ...op.shl, ...op.const(0x3fc), ...op.and, ...op.load(TABLES));
    code.push(...op.localGet(col(1)), ...op.const(6), ...op.shrU, ...op.const(0x3fc), ...op.and, ...op.load(TABLES + 1024), ...op.xor);
    code.push(...op.localGet(col(2)), ...op.const(14), ...op.shrU, ...op.const(0x3fc), ...op.and, ...op.load(TABLES + 2048), ...op.xor);
    code.push(...op.localGet(col(3)), ...op.const(22), ...op.shrU, ...op.const(0x3fc), ...op.and, ...op.load(TABLES + 3072), ...op.xor);
    code.push(...op.const(0), ...op.load(WASM_KEY + 4 * (keyWord + c)), ...op.xor, ...op.localSet(dst + c));
  }
  return code;
}

// Function indices, in the order of the function and code sections.
const ENCRYPT = 0;
const CBC_MAC = 1;
const CTR = 2;
const FORMAT_A0 = 3;
const SEAL = 4;
const OPEN = 5;
const WIPE = 6;

/**
 * encrypt(s0, s1, s2, s3) → (o0, o1, o2, o3): FIPS-197 §5.1 on LE words, the same rounds
 * as aes-block.ts Aes128.encryptWords (AddRoundKey, 9 T-table rounds, a last round of
 * SubBytes + ShiftRows + AddRoundKey). Locals 0–3 and 4–7 hold the state alternately.
 */
function encryptBody(): number[] {
  const code: number[] = [];
  for (let c = 0; c < 4; c++) code.push(...op.localGet(c), ...op.const(0), ...op.load(WASM_KEY + 4 * c), ...op.xor, ...op.localSet(c));
  for (let r = 1; r <= 9; r++) code.push(...(r % 2 === 1 ? tableRound(0, 4, 4 * r) : tableRound(4, 0, 4 * r)));
  // Round 10 from locals 4–7 (round 9 wrote them); the four results stay on the stack.
  for (let c = 0; c < 4; c++) {
    const col = (k: number) => 4 + ((c + k) % 4);
    code.push(...op.localGet(col(0)), ...op.const(0xff), ...op.and, ...op.load8u(SBOX));
    for (const k of [1, 2, 3]) {
      code.push(...op.localGet(col(k)), ...op.const(8 * k), ...op.shrU);
      if (k < 3) code.push(...op.const(0xff), ...op.and);
      code.push(...op.load8u(SBOX), ...op.const(8 * k), ...op.shl, ...op.or);
    }
    code.push(...op.const(0), ...op.load(WASM_KEY + 4 * (40 + c)), ...op.xor);
  }
  return code;
}

/** Set locals first..first+3 from the four results a call left on the stack (the last result is on top). */
const takeResults = (first: number): number[] => [...op.localSet(first + 3), ...op.localSet(first + 2), ...op.localSet(first + 1), ...op.localSet(first)];

/** `body` once per block while local `count` is non-zero, decrementing it (a counted loop: block { loop { … } }). */
function perBlock(count: number, body: readonly number[]): number[] {
  return [
    ...op.block,
    ...op.loop,
    ...op.localGet(count), ...op.eqz, ...op.brIf(1),
    ...body,
    ...op.localGet(count), ...op.const(1), ...op.sub, ...op.localSet(count),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** local `ptr` += 16. */
const nextBlock = (ptr: number): number[] => [...op.localGet(ptr), ...op.const(BLOCK), ...op.add, ...op.localSet(ptr)];

/** The four words of A0 on the stack. */
const pushA0 = (): number[] => [0, 1, 2, 3].flatMap((c) => [...op.const(0), ...op.load(A0 + 4 * c)]);

/**
 * cbcMac(ptr, blocks) → (y0..y3): Y_i = CIPH_K(B_i ⊕ Y_{i−1}) from Y = 0 over `blocks`
 * blocks at ptr (SP 800-38C §6.1 step 4). Locals: 0 ptr, 1 blocks, 2–5 Y.
 */
function cbcMacBody(): number[] {
  const step: number[] = [];
  for (let c = 0; c < 4; c++) step.push(...op.localGet(2 + c), ...op.localGet(0), ...op.load(4 * c), ...op.xor);
  step.push(...op.call(ENCRYPT), ...takeResults(2), ...nextBlock(0));
  return [...perBlock(1, step), ...op.localGet(2), ...op.localGet(3), ...op.localGet(4), ...op.localGet(5)];
}

/**
 * ctr(ptr, blocks, counter): XOR CIPH_K(A_i) into each block at ptr, i = counter,
 * counter + 1, … (SP 800-38C §6.1 step 6). A_i is A0 with i big-endian in its last octets:
 * i < 2^32, so it is byte-swapped into word 3's lanes and OR-ed in (A0 has zeros there).
 * Locals: 0 ptr, 1 blocks, 2 counter, 3–6 A0, 7–10 keystream.
 */
function ctrBody(): number[] {
  const code: number[] = [];
  for (let c = 0; c < 4; c++) code.push(...op.const(0), ...op.load(A0 + 4 * c), ...op.localSet(3 + c));
  const step: number[] = [...op.localGet(3), ...op.localGet(4), ...op.localGet(5), ...op.localGet(6)];
  // bswap32(i) = i << 24 | (i & 0xff00) << 8 | (i >>> 8) & 0xff00 | i >>> 24
  step.push(...op.localGet(2), ...op.const(24), ...op.shl);
  step.push(...op.localGet(2), ...op.const(0xff00), ...op.and, ...op.const(8), ...op.shl, ...op.or);
  step.push(...op.localGet(2), ...op.const(8), ...op.shrU, ...op.const(0xff00), ...op.and, ...op.or);
  step.push(...op.localGet(2), ...op.const(24), ...op.shrU, ...op.or, ...op.or);
  step.push(...op.call(ENCRYPT), ...takeResults(7));
  for (let c = 0; c < 4; c++) {
    step.push(...op.localGet(0), ...op.localGet(0), ...op.load(4 * c), ...op.localGet(7 + c), ...op.xor, ...op.store(4 * c));
  }
  step.push(...nextBlock(0), ...op.localGet(2), ...op.const(1), ...op.add, ...op.localSet(2));
  code.push(...perBlock(1, step));
  return code;
}

/**
 * formatA0(): A0 = (q − 1) ‖ N ‖ 0^q from B0 = flags ‖ N ‖ Q at WASM_DATA (SP 800-38C
 * §A.2.1, §A.3): B0 copied, its flags cut to their low three bits (q − 1), its last q
 * octets zeroed. Local 0: q − 1.
 */
function formatA0Body(): number[] {
  return [
    ...op.const(A0), ...op.const(WASM_DATA), ...op.const(BLOCK), ...op.memoryCopy,
    ...op.const(0), ...op.load8u(WASM_DATA), ...op.const(7), ...op.and, ...op.localSet(0),
    ...op.const(0), ...op.localGet(0), ...op.store8(A0),
    ...op.const(A0 + BLOCK - 1), ...op.localGet(0), ...op.sub, ...op.const(0), ...op.localGet(0), ...op.const(1), ...op.add, ...op.memoryFill,
  ];
}

/** local `dst` = (local n + 15) & −16: the payload padded to whole blocks. */
const paddedLength = (n: number, dst: number): number[] => [...op.localGet(n), ...op.const(15), ...op.add, ...op.const(-16), ...op.and, ...op.localSet(dst)];

/** Zero the AAD's padding, from the end of the AAD bytes (aadEnd) to the payload (pay) (§A.2.2). */
const padAad = (pay: number, aadEnd: number): number[] => [...op.localGet(aadEnd), ...op.const(0), ...op.localGet(pay), ...op.localGet(aadEnd), ...op.sub, ...op.memoryFill];

/** cbcMac over B0 ‖ AAD ‖ payload, i.e. from WASM_DATA to pay + padded, results into locals y..y+3. */
const macRecord = (pay: number, padded: number, y: number): number[] => [
  ...op.const(WASM_DATA), ...op.localGet(pay), ...op.localGet(padded), ...op.add, ...op.const(WASM_DATA), ...op.sub, ...op.const(4), ...op.shrU,
  ...op.call(CBC_MAC), ...takeResults(y),
];

/** T ⊕ S0, S0 = CIPH_K(A0) (§6.1 step 8), stored in the block after the payload; keystream words go through locals k..k+3. */
const maskedTagAfterPayload = (pay: number, padded: number, y: number, k: number): number[] => {
  const code = [...pushA0(), ...op.call(ENCRYPT), ...takeResults(k)];
  for (let c = 0; c < 4; c++) code.push(...op.localGet(pay), ...op.localGet(padded), ...op.add, ...op.localGet(y + c), ...op.localGet(k + c), ...op.xor, ...op.store(4 * c));
  return code;
};

/**
 * seal(pay, n, t, aadEnd): B0 at WASM_DATA, the AAD bytes up to aadEnd and n plaintext
 * bytes at pay are in place (ccm-wasm.ts); this pads them, computes T over them, encrypts
 * the payload in place and writes the t-byte tag straight after it, so ciphertext ‖ tag is
 * one run of memory (§6.1). The padding and the block after the tag are zero afterwards.
 * Locals: 0 pay, 1 n, 2 t, 3 aadEnd, 4 padded, 5–8 Y, 9–12 keystream.
 */
function sealBody(): number[] {
  const [pay, n, t, aadEnd, padded, y, k] = [0, 1, 2, 3, 4, 5, 9];
  return [
    ...paddedLength(n, padded),
    ...padAad(pay, aadEnd),
    // fill(pay + n, 0, padded + 16 − n): the payload's padding and the block after it
    ...op.localGet(pay), ...op.localGet(n), ...op.add, ...op.const(0), ...op.localGet(padded), ...op.const(BLOCK), ...op.add, ...op.localGet(n), ...op.sub, ...op.memoryFill,
    ...op.call(FORMAT_A0),
    ...macRecord(pay, padded, y),
    ...maskedTagAfterPayload(pay, padded, y, k),
    ...op.localGet(pay), ...op.localGet(padded), ...op.const(4), ...op.shrU, ...op.const(1), ...op.call(CTR),
    // copy(pay + n, pay + padded, t), then fill(pay + n + t, 0, padded + 16 − n − t)
    ...op.localGet(pay), ...op.localGet(n), ...op.add, ...op.localGet(pay), ...op.localGet(padded), ...op.add, ...op.localGet(t), ...op.memoryCopy,
    ...op.localGet(pay), ...op.localGet(n), ...op.add, ...op.localGet(t), ...op.add, ...op.const(0),
    ...op.localGet(padded), ...op.const(BLOCK), ...op.add, ...op.localGet(n), ...op.sub, ...op.localGet(t), ...op.sub, ...op.memoryFill,
  ];
}

/**
 * open(pay, n, aadEnd): as seal, with n ciphertext bytes at pay: decrypts them in place,
 * zeroes the keystream past the end so the MAC sees P padded (§A.2.3), and leaves T ⊕ S0
 * in the block after the payload for the caller's constant-time comparison (§6.2).
 * Locals: 0 pay, 1 n, 2 aadEnd, 3 padded, 4–7 Y, 8–11 keystream.
 */
function openBody(): number[] {
  const [pay, n, aadEnd, padded, y, k] = [0, 1, 2, 3, 4, 8];
  return [
    ...paddedLength(n, padded),
    ...padAad(pay, aadEnd),
    ...op.call(FORMAT_A0),
    ...op.localGet(pay), ...op.localGet(padded), ...op.const(4), ...op.shrU, ...op.const(1), ...op.call(CTR),
    ...op.localGet(pay), ...op.localGet(n), ...op.add, ...op.const(0), ...op.localGet(padded), ...op.localGet(n), ...op.sub, ...op.memoryFill,
    ...macRecord(pay, padded, y),
    ...maskedTagAfterPayload(pay, padded, y, k),
  ];
}

/** wipe(ptr, len): zero len bytes (a plaintext and its tag block, once the caller has them). */
const wipeBody = (): number[] => [...op.localGet(0), ...op.const(0), ...op.localGet(1), ...op.memoryFill];

/** A function body: its extra locals (all i32), the code, `end` (§5.5.13). */
const funcBody = (extraLocals: number, code: readonly number[]): number[] => {
  const body = [...vec(extraLocals > 0 ? [[...uleb(extraLocals), I32]] : []), ...code, ...op.end];
  return [...uleb(body.length), ...body];
};

function moduleBytes(): Uint8Array {
  const i32s = (n: number): number[] => vec(Array.from({ length: n }, () => [I32]));
  const type = (params: number, results: number): number[] => [0x60, ...i32s(params), ...i32s(results)];
  // [type, extra locals, body] per function, in index order (ENCRYPT … WIPE).
  const funcs: [number[], number, number[]][] = [
    [type(4, 4), 4, encryptBody()],
    [type(2, 4), 4, cbcMacBody()],
    [type(3, 0), 8, ctrBody()],
    [type(0, 0), 1, formatA0Body()],
    [type(4, 0), 9, sealBody()],
    [type(3, 0), 9, openBody()],
    [type(2, 0), 0, wipeBody()],
  ];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // \0asm, version 1
    ...section(1, vec(funcs.map(([t]) => t))), // one type per function: simple, and a few bytes only
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(1)]])), // one memory, 1 page to start, no maximum
    ...section(7, vec([
      [...name('seal'), 0x00, ...uleb(SEAL)],
      [...name('open'), 0x00, ...uleb(OPEN)],
      [...name('wipe'), 0x00, ...uleb(WIPE)],
      [...name('memory'), 0x02, 0],
    ])),
    ...section(10, vec(funcs.map(([, locals, code]) => funcBody(locals, code)))),
  ]);
}

/**
 * The part of the WebAssembly JS API (WebAssembly JavaScript Interface §5) used here: the
 * project's lib settings (ES2022, no DOM) and @types/node 20 do not declare it.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
}
const wasmApi = (globalThis as unknown as { readonly WebAssembly?: WasmApi }).WebAssembly;

/** Whether this engine runs WebAssembly (node --jitless does not); ccm.ts falls back to its JS pass when it does not. */
export const WASM_AVAILABLE = typeof wasmApi?.Module === 'function';

interface Exports {
  readonly seal: (pay: number, n: number, t: number, aadEnd: number) => void;
  readonly open: (pay: number, n: number, aadEnd: number) => void;
  readonly wipe: (ptr: number, len: number) => void;
  readonly memory: WasmMemory;
}

/**
 * The one module instance all AesCcm instances share (calls are synchronous and the
 * engine single-threaded, so one record at a time uses the memory). The key schedule in
 * memory belongs to `keyOwner`; a record from another instance loads its own first.
 */
class CcmWasmBlocks {
  readonly seal: Exports['seal'];
  readonly open: Exports['open'];
  readonly wipe: Exports['wipe'];
  private readonly memory: WasmMemory;
  /** Byte view of the memory; replaced when the memory grows (growing detaches the old buffer). */
  bytes: Uint8Array;
  keyOwner: object | undefined;

  constructor() {
    if (wasmApi === undefined || !WASM_AVAILABLE) {
      throw new MedtwinError('crypto.no-wasm', "AES-CCM block 'wasm' needs WebAssembly, which this engine does not provide (use block 'tables')");
    }
    const exports = new wasmApi.Instance(new wasmApi.Module(moduleBytes())).exports as Exports;
    this.seal = exports.seal;
    this.open = exports.open;
    this.wipe = exports.wipe;
    this.memory = exports.memory;
    this.bytes = new Uint8Array(this.memory.buffer);
    // Tables as LE bytes (WebAssembly memory is little-endian on every host, §4.2.8).
    const view = new DataView(this.memory.buffer);
    AES_T_TABLES.forEach((t, k) => t.forEach((w, x) => view.setInt32(TABLES + 1024 * k + 4 * x, w, true)));
    this.bytes.set(AES_SBOX, SBOX);
  }

  /** The byte view, with the memory grown first if a record needs `end` bytes. */
  bytesFor(end: number): Uint8Array {
    if (end > this.bytes.length) {
      this.memory.grow(Math.ceil((end - this.bytes.length) / PAGE_BYTES));
      this.bytes = new Uint8Array(this.memory.buffer);
    }
    return this.bytes;
  }
}

let shared: CcmWasmBlocks | undefined;

/** The shared module instance, compiled and instantiated on first use (a few ms, once per process). */
export function ccmWasmBlocks(): CcmWasmBlocks {
  shared ??= new CcmWasmBlocks();
  return shared;
}

export type { CcmWasmBlocks };
