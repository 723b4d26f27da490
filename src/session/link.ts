// The message link the secure channel talks over: whole channel messages in, whole messages out,
// delivered later from the scheduler. Not GATT: composition binds a link to the Channel characteristic.
//
// Pairing and session machines are written against this, so they run the same over GATT on
// the simulated air, over bleno, or over the in-memory pair below in unit tests.

import type { Alarm } from '../../hal/alarm.ts';

export interface MessageLink {
  /** Queue one whole message to the peer. Never delivers inside the call. */
  send(message: Uint8Array): void;
  /** Where the peer's messages arrive (one call per whole message, from the scheduler). */
  setReceiver(receiver: (message: Uint8Array) => void): void;
  /** End the underlying connection (the device does this after SESSION_FAILED). */
  close(reason: string): void;
  /** Called once when the link ends, from either side. */
  setClosedHandler(handler: (reason: string) => void): void;
}

export interface LinkPairOptions {
  /** One-way delay per message, µs (default 15,000: half a 30 ms connection interval). */
  readonly latencyUs?: number;
  /** Sees every message, both ways, in order: for tests that tamper or replay. Return a replacement, 'drop', or undefined to pass it on. */
  readonly tap?: (from: 'a' | 'b', message: Uint8Array) => Uint8Array | 'drop' | undefined;
}

/**
 * Two ends of an in-memory link on one alarm: what `a` sends reaches `b` `latencyUs` later,
 * in order. For unit tests of the machines; end-to-end tests use GATT on the air.
 */
export function linkPair(alarm: Alarm, opts: LinkPairOptions = {}): { a: MessageLink; b: MessageLink } {
  const latencyUs = opts.latencyUs ?? 15_000;
  let open = true;
  const receivers: { a?: (m: Uint8Array) => void; b?: (m: Uint8Array) => void } = {};
  const closed: { a?: (r: string) => void; b?: (r: string) => void } = {};
  const end = (self: 'a' | 'b'): MessageLink => {
    const peer = self === 'a' ? 'b' : 'a';
    return {
      send: (message) => {
        if (!open) return;
        const tapped = opts.tap ? opts.tap(self, message.slice()) : undefined;
        if (tapped === 'drop') return;
        const copy = tapped ?? message.slice();
        // Delivered even if close() follows: a message sent before closing arrives before the close.
        alarm.setAlarm(latencyUs, () => receivers[peer]?.(copy));
      },
      setReceiver: (r) => {
        receivers[self] = r;
      },
      close: (reason) => {
        if (!open) return;
        // Nothing more is accepted; what was sent already is delivered first (same latency, FIFO).
        open = false;
        alarm.setAlarm(latencyUs, () => {
          closed.a?.(reason);
          closed.b?.(reason);
        });
      },
      setClosedHandler: (h) => {
        closed[self] = h;
      },
    };
  };
  return { a: end('a'), b: end('b') };
}
