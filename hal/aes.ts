// AesEngine: the chip's AES-128 block cipher (the KW31Z's LTC).
// Not a mode of operation: CCM and CMAC are built over this in src/crypto.

import type { HalResult } from './result.ts';

/** Blocking like the SDK's LTC_AES_EncryptEcb: one block is a few hundred cycles. */
export interface AesEngine {
  /** Load a 16-byte key (expanded once, kept in the engine). */
  setKey(key: Uint8Array): HalResult;
  /** Encrypt one 16-byte block from `input` into `output` (may be the same array). */
  encryptBlock(input: Uint8Array, output: Uint8Array): HalResult;
}
