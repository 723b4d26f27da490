// Option parsing helpers for the `medtwin` command: numbers with units and ranges, enums.
// Not the commands themselves (main.ts): these only turn strings into checked values or coded errors.

import { MedtwinError } from '../errors.ts';

/** A finite number within [min, max], or a one-line `cli.option` error naming the option. */
export function numberOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) {
    throw new MedtwinError('cli.option', `--${name} must be a number, got "${raw}"`);
  }
  if (v < min || v > max) {
    throw new MedtwinError('cli.option', `--${name} must be between ${min} and ${max}, got ${v}`);
  }
  return v;
}

export function choiceOption<T extends string>(name: string, raw: string | undefined, fallback: T, choices: readonly T[]): T {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new MedtwinError('cli.option', `--${name} must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}
