// The HAL's one small error union and result type (after Tock's ErrorCode).
// Not for impossible states: those throw. Expected failures are values.

export type HalErrorCode =
  | 'busy' // an operation is already in progress
  | 'invalid' // a parameter is outside what the hardware accepts
  | 'size' // a length or address range is wrong
  | 'off' // the peripheral is not powered or not started
  | 'already' // the requested state already holds
  | 'nosupport' // this target does not have the capability
  | 'bits' // flash: programming would need a 0→1 transition
  | 'fail'; // the operation was attempted and failed

export type HalResult<T = void> = { ok: true; value: T } | { ok: false; code: HalErrorCode; detail?: string };

export const ok = <T>(value: T): HalResult<T> => ({ ok: true, value });
export const okVoid: HalResult<void> = { ok: true, value: undefined };
export const fail = (code: HalErrorCode, detail?: string): { ok: false; code: HalErrorCode; detail?: string } =>
  detail === undefined ? { ok: false, code } : { ok: false, code, detail };
