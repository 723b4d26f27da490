// Tests for the budget API: budgets met and exceeded with their exact messages (CPU time, cycles,
// energy), scopes, the Budgets registry and its reports, on the real Kw31zLedger in a World.
// Not the cost model itself (cost.test.ts).

import { describe, expect, it } from 'vitest';
import { KW31Z_COSTS } from '../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../hal/kw31z/ledger.ts';
import { MedtwinError } from '../../src/errors.ts';
import {
  AesCcm,
  budget,
  BudgetExceededError,
  Budgets,
  ecdsaP256Verify,
  p256Ecdh,
  p256Keypair,
  type AesPlacement,
  type CostContext,
} from '../../src/crypto/index.ts';
import { World } from '../../src/sim/world.ts';

function device(aes: AesPlacement = 'ltc') {
  const world = new World({ seed: 'crypto-budget' });
  const ledger = new Kw31zLedger('pump', () => world.nowUs);
  const cost: CostContext = { ledger, costs: KW31Z_COSTS, aes };
  const ccm = new AesCcm(new Uint8Array(16), 8, { cost });
  const sealRecord = (bytes = 244) => ccm.seal(new Uint8Array(13), new Uint8Array(bytes), new Uint8Array(4));
  return { world, ledger, cost, sealRecord };
}

/** What a thrown error is, for exact assertions. */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof MedtwinError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a throw');
}

const ONE_RECORD = budget('one session record', { cpuMs: 1 });
const PAIRING = budget('pairing', { cpuMs: 2500 });

describe('budgets on the KW31Z ledger', () => {
  it('one 244-byte record on the LTC is within 1 ms: 35 blocks × 200 cycles = 7000 cycles = 0.146 ms', () => {
    const { ledger, sealRecord } = device('ltc');
    const scope = ONE_RECORD.start(ledger);
    sealRecord();
    const r = scope.end();
    expect(r).toMatchObject({ budget: 'one session record', device: 'pump', cpuCycles: 7000, ok: true, exceeded: [] });
    expect(r.cpuMs).toBeCloseTo(7000 / 48_000, 12);
  });

  it('the same record in software AES exceeds 0.5 ms: 35 × 1140 = 39900 cycles = 0.83 ms', () => {
    const { ledger, sealRecord } = device('software');
    const tight = budget('one session record', { cpuMs: 0.5 });
    const scope = tight.start(ledger);
    sealRecord();
    expect(thrown(() => scope.end())).toEqual({ code: 'budget', message: 'budget "one session record" exceeded: 0.83 ms CPU > 0.5 ms' });
  });

  it('two software records exceed the 1 ms record budget (within() form): 1.66 ms', () => {
    const { ledger, sealRecord } = device('software');
    expect(thrown(() => ONE_RECORD.within(ledger, () => (sealRecord(), sealRecord())))).toEqual({
      code: 'budget',
      message: 'budget "one session record" exceeded: 1.66 ms CPU > 1 ms',
    });
  });

  it('pairing key work (keygen + ECDH) fits 2.5 s; adding a certificate verify does not: 3437.85 ms', () => {
    const { ledger, cost } = device();
    const peer = p256Keypair(new Uint8Array(48).fill(9));
    const within = PAIRING.within(ledger, () => {
      const mine = p256Keypair(new Uint8Array(48).fill(1), { cost });
      return p256Ecdh(mine.privateKey, peer.publicKey, { cost });
    });
    expect(within).toHaveLength(32);

    const scope = PAIRING.start(ledger);
    const mine = p256Keypair(new Uint8Array(48).fill(1), { cost });
    p256Ecdh(mine.privateKey, peer.publicKey, { cost });
    ecdsaP256Verify(peer.publicKey, new Uint8Array(64), new Uint8Array(64).fill(1), { cost }); // 75 M + 2 SHA blocks
    let err: unknown;
    try {
      scope.end();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BudgetExceededError);
    const e = err as BudgetExceededError;
    expect(e.code).toBe('budget');
    expect(e.message).toBe('budget "pairing" exceeded: 3437.85 ms CPU > 2500 ms');
    expect(e.report).toMatchObject({ budget: 'pairing', cpuCycles: 165_016_800, ok: false, exceeded: ['3437.85 ms CPU > 2500 ms'] });
  });

  it('a budget exactly met is within (≤ the limit)', () => {
    const { ledger, sealRecord } = device('ltc');
    expect(budget('exact', { cpuCycles: 7000 }).within(ledger, () => sealRecord())).toHaveLength(252);
    expect(thrown(() => budget('one under', { cpuCycles: 6999 }).within(ledger, () => sealRecord()))).toEqual({
      code: 'budget',
      message: 'budget "one under" exceeded: 7000 cycles > 6999 cycles',
    });
  });

  it('energy and several limits at once: every exceeded one is named', () => {
    const { ledger, sealRecord } = device('software');
    // 39900 cycles × 0.000225 µJ = 8.9775 µJ.
    const b = budget('record energy', { cpuMs: 0.5, cpuCycles: 50_000, microJoules: 5 });
    expect(thrown(() => b.within(ledger, () => sealRecord()))).toEqual({
      code: 'budget',
      message: 'budget "record energy" exceeded: 0.83 ms CPU > 0.5 ms; 8.98 µJ > 5 µJ',
    });
  });

  it('energy counts the whole device over the scope, sleep included: 1 s asleep = 5.4 µJ', () => {
    const { world, ledger } = device();
    expect(thrown(() => budget('idle second', { microJoules: 5 }).within(ledger, () => world.runFor(1_000_000)))).toEqual({
      code: 'budget',
      message: 'budget "idle second" exceeded: 5.40 µJ > 5 µJ',
    });
  });

  it('report() reads the scope so far without ending it; end() twice is an error', () => {
    const { ledger, sealRecord } = device('software');
    const scope = ONE_RECORD.start(ledger);
    sealRecord();
    expect(scope.report()).toMatchObject({ cpuCycles: 39_900, ok: true });
    sealRecord();
    expect(scope.report()).toMatchObject({ cpuCycles: 79_800, ok: false, exceeded: ['1.66 ms CPU > 1 ms'] });
    expect(thrown(() => scope.end()).code).toBe('budget');
    expect(thrown(() => scope.end())).toEqual({ code: 'budget.ended', message: 'budget "one session record": scope already ended' });
  });

  it('work before the scope starts is not counted', () => {
    const { ledger, sealRecord } = device('software');
    sealRecord();
    sealRecord();
    expect(ONE_RECORD.within(ledger, () => 'done')).toBe('done');
  });

  it('if the work throws, its error propagates and the budget is not judged', () => {
    const { ledger } = device();
    expect(() =>
      ONE_RECORD.within(ledger, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
  });

  it('rejects limits that are not finite non-negative numbers', () => {
    expect(thrown(() => budget('bad', { cpuMs: -1 }))).toEqual({ code: 'budget.limit', message: 'budget "bad": limit cpuMs must be a finite number ≥ 0, got -1' });
    expect(thrown(() => budget('bad', { microJoules: Number.NaN })).code).toBe('budget.limit');
  });
});

describe('Budgets: a device’s declared budgets by name', () => {
  it('start/end and within by name, keeping every report (met and exceeded) in order', () => {
    const { ledger, sealRecord } = device('software');
    const budgets = new Budgets(ledger, [ONE_RECORD]);
    budgets.declare('tight record', { cpuMs: 0.5 });

    const scope = budgets.start('one session record');
    sealRecord();
    expect(scope.end().ok).toBe(true);
    expect(budgets.within('one session record', () => sealRecord(20))).toHaveLength(28);
    expect(thrown(() => budgets.within('tight record', () => sealRecord())).message).toBe(
      'budget "tight record" exceeded: 0.83 ms CPU > 0.5 ms',
    );
    expect(budgets.reports.map((r) => [r.budget, r.cpuCycles, r.ok])).toEqual([
      ['one session record', 39_900, true],
      ['one session record', 7 * 1_140, true],
      ['tight record', 39_900, false],
    ]);
  });

  it('unknown and duplicate names are errors naming the budget', () => {
    const { ledger } = device();
    const budgets = new Budgets(ledger, [PAIRING]);
    expect(thrown(() => budgets.start('pairng'))).toEqual({ code: 'budget.unknown', message: 'no budget named "pairng" (declared: pairing)' });
    expect(thrown(() => budgets.declare(PAIRING))).toEqual({ code: 'budget.duplicate', message: 'budget "pairing" is already declared' });
  });
});
