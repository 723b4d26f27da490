// Test rig for the GLP log: a world, a small KW31Z flash provisioned with a pH meter identity from
// a simulated manufacturer, the record store on it and the charged crypto. Not the meter composition.

import { Kw31zFlash, KW31Z_SECTOR_BYTES } from '../../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { KW31Z_COSTS } from '../../../hal/kw31z/costs.ts';
import type { CostContext } from '../../../src/crypto/index.ts';
import { RING_LOGS } from '../../../src/firmware/store-keys.ts';
import { loadIdentity, protectWriteOnceArea, provisionDevice, type DeviceIdentity } from '../../../src/session/identity.ts';
import { Manufacturer } from '../../../src/session/manufacturer.ts';
import { World } from '../../../src/sim/world.ts';
import { RecordStore } from '../../../src/storage/record-store.ts';
import { GlpLog } from '../../../devices/ph-meter/glp-log.ts';
import type { GlpReading } from '../../../devices/ph-meter/glp-record.ts';

export const SERIAL = 'PH000001';
export const US_PER_S = 1_000_000;
export const MANUFACTURER = new Manufacturer('glp-test');

export function must<T>(r: { ok: true; value: T } | { ok: false; code: string; detail?: string }): T {
  if (!r.ok) throw new Error(`unexpected failure: ${r.code} ${r.detail ?? ''}`);
  return r.value;
}

export interface GlpRig {
  readonly world: World;
  readonly flash: Kw31zFlash;
  readonly ledger: Kw31zLedger;
  readonly cost: CostContext;
  readonly identity: DeviceIdentity;
  /** Store sectors (the flash has one more: the write-once area). */
  readonly storeSectors: number;
  openStore(): RecordStore;
  /** Open (or reopen, as after a reboot) the store and the GLP log. */
  openLog(opts?: { capacity?: number; store?: RecordStore }): GlpLog;
}

/** `storeSectors` 2 KB sectors for the store, then the write-once sector with the meter's identity. */
export function glpRig(opts: { storeSectors?: number; capacity?: number; serial?: string; world?: World; image?: Uint8Array } = {}): GlpRig {
  const world = opts.world ?? new World({ seed: 7 });
  const storeSectors = opts.storeSectors ?? 6;
  const ledger = new Kw31zLedger('meter', () => world.nowUs);
  const flash = new Kw31zFlash({ device: 'meter', ledger, sizeBytes: (storeSectors + 1) * KW31Z_SECTOR_BYTES });
  if (opts.image !== undefined) {
    for (let s = 0; s <= storeSectors; s++) must(flash.program(s * KW31Z_SECTOR_BYTES, opts.image.subarray(s * KW31Z_SECTOR_BYTES, (s + 1) * KW31Z_SECTOR_BYTES)));
  } else {
    must(provisionDevice(flash, MANUFACTURER.issueDeviceIdentity(opts.serial ?? SERIAL, 'ph-meter')));
  }
  const identity = must(loadIdentity(flash));
  const cost: CostContext = { ledger, costs: KW31Z_COSTS };
  const protectedFlash = protectWriteOnceArea(flash);
  const openStore = (): RecordStore => must(RecordStore.open(protectedFlash, { firstSector: 0, sectorCount: storeSectors, ringLogs: RING_LOGS }));
  return {
    world,
    flash,
    ledger,
    cost,
    identity,
    storeSectors,
    openStore,
    openLog: (o = {}) => {
      const capacity = o.capacity ?? opts.capacity;
      return must(GlpLog.open({ store: o.store ?? openStore(), clock: world.alarm(), identity, cost, ...(capacity === undefined ? {} : { capacity }) }));
    },
  };
}

/** The whole flash image (to replay a state on a fresh flash). */
export function imageOf(flash: Kw31zFlash): Uint8Array {
  return must(flash.read(0, flash.geometry.sizeBytes));
}

/** A plausible reading, different for each i: pH 4..10, 15..35 °C, a calibration changing every 10. */
export function readingAt(i: number): GlpReading {
  const phMilli = 4_000 + ((i * 373) % 6_000);
  return {
    phMilli,
    mvCenti: Math.round((7_000 - phMilli) * 5.916),
    tempCentiC: 1_500 + ((i * 97) % 2_000),
    flags: i % 4 === 3 ? ['held'] : i % 5 === 4 ? ['stable', 'calibration-warning'] : ['stable'],
    calibration: i < 3 ? undefined : { id: 1 + Math.floor(i / 10), slopeCentiPercent: 9_700 + (i % 10), offsetCentiMv: -120 + i, timeS: 10 * Math.floor(i / 10), points: 1 + (Math.floor(i / 10) % 5) },
  };
}
