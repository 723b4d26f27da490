// AES-128-CCM (NIST SP 800-38C, RFC 3610): the keyed hot-path class with its argument checks and
// cost charging, and the one-shot ccmEncrypt/ccmDecrypt. Not the block passes themselves
// (ccm-wasm.ts, ccm-words.ts), not CCM* (no tagless mode) and not AES-192/256.

import { AES128_KEY_BYTES, Aes128, NobleAes128 } from './aes-block.ts';
import { WASM_AVAILABLE } from './aes-wasm.ts';
import { CcmWasmPass } from './ccm-wasm.ts';
import { CcmWordPass } from './ccm-words.ts';
import { ccmBlockCount, chargeAes, type CostContext } from './cost.ts';
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
   * The AES block underneath: 'wasm' (default: the WebAssembly T-table core, aes-wasm.ts;
   * 'tables' where the engine has no WebAssembly), 'tables' (the same rounds in JS,
   * aes-block.ts Aes128) or 'noble' (noble's own block, NobleAes128). The last two run the
   * JS pass (ccm-words.ts): the reference for cross-checks and the bench's noble-block column.
   */
  readonly block?: 'wasm' | 'tables' | 'noble';
}

/**
 * One record's block work, after AesCcm has checked every argument (SP 800-38C §6.1 /
 * §6.2): formatting B0, the AAD and counter blocks, the CBC-MAC, CTR and the tag. The
 * allocating forms are separate so a pass can build its result in one step.
 */
export interface CcmPass {
  /** Ciphertext ‖ tag of `plaintext`, in a new array. */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  /** Ciphertext ‖ tag of `plaintext` to `out` at `outOff`. */
  sealInto(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, outOff: number): void;
  /** The plaintext of sealed[0, n) in a new array, or undefined when the tag at sealed[n, n + t) does not verify. */
  open(nonce: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array): Uint8Array | undefined;
  /**
   * The plaintext of sealed[0, n) to `out` at `outOff`; true when the tag verifies. On
   * false, `out` may hold unverified bytes: the caller clears them.
   */
  openInto(nonce: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array, out: Uint8Array, outOff: number): boolean;
  /** Overwrite the key schedule and any state. */
  wipe(): void;
}

const EMPTY = new Uint8Array(0);

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
 * expanded once in the constructor, a seal/open allocates only the array it returns, and
 * the `…Into` forms write into the caller's array instead.
 *
 * Why our own CCM: @noble/ciphers has no CCM (issue 3). Why two passes: bench/crypto.ts
 * measures this class against node:crypto's aes-128-ccm per record, where node's cost is
 * mostly its per-call overhead (4–6 µs up to a few hundred bytes), so ours has to be cheap
 * per call as well as per block. The JS pass (ccm-words.ts) missed the goals at 20
 * bytes and at 244-byte opens; the WebAssembly pass (aes-wasm.ts says by how much, the
 * README has the table) meets them, so it is the default. The JS pass stays as the
 * reference the tests cross-check, for engines without WebAssembly, and for the bench's
 * noble-block column.
 *
 * Byte order: nonce, AAD, plaintext, ciphertext and tag are byte strings in transmission
 * order, as SP 800-38C and RFC 3610 print them; the output is ciphertext ‖ tag (RFC 3610
 * §2.4). Not reentrant (a pass keeps one record's state); one instance per direction.
 */
export class AesCcm {
  readonly tagLength: number;
  private readonly pass: CcmPass;
  private readonly cost: CostContext | undefined;

  constructor(key: Uint8Array, tagLength: number, opts: CcmOptions = {}) {
    requireBytes('AES-128-CCM key', key, AES128_KEY_BYTES);
    checkTagLength(tagLength);
    this.tagLength = tagLength;
    const block = opts.block ?? (WASM_AVAILABLE ? 'wasm' : 'tables');
    this.pass =
      block === 'wasm' ? new CcmWasmPass(key, tagLength) : new CcmWordPass(block === 'noble' ? new NobleAes128(key) : new Aes128(key), tagLength);
    this.cost = opts.cost;
  }

  /** Encrypt and authenticate: returns ciphertext ‖ tag (plaintext.length + tagLength bytes). */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    requireUint8Array('CCM plaintext', plaintext);
    const n = plaintext.length;
    this.checkRecord(nonce, n, aad);
    const sealed = this.pass.seal(nonce, plaintext, aad);
    if (this.cost !== undefined) chargeAes(this.cost, 'ccm.seal', ccmBlockCount(n, aad.length));
    return sealed;
  }

  /**
   * `seal` into `out` at `outOffset` (needs plaintext.length + tagLength bytes there);
   * returns the number of bytes written. `out` may be `plaintext` itself at the same
   * offset (in place); other overlaps are not supported.
   */
  sealInto(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, out: Uint8Array, outOffset = 0): number {
    requireUint8Array('CCM plaintext', plaintext);
    const n = plaintext.length;
    this.checkRecord(nonce, n, aad);
    checkOutput(out, outOffset, n + this.tagLength);
    this.pass.sealInto(nonce, plaintext, aad, out, outOffset);
    if (this.cost !== undefined) chargeAes(this.cost, 'ccm.seal', ccmBlockCount(n, aad.length));
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
    const n = sealed.length - this.tagLength;
    this.checkRecord(nonce, n, aad);
    const plaintext = this.pass.open(nonce, sealed, n, aad);
    if (this.cost !== undefined) chargeAes(this.cost, 'ccm.open', ccmBlockCount(n, aad.length));
    if (plaintext === undefined) throw new CryptoError('auth', 'CCM tag does not verify');
    return plaintext;
  }

  /**
   * `open` into `out` at `outOffset` (needs sealed.length − tagLength bytes there);
   * returns the plaintext length. On `auth` failure the bytes of `out` it covers are
   * zeroed before the throw, so no unverified plaintext is left behind. `out` may be
   * `sealed` itself at the same offset.
   */
  openInto(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array, out: Uint8Array, outOffset = 0): number {
    requireUint8Array('CCM sealed message', sealed);
    const t = this.tagLength;
    if (sealed.length < t) {
      throw new CryptoError('params', `CCM sealed message must be at least the ${t}-byte tag, got ${sealed.length} bytes`);
    }
    const n = sealed.length - t;
    this.checkRecord(nonce, n, aad);
    checkOutput(out, outOffset, n);
    // In place is safe: the received tag sits after the ciphertext, outside the n bytes written.
    const ok = this.pass.openInto(nonce, sealed, n, aad, out, outOffset);
    if (this.cost !== undefined) chargeAes(this.cost, 'ccm.open', ccmBlockCount(n, aad.length));
    if (!ok) {
      for (let i = outOffset; i < outOffset + n; i++) out[i] = 0;
      throw new CryptoError('auth', 'CCM tag does not verify');
    }
    return n;
  }

  /** Overwrite the key schedule and scratch state. The instance is unusable afterwards. */
  destroy(): void {
    this.pass.wipe();
  }

  private checkRecord(nonce: Uint8Array, payloadBytes: number, aad: Uint8Array): void {
    requireUint8Array('CCM nonce', nonce);
    requireUint8Array('CCM associated data', aad);
    const nonceBytes = nonce.length;
    if (nonceBytes < CCM_MIN_NONCE_BYTES || nonceBytes > CCM_MAX_NONCE_BYTES) {
      throw new CryptoError('params', `CCM nonce must be ${CCM_MIN_NONCE_BYTES}–${CCM_MAX_NONCE_BYTES} bytes, got ${nonceBytes}`);
    }
    const max = MAX_PAYLOAD_BYTES[nonceBytes]!;
    if (payloadBytes > max) {
      throw new CryptoError(
        'params',
        `CCM message of ${payloadBytes} bytes is too long for a ${nonceBytes}-byte nonce (at most ${max} bytes with a ${15 - nonceBytes}-byte length field)`,
      );
    }
  }
}

function checkOutput(out: Uint8Array, outOffset: number, outBytes: number): void {
  requireUint8Array('CCM output', out);
  if (!Number.isInteger(outOffset) || outOffset < 0 || outOffset + outBytes > out.length) {
    throw new CryptoError('params', `CCM output needs ${outBytes} bytes at offset ${outOffset}, has ${out.length}`);
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
