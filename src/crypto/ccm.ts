// AES-128-CCM (NIST SP 800-38C, RFC 3610) over the raw AES block: a keyed hot-path class and
// the one-shot ccmEncrypt/ccmDecrypt. Not CCM* (no tagless mode) and not AES-192/256.

import { AES128_KEY_BYTES, AES_BLOCK_BYTES, Aes128, NobleAes128, bswap32, putWordLe, wordLe, type AesWordCipher } from './aes-block.ts';
import { ccmAadPrefixBytes, ccmBlockCount, chargeAes, type CostContext } from './cost.ts';
import { CryptoError, requireBytes, requireUint8Array } from './errors.ts';

/** SP 800-38C §A.1: Tlen ∈ {32, 48, 64, 80, 96, 112, 128} bits. */
export const CCM_TAG_LENGTHS: readonly number[] = [4, 6, 8, 10, 12, 14, 16];
/** SP 800-38C §A.1: Nlen ∈ {56, …, 104} bits, i.e. 7–13 octets; q = 15 − n octets of length field. */
export const CCM_MIN_NONCE_BYTES = 7;
export const CCM_MAX_NONCE_BYTES = 13;

export interface CcmOptions {
  /** Charge each seal/open to this device's ledger (cost.ts). */
  readonly cost?: CostContext;
  /**
   * The AES block underneath: 'tables' (default, aes-block.ts Aes128) or 'noble'
   * (noble's own block, NobleAes128) — the reference for cross-checks and the bench.
   */
  readonly block?: 'tables' | 'noble';
}

const EMPTY = new Uint8Array(0);

/*
 * Small copies and fills are byte loops, not TypedArray set/fill/subarray: for the 1–16
 * bytes a record's blocks need, each builtin call (and each subarray object) costs more
 * than the loop, and at 20-byte records that overhead, not AES, is what a call spends.
 */
function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, len: number): void {
  for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i]!;
}

function zeroBytes(dst: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) dst[i] = 0;
}

function checkTagLength(tagLength: number): void {
  if (!CCM_TAG_LENGTHS.includes(tagLength)) {
    throw new CryptoError('params', `CCM tag length must be one of ${CCM_TAG_LENGTHS.join(', ')} bytes, got ${tagLength}`);
  }
}

/** MAX_PAYLOAD_BYTES[n] = 2^(8(15 − n)) − 1 for n = 7..13, computed once (not per record). */
const MAX_PAYLOAD_BYTES: readonly number[] = Array.from({ length: 14 }, (_, n) => 2 ** (8 * (15 - n)) - 1);

/** The largest payload the nonce length allows: Plen < 2^(8q) octets, q = 15 − n (SP 800-38C §A.1, RFC 3610 §2). */
export function ccmMaxPayloadBytes(nonceBytes: number): number {
  if (!Number.isInteger(nonceBytes) || nonceBytes < CCM_MIN_NONCE_BYTES || nonceBytes > CCM_MAX_NONCE_BYTES) {
    throw new CryptoError('params', `CCM nonce must be ${CCM_MIN_NONCE_BYTES}–${CCM_MAX_NONCE_BYTES} bytes, got ${nonceBytes}`);
  }
  return MAX_PAYLOAD_BYTES[nonceBytes]!;
}

/**
 * AES-128-CCM with one key and one tag length, for the record hot path: the key is
 * expanded once in the constructor and a seal/open allocates nothing per block (the
 * block state lives in locals and two 16-byte scratch arrays owned by the instance). The
 * `…Into` forms allocate nothing at all.
 *
 * Byte order: nonce, AAD, plaintext, ciphertext and tag are byte strings in transmission
 * order, as SP 800-38C and RFC 3610 print them; the output is ciphertext ‖ tag (RFC 3610
 * §2.4). Not reentrant (the scratch state is per instance); one instance per direction.
 */
export class AesCcm {
  readonly tagLength: number;
  private readonly aes: AesWordCipher;
  private readonly cost: CostContext | undefined;
  /** Scratch block for formatting B0 / A0 / header bytes and partial blocks. */
  private readonly block = new Uint8Array(AES_BLOCK_BYTES);
  /** The CBC-MAC chaining value between phases (SP 800-38C §6.1 step 4: Y_i). */
  private readonly mac = new Int32Array(4);

  constructor(key: Uint8Array, tagLength: number, opts: CcmOptions = {}) {
    requireBytes('AES-128-CCM key', key, AES128_KEY_BYTES);
    checkTagLength(tagLength);
    this.tagLength = tagLength;
    this.aes = opts.block === 'noble' ? new NobleAes128(key) : new Aes128(key);
    this.cost = opts.cost;
  }

  /** Encrypt and authenticate: returns ciphertext ‖ tag (plaintext.length + tagLength bytes). */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    requireUint8Array('CCM plaintext', plaintext);
    const out = new Uint8Array(plaintext.length + this.tagLength);
    this.sealInto(nonce, plaintext, aad, out, 0);
    return out;
  }

  /**
   * `seal` into `out` at `outOffset` (needs plaintext.length + tagLength bytes there);
   * returns the number of bytes written. `out` may be `plaintext` itself at the same
   * offset (in place); other overlaps are not supported.
   */
  sealInto(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, outOffset = 0): number {
    requireUint8Array('CCM plaintext', plaintext);
    const n = plaintext.length;
    this.checkCall(nonce, n, aad, out, outOffset, n + this.tagLength);
    this.start(nonce, n, aad);
    this.encryptPayload(plaintext, out, outOffset);
    this.finishTag(out, outOffset + n);
    chargeAes(this.cost, 'ccm.seal', ccmBlockCount(n, aad.length));
    return n + this.tagLength;
  }

  /**
   * Decrypt and verify ciphertext ‖ tag: returns the plaintext, or throws `auth` when the
   * tag does not verify (SP 800-38C §6.2 step 10: return INVALID and nothing else).
   */
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    requireUint8Array('CCM sealed message', sealed);
    if (sealed.length < this.tagLength) {
      throw new CryptoError('params', `CCM sealed message must be at least the ${this.tagLength}-byte tag, got ${sealed.length} bytes`);
    }
    const out = new Uint8Array(sealed.length - this.tagLength);
    this.openInto(nonce, sealed, aad, out, 0);
    return out;
  }

  /**
   * `open` into `out` at `outOffset` (needs sealed.length − tagLength bytes there);
   * returns the plaintext length. On `auth` failure the bytes written to `out` are zeroed
   * before the throw, so no unverified plaintext is left behind. `out` may be `sealed`
   * itself at the same offset.
   */
  openInto(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array, out: Uint8Array, outOffset = 0): number {
    requireUint8Array('CCM sealed message', sealed);
    const t = this.tagLength;
    if (sealed.length < t) {
      throw new CryptoError('params', `CCM sealed message must be at least the ${t}-byte tag, got ${sealed.length} bytes`);
    }
    const n = sealed.length - t;
    this.checkCall(nonce, n, aad, out, outOffset, n);
    // In place is safe: the received tag sits after the ciphertext, outside the n bytes written.
    this.start(nonce, n, aad);
    this.decryptPayload(sealed, n, out, outOffset);
    const ok = this.verifyTag(sealed, n);
    chargeAes(this.cost, 'ccm.open', ccmBlockCount(n, aad.length));
    if (!ok) {
      zeroBytes(out, outOffset, outOffset + n);
      throw new CryptoError('auth', 'CCM tag does not verify');
    }
    return n;
  }

  /** Overwrite the key schedule and scratch state. The instance is unusable afterwards. */
  destroy(): void {
    this.aes.wipe();
    zeroBytes(this.block, 0, AES_BLOCK_BYTES);
    this.mac.fill(0);
  }

  private checkCall(nonce: Uint8Array, payloadBytes: number, aad: Uint8Array, out: Uint8Array, outOffset: number, outBytes: number): void {
    requireUint8Array('CCM nonce', nonce);
    requireUint8Array('CCM associated data', aad);
    requireUint8Array('CCM output', out);
    const nonceBytes = nonce.length;
    if (nonceBytes < CCM_MIN_NONCE_BYTES || nonceBytes > CCM_MAX_NONCE_BYTES) {
      throw new CryptoError('params', `CCM nonce must be ${CCM_MIN_NONCE_BYTES}–${CCM_MAX_NONCE_BYTES} bytes, got ${nonceBytes}`);
    }
    const max = ccmMaxPayloadBytes(nonceBytes);
    if (payloadBytes > max) {
      throw new CryptoError(
        'params',
        `CCM message of ${payloadBytes} bytes is too long for a ${nonceBytes}-byte nonce (at most ${max} bytes with a ${15 - nonceBytes}-byte length field)`,
      );
    }
    if (!Number.isInteger(outOffset) || outOffset < 0 || outOffset + outBytes > out.length) {
      throw new CryptoError('params', `CCM output needs ${outBytes} bytes at offset ${outOffset}, has ${out.length}`);
    }
  }

  /**
   * B0 and the associated data into the CBC-MAC (SP 800-38C §A.2.1, §A.2.2; RFC 3610
   * §2.2), leaving the chaining value in `this.mac`, and A0's words in `this.block`.
   */
  private start(nonce: Uint8Array, payloadBytes: number, aad: Uint8Array): void {
    const b = this.block;
    const nonceBytes = nonce.length;
    const q = 15 - nonceBytes;
    // B0 = flags ‖ N ‖ Q. Flags: bit 6 Adata, bits 5–3 (t−2)/2, bits 2–0 q−1.
    b[0] = (aad.length > 0 ? 0x40 : 0) | (((this.tagLength - 2) / 2) << 3) | (q - 1);
    copyBytes(b, 1, nonce, 0, nonceBytes);
    // Q: the payload length, big-endian in q octets (q ≥ 2; a length < 2^53 fits in the low 7).
    let len = payloadBytes;
    for (let i = 15; i > nonceBytes; i--) {
      b[i] = len & 0xff;
      len = Math.floor(len / 256);
    }
    const aes = this.aes;
    const o = aes.out;
    aes.encryptWords(wordLe(b, 0), wordLe(b, 4), wordLe(b, 8), wordLe(b, 12));
    const mac = this.mac;
    mac[0] = o[0]!;
    mac[1] = o[1]!;
    mac[2] = o[2]!;
    mac[3] = o[3]!;
    if (aad.length > 0) this.absorbAad(aad);
    // A0 = flags' ‖ N ‖ 0^q with flags' = q − 1 (§A.3); counters i ≥ 1 are OR-ed into the
    // top bytes of word 3 by the payload loops.
    b[0] = q - 1;
    copyBytes(b, 1, nonce, 0, nonceBytes);
    zeroBytes(b, 1 + nonceBytes, AES_BLOCK_BYTES);
  }

  /** SP 800-38C §A.2.2: encode a, then the associated data, zero-padded to whole blocks. */
  private absorbAad(aad: Uint8Array): void {
    const b = this.block;
    const a = aad.length;
    const prefix = ccmAadPrefixBytes(a);
    let pos: number;
    if (prefix === 2) {
      b[0] = a >>> 8;
      b[1] = a & 0xff;
      pos = 2;
    } else if (prefix === 6) {
      b[0] = 0xff;
      b[1] = 0xfe;
      b[2] = a >>> 24;
      b[3] = (a >>> 16) & 0xff;
      b[4] = (a >>> 8) & 0xff;
      b[5] = a & 0xff;
      pos = 6;
    } else {
      b[0] = 0xff;
      b[1] = 0xff;
      let len = a;
      for (let i = 9; i >= 2; i--) {
        b[i] = len & 0xff;
        len = Math.floor(len / 256);
      }
      pos = 10;
    }
    let i = 0;
    while (i < a) {
      const take = Math.min(AES_BLOCK_BYTES - pos, a - i);
      copyBytes(b, pos, aad, i, take);
      i += take;
      pos += take;
      if (pos === AES_BLOCK_BYTES || i === a) {
        zeroBytes(b, pos, AES_BLOCK_BYTES);
        this.macBlock(b);
        pos = 0;
      }
    }
  }

  /** Y_i = CIPH_K(B_i ⊕ Y_{i−1}) for one formatted block in `blockBytes`. */
  private macBlock(blockBytes: Uint8Array): void {
    const mac = this.mac;
    const aes = this.aes;
    aes.encryptWords(
      mac[0]! ^ wordLe(blockBytes, 0),
      mac[1]! ^ wordLe(blockBytes, 4),
      mac[2]! ^ wordLe(blockBytes, 8),
      mac[3]! ^ wordLe(blockBytes, 12),
    );
    const o = aes.out;
    mac[0] = o[0]!;
    mac[1] = o[1]!;
    mac[2] = o[2]!;
    mac[3] = o[3]!;
  }

  /**
   * The payload through CBC-MAC and CTR in one pass (SP 800-38C §6.1 steps 4–7): for
   * block i, Y_i = CIPH_K(P_i ⊕ Y_{i−1}) and C_i = P_i ⊕ CIPH_K(A_i).
   */
  private encryptPayload(pt: Uint8Array, out: Uint8Array, outOff: number): void {
    const n = pt.length;
    const aes = this.aes;
    const o = aes.out;
    const b = this.block;
    const a0 = wordLe(b, 0);
    const a1 = wordLe(b, 4);
    const a2 = wordLe(b, 8);
    const a3 = wordLe(b, 12);
    const mac = this.mac;
    let m0 = mac[0]!;
    let m1 = mac[1]!;
    let m2 = mac[2]!;
    let m3 = mac[3]!;
    const full = n >>> 4;
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
    const rest = n - off;
    if (rest > 0) {
      // Last partial block: zero-padded for the MAC (§A.2.3), truncated keystream for CTR (§6.1 step 7).
      copyBytes(b, 0, pt, off, rest);
      zeroBytes(b, rest, AES_BLOCK_BYTES);
      const p0 = wordLe(b, 0);
      const p1 = wordLe(b, 4);
      const p2 = wordLe(b, 8);
      const p3 = wordLe(b, 12);
      aes.encryptWords(m0 ^ p0, m1 ^ p1, m2 ^ p2, m3 ^ p3);
      m0 = o[0]!;
      m1 = o[1]!;
      m2 = o[2]!;
      m3 = o[3]!;
      aes.encryptWords(a0, a1, a2, a3 | bswap32(full + 1));
      putWordLe(b, 0, p0 ^ o[0]!);
      putWordLe(b, 4, p1 ^ o[1]!);
      putWordLe(b, 8, p2 ^ o[2]!);
      putWordLe(b, 12, p3 ^ o[3]!);
      copyBytes(out, outOff + off, b, 0, rest);
    }
    mac[0] = m0;
    mac[1] = m1;
    mac[2] = m2;
    mac[3] = m3;
    // Restore A0 for finishTag (the partial block overwrote the scratch).
    putWordLe(b, 0, a0);
    putWordLe(b, 4, a1);
    putWordLe(b, 8, a2);
    putWordLe(b, 12, a3);
  }

  /** The inverse pass (SP 800-38C §6.2 steps 5–8): P_i = C_i ⊕ CIPH_K(A_i), then the CBC-MAC over P. */
  private decryptPayload(ct: Uint8Array, n: number, out: Uint8Array, outOff: number): void {
    const aes = this.aes;
    const o = aes.out;
    const b = this.block;
    const a0 = wordLe(b, 0);
    const a1 = wordLe(b, 4);
    const a2 = wordLe(b, 8);
    const a3 = wordLe(b, 12);
    const mac = this.mac;
    let m0 = mac[0]!;
    let m1 = mac[1]!;
    let m2 = mac[2]!;
    let m3 = mac[3]!;
    const full = n >>> 4;
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
    const rest = n - off;
    if (rest > 0) {
      aes.encryptWords(a0, a1, a2, a3 | bswap32(full + 1));
      copyBytes(b, 0, ct, off, rest);
      zeroBytes(b, rest, AES_BLOCK_BYTES);
      putWordLe(b, 0, wordLe(b, 0) ^ o[0]!);
      putWordLe(b, 4, wordLe(b, 4) ^ o[1]!);
      putWordLe(b, 8, wordLe(b, 8) ^ o[2]!);
      putWordLe(b, 12, wordLe(b, 12) ^ o[3]!);
      // Keystream beyond the ciphertext is not plaintext: the MAC pads P with zeros (§A.2.3).
      zeroBytes(b, rest, AES_BLOCK_BYTES);
      copyBytes(out, outOff + off, b, 0, rest);
      aes.encryptWords(m0 ^ wordLe(b, 0), m1 ^ wordLe(b, 4), m2 ^ wordLe(b, 8), m3 ^ wordLe(b, 12));
      m0 = o[0]!;
      m1 = o[1]!;
      m2 = o[2]!;
      m3 = o[3]!;
    }
    mac[0] = m0;
    mac[1] = m1;
    mac[2] = m2;
    mac[3] = m3;
    putWordLe(b, 0, a0);
    putWordLe(b, 4, a1);
    putWordLe(b, 8, a2);
    putWordLe(b, 12, a3);
  }

  /** T ⊕ S0 with S0 = CIPH_K(A0), MSB_Tlen (SP 800-38C §6.1 step 8), left in `this.block`. */
  private tagBlock(): void {
    const b = this.block;
    const aes = this.aes;
    aes.encryptWords(wordLe(b, 0), wordLe(b, 4), wordLe(b, 8), wordLe(b, 12));
    const o = aes.out;
    const mac = this.mac;
    putWordLe(b, 0, mac[0]! ^ o[0]!);
    putWordLe(b, 4, mac[1]! ^ o[1]!);
    putWordLe(b, 8, mac[2]! ^ o[2]!);
    putWordLe(b, 12, mac[3]! ^ o[3]!);
  }

  private finishTag(out: Uint8Array, at: number): void {
    this.tagBlock();
    copyBytes(out, at, this.block, 0, this.tagLength);
    this.wipeState();
  }

  /** Constant-time comparison of the computed tag with the received one (SP 800-38C §6.2 step 10). */
  private verifyTag(sealed: Uint8Array, at: number): boolean {
    this.tagBlock();
    const b = this.block;
    let diff = 0;
    for (let i = 0; i < this.tagLength; i++) diff |= b[i]! ^ sealed[at + i]!;
    this.wipeState();
    return diff === 0;
  }

  /** Clear the tag block and MAC state so no intermediate value outlives the call. */
  private wipeState(): void {
    zeroBytes(this.block, 0, AES_BLOCK_BYTES);
    const mac = this.mac;
    mac[0] = 0;
    mac[1] = 0;
    mac[2] = 0;
    mac[3] = 0;
  }
}

/** One-shot AES-128-CCM encryption: returns ciphertext ‖ tag (SP 800-38C §6.1, RFC 3610 §2). */
export function ccmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  tagLength: number,
  opts: CcmOptions = {},
): Uint8Array {
  const ccm = new AesCcm(key, tagLength, opts);
  try {
    return ccm.seal(nonce, plaintext, aad);
  } finally {
    ccm.destroy();
  }
}

/**
 * One-shot AES-128-CCM decryption of ciphertext ‖ tag: returns the plaintext, throws `auth`
 * when the tag does not verify and `params` for a bad key, nonce, tag length or length.
 */
export function ccmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
  tagLength: number,
  opts: CcmOptions = {},
): Uint8Array {
  const ccm = new AesCcm(key, tagLength, opts);
  try {
    return ccm.open(nonce, sealed, aad);
  } finally {
    ccm.destroy();
  }
}
