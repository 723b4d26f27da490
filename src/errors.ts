// The one error class with a `code` that the CLI prints as a single readable line.
// Not for expected failures inside firmware: those are values ({ ok: false, code }).

export class MedtwinError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'MedtwinError';
    this.code = code;
  }
}

export function isMedtwinError(e: unknown): e is MedtwinError {
  return e instanceof MedtwinError;
}
