// Codecs of pairing (docs/protocol.md §3, §4): every message, certificate and credential layout,
// byte by byte, round trips (fast-check), and the strict decoders' refusals.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aesCmac, ecdsaP256Verify } from '../../src/crypto/index.ts';
import {
  certificateSignedBytes,
  credentialSignedBytes,
  decodeDeviceCertificate,
  decodeRoleCredential,
  verifyDeviceCertificate,
  verifyRoleCredential,
} from '../../src/session/identity.ts';
import { Manufacturer } from '../../src/session/manufacturer.ts';
import {
  clientAddress,
  decodePairingMessage,
  deviceAddress,
  encodePairCheckD,
  encodePairFailed,
  encodePairRequest,
  encodePairResponse,
  encodePairingMessage,
  passkeyR,
  passkeyRoundZ,
  type PairingMessage,
} from '../../src/session/wire-pairing.ts';
import { hex } from './pairing-fixture.ts';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

describe('pairing messages (§4)', () => {
  it('PAIR_REQUEST lays out type, method, role, client id, PKa, L (LE) and the credential', () => {
    const m = encodePairRequest({ method: 2, role: 'clinician', clientId: bytes(16, 0xc1), pka: bytes(64, 0xaa), credential: bytes(300, 0xcc) });
    expect(m.length).toBe(85 + 300);
    expect([m[0], m[1], m[2]]).toEqual([0x01, 0x02, 0x02]);
    expect(hex(m.slice(3, 19))).toBe('c1'.repeat(16));
    expect(hex(m.slice(19, 83))).toBe('aa'.repeat(64));
    expect([m[83], m[84]]).toEqual([300 & 0xff, 300 >> 8]);
  });

  it('PAIR_RESPONSE is 284 bytes: method, certificate at 2, PKb at 140, signature at 204, Cb at 268', () => {
    const m = encodePairResponse({ method: 1, certificate: bytes(138, 1), pkb: bytes(64, 2), pkbSignature: bytes(64, 3), cb: bytes(16, 4) });
    expect(m.length).toBe(284);
    expect([m[0], m[1], m[2], m[139], m[140], m[203], m[204], m[267], m[268], m[283]]).toEqual([2, 1, 1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it('PAIR_FAILED carries the remaining seconds (u32 LE) only for 0x83', () => {
    expect(encodePairFailed(0x0a)).toEqual(Uint8Array.of(0x0f, 0x0a));
    expect(encodePairFailed(0x83, 0x01020304)).toEqual(Uint8Array.of(0x0f, 0x83, 4, 3, 2, 1));
    expect(decodePairingMessage(Uint8Array.of(0x0f, 0x83, 60, 0, 0, 0))).toEqual({ ok: true, value: { type: 'failed', reason: 0x83, remainingS: 60 } });
    expect(decodePairingMessage(Uint8Array.of(0x0f, 0x0a, 0))).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('PAIR_CHECK_D ends with the granted role; the emergency role is never paired', () => {
    expect(encodePairCheckD(bytes(16, 9), 'service')[17]).toBe(3);
    expect(() => encodePairCheckD(bytes(16, 9), 'emergency')).toThrow(RangeError);
    const bad = Uint8Array.from([0x07, ...bytes(16, 9), 14]);
    expect(decodePairingMessage(bad)).toMatchObject({ ok: false, detail: 'PAIR_CHECK_D role 0x0e is not 1, 2 or 3' });
  });

  it.each([
    ['empty', new Uint8Array(0), 'empty message'],
    ['unknown type 0x03', Uint8Array.of(0x03), 'unknown pairing message type 0x03'],
    ['request role 0', Uint8Array.from([0x01, 1, 0, ...bytes(82, 0)]), 'PAIR_REQUEST role 0x00 is not 1, 2 or 3'],
    ['request credential length beyond the message', Uint8Array.from([0x01, 1, 1, ...bytes(80, 0), 1, 0]), 'PAIR_REQUEST credential length 1 does not match the 0 bytes that follow'],
    ['random too long', bytes(18, 0x04), 'PAIR_RANDOM_C must be 17 bytes, got 18'],
  ])('refuses %s with a clear detail', (_n, m, detail) => {
    expect(decodePairingMessage(m)).toEqual({ ok: false, code: 'malformed', detail });
  });

  const nonce = fc.uint8Array({ minLength: 16, maxLength: 16 });
  const role = fc.constantFrom('patient' as const, 'clinician' as const, 'service' as const);
  const message: fc.Arbitrary<PairingMessage> = fc.oneof(
    fc.record({
      type: fc.constant('request' as const),
      method: fc.integer({ min: 0, max: 255 }),
      role,
      clientId: nonce,
      pka: fc.uint8Array({ minLength: 64, maxLength: 64 }),
      credential: fc.uint8Array({ maxLength: 200 }),
    }),
    fc.record({
      type: fc.constant('response' as const),
      method: fc.integer({ min: 0, max: 255 }),
      certificate: fc.uint8Array({ minLength: 138, maxLength: 138 }),
      pkb: fc.uint8Array({ minLength: 64, maxLength: 64 }),
      pkbSignature: fc.uint8Array({ minLength: 64, maxLength: 64 }),
      cb: nonce,
    }),
    fc.record({ type: fc.constantFrom('random-c' as const, 'random-d' as const), nonce }),
    fc.record({ type: fc.constant('check-c' as const), ea: nonce }),
    fc.record({ type: fc.constant('check-d' as const), eb: nonce, role }),
    fc.record({ type: fc.constantFrom('passkey-commit-c' as const, 'passkey-commit-d' as const), round: fc.integer({ min: 0, max: 255 }), value: nonce }),
    fc.record({ type: fc.constantFrom('passkey-random-c' as const, 'passkey-random-d' as const), round: fc.integer({ min: 0, max: 255 }), nonce }),
    fc.integer({ min: 0, max: 255 }).filter((r) => r !== 0x83).map((reason) => ({ type: 'failed' as const, reason })),
    fc.nat().map((remainingS) => ({ type: 'failed' as const, reason: 0x83, remainingS })),
  );

  it('decode(encode(m)) = m for every message (fast-check)', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodePairingMessage(encodePairingMessage(m))).toEqual({ ok: true, value: m });
      }),
      { numRuns: 500, seed: 1 },
    );
  });

  it('decode never throws and only accepts what re-encodes to the same bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => {
        const d = decodePairingMessage(b);
        if (d.ok) expect(hex(encodePairingMessage(d.value))).toBe(hex(b));
        else expect(d.code).toBe('malformed');
      }),
      { numRuns: 1000, seed: 2 },
    );
  });
});

describe('§4 constants', () => {
  it('A = 0x01 ‖ clientId[0..5], B = 0x00 ‖ serial[2..7]', () => {
    expect(hex(clientAddress(Uint8Array.from([...Array(16).keys()])))).toBe('01000102030405');
    expect(hex(deviceAddress(new TextEncoder().encode('PU123456')))).toBe('00' + hex(new TextEncoder().encode('123456')));
  });

  it('rᵢ = 0x80 | bit i of p, and ra = rb = p as a 16-byte big-endian integer', () => {
    const p = 0b1010_0000_0000_0000_0101; // 655365
    expect([0, 1, 2, 3].map((i) => passkeyRoundZ(p, i)[0])).toEqual([0x81, 0x80, 0x81, 0x80]);
    expect(passkeyRoundZ(p, 19)[0]).toBe(0x81);
    expect(hex(passkeyR(999_999))).toBe('00'.repeat(12) + '000f423f');
    expect(hex(passkeyR(undefined))).toBe('00'.repeat(16));
  });
});

describe('device certificate (§3.1) and role credential (§3.2)', () => {
  const m = new Manufacturer('codec');
  const p = m.issueDeviceIdentity('PH000042', 'ph-meter');

  it('a certificate is version ‖ type ‖ serial ‖ identity key ‖ the root signature over the label and bytes 0..73', () => {
    const c = p.certificate;
    expect(c.length).toBe(138);
    expect([c[0], c[1]]).toEqual([1, 2]);
    expect(new TextDecoder().decode(c.slice(2, 10))).toBe('PH000042');
    expect(hex(certificateSignedBytes(c).slice(0, 18))).toBe(hex(new TextEncoder().encode('medtwin-devcert-v1')));
    expect(ecdsaP256Verify(m.rootPublicKey, certificateSignedBytes(c), c.slice(74))).toBe(true);
    expect(verifyDeviceCertificate(c, m.rootPublicKey, { expectedDeviceType: 'ph-meter' })).toMatchObject({ ok: true, value: { serial: 'PH000042', deviceType: 'ph-meter' } });
  });

  it.each([
    ['another root', (c: Uint8Array) => c, new Manufacturer('other').rootPublicKey, undefined, 'manufacturer signature does not verify'],
    ['version 2', (c: Uint8Array) => ((c[0] = 2), c), undefined, undefined, 'certificate version 2 is not 1'],
    ['device type 3', (c: Uint8Array) => ((c[1] = 3), c), undefined, undefined, 'certificate device type 3 is not 1 or 2'],
    ['the wrong device type', (c: Uint8Array) => c, undefined, 'insulin-pump' as const, 'device type is ph-meter, expected insulin-pump'],
    ['an edited serial', (c: Uint8Array) => ((c[9] = 0x33), c), undefined, undefined, 'manufacturer signature does not verify'],
    ['a short one', (c: Uint8Array) => c.slice(0, 137), undefined, undefined, 'certificate must be 138 bytes, got 137'],
  ])('refuses a certificate with %s (certificate)', (_n, edit, root, expected, detail) => {
    const r = verifyDeviceCertificate(edit(p.certificate.slice()), root ?? m.rootPublicKey, expected ? { expectedDeviceType: expected } : {});
    expect(r).toEqual({ ok: false, code: 'certificate', detail });
  });

  it('a credential is version ‖ role ‖ client id ‖ not-after (LE) ‖ authority ‖ signature over the label and bytes 0..22', () => {
    const id = bytes(16, 0x5a);
    const c = m.issueCredential('service', id, 0x01020304);
    expect(c.length).toBe(87);
    expect([c[0], c[1], c[18], c[19], c[20], c[21], c[22]]).toEqual([1, 3, 4, 3, 2, 1, 2]);
    expect(decodeRoleCredential(c)).toMatchObject({ ok: true, value: { role: 'service', notAfterS: 0x01020304, authority: 'service' } });
    expect(ecdsaP256Verify(m.serviceAuthorityPublicKey, credentialSignedBytes(c), c.slice(23))).toBe(true);
    const check = { role: 'service' as const, clientId: id, nowS: 0x01020304, clinicalAuthorityPublicKey: m.clinicalAuthorityPublicKey, serviceAuthorityPublicKey: m.serviceAuthorityPublicKey };
    expect(verifyRoleCredential(c, check).ok).toBe(true);
    expect(verifyRoleCredential(c, { ...check, nowS: 0x01020305 })).toMatchObject({ ok: false, code: 'credential', detail: 'credential expired at 16909060 s (device clock 16909061 s)' });
    expect(decodeDeviceCertificate(c)).toMatchObject({ ok: false, code: 'malformed' });
  });
});

describe('the manufacturer', () => {
  it('derives every key from its seed: same seed, same keys; another seed, others', () => {
    const a = new Manufacturer('s');
    const b = new Manufacturer('s');
    const c = new Manufacturer('t');
    expect(hex(a.rootPublicKey)).toBe(hex(b.rootPublicKey));
    expect(hex(a.issueDeviceIdentity('PU000001', 'insulin-pump').certificate)).toBe(hex(b.issueDeviceIdentity('PU000001', 'insulin-pump').certificate));
    expect(hex(a.rootPublicKey)).not.toBe(hex(c.rootPublicKey));
    expect(hex(a.clinicalAuthorityPublicKey)).not.toBe(hex(a.serviceAuthorityPublicKey));
    expect(hex(a.issueDeviceIdentity('PU000001', 'insulin-pump').storageKey)).not.toBe(hex(a.issueDeviceIdentity('PU000002', 'insulin-pump').storageKey));
  });

  it('Kdev = CMAC(Kmaster, "mtDK" ‖ serial); code = CMAC(Kdev, "mtBG" ‖ index ‖ notAfterS) (§7)', () => {
    const m = new Manufacturer('bg');
    const kdev = m.deviceBreakGlassKey('PU000001');
    expect(hex(m.issueDeviceIdentity('PU000001', 'insulin-pump').breakGlassKey)).toBe(hex(kdev));
    const msg = Uint8Array.from([...new TextEncoder().encode('mtBG'), 7, 0, 0, 0, 0x10, 0x0e, 0, 0]);
    expect(hex(m.issueBreakGlassCode('PU000001', 7, 3600))).toBe(hex(aesCmac(kdev, msg)));
    expect(hex(m.deviceBreakGlassKey('PU000002'))).not.toBe(hex(kdev));
  });
});
