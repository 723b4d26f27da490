// Tests for constantTimeEqual: equal, differing at every position, different lengths, empty.
// Not a timing measurement (a unit test cannot show constant time; the code has no early exit).

import { describe, expect, it } from 'vitest';
import { constantTimeEqual } from '../../src/crypto/index.ts';

describe('constantTimeEqual', () => {
  const a = Uint8Array.from({ length: 16 }, (_, i) => i * 17);

  it('is true for equal contents in different arrays, and for two empty arrays', () => {
    expect(constantTimeEqual(a, a.slice())).toBe(true);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it.each(Array.from({ length: 16 }, (_, i) => i))('is false when byte %i differs (one bit)', (i) => {
    const b = a.slice();
    b[i]! ^= 0x01;
    expect(constantTimeEqual(a, b)).toBe(false);
  });

  it('is false for a high-bit difference and for different lengths (a prefix is not equal)', () => {
    const b = a.slice();
    b[15]! ^= 0x80;
    expect(constantTimeEqual(a, b)).toBe(false);
    expect(constantTimeEqual(a, a.subarray(0, 15))).toBe(false);
    expect(constantTimeEqual(a.subarray(0, 15), a)).toBe(false);
  });
});
