// Tests for charging crypto to a device's ledger: the SP 800-38C / RFC 4493 / FIPS 180-4 block
// counts, and the exact per-operation charges of a scripted pairing-and-session sequence on the real
// Kw31zLedger in a World. Not budgets (budget.test.ts).

import { describe, expect, it } from 'vitest';
import { KW31Z_COSTS } from '../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../hal/kw31z/ledger.ts';
import {
  aesCmac,
  AesCcm,
  aesMeters,
  ccmBlockCount,
  ccmDecrypt,
  ccmEncrypt,
  cmacBlockCount,
  ecdsaP256Sign,
  ecdsaP256Verify,
  f4,
  f5,
  f6,
  g2,
  h6,
  p256Ecdh,
  p256Keypair,
  sha256BlockCount,
  type CostContext,
  type CryptoCharge,
} from '../../src/crypto/index.ts';
import { World } from '../../src/sim/world.ts';

describe('block counts', () => {
  it.each([
    // [payload, aad, blocks]: 1 B0 + ⌈(prefix + aad)/16⌉ + 2⌈n/16⌉ + 1 S0 (SP 800-38C §6.1, §A.2.2)
    [0, 0, 2],
    [0, 4, 3],
    [1, 0, 4],
    [16, 0, 4],
    [17, 0, 6],
    [20, 4, 7],
    [20, 14, 7], // 2-octet prefix + 14 = one block
    [20, 15, 8], // 2 + 15 = 17: two blocks
    [244, 4, 35],
    [4096, 4, 515],
    [0, 0xfeff, 2 + Math.ceil((2 + 0xfeff) / 16)], // largest 2-octet-prefix AAD
    [0, 0xff00, 2 + Math.ceil((6 + 0xff00) / 16)], // 2^16 − 2^8: 0xff 0xfe ‖ 32-bit length
    [32, 65536, 1 + 4097 + 2 + 2 + 1], // NIST C.4: 6 + 65536 = 65542 → 4097 AAD blocks
  ])('CCM of %i payload bytes with %i AAD bytes = %i AES blocks', (n, a, blocks) => {
    expect(ccmBlockCount(n, a)).toBe(blocks);
  });

  it.each([
    [0, 2],
    [1, 2],
    [16, 2],
    [17, 3],
    [65, 6], // f4, f6
    [53, 5], // f5's MacKey / LTK messages
    [4, 2], // h6
  ])('CMAC of %i bytes = %i AES blocks (RFC 4493: subkey + ⌈n/16⌉, at least 1)', (n, blocks) => {
    expect(cmacBlockCount(n)).toBe(blocks);
  });

  it.each([
    [0, 1],
    [55, 1],
    [56, 2],
    [64, 2],
    [119, 2],
    [120, 3],
  ])('SHA-256 of %i bytes = %i compression blocks (FIPS 180-4 §5.1.1 padding)', (n, blocks) => {
    expect(sha256BlockCount(n)).toBe(blocks);
  });

  it('meters per placement: LTC counts aesBlocksHw and its cycles, software only cycles', () => {
    expect(KW31Z_COSTS.aesLtcCyclesPerBlock.value).toBe(200);
    expect(KW31Z_COSTS.aesSoftwareCyclesPerBlock.value).toBe(1140);
    expect(aesMeters(KW31Z_COSTS, 'ltc', 7)).toEqual({ aesBlocksHw: 7, cpuCycles: 1400 });
    expect(aesMeters(KW31Z_COSTS, 'software', 7)).toEqual({ cpuCycles: 7980 });
  });
});

function device() {
  const world = new World({ seed: 'crypto-cost' });
  const ledger = new Kw31zLedger('pump', () => world.nowUs);
  const log: CryptoCharge[] = [];
  const crypto = () => ledger.summary().activities.find((a) => a.activity === 'crypto')!.meters;
  return { world, ledger, log, crypto };
}

describe('the ledger shows each operation’s charge (KW31Z cost table, real Kw31zLedger)', () => {
  it('a scripted pairing and two session records: exact cycles per operation, under activity crypto', () => {
    const { world, ledger, log, crypto } = device();
    const cost: CostContext = { ledger, costs: KW31Z_COSTS, aes: 'ltc', onCharge: (c) => log.push(c) };
    const rows: [string, number, number][] = [];
    let prev = crypto();
    const step = (name: string, fn: () => unknown): void => {
      fn();
      world.runFor(1_000); // time passes between operations (sleep is charged to idle, not crypto)
      const now = crypto();
      rows.push([name, now.cpuCycles - prev.cpuCycles, now.aesBlocksHw - prev.aesBlocksHw]);
      prev = now;
    };

    const entropy = (tag: number) => new Uint8Array(48).fill(tag);
    const dev = p256Keypair(entropy(1));
    const phone = p256Keypair(entropy(2));
    const na = new Uint8Array(16).fill(0xa);
    const nb = new Uint8Array(16).fill(0xb);
    const a1 = new Uint8Array(7).fill(1);
    const a2 = new Uint8Array(7).fill(2);
    let dhKey: Uint8Array = new Uint8Array(32);
    let macKey: Uint8Array = new Uint8Array(16);
    let ltk: Uint8Array = new Uint8Array(16);
    const record = new Uint8Array(20).fill(0x20);
    const header = new Uint8Array(4).fill(0x04);
    const nonce = new Uint8Array(13).fill(0x13);
    let sealed: Uint8Array = new Uint8Array(0);
    const image = new Uint8Array(64).fill(0x64);
    let sig: Uint8Array = new Uint8Array(64);

    step('p256Keypair', () => p256Keypair(entropy(3), { cost }));
    step('p256Ecdh', () => (dhKey = p256Ecdh(dev.privateKey, phone.publicKey, { cost })));
    step('f4 confirm', () => f4(dev.publicKey.subarray(0, 32), phone.publicKey.subarray(0, 32), na, Uint8Array.of(0), { cost }));
    step('g2 numeric comparison', () => g2(dev.publicKey.subarray(0, 32), phone.publicKey.subarray(0, 32), na, nb, { cost }));
    step('f5 key derivation', () => ({ macKey, ltk } = f5(dhKey, na, nb, a1, a2, { cost })));
    step('f6 DHKey check', () => f6(macKey, na, nb, new Uint8Array(16), Uint8Array.of(1, 1, 2), a1, a2, { cost }));
    step('h6', () => h6(ltk, Uint8Array.of(0x6c, 0x65, 0x62, 0x72), { cost }));
    step('aesCmac 16 bytes', () => aesCmac(ltk, new Uint8Array(16), { cost }));
    step('CCM seal 20 B + 4 B AAD', () => (sealed = new AesCcm(ltk, 8, { cost }).seal(nonce, record, header)));
    step('CCM open 20 B + 4 B AAD', () => ccmDecrypt(ltk, nonce, sealed, header, 8, { cost }));
    step('CCM open, bad tag (still computed)', () => {
      const bad = sealed.slice();
      bad[bad.length - 1]! ^= 1;
      expect(() => ccmDecrypt(ltk, nonce, bad, header, 8, { cost })).toThrow(expect.objectContaining({ code: 'auth' }));
    });
    step('ECDSA sign 64 B', () => (sig = ecdsaP256Sign(dev.privateKey, image, { cost })));
    step('ECDSA verify 64 B', () => expect(ecdsaP256Verify(dev.publicKey, image, sig, { cost })).toBe(true));
    step('ECDSA verify, 63-byte signature', () => expect(ecdsaP256Verify(dev.publicKey, image, sig.subarray(0, 63), { cost })).toBe(false));
    step('CCM params failure (not charged)', () => expect(() => ccmEncrypt(ltk, new Uint8Array(6), record, header, 8, { cost })).toThrow());
    step('ECDH with an off-curve key (not charged)', () => expect(() => p256Ecdh(dev.privateKey, new Uint8Array(64), { cost })).toThrow());

    expect(rows).toEqual([
      ['p256Keypair', 45_000_000, 0],
      ['p256Ecdh', 45_000_000, 0],
      ['f4 confirm', 6 * 200, 6], // CMAC of 65 bytes: 1 + 5 blocks
      ['g2 numeric comparison', 6 * 200, 6], // 80 bytes: 1 + 5
      ['f5 key derivation', 13 * 200, 13], // (1 + 2) + 2 × (1 + 4)
      ['f6 DHKey check', 6 * 200, 6], // 65 bytes
      ['h6', 2 * 200, 2], // 4 bytes: 1 + 1
      ['aesCmac 16 bytes', 2 * 200, 2],
      ['CCM seal 20 B + 4 B AAD', 7 * 200, 7], // 1 B0 + 1 AAD + 2 CBC-MAC + 2 CTR + 1 S0
      ['CCM open 20 B + 4 B AAD', 7 * 200, 7],
      ['CCM open, bad tag (still computed)', 7 * 200, 7],
      ['ECDSA sign 64 B', 48_000_000 + 2 * 8_400, 0], // + SHA-256 of 64 bytes: 2 blocks
      ['ECDSA verify 64 B', 75_000_000 + 2 * 8_400, 0],
      ['ECDSA verify, 63-byte signature', 2 * 8_400, 0], // hashed, never verified
      ['CCM params failure (not charged)', 0, 0],
      ['ECDH with an off-curve key (not charged)', 0, 0],
    ]);

    // The onCharge log names the same operations with their sizes.
    expect(log.map((c) => [c.operation, c.aesBlocks, c.sha256Blocks, c.meters.cpuCycles])).toEqual([
      ['p256.keygen', 0, 0, 45_000_000],
      ['p256.ecdh', 0, 0, 45_000_000],
      ['toolbox.f4', 6, 0, 1_200],
      ['toolbox.g2', 6, 0, 1_200],
      ['toolbox.f5', 13, 0, 2_600],
      ['toolbox.f6', 6, 0, 1_200],
      ['toolbox.h6', 2, 0, 400],
      ['cmac', 2, 0, 400],
      ['ccm.seal', 7, 0, 1_400],
      ['ccm.open', 7, 0, 1_400],
      ['ccm.open', 7, 0, 1_400],
      ['ecdsa.sign', 0, 2, 48_016_800],
      ['ecdsa.verify', 0, 2, 75_016_800],
      ['ecdsa.verify', 0, 2, 16_800],
    ]);

    // Totals: all under crypto; the µJ follow the table (3.0 mA × 3.6 V at 48 MHz = 0.000225 µJ/cycle).
    const total = 45_000_000 * 2 + 1_200 * 3 + 2_600 + 400 * 2 + 1_400 * 3 + 48_016_800 + 75_016_800 + 16_800;
    const s = ledger.summary();
    const c = s.activities.find((a) => a.activity === 'crypto')!;
    expect(c.meters.cpuCycles).toBe(total);
    expect(c.meters.aesBlocksHw).toBe(6 + 6 + 13 + 6 + 2 + 2 + 7 * 3);
    expect(c.microJoules).toBeCloseTo(total * 0.000225, 6);
    expect(s.elapsedUs).toBe(16_000);
    expect(s.cpuCycles).toBe(total);
  });

  it('software AES charges aesSoftwareCyclesPerBlock and no hardware blocks', () => {
    const { ledger, crypto } = device();
    const cost: CostContext = { ledger, costs: KW31Z_COSTS, aes: 'software' };
    const ccm = new AesCcm(new Uint8Array(16), 8, { cost });
    ccm.seal(new Uint8Array(13), new Uint8Array(244), new Uint8Array(4));
    expect(crypto()).toMatchObject({ cpuCycles: 35 * 1_140, aesBlocksHw: 0 });
  });

  it('the default placement is the LTC', () => {
    const { ledger, crypto } = device();
    ccmEncrypt(new Uint8Array(16), new Uint8Array(13), new Uint8Array(20), new Uint8Array(4), 8, { cost: { ledger, costs: KW31Z_COSTS } });
    expect(crypto()).toMatchObject({ cpuCycles: 1_400, aesBlocksHw: 7 });
  });

  it('the same CCM message costs what the LTC driver charges block by block (hal/kw31z/aes.ts: 200 cycles, 1 block)', () => {
    expect(aesMeters(KW31Z_COSTS, 'ltc', 1)).toEqual({ aesBlocksHw: 1, cpuCycles: Math.round(KW31Z_COSTS.aesLtcCyclesPerBlock.value) });
  });

  it('without a cost context nothing is charged', () => {
    const { crypto } = device();
    ccmEncrypt(new Uint8Array(16), new Uint8Array(13), new Uint8Array(20), new Uint8Array(4), 8);
    expect(crypto()).toMatchObject({ cpuCycles: 0, aesBlocksHw: 0 });
  });
});
