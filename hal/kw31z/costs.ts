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
  motorCyclesPerStep: row(500, 'cycles', 'assumption', 'step ISR: drive the H-bridge phase sequence and read the end-of-step sensor (≈ 10 µs at 48 MHz)'),

  // Batteries and the DC-DC converter (hal/kw31z/battery.ts). Ledger energies are the
  // energy at the supply in the data sheet's DC-DC buck configuration (supplyVolts above),
  // so a converter factor says how much of a cell's energy reaches that reference.
  cr2032RatedMilliAmpHours: row(225, 'mAh', 'sourced', 'Wikipedia "CR2032 battery" (IEC CR2032, ANSI 5004LC): typical capacity 225 mAh', 'DESIGN §3'),
  cr2032UsableMilliAmpHours: row(180, 'mAh', 'assumption', '80 % of rated: BLE radio bursts (6–7 mA) derate coin cells; TI SWRA349 measured 50 % to over 100 % of rated across vendors at 15–30 mA peaks', 'DESIGN §3: ~180 mAh usable'),
  cr2032NominalVolts: row(3.0, 'V', 'sourced', 'Wikipedia "CR2032 battery": nominal voltage 3.0 V (Li/MnO2 plateau under light load)'),
  cr2032CutoffVolts: row(2.0, 'V', 'sourced', 'Wikipedia "CR2032 battery": cut-off voltage 2.0 V, the end voltage of coin-cell capacity ratings', 'above the DC-DC buck minimum input of 1.8 V (DESIGN §3)'),
  aaaAlkalineUsableMilliAmpHours: row(1_000, 'mAh', 'assumption', 'Wikipedia "AAA battery": alkaline AAA typically 900–1,155 mAh; taken down to the boost minimum input of 0.9 V', 'DESIGN §3: ~1,000 mAh'),
  aaaAlkalineAverageVolts: row(1.2, 'V', 'assumption', 'mean terminal voltage of an alkaline cell over a 1.5 → 0.9 V discharge at light load'),
  aaaAlkalineFreshVolts: row(1.5, 'V', 'sourced', 'alkaline Zn/MnO2 nominal cell voltage (IEC 60086 LR03)'),
  aaaAlkalineCutoffVolts: row(0.9, 'V', 'sourced', `${DS}: DC-DC boost input 0.9–1.8 V (DESIGN §3); below it the chip browns out`),
  dcdcBuckEfficiencyRelative: row(1.0, 'ratio', 'assumption', 'ledger energies are referenced to the data sheet buck-mode figures, so a coin cell through the buck delivers them at 1.0 relative'),
  dcdcBoostEfficiencyRelative: row(0.85, 'ratio', 'assumption', 'boosting from ~1.2 V loses more than the buck the data sheet currents are given for', 'replace with the data sheet boost-mode currents once read'),
} as const satisfies Record<string, CostRow>;

export type CostTable = { readonly [K in keyof typeof KW31Z_COSTS]: CostRow };

/** Cycles the CPU stalls for `us` microseconds at the table's clock. */
export function cyclesForUs(costs: CostTable, us: number): number {
  return Math.round((us * costs.cpuClockHz.value) / 1_000_000);
}
