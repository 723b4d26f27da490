// Bench: our AES-128-CCM (keyed AesCcm) against node:crypto's aes-128-ccm on BLE-sized records,
// AES-CMAC, and P-256 ECDH / ECDSA against node:crypto, measured in one run (the noble-block baseline
// in a child process), printed as ratios. Not a test: it asserts nothing beyond agreement of outputs.

import { execFileSync } from 'node:child_process';
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createPrivateKey,
  createPublicKey,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AesCcm } from '../src/crypto/ccm.ts';
import { aesCmac } from '../src/crypto/cmac.ts';
import { ecdsaP256Sign, ecdsaP256Verify } from '../src/crypto/ecdsa.ts';
import { p256Ecdh, p256PublicKey } from '../src/crypto/p256.ts';

const NONCE_BYTES = 13;
const TAG_BYTES = 8;
const AAD_BYTES = 4;
const SIZES = [20, 64, 244, 4096] as const;
/** Goals from issue 3: ours/node per call. */
const GOALS: Record<number, number> = { 20: 0.25, 244: 1.0, 4096: 8 };

/** A fixed, obviously-not-secret key and inputs: the bench measures time, not secrecy. */
const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + 7) & 0xff);

/** This process's CPU time in µs (user + system, all its threads). */
const cpuUs = (): number => {
  const u = process.cpuUsage(); // wall-clock: bench only (process CPU time)
  return u.user + u.system;
};

/**
 * Per-call CPU times of several functions measured against each other: each is
 * calibrated to batches of ~`batchMs`, warmed up, then the batches run interleaved
 * (a, b, a, b, …) for `rounds` rounds and each keeps its best batch. CPU time
 * (process.cpuUsage) rather than wall time, so time the process spends preempted on a
 * busy machine does not count; interleaving gives any other disturbance the same chance
 * to hit each side. The `fn()` call site is shared (megamorphic): a few ns per call, the
 * same for every side.
 */
function perCallUs(fns: readonly (() => unknown)[], batchMs: number, rounds: number): number[] {
  const calls = fns.map((fn) => {
    let n = 1;
    for (;;) {
      const t0 = cpuUs();
      for (let i = 0; i < n; i++) fn();
      const us = cpuUs() - t0;
      if (us > 5_000 || n > 1 << 22) return Math.max(1, Math.round((n * batchMs * 1000) / Math.max(us, 1)));
      n *= 4;
    }
  });
  const best = fns.map(() => Infinity);
  for (let r = -2; r < rounds; r++) {
    fns.forEach((fn, k) => {
      const n = calls[k]!;
      const t0 = cpuUs();
      for (let i = 0; i < n; i++) fn();
      const us = (cpuUs() - t0) / n;
      if (r >= 0) best[k] = Math.min(best[k]!, us); // rounds −2 and −1 are warm-up
    });
  }
  return best;
}

const fmt = (n: number, digits: number): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pad = (s: string, w: number): string => (s.length >= w ? s : ' '.repeat(w - s.length) + s);

function nodeSeal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Buffer {
  const c = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad, { plaintextLength: pt.length });
  const ct = c.update(pt);
  c.final();
  return Buffer.concat([ct, c.getAuthTag()]);
}

function nodeOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  const n = sealed.length - TAG_BYTES;
  const d = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: TAG_BYTES });
  d.setAuthTag(sealed.subarray(n));
  d.setAAD(aad, { plaintextLength: n });
  const pt = d.update(sealed.subarray(0, n));
  d.final(); // throws on a bad tag
  return pt;
}

/**
 * CMAC through node:crypto, which has no CMAC: RFC 4493 §2.4 computed with node's
 * AES-128-ECB for L and AES-128-CBC (zero IV) for the chain — the fastest honest baseline
 * node offers for the same function.
 */
function nodeCmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const ecb = createCipheriv('aes-128-ecb', key, null).setAutoPadding(false);
  const l = ecb.update(new Uint8Array(16));
  const dbl = (b: Uint8Array): Uint8Array => {
    const o = new Uint8Array(16);
    for (let i = 0; i < 16; i++) o[i] = ((b[i]! << 1) | (i < 15 ? b[i + 1]! >>> 7 : 0)) & 0xff;
    if (b[0]! & 0x80) o[15]! ^= 0x87;
    return o;
  };
  const k1 = dbl(l);
  const blocks = Math.max(1, Math.ceil(msg.length / 16));
  const m = new Uint8Array(blocks * 16);
  m.set(msg);
  const complete = msg.length > 0 && msg.length % 16 === 0;
  const sub = complete ? k1 : dbl(k1);
  if (!complete) m[msg.length] = 0x80;
  for (let i = 0; i < 16; i++) m[(blocks - 1) * 16 + i]! ^= sub[i]!;
  const cbc = createCipheriv('aes-128-cbc', key, new Uint8Array(16)).setAutoPadding(false);
  const c = cbc.update(m);
  return c.subarray(c.length - 16);
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function checkAgreement(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ccm: AesCcm): void {
  for (const n of SIZES) {
    const pt = pattern(n, 3);
    const ours = ccm.seal(nonce, pt, aad);
    if (hex(ours) !== hex(nodeSeal(key, nonce, pt, aad))) throw new Error(`bench crypto: CCM disagrees with node:crypto at ${n} bytes`);
    if (hex(nodeOpen(key, nonce, ours, aad)) !== hex(pt)) throw new Error(`bench crypto: node cannot open our ${n}-byte record`);
    if (hex(aesCmac(key, pt)) !== hex(nodeCmac(key, pt))) throw new Error(`bench crypto: CMAC disagrees with the node baseline at ${n} bytes`);
  }
}

interface CcmRow {
  readonly bytes: number;
  readonly op: 'seal' | 'open';
  readonly oursUs: number;
  readonly nodeUs: number;
}

/** CCM seal and open at every size, `ccm` against node:crypto, in this process. */
function measureCcm(ccm: AesCcm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, batchMs: number, rounds: number): CcmRow[] {
  const rows: CcmRow[] = [];
  // A throwaway first measurement: the first perCallUs in a process runs its loops before
  // V8 has optimised them (the first row came out 2–3× slow without this).
  const warm = pattern(SIZES[0], 3);
  perCallUs([() => ccm.seal(nonce, warm, aad), () => nodeSeal(key, nonce, warm, aad)], batchMs, rounds);
  for (const n of SIZES) {
    const pt = pattern(n, 3);
    const sealed = ccm.seal(nonce, pt, aad);
    const [sealOurs, sealNode] = perCallUs([() => ccm.seal(nonce, pt, aad), () => nodeSeal(key, nonce, pt, aad)], batchMs, rounds) as [number, number];
    rows.push({ bytes: n, op: 'seal', oursUs: sealOurs, nodeUs: sealNode });
    const [openOurs, openNode] = perCallUs([() => ccm.open(nonce, sealed, aad), () => nodeOpen(key, nonce, sealed, aad)], batchMs, rounds) as [number, number];
    rows.push({ bytes: n, op: 'open', oursUs: openOurs, nodeUs: openNode });
  }
  return rows;
}

function settings(args: readonly string[]) {
  const quick = args.includes('--quick');
  return { quick, batchMs: quick ? 10 : 20, rounds: quick ? 2 : 8, key: pattern(16, 1), nonce: pattern(NONCE_BYTES, 2), aad: pattern(AAD_BYTES, 4) };
}

const CHILD_FLAG = '--child=noble-block';

/**
 * The same AesCcm over noble's own AES block, measured in a child process: with both
 * block classes in one process the CCM call sites go polymorphic and slow both, so each
 * variant gets a process of its own. This row is the evidence for (or against) our own
 * AES core (aes-block.ts): the issue allows one only if it is what closes the gap.
 */
function measureNobleBlockInChild(args: readonly string[]): CcmRow[] {
  const self = fileURLToPath(import.meta.url);
  const tsx = import.meta.resolve('tsx');
  const out = execFileSync(process.execPath, ['--import', tsx, self, CHILD_FLAG, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = out.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as CcmRow[];
}

/** `--quick` shortens the batches (a smoke run); the default takes ~15 s. */
export async function run(args: string[]): Promise<void> {
  const { quick, batchMs, rounds, key, nonce, aad } = settings(args);
  const ccm = new AesCcm(key, TAG_BYTES);
  checkAgreement(key, nonce, aad, ccm);

  console.log(
    `node ${process.version}; AES-128-CCM, ${NONCE_BYTES}-byte nonce, ${TAG_BYTES}-byte tag, ${AAD_BYTES}-byte AAD; ` +
      `CPU time per call (process.cpuUsage), best of ${rounds} interleaved batches of ~${batchMs} ms\n` +
      `ours = keyed AesCcm (key expanded once; default WebAssembly T-table core, aes-wasm.ts); node = createCipheriv/createDecipheriv('aes-128-ccm') per record\n` +
      `noble-block = AesCcm's JS pass over noble's unsafe.encrypt, measured in a child process against node again`,
  );
  const ours = measureCcm(ccm, key, nonce, aad, batchMs, rounds);
  const nb = measureNobleBlockInChild(args);
  console.log(
    `${pad('bytes', 6)} ${pad('op', 5)} ${pad('ours µs', 9)} ${pad('node µs', 9)} ${pad('ours/node', 10)}  ${pad('goal', 14)}  ${pad('noble-block µs', 15)} ${pad('n-b/node', 9)}`,
  );
  for (const r of ours) {
    const b = nb.find((x) => x.bytes === r.bytes && x.op === r.op)!;
    const ratio = r.oursUs / r.nodeUs;
    const goal = GOALS[r.bytes];
    const verdict = goal === undefined ? '' : `≤ ${goal}: ${ratio <= goal ? 'met' : 'NOT met'}`;
    console.log(
      `${pad(String(r.bytes), 6)} ${pad(r.op, 5)} ${pad(fmt(r.oursUs, 3), 9)} ${pad(fmt(r.nodeUs, 3), 9)} ${pad(fmt(ratio, 3), 10)}  ${pad(verdict, 14)}  ${pad(fmt(b.oursUs, 3), 15)} ${pad(fmt(b.oursUs / b.nodeUs, 3), 9)}`,
    );
  }

  console.log(`\nAES-CMAC (RFC 4493): ours = aesCmac (noble's cmac, key expanded per call); node = node:crypto AES-128-ECB + AES-128-CBC composing RFC 4493 §2.4`);
  console.log(`${pad('bytes', 6)} ${pad('ours µs', 9)} ${pad('node µs', 9)} ${pad('ours/node', 10)}`);
  for (const n of [16, 65, 244]) {
    const msg = pattern(n, 5);
    const [ours, node] = perCallUs([() => aesCmac(key, msg), () => nodeCmac(key, msg)], batchMs, rounds) as [number, number];
    console.log(`${pad(String(n), 6)} ${pad(fmt(ours, 3), 9)} ${pad(fmt(node, 3), 9)} ${pad(fmt(ours / node, 3), 10)}`);
  }

  // P-256: the Core spec's sample keys (Vol 2 Part G), so both sides do real work on real points.
  const privA = Uint8Array.from(Buffer.from('3f49f6d4a3c55f3874c9b3e3d2103f504aff607beb40b7995899b8a6cd3c1abd', 'hex'));
  const privB = Uint8Array.from(Buffer.from('55188b3d32f6bb9a900afcfbeed4e72a59cb9ac2f19d7cfb6b4fdd49f47fc5fd', 'hex'));
  const pubA = p256PublicKey(privA);
  const pubB = p256PublicKey(privB);
  const ecdhNode = createECDH('prime256v1');
  ecdhNode.setPrivateKey(privA);
  const pubBSec1 = Buffer.concat([Buffer.of(4), pubB]);
  if (hex(p256Ecdh(privA, pubB)) !== hex(ecdhNode.computeSecret(pubBSec1))) throw new Error('bench crypto: ECDH disagrees with node:crypto');
  const jwk = (priv: Uint8Array | undefined, pub: Uint8Array) => ({
    kty: 'EC',
    crv: 'P-256',
    x: Buffer.from(pub.subarray(0, 32)).toString('base64url'),
    y: Buffer.from(pub.subarray(32)).toString('base64url'),
    ...(priv ? { d: Buffer.from(priv).toString('base64url') } : {}),
  });
  const nodePriv: KeyObject = createPrivateKey({ key: jwk(privA, pubA), format: 'jwk' });
  const nodePub: KeyObject = createPublicKey({ key: jwk(undefined, pubA), format: 'jwk' });
  const msg = pattern(64, 6);
  const sig = ecdsaP256Sign(privA, msg);
  const nodeSig = nodeSign('sha256', msg, { key: nodePriv, dsaEncoding: 'ieee-p1363' });
  if (!nodeVerify('sha256', msg, { key: nodePub, dsaEncoding: 'ieee-p1363' }, sig) || !ecdsaP256Verify(pubA, msg, nodeSig)) {
    throw new Error('bench crypto: ECDSA signatures do not cross-verify with node:crypto');
  }
  const pkBatchMs = quick ? 20 : 100;
  const pkRounds = quick ? 2 : 3;
  console.log(`\nP-256 (per operation; ours = @noble/curves 2.4.0 through src/crypto, node = OpenSSL via node:crypto; 64-byte message)`);
  console.log(`${pad('op', 13)} ${pad('ours ms', 10)} ${pad('node ms', 10)} ${pad('ours/node', 10)}`);
  const rows: [string, () => unknown, () => unknown][] = [
    ['ECDH', () => p256Ecdh(privA, pubB), () => ecdhNode.computeSecret(pubBSec1)],
    ['ECDSA sign', () => ecdsaP256Sign(privA, msg), () => nodeSign('sha256', msg, { key: nodePriv, dsaEncoding: 'ieee-p1363' })],
    ['ECDSA verify', () => ecdsaP256Verify(pubA, msg, sig), () => nodeVerify('sha256', msg, { key: nodePub, dsaEncoding: 'ieee-p1363' }, sig)],
  ];
  for (const [name, ours, node] of rows) {
    const [o, n] = (perCallUs([ours, node], pkBatchMs, pkRounds) as [number, number]).map((us) => us / 1000) as [number, number];
    console.log(`${pad(name, 13)} ${pad(fmt(o, 3), 10)} ${pad(fmt(n, 3), 10)} ${pad(fmt(o / n, 1), 10)}`);
  }
}

// Child mode (see measureNobleBlockInChild): print the noble-block rows as one JSON line.
if (process.argv.includes(CHILD_FLAG) && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { batchMs, rounds, key, nonce, aad } = settings(process.argv.slice(2));
  const ccm = new AesCcm(key, TAG_BYTES, { block: 'noble' });
  checkAgreement(key, nonce, aad, ccm);
  console.log(JSON.stringify(measureCcm(ccm, key, nonce, aad, batchMs, rounds)));
}
