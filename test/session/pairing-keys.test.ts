// The prepared ephemeral key (docs/protocol.md §4.1): made at boot and after every attempt, charged
// as keygen + signature under the crypto activity, ready only after that CPU time, used once.

import { describe, expect, it } from 'vitest';
import { ecdsaP256Verify, isValidP256PublicKey } from '../../src/crypto/index.ts';
import { ledgerCpuMeter } from '../../src/session/cpu-time.ts';
import { EphemeralKeys, type PreparedKey } from '../../src/session/ephemeral-key.ts';
import { pairKeySignedBytes } from '../../src/session/wire-pairing.ts';
import { createRig, hex } from './pairing-fixture.ts';

const PREPARATION_US = Math.ceil(((45_000_000 + 48_000_000 + 48 * 400 + 8_400 * 2) * 1e6) / 48e6);

function keysOn(rig: ReturnType<typeof createRig>): EphemeralKeys {
  return new EphemeralKeys({ alarm: rig.board.alarm, meter: ledgerCpuMeter(rig.board.ledger), cost: rig.cost, entropy: rig.board.entropy, identityPrivateKey: rig.identity.identityPrivateKey });
}

describe('ephemeral pairing keys', () => {
  it('a key taken before it is ready arrives once its keygen + signature CPU time has passed, signed by the identity key', () => {
    const rig = createRig();
    const keys = keysOn(rig);
    const cryptoBefore = rig.board.ledger.summary().activities.find((a) => a.activity === 'crypto')!.meters.cpuCycles;
    const t0 = rig.world.nowUs;
    let got: { key: PreparedKey; atUs: number } | undefined;
    keys.take((key) => (got = { key, atUs: rig.world.nowUs }), () => {});
    expect(got).toBeUndefined(); // never inside the call
    expect(keys.state).toBe('preparing');
    const cryptoAfter = rig.board.ledger.summary().activities.find((a) => a.activity === 'crypto')!.meters.cpuCycles;
    expect(cryptoAfter - cryptoBefore).toBe(45_000_000 + 48_000_000 + 48 * 400 + 8_400 * 2);
    rig.world.runFor(3_000_000);
    expect(got!.atUs - t0).toBe(PREPARATION_US);
    expect(isValidP256PublicKey(got!.key.publicKey)).toBe(true);
    expect(ecdsaP256Verify(rig.identity.identityPublicKey, pairKeySignedBytes(got!.key.publicKey), got!.key.signature)).toBe(true);
    expect(keys.state).toBe('empty'); // taken: nothing is prepared until the attempt ends
  });

  it('a ready key is delivered from the alarm, once; the next take waits for a new one', () => {
    const rig = createRig();
    const keys = keysOn(rig);
    keys.prepare();
    rig.world.runFor(2_500_000);
    expect(keys.state).toBe('ready');
    const seen: string[] = [];
    keys.take((k) => seen.push(hex(k.publicKey)), () => {});
    expect(seen).toEqual([]);
    rig.world.runFor(1);
    expect(seen).toHaveLength(1);
    keys.take((k) => seen.push(hex(k.publicKey)), () => {});
    rig.world.runFor(2_500_000);
    expect(seen).toHaveLength(2);
    expect(seen[1]).not.toBe(seen[0]);
    expect(keys.prepared).toBe(2);
  });

  it('a take cancelled before delivery leaves the key unseen and ready for the next attempt', () => {
    const rig = createRig();
    const keys = keysOn(rig);
    keys.prepare();
    rig.world.runFor(2_500_000);
    let delivered = 0;
    keys.take(() => delivered++, () => {}).cancel();
    rig.world.runFor(10);
    expect(delivered).toBe(0);
    expect(keys.state).toBe('ready');
  });

  it('the TRNG failing is a coded failure, not a throw', () => {
    const rig = createRig();
    const keys = new EphemeralKeys({ alarm: rig.board.alarm, meter: ledgerCpuMeter(rig.board.ledger), cost: rig.cost, entropy: { getBytes: () => ({ ok: false, code: 'off' }) }, identityPrivateKey: rig.identity.identityPrivateKey });
    const failures: string[] = [];
    keys.take(() => {}, (code) => failures.push(code));
    rig.world.runFor(10);
    expect(failures).toEqual(['entropy']);
    expect(keys.state).toBe('empty');
  });
});
