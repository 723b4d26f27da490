// Malformed pairing messages on both sides: every truncation (and an extension) of every message
// is PAIR_FAILED 0x0A and never a throw; random bytes never break the device (DESIGN §7).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { p256Keypair } from '../../src/crypto/index.ts';
import { startPairing, type PairOptions, type PairResult } from '../../src/client/pairing-client.ts';
import type { MessageLink } from '../../src/session/link.ts';
import { decodePairingMessage, encodePairRequest } from '../../src/session/wire-pairing.ts';
import { clientIdFor, connect, createRig, honestUser, pairOnce, type Rig } from './pairing-fixture.ts';

function clientOptions(rig: Rig, o: Partial<PairOptions> = {}): PairOptions {
  return {
    method: 'numeric-comparison',
    role: 'patient',
    clientId: clientIdFor('phone'),
    expectedDeviceType: 'insulin-pump',
    manufacturerRootPublicKey: rig.manufacturer.rootPublicKey,
    user: honestUser(rig),
    rng: rig.clientRng,
    alarm: rig.board.alarm,
    ...o,
  };
}

type Method = 'numeric-comparison' | 'passkey-entry';

function unlock(rig: Rig): void {
  rig.lockout.failures = 0;
  rig.lockout.lockedUntilUs = 0;
}

/** Pair with the first `from` message of `type` replaced by `edit(original)`. */
function pairWithEdited(rig: Rig, from: 'a' | 'b', type: number, method: Method, edit: (m: Uint8Array) => Uint8Array, extra: { role?: 'clinician'; credential?: Uint8Array; clientId?: Uint8Array } = {}) {
  unlock(rig);
  let done = false;
  return pairOnce(
    rig,
    { method, ...extra },
    {
      settleUs: 2_500_000, // the next ephemeral key is ready before the next run
      tap: (f, m) => {
        if (done || f !== from || m[0] !== type) return undefined;
        done = true;
        return edit(m);
      },
    },
  );
}

const DEVICE_BOUND: Array<[string, number, Method, number]> = [
  ['PAIR_REQUEST', 0x01, 'numeric-comparison', 85],
  ['PAIR_RANDOM_C', 0x04, 'numeric-comparison', 17],
  ['PAIR_CHECK_C', 0x06, 'numeric-comparison', 17],
  ['PASSKEY_COMMIT_C', 0x08, 'passkey-entry', 18],
  ['PASSKEY_RANDOM_C', 0x0a, 'passkey-entry', 18],
  ['PAIR_CHECK_C (passkey)', 0x06, 'passkey-entry', 17],
];

describe('the device: malformed client messages → PAIR_FAILED 0x0A', () => {
  it.each(DEVICE_BOUND)('every truncation of %s (and one extra byte)', (_name, type, method, length) => {
    const rig = createRig({ seed: `trunc-${type}-${method}` });
    for (let k = 1; k <= length; k++) {
      const edit = (m: Uint8Array): Uint8Array => {
        expect(m.length).toBe(length);
        return k < length ? m.slice(0, k) : Uint8Array.from([...m, 0x00]);
      };
      const run = pairWithEdited(rig, 'a', type, method, edit);
      expect(run.result, `${k} bytes`).toMatchObject({ ok: false, code: 'device-failed', reason: 0x0a, by: 'device' });
      expect(run.conn.device.status).toBe('active');
      expect(run.conn.device.state).toBe('idle');
    }
    expect(rig.bonds.size).toBe(0);
  });

  it('every truncation of a clinician PAIR_REQUEST with its credential', () => {
    const rig = createRig({ seed: 'trunc-cred' });
    const clientId = clientIdFor('clinic');
    const credential = rig.manufacturer.issueCredential('clinician', clientId, 86_400);
    const before = rig.charges.filter((c) => c.operation === 'ecdsa.verify').length;
    for (let k = 1; k < 85 + 87; k++) {
      const run = pairWithEdited(rig, 'a', 0x01, 'numeric-comparison', (m) => m.slice(0, k), { role: 'clinician', credential, clientId });
      expect(run.result, `${k} bytes`).toMatchObject({ ok: false, reason: 0x0a, by: 'device' });
    }
    // Refused by the decoder: no credential verification was spent on any of them.
    expect(rig.charges.filter((c) => c.operation === 'ecdsa.verify').length).toBe(before);
  });

  it.each([
    ['an empty message', new Uint8Array(0)],
    ['a bare PAIR_FAILED type byte', Uint8Array.of(0x0f)],
    ['PAIR_FAILED 0x83 without its seconds', Uint8Array.of(0x0f, 0x83)],
  ])('%s, handed straight to handle() mid-attempt: 0x0A', (_n, bytes) => {
    const rig = createRig();
    const conn = connect(rig);
    startPairing(conn.client, clientOptions(rig, { user: { compare: () => undefined } }), () => {});
    rig.world.runFor(1_500_000);
    expect(conn.device.state).toContain('comparing');
    expect(() => conn.device.handle(bytes)).not.toThrow();
    rig.world.runFor(100_000);
    expect(conn.tx.filter((t) => t.from === 'b').at(-1)!.message).toEqual(Uint8Array.of(0x0f, 0x0a));
    expect(conn.device.state).toBe('idle');
    expect(rig.lockout.kinds).toEqual(['pairing']);
  });

  it('a device-only message type (PAIR_RANDOM_D sent to the device) is 0x0A', () => {
    const rig = createRig();
    const run = pairWithEdited(rig, 'a', 0x04, 'numeric-comparison', (m) => {
      const r = new Uint8Array(17);
      r.set(m);
      r[0] = 0x05; // PAIR_RANDOM_D, the device's own message type
      return r;
    });
    expect(run.result).toMatchObject({ ok: false, reason: 0x0a, by: 'device' });
  });

  it('unassigned types in 0x01–0x0F (0x03, 0x0C, 0x0D, 0x0E) are 0x0A', () => {
    const rig = createRig();
    for (const t of [0x03, 0x0c, 0x0d, 0x0e]) {
      const run = pairWithEdited(rig, 'a', 0x04, 'numeric-comparison', (m) => ((m[0] = t), m));
      expect(run.result, `type ${t}`).toMatchObject({ ok: false, reason: 0x0a, by: 'device' });
    }
  });
});

const CLIENT_BOUND: Array<[string, number, Method, number]> = [
  ['PAIR_RANDOM_D', 0x05, 'numeric-comparison', 17],
  ['PAIR_CHECK_D', 0x07, 'numeric-comparison', 18],
  ['PASSKEY_COMMIT_D', 0x09, 'passkey-entry', 18],
  ['PASSKEY_RANDOM_D', 0x0b, 'passkey-entry', 18],
];

describe('the client: malformed device messages → it sends PAIR_FAILED 0x0A (malformed)', () => {
  it.each(CLIENT_BOUND)('every truncation of %s (and one extra byte)', (_name, type, method, length) => {
    const rig = createRig({ seed: `ctrunc-${type}` });
    for (let k = 1; k <= length; k++) {
      const run = pairWithEdited(rig, 'b', type, method, (m) => (k < length ? m.slice(0, k) : Uint8Array.from([...m, 0x00])));
      expect(run.result, `${k} bytes`).toMatchObject({ ok: false, code: 'malformed', reason: 0x0a, by: 'client' });
      expect(run.client.sentTypes.at(-1)).toBe(0x0f);
    }
  });

  it('every truncation of PAIR_RESPONSE (and one extra byte), handed to a client waiting for it', () => {
    const rig = createRig({ seed: 'ctrunc-response' });
    const response = pairOnce(rig).conn.tx.find((t) => t.from === 'b' && t.message[0] === 0x02)!.message;
    expect(response.length).toBe(284);
    for (let k = 1; k <= 284; k++) {
      const sent: Uint8Array[] = [];
      const link: MessageLink = { send: (m) => sent.push(m), setReceiver: () => {}, close: () => {}, setClosedHandler: () => {} };
      let result: PairResult | undefined;
      const client = startPairing(link, clientOptions(rig, { attach: false }), (r) => (result = r));
      client.handle(k < 284 ? response.slice(0, k) : Uint8Array.from([...response, 0]));
      expect(result, `${k} bytes`).toMatchObject({ ok: false, code: 'malformed', reason: 0x0a, by: 'client' });
      expect(sent.map((m) => m[0])).toEqual([0x01, 0x0f]);
      expect(sent[1]).toEqual(Uint8Array.of(0x0f, 0x0a));
    }
  });

  it('every truncation of a PAIR_FAILED 0x83 (the remaining seconds) is malformed', () => {
    const rig = createRig();
    for (let k = 2; k < 6; k++) {
      const run = pairWithEdited(rig, 'b', 0x02, 'numeric-comparison', () => Uint8Array.of(0x0f, 0x83, 60, 0, 0, 0).slice(0, k));
      expect(run.result, `${k} bytes`).toMatchObject({ ok: false, code: 'malformed', reason: 0x0a, by: 'client' });
    }
  });
});

describe('random and mutated bytes (fast-check)', () => {
  it('never throw out of handle() nor stop the device; every answer is a pairing message', () => {
    const rig = createRig({ seed: 'fuzz' });
    const conn = connect(rig);
    const clientId = clientIdFor('fuzz');
    const valid = encodePairRequest({ method: 1, role: 'patient', clientId, pka: p256Keypair(new Uint8Array(48).fill(7)).publicKey, credential: new Uint8Array(0) });
    const message = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc.tuple(fc.integer({ min: 1, max: 15 }), fc.uint8Array({ maxLength: 300 })).map(([t, rest]) => Uint8Array.from([t, ...rest])),
      fc.tuple(fc.nat({ max: valid.length * 8 - 1 }), fc.nat({ max: valid.length * 8 - 1 })).map(([i, j]) => {
        const m = valid.slice();
        m[i >> 3]! ^= 1 << (i & 7);
        m[j >> 3]! ^= 1 << (j & 7);
        return m;
      }),
    );
    fc.assert(
      fc.property(message, (bytes) => {
        unlock(rig);
        conn.device.handle(bytes);
        rig.world.runFor(3_000_000);
        return conn.device.status === 'active';
      }),
      { numRuns: 150, seed: 5 },
    );
    const replies = conn.tx.filter((t) => t.from === 'b').map((t) => decodePairingMessage(t.message));
    expect(replies.length).toBeGreaterThan(100);
    expect(replies.every((r) => r.ok)).toBe(true);
  });
});
