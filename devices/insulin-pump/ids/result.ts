// Result values of the IDS codec: the one failure shape every decoder returns (DESIGN §7).
// Not the procedure logic that turns a failure into a Response Code or an ATT error: the therapy machine does.

/**
 * Why bytes were refused. The reaction differs per code (IDS v1.0.2 §1.3, §1.8, §3.11.4):
 * - 'prohibited': a non-Hamming value or a prohibited range: ignore the message, send no indication.
 * - 'opcode': an RFU (Hamming) op code: answer "Op Code not supported".
 * - 'operand' / 'length': answer "Invalid Operand" (or the `responseCode` given).
 * - 'crc' / 'counter': ATT error 0x81 / 0x82, no procedure starts.
 */
export type IdsCode = 'length' | 'prohibited' | 'opcode' | 'operand' | 'crc' | 'counter';

export interface IdsFailure {
  readonly ok: false;
  readonly code: IdsCode;
  readonly detail: string;
  /** The op code of the refused request when it could be read (a Response Code names it). */
  readonly opCode?: number;
  /** The Response Code Value the server should answer with, when the codec knows it (e.g. RACP 0x04). */
  readonly responseCode?: number;
}

export type IdsResult<T> = { readonly ok: true; readonly value: T; readonly counter?: number } | IdsFailure;

export const fail = (code: IdsCode, detail: string, extra?: { opCode?: number; responseCode?: number }): IdsFailure => ({
  ok: false,
  code,
  detail,
  ...(extra?.opCode !== undefined ? { opCode: extra.opCode } : {}),
  ...(extra?.responseCode !== undefined ? { responseCode: extra.responseCode } : {}),
});

export const ok = <T>(value: T): IdsResult<T> => ({ ok: true, value });

/**
 * Internal: thrown inside a decoder and caught at its public boundary, so that field readers can stop
 * at the first fault. Never escapes a public decoder.
 */
export class Reject {
  constructor(
    readonly code: IdsCode,
    readonly detail: string,
    readonly responseCode?: number,
  ) {}
}

export const hex2 = (v: number): string => '0x' + v.toString(16).padStart(2, '0');
export const hex4 = (v: number): string => '0x' + v.toString(16).padStart(4, '0');
