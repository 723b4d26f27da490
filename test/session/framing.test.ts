import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAGMENT_MORE, fragment, MAX_MESSAGE_BYTES, Reassembler } from '../../src/session/framing.ts';

const bytes = (...b: number[]) => Uint8Array.from(b);

describe('fragments (docs/protocol.md §2.2)', () => {
  it('cuts a message to the value size, flagging all but the last', () => {
    const f = fragment(bytes(1, 2, 3, 4, 5), 3);
    expect(f).toEqual([bytes(0x80, 1, 2), bytes(0x80, 3, 4), bytes(0x00, 5)]);
    expect(fragment(new Uint8Array(0), 20)).toEqual([bytes(0x00)]);
    // ATT_MTU 23 → 20-byte values → 19 payload bytes per fragment.
    expect(fragment(new Uint8Array(38), 20).map((x) => x.length)).toEqual([20, 20]);
    expect(fragment(new Uint8Array(39), 20).map((x) => x[0])).toEqual([FRAGMENT_MORE, FRAGMENT_MORE, 0]);
  });

  it('reassembles whatever the value size (seeded property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_MESSAGE_BYTES }), fc.integer({ min: 2, max: 244 }), (msg, size) => {
        const r = new Reassembler();
        const results = fragment(msg, size).map((f) => r.push(f));
        expect(results.slice(0, -1).every((x) => x.kind === 'partial')).toBe(true);
        expect(results.at(-1)).toEqual({ kind: 'message', message: msg });
      }),
      { seed: 2026, numRuns: 300 },
    );
  });

  it('drops a message over 1,024 bytes whole, skips its remaining fragments, and takes the next one', () => {
    const r = new Reassembler();
    const big = new Uint8Array(MAX_MESSAGE_BYTES + 1);
    const parts = [...fragment(big.subarray(0, MAX_MESSAGE_BYTES), 244)];
    // Turn the last fragment into a "more" one and add one more byte after it.
    parts[parts.length - 1]![0] = FRAGMENT_MORE;
    const results = [...parts, bytes(FRAGMENT_MORE, 7), bytes(0x00, 8)].map((f) => r.push(f));
    expect(results.filter((x) => x.kind === 'dropped')).toEqual([{ kind: 'dropped', code: 'frame', detail: 'message exceeds 1024 bytes' }]);
    expect(results.at(-1)).toEqual({ kind: 'partial' });
    expect(r.push(bytes(0x00, 9))).toEqual({ kind: 'message', message: bytes(9) });
    expect(r.dropped).toBe(1);
  });

  it('drops on reserved flag bits or an empty fragment, and counts it', () => {
    const r = new Reassembler();
    r.push(bytes(0x80, 1));
    expect(r.push(bytes(0x40, 2))).toEqual({ kind: 'dropped', code: 'frame', detail: 'reserved flag bits set: 0x40' });
    expect(r.push(new Uint8Array(0))).toEqual({ kind: 'dropped', code: 'frame', detail: 'empty fragment' });
    expect(r.push(bytes(0x00, 3))).toEqual({ kind: 'message', message: bytes(3) });
    expect(r.dropped).toBe(2);
  });
});
