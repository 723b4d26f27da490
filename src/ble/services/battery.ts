// The Battery service 0x180F (BAS v1.0): Battery Level 0x2A19 (0–100 %) read from the Power HAL and notified to
// subscribers when it changes. Not the battery model (hal/kw31z/battery.ts) and not low-battery alarms (firmware).

import type { Alarm, AlarmId } from '../../../hal/alarm.ts';
import type { Power } from '../../../hal/power.ts';
import { uuid16 } from '../uuid.ts';
import type { ServiceDef } from '../gatt-db.ts';
import type { GattServer } from '../gatt-server.ts';

export const BATTERY_SERVICE_UUID = uuid16(0x180f);
export const BATTERY_LEVEL_UUID = uuid16(0x2a19);

/** How often the level is looked at when polling (a cell's level moves slowly). */
export const DEFAULT_BATTERY_POLL_US = 60_000_000;

/** The level as the characteristic carries it: one byte, clamped to 0..100 (BAS §3.1). */
export function batteryLevelByte(power: Power): number {
  const l = Math.floor(power.battery().levelPercent);
  return l < 0 ? 0 : l > 100 ? 100 : l;
}

/**
 * Battery Level is read from `power` at every read (no stored copy); `check()` — called by
 * firmware, or every `pollUs` once `start` is called — notifies subscribed clients when the
 * level differs from the last one it reported. Id "bas.level".
 */
export class BatteryService {
  readonly definition: ServiceDef;
  private server: GattServer | undefined = undefined;
  private lastLevel: number;
  private timer: AlarmId | undefined = undefined;

  constructor(private readonly power: Power) {
    this.lastLevel = batteryLevelByte(power);
    this.definition = {
      uuid: BATTERY_SERVICE_UUID,
      id: 'bas',
      characteristics: [
        {
          uuid: BATTERY_LEVEL_UUID,
          id: 'bas.level',
          properties: ['read', 'notify'],
          fixedLengthBytes: 1,
          onRead: () => ({ ok: true, value: Uint8Array.of(batteryLevelByte(this.power)) }),
        },
      ],
    };
  }

  /** The server built from a database that includes `definition`. */
  attach(server: GattServer): void {
    this.server = server;
  }

  /** Notify subscribers if the level changed since the last report; returns the level. */
  check(): number {
    const level = batteryLevelByte(this.power);
    if (level !== this.lastLevel) {
      this.lastLevel = level;
      this.server?.updateValue('bas.level', Uint8Array.of(level));
    }
    return level;
  }

  /** Check every `pollUs` on this alarm until stop(). */
  start(alarm: Alarm, pollUs = DEFAULT_BATTERY_POLL_US): void {
    this.stop(alarm);
    const tick = (): void => {
      this.check();
      this.timer = alarm.setAlarm(pollUs, tick);
    };
    this.timer = alarm.setAlarm(pollUs, tick);
  }

  stop(alarm: Alarm): void {
    if (this.timer !== undefined) alarm.cancel(this.timer);
    this.timer = undefined;
  }
}
