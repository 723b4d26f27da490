// CCM's block work in JS over a word-level AES block (aes-block.ts: our T-table Aes128 or noble's
// block): the CBC-MAC and CTR passes of SP 800-38C §6.1/§6.2 on 32-bit words. Not the argument
// checks, cost charging or public API (ccm.ts), and not the default path (ccm-wasm.ts).

import { AES_BLOCK_BYTES, bswap32, putWordLe, wordLe, type AesWordCipher } from './aes-block.ts';
import type { CcmPass } from './ccm.ts';
import { ccmAadPrefixBytes } from './cost.ts';

/*
 * Block words read straight from the caller's bytes. Every block CCM formats (B0 and the
 * counter blocks from the nonce, the AAD blocks, the zero-padded last payload block;
 * SP 800-38C §A.2–A.3) is a stretch of one input with zeros around it, so a word is read
 * from that input with the bytes outside [0, end) taken as zero, instead of copying the
 * bytes into a scratch block and zero-filling the rest. Whole words take wordLe's four
 * loads. With a no-op cipher underneath, that cut a 20-byte seal's work around the seven
 * blocks from about 440 ns to about 330 ns (bench-style CPU time, same machine state).
 */

/** The LE word of b[i..i+3] (aes-block.ts wordLe) with the bytes outside [0, end) read as 0; i may be negative. */
function wordLeWithin(b: Uint8Array, i: number, end: number): number {
  if (i >= 0 && i + 4 <= end) return wordLe(b, i);
  let w = 0;
  for (let j = 0; j < 4; j++) {
    const k = i + j;
    if (k >= 0 && k < end) w |= b[k]! << (8 * j);
  }
  return w;
}

/** putWordLe for the bytes of the word that lie before `end`; the others are not written. */
function putWordLeWithin(b: Uint8Array, i: number, w: number, end: number): void {
  if (i + 4 <= end) {
    putWordLe(b, i, w);
    return;
  }
  for (let j = 0; i + j < end; j++) b[i + j] = w >>> (8 * j);
}

/** The mask of the bytes of the LE word at i that lie before `end`: all ones for a whole word. */
function maskWithin(i: number, end: number): number {
  const k = end - i;
  return k >= 4 ? -1 : k <= 0 ? 0 : (1 << (8 * k)) - 1;
}

/**
 * The JS pass: every block through `aes.encryptWords`, the CBC-MAC chaining value and the
 * counter block in locals, blocks formatted as words read straight from the inputs (no
 * scratch copies, no allocation). Kept beside the WebAssembly pass as the reference the
 * tests cross-check it against and as what `block: 'tables' | 'noble'` runs (the bench's
 * noble-block column). Not reentrant: `state` carries one record between the passes.
 */
export class CcmWordPass implements CcmPass {
  /** B0's flags bits 5–3, (t − 2)/2 (SP 800-38C §A.2.1): fixed by the tag length. */
  private readonly tagFlags: number;
  /** What `begin` hands the payload pass: the CBC-MAC chaining value Y (words 0–3, §6.1 step 4) and A0 (words 4–7). */
  private readonly state = new Int32Array(8);
  /** Scratch for the 6- and 10-octet AAD length encodings (§A.2.2); the 2-octet one is formed in a word. */
  private readonly block = new Uint8Array(AES_BLOCK_BYTES);

  constructor(
    private readonly aes: AesWordCipher,
    private readonly tagLength: number,
  ) {
    this.tagFlags = ((tagLength - 2) / 2) << 3;
  }

  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const out = new Uint8Array(plaintext.length + this.tagLength);
    this.sealInto(nonce, plaintext, aad, out, 0);
    return out;
  }

  sealInto(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, outOff: number): void {
    const n = plaintext.length;
    this.begin(nonce, n, aad);
    this.encryptPayload(plaintext, n, out, outOff);
    this.writeTag(out, outOff + n);
  }

  open(nonce: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array): Uint8Array | undefined {
    const out = new Uint8Array(n);
    if (this.openInto(nonce, sealed, n, aad, out, 0)) return out;
    out.fill(0);
    return undefined;
  }

  openInto(nonce: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array, out: Uint8Array, outOff: number): boolean {
    this.begin(nonce, n, aad);
    this.decryptPayload(sealed, n, out, outOff);
    return this.tagMatches(sealed, n);
  }

  wipe(): void {
    this.aes.wipe();
    this.state.fill(0);
    this.block.fill(0);
  }

  /**
   * B0 and the associated data through the CBC-MAC (SP 800-38C §A.2.1, §A.2.2; RFC 3610
   * §2.2), leaving Y and A0 in `this.state`.
   */
  private begin(nonce: Uint8Array, payloadBytes: number, aad: Uint8Array): void {
    const nonceBytes = nonce.length;
    const q = 15 - nonceBytes;
    // B0 and A0 both carry the nonce in bytes 1..nonceBytes, so word j holds nonce bytes 4j − 1 … 4j + 2.
    const x0 = wordLeWithin(nonce, -1, nonceBytes);
    const x1 = wordLeWithin(nonce, 3, nonceBytes);
    const x2 = wordLeWithin(nonce, 7, nonceBytes);
    const x3 = wordLeWithin(nonce, 11, nonceBytes);
    // B0 = flags ‖ N ‖ Q. Flags: bit 6 Adata, bits 5–3 (t − 2)/2, bits 2–0 q − 1. Q is the payload
    // length big-endian in the last q octets: as a 64-bit big-endian number in bytes 8–15 it is zero
    // wherever the nonce is (checkCall keeps it below 2^(8q)), so its two halves OR into words 2 and 3.
    const aes = this.aes;
    const o = aes.out;
    aes.encryptWords(
      x0 | (aad.length > 0 ? 0x40 : 0) | this.tagFlags | (q - 1),
      x1,
      x2 | bswap32(Math.floor(payloadBytes / 0x1_0000_0000)),
      x3 | bswap32(payloadBytes >>> 0),
    );
    let m0 = o[0]!;
    let m1 = o[1]!;
    let m2 = o[2]!;
    let m3 = o[3]!;
    const a = aad.length;
    if (a > 0) {
      // §A.2.2: the encoding of a, then the data, zero-padded to whole blocks. The encoding is 2, 6
      // or 10 octets; its words (e0..e2) go into the first block, and the data is read as the
      // stream that starts `prefix` bytes before aad[0].
      const prefix = ccmAadPrefixBytes(a);
      let e0: number;
      let e1 = 0;
      let e2 = 0;
      if (prefix === 2) {
        e0 = (a >>> 8) | ((a & 0xff) << 8);
      } else {
        const b = this.block;
        b.fill(0);
        b[0] = 0xff;
        b[1] = prefix === 6 ? 0xfe : 0xff;
        let len = a;
        for (let i = prefix - 1; i >= 2; i--) {
          b[i] = len & 0xff;
          len = Math.floor(len / 256);
        }
        e0 = wordLe(b, 0);
        e1 = wordLe(b, 4);
        e2 = wordLe(b, 8);
      }
      for (let off = -prefix; off < a; off += AES_BLOCK_BYTES) {
        aes.encryptWords(
          m0 ^ e0 ^ wordLeWithin(aad, off, a),
          m1 ^ e1 ^ wordLeWithin(aad, off + 4, a),
          m2 ^ e2 ^ wordLeWithin(aad, off + 8, a),
          m3 ^ wordLeWithin(aad, off + 12, a),
        );
        m0 = o[0]!;
        m1 = o[1]!;
        m2 = o[2]!;
        m3 = o[3]!;
        e0 = 0;
        e1 = 0;
        e2 = 0;
      }
    }
    const st = this.state;
    st[0] = m0;
    st[1] = m1;
    st[2] = m2;
    st[3] = m3;
    // A0 = flags' ‖ N ‖ 0^q with flags' = q − 1 (§A.3); counters i ≥ 1 are OR-ed into the
    // top bytes of word 3 by the payload passes.
    st[4] = x0 | (q - 1);
    st[5] = x1;
    st[6] = x2;
    st[7] = x3;
  }

  /**
   * The payload through CBC-MAC and CTR in one pass (SP 800-38C §6.1 steps 4–7): for
   * block i, Y_i = CIPH_K(P_i ⊕ Y_{i−1}) and C_i = P_i ⊕ CIPH_K(A_i).
   */
  private encryptPayload(pt: Uint8Array, n: number, out: Uint8Array, outOff: number): void {
    const aes = this.aes;
    const o = aes.out;
    const st = this.state;
    let m0 = st[0]!;
    let m1 = st[1]!;
    let m2 = st[2]!;
    let m3 = st[3]!;
    const a0 = st[4]!;
    const a1 = st[5]!;
    const a2 = st[6]!;
    const a3 = st[7]!;
    const full = Math.floor(n / AES_BLOCK_BYTES);
    let off = 0;
    // Counter i < 2^32 always (a payload is < 2^36 bytes), so it lives in word 3 alone;
    // with q < 4 the length check keeps it inside the q counter octets.
    for (let i = 1; i <= full; i++, off += 16) {
      const p0 = wordLe(pt, off);
      const p1 = wordLe(pt, off + 4);
      const p2 = wordLe(pt, off + 8);
      const p3 = wordLe(pt, off + 12);
      aes.encryptWords(m0 ^ p0, m1 ^ p1, m2 ^ p2, m3 ^ p3);
      m0 = o[0]!;
      m1 = o[1]!;
      m2 = o[2]!;
      m3 = o[3]!;
      aes.encryptWords(a0, a1, a2, a3 | bswap32(i));
      const d = outOff + off;
      putWordLe(out, d, p0 ^ o[0]!);
      putWordLe(out, d + 4, p1 ^ o[1]!);
      putWordLe(out, d + 8, p2 ^ o[2]!);
      putWordLe(out, d + 12, p3 ^ o[3]!);
    }
    if (off < n) {
      // Last partial block: zero-padded for the MAC (§A.2.3), truncated keystream for CTR (§6.1 step 7).
      const p0 = wordLeWithin(pt, off, n);
      const p1 = wordLeWithin(pt, off + 4, n);
      const p2 = wordLeWithin(pt, off + 8, n);
      const p3 = wordLeWithin(pt, off + 12, n);
      aes.encryptWords(m0 ^ p0, m1 ^ p1, m2 ^ p2, m3 ^ p3);
      m0 = o[0]!;
      m1 = o[1]!;
      m2 = o[2]!;
      m3 = o[3]!;
      aes.encryptWords(a0, a1, a2, a3 | bswap32(full + 1));
      const d = outOff + off;
      const end = outOff + n;
      putWordLeWithin(out, d, p0 ^ o[0]!, end);
      putWordLeWithin(out, d + 4, p1 ^ o[1]!, end);
      putWordLeWithin(out, d + 8, p2 ^ o[2]!, end);
      putWordLeWithin(out, d + 12, p3 ^ o[3]!, end);
    }
    st[0] = m0;
    st[1] = m1;
    st[2] = m2;
    st[3] = m3;
  }

  /** The inverse pass (SP 800-38C §6.2 steps 5–8): P_i = C_i ⊕ CIPH_K(A_i), then the CBC-MAC over P. */
  private decryptPayload(ct: Uint8Array, n: number, out: Uint8Array, outOff: number): void {
    const aes = this.aes;
    const o = aes.out;
    const st = this.state;
    let m0 = st[0]!;
    let m1 = st[1]!;
    let m2 = st[2]!;
    let m3 = st[3]!;
    const a0 = st[4]!;
    const a1 = st[5]!;
    const a2 = st[6]!;
    const a3 = st[7]!;
    const full = Math.floor(n / AES_BLOCK_BYTES);
    let off = 0;
    for (let i = 1; i <= full; i++, off += 16) {
      aes.encryptWords(a0, a1, a2, a3 | bswap32(i));
      const p0 = wordLe(ct, off) ^ o[0]!;
      const p1 = wordLe(ct, off + 4) ^ o[1]!;
      const p2 = wordLe(ct, off + 8) ^ o[2]!;
      const p3 = wordLe(ct, off + 12) ^ o[3]!;
      const d = outOff + off;
      putWordLe(out, d, p0);
      putWordLe(out, d + 4, p1);
      putWordLe(out, d + 8, p2);
      putWordLe(out, d + 12, p3);
      aes.encryptWords(m0 ^ p0, m1 ^ p1, m2 ^ p2, m3 ^ p3);
      m0 = o[0]!;
      m1 = o[1]!;
      m2 = o[2]!;
      m3 = o[3]!;
    }
    if (off < n) {
      // The keystream past the ciphertext's end is masked off, so the MAC sees P zero-padded (§A.2.3).
      aes.encryptWords(a0, a1, a2, a3 | bswap32(full + 1));
      const p0 = (wordLeWithin(ct, off, n) ^ o[0]!) & maskWithin(off, n);
      const p1 = (wordLeWithin(ct, off + 4, n) ^ o[1]!) & maskWithin(off + 4, n);
      const p2 = (wordLeWithin(ct, off + 8, n) ^ o[2]!) & maskWithin(off + 8, n);
      const p3 = (wordLeWithin(ct, off + 12, n) ^ o[3]!) & maskWithin(off + 12, n);
      const d = outOff + off;
      const end = outOff + n;
      putWordLeWithin(out, d, p0, end);
      putWordLeWithin(out, d + 4, p1, end);
      putWordLeWithin(out, d + 8, p2, end);
      putWordLeWithin(out, d + 12, p3, end);
      aes.encryptWords(m0 ^ p0, m1 ^ p1, m2 ^ p2, m3 ^ p3);
      m0 = o[0]!;
      m1 = o[1]!;
      m2 = o[2]!;
      m3 = o[3]!;
    }
    st[0] = m0;
    st[1] = m1;
    st[2] = m2;
    st[3] = m3;
  }

  /** S0 = CIPH_K(A0) into `aes.out`, so that T ⊕ S0 is state[j] ⊕ out[j] (SP 800-38C §6.1 step 8). */
  private maskTag(): void {
    const st = this.state;
    this.aes.encryptWords(st[4]!, st[5]!, st[6]!, st[7]!);
  }

  /** The first tagLength bytes of T ⊕ S0 to `out` at `at` (§6.1 step 8: MSB_Tlen). */
  private writeTag(out: Uint8Array, at: number): void {
    this.maskTag();
    const st = this.state;
    const o = this.aes.out;
    const end = at + this.tagLength;
    putWordLeWithin(out, at, st[0]! ^ o[0]!, end);
    putWordLeWithin(out, at + 4, st[1]! ^ o[1]!, end);
    putWordLeWithin(out, at + 8, st[2]! ^ o[2]!, end);
    putWordLeWithin(out, at + 12, st[3]! ^ o[3]!, end);
    this.wipeState();
  }

  /**
   * Constant-time comparison of the computed tag with the received one at `sealed[at…]`
   * (SP 800-38C §6.2 step 10): all four words are always compared and folded into one
   * accumulator, the bytes past the tag length masked off; what the loop does depends on
   * the (public) lengths only, never on where a difference is.
   */
  private tagMatches(sealed: Uint8Array, at: number): boolean {
    this.maskTag();
    const st = this.state;
    const o = this.aes.out;
    const end = at + this.tagLength;
    let diff = 0;
    for (let j = 0; j < 4; j++) {
      const i = at + 4 * j;
      diff |= (st[j]! ^ o[j]! ^ wordLeWithin(sealed, i, end)) & maskWithin(i, end);
    }
    this.wipeState();
    return diff === 0;
  }

  /** Clear the MAC state, A0 and the cipher's last output (S0), so no intermediate value outlives the call. */
  private wipeState(): void {
    const st = this.state;
    const o = this.aes.out;
    for (let j = 0; j < 8; j++) st[j] = 0;
    for (let j = 0; j < 4; j++) o[j] = 0;
  }
}
