// Tests for the session key schedule, proofs and break-glass codes against a fixed worked example
// (docs/protocol.md §5.2, §7). Not record tests (record-layer.test.ts).
//
// How the expected bytes were made: once, by an independent route — RFC 4493's CMAC written by
// hand over node:crypto's AES-128-ECB (session-node-crypto.ts, itself checked against RFC 4493's
// vectors below), applied to the label ‖ nonce ‖ nonce concatenation assembled byte by byte.
// The hex is pasted here; the test recomputes the independent route too, so both must agree with
// src/session/key-schedule.ts, which uses src/crypto's aesCmac.

import { describe, expect, it } from 'vitest';
import { aesCmac } from '../../src/crypto/index.ts';
import { breakGlassCode, breakGlassDeviceKey, formatBreakGlassCode, parseBreakGlassCode } from '../../src/session/break-glass.ts';
import { clientProof, deriveRecordKeys, deriveSessionKeys, deviceProof, KEY_SCHEDULE_LABELS, wipeKeys } from '../../src/session/key-schedule.ts';
import { nodeCmac } from './session-node-crypto.ts';
import { hex, toHex } from './session-fixture.ts';

// The worked example (docs/protocol.md §5.2).
const LTK = hex('000102030405060708090a0b0c0d0e0f');
const NC = hex('00112233445566778899aabbccddeeff');
const ND = hex('ffeeddccbbaa99887766554433221100');
const EXPECTED = {
  authKey: 'ae238bee86fe2d2e554c3e87d8023161',
  c2dKey: '7a3ef939d98a26d0dc642f52b888f8c7',
  d2cKey: 'f3c5fa2a4e98c9e373c6816cd580178d',
  iv: 'cfccd388db55c0309f3655dc689b9661',
  pc: '40a736ee2844b02366f9760872faff7b',
  pd: '5110d3507b528d8f92337c5b2d53c8dc',
};

/** `label ‖ a ‖ b`, assembled by hand. */
const by = (label: string, a: Uint8Array, b: Uint8Array): Uint8Array => new Uint8Array([...Buffer.from(label, 'ascii'), ...a, ...b]);

describe('the independent CMAC route', () => {
  // RFC 4493 §4 examples 1–3 (key 2b7e1516…).
  const K = hex('2b7e151628aed2a6abf7158809cf4f3c');
  it.each([
    ['empty', '', 'bb1d6929e95937287fa37d129b756746'],
    ['16 bytes', '6bc1bee22e409f96e93d7e117393172a', '070a16b46b4d4144f79bdd9dd04a287c'],
    ['40 bytes', '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411', 'dfa66747de9ae63030ca32611497c827'],
  ])('matches RFC 4493 example %s', (_name, msg, tag) => {
    expect(toHex(nodeCmac(K, hex(msg)))).toBe(tag);
  });
});

describe('key schedule (docs/protocol.md §5.2)', () => {
  it('derives Kauth, Kc2d, Kd2c and the IVs of the worked example', () => {
    const keys = deriveSessionKeys(LTK, NC, ND);
    expect(toHex(keys.authKey)).toBe(EXPECTED.authKey);
    expect(toHex(keys.c2dKey)).toBe(EXPECTED.c2dKey);
    expect(toHex(keys.d2cKey)).toBe(EXPECTED.d2cKey);
    expect(toHex(keys.c2dIv)).toBe(EXPECTED.iv.slice(0, 16));
    expect(toHex(keys.d2cIv)).toBe(EXPECTED.iv.slice(16));
  });

  it('agrees with the independent route on every value', () => {
    expect(toHex(nodeCmac(LTK, by(KEY_SCHEDULE_LABELS.auth, NC, ND)))).toBe(EXPECTED.authKey);
    expect(toHex(nodeCmac(LTK, by(KEY_SCHEDULE_LABELS.clientToDevice, NC, ND)))).toBe(EXPECTED.c2dKey);
    expect(toHex(nodeCmac(LTK, by(KEY_SCHEDULE_LABELS.deviceToClient, NC, ND)))).toBe(EXPECTED.d2cKey);
    expect(toHex(nodeCmac(LTK, by(KEY_SCHEDULE_LABELS.iv, NC, ND)))).toBe(EXPECTED.iv);
    const kauth = hex(EXPECTED.authKey);
    expect(toHex(nodeCmac(kauth, by('mtPC', NC, ND)))).toBe(EXPECTED.pc);
    expect(toHex(nodeCmac(kauth, by('mtPD', ND, NC)))).toBe(EXPECTED.pd);
    // and src/crypto's CMAC on the same hand-made concatenation
    expect(toHex(aesCmac(LTK, by('mtAK', NC, ND)))).toBe(EXPECTED.authKey);
  });

  it('proves with Pc = CMAC(Kauth, "mtPC" ‖ Nc ‖ Nd) and Pd = CMAC(Kauth, "mtPD" ‖ Nd ‖ Nc)', () => {
    const kauth = deriveSessionKeys(LTK, NC, ND).authKey;
    expect(toHex(clientProof(kauth, NC, ND))).toBe(EXPECTED.pc);
    expect(toHex(deviceProof(kauth, NC, ND))).toBe(EXPECTED.pd);
    expect(EXPECTED.pc).not.toBe(EXPECTED.pd);
  });

  it('derives an epoch’s record keys with the same formulas (rekey, §5.3)', () => {
    const r = deriveRecordKeys(LTK, NC, ND);
    expect(toHex(r.c2dKey)).toBe(EXPECTED.c2dKey);
    expect(toHex(r.d2cKey)).toBe(EXPECTED.d2cKey);
    expect('authKey' in r).toBe(false);
  });

  it('gives different keys for other nonces and for swapped nonces', () => {
    const a = deriveSessionKeys(LTK, NC, ND);
    const b = deriveSessionKeys(LTK, ND, NC);
    expect(toHex(a.c2dKey)).not.toBe(toHex(b.c2dKey));
    expect(toHex(a.c2dKey)).not.toBe(toHex(a.d2cKey));
  });

  it('rejects nonces of the wrong length and wipes keys', () => {
    expect(() => deriveSessionKeys(LTK, NC.subarray(0, 15), ND)).toThrow(RangeError);
    const k = deriveSessionKeys(LTK, NC, ND);
    wipeKeys(k);
    expect([...k.authKey, ...k.c2dKey, ...k.d2cKey, ...k.c2dIv, ...k.d2cIv].every((b) => b === 0)).toBe(true);
  });
});

describe('break-glass codes (docs/protocol.md §7)', () => {
  const KDEV = hex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');

  it('computes code = CMAC(Kdev, "mtBG" ‖ index[4] ‖ notAfterS[4]) with little-endian integers', () => {
    // index 7, not-after 1,700,003,600 = 0x6553FF10 → bytes 10 ff 53 65.
    const m = new Uint8Array([...Buffer.from('mtBG'), 0x07, 0x00, 0x00, 0x00, 0x10, 0xff, 0x53, 0x65]);
    const expected = 'd2e3d696a2056592629a8e090de34a98';
    expect(toHex(nodeCmac(KDEV, m))).toBe(expected);
    expect(toHex(breakGlassCode(KDEV, 7, 1_700_003_600))).toBe(expected);
  });

  it('derives Kdev = CMAC(Kmaster, "mtDK" ‖ serial) as the manufacturer does', () => {
    const master = hex('0f0e0d0c0b0a09080706050403020100');
    const serial = Uint8Array.from(Buffer.from('PU000001'));
    expect(toHex(breakGlassDeviceKey(master, serial))).toBe(toHex(nodeCmac(master, new Uint8Array([...Buffer.from('mtDK'), ...serial]))));
  });

  it('formats a code as 32 hex digits and parses it back, refusing anything else', () => {
    const code = breakGlassCode(KDEV, 1, 2);
    const s = formatBreakGlassCode(code);
    expect(s).toMatch(/^[0-9a-f]{32}$/);
    expect(parseBreakGlassCode(s)).toEqual({ ok: true, value: code });
    expect(parseBreakGlassCode('abc')).toMatchObject({ ok: false, code: 'malformed' });
  });
});
