// What the pairing and session code needs from the rest of the firmware, as small interfaces:
// lockout, audit, bonds. Not their implementations (src/firmware, src/session/bond-store.ts).

import type { Role } from './roles.ts';

/** Failure kinds that count towards lockout (docs/protocol.md §8). */
export type AuthFailureKind = 'pairing' | 'passkey' | 'credential' | 'session-proof' | 'break-glass';

export interface LockoutStatus {
  readonly locked: boolean;
  /** Whole seconds until the lockout ends (rounded up); 0 when not locked. */
  readonly remainingS: number;
  readonly failures: number;
  readonly level: number;
}

/**
 * The lockout as pairing and sessions use it. Both record calls persist to flash before
 * they return, so the answer to the peer goes out only after the failure is stored.
 */
export interface LockoutPort {
  status(): LockoutStatus;
  recordFailure(kind: AuthFailureKind): LockoutStatus;
  recordSuccess(): void;
}

/** Append one audit record (docs/protocol.md §9); `role` is the actor's (undefined: the device or a local user). */
export type AuditSink = (event: number, role: Role | undefined, detail: Uint8Array) => void;

/** A bond as the session needs it. */
export interface Bond {
  readonly clientId: Uint8Array;
  readonly role: Role;
  readonly ltk: Uint8Array;
  readonly createdUs: number;
  /** Credential expiry, device clock seconds; 0 for patient bonds (no credential). */
  readonly credentialNotAfterS: number;
}

/** Looking a bond up by client id (the bond store implements it). */
export interface BondLookup {
  find(clientId: Uint8Array): Bond | undefined;
}
