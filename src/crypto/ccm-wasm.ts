// CCM on the WebAssembly AES (aes-wasm.ts): a record's B0, AAD and payload written into the
// module's memory (SP 800-38C §A.2), then one call does padding, A0, CBC-MAC, CTR and the tag. Not
// the argument checks, cost charging or public API (ccm.ts), and not the JS reference pass (ccm-words.ts).

import { unsafe as aesRaw } from '@noble/ciphers/aes.js';
import { AES_BLOCK_BYTES } from './aes-block.ts';
import { ccmWasmBlocks, WASM_DATA, WASM_KEY, WASM_KEY_BYTES, type CcmWasmBlocks } from './aes-wasm.ts';
import type { CcmPass } from './ccm.ts';
import { ccmAadPrefixBytes } from './cost.ts';

/**
 * Copies of up to this many bytes are loops: for a record's few bytes a builtin
 * `set`/`subarray` call costs more than the loop, and at 20-byte records that overhead,
 * not AES, is most of what a call spends.
 */
const LOOP_COPY_BYTES = 32;

function copyIn(mem: Uint8Array, at: number, src: Uint8Array, len: number): void {
  if (len <= LOOP_COPY_BYTES) {
    for (let i = 0; i < len; i++) mem[at + i] = src[i]!;
  } else {
    mem.set(len === src.length ? src : src.subarray(0, len), at);
  }
}

function copyOut(dst: Uint8Array, dstOff: number, mem: Uint8Array, at: number, len: number): void {
  if (len <= LOOP_COPY_BYTES) {
    for (let i = 0; i < len; i++) dst[dstOff + i] = mem[at + i]!;
  } else {
    dst.set(mem.subarray(at, at + len), dstOff);
  }
}

/** Where the AAD's bytes end: after B0 and the 2-, 6- or 10-octet encoding of a (§A.2.2). */
const aadEndFor = (aadBytes: number): number => WASM_DATA + AES_BLOCK_BYTES + (aadBytes === 0 ? 0 : ccmAadPrefixBytes(aadBytes) + aadBytes);
/** Where the payload's blocks start: at the next block boundary after the AAD. */
const payloadAt = (aadEnd: number): number => WASM_DATA + AES_BLOCK_BYTES * Math.ceil((aadEnd - WASM_DATA) / AES_BLOCK_BYTES);
/** The end of a record in memory: the payload padded to whole blocks, and the tag block after it. */
const recordEnd = (pay: number, n: number): number => pay + AES_BLOCK_BYTES * Math.ceil(n / AES_BLOCK_BYTES) + AES_BLOCK_BYTES;

/**
 * The default pass (see aes-wasm.ts for why WebAssembly). JS writes only what the
 * record's bytes are (B0, the AAD with its length, the payload) and the WebAssembly side
 * does the rest, so a record costs one call into the module. Sealing leaves only public
 * bytes in the shared memory (B0, AAD, ciphertext ‖ tag); opening wipes the plaintext
 * once it has been copied out. The key schedule stays in memory while this instance is
 * the last one that used it, as it stays in this instance.
 */
export class CcmWasmPass implements CcmPass {
  private readonly blocks: CcmWasmBlocks;
  /** The key schedule (FIPS-197 §5.2, noble's expandKeyLE) as the LE bytes the module reads at WASM_KEY. */
  private readonly keyBytes = new Uint8Array(WASM_KEY_BYTES);
  /** B0's flags bits 5–3, (t − 2)/2 (SP 800-38C §A.2.1): fixed by the tag length. */
  private readonly tagFlags: number;

  constructor(
    key: Uint8Array,
    private readonly tagLength: number,
  ) {
    this.blocks = ccmWasmBlocks();
    const schedule = aesRaw.expandKeyLE(key);
    const view = new DataView(this.keyBytes.buffer);
    schedule.forEach((w, i) => view.setUint32(4 * i, w, true));
    schedule.fill(0);
    this.tagFlags = ((tagLength - 2) / 2) << 3;
  }

  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const n = plaintext.length;
    const pay = this.sealInMemory(nonce, plaintext, aad);
    // ciphertext ‖ tag is one run of memory: one allocation and one copy.
    return this.blocks.bytes.slice(pay, pay + n + this.tagLength);
  }

  sealInto(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, outOff: number): void {
    const pay = this.sealInMemory(nonce, plaintext, aad);
    copyOut(out, outOff, this.blocks.bytes, pay, plaintext.length + this.tagLength);
  }

  open(nonce: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array): Uint8Array | undefined {
    const pay = this.openInMemory(nonce, sealed, n, aad);
    const mem = this.blocks.bytes;
    const plaintext = this.tagMatches(mem, pay, sealed, n) ? mem.slice(pay, pay + n) : undefined;
    this.blocks.wipe(pay, recordEnd(pay, n) - pay);
    return plaintext;
  }

  openInto(nonce: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array, out: Uint8Array, outOff: number): boolean {
    const pay = this.openInMemory(nonce, sealed, n, aad);
    const mem = this.blocks.bytes;
    const ok = this.tagMatches(mem, pay, sealed, n);
    if (ok) copyOut(out, outOff, mem, pay, n);
    this.blocks.wipe(pay, recordEnd(pay, n) - pay);
    return ok;
  }

  wipe(): void {
    this.keyBytes.fill(0);
    const blocks = this.blocks;
    if (blocks.keyOwner === this) {
      blocks.bytes.fill(0, WASM_KEY, WASM_KEY + WASM_KEY_BYTES);
      blocks.keyOwner = undefined;
    }
  }

  /** Seal in memory; ciphertext ‖ tag is then at the returned offset. */
  private sealInMemory(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): number {
    const n = plaintext.length;
    const aadEnd = aadEndFor(aad.length);
    const pay = payloadAt(aadEnd);
    const mem = this.blocks.bytesFor(recordEnd(pay, n));
    this.format(mem, nonce, n, aad);
    copyIn(mem, pay, plaintext, n);
    this.blocks.seal(pay, n, this.tagLength, aadEnd);
    return pay;
  }

  /** Open in memory: the plaintext is then at the returned offset p, T ⊕ S0 in the block after it (p + ⌈n/16⌉·16). */
  private openInMemory(nonce: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array): number {
    const aadEnd = aadEndFor(aad.length);
    const pay = payloadAt(aadEnd);
    const mem = this.blocks.bytesFor(recordEnd(pay, n));
    this.format(mem, nonce, n, aad);
    copyIn(mem, pay, sealed, n);
    this.blocks.open(pay, n, aadEnd);
    return pay;
  }

  /**
   * Constant-time comparison of the computed tag with the received one at sealed[n…]
   * (SP 800-38C §6.2 step 10): every byte is read and folded into one accumulator, so the
   * time does not depend on where a difference is.
   */
  private tagMatches(mem: Uint8Array, pay: number, sealed: Uint8Array, n: number): boolean {
    const at = recordEnd(pay, n) - AES_BLOCK_BYTES;
    let diff = 0;
    for (let i = 0; i < this.tagLength; i++) diff |= mem[at + i]! ^ sealed[n + i]!;
    return diff === 0;
  }

  /**
   * This instance's key schedule (if another instance's is loaded), B0 at WASM_DATA and
   * the AAD's encoded length and bytes after it (SP 800-38C §A.2.1, §A.2.2). The
   * padding after them is the module's to write.
   */
  private format(mem: Uint8Array, nonce: Uint8Array, n: number, aad: Uint8Array): void {
    const blocks = this.blocks;
    if (blocks.keyOwner !== this) {
      mem.set(this.keyBytes, WASM_KEY);
      blocks.keyOwner = this;
    }
    const nonceBytes = nonce.length;
    const a = aad.length;
    // B0 = flags ‖ N ‖ Q. Flags: bit 6 Adata, bits 5–3 (t − 2)/2, bits 2–0 q − 1 (q = 15 − nonce length).
    mem[WASM_DATA] = (a > 0 ? 0x40 : 0) | this.tagFlags | (14 - nonceBytes);
    for (let i = 0; i < nonceBytes; i++) mem[WASM_DATA + 1 + i] = nonce[i]!;
    // Q: n big-endian in the last q octets (checkCall keeps n below 2^(8q)).
    for (let i = WASM_DATA + 15, len = n; i > WASM_DATA + nonceBytes; i--) {
      mem[i] = len & 0xff;
      len = Math.floor(len / 256);
    }
    if (a > 0) {
      const at = WASM_DATA + AES_BLOCK_BYTES;
      const prefix = ccmAadPrefixBytes(a);
      if (prefix === 2) {
        mem[at] = a >>> 8;
        mem[at + 1] = a & 0xff;
      } else {
        // 0xff 0xfe ‖ a in 32 bits, or 0xff 0xff ‖ a in 64 bits
        mem[at] = 0xff;
        mem[at + 1] = prefix === 6 ? 0xfe : 0xff;
        for (let i = at + prefix - 1, len = a; i >= at + 2; i--) {
          mem[i] = len & 0xff;
          len = Math.floor(len / 256);
        }
      }
      copyIn(mem, at + prefix, aad, a);
    }
  }
}
