// The Security Manager channel (CID 0x0006) of a stack without BLE pairing: every pairing attempt is refused with
// Pairing Failed "Pairing Not Supported" (Core v5.x Vol 3 Part H §3.5.5). Not security: that lives above BLE (src/session).

import type { HostEnv } from './trace-sink.ts';

/** SMP command codes (Vol 3 Part H §3.3, Table 3.1). */
export const SMP_CODE = {
  PAIRING_REQUEST: 0x01,
  PAIRING_RESPONSE: 0x02,
  PAIRING_CONFIRM: 0x03,
  PAIRING_RANDOM: 0x04,
  PAIRING_FAILED: 0x05,
  ENCRYPTION_INFORMATION: 0x06,
  CENTRAL_IDENTIFICATION: 0x07,
  IDENTITY_INFORMATION: 0x08,
  IDENTITY_ADDRESS_INFORMATION: 0x09,
  SIGNING_INFORMATION: 0x0a,
  SECURITY_REQUEST: 0x0b,
  PAIRING_PUBLIC_KEY: 0x0c,
  PAIRING_DHKEY_CHECK: 0x0d,
  PAIRING_KEYPRESS_NOTIFICATION: 0x0e,
} as const;

/** Pairing Failed reasons this module sends (§3.5.5, Table 3.7). */
export const SMP_REASON = {
  PAIRING_NOT_SUPPORTED: 0x05,
  INVALID_PARAMETERS: 0x0a,
} as const;

/** SMP's MTU on LE with Secure Connections (§3.2: 65 bytes); longer frames are dropped. */
export const SMP_MTU = 65;

/** Exact lengths of the commands whose length we check before answering (§3.5.1, §3.6.7). */
const EXACT_LENGTH: ReadonlyMap<number, number> = new Map([
  [SMP_CODE.PAIRING_REQUEST, 7],
  [SMP_CODE.PAIRING_RESPONSE, 7],
  [SMP_CODE.SECURITY_REQUEST, 2],
]);

/**
 * One connection's SMP channel:
 * - Pairing Failed is never answered (it ends a procedure; answering could loop);
 * - a reserved code is ignored (§3.3);
 * - any other command gets Pairing Failed 0x05 "Pairing Not Supported" (a Pairing Request
 *   or Security Request of the wrong length gets 0x0A "Invalid Parameters").
 */
export class SmpRefuser {
  constructor(
    private readonly env: HostEnv,
    private readonly conn: number,
    private readonly send: (payload: Uint8Array) => void,
  ) {}

  received(frame: Uint8Array): void {
    const code = frame[0];
    const trace = this.env.trace.wants('smp');
    if (code === undefined || frame.length > SMP_MTU || code === SMP_CODE.PAIRING_FAILED || code > SMP_CODE.PAIRING_KEYPRESS_NOTIFICATION || code === 0) {
      if (trace) this.env.trace.record(this.env.device, 'smp', 'smp.rx', { conn: this.conn, code: code ?? -1, length: frame.length, answered: false });
      return;
    }
    const exact = EXACT_LENGTH.get(code);
    const reason = exact !== undefined && exact !== frame.length ? SMP_REASON.INVALID_PARAMETERS : SMP_REASON.PAIRING_NOT_SUPPORTED;
    if (trace) {
      this.env.trace.record(this.env.device, 'smp', 'smp.rx', { conn: this.conn, code, length: frame.length, answered: true });
      this.env.trace.record(this.env.device, 'smp', 'smp.tx', { conn: this.conn, code: SMP_CODE.PAIRING_FAILED, reason });
    }
    this.send(Uint8Array.of(SMP_CODE.PAIRING_FAILED, reason));
  }
}
