// Tests for AES-CMAC: RFC 4493 §4 examples 1–4 and its subkeys (checked through aesCmac and our
// AES block), and argument errors. Not the LE SC toolbox (toolbox.test.ts).

import { describe, expect, it } from 'vitest';
import { Aes128 } from '../../src/crypto/aes-block.ts';
import { aesCmac, CryptoError } from '../../src/crypto/index.ts';
import { fromHex, hex, loadVectors } from './helpers.ts';

interface CmacFile {
  rfc4493: {
    source: string;
    key: string;
    subkeys: { L_aes_k_zero: string; K1: string; K2: string; source: string };
    examples: { id: string; mlen: number; message: string; tag: string }[];
  };
}

const V = loadVectors<CmacFile>('cmac.json').rfc4493;
const KEY = fromHex(V.key);

describe(`AES-CMAC vectors (test/vectors/cmac.json: ${V.source})`, () => {
  it('has the four RFC 4493 examples and the three subkey values; none skipped', () => {
    expect(V.examples.map((e) => e.id)).toEqual(['RFC4493-Example1', 'RFC4493-Example2', 'RFC4493-Example3', 'RFC4493-Example4']);
    expect(V.examples.map((e) => e.mlen)).toEqual(V.examples.map((e) => e.message.length / 2));
    expect(Object.keys(V.subkeys).filter((k) => k !== 'source')).toEqual(['L_aes_k_zero', 'K1', 'K2']);
  });

  it.each(V.examples.map((e) => ({ ...e, name: `${e.id} (RFC 4493 §4, Mlen = ${e.mlen})` })))('$name', (e) => {
    expect(hex(aesCmac(KEY, fromHex(e.message))), e.id).toBe(e.tag);
  });

  it('subkey L = AES-K(0^128) (RFC 4493 §2.3 step 1), through our AES block', () => {
    const l = new Uint8Array(16);
    new Aes128(KEY).encryptBlock(new Uint8Array(16), 0, l, 0);
    expect(hex(l)).toBe(V.subkeys.L_aes_k_zero);
  });

  it('subkey K1: for a one-block message M, CMAC = AES-K(M ⊕ K1), so CMAC(K1) = AES-K(0) = L (RFC 4493 §2.4 step 4)', () => {
    expect(hex(aesCmac(KEY, fromHex(V.subkeys.K1)))).toBe(V.subkeys.L_aes_k_zero);
  });

  it('subkey K2: for a 15-byte M, CMAC = AES-K((M ‖ 0x80) ⊕ K2) (RFC 4493 §2.4 step 4, padded case)', () => {
    const m = Uint8Array.from({ length: 15 }, (_, i) => i * 17);
    const k2 = fromHex(V.subkeys.K2);
    const block = new Uint8Array(16);
    block.set(m);
    block[15] = 0x80;
    for (let i = 0; i < 16; i++) block[i]! ^= k2[i]!;
    const expected = new Uint8Array(16);
    new Aes128(KEY).encryptBlock(block, 0, expected, 0);
    expect(hex(aesCmac(KEY, m))).toBe(hex(expected));
  });

  it('takes unaligned views for key and message', () => {
    const buf = new Uint8Array(1 + 16 + 40);
    buf.set(KEY, 1);
    const ex3 = V.examples[2]!;
    buf.set(fromHex(ex3.message), 17);
    expect(hex(aesCmac(buf.subarray(1, 17), buf.subarray(17)))).toBe(ex3.tag);
  });

  it.each([0, 15, 17, 32])('rejects a %i-byte key with params', (n) => {
    expect(() => aesCmac(new Uint8Array(n), new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'params' }));
  });

  it('rejects a non-Uint8Array message with params', () => {
    expect(() => aesCmac(KEY, 'abc' as unknown as Uint8Array)).toThrow(CryptoError);
  });
});
