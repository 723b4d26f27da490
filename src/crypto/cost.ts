// Charging crypto work to the calling device's ledger: block and operation counts per
// construction, turned into cycles with the device's cost table. Not a cost table (the HAL
// target owns the figures, passed in) and not a budget checker (budget.ts).

import type { Activity, Ledger, Meters } from '../../hal/ledger.ts';

/**
 * Where AES blocks run: on the chip's AES engine (the KW31Z's LTC; the CPU stalls for
 * `aesLtcCyclesPerBlock` and the block is counted in `aesBlocksHw`) or in software on
 * the CPU (`aesSoftwareCyclesPerBlock`).
 */
export type AesPlacement = 'ltc' | 'software';

/** One row of a target's cost table, as far as the crypto core reads it. */
export interface CycleRow {
  readonly value: number;
}

/**
 * The rows of a cost table the crypto core reads, by shape: hal/kw31z/costs.ts's
 * KW31Z_COSTS fits it, and src/ never imports a HAL target (DESIGN §1), so the table
 * comes in from the composition root. Figures are cycles at the table's CPU clock.
 */
export interface CryptoCostRows {
  readonly cpuClockHz: CycleRow;
  readonly aesLtcCyclesPerBlock: CycleRow;
  readonly aesSoftwareCyclesPerBlock: CycleRow;
  readonly sha256CyclesPer64Bytes: CycleRow;
  readonly p256EcdhCycles: CycleRow;
  readonly p256KeygenCycles: CycleRow;
  readonly ecdsaSignCycles: CycleRow;
  readonly ecdsaVerifyCycles: CycleRow;
}

/** What a caller passes to have an operation charged: whose ledger, which table, where AES runs. */
export interface CostContext {
  readonly ledger: Ledger;
  readonly costs: CryptoCostRows;
  /** Default 'ltc'. */
  readonly aes?: AesPlacement;
  /** Called once per charged operation, after the ledger charge (per-operation reports, traces). */
  readonly onCharge?: (charge: CryptoCharge) => void;
}

export type CryptoOperation =
  | 'ccm.seal'
  | 'ccm.open'
  | 'cmac'
  | 'toolbox.f4'
  | 'toolbox.f5'
  | 'toolbox.f6'
  | 'toolbox.g2'
  | 'toolbox.h6'
  | 'p256.keygen'
  | 'p256.ecdh'
  | 'ecdsa.sign'
  | 'ecdsa.verify'
  | 'sha256';

/** One charged operation: what it was, its size in the units that cost, and the meters charged. */
export interface CryptoCharge {
  readonly operation: CryptoOperation;
  readonly aesBlocks: number;
  readonly sha256Blocks: number;
  readonly meters: Readonly<Meters>;
}

/** The activity crypto charges under (hal/ledger.ts). */
export const CRYPTO_ACTIVITY: Activity = 'crypto';

const AES_BLOCK_BYTES = 16;

/**
 * AES block encryptions of one CCM message, NIST SP 800-38C §6.1 (generation) / §6.2
 * (verification; the same count): the CBC-MAC over B0, the formatted associated data
 * (§A.2.2: a 2-, 6- or 10-octet length prefix, then padded to whole blocks) and the
 * payload padded to whole blocks (§A.2.3), plus CTR over ⌈Plen/16⌉ counter blocks and
 * one more for S0, which masks the tag (§6.1 steps 5–8).
 */
export function ccmBlockCount(payloadBytes: number, aadBytes: number): number {
  const payloadBlocks = Math.ceil(payloadBytes / AES_BLOCK_BYTES);
  const aadBlocks = aadBytes === 0 ? 0 : Math.ceil((ccmAadPrefixBytes(aadBytes) + aadBytes) / AES_BLOCK_BYTES);
  return 1 + aadBlocks + payloadBlocks + payloadBlocks + 1;
}

/** SP 800-38C §A.2.2: the length of the encoding of a (a > 0) that precedes the associated data. */
export function ccmAadPrefixBytes(aadBytes: number): number {
  if (aadBytes < 0xff00) return 2; // 0 < a < 2^16 − 2^8
  if (aadBytes < 2 ** 32) return 6; // 0xff 0xfe ‖ a as 32 bits
  return 10; // 0xff 0xff ‖ a as 64 bits
}

/**
 * AES block encryptions of one AES-CMAC, RFC 4493 §2.3–2.4: one for the subkey
 * L = AES-K(0^128), then one per message block (an empty message is one padded block).
 */
export function cmacBlockCount(messageBytes: number): number {
  return 1 + Math.max(1, Math.ceil(messageBytes / AES_BLOCK_BYTES));
}

/** SHA-256 compression-function calls for a message, FIPS 180-4 §5.1.1: message ‖ 0x80 ‖ zeros ‖ 64-bit length. */
export function sha256BlockCount(messageBytes: number): number {
  return Math.ceil((messageBytes + 9) / 64);
}

const cycles = (row: { readonly value: number }): number => Math.round(row.value);

/** Meters for `blocks` AES-128 block encryptions at the given placement. */
export function aesMeters(costs: CryptoCostRows, placement: AesPlacement, blocks: number): Meters {
  // Same per-block figures as hal/kw31z/aes.ts charges, rounded per block, so a CCM done
  // here and one done block by block through the LTC driver cost the same.
  return placement === 'ltc'
    ? { aesBlocksHw: blocks, cpuCycles: blocks * cycles(costs.aesLtcCyclesPerBlock) }
    : { cpuCycles: blocks * cycles(costs.aesSoftwareCyclesPerBlock) };
}

/** Charge `aesBlocks` AES blocks for one operation (no-op without a context). */
export function chargeAes(ctx: CostContext | undefined, operation: CryptoOperation, aesBlocks: number): void {
  if (ctx === undefined) return;
  const meters = aesMeters(ctx.costs, ctx.aes ?? 'ltc', aesBlocks);
  ctx.ledger.charge(CRYPTO_ACTIVITY, meters);
  ctx.onCharge?.({ operation, aesBlocks, sha256Blocks: 0, meters });
}

/** Charge one P-256 or ECDSA operation, plus the SHA-256 blocks it hashes (no-op without a context). */
export function chargePublicKey(
  ctx: CostContext | undefined,
  operation: 'p256.keygen' | 'p256.ecdh' | 'ecdsa.sign' | 'ecdsa.verify',
  opts: { readonly curveOp: boolean; readonly sha256Blocks: number },
): void {
  if (ctx === undefined) return;
  const c = ctx.costs;
  const row =
    operation === 'p256.keygen'
      ? c.p256KeygenCycles
      : operation === 'p256.ecdh'
        ? c.p256EcdhCycles
        : operation === 'ecdsa.sign'
          ? c.ecdsaSignCycles
          : c.ecdsaVerifyCycles;
  const cpuCycles = (opts.curveOp ? cycles(row) : 0) + opts.sha256Blocks * cycles(c.sha256CyclesPer64Bytes);
  const meters: Meters = { cpuCycles };
  ctx.ledger.charge(CRYPTO_ACTIVITY, meters);
  ctx.onCharge?.({ operation, aesBlocks: 0, sha256Blocks: opts.sha256Blocks, meters });
}
