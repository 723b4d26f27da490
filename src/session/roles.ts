// Roles of the secure channel and how they rank (docs/protocol.md §3.3, §6). Not the
// authorization check itself: that is the session's, against each command's declaration.

export type Role = 'patient' | 'clinician' | 'service' | 'emergency';

/** On the wire (PAIR_REQUEST, PAIR_CHECK_D, SESSION_ACCEPT, credentials, audit records). */
export const ROLE_CODES: Readonly<Record<Role, number>> = { patient: 1, clinician: 2, service: 3, emergency: 14 };

export function roleFromCode(code: number): Role | undefined {
  for (const [role, c] of Object.entries(ROLE_CODES)) if (c === code) return role as Role;
  return undefined;
}

/** patient < clinician < service for a command's least role; emergency is outside the order. */
const RANK: Readonly<Record<Exclude<Role, 'emergency'>, number>> = { patient: 1, clinician: 2, service: 3 };

/** Does `role` meet a command's least role? Emergency meets none: it passes only commands marked for it. */
export function meetsLeastRole(role: Role, least: Exclude<Role, 'emergency'>): boolean {
  return role !== 'emergency' && RANK[role] >= RANK[least];
}
