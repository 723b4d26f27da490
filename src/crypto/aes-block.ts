// The AES-128 block cipher the crypto core's modes run on: noble's key schedule, and a forward
// cipher on four 32-bit words with 4 KB of T-tables. Not a mode (ccm.ts, cmac.ts), not AES-192/256,
// not decryption (CCM and CMAC only ever run the forward cipher).

import { unsafe as aesRaw } from '@noble/ciphers/aes.js';
import { requireBytes } from './errors.ts';

export const AES128_KEY_BYTES = 16;
export const AES_BLOCK_BYTES = 16;

/**
 * Word layout (the one noble's `unsafe.encrypt` works in): a block's bytes b0..b15 are
 * four little-endian words, w0 = b0 | b1<<8 | b2<<16 | b3<<24, …, w3 = b12 … b15. So
 * block byte 15 — the least significant octet of a CCM counter (SP 800-38C §A.3) — is
 * the top byte of w3.
 */
export const wordLe = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);

export function putWordLe(b: Uint8Array, i: number, w: number): void {
  b[i] = w;
  b[i + 1] = w >>> 8;
  b[i + 2] = w >>> 16;
  b[i + 3] = w >>> 24;
}

/** Reverse the byte order of a 32-bit word (a big-endian counter value ↔ its LE word lane). */
export const bswap32 = (v: number): number => ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);

/** GF(2^8) doubling modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 §4.2.1, xtime). */
const xtime = (b: number): number => ((b << 1) ^ (b & 0x80 ? 0x1b : 0)) & 0xff;

/**
 * The S-box (FIPS-197 §5.1.1), built at load from its definition: the multiplicative
 * inverse in GF(2^8) followed by the affine map. Walking the powers of the generator 3
 * (x ↦ x ⊕ xtime(x)) lists every non-zero element once; the inverse of 3^i is 3^(255−i).
 */
const SBOX: Uint8Array = (() => {
  const pow = new Uint8Array(255);
  const log = new Uint8Array(256);
  for (let i = 0, x = 1; i < 255; i++, x ^= xtime(x)) {
    pow[i] = x;
    log[x] = i;
  }
  const box = new Uint8Array(256);
  for (let v = 0; v < 256; v++) {
    const inv = v === 0 ? 0 : pow[(255 - log[v]!) % 255]!;
    let s = inv;
    for (let r = 1; r <= 4; r++) s ^= ((inv << r) | (inv >>> (8 - r))) & 0xff; // b ⊕ rotl(b,1..4)
    box[v] = s ^ 0x63;
  }
  return box;
})();

/**
 * T-tables (Rijndael proposal §5.2.1; FIPS-197 §5.1 SubBytes + ShiftRows + MixColumns
 * folded into four lookups per column), in the LE word layout above: T0[x] is the
 * MixColumns column (2·S[x], S[x], S[x], 3·S[x]) with row 0 in the low byte, and T1..T3
 * are T0 rotated left by 8, 16, 24 bits (the same column entering from rows 1..3).
 * 4 × 1 KB: small enough to stay in L1, unlike 256 KB pair tables.
 */
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let x = 0; x < 256; x++) {
  const s = SBOX[x]!;
  const s2 = xtime(s);
  const t = s2 | (s << 8) | (s << 16) | ((s2 ^ s) << 24);
  T0[x] = t;
  T1[x] = (t << 8) | (t >>> 24);
  T2[x] = (t << 16) | (t >>> 16);
  T3[x] = (t << 24) | (t >>> 8);
}

/** The S-box and T0..T3 for the WebAssembly copy of these rounds (aes-wasm.ts), which loads them into its memory. */
export const AES_SBOX: Uint8Array = SBOX;
export const AES_T_TABLES: readonly Int32Array[] = [T0, T1, T2, T3];

/** The block interface the modes run on: encrypt four LE words, read the result from `out`. */
export interface AesWordCipher {
  readonly out: Int32Array;
  encryptWords(s0: number, s1: number, s2: number, s3: number): void;
  encryptBlock(input: Uint8Array, inOff: number, output: Uint8Array, outOff: number): void;
  wipe(): void;
}

/**
 * AES-128 (FIPS-197, 2001 numbering): noble's key schedule (`unsafe.expandKeyLE`, §5.2,
 * 44 words, same LE word layout) and our own forward cipher on 4 × 1 KB T-tables.
 *
 * Why our own round function and not noble's `unsafe.encrypt`: bench/crypto.ts measures
 * CCM over both (the noble-block column, in a process of its own). Over noble's block —
 * two 256 KB pair tables and a fresh result object per block — CCM at 244 and 4096 bytes
 * ran 1.3–1.6× slower in alternating A/B runs on the 2-vCPU VM we measured on, and only
 * over this core did the 4096-byte ratio against node:crypto come in under the issue's
 * 8 (in the quieter runs; on a loaded machine neither does, and the gap shrinks into the
 * noise). At 20 bytes per-call overhead dominates and the two are within noise.
 * `block: 'noble'` (ccm.ts) switches back if a later noble closes the gap. CCM's default
 * now runs these same rounds in WebAssembly (aes-wasm.ts, built from this file's tables),
 * which is what met the 20- and 244-byte goals; this class is the JS reference
 * the tests hold that core to, and CCM's pass where WebAssembly is missing.
 *
 * Why `unsafe` at all and not `ecb(key)`: the modes call the cipher once per block with
 * the key expanded once; ecb would add a cipher object, a padding check and an output
 * array per call. `unsafe` is documented as "may change at any time": the version is
 * pinned (package.json) and test/crypto/aes-block.test.ts checks this class against
 * FIPS-197 and against noble's `ecb` and `unsafe.encrypt` on seeded random keys and blocks.
 */
export class Aes128 implements AesWordCipher {
  private readonly xk: Int32Array;
  /** The last block's output words, overwritten by every `encryptWords` call (no allocation per block). */
  readonly out = new Int32Array(4);

  constructor(key: Uint8Array) {
    requireBytes('AES-128 key', key, AES128_KEY_BYTES);
    const schedule = aesRaw.expandKeyLE(key);
    this.xk = new Int32Array(schedule);
    schedule.fill(0);
  }

  /**
   * Encrypt the block whose LE words are s0..s3 (FIPS-197 §5.1: AddRoundKey, 9 full
   * rounds, a final round without MixColumns); the result is left in `this.out`.
   * Output column c row r comes from input column c + r (ShiftRows), hence the rotation
   * of the state words across the four lookups. The rounds are unrolled, alternating
   * the state between s0..s3 and t0..t3, with constant round-key indices: about 20 %
   * faster than the loop in V8 (measured with bench-style CPU time on node 20).
   */
  encryptWords(s0: number, s1: number, s2: number, s3: number): void {
    const k = this.xk;
    s0 ^= k[0]!;
    s1 ^= k[1]!;
    s2 ^= k[2]!;
    s3 ^= k[3]!;
    // round 1: state s → t
    let t0 = T0[s0 & 0xff]! ^ T1[(s1 >>> 8) & 0xff]! ^ T2[(s2 >>> 16) & 0xff]! ^ T3[s3 >>> 24]! ^ k[4]!;
    let t1 = T0[s1 & 0xff]! ^ T1[(s2 >>> 8) & 0xff]! ^ T2[(s3 >>> 16) & 0xff]! ^ T3[s0 >>> 24]! ^ k[5]!;
    let t2 = T0[s2 & 0xff]! ^ T1[(s3 >>> 8) & 0xff]! ^ T2[(s0 >>> 16) & 0xff]! ^ T3[s1 >>> 24]! ^ k[6]!;
    let t3 = T0[s3 & 0xff]! ^ T1[(s0 >>> 8) & 0xff]! ^ T2[(s1 >>> 16) & 0xff]! ^ T3[s2 >>> 24]! ^ k[7]!;
    // round 2: state t → s
    s0 = T0[t0 & 0xff]! ^ T1[(t1 >>> 8) & 0xff]! ^ T2[(t2 >>> 16) & 0xff]! ^ T3[t3 >>> 24]! ^ k[8]!;
    s1 = T0[t1 & 0xff]! ^ T1[(t2 >>> 8) & 0xff]! ^ T2[(t3 >>> 16) & 0xff]! ^ T3[t0 >>> 24]! ^ k[9]!;
    s2 = T0[t2 & 0xff]! ^ T1[(t3 >>> 8) & 0xff]! ^ T2[(t0 >>> 16) & 0xff]! ^ T3[t1 >>> 24]! ^ k[10]!;
    s3 = T0[t3 & 0xff]! ^ T1[(t0 >>> 8) & 0xff]! ^ T2[(t1 >>> 16) & 0xff]! ^ T3[t2 >>> 24]! ^ k[11]!;
    // round 3: state s → t
    t0 = T0[s0 & 0xff]! ^ T1[(s1 >>> 8) & 0xff]! ^ T2[(s2 >>> 16) & 0xff]! ^ T3[s3 >>> 24]! ^ k[12]!;
    t1 = T0[s1 & 0xff]! ^ T1[(s2 >>> 8) & 0xff]! ^ T2[(s3 >>> 16) & 0xff]! ^ T3[s0 >>> 24]! ^ k[13]!;
    t2 = T0[s2 & 0xff]! ^ T1[(s3 >>> 8) & 0xff]! ^ T2[(s0 >>> 16) & 0xff]! ^ T3[s1 >>> 24]! ^ k[14]!;
    t3 = T0[s3 & 0xff]! ^ T1[(s0 >>> 8) & 0xff]! ^ T2[(s1 >>> 16) & 0xff]! ^ T3[s2 >>> 24]! ^ k[15]!;
    // round 4: state t → s
    s0 = T0[t0 & 0xff]! ^ T1[(t1 >>> 8) & 0xff]! ^ T2[(t2 >>> 16) & 0xff]! ^ T3[t3 >>> 24]! ^ k[16]!;
    s1 = T0[t1 & 0xff]! ^ T1[(t2 >>> 8) & 0xff]! ^ T2[(t3 >>> 16) & 0xff]! ^ T3[t0 >>> 24]! ^ k[17]!;
    s2 = T0[t2 & 0xff]! ^ T1[(t3 >>> 8) & 0xff]! ^ T2[(t0 >>> 16) & 0xff]! ^ T3[t1 >>> 24]! ^ k[18]!;
    s3 = T0[t3 & 0xff]! ^ T1[(t0 >>> 8) & 0xff]! ^ T2[(t1 >>> 16) & 0xff]! ^ T3[t2 >>> 24]! ^ k[19]!;
    // round 5: state s → t
    t0 = T0[s0 & 0xff]! ^ T1[(s1 >>> 8) & 0xff]! ^ T2[(s2 >>> 16) & 0xff]! ^ T3[s3 >>> 24]! ^ k[20]!;
    t1 = T0[s1 & 0xff]! ^ T1[(s2 >>> 8) & 0xff]! ^ T2[(s3 >>> 16) & 0xff]! ^ T3[s0 >>> 24]! ^ k[21]!;
    t2 = T0[s2 & 0xff]! ^ T1[(s3 >>> 8) & 0xff]! ^ T2[(s0 >>> 16) & 0xff]! ^ T3[s1 >>> 24]! ^ k[22]!;
    t3 = T0[s3 & 0xff]! ^ T1[(s0 >>> 8) & 0xff]! ^ T2[(s1 >>> 16) & 0xff]! ^ T3[s2 >>> 24]! ^ k[23]!;
    // round 6: state t → s
    s0 = T0[t0 & 0xff]! ^ T1[(t1 >>> 8) & 0xff]! ^ T2[(t2 >>> 16) & 0xff]! ^ T3[t3 >>> 24]! ^ k[24]!;
    s1 = T0[t1 & 0xff]! ^ T1[(t2 >>> 8) & 0xff]! ^ T2[(t3 >>> 16) & 0xff]! ^ T3[t0 >>> 24]! ^ k[25]!;
    s2 = T0[t2 & 0xff]! ^ T1[(t3 >>> 8) & 0xff]! ^ T2[(t0 >>> 16) & 0xff]! ^ T3[t1 >>> 24]! ^ k[26]!;
    s3 = T0[t3 & 0xff]! ^ T1[(t0 >>> 8) & 0xff]! ^ T2[(t1 >>> 16) & 0xff]! ^ T3[t2 >>> 24]! ^ k[27]!;
    // round 7: state s → t
    t0 = T0[s0 & 0xff]! ^ T1[(s1 >>> 8) & 0xff]! ^ T2[(s2 >>> 16) & 0xff]! ^ T3[s3 >>> 24]! ^ k[28]!;
    t1 = T0[s1 & 0xff]! ^ T1[(s2 >>> 8) & 0xff]! ^ T2[(s3 >>> 16) & 0xff]! ^ T3[s0 >>> 24]! ^ k[29]!;
    t2 = T0[s2 & 0xff]! ^ T1[(s3 >>> 8) & 0xff]! ^ T2[(s0 >>> 16) & 0xff]! ^ T3[s1 >>> 24]! ^ k[30]!;
    t3 = T0[s3 & 0xff]! ^ T1[(s0 >>> 8) & 0xff]! ^ T2[(s1 >>> 16) & 0xff]! ^ T3[s2 >>> 24]! ^ k[31]!;
    // round 8: state t → s
    s0 = T0[t0 & 0xff]! ^ T1[(t1 >>> 8) & 0xff]! ^ T2[(t2 >>> 16) & 0xff]! ^ T3[t3 >>> 24]! ^ k[32]!;
    s1 = T0[t1 & 0xff]! ^ T1[(t2 >>> 8) & 0xff]! ^ T2[(t3 >>> 16) & 0xff]! ^ T3[t0 >>> 24]! ^ k[33]!;
    s2 = T0[t2 & 0xff]! ^ T1[(t3 >>> 8) & 0xff]! ^ T2[(t0 >>> 16) & 0xff]! ^ T3[t1 >>> 24]! ^ k[34]!;
    s3 = T0[t3 & 0xff]! ^ T1[(t0 >>> 8) & 0xff]! ^ T2[(t1 >>> 16) & 0xff]! ^ T3[t2 >>> 24]! ^ k[35]!;
    // round 9: state s → t
    t0 = T0[s0 & 0xff]! ^ T1[(s1 >>> 8) & 0xff]! ^ T2[(s2 >>> 16) & 0xff]! ^ T3[s3 >>> 24]! ^ k[36]!;
    t1 = T0[s1 & 0xff]! ^ T1[(s2 >>> 8) & 0xff]! ^ T2[(s3 >>> 16) & 0xff]! ^ T3[s0 >>> 24]! ^ k[37]!;
    t2 = T0[s2 & 0xff]! ^ T1[(s3 >>> 8) & 0xff]! ^ T2[(s0 >>> 16) & 0xff]! ^ T3[s1 >>> 24]! ^ k[38]!;
    t3 = T0[s3 & 0xff]! ^ T1[(s0 >>> 8) & 0xff]! ^ T2[(s1 >>> 16) & 0xff]! ^ T3[s2 >>> 24]! ^ k[39]!;
    // round 10: SubBytes, ShiftRows, AddRoundKey (no MixColumns)
    const S = SBOX;
    const o = this.out;
    o[0] = (S[t0 & 0xff]! | (S[(t1 >>> 8) & 0xff]! << 8) | (S[(t2 >>> 16) & 0xff]! << 16) | (S[t3 >>> 24]! << 24)) ^ k[40]!;
    o[1] = (S[t1 & 0xff]! | (S[(t2 >>> 8) & 0xff]! << 8) | (S[(t3 >>> 16) & 0xff]! << 16) | (S[t0 >>> 24]! << 24)) ^ k[41]!;
    o[2] = (S[t2 & 0xff]! | (S[(t3 >>> 8) & 0xff]! << 8) | (S[(t0 >>> 16) & 0xff]! << 16) | (S[t1 >>> 24]! << 24)) ^ k[42]!;
    o[3] = (S[t3 & 0xff]! | (S[(t0 >>> 8) & 0xff]! << 8) | (S[(t1 >>> 16) & 0xff]! << 16) | (S[t2 >>> 24]! << 24)) ^ k[43]!;
  }

  /** Encrypt one 16-byte block from `input` at `inOff` into `output` at `outOff` (may alias). */
  encryptBlock(input: Uint8Array, inOff: number, output: Uint8Array, outOff: number): void {
    this.encryptWords(wordLe(input, inOff), wordLe(input, inOff + 4), wordLe(input, inOff + 8), wordLe(input, inOff + 12));
    const o = this.out;
    putWordLe(output, outOff, o[0]!);
    putWordLe(output, outOff + 4, o[1]!);
    putWordLe(output, outOff + 8, o[2]!);
    putWordLe(output, outOff + 12, o[3]!);
  }

  /** Overwrite the key schedule (a key left in memory is a key that can leak). */
  wipe(): void {
    this.xk.fill(0);
    this.out.fill(0);
  }
}

/**
 * The same interface on noble's own block (`unsafe.encrypt`), kept as the reference the
 * tests cross-check Aes128 against and as the baseline bench/crypto.ts measures CCM on.
 */
export class NobleAes128 implements AesWordCipher {
  private readonly xk: Uint32Array;
  readonly out = new Int32Array(4);

  constructor(key: Uint8Array) {
    requireBytes('AES-128 key', key, AES128_KEY_BYTES);
    this.xk = aesRaw.expandKeyLE(key);
  }

  encryptWords(s0: number, s1: number, s2: number, s3: number): void {
    const r = aesRaw.encrypt(this.xk, s0, s1, s2, s3);
    const o = this.out;
    o[0] = r.s0;
    o[1] = r.s1;
    o[2] = r.s2;
    o[3] = r.s3;
  }

  encryptBlock(input: Uint8Array, inOff: number, output: Uint8Array, outOff: number): void {
    this.encryptWords(wordLe(input, inOff), wordLe(input, inOff + 4), wordLe(input, inOff + 8), wordLe(input, inOff + 12));
    const o = this.out;
    putWordLe(output, outOff, o[0]!);
    putWordLe(output, outOff + 4, o[1]!);
    putWordLe(output, outOff + 8, o[2]!);
    putWordLe(output, outOff + 12, o[3]!);
  }

  wipe(): void {
    this.xk.fill(0);
    this.out.fill(0);
  }
}
