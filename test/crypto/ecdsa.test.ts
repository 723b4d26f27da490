// Tests for ECDSA P-256 / SHA-256 with raw r ‖ s: the RFC 6979 A.2.5 vectors, agreement with
// node:crypto both ways, and malformed signatures and keys → false, never a throw. Not ECDH (p256.test.ts).

import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import { CryptoError, ecdsaP256Sign, ecdsaP256Verify, p256PublicKey } from '../../src/crypto/index.ts';
import { flipBit, fromHex, hex, loadVectors } from './helpers.ts';

interface EcdsaFile {
  source: string;
  privateKey: string;
  publicX: string;
  publicY: string;
  vectors: { id: string; message: string; r: string; s: string }[];
}

const V = loadVectors<EcdsaFile>('ecdsa_p256_rfc6979.json');
const PRIV = fromHex(V.privateKey);
const PUB = fromHex(V.publicX + V.publicY);
const { n: N } = p256.Point.CURVE();
const be32 = (v: bigint): string => v.toString(16).padStart(64, '0');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const jwk = (pub: Uint8Array, priv?: Uint8Array) => ({
  kty: 'EC',
  crv: 'P-256',
  x: Buffer.from(pub.subarray(0, 32)).toString('base64url'),
  y: Buffer.from(pub.subarray(32)).toString('base64url'),
  ...(priv ? { d: Buffer.from(priv).toString('base64url') } : {}),
});
const NODE_PUB: KeyObject = createPublicKey({ key: jwk(PUB), format: 'jwk' });
const NODE_PRIV: KeyObject = createPrivateKey({ key: jwk(PUB, PRIV), format: 'jwk' });

describe(`ECDSA P-256 vectors (test/vectors/ecdsa_p256_rfc6979.json: ${V.source})`, () => {
  it('has the key and both SHA-256 signatures; none skipped', () => {
    expect(V.vectors.map((v) => v.id)).toEqual(['RFC6979-A.2.5-sample-SHA256', 'RFC6979-A.2.5-test-SHA256']);
    expect(hex(p256PublicKey(PRIV))).toBe(V.publicX + V.publicY);
  });

  it.each(V.vectors.map((v) => ({ ...v, name: `${v.id} (${V.source})` })))('$name: verifies, node verifies, we sign the low-s form', (v) => {
    const msg = utf8(v.message);
    const rfcSig = fromHex(v.r + v.s);
    expect(ecdsaP256Verify(PUB, msg, rfcSig), v.id).toBe(true);
    expect(nodeVerify('sha256', msg, { key: NODE_PUB, dsaEncoding: 'ieee-p1363' }, rfcSig), v.id).toBe(true);
    // Same deterministic k (RFC 6979 §3.2), so the same r; s normalised to ≤ n/2.
    const s = BigInt(`0x${v.s}`);
    const lowS = s > N / 2n ? N - s : s;
    expect(hex(ecdsaP256Sign(PRIV, msg)), v.id).toBe(v.r + be32(lowS));
  });
});

describe('ECDSA against node:crypto', () => {
  it('node verifies our signatures and we verify node’s, for 8 messages of 0–300 bytes', () => {
    for (const len of [0, 1, 55, 56, 63, 64, 65, 300]) {
      const msg = Uint8Array.from({ length: len }, (_, i) => (i * 29 + len) & 0xff);
      const ours = ecdsaP256Sign(PRIV, msg);
      expect(ours, `len ${len}`).toHaveLength(64);
      expect(nodeVerify('sha256', msg, { key: NODE_PUB, dsaEncoding: 'ieee-p1363' }, ours), `len ${len}`).toBe(true);
      const theirs = nodeSign('sha256', msg, { key: NODE_PRIV, dsaEncoding: 'ieee-p1363' });
      expect(ecdsaP256Verify(PUB, msg, theirs), `len ${len}`).toBe(true);
    }
  });

  it('signing is deterministic: same key and message, same signature', () => {
    expect(hex(ecdsaP256Sign(PRIV, utf8('firmware v1.2.3')))).toBe(hex(ecdsaP256Sign(PRIV, utf8('firmware v1.2.3'))));
  });

  it('a bad private key is params', () => {
    for (const bad of [new Uint8Array(32), fromHex(be32(N)), new Uint8Array(31).fill(1)]) {
      expect(() => ecdsaP256Sign(bad, utf8('x'))).toThrow(CryptoError);
      expect(() => ecdsaP256Sign(bad, utf8('x'))).toThrow(expect.objectContaining({ code: 'params' }));
    }
  });
});

describe('malformed signatures and keys → false, never a throw', () => {
  const msg = utf8('sample');
  const good = fromHex(V.vectors[0]!.r + V.vectors[0]!.s);
  const r = good.subarray(0, 32);
  const s = good.subarray(32);
  const cat = (a: Uint8Array | string, b: Uint8Array | string) =>
    Uint8Array.from([...(typeof a === 'string' ? fromHex(a) : a), ...(typeof b === 'string' ? fromHex(b) : b)]);

  it('the unmodified signature verifies (so each failure below is its change)', () => {
    expect(ecdsaP256Verify(PUB, msg, good)).toBe(true);
  });

  const sigCases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['63 bytes', good.subarray(0, 63)],
    ['65 bytes', Uint8Array.of(...good, 0)],
    ['DER-encoded', Uint8Array.of(0x30, 0x44, 0x02, 0x20, ...r, 0x02, 0x20, ...s)],
    ['r = 0', cat('00'.repeat(32), s)],
    ['s = 0', cat(r, '00'.repeat(32))],
    ['r = n', cat(be32(N), s)],
    ['s = n', cat(r, be32(N))],
    ['s = n + 1 (≥ n, ≡ 1 mod n)', cat(r, be32(N + 1n))],
    ['r = n + 1', cat(be32(N + 1n), s)],
    ['r, s all ones', new Uint8Array(64).fill(0xff)],
    ['all zeros', new Uint8Array(64)],
    ['r and s swapped', cat(s, r)],
  ];

  it.each(sigCases)('signature: %s', (_, sig) => {
    expect(() => ecdsaP256Verify(PUB, msg, sig)).not.toThrow();
    expect(ecdsaP256Verify(PUB, msg, sig)).toBe(false);
  });

  it('both s and n − s verify (FIPS 186-5 accepts any s in [1, n − 1]; node and OpenSSL sign either)', () => {
    const twin = cat(r, be32(N - BigInt(`0x${hex(s)}`)));
    expect(ecdsaP256Verify(PUB, msg, twin)).toBe(true);
  });

  it.each([0, 1, 7, 255, 256, 300, 511])('signature bit %i flipped', (bit) => {
    expect(ecdsaP256Verify(PUB, msg, flipBit(good, bit))).toBe(false);
  });

  it('the message changed by one bit, or another message', () => {
    expect(ecdsaP256Verify(PUB, flipBit(msg, 0), good)).toBe(false);
    expect(ecdsaP256Verify(PUB, utf8('test'), good)).toBe(false);
  });

  it.each([
    ['another valid key', p256PublicKey(fromHex('00'.repeat(31) + '07'))],
    ['off-curve key', flipBit(PUB, 511)],
    ['all-zero key', new Uint8Array(64)],
    ['63-byte key', PUB.subarray(0, 63)],
    ['SEC 1 65-byte key', Uint8Array.of(4, ...PUB)],
  ])('public key: %s', (_, pub) => {
    expect(() => ecdsaP256Verify(pub, msg, good)).not.toThrow();
    expect(ecdsaP256Verify(pub, msg, good)).toBe(false);
  });

  it('non-Uint8Array inputs return false', () => {
    const notBytes = 'abc' as unknown as Uint8Array;
    expect(ecdsaP256Verify(notBytes, msg, good)).toBe(false);
    expect(ecdsaP256Verify(PUB, notBytes, good)).toBe(false);
    expect(ecdsaP256Verify(PUB, msg, notBytes)).toBe(false);
  });
});
