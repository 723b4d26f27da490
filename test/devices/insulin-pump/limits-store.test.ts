// The clinician's hard limits survive a reboot: written when a clinician sets max bolus over the IDS CCP,
// loaded at boot by a new pump on the same flash image; a record that is not valid limits reads as none.
// Not the limit rules (limits.test.ts).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKw31zBoard } from '../../../hal/kw31z/board.ts';
import { createInsulinPump, IDS_COMMANDS } from '../../../devices/insulin-pump/index.ts';
import { CCP_OP, decodeCcpResponse, encodeCcpRequest } from '../../../devices/insulin-pump/ids/index.ts';
import { decodeLimits, encodeLimits } from '../../../devices/insulin-pump/limits-store.ts';
import { ABSOLUTE_MAX_BOLUS_MILLIUNITS, DEFAULT_LIMITS } from '../../../devices/insulin-pump/limits.ts';
import { STORE_KEYS } from '../../../src/firmware/store-keys.ts';
import { provisionDevice } from '../../../src/session/identity.ts';
import { Manufacturer } from '../../../src/session/manufacturer.ts';
import { Air } from '../../../src/sim/air/air.ts';
import { World } from '../../../src/sim/world.ts';

const dir = mkdtempSync(join(tmpdir(), 'medtwin-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function boot(image: string, provision: boolean) {
  const world = new World({ seed: 'limits' });
  const board = createKw31zBoard({ world, air: new Air(world), device: 'pump', address: { address: 'C0:00:00:00:00:01', random: true }, battery: 'aaa-alkaline', flashImagePath: image });
  if (provision) {
    const p = provisionDevice(board.flash, new Manufacturer('limits-manufacturer').issueDeviceIdentity('PU000042', 'insulin-pump'));
    if (!p.ok) throw new Error(p.code);
  }
  return createInsulinPump({ world, board, serial: 'PU000042' });
}

describe('the hard limits in flash', () => {
  it('a max bolus a clinician lowered is still in force after a reboot (not the factory 10 U)', () => {
    const image = join(dir, 'pump.img');
    const pump = boot(image, true);
    expect(pump.engine.currentLimits.maxBolusMilliUnits).toBe(DEFAULT_LIMITS.maxBolusMilliUnits);
    let answer: Uint8Array | undefined;
    const cmd = pump.device.commands.get(IDS_COMMANDS.ccp.id)!;
    const r = cmd.handler({ command: cmd, requestId: 1, payload: encodeCcpRequest({ op: 'setMaxBolusAmount', maxBolusAmountMilliUnits: 3_000 }), role: 'clinician', clientId: undefined, respond: (x) => (answer = x.payload) });
    const d = decodeCcpResponse((r?.payload ?? answer)!);
    expect(d.ok && d.value).toEqual({ op: 'responseCode', requestOpCode: CCP_OP.codes.setMaxBolusAmount, responseCode: 'success' });
    expect(decodeLimits(pump.device.store.get(STORE_KEYS.pumpLimits)!)).toEqual({ ...DEFAULT_LIMITS, maxBolusMilliUnits: 3_000 });
    const again = boot(image, false);
    expect(again.engine.currentLimits).toEqual({ ...DEFAULT_LIMITS, maxBolusMilliUnits: 3_000 });
  });

  it('bytes that are not valid limits read as none: version, length, and limits the rules refuse', () => {
    const good = encodeLimits(DEFAULT_LIMITS);
    expect(decodeLimits(good)).toEqual(DEFAULT_LIMITS);
    expect(decodeLimits(good.subarray(0, 15))).toBeUndefined();
    expect(decodeLimits(Uint8Array.from([2, ...good.subarray(1)]))).toBeUndefined();
    expect(decodeLimits(encodeLimits({ ...DEFAULT_LIMITS, maxBolusMilliUnits: ABSOLUTE_MAX_BOLUS_MILLIUNITS + 1 }))).toBeUndefined();
  });
});
