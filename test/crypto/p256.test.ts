// Tests for P-256 key pairs and ECDH: the Core spec debug key and ECDH sample data sets, the Linux
// self-test, node:crypto agreement, and every class of invalid peer key → point. Not ECDSA (ecdsa.test.ts).

import { createECDH } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import {
  CryptoError,
  isValidP256PublicKey,
  p256Ecdh,
  p256Keypair,
  p256PublicKey,
  p256ValidatePublicKey,
  P256_KEYGEN_ENTROPY_BYTES,
  toLsbFirst,
} from '../../src/crypto/index.ts';
import { World } from '../../src/sim/world.ts';
import { fromHex, hex, loadVectors } from './helpers.ts';

interface EcdhSample {
  id: string;
  source: string;
  privateA: string;
  privateB: string;
  publicAx: string;
  publicAy: string;
  publicBx: string;
  publicBy: string;
  dhKey: string;
  linuxKernelLsbFirst?: { dhKey?: string; publicAx?: string };
}
interface P256File {
  p256: {
    debugKeys: { source: string; privateKey: string; publicX: string; publicY: string };
    ecdhSampleData: EcdhSample[];
  };
}

const V = loadVectors<P256File>('le_sc_toolbox.json').p256;
const { p: P, n: N, Gx, Gy } = p256.Point.CURVE();
const be32 = (v: bigint): string => v.toString(16).padStart(64, '0');

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
  return undefined;
};

describe('P-256 vectors (test/vectors/le_sc_toolbox.json)', () => {
  it('has the debug key pair and three ECDH samples; none skipped', () => {
    expect(V.ecdhSampleData.map((s) => s.id)).toEqual(['P256-set1', 'P256-set2', 'linux-self-DH']);
  });

  it(`debug key pair: public key of the debug private key (${V.debugKeys.source})`, () => {
    const k = V.debugKeys;
    expect(hex(p256PublicKey(fromHex(k.privateKey)))).toBe(k.publicX + k.publicY);
  });

  it.each(V.ecdhSampleData.map((s) => ({ ...s, name: `${s.id} (${s.source})` })))('public keys and DHKey both ways: $name', (s) => {
    const privA = fromHex(s.privateA);
    const privB = fromHex(s.privateB);
    const pubA = p256PublicKey(privA);
    const pubB = p256PublicKey(privB);
    expect(hex(pubA), s.id).toBe(s.publicAx + s.publicAy);
    expect(hex(pubB), s.id).toBe(s.publicBx + s.publicBy);
    expect(hex(p256Ecdh(privA, fromHex(s.publicBx + s.publicBy))), s.id).toBe(s.dhKey);
    expect(hex(p256Ecdh(privB, fromHex(s.publicAx + s.publicAy))), s.id).toBe(s.dhKey);
    if (s.linuxKernelLsbFirst?.dhKey) expect(hex(toLsbFirst(fromHex(s.dhKey))), `${s.id} LSB-first`).toBe(s.linuxKernelLsbFirst.dhKey);
    if (s.linuxKernelLsbFirst?.publicAx) expect(hex(toLsbFirst(pubA.subarray(0, 32))), `${s.id} LSB-first X`).toBe(s.linuxKernelLsbFirst.publicAx);
  });
});

describe('P-256 key generation from entropy', () => {
  const rng = new World({ seed: 'p256-keygen' }).random.stream('test', 'trng');

  it('is deterministic in the entropy and gives a matching, valid public key', () => {
    const e = rng.bytes(P256_KEYGEN_ENTROPY_BYTES);
    const a = p256Keypair(e);
    const b = p256Keypair(e.slice());
    expect(hex(a.privateKey)).toBe(hex(b.privateKey));
    expect(a.privateKey).toHaveLength(32);
    expect(a.publicKey).toHaveLength(64);
    expect(hex(a.publicKey)).toBe(hex(p256PublicKey(a.privateKey)));
    expect(isValidP256PublicKey(a.publicKey)).toBe(true);
  });

  it('maps entropy e to d = (e mod (n − 1)) + 1 (FIPS 186-5 A.2.1): e = 0 and e = n − 1 both give d = 1, Q = G', () => {
    const g = be32(Gx) + be32(Gy);
    for (const e of [new Uint8Array(48), fromHex('00'.repeat(16) + be32(N - 1n))]) {
      const kp = p256Keypair(e);
      expect(hex(kp.privateKey)).toBe('00'.repeat(31) + '01');
      expect(hex(kp.publicKey)).toBe(g);
    }
    // e = n gives d = 2.
    expect(hex(p256Keypair(fromHex('00'.repeat(16) + be32(N))).privateKey)).toBe('00'.repeat(31) + '02');
  });

  it.each([0, 32, 40, 47, 49, 64])('rejects %i bytes of entropy with params', (n) => {
    expect(codeOf(() => p256Keypair(new Uint8Array(n)))).toBe('params');
  });

  it('ECDH agrees with node:crypto (OpenSSL) for 3 seeded key pairs, both directions', () => {
    for (let i = 0; i < 3; i++) {
      const a = p256Keypair(rng.bytes(48));
      const b = p256Keypair(rng.bytes(48));
      const node = createECDH('prime256v1');
      node.setPrivateKey(a.privateKey);
      expect(hex(node.getPublicKey().subarray(1)), `pair ${i}`).toBe(hex(a.publicKey));
      const expected = hex(node.computeSecret(Buffer.concat([Buffer.of(4), b.publicKey])));
      expect(hex(p256Ecdh(a.privateKey, b.publicKey)), `pair ${i}`).toBe(expected);
      expect(hex(p256Ecdh(b.privateKey, a.publicKey)), `pair ${i}`).toBe(expected);
    }
  });
});

/** A point on the curve with a small x (found by trying x = 0, 1, 2, …; p ≡ 3 mod 4, so y = rhs^((p+1)/4)). */
function pointWithSmallX(): { x: bigint; y: bigint } {
  const { a, b } = p256.Point.CURVE();
  const pow = (base: bigint, e: bigint): bigint => {
    let r = 1n;
    base %= P;
    for (; e > 0n; e >>= 1n, base = (base * base) % P) if (e & 1n) r = (r * base) % P;
    return r;
  };
  for (let x = 0n; ; x++) {
    const rhs = (((x * x * x + a * x + b) % P) + P) % P;
    const y = pow(rhs, (P + 1n) / 4n);
    if ((y * y) % P === rhs) return { x, y };
  }
}

describe('invalid peer public keys → point (NIST SP 800-56A §5.6.2.3.3)', () => {
  const priv = fromHex(V.debugKeys.privateKey);
  const good = fromHex(V.ecdhSampleData[0]!.publicBx + V.ecdhSampleData[0]!.publicBy);
  const small = pointWithSmallX();

  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['63 bytes', good.subarray(0, 63)],
    ['65 bytes (SEC 1 0x04 prefix: this API takes X ‖ Y)', Uint8Array.of(4, ...good)],
    ['33 bytes (compressed)', Uint8Array.of(2, ...good.subarray(0, 32))],
    ['all zeros (the point at infinity)', new Uint8Array(64)],
    ['Y + 1 (off the curve)', (() => { const b = good.slice(); b[63]! ^= 1; return b; })()],
    ['Y = 0 (the fixed-coordinate invalid-curve attack, CVE-2018-5383)', Uint8Array.from([...good.subarray(0, 32), ...new Uint8Array(32)])],
    ['X = p, Y from a valid point', fromHex(be32(P) + hex(good.subarray(32)))],
    ['X + p for a valid point (x ≥ p, valid if reduced mod p)', fromHex(be32(small.x + P) + be32(small.y))],
    ['Y + p is not encodable here, so Y = p', fromHex(hex(good.subarray(0, 32)) + be32(P))],
    ['all ones (x, y ≥ p)', new Uint8Array(64).fill(0xff)],
  ];

  it('the small-x point itself is valid (so its x + p twin is rejected for x ≥ p alone)', () => {
    const pt = fromHex(be32(small.x) + be32(small.y));
    expect(isValidP256PublicKey(pt)).toBe(true);
    expect(p256Ecdh(priv, pt)).toHaveLength(32);
  });

  it.each(cases)('%s', (_, bad) => {
    expect(codeOf(() => p256Ecdh(priv, bad))).toBe('point');
    expect(codeOf(() => p256ValidatePublicKey(bad))).toBe('point');
    expect(isValidP256PublicKey(bad)).toBe(false);
  });

  it('a non-Uint8Array peer key is point', () => {
    expect(codeOf(() => p256Ecdh(priv, 'key' as unknown as Uint8Array))).toBe('point');
  });

  it.each([
    ['zero', new Uint8Array(32)],
    ['n', fromHex(be32(N))],
    ['n + 1', fromHex(be32(N + 1n))],
    ['31 bytes', new Uint8Array(31).fill(1)],
    ['33 bytes', new Uint8Array(33).fill(1)],
  ])('a bad private key (%s) is params, for ECDH and public key derivation', (_, bad) => {
    expect(codeOf(() => p256Ecdh(bad, good))).toBe('params');
    expect(codeOf(() => p256PublicKey(bad))).toBe('params');
  });

  it('n − 1 is a valid private key (the top of the range)', () => {
    expect(hex(p256PublicKey(fromHex(be32(N - 1n))))).toBe(be32(Gx) + be32(P - Gy)); // (n − 1)·G = −G
  });
});
