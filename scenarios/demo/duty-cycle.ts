// A scripted radio duty cycle on one simulated KW31Z: advertise for a while, then hold one
// idle connection, and read the ledger and battery projection. Not a protocol: no data flows.
//
// Firmware teams use it (`medtwin energy`) to see what an advertising and connection
// interval cost before any firmware exists; the ledger test checks its µJ by hand.

import { createKw31zBoard } from '../../hal/kw31z/board.ts';
import { projectBatteryLife, type BatteryKind, type BatteryLifeProjection } from '../../hal/kw31z/battery.ts';
import type { LedgerSummary } from '../../hal/kw31z/ledger.ts';
import type { BdAddress } from '../../hal/radio.ts';
import { MedtwinError } from '../../src/errors.ts';
import { Air } from '../../src/sim/air/air.ts';
import { defaultSupervisionTimeoutUs, SimCentral } from '../../src/sim/air/central.ts';
import { US_PER_MS, US_PER_S } from '../../src/sim/scheduler.ts';
import { World } from '../../src/sim/world.ts';

export interface DutyCycleOptions {
  readonly seed?: string;
  readonly advIntervalMs: number;
  readonly advSeconds: number;
  readonly connIntervalMs: number;
  readonly connSeconds: number;
  readonly battery: BatteryKind;
}

export interface DutyCycleResult {
  readonly world: World;
  /** The ledger after the advertising phase alone (nobody listening). */
  readonly advertising: LedgerSummary;
  /** The ledger at the end (advertising, then connecting and the connection). */
  readonly total: LedgerSummary;
  readonly projection: BatteryLifeProjection;
  readonly connected: boolean;
}

const DEVICE: BdAddress = { address: 'C0:00:00:00:00:09', random: true };
const PHONE: BdAddress = { address: '11:22:33:44:55:66', random: false };
const FLAGS_ONLY = Uint8Array.of(2, 0x01, 0x06);

export function runDutyCycle(opts: DutyCycleOptions): DutyCycleResult {
  const world = new World({ seed: opts.seed ?? 'duty-cycle', trace: { keep: false } });
  const air = new Air(world);
  // A small flash: this scenario never touches it.
  const board = createKw31zBoard({ world, air, device: 'device', address: DEVICE, battery: opts.battery, flashSizeBytes: 4 * 2048 });
  let connected = false;
  let dropped = false;
  board.radio.setClient({
    connected: () => (connected = true),
    received: () => {},
    disconnected: () => (dropped = true),
  });
  const adv = board.radio.startAdvertising({
    intervalUs: Math.round(opts.advIntervalMs * US_PER_MS),
    advData: FLAGS_ONLY,
    scanRspData: new Uint8Array(0),
    connectable: true,
  });
  if (!adv.ok) throw new MedtwinError('energy.config', `advertising: ${adv.detail ?? adv.code}`);
  world.runFor(Math.round(opts.advSeconds * US_PER_S));
  const advertising = board.ledger.summary();

  if (opts.connSeconds > 0) {
    const phone = new SimCentral({ air, name: 'phone', address: PHONE });
    const intervalUs = Math.round(opts.connIntervalMs * US_PER_MS);
    const supervisionTimeoutUs = defaultSupervisionTimeoutUs(intervalUs);
    const c = phone.connect(board.radio.address, { intervalUs, latency: 0, supervisionTimeoutUs });
    if (!c.ok) throw new MedtwinError('energy.config', `connection: ${c.detail ?? c.code}`);
    const deadline = world.nowUs + Math.round(opts.advIntervalMs * US_PER_MS) + 20 * US_PER_MS;
    while (!connected && world.nowUs < deadline) world.runFor(US_PER_MS);
    world.runFor(Math.round(opts.connSeconds * US_PER_S));
    if (dropped) throw new MedtwinError('energy.link', 'the connection dropped during the run');
  }
  const total = board.ledger.summary();
  board.flash.close();
  return { world, advertising, total, projection: projectBatteryLife(board.power.model, total.microJoules, total.elapsedUs), connected };
}
