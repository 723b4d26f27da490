// Pairing that must fail, with the exact codes (docs/protocol.md §4.5): a wrong comparison answer,
// a wrong passkey, an unverifiable device, bad credentials, a full bond table, lockout, bad keys.

import { describe, expect, it } from 'vitest';
import { ecdsaP256Sign } from '../../src/crypto/index.ts';
import { pairKeySignedBytes } from '../../src/session/wire-pairing.ts';
import { AUDIT_PAIRING_FAILED } from '../../src/session/device-pairing.ts';
import { Manufacturer } from '../../src/session/manufacturer.ts';
import { MAX_BONDS } from '../../src/session/bond-store.ts';
import { startPairing, type PairResult } from '../../src/client/pairing-client.ts';
import { Rng } from '../../src/sim/random.ts';
import { clientIdFor, connect, createRig, honestUser, pairOnce, type Rig, type PairRun } from './pairing-fixture.ts';

/** The device's answers: the reasons of every PAIR_FAILED it sent. */
const deviceFailures = (run: PairRun): number[] => run.conn.tx.filter((t) => t.from === 'b' && t.message[0] === 0x0f).map((t) => t.message[1]!);
const lastAuditReason = (rig: Rig): number | undefined => {
  const failed = rig.audit.filter((a) => a.event === AUDIT_PAIRING_FAILED);
  return failed.at(-1)?.detail[0];
};

describe('numeric comparison refused', () => {
  it('the client user says the numbers differ: no PAIR_CHECK_C, PAIR_FAILED 0x0C, the device fails 0x0C and counts it', () => {
    const rig = createRig();
    const run = pairOnce(rig, { user: honestUser(rig, { clientSays: false }) });
    expect(run.result).toMatchObject({ ok: false, code: 'rejected', reason: 0x0c, by: 'client' });
    expect(run.client.sentTypes).not.toContain(0x06);
    expect(run.client.sentTypes.at(-1)).toBe(0x0f);
    expect(lastAuditReason(rig)).toBe(0x0c);
    expect(rig.lockout.kinds).toEqual(['pairing']);
    expect(rig.bonds.size).toBe(0);
    expect(run.conn.device.state).toBe('idle');
  });

  it('the client says nothing at all (its user walked away): the device times out at 60 s with 0x0C', () => {
    const rig = createRig();
    const run = pairOnce(rig, { user: { compare: () => undefined }, userTimeoutMs: 600_000 });
    expect(run.result).toMatchObject({ ok: false, code: 'rejected', reason: 0x0c, by: 'device' });
    expect(deviceFailures(run)).toEqual([0x0c]);
    const shown = run.conn.tx.find((t) => t.from === 'b' && t.message[0] === 0x05)!.tUs;
    const failed = run.conn.tx.find((t) => t.from === 'b' && t.message[0] === 0x0f)!.tUs;
    expect(failed - shown).toBe(60_000_000);
    expect(rig.lockout.kinds).toEqual(['pairing']);
  });

  it('the device user presses Cancel: PAIR_FAILED 0x0C from the device, no bond', () => {
    const rig = createRig();
    const run = pairOnce(rig, { user: honestUser(rig, { devicePress: 'cancel', clientSays: true }) });
    expect(run.result).toMatchObject({ ok: false, code: 'rejected', reason: 0x0c, by: 'device' });
    expect(deviceFailures(run)).toEqual([0x0c]);
    expect(rig.bonds.size).toBe(0);
    expect(rig.lockout.kinds).toEqual(['pairing']);
  });

  it('the device user never presses OK: 0x0C after 60 s even though Ea verified', () => {
    const rig = createRig();
    const run = pairOnce(rig, { user: honestUser(rig, { devicePress: 'none' }) });
    expect(run.result).toMatchObject({ ok: false, code: 'rejected', reason: 0x0c, by: 'device' });
    expect(run.client.sentTypes).toContain(0x06);
    expect(rig.bonds.size).toBe(0);
  });

  it('a man in the middle changing Nb is caught by Cb: the client sends 0x04', () => {
    const rig = createRig();
    const run = pairOnce(rig, {}, { tap: (from, m) => (from === 'b' && m[0] === 0x05 ? (m[1]! ^= 1, m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, code: 'confirm', reason: 0x04, by: 'client' });
    expect(rig.lockout.kinds).toEqual(['pairing']); // the peer's 0x04 counts too (§4.5)
  });

  it('a tampered Ea fails the DHKey check: 0x0B', () => {
    const rig = createRig();
    const run = pairOnce(rig, {}, { tap: (from, m) => (from === 'a' && m[0] === 0x06 ? (m[5]! ^= 0x40, m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, code: 'dhkey-check', reason: 0x0b, by: 'device' });
    expect(rig.bonds.size).toBe(0);
  });

  it('a tampered Eb makes the client discard the bond: dhkey-check', () => {
    const rig = createRig();
    const run = pairOnce(rig, {}, { tap: (from, m) => (from === 'b' && m[0] === 0x07 ? (m[1]! ^= 1, m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, code: 'dhkey-check', reason: 0x0b, by: 'client' });
  });
});

describe('passkey entry refused', () => {
  it('a wrong passkey: the device finds the first wrong bit\'s commitment and sends 0x01', () => {
    const rig = createRig({ seed: 'wrong-passkey' });
    const run = pairOnce(rig, { method: 'passkey-entry', user: { passkey: () => (Number(rig.board.display.shown().value) ^ 0b100) % 1_000_000 } });
    expect(run.result).toMatchObject({ ok: false, code: 'passkey', reason: 0x01, by: 'device' });
    // Bits 0 and 1 were right: rounds 0 and 1 completed, round 2 failed before the device revealed Nb₂.
    expect(run.conn.tx.filter((t) => t.from === 'b' && t.message[0] === 0x0b).map((t) => t.message[1])).toEqual([0, 1]);
    expect(rig.lockout.kinds).toEqual(['passkey']);
  });

  it('a round out of order: 0x0A', () => {
    const rig = createRig();
    const run = pairOnce(rig, { method: 'passkey-entry' }, { tap: (from, m) => (from === 'a' && m[0] === 0x08 && m[1] === 3 ? (m[1] = 4, m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, code: 'device-failed', reason: 0x0a, by: 'device' });
  });

  it('Cancel on the device during passkey entry: 0x01', () => {
    const rig = createRig();
    const run = pairOnce(rig, {
      method: 'passkey-entry',
      user: {
        passkey: (answer) => {
          rig.board.buttons.press('cancel');
          rig.board.alarm.setAlarm(5_000_000, () => answer(Number('123456')));
          return undefined;
        },
      },
    });
    expect(run.result).toMatchObject({ ok: false, code: 'passkey', reason: 0x01, by: 'device' });
  });
});

describe('an unverifiable device (§3.1)', () => {
  it('a certificate signed by another root: the client refuses (certificate), sends 0x80 and disconnects', () => {
    const rig = createRig({ certificateFrom: 'rogue-factory' });
    const run = pairOnce(rig);
    expect(run.result).toMatchObject({ ok: false, code: 'certificate', reason: 0x80, by: 'client' });
    expect(run.client.sentTypes).toEqual([0x01, 0x0f]);
    expect(run.conn.tx.at(-1)!.message).toEqual(Uint8Array.of(0x0f, 0x80));
    expect(run.conn.device.state).toBe('closed');
    expect(rig.lockout.kinds).toEqual([]); // 0x80 is not the peer's fault from the device's view
  });

  it('a forged PKb signature: certificate', () => {
    const rig = createRig();
    const run = pairOnce(rig, {}, { tap: (from, m) => (from === 'b' && m[0] === 0x02 ? (m[204 + 10]! ^= 1, m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, code: 'certificate', reason: 0x80 });
    expect(run.result.ok === false && run.result.detail).toBe('PKb signature does not verify');
  });

  it('a PKb swapped by a man in the middle (the signature no longer covers it): certificate', () => {
    const rig = createRig();
    const other = new Manufacturer('mitm').issueDeviceIdentity('PU000001', 'insulin-pump');
    const run = pairOnce(rig, {}, { tap: (from, m) => (from === 'b' && m[0] === 0x02 ? (m.set(other.certificate.slice(10, 74), 140), m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, code: 'certificate' });
  });

  it('a device of another type than the one asked for: certificate', () => {
    const rig = createRig();
    const run = pairOnce(rig, { expectedDeviceType: 'ph-meter' });
    expect(run.result).toMatchObject({ ok: false, code: 'certificate', reason: 0x80 });
  });
});

describe('credentials (§3.2): PAIR_FAILED 0x81', () => {
  const cases: Array<[string, (rig: Rig, id: Uint8Array) => { role: 'patient' | 'clinician' | 'service'; credential?: Uint8Array }]> = [
    ['missing for clinician', () => ({ role: 'clinician' })],
    ['missing for service', () => ({ role: 'service' })],
    ['forged (signed by another manufacturer\'s clinical authority)', (_rig, id) => ({ role: 'clinician', credential: new Manufacturer('forger').issueCredential('clinician', id, 86_400) })],
    [
      'forged (one bit of the signature flipped)',
      (rig, id) => {
        const c = rig.manufacturer.issueCredential('clinician', id, 86_400);
        c[40]! ^= 1;
        return { role: 'clinician', credential: c };
      },
    ],
    [
      'edited (not-after pushed out, old signature)',
      (rig, id) => {
        const c = rig.manufacturer.issueCredential('clinician', id, 86_400);
        c[21] = 0x7f;
        return { role: 'clinician', credential: c };
      },
    ],
    ['for another client id', (rig) => ({ role: 'clinician', credential: rig.manufacturer.issueCredential('clinician', clientIdFor('someone else'), 86_400) })],
    ['expired (not-after 1 s, device clock ≥ 3 s)', (rig, id) => ({ role: 'clinician', credential: rig.manufacturer.issueCredential('clinician', id, 1) })],
    ['a clinician credential presented for the service role', (rig, id) => ({ role: 'service', credential: rig.manufacturer.issueCredential('clinician', id, 86_400) })],
    ['service role granted by the clinical authority', (rig, id) => ({ role: 'service', credential: rig.manufacturer.issueCredential('service', id, 86_400, { authority: 'clinical' }) })],
    ['a patient request carrying a credential', (rig, id) => ({ role: 'patient', credential: rig.manufacturer.issueCredential('clinician', id, 86_400) })],
    [
      'a "patient credential" (role byte 1)',
      (rig, id) => {
        const c = rig.manufacturer.issueCredential('clinician', id, 86_400);
        c[1] = 1;
        return { role: 'clinician', credential: c };
      },
    ],
    ['a truncated credential', (rig, id) => ({ role: 'clinician', credential: rig.manufacturer.issueCredential('clinician', id, 86_400).slice(0, 86) })],
  ];

  it.each(cases)('%s → 0x81, counted, no bond', (_name, make) => {
    const rig = createRig();
    const clientId = clientIdFor('clinic');
    const run = pairOnce(rig, { clientId, ...make(rig, clientId) });
    expect(run.result).toMatchObject({ ok: false, code: 'credential', reason: 0x81, by: 'device' });
    expect(deviceFailures(run)).toEqual([0x81]);
    expect(rig.lockout.kinds).toEqual(['credential']);
    expect(lastAuditReason(rig)).toBe(0x81);
    expect(rig.bonds.size).toBe(0);
  });
});

describe('bond table and lockout', () => {
  it('bond table full: 0x82, not counted; an existing client id may still re-pair', () => {
    const rig = createRig();
    for (let i = 0; i < MAX_BONDS; i++) {
      const r = rig.bonds.store({ clientId: clientIdFor(`b${i}`), role: 'patient', ltk: new Uint8Array(16).fill(i + 1), createdUs: 0, credentialNotAfterS: 0 });
      expect(r.ok).toBe(true);
    }
    const run = pairOnce(rig, { clientId: clientIdFor('ninth') }, { settleUs: 3_000_000 });
    expect(run.result).toMatchObject({ ok: false, code: 'bonds-full', reason: 0x82, by: 'device' });
    expect(rig.lockout.kinds).toEqual([]);
    const again = pairOnce(rig, { clientId: clientIdFor('b3') });
    expect(again.result.ok).toBe(true);
    expect(rig.bonds.size).toBe(MAX_BONDS);
  });

  it('locked out after 5 failures: 0x83 with the remaining seconds, and the refusal does not extend the lockout', () => {
    const rig = createRig();
    for (let i = 0; i < 5; i++) {
      const r = pairOnce(rig, { user: honestUser(rig, { clientSays: false }) }, { settleUs: 2_500_000 });
      expect(r.result).toMatchObject({ code: 'rejected' });
    }
    expect(rig.lockout.status().locked).toBe(true);
    const lockedUntilUs = rig.lockout.lockedUntilUs;
    const run = pairOnce(rig);
    const requestArrivedUs = run.conn.tx.find((t) => t.from === 'a' && t.message[0] === 0x01)!.tUs + 15_000;
    const expectedS = Math.ceil((lockedUntilUs - requestArrivedUs) / 1e6);
    expect(expectedS).toBeGreaterThan(0);
    expect(expectedS).toBeLessThanOrEqual(60);
    expect(run.result).toEqual({ ok: false, code: 'locked', reason: 0x83, by: 'device', remainingS: expectedS });
    expect(deviceFailures(run)).toEqual([0x83]);
    expect(rig.lockout.kinds).toHaveLength(5);
    expect(rig.lockout.lockedUntilUs).toBe(lockedUntilUs);
    expect(rig.charges.filter((c) => c.operation === 'p256.ecdh')).toHaveLength(5); // the locked request cost no ECDH
    // After the deadline the device pairs again.
    rig.world.runUntil(lockedUntilUs + 1);
    expect(pairOnce(rig).result.ok).toBe(true);
  });

  it('records the lockout failure BEFORE the PAIR_FAILED leaves, for every counted reason', () => {
    const rig = createRig();
    pairOnce(rig, { user: honestUser(rig, { devicePress: 'cancel', clientSays: true }) });
    const i = rig.log.indexOf('lockout.failure:pairing');
    const j = rig.log.indexOf('tx:b:0f');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(j).toBeGreaterThan(i);
  });

  it('busy (another pairing or a session holds the device): 0x84, not counted', () => {
    const rig = createRig({ busy: () => true });
    const run = pairOnce(rig);
    expect(run.result).toMatchObject({ ok: false, code: 'busy', reason: 0x84 });
    expect(rig.lockout.kinds).toEqual([]);
  });

  it('two connections pairing at once: the one that finds the key already awaited gets 0x84; the first pairs', () => {
    const rig = createRig({ bootUs: 0 }); // the boot key is still being made
    const first = connect(rig);
    const second = connect(rig);
    rig.board.buttons.setClient({ pressed: (n) => first.device.buttonPressed(n), longPressed: () => {} });
    const results: Record<string, PairResult> = {};
    const base = { method: 'numeric-comparison' as const, role: 'patient' as const, expectedDeviceType: 'insulin-pump' as const, manufacturerRootPublicKey: rig.manufacturer.rootPublicKey, user: honestUser(rig), alarm: rig.board.alarm };
    startPairing(first.client, { ...base, clientId: clientIdFor('first'), rng: new Rng('first') }, (r) => (results.first = r));
    startPairing(second.client, { ...base, clientId: clientIdFor('second'), rng: new Rng('second') }, (r) => (results.second = r));
    rig.world.runFor(10_000_000);
    expect(results.second).toMatchObject({ ok: false, code: 'busy', reason: 0x84, by: 'device' });
    expect(results.first?.ok).toBe(true);
    expect(rig.lockout.kinds).toEqual([]);
  });

  it('an unknown method: 0x03, not counted', () => {
    const rig = createRig();
    const run = pairOnce(rig, {}, { tap: (from, m) => (from === 'a' && m[0] === 0x01 ? (m[1] = 7, m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, code: 'device-failed', reason: 0x03 });
    expect(rig.lockout.kinds).toEqual([]);
  });
});

describe('bad public keys (§4.1)', () => {
  it('an off-curve PKa: 0x0A, before any ECDH or credential check is spent', () => {
    const rig = createRig();
    const before = rig.charges.length;
    const run = pairOnce(rig, {}, { tap: (from, m) => (from === 'a' && m[0] === 0x01 ? (m[19 + 63]! ^= 1, m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, code: 'device-failed', reason: 0x0a, by: 'device' });
    expect(rig.charges.slice(before).filter((c) => c.operation === 'p256.ecdh' || c.operation === 'ecdsa.verify')).toEqual([]);
    expect(rig.lockout.kinds).toEqual(['pairing']);
  });

  it.each([
    ['all zeros (the point at infinity)', (m: Uint8Array) => m.fill(0, 19, 83)],
    ['x = p (not below the prime)', (m: Uint8Array) => m.fill(0xff, 19, 51)],
  ])('PKa %s: 0x0A', (_n, edit) => {
    const rig = createRig();
    const run = pairOnce(rig, {}, { tap: (from, m) => (from === 'a' && m[0] === 0x01 ? (edit(m), m) : undefined) });
    expect(run.result).toMatchObject({ ok: false, reason: 0x0a, by: 'device' });
  });

  it('an off-curve PKb, even when signed by the identity key (a compromised device key): the client sends 0x0A', () => {
    const rig = createRig();
    const run = pairOnce(rig, {}, {
      tap: (from, m) => {
        if (from !== 'b' || m[0] !== 0x02) return undefined;
        m[140 + 63]! ^= 1;
        m.set(ecdsaP256Sign(rig.identity.identityPrivateKey, pairKeySignedBytes(m.slice(140, 204))), 204);
        return m;
      },
    });
    expect(run.result).toMatchObject({ ok: false, code: 'malformed', reason: 0x0a, by: 'client', detail: 'PKb is not on the curve' });
  });
});
