// One simulated MKW31Z board in the world: its ledger, alarm, radio, flash, TRNG, LTC, power,
// display and buttons, wired to one device name. Not a device: firmware and services come on top.
//
// Sensors and actuators whose wiring is device-specific (the ADC's channels, the pump motor)
// are built by the device composition with this board's `world`, `device` and `ledger`.

import type { Alarm } from '../alarm.ts';
import type { BdAddress } from '../radio.ts';
import type { World } from '../../src/sim/world.ts';
import type { Air } from '../../src/sim/air/air.ts';
import { Kw31zAes } from './aes.ts';
import { batteryModel, Kw31zPower, type BatteryKind } from './battery.ts';
import { KW31Z_COSTS, type CostTable } from './costs.ts';
import { Kw31zTrng } from './entropy.ts';
import { Kw31zFlash } from './flash.ts';
import { Kw31zLedger } from './ledger.ts';
import { Kw31zRadio } from './radio.ts';
import { Kw31zButtons, Kw31zDisplay } from './ui.ts';

export interface Kw31zBoardOptions {
  readonly world: World;
  readonly air: Air;
  /** The device's name: ledger, trace and air endpoint. */
  readonly device: string;
  readonly address: BdAddress;
  readonly battery: BatteryKind;
  /** Persist the flash in this file (must be 512 KB if it exists). */
  readonly flashImagePath?: string;
  /** Smaller flash for cheap tests; default 512 KB. */
  readonly flashSizeBytes?: number;
  readonly costs?: CostTable;
}

export interface Kw31zBoard {
  readonly world: World;
  readonly device: string;
  readonly costs: CostTable;
  readonly ledger: Kw31zLedger;
  readonly alarm: Alarm;
  readonly radio: Kw31zRadio;
  readonly flash: Kw31zFlash;
  readonly entropy: Kw31zTrng;
  readonly aes: Kw31zAes;
  readonly power: Kw31zPower;
  readonly display: Kw31zDisplay;
  readonly buttons: Kw31zButtons;
}

export function createKw31zBoard(opts: Kw31zBoardOptions): Kw31zBoard {
  const { world, device } = opts;
  const costs = opts.costs ?? KW31Z_COSTS;
  const ledger = new Kw31zLedger(device, () => world.nowUs, costs);
  const flash = new Kw31zFlash({
    device,
    ledger,
    trace: world.trace,
    costs,
    ...(opts.flashImagePath !== undefined ? { imagePath: opts.flashImagePath } : {}),
    ...(opts.flashSizeBytes !== undefined ? { sizeBytes: opts.flashSizeBytes } : {}),
  });
  return {
    world,
    device,
    costs,
    ledger,
    alarm: world.alarm(),
    radio: new Kw31zRadio({ air: opts.air, device, address: opts.address, ledger, costs }),
    flash,
    entropy: new Kw31zTrng({ device, world, ledger, costs }),
    aes: new Kw31zAes({ device, world, ledger, costs }),
    // The battery drains by what the ledger has charged so far, sleep included.
    power: new Kw31zPower(batteryModel(opts.battery, costs), () => ledger.summary().microJoules),
    display: new Kw31zDisplay({ device, world }),
    buttons: new Kw31zButtons({ device, world }),
  };
}
