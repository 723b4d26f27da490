// Channel-message fragments over GATT writes and notifications (docs/protocol.md §2.2): cut a
// message to the ATT payload size, put it back together. Not a codec of the messages themselves.

/** Flag byte of a fragment: more fragments follow. Other bits are reserved and must be 0. */
export const FRAGMENT_MORE = 0x80;
/** The largest reassembled message (docs/protocol.md §2.2). */
export const MAX_MESSAGE_BYTES = 1_024;

/**
 * Cut `message` into fragments of at most `maxValueBytes` (one ATT value: ATT_MTU − 3), each
 * with its flag byte. An empty message is one empty last fragment.
 */
export function fragment(message: Uint8Array, maxValueBytes: number): Uint8Array[] {
  if (!Number.isInteger(maxValueBytes) || maxValueBytes < 2) throw new RangeError(`fragment: value size must be ≥ 2 bytes, got ${maxValueBytes}`);
  if (message.length > MAX_MESSAGE_BYTES) throw new RangeError(`fragment: message of ${message.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  const chunk = maxValueBytes - 1;
  const out: Uint8Array[] = [];
  let at = 0;
  do {
    const n = Math.min(chunk, message.length - at);
    const f = new Uint8Array(1 + n);
    f[0] = at + n < message.length ? FRAGMENT_MORE : 0x00;
    f.set(message.subarray(at, at + n), 1);
    out.push(f);
    at += n;
  } while (at < message.length);
  return out;
}

export type ReassemblyResult =
  | { readonly kind: 'message'; readonly message: Uint8Array }
  | { readonly kind: 'partial' }
  | { readonly kind: 'dropped'; readonly code: 'frame'; readonly detail: string };

/** One direction's reassembly buffer. A bad fragment drops the message in progress and is counted. */
export class Reassembler {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  /** Whether the current message already overflowed: skip its remaining fragments. */
  private discarding = false;
  dropped = 0;

  push(fragmentBytes: Uint8Array): ReassemblyResult {
    const flags = fragmentBytes[0];
    if (flags === undefined || (flags & ~FRAGMENT_MORE) !== 0) {
      this.reset();
      return this.drop(flags === undefined ? 'empty fragment' : `reserved flag bits set: 0x${flags.toString(16)}`);
    }
    const more = (flags & FRAGMENT_MORE) !== 0;
    if (this.discarding) {
      if (!more) this.discarding = false;
      return { kind: 'partial' };
    }
    const payload = fragmentBytes.subarray(1);
    if (this.bytes + payload.length > MAX_MESSAGE_BYTES) {
      this.reset();
      this.discarding = more;
      return this.drop(`message exceeds ${MAX_MESSAGE_BYTES} bytes`);
    }
    this.parts.push(payload.slice());
    this.bytes += payload.length;
    if (more) return { kind: 'partial' };
    const message = new Uint8Array(this.bytes);
    let at = 0;
    for (const p of this.parts) {
      message.set(p, at);
      at += p.length;
    }
    this.reset();
    return { kind: 'message', message };
  }

  /** Forget a message in progress (the link dropped). */
  reset(): void {
    this.parts = [];
    this.bytes = 0;
  }

  private drop(detail: string): ReassemblyResult {
    this.dropped++;
    return { kind: 'dropped', code: 'frame', detail };
  }
}
