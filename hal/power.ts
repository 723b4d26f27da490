// Power: the battery and the DC-DC converter as the firmware sees them.
// Not the battery model itself: that lives with the target (hal/kw31z/battery.ts).

export type DcdcMode = 'buck' | 'boost';

export interface BatteryStatus {
  /** Terminal voltage now, mV. */
  readonly milliVolts: number;
  /** Remaining charge, 0–100 %, as the Battery Service reports it. */
  readonly levelPercent: number;
  /** Below the device's low-battery threshold. */
  readonly low: boolean;
}

export interface Power {
  readonly dcdcMode: DcdcMode;
  battery(): BatteryStatus;
}
