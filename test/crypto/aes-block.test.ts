// Tests for the AES-128 block under the modes: the FIPS-197 vector, and agreement with noble's own
// block (ecb and unsafe.encrypt) on seeded random keys and blocks. Not a test of any mode.

import { ecb, unsafe } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import { Aes128, NobleAes128, bswap32, putWordLe, wordLe } from '../../src/crypto/aes-block.ts';
import { CryptoError } from '../../src/crypto/errors.ts';
import { World } from '../../src/sim/world.ts';
import { fromHex, hex } from './helpers.ts';

/** FIPS-197 Appendix C.1 (AES-128) and Appendix B (the cipher example). */
const FIPS197 = [
  { id: 'FIPS-197 C.1', key: '000102030405060708090a0b0c0d0e0f', pt: '00112233445566778899aabbccddeeff', ct: '69c4e0d86a7b0430d8cdb78070b4c55a' },
  { id: 'FIPS-197 B', key: '2b7e151628aed2a6abf7158809cf4f3c', pt: '3243f6a8885a308d313198a2e0370734', ct: '3925841d02dc09fbdc118597196a0b32' },
];

describe('Aes128 (our T-table core)', () => {
  it.each(FIPS197)('$id', ({ key, pt, ct }) => {
    for (const Cipher of [Aes128, NobleAes128]) {
      const out = new Uint8Array(16);
      new Cipher(fromHex(key)).encryptBlock(fromHex(pt), 0, out, 0);
      expect(hex(out), Cipher.name).toBe(ct);
    }
  });

  it('agrees with noble ecb and unsafe.encrypt on 500 seeded random keys and blocks', () => {
    const rng = new World({ seed: 'aes-block-cross' }).random.stream('test', 'aes');
    for (let i = 0; i < 500; i++) {
      const key = rng.bytes(16);
      const block = rng.bytes(16);
      const ours = new Uint8Array(16);
      new Aes128(key).encryptBlock(block, 0, ours, 0);
      const label = `case ${i}: key ${hex(key)} block ${hex(block)}`;
      expect(hex(ours), label).toBe(hex(ecb(key, { disablePadding: true }).encrypt(block)));
      // Word level too: the same LE words in, the same words out.
      const a = new Aes128(key);
      a.encryptWords(wordLe(block, 0), wordLe(block, 4), wordLe(block, 8), wordLe(block, 12));
      const r = unsafe.encrypt(unsafe.expandKeyLE(key), wordLe(block, 0), wordLe(block, 4), wordLe(block, 8), wordLe(block, 12));
      expect([...a.out].map((w) => w >>> 0), label).toEqual([r.s0, r.s1, r.s2, r.s3].map((w) => w >>> 0));
    }
  });

  it('encrypts in place and between unaligned offsets', () => {
    const a = new Aes128(fromHex(FIPS197[0]!.key));
    const buf = new Uint8Array(21).fill(0xee);
    buf.set(fromHex(FIPS197[0]!.pt), 3);
    a.encryptBlock(buf, 3, buf, 3);
    expect(hex(buf.subarray(3, 19))).toBe(FIPS197[0]!.ct);
    expect([buf[2], buf[19]]).toEqual([0xee, 0xee]);
  });

  it.each([0, 15, 17, 24, 32])('rejects a %i-byte key with params', (n) => {
    expect(() => new Aes128(new Uint8Array(n))).toThrow(CryptoError);
    expect(() => new Aes128(new Uint8Array(n))).toThrow(expect.objectContaining({ code: 'params' }));
  });

  it('wipe() zeroes the key schedule: the same block no longer encrypts to the vector', () => {
    const a = new Aes128(fromHex(FIPS197[0]!.key));
    a.wipe();
    const out = new Uint8Array(16);
    a.encryptBlock(fromHex(FIPS197[0]!.pt), 0, out, 0);
    expect(hex(out)).not.toBe(FIPS197[0]!.ct);
    // Two wiped instances of different keys now compute the same (zero-key-schedule) permutation.
    const b = new Aes128(fromHex(FIPS197[1]!.key));
    b.wipe();
    const out2 = new Uint8Array(16);
    b.encryptBlock(fromHex(FIPS197[0]!.pt), 0, out2, 0);
    expect(hex(out2)).toBe(hex(out));
  });

  it('word helpers: LE packing and byte swap', () => {
    const b = Uint8Array.of(1, 2, 3, 4);
    expect(wordLe(b, 0) >>> 0).toBe(0x04030201);
    const o = new Uint8Array(4);
    putWordLe(o, 0, 0xa1b2c3d4);
    expect(hex(o)).toBe('d4c3b2a1');
    expect(bswap32(0x01020304) >>> 0).toBe(0x04030201);
    expect(bswap32(0xfffe) >>> 0).toBe(0xfeff0000);
  });
});
