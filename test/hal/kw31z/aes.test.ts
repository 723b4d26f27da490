// Tests for the simulated KW31Z LTC (AES-128): the FIPS-197 vector, agreement with noble's ECB,
// in-place and unaligned blocks, errors that change nothing, exact ledger charges, no key in the trace.

import { ecb } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import { Kw31zAes } from '../../../hal/kw31z/aes.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import type { Activity } from '../../../hal/ledger.ts';
import type { HalResult } from '../../../hal/result.ts';
import { World } from '../../../src/sim/world.ts';

const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** FIPS-197 (2001/2023) Appendix C.1, AES-128. */
const FIPS197_C1 = {
  key: '000102030405060708090a0b0c0d0e0f',
  plaintext: '00112233445566778899aabbccddeeff',
  ciphertext: '69c4e0d86a7b0430d8cdb78070b4c55a',
};

function setup(opts: { verbose?: boolean } = {}) {
  const world = new World({ seed: 'aes-test', trace: { verbose: opts.verbose ?? false } });
  const ledger = new Kw31zLedger('pump', () => world.nowUs);
  const aes = new Kw31zAes({ device: 'pump', world, ledger });
  const meters = (a: Activity) => ledger.summary().activities.find((x) => x.activity === a)!.meters;
  return { world, ledger, aes, meters };
}

function ok(r: HalResult): void {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}`);
}

describe('Kw31zAes vectors', () => {
  it('encrypts the FIPS-197 Appendix C.1 AES-128 vector', () => {
    const { aes } = setup();
    ok(aes.setKey(fromHex(FIPS197_C1.key)));
    const out = new Uint8Array(16);
    ok(aes.encryptBlock(fromHex(FIPS197_C1.plaintext), out));
    expect(hex(out)).toBe(FIPS197_C1.ciphertext);
  });

  it('agrees with noble ECB on 32 seeded random keys and blocks (guards the unsafe API on upgrade)', () => {
    const { aes } = setup();
    const rng = new World({ seed: 'aes-cross' }).random.stream('test', 'vectors');
    for (let i = 0; i < 32; i++) {
      const key = rng.bytes(16);
      const block = rng.bytes(16);
      ok(aes.setKey(key));
      const out = new Uint8Array(16);
      ok(aes.encryptBlock(block, out));
      expect(hex(out), `case ${i}: key ${hex(key)} block ${hex(block)}`).toBe(hex(ecb(key, { disablePadding: true }).encrypt(block)));
    }
  });

  it('encrypts in place (output === input)', () => {
    const { aes } = setup();
    ok(aes.setKey(fromHex(FIPS197_C1.key)));
    const block = fromHex(FIPS197_C1.plaintext);
    ok(aes.encryptBlock(block, block));
    expect(hex(block)).toBe(FIPS197_C1.ciphertext);
  });

  it('takes unaligned views for key, input and output', () => {
    const { aes } = setup();
    const keyBuf = new Uint8Array(17);
    keyBuf.set(fromHex(FIPS197_C1.key), 1);
    ok(aes.setKey(keyBuf.subarray(1)));
    const inBuf = new Uint8Array(19);
    inBuf.set(fromHex(FIPS197_C1.plaintext), 3);
    const outBuf = new Uint8Array(18).fill(0xee);
    ok(aes.encryptBlock(inBuf.subarray(3), outBuf.subarray(1, 17)));
    expect(hex(outBuf.subarray(1, 17))).toBe(FIPS197_C1.ciphertext);
    expect([outBuf[0], outBuf[17]]).toEqual([0xee, 0xee]);
  });

  it('keeps its own copy of the key: changing the caller array afterwards changes nothing', () => {
    const { aes } = setup();
    const key = fromHex(FIPS197_C1.key);
    ok(aes.setKey(key));
    key.fill(0);
    const out = new Uint8Array(16);
    ok(aes.encryptBlock(fromHex(FIPS197_C1.plaintext), out));
    expect(hex(out)).toBe(FIPS197_C1.ciphertext);
  });
});

describe('Kw31zAes errors', () => {
  it('fails with off before any key, charging nothing', () => {
    const { aes, meters } = setup();
    const out = new Uint8Array(16);
    expect(aes.encryptBlock(new Uint8Array(16), out)).toMatchObject({ ok: false, code: 'off' });
    expect(out).toEqual(new Uint8Array(16));
    expect(meters('crypto')).toMatchObject({ aesBlocksHw: 0, cpuCycles: 0 });
  });

  it.each([0, 15, 17, 24, 32])('rejects a %i-byte key with invalid and keeps the key it had', (len) => {
    const { aes } = setup();
    ok(aes.setKey(fromHex(FIPS197_C1.key)));
    expect(aes.setKey(new Uint8Array(len))).toMatchObject({ ok: false, code: 'invalid' });
    const out = new Uint8Array(16);
    ok(aes.encryptBlock(fromHex(FIPS197_C1.plaintext), out));
    expect(hex(out)).toBe(FIPS197_C1.ciphertext);
  });

  it('a bad key on a fresh engine leaves it without a key (off)', () => {
    const { aes } = setup();
    expect(aes.setKey(new Uint8Array(15))).toMatchObject({ ok: false, code: 'invalid' });
    expect(aes.encryptBlock(new Uint8Array(16), new Uint8Array(16))).toMatchObject({ ok: false, code: 'off' });
  });

  it.each([
    [15, 16],
    [17, 16],
    [16, 15],
    [16, 32],
    [0, 0],
  ])('rejects input %i / output %i bytes with size, leaving output untouched and charging nothing', (inLen, outLen) => {
    const { aes, meters } = setup();
    ok(aes.setKey(fromHex(FIPS197_C1.key)));
    const out = new Uint8Array(outLen).fill(0xaa);
    expect(aes.encryptBlock(new Uint8Array(inLen), out)).toMatchObject({ ok: false, code: 'size' });
    expect(out.every((b) => b === 0xaa)).toBe(true);
    expect(meters('crypto')).toMatchObject({ aesBlocksHw: 0, cpuCycles: 0 });
  });
});

describe('Kw31zAes ledger and trace', () => {
  it('charges crypto aesBlocksHw 1 and aesLtcCyclesPerBlock cycles per block; setKey charges nothing', () => {
    const { aes, meters } = setup();
    ok(aes.setKey(fromHex(FIPS197_C1.key)));
    expect(meters('crypto')).toMatchObject({ aesBlocksHw: 0, cpuCycles: 0 });
    const block = new Uint8Array(16);
    for (let i = 0; i < 3; i++) ok(aes.encryptBlock(block, block));
    expect(KW31Z_COSTS.aesLtcCyclesPerBlock.value).toBe(200);
    expect(meters('crypto')).toMatchObject({ aesBlocksHw: 3, cpuCycles: 600 });
  });

  it('traces key loads without key material, and blocks only when verbose', () => {
    const quiet = setup();
    ok(quiet.aes.setKey(fromHex(FIPS197_C1.key)));
    ok(quiet.aes.encryptBlock(new Uint8Array(16), new Uint8Array(16)));
    expect(quiet.world.trace.filter({ layer: 'crypto' }).map((r) => [r.kind, r.fields])).toEqual([['aes.set-key', {}]]);
    expect(quiet.world.trace.toJsonLines()).not.toContain('0102030405');

    const loud = setup({ verbose: true });
    ok(loud.aes.setKey(fromHex(FIPS197_C1.key)));
    ok(loud.aes.encryptBlock(new Uint8Array(16), new Uint8Array(16)));
    expect(loud.world.trace.filter({ layer: 'crypto' }).map((r) => r.kind)).toEqual(['aes.set-key', 'aes.block']);
  });
});
