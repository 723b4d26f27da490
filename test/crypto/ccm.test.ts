// Tests for AES-128-CCM: every vector in test/vectors/ccm.json both ways and on every block, the
// auth failures (each tag bit, ciphertext, AAD, nonce, truncation), every parameter class, the keyed
// and in-place forms, the WebAssembly pass's shared memory, and seeded cross-checks against
// node:crypto's aes-128-ccm and between the passes. Not cost tests (cost.test.ts).

import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ccmWasmBlocks, WASM_KEY, WASM_KEY_BYTES } from '../../src/crypto/aes-wasm.ts';
import { AesCcm, ccmDecrypt, ccmEncrypt, ccmMaxPayloadBytes, CryptoError } from '../../src/crypto/index.ts';
import { flipBit, fromHex, hex, loadVectors } from './helpers.ts';

interface CcmVector {
  suite: string;
  id: string;
  source: string;
  key: string;
  nonce: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
  tagLength: number;
  result: 'valid' | 'invalid';
}

const FILE = loadVectors<{ vectors: CcmVector[] }>('ccm.json');
const VALID = FILE.vectors.filter((v) => v.result === 'valid');
const INVALID = FILE.vectors.filter((v) => v.result === 'invalid');
/** `name` for it.each titles: the id and its source, so a failure names both. */
const named = (v: CcmVector) => ({ ...v, name: `${v.id} (${v.source})` });

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
  return undefined;
};

describe('CCM vectors (test/vectors/ccm.json)', () => {
  it('covers all 18 entries: 4 NIST SP 800-38C, 12 RFC 3610, 2 IEEE 802.15.4; none skipped', () => {
    expect(FILE.vectors).toHaveLength(18);
    expect(VALID).toHaveLength(18);
    expect(INVALID).toHaveLength(0);
    const bySuite: Record<string, number> = {};
    for (const v of FILE.vectors) bySuite[v.suite] = (bySuite[v.suite] ?? 0) + 1;
    expect(bySuite).toEqual({
      'nist-sp800-38c': 4,
      rfc3610: 12,
      'ieee802.15.4': 2,
    });
    // C.4's associated data is really 65536 octets (the 0xff 0xfe length encoding, SP 800-38C §A.2.2).
    expect(fromHex(FILE.vectors.find((v) => v.id === 'NIST-C.4')!.aad)).toHaveLength(65536);
  });

  it.each(VALID.map(named))('encrypts $name', (v) => {
    const sealed = ccmEncrypt(fromHex(v.key), fromHex(v.nonce), fromHex(v.plaintext), fromHex(v.aad), v.tagLength);
    expect(hex(sealed), v.name).toBe(v.ciphertext + v.tag);
  });

  it.each(VALID.map(named))('decrypts $name', (v) => {
    const pt = ccmDecrypt(fromHex(v.key), fromHex(v.nonce), fromHex(v.ciphertext + v.tag), fromHex(v.aad), v.tagLength);
    expect(hex(pt), v.name).toBe(v.plaintext);
  });

  it.each(VALID.map(named))('keyed AesCcm (wasm, tables and noble block) seals and opens $name', (v) => {
    for (const block of ['wasm', 'tables', 'noble'] as const) {
      const ccm = new AesCcm(fromHex(v.key), v.tagLength, { block });
      expect(hex(ccm.seal(fromHex(v.nonce), fromHex(v.plaintext), fromHex(v.aad))), `${v.name} [${block}]`).toBe(v.ciphertext + v.tag);
      expect(hex(ccm.open(fromHex(v.nonce), fromHex(v.ciphertext + v.tag), fromHex(v.aad))), `${v.name} [${block}]`).toBe(v.plaintext);
    }
  });
});

/** RFC 3610 packet vector #1 (M = 8, L = 2): the base for the negative tests. */
const BASE = VALID.find((v) => v.id === 'RFC3610-#1')!;
const K = fromHex(BASE.key);
const N = fromHex(BASE.nonce);
const A = fromHex(BASE.aad);
const SEALED = fromHex(BASE.ciphertext + BASE.tag);
const CT_BYTES = BASE.ciphertext.length / 2;

describe('CCM authentication failures → auth, and no plaintext', () => {
  it('the base vector opens (so the failures below are the changes, not the setup)', () => {
    expect(hex(ccmDecrypt(K, N, SEALED, A, 8))).toBe(BASE.plaintext);
  });

  it.each(Array.from({ length: 64 }, (_, i) => i))('tag bit %i flipped', (bit) => {
    const bad = flipBit(SEALED, CT_BYTES * 8 + bit);
    expect(codeOf(() => ccmDecrypt(K, N, bad, A, 8))).toBe('auth');
  });

  it.each(Array.from({ length: CT_BYTES * 8 }, (_, i) => i).filter((i) => i % 7 === 0 || i === CT_BYTES * 8 - 1))(
    'ciphertext bit %i flipped',
    (bit) => {
      expect(codeOf(() => ccmDecrypt(K, N, flipBit(SEALED, bit), A, 8))).toBe('auth');
    },
  );

  it.each([
    ['one AAD bit flipped', flipBit(A, 5)],
    ['AAD empty', new Uint8Array(0)],
    ['AAD one byte longer', Uint8Array.of(...A, 0)],
    ['AAD one byte shorter', A.subarray(0, A.length - 1)],
  ])('%s', (_, aad) => {
    expect(codeOf(() => ccmDecrypt(K, N, SEALED, aad, 8))).toBe('auth');
  });

  it.each([
    ['first nonce bit flipped', flipBit(N, 0)],
    ['last nonce bit flipped', flipBit(N, N.length * 8 - 1)],
  ])('%s', (_, nonce) => {
    expect(codeOf(() => ccmDecrypt(K, nonce, SEALED, A, 8))).toBe('auth');
  });

  it('a different key', () => {
    expect(codeOf(() => ccmDecrypt(flipBit(K, 127), N, SEALED, A, 8))).toBe('auth');
  });

  it.each([1, 2, 4, 7, 8])('tag truncated by %i byte(s), opened with the full tag length', (cut) => {
    expect(codeOf(() => ccmDecrypt(K, N, SEALED.subarray(0, SEALED.length - cut), A, 8))).toBe('auth');
  });

  it('tag truncated and opened with the shorter tag length (tag length is bound into B0)', () => {
    // CCM binds the tag length into B0's flags (SP 800-38C §A.2.1), so a cut tag is no shorter valid tag.
    expect(codeOf(() => ccmDecrypt(K, N, SEALED.subarray(0, SEALED.length - 4), A, 4))).toBe('auth');
  });

  it('a tag-only message that is shorter than the tag is params, not auth', () => {
    expect(codeOf(() => ccmDecrypt(K, N, new Uint8Array(7), A, 8))).toBe('params');
  });

  it('openInto zeroes what it wrote when the tag fails, and the error carries no plaintext', () => {
    const ccm = new AesCcm(K, 8);
    const out = new Uint8Array(CT_BYTES + 4).fill(0xaa);
    let err: unknown;
    try {
      ccm.openInto(N, flipBit(SEALED, CT_BYTES * 8), A, out, 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CryptoError);
    expect((err as CryptoError).code).toBe('auth');
    expect((err as CryptoError).message).toBe('CCM tag does not verify');
    expect([...out.subarray(0, 2)]).toEqual([0xaa, 0xaa]);
    expect(out.subarray(2, 2 + CT_BYTES).every((b) => b === 0)).toBe(true);
    expect([...out.subarray(2 + CT_BYTES)]).toEqual([0xaa, 0xaa]);
    // The instance is still good for the next record.
    expect(hex(ccm.open(N, SEALED, A))).toBe(BASE.plaintext);
  });
});

describe('CCM parameters → params', () => {
  const pt = fromHex(BASE.plaintext);
  it.each([0, 1, 6, 14, 15, 16])('nonce of %i bytes', (n) => {
    expect(codeOf(() => ccmEncrypt(K, new Uint8Array(n), pt, A, 8))).toBe('params');
    expect(codeOf(() => ccmDecrypt(K, new Uint8Array(n), SEALED, A, 8))).toBe('params');
  });

  it.each([0, 1, 2, 3, 5, 7, 9, 11, 13, 15, 17, 32, 4.5, Number.NaN])('tag length %s', (t) => {
    expect(codeOf(() => ccmEncrypt(K, N, pt, A, t))).toBe('params');
    expect(codeOf(() => ccmDecrypt(K, N, SEALED, A, t))).toBe('params');
    expect(codeOf(() => new AesCcm(K, t))).toBe('params');
  });

  it.each([0, 15, 17, 24, 32])('key of %i bytes', (n) => {
    expect(codeOf(() => ccmEncrypt(new Uint8Array(n), N, pt, A, 8))).toBe('params');
    expect(codeOf(() => ccmDecrypt(new Uint8Array(n), N, SEALED, A, 8))).toBe('params');
  });

  it('non-Uint8Array inputs', () => {
    const notBytes = [1, 2, 3] as unknown as Uint8Array;
    expect(codeOf(() => ccmEncrypt(notBytes, N, pt, A, 8))).toBe('params');
    expect(codeOf(() => ccmEncrypt(K, notBytes, pt, A, 8))).toBe('params');
    expect(codeOf(() => ccmEncrypt(K, N, notBytes, A, 8))).toBe('params');
    expect(codeOf(() => ccmEncrypt(K, N, pt, notBytes, 8))).toBe('params');
    expect(codeOf(() => ccmDecrypt(K, N, notBytes, A, 8))).toBe('params');
  });

  it('message too long for the nonce: 13-byte nonce (q = 2) allows 65535 bytes, not 65536', () => {
    expect(ccmMaxPayloadBytes(13)).toBe(65535);
    expect(ccmMaxPayloadBytes(12)).toBe(2 ** 24 - 1);
    expect(ccmMaxPayloadBytes(7)).toBeGreaterThan(Number.MAX_SAFE_INTEGER); // q = 8: no JS array is too long
    expect(codeOf(() => ccmMaxPayloadBytes(6))).toBe('params');
    const nonce13 = new Uint8Array(13);
    expect(codeOf(() => ccmEncrypt(K, nonce13, new Uint8Array(65536), A, 8))).toBe('params');
    expect(codeOf(() => ccmDecrypt(K, nonce13, new Uint8Array(65536 + 8), A, 8))).toBe('params');
    // The largest allowed message works and round-trips.
    const big = new Uint8Array(65535).map((_, i) => i & 0xff);
    const sealed = ccmEncrypt(K, nonce13, big, A, 8);
    expect(sealed).toHaveLength(65535 + 8);
    expect(hex(ccmDecrypt(K, nonce13, sealed, A, 8))).toBe(hex(big));
  });

  it('sealInto/openInto with too small an output or a bad offset', () => {
    const ccm = new AesCcm(K, 8);
    expect(codeOf(() => ccm.sealInto(N, pt, A, new Uint8Array(pt.length + 7)))).toBe('params');
    expect(codeOf(() => ccm.sealInto(N, pt, A, new Uint8Array(pt.length + 8), 1))).toBe('params');
    expect(codeOf(() => ccm.sealInto(N, pt, A, new Uint8Array(pt.length + 9), -1))).toBe('params');
    expect(codeOf(() => ccm.openInto(N, SEALED, A, new Uint8Array(CT_BYTES - 1)))).toBe('params');
  });

  it('a params failure writes nothing to the output', () => {
    const ccm = new AesCcm(K, 8);
    const out = new Uint8Array(pt.length + 8).fill(0x55);
    expect(codeOf(() => ccm.sealInto(new Uint8Array(6), pt, A, out))).toBe('params');
    expect(out.every((b) => b === 0x55)).toBe(true);
  });
});

describe('CCM keyed form', () => {
  it('sealInto/openInto at offsets and in place give the vector', () => {
    const ccm = new AesCcm(K, 8);
    const pt = fromHex(BASE.plaintext);
    const buf = new Uint8Array(3 + pt.length + 8 + 2).fill(0xee);
    buf.set(pt, 3);
    // In place: plaintext at offset 3, sealed written over it.
    expect(ccm.sealInto(N, buf.subarray(3, 3 + pt.length), A, buf, 3)).toBe(pt.length + 8);
    expect(hex(buf.subarray(3, 3 + pt.length + 8))).toBe(BASE.ciphertext + BASE.tag);
    expect([buf[2], buf[buf.length - 2], buf[buf.length - 1]]).toEqual([0xee, 0xee, 0xee]);
    // And back, in place.
    expect(ccm.openInto(N, buf.subarray(3, 3 + pt.length + 8), A, buf, 3)).toBe(pt.length);
    expect(hex(buf.subarray(3, 3 + pt.length))).toBe(BASE.plaintext);
  });

  it('one instance seals many records with different nonces, lengths and AAD and each matches a fresh one-shot', () => {
    const ccm = new AesCcm(K, 8);
    for (let n = 0; n <= 48; n++) {
      const nonce = Uint8Array.from({ length: 13 }, (_, i) => (i * 7 + n) & 0xff);
      const pt = Uint8Array.from({ length: n }, (_, i) => (i * 13 + 1) & 0xff);
      const aad = Uint8Array.from({ length: n % 20 }, (_, i) => i);
      expect(hex(ccm.seal(nonce, pt, aad)), `n=${n}`).toBe(hex(ccmEncrypt(K, nonce, pt, aad, 8)));
    }
  });

  it('destroy() wipes the key: the instance no longer produces the vector', () => {
    const ccm = new AesCcm(K, 8);
    ccm.destroy();
    expect(hex(ccm.seal(N, fromHex(BASE.plaintext), A))).not.toBe(BASE.ciphertext + BASE.tag);
  });

  it('keeps its own key schedule: changing the caller key afterwards changes nothing', () => {
    const key = K.slice();
    const ccm = new AesCcm(key, 8);
    key.fill(0);
    expect(hex(ccm.seal(N, fromHex(BASE.plaintext), A))).toBe(BASE.ciphertext + BASE.tag);
  });
});

function nodeSeal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array, t: number): string {
  const c = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: t });
  c.setAAD(aad, { plaintextLength: pt.length });
  const ct = c.update(pt);
  c.final();
  return hex(Buffer.concat([ct, c.getAuthTag()]));
}

function nodeOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array, t: number): string {
  const n = sealed.length - t;
  const d = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: t });
  d.setAuthTag(sealed.subarray(n));
  d.setAAD(aad, { plaintextLength: n });
  const pt = d.update(sealed.subarray(0, n));
  d.final();
  return hex(pt);
}

describe('CCM against node:crypto aes-128-ccm (seeded fast-check)', () => {
  const input = fc.record({
    key: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    nonce: fc.integer({ min: 7, max: 13 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    tagLength: fc.constantFrom(4, 6, 8, 10, 12, 14, 16),
    aad: fc.uint8Array({ minLength: 0, maxLength: 48 }),
    plaintext: fc.uint8Array({ minLength: 0, maxLength: 300 }),
  });

  it('seal equals node, node opens ours, ours opens node (300 runs, seed 12345)', () => {
    fc.assert(
      fc.property(input, ({ key, nonce, tagLength, aad, plaintext }) => {
        const ours = ccmEncrypt(key, nonce, plaintext, aad, tagLength);
        expect(hex(ours)).toBe(nodeSeal(key, nonce, plaintext, aad, tagLength));
        expect(nodeOpen(key, nonce, ours, aad, tagLength)).toBe(hex(plaintext));
        expect(hex(ccmDecrypt(key, nonce, ours, aad, tagLength))).toBe(hex(plaintext));
      }),
      { seed: 12345, numRuns: 300 },
    );
  });

  it('a random single-bit flip anywhere in the sealed message is auth for both (200 runs, seed 12345)', () => {
    fc.assert(
      fc.property(input, fc.nat(), ({ key, nonce, tagLength, aad, plaintext }, bitSeed) => {
        const sealed = ccmEncrypt(key, nonce, plaintext, aad, tagLength);
        const bad = flipBit(sealed, bitSeed % (sealed.length * 8));
        expect(codeOf(() => ccmDecrypt(key, nonce, bad, aad, tagLength))).toBe('auth');
        expect(() => nodeOpen(key, nonce, bad, aad, tagLength)).toThrow();
      }),
      { seed: 12345, numRuns: 200 },
    );
  });

  it('the WebAssembly pass, the JS pass on the T-table block and on noble\'s block agree both ways (200 runs, seed 12345)', () => {
    fc.assert(
      fc.property(input, ({ key, nonce, tagLength, aad, plaintext }) => {
        const passes = (['wasm', 'tables', 'noble'] as const).map((block) => new AesCcm(key, tagLength, { block }));
        const sealed = passes.map((ccm) => hex(ccm.seal(nonce, plaintext, aad)));
        expect(sealed[1]).toBe(sealed[0]);
        expect(sealed[2]).toBe(sealed[0]);
        for (const ccm of passes) expect(hex(ccm.open(nonce, fromHex(sealed[0]!), aad))).toBe(hex(plaintext));
      }),
      { seed: 12345, numRuns: 200 },
    );
  });
});

describe('CCM WebAssembly pass: the shared module memory (aes-wasm.ts, ccm-wasm.ts)', () => {
  const wasmMemory = (): Buffer => {
    const b = ccmWasmBlocks().bytes;
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  };

  it('a record larger than the first memory page grows the memory; node agrees, and small records still work after', () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i * 11 + 3);
    const nonce12 = Uint8Array.from({ length: 12 }, (_, i) => i + 1); // q = 3: up to 2^24 − 1 bytes
    const big = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
    const bigAad = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 13) & 0xff); // the 6-octet length encoding
    const ccm = new AesCcm(key, 16);
    const sealed = ccm.seal(nonce12, big, bigAad);
    expect(hex(sealed)).toBe(nodeSeal(key, nonce12, big, bigAad, 16));
    expect(hex(ccm.open(nonce12, sealed, bigAad))).toBe(hex(big));
    expect(ccmWasmBlocks().bytes.length).toBeGreaterThanOrEqual(200_000 + 70_000);
    const small = fromHex(BASE.plaintext);
    expect(hex(new AesCcm(K, 8).seal(N, small, A))).toBe(BASE.ciphertext + BASE.tag);
  });

  it('instances with different keys and tag lengths interleave: each record uses its own key schedule', () => {
    const keys = [K, flipBit(K, 0), flipBit(K, 127)];
    const ccms = keys.map((key, i) => new AesCcm(key, [8, 4, 16][i]!));
    for (let round = 0; round < 3; round++) {
      ccms.forEach((ccm, i) => {
        const pt = Uint8Array.from({ length: 20 + round * 17 }, (_, j) => (j + i * 31 + round) & 0xff);
        const sealed = ccm.seal(N, pt, A);
        expect(hex(sealed), `key ${i} round ${round}`).toBe(nodeSeal(keys[i]!, N, pt, A, ccm.tagLength));
        expect(hex(ccm.open(N, sealed, A))).toBe(hex(pt));
      });
    }
  });

  it('leaves no plaintext in the shared memory after a seal, an open or a failed open', () => {
    const ccm = new AesCcm(K, 8);
    // 40 bytes that appear nowhere else (not a table, not a key): a run that survived would be found.
    const pt = Uint8Array.from({ length: 40 }, (_, i) => (0xa5 ^ (i * 29)) & 0xff);
    const needle = Buffer.from(pt.subarray(0, 8));
    const sealed = ccm.seal(N, pt, A);
    expect(wasmMemory().indexOf(needle)).toBe(-1);
    expect(hex(ccm.open(N, sealed, A))).toBe(hex(pt));
    expect(wasmMemory().indexOf(needle)).toBe(-1);
    expect(codeOf(() => ccm.open(N, flipBit(sealed, 0), A))).toBe('auth');
    expect(wasmMemory().indexOf(needle)).toBe(-1);
    // The same check is not vacuous: the bytes are found while they are in memory.
    ccmWasmBlocks().bytes.set(pt, ccmWasmBlocks().bytes.length - 64);
    expect(wasmMemory().indexOf(needle)).toBe(ccmWasmBlocks().bytes.length - 64);
    ccmWasmBlocks().bytes.fill(0, ccmWasmBlocks().bytes.length - 64);
  });

  it('an engine without WebAssembly (node --jitless) falls back to the JS pass by default, and refuses an explicit wasm', () => {
    const script = `
      const { AesCcm } = await import(${JSON.stringify(new URL('../../src/crypto/ccm.ts', import.meta.url).href)});
      const hex = (b) => Buffer.from(b).toString('hex');
      const ccm = new AesCcm(Buffer.from('${BASE.key}', 'hex'), 8);
      let code = 'none';
      try { new AesCcm(Buffer.from('${BASE.key}', 'hex'), 8, { block: 'wasm' }); } catch (e) { code = e.code; }
      console.log(hex(ccm.seal(Buffer.from('${BASE.nonce}', 'hex'), Buffer.from('${BASE.plaintext}', 'hex'), Buffer.from('${BASE.aad}', 'hex'))), code);`;
    const out = execFileSync(process.execPath, ['--jitless', '--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(out.trim()).toBe(`${BASE.ciphertext}${BASE.tag} crypto.no-wasm`);
  });

  it('destroy() clears the key schedule it had loaded into the shared memory', () => {
    const ccm = new AesCcm(K, 8);
    ccm.seal(N, fromHex(BASE.plaintext), A);
    const schedule = () => ccmWasmBlocks().bytes.subarray(WASM_KEY, WASM_KEY + WASM_KEY_BYTES);
    expect(schedule().some((b) => b !== 0)).toBe(true);
    ccm.destroy();
    expect(schedule().every((b) => b === 0)).toBe(true);
    // Another instance loads its own schedule again.
    expect(hex(new AesCcm(K, 8).seal(N, fromHex(BASE.plaintext), A))).toBe(BASE.ciphertext + BASE.tag);
  });
});
