// Tests for the signed GLP checkpoint (glp-checkpoint.ts): layout, what is signed and by whom, the
// charge of one signature, malformed inputs' codes, and fuzzing of the decoder.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { ecdsaP256Verify } from '../../../src/crypto/index.ts';
import {
  decodeGlpCheckpoint,
  encodeGlpCheckpoint,
  GLP_CHECKPOINT_BYTES,
  glpCheckpointSignedBytes,
  signGlpCheckpoint,
  verifyGlpCheckpointSignature,
  type GlpCheckpointFields,
} from '../../../devices/ph-meter/glp-checkpoint.ts';
import { MANUFACTURER } from './glp-fixtures.ts';

const ID = MANUFACTURER.issueDeviceIdentity('PH000001', 'ph-meter');
const OTHER = MANUFACTURER.issueDeviceIdentity('PH000002', 'ph-meter');
const publicKeyOf = (cert: Uint8Array) => cert.slice(10, 74); // §3.1: identity public key at +10
const FIELDS: GlpCheckpointFields = {
  serial: 'PH000001',
  firstSeq: 0x11,
  lastSeq: 0x0122,
  newestSeq: 0x013344,
  signedAtS: 0x55667788,
  anchorHash: new Uint8Array(32).fill(0xaa),
  headHash: new Uint8Array(32).fill(0xbb),
};
const ascii = (s: string) => [...new TextEncoder().encode(s)];

describe('GLP checkpoint', () => {
  it('lays out version 1 as documented and signs "medtwin-glp-ckpt-v1" ‖ bytes 0..91 with the identity key', () => {
    const cp = signGlpCheckpoint(FIELDS, ID.identityPrivateKey);
    expect(cp.length).toBe(156);
    expect([...cp.subarray(0, 28)]).toEqual([1, 0, 0, 0, ...ascii('PH000001'), 0x11, 0, 0, 0, 0x22, 0x01, 0, 0, 0x44, 0x33, 0x01, 0, 0x88, 0x77, 0x66, 0x55]);
    expect(cp.subarray(28, 60)).toEqual(FIELDS.anchorHash);
    expect(cp.subarray(60, 92)).toEqual(FIELDS.headHash);
    const signed = glpCheckpointSignedBytes(cp);
    expect([...signed]).toEqual([...ascii('medtwin-glp-ckpt-v1'), ...cp.subarray(0, 92)]);
    expect(ecdsaP256Verify(publicKeyOf(ID.certificate), signed, cp.subarray(92))).toBe(true);
    // RFC 6979: the same key and message give the same signature.
    expect(signGlpCheckpoint(FIELDS, ID.identityPrivateKey)).toEqual(cp);
    const d = decodeGlpCheckpoint(cp);
    expect(d).toEqual({ ok: true, value: { version: 1, ...FIELDS, signature: cp.slice(92), bytes: cp } });
  });

  it('verifies only under the signer’s key and only unchanged', () => {
    const cp = decodeGlpCheckpoint(signGlpCheckpoint(FIELDS, ID.identityPrivateKey));
    if (!cp.ok) throw new Error(cp.code);
    expect(verifyGlpCheckpointSignature(cp.value, publicKeyOf(ID.certificate))).toBe(true);
    expect(verifyGlpCheckpointSignature(cp.value, publicKeyOf(OTHER.certificate))).toBe(false);
    const edited = cp.value.bytes.slice();
    edited[16] = edited[16]! ^ 0x01; // lastSeq 0x122 → 0x123
    const e = decodeGlpCheckpoint(edited);
    if (!e.ok) throw new Error(e.code);
    expect(e.value.lastSeq).toBe(0x0123);
    expect(verifyGlpCheckpointSignature(e.value, publicKeyOf(ID.certificate))).toBe(false);
  });

  it('charges one ECDSA signature plus 2 SHA-256 blocks (111 bytes signed)', () => {
    const ledger = new Kw31zLedger('meter', () => 0);
    signGlpCheckpoint(FIELDS, ID.identityPrivateKey, { cost: { ledger, costs: KW31Z_COSTS } });
    const crypto = ledger.summary().activities.find((a) => a.activity === 'crypto')!;
    expect(crypto.meters.cpuCycles).toBe(KW31Z_COSTS.ecdsaSignCycles.value + 2 * KW31Z_COSTS.sha256CyclesPer64Bytes.value);
    expect(crypto.meters.cpuCycles).toBe(48_016_800);
  });

  it.each([
    ['first 0', { firstSeq: 0 }],
    ['first after last', { firstSeq: 5, lastSeq: 4 }],
    ['last after newest', { lastSeq: 0x013345 }],
    ['serial', { serial: 'PH 00001' }],
    ['anchor length', { anchorHash: new Uint8Array(31) }],
    ['u32', { signedAtS: 2 ** 32 }],
  ] as const)('refuses to encode: %s', (_, patch) => {
    expect(() => encodeGlpCheckpoint({ ...FIELDS, ...patch }, new Uint8Array(64))).toThrow(RangeError);
  });

  const good = encodeGlpCheckpoint(FIELDS, new Uint8Array(64).fill(1));
  const patched = (at: number, ...bytes: number[]) => {
    const b = good.slice();
    b.set(bytes, at);
    return b;
  };
  it.each([
    ['short', good.subarray(0, 155), 'length'],
    ['long', Uint8Array.from([...good, 0]), 'length'],
    ['version 2', patched(0, 2), 'version'],
    ['reserved', patched(3, 1), 'reserved'],
    ['serial', patched(4, 0x19), 'serial'],
    ['first 0', patched(12, 0, 0, 0, 0), 'range'],
    ['last < first', patched(16, 0x10, 0, 0, 0), 'range'],
    ['newest < last', patched(20, 0x21, 0x01, 0, 0), 'range'],
  ] as const)('decoding %s → %s', (_, bytes, code) => {
    expect(decodeGlpCheckpoint(bytes)).toMatchObject({ ok: false, code });
  });

  it('decoder fuzz: random and mutated bytes never throw; whatever decodes re-encodes to itself', () => {
    let decoded = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.array(fc.tuple(fc.nat(GLP_CHECKPOINT_BYTES - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }).map((flips) => {
            const b = good.slice();
            for (const [at, xor] of flips) b[at] = b[at]! ^ xor;
            return b;
          }),
        ),
        (bytes) => {
          const d = decodeGlpCheckpoint(bytes);
          if (!d.ok) return;
          decoded += 1;
          expect(encodeGlpCheckpoint(d.value, d.value.signature)).toEqual(bytes);
        },
      ),
      { seed: 0xc4e1, numRuns: 3_000 },
    );
    expect(decoded).toBeGreaterThan(500);
  });
});
