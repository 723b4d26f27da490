// Budgets of the session on the KW31Z's ledger (docs/protocol.md §10.2): one record seal+open of a
// 20-byte command ≤ 1 ms CPU, a session establishment on the device ≤ 5 ms CPU, with the AES blocks
// on the LTC and in software. Not a benchmark of the JavaScript: the figures are the chip's.

import { describe, expect, it } from 'vitest';
import { Budgets, ccmBlockCount, cmacBlockCount, type BudgetReport } from '../../src/crypto/index.ts';
import { ESTABLISHMENT_BUDGET } from '../../src/session/device-session.ts';
import { deriveSessionKeys } from '../../src/session/key-schedule.ts';
import { RECORD_BUDGET, RecordLayer } from '../../src/session/record-layer.ts';
import { encodePlaintext } from '../../src/session/wire-session.ts';
import { CLINICIAN, hex, sessionFixture } from './session-fixture.ts';

const COMMAND_20 = encodePlaintext({ kind: 'request', requestId: 1, command: 0x0010, payload: new Uint8Array(15) });
const figures: string[] = [];
const note = (r: BudgetReport, placement: string) => figures.push(`${r.budget} [${placement}]: ${r.cpuCycles} cycles = ${r.cpuMs.toFixed(3)} ms CPU (limit ${r.limits.cpuMs} ms)`);

describe.each(['ltc', 'software'] as const)('session budgets with AES on %s', (aes) => {
  it('one record seal+open of a 20-byte command is within 1 ms of CPU on the chip', () => {
    const fx = sessionFixture({ aes });
    const budgets = new Budgets(fx.board.ledger, [RECORD_BUDGET]);
    const keys = deriveSessionKeys(hex('00'.repeat(16)), hex('11'.repeat(16)), hex('22'.repeat(16)));
    const cost = fx.deps.cost!;
    const device = new RecordLayer('device', keys, { cost });
    const client = new RecordLayer('client', keys, { cost });
    const r = budgets.within(RECORD_BUDGET.name, () => {
      const sealed = client.seal(COMMAND_20);
      if (!sealed.ok) throw new Error(sealed.code);
      return device.open(sealed.record);
    });
    expect(r.ok).toBe(true);
    const report = budgets.reports[0]!;
    const perBlock = aes === 'ltc' ? fx.board.costs.aesLtcCyclesPerBlock.value : fx.board.costs.aesSoftwareCyclesPerBlock.value;
    // SP 800-38C: B0, one AAD block (2-byte length + 7-byte header), 2 payload blocks for the MAC, 2 for CTR, S0.
    expect(ccmBlockCount(20, 7)).toBe(7);
    expect(report.cpuCycles).toBe(2 * 7 * perBlock);
    expect(report.ok).toBe(true);
    note(report, aes);
  });

  it('a device-side request/response in a live session is within the record budget', () => {
    const fx = sessionFixture({ aes });
    const s = fx.open(CLINICIAN);
    fx.run();
    const scope = RECORD_BUDGET.start(fx.board.ledger);
    const r = s.request(0x0010, new Uint8Array(15));
    fx.run();
    expect(r.response).toMatchObject({ ok: true, status: 0 });
    const report = scope.end();
    note(report, `${aes}, live: open request + seal response`);
  });

  it('a session establishment costs the device at most 5 ms of CPU (bond and break-glass)', () => {
    const fx = sessionFixture({ aes });
    const budgets = new Budgets(fx.board.ledger, [ESTABLISHMENT_BUDGET]);
    let scope = budgets.start(ESTABLISHMENT_BUDGET.name);
    const s = fx.open(CLINICIAN);
    fx.run();
    expect(s.state).toBe('open');
    const report = scope.end();
    const perBlock = aes === 'ltc' ? fx.board.costs.aesLtcCyclesPerBlock.value : fx.board.costs.aesSoftwareCyclesPerBlock.value;
    // 16 TRNG bytes for Nd; six CMACs of 36 bytes (Kauth, Kc2d, Kd2c, IV, Pc, Pd).
    expect(cmacBlockCount(36)).toBe(4);
    expect(report.cpuCycles).toBe(16 * fx.board.costs.trngCyclesPerByte.value + 6 * 4 * perBlock);
    note(report, `${aes}, bond`);
    s.close();
    fx.run();
    fx.reconnect();
    scope = budgets.start(ESTABLISHMENT_BUDGET.name);
    const bg = fx.openBreakGlass(1, fx.nowS() + 60);
    fx.run();
    expect(bg.role).toBe('emergency');
    note(scope.end(), `${aes}, break-glass incl. the index write`);
  });
});

describe('session budget figures', () => {
  it('prints them (docs/protocol.md §10.2 quotes these lines)', () => {
    console.log(figures.join('\n'));
    expect(figures.length).toBe(8);
  });
});
