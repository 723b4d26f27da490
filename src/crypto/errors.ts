// The crypto core's one typed error: a MedtwinError whose `code` says which check failed.
// Not for budget overruns (budget.ts throws its own 'budget' code) and never carries key material.

import { MedtwinError } from '../errors.ts';

/**
 * - `auth`: a tag or check value did not verify (nothing decrypted is returned);
 * - `params`: a length or parameter is outside what the construction allows;
 * - `point`: a peer's P-256 public key is not a valid point on the curve.
 */
export type CryptoErrorCode = 'auth' | 'params' | 'point';

export class CryptoError extends MedtwinError {
  declare readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string) {
    super(code, message);
    this.name = 'CryptoError';
  }
}

/** Throws `params` unless `bytes` is a Uint8Array of exactly `length` bytes. */
export function requireBytes(what: string, bytes: Uint8Array, length: number): void {
  if (!(bytes instanceof Uint8Array)) throw new CryptoError('params', `${what} must be a Uint8Array, got ${typeof bytes}`);
  if (bytes.length !== length) throw new CryptoError('params', `${what} must be ${length} bytes, got ${bytes.length}`);
}

/** Throws `params` unless `bytes` is a Uint8Array (any length). */
export function requireUint8Array(what: string, bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array)) throw new CryptoError('params', `${what} must be a Uint8Array, got ${typeof bytes}`);
}
