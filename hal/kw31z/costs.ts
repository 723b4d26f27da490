// The cost table of the simulated MKW31Z: every figure the ledger uses, with its unit, its
// source and whether it is sourced or an assumption. Not a place for logic: ledger.ts applies it.

export type CostBasis = 'sourced' | 'assumption' | 'measured';

export interface CostRow {
  readonly value: number;
  readonly unit: string;
  readonly basis: CostBasis;
  readonly source: string;
  readonly note?: string;
}

const row = (value: number, unit: string, basis: CostBasis, source: string, note?: string): CostRow =>
  note === undefined ? { value, unit, basis, source } : { value, unit, basis, source, note };

const DS = 'NXP MKW41Z/31Z/21Z Data Sheet Rev. 4 (03/2018), front page';

/** The one table. Change a figure here and every ledger, test and report follows. */
export const KW31Z_COSTS = {
  cpuClockHz: row(48_000_000, 'Hz', 'sourced', `${DS}: up to 48 MHz Cortex-M0+`),
  supplyVolts: row(3.6, 'V', 'sourced', `${DS}: transceiver currents given in DC-DC buck mode, 3.6 V supply`),
  cpuRunMilliAmps: row(3.0, 'mA', 'assumption', 'Cortex-M0+ class ≈ 60 µA/MHz at 48 MHz', 'datasheet run-mode table not yet read'),
  radioTxMilliAmps: row(6.1, 'mA', 'sourced', `${DS}: typical Tx current 6.1 mA at 0 dBm`),
  radioRxMilliAmps: row(6.8, 'mA', 'sourced', `${DS}: typical Rx current 6.8 mA`),
  radioWarmupUs: row(100, 'µs', 'assumption', 'radio PLL lock and ramp before each TX/RX burst, charged at the RX current'),
  linkLayerCyclesPerEvent: row(3_000, 'cycles', 'assumption', 'link-layer ISR and scheduling per advertising or connection event'),
  sleepMicroAmps: row(1.5, 'µA', 'assumption', 'LLS with RAM retention and 32 kHz oscillator for BLE timing', `VLLS0 is 182 nA (${DS}) but loses the link-layer timer`),
  vlls0NanoAmps: row(182, 'nA', 'sourced', `${DS}: low-power mode (VLLS0) current 182 nA`),
  aesLtcCyclesPerBlock: row(200, 'cycles', 'assumption', 'KW41Z RM LTC chapter not yet read; 50–300 cycles plus setup (DESIGN §3)'),
  aesSoftwareCyclesPerBlock: row(1_140, 'cycles', 'sourced', 'jnk0le/cortexm-AES: AES-128 encrypt ≈ 1,140 cycles/block on Cortex-M0 (asm)', 'C implementations ≈ 2,810 (wolfSSL, STM32G071)'),
  sha256CyclesPer64Bytes: row(8_400, 'cycles', 'sourced', 'wolfSSL benchmark on STM32G071 (Cortex-M0+)'),
  p256EcdhCycles: row(45_000_000, 'cycles', 'sourced', 'Mbed TLS p256-m README: ECDH ≈ 44–47 M cycles on Cortex-M0'),
  p256KeygenCycles: row(45_000_000, 'cycles', 'sourced', 'Mbed TLS p256-m README: key generation ≈ ECDH'),
  ecdsaSignCycles: row(48_000_000, 'cycles', 'sourced', 'Mbed TLS p256-m README: sign ≈ 48 M cycles'),
  ecdsaVerifyCycles: row(75_000_000, 'cycles', 'sourced', 'Mbed TLS p256-m / TinyCrypt: verify 54–95 M cycles (midpoint)'),
  flashProgramLongwordUs: row(65, 'µs', 'assumption', 'Kinetis FTFA typical program-longword time', 'confirm against the KW41Z flash timing table'),
  flashEraseSectorUs: row(14_000, 'µs', 'assumption', 'Kinetis FTFA typical 2 KB sector erase time', 'confirm against the KW41Z flash timing table'),
  flashExtraMilliAmps: row(1.5, 'mA', 'assumption', 'flash charge pump current on top of the stalled CPU during program/erase'),
  adcConversionUs: row(25, 'µs', 'assumption', '16-bit SAR conversion with hardware averaging of 4'),
  adcMilliAmps: row(0.5, 'mA', 'assumption', 'ADC active current on top of the CPU'),
  motorMicroJoulesPerStep: row(300, 'µJ', 'assumption', 'micro stepper: ≈ 100 mA at 1.5 V for 2 ms per 0.05 U step'),
  trngCyclesPerByte: row(400, 'cycles', 'assumption', 'TRNG entropy sampling, CPU waiting'),
} as const satisfies Record<string, CostRow>;

export type CostTable = { readonly [K in keyof typeof KW31Z_COSTS]: CostRow };

/** Cycles the CPU stalls for `us` microseconds at the table's clock. */
export function cyclesForUs(costs: CostTable, us: number): number {
  return Math.round((us * costs.cpuClockHz.value) / 1_000_000);
}
