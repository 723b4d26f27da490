// End-to-end pairing on a simulated KW31Z over an in-memory link: numeric comparison, passkey
// entry, privileged roles, and the §4 key schedule recomputed here from the spec's formulas.

import { describe, expect, it } from 'vitest';
import { f4, f5, f6, g2, p256Ecdh, p256Keypair, formatNumericComparison, P256_KEYGEN_ENTROPY_BYTES } from '../../src/crypto/index.ts';
import { Rng } from '../../src/sim/random.ts';
import { AUDIT_PAIRING_OK } from '../../src/session/device-pairing.ts';
import { decodePairingMessage, type PairResponse } from '../../src/session/wire-pairing.ts';
import { clientIdFor, createRig, honestUser, hex, pairOnce } from './pairing-fixture.ts';

const ECDH_CYCLES = 45_000_000;

describe('pairing, numeric comparison (§4.2)', () => {
  it('shows on the device exactly the six digits the client user saw; OK → same LTK, role patient', () => {
    const rig = createRig();
    const seen: string[] = [];
    const deviceShowed: string[] = [];
    const cryptoBefore = rig.board.ledger.summary().activities.find((a) => a.activity === 'crypto')!.meters.cpuCycles;
    const chargesBefore = rig.charges.length;

    const { result, conn } = pairOnce(rig, { user: honestUser(rig, { seen, deviceShowed }) });

    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/^[0-9]{6}$/);
    expect(deviceShowed).toEqual(seen);
    // The display traced the same digits (what a scenario would assert on).
    const uiDigits = rig.world.trace.filter({ device: 'pump', kind: 'display.digits' }).map((r) => r.fields.value);
    expect(uiDigits).toEqual(seen);
    expect(rig.board.display.shown().kind).toBe('blank'); // cleared when the attempt ended

    expect(result.bond.role).toBe('patient');
    expect(result.bond.deviceSerial).toBe('PU000001');
    expect(conn.paired).toHaveLength(1);
    expect(hex(conn.paired[0]!.ltk)).toBe(hex(result.bond.ltk));
    const stored = rig.bonds.find(result.bond.clientId);
    expect(stored?.role).toBe('patient');
    expect(hex(stored!.ltk)).toBe(hex(result.bond.ltk));
    expect(AUDIT_PAIRING_OK).toBe(0x0010);
    expect(rig.audit.map((a) => a.event)).toEqual([AUDIT_PAIRING_OK]);
    expect(rig.audit[0]!.detail).toEqual(Uint8Array.from([1, ...result.bond.clientId.slice(0, 6)]));
    expect(rig.lockout.successes).toBe(1);

    // The ECDH ran at its cost on the chip's ledger…
    const ecdh = rig.charges.slice(chargesBefore).filter((c) => c.operation === 'p256.ecdh');
    expect(ecdh).toHaveLength(1);
    expect(ecdh[0]!.meters.cpuCycles).toBeGreaterThanOrEqual(ECDH_CYCLES);
    const cryptoAfter = rig.board.ledger.summary().activities.find((a) => a.activity === 'crypto')!.meters.cpuCycles;
    expect(cryptoAfter - cryptoBefore).toBeGreaterThanOrEqual(ECDH_CYCLES);
    // …and on the virtual clock: PAIR_RESPONSE arrives ≥ 0.94 s after the request left.
    const request = conn.tx.find((t) => t.from === 'a' && t.message[0] === 0x01)!;
    const response = conn.tx.find((t) => t.from === 'b' && t.message[0] === 0x02)!;
    const latencyUs = 15_000;
    expect(response.tUs + latencyUs - request.tUs).toBeGreaterThanOrEqual(940_000);
    expect(response.tUs - (request.tUs + latencyUs)).toBeGreaterThanOrEqual(Math.ceil((ECDH_CYCLES * 1e6) / 48e6));
  });

  it('follows the spec: LTK = f5(DHKey, Na, Nb, A, B), Ea/Eb = f6(…), Cb = f4(…), Va = g2(…)', () => {
    const rig = createRig({ seed: 'spec' });
    const clientId = clientIdFor('spec');
    const { result, conn } = pairOnce(rig, { clientId, rng: new Rng('spec-client') });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    // Recompute everything from the wire and the client's seeded key, with A and B spelled out.
    const rng = new Rng('spec-client');
    const clientKey = p256Keypair(rng.bytes(P256_KEYGEN_ENTROPY_BYTES));
    const msg = (from: 'a' | 'b', type: number) => conn.tx.find((t) => t.from === from && t.message[0] === type)!.message;
    const response = decodePairingMessage(msg('b', 0x02));
    expect(response.ok).toBe(true);
    const r = (response as { value: PairResponse }).value;
    const na = msg('a', 0x04).slice(1);
    const nb = msg('b', 0x05).slice(1);
    const ea = msg('a', 0x06).slice(1);
    const checkD = msg('b', 0x07);
    const A = Uint8Array.from([0x01, ...clientId.slice(0, 6)]);
    const B = Uint8Array.from([0x00, ...new TextEncoder().encode('000001')]);
    const pkax = clientKey.publicKey.slice(0, 32);
    const pkbx = r.pkb.slice(0, 32);
    expect(hex(r.cb)).toBe(hex(f4(pkbx, pkax, nb, Uint8Array.of(0))));
    expect(formatNumericComparison(g2(pkax, pkbx, na, nb))).toBe(rig.world.trace.filter({ kind: 'display.digits' })[0]!.fields.value);
    const dhKey = p256Ecdh(clientKey.privateKey, r.pkb);
    const { macKey, ltk } = f5(dhKey, na, nb, A, B);
    const zero = new Uint8Array(16);
    expect(hex(ea)).toBe(hex(f6(macKey, na, nb, zero, Uint8Array.of(0x0d, 0x00, 0x04), A, B)));
    expect(hex(checkD.slice(1, 17))).toBe(hex(f6(macKey, nb, na, zero, Uint8Array.of(0x0d, 0x00, 0x01), B, A)));
    expect(checkD[17]).toBe(1);
    expect(hex(result.bond.ltk)).toBe(hex(ltk));
  });

  it('waits for the boot key preparation when the request comes first, then the ECDH (§4.1)', () => {
    const rig = createRig({ bootUs: 0 });
    expect(rig.keys.state).toBe('preparing');
    const { result, conn } = pairOnce(rig);
    expect(result.ok).toBe(true);
    const request = conn.tx.find((t) => t.from === 'a' && t.message[0] === 0x01)!;
    const response = conn.tx.find((t) => t.from === 'b' && t.message[0] === 0x02)!;
    // keygen + sign (≈ 1.94 s from boot) and then the ECDH (0.94 s): still inside the client's 5 s.
    expect(response.tUs).toBeGreaterThanOrEqual(Math.ceil(((45e6 + 48e6) * 1e6) / 48e6) + 937_500);
    expect(response.tUs - request.tUs).toBeLessThan(5_000_000);
  });

  it('uses each prepared key once: a second pairing has another PKb, and a key is made after every attempt', () => {
    const rig = createRig();
    const first = pairOnce(rig, { clientId: clientIdFor('one') }, { settleUs: 3_000_000 });
    const second = pairOnce(rig, { clientId: clientIdFor('two') }, { settleUs: 3_000_000 });
    expect(first.result.ok && second.result.ok).toBe(true);
    const pkb = (c: typeof first) => hex(c.conn.tx.find((t) => t.from === 'b' && t.message[0] === 0x02)!.message.slice(140, 204));
    expect(pkb(first)).not.toBe(pkb(second));
    expect(rig.keys.prepared).toBe(3); // boot + after each attempt
    expect(rig.keys.state).toBe('ready');
  });

  it('pairing again with the same client id replaces its bond (§4.6)', () => {
    const rig = createRig();
    const id = clientIdFor('again');
    const one = pairOnce(rig, { clientId: id }, { settleUs: 3_000_000 });
    const two = pairOnce(rig, { clientId: id });
    expect(one.result.ok && two.result.ok).toBe(true);
    if (!one.result.ok || !two.result.ok) return;
    expect(rig.bonds.size).toBe(1);
    expect(hex(two.result.bond.ltk)).not.toBe(hex(one.result.bond.ltk));
    expect(hex(rig.bonds.find(id)!.ltk)).toBe(hex(two.result.bond.ltk));
  });
});

describe('the trace', () => {
  it('shows the pairing and its cost on the chip, and never a key', () => {
    const rig = createRig({ seed: 'trace' });
    const clientId = clientIdFor('trace');
    const { result } = pairOnce(rig, { clientId, role: 'clinician', credential: rig.manufacturer.issueCredential('clinician', clientId, 86_400) });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const kinds = rig.world.trace.filter({ layer: 'pairing' }).map((r) => r.kind);
    expect(kinds).toEqual(['pairing.request', 'pairing.response', 'pairing.paired', 'pairing.budget']);
    const budgetRecord = rig.world.trace.filter({ kind: 'pairing.budget' })[0]!;
    expect(budgetRecord.fields).toMatchObject({ budget: 'pairing CPU (clinician, service)', ok: true });
    expect(budgetRecord.fields.cpuMs).toBeGreaterThan(2_500);
    const all = rig.world.trace.toJsonLines();
    for (const secret of [result.bond.ltk, rig.identity.storageKey, rig.identity.identityPrivateKey, rig.identity.breakGlassKey]) {
      expect(all.includes(hex(secret))).toBe(false);
    }
  });
});

describe('pairing, passkey entry (§4.3)', () => {
  it('the user types what the device shows: 20 rounds, same LTK on both sides', () => {
    const rig = createRig({ seed: 'passkey' });
    let typed = '';
    const { result, conn } = pairOnce(rig, {
      method: 'passkey-entry',
      user: {
        passkey: () => {
          const shown = rig.board.display.shown();
          expect(shown.kind).toBe('digits');
          typed = shown.value;
          return Number(shown.value);
        },
      },
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(typed).toMatch(/^[0-9]{6}$/);
    expect(conn.tx.filter((t) => t.from === 'a' && t.message[0] === 0x08).map((t) => t.message[1])).toEqual([...Array(20).keys()]);
    expect(conn.tx.filter((t) => t.from === 'b' && t.message[0] === 0x0b)).toHaveLength(20);
    expect(hex(rig.bonds.find(result.bond.clientId)!.ltk)).toBe(hex(result.bond.ltk));
    expect(conn.paired[0]!.role).toBe('patient');
    // PAIR_RESPONSE carries no Cb in passkey entry.
    expect(hex(conn.tx.find((t) => t.message[0] === 0x02)!.message.slice(268))).toBe('00'.repeat(16));
  });
});

describe('privileged roles (§3.2)', () => {
  it('a clinician with a valid credential is bonded as clinician, with the credential expiry', () => {
    const rig = createRig();
    const clientId = clientIdFor('clinic');
    const credential = rig.manufacturer.issueCredential('clinician', clientId, 86_400);
    const { result, conn } = pairOnce(rig, { role: 'clinician', clientId, credential });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.bond.role).toBe('clinician');
    expect(conn.paired[0]!.role).toBe('clinician');
    expect(rig.bonds.find(clientId)).toMatchObject({ role: 'clinician', credentialNotAfterS: 86_400 });
    expect(rig.charges.filter((c) => c.operation === 'ecdsa.verify')).toHaveLength(1);
  });

  it('a service tool with a service-authority credential is bonded as service', () => {
    const rig = createRig();
    const clientId = clientIdFor('service');
    const credential = rig.manufacturer.issueCredential('service', clientId, 86_400);
    const { result } = pairOnce(rig, { role: 'service', clientId, credential, method: 'passkey-entry' });
    expect(result.ok && result.bond.role).toBe('service');
  });
});
