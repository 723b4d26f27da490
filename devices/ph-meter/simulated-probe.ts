// The simulated probe on a KW31Z board in one call: the electrode and thermistor models, the front
// end, the ADC with its two channels wired to them, and the firmware's ProbeReader on that ADC.
// Not the meter (index.ts composes it with the machines) nor any part's own model or conversion.
//
// A composition piece: it is the only pH-meter module that builds a HAL target (Kw31zAdc, DESIGN §1);
// sensors.ts, which the firmware uses, sees only the Adc interface.

import { Kw31zAdc } from '../../hal/kw31z/adc.ts';
import type { CostTable } from '../../hal/kw31z/costs.ts';
import type { Ledger } from '../../hal/ledger.ts';
import type { World } from '../../src/sim/world.ts';
import { NEW_PROBE, PhElectrode, type ElectrodeSpec, type Solution } from './electrode.ts';
import { frontEndVolts, PH_METER_VREF_VOLTS } from './front-end.ts';
import { ELECTRODE_CHANNEL, ProbeSensors, TEMPERATURE_CHANNEL } from './sensors.ts';
import { NOMINAL_NTC, NtcThermistor, type ThermistorSpec } from './temperature-sensor.ts';

export interface PhProbeOptions {
  readonly world: World;
  /** The board's device name (its ledger, trace and random streams). */
  readonly device: string;
  /** The board's ledger: each conversion is charged to it. */
  readonly ledger: Ledger;
  readonly costs?: CostTable;
  /** Default NEW_PROBE. */
  readonly electrode?: ElectrodeSpec;
  /** Default NOMINAL_NTC. */
  readonly thermistor?: ThermistorSpec;
  /** Where the probe starts, settled; default pH 7.00 at 25 °C. */
  readonly solution?: Solution;
  /** ADC noise, LSB rms; default the ADC's own (KW31Z_ADC_NOISE_LSB_SIGMA). */
  readonly adcNoiseLsbSigma?: number;
}

export interface PhProbe {
  /** What the meter's machines read. */
  readonly reader: ProbeSensors;
  readonly adc: Kw31zAdc;
  /** World side: the models a scenario moves and breaks. */
  readonly electrode: PhElectrode;
  readonly thermistor: NtcThermistor;
  /** World side: move the probe (electrode and thermistor together) into `solution` now. */
  immerse(solution: Solution): void;
}

/** Build the probe for a board: `createPhProbe({ ...board, electrode: OLD_PROBE })` works with a Kw31zBoard. */
export function createPhProbe(opts: PhProbeOptions): PhProbe {
  const { world, device } = opts;
  const solution = opts.solution ?? { ph: 7, tempC: 25 };
  const electrode = new PhElectrode({ world, device, spec: opts.electrode ?? NEW_PROBE, solution });
  const thermistor = new NtcThermistor({
    world,
    device,
    spec: opts.thermistor ?? NOMINAL_NTC,
    supplyVolts: PH_METER_VREF_VOLTS,
    tempC: solution.tempC,
  });
  const adc = new Kw31zAdc({
    device,
    world,
    ledger: opts.ledger,
    referenceVolts: PH_METER_VREF_VOLTS,
    channels: {
      [ELECTRODE_CHANNEL]: (nowUs) => frontEndVolts(electrode.mvAt(nowUs), PH_METER_VREF_VOLTS),
      [TEMPERATURE_CHANNEL]: (nowUs) => thermistor.voltsAt(nowUs),
    },
    ...(opts.costs === undefined ? {} : { costs: opts.costs }),
    ...(opts.adcNoiseLsbSigma === undefined ? {} : { noiseLsbSigma: opts.adcNoiseLsbSigma }),
  });
  const reader = new ProbeSensors({ adc, nowUs: () => world.nowUs });
  return {
    reader,
    adc,
    electrode,
    thermistor,
    immerse(s: Solution): void {
      electrode.immerse(s);
      thermistor.immerse(s);
    },
  };
}
