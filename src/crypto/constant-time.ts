// Comparison of tags and check values without an early exit on the first differing byte.
// Not a guarantee against every timing channel: JS engines give none; this removes the obvious one.

/**
 * True when `a` and `b` hold the same bytes. The lengths are public (a tag length is a
 * protocol parameter), so a length mismatch returns false at once; equal-length inputs
 * are always read to the end and folded into one accumulator, so the time does not
 * depend on where the first difference is (RFC 3610 §2.5 and SP 800-38C §6.2 leave the
 * comparison to the implementation; this is the usual constant-time fold).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
