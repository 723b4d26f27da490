import { describe, expect, it } from 'vitest';
import { KW31Z_COSTS } from '../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../hal/kw31z/ledger.ts';
import { sha256, type CryptoCharge } from '../../src/crypto/index.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('sha256', () => {
  it.each([
    // FIPS 180-4 examples (NIST CSRC "SHA256.pdf"): "abc" and the 448-bit two-block message.
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 1],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1', 2],
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 1],
  ])('FIPS 180-4 %j → its digest, charged %i block(s) of 8,400 cycles', (msg, digest, blocks) => {
    const ledger = new Kw31zLedger('d', () => 0);
    const charges: CryptoCharge[] = [];
    expect(hex(sha256(new TextEncoder().encode(msg), { cost: { ledger, costs: KW31Z_COSTS, onCharge: (c) => charges.push(c) } }))).toBe(digest);
    expect(charges).toEqual([{ operation: 'sha256', aesBlocks: 0, sha256Blocks: blocks, meters: { cpuCycles: blocks * 8_400 } }]);
    expect(ledger.summary().activities.find((a) => a.activity === 'crypto')!.meters.cpuCycles).toBe(blocks * 8_400);
  });

  it('55 bytes fit one block, 56 need two (the 0x80 and 64-bit length, §5.1.1)', () => {
    const count = (n: number) => {
      const charges: CryptoCharge[] = [];
      sha256(new Uint8Array(n), { cost: { ledger: new Kw31zLedger('d', () => 0), costs: KW31Z_COSTS, onCharge: (c) => charges.push(c) } });
      return charges[0]!.sha256Blocks;
    };
    expect([count(55), count(56), count(119), count(120)]).toEqual([1, 2, 2, 3]);
  });
});
