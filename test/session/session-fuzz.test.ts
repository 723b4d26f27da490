// Fuzz of DeviceSession.handle with fast-check (seed 7, 2,000 runs): random messages — raw bytes,
// session types with random bodies, and a real hello followed by random proofs and records — never
// throw and never run a command. Not a protocol test: nothing here is expected to succeed.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CommandRegistry, genericCommands, type CommandHandler } from '../../src/session/commands.ts';
import { DeviceSession } from '../../src/session/device-session.ts';
import { linkPair } from '../../src/session/link.ts';
import { encodeBreakGlassHello, encodeSessionHello } from '../../src/session/wire-session.ts';
import { PATIENT, sessionFixture } from './session-fixture.ts';

const SESSION_TYPES = [0x20, 0x21, 0x22, 0x23, 0x28, 0x2f, 0x30];

/** One message: fully random, or a session type with a random body of a plausible length. */
const message = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 80 }),
  fc.tuple(fc.constantFrom(...SESSION_TYPES), fc.uint8Array({ minLength: 0, maxLength: 48 })).map(([t, body]) => Uint8Array.from([t, ...body])),
  // RECORD-shaped: right type, any epoch/direction/sequence, a sealed-looking body
  fc.tuple(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.uint8Array({ minLength: 8, maxLength: 40 })).map(([h, body]) => Uint8Array.from([0x30, ...h, ...body])),
  // exact-length proofs
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((pc) => Uint8Array.from([0x22, ...pc])),
);

/** Sometimes open with a real hello (known bond or a break-glass hello) so the fuzz reaches awaitingProof. */
const opening = fc.constantFrom<'none' | 'hello' | 'break-glass'>('none', 'hello', 'break-glass');

describe('DeviceSession.handle under fuzz', () => {
  it('never throws and never runs a command (seed 7, 2,000 runs)', () => {
    let ran = 0;
    const spy: CommandHandler = () => {
      ran++;
      return { status: 0 };
    };
    const commands = new CommandRegistry(
      genericCommands({ deviceInfo: spy, auditRead: spy, bondsList: spy, unpair: spy, therapyStop: spy, therapySuspend: spy, therapyResume: spy }),
    );
    // One board and store for all runs; a fresh connection (DeviceSession) per run.
    const fx = sessionFixture({ seed: 'fuzz', deps: { commands } });
    let sessions = 0;
    fc.assert(
      fc.property(opening, fc.array(message, { minLength: 1, maxLength: 8 }), (open, messages) => {
        const link = linkPair(fx.board.alarm);
        const device = new DeviceSession({ ...fx.deps, commands }, link.b);
        sessions++;
        const nc = fx.phoneRng.bytes(16);
        if (open === 'hello') device.handle(encodeSessionHello({ clientId: PATIENT.clientId, nc }));
        if (open === 'break-glass') device.handle(encodeBreakGlassHello({ index: 1_000_000 + sessions, notAfterS: fx.nowS() + 60, nc }));
        for (const m of messages) {
          const r = device.handle(m);
          expect(r === 'session' || r === 'not-session').toBe(true);
        }
        fx.world.runFor(200_000);
        device.linkClosed();
        fx.lockout.lockedUntilUs = 0; // random proofs lock the device out; keep reaching the proof state
        expect(ran).toBe(0);
      }),
      { seed: 7, numRuns: 2000 },
    );
    expect(sessions).toBe(2000);
    expect(fx.world.trace.filter({ kind: 'session.error' })).toEqual([]);
  });
});
