// `medtwin energy`: prints the ledger and battery projection of a scripted duty cycle (advertise,
// then one idle connection) on the simulated KW31Z. Not a protocol demo: see `medtwin demo`.

import { parseArgs } from 'node:util';
import type { BatteryKind } from '../../hal/kw31z/battery.ts';
import { runDutyCycle } from '../../scenarios/demo/duty-cycle.ts';
import { MedtwinError } from '../errors.ts';
import { choiceOption, numberOption } from './args.ts';
import { BATTERIES, batteryLine, formatLedger, multipleOf } from './report.ts';

export const ENERGY_HELP = `medtwin energy — what a duty cycle costs the simulated KW31Z and its battery

usage: medtwin energy [options]

  Advertises (connectable, nobody scanning) for --adv-s, then a simulated phone connects and
  holds an idle connection (empty PDUs only) for --conn-s. Prints each phase's ledger and a
  battery projection assuming the whole span repeats.

options:
  --adv-interval-ms N      advertising interval, 20–10240 ms, a multiple of 0.625 (default 1000)
  --adv-s N                seconds of advertising, 1–86400 (default 60)
  --conn-interval-ms N     connection interval, 7.5–4000 ms, a multiple of 1.25 (default 30)
  --conn-s N               seconds of connection, 0–86400 (default 30; 0 = advertising only)
  --battery KIND           cr2032 | aaa (default cr2032)
  --seed S                 seed of the world (default "duty-cycle")
  -h, --help               this text`;

export function energyCommand(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'adv-interval-ms': { type: 'string' },
      'adv-s': { type: 'string' },
      'conn-interval-ms': { type: 'string' },
      'conn-s': { type: 'string' },
      battery: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  const advIntervalMs = multipleOf('adv-interval-ms', numberOption('adv-interval-ms', values['adv-interval-ms'], 1_000, 20, 10_240), 0.625);
  const connIntervalMs = multipleOf('conn-interval-ms', numberOption('conn-interval-ms', values['conn-interval-ms'], 30, 7.5, 4_000), 1.25);
  const advSeconds = numberOption('adv-s', values['adv-s'], 60, 1, 86_400);
  const connSeconds = numberOption('conn-s', values['conn-s'], 30, 0, 86_400);
  const battery: BatteryKind = BATTERIES[choiceOption('battery', values.battery, 'cr2032', Object.keys(BATTERIES))]!;
  const r = runDutyCycle({ seed: values.seed ?? 'duty-cycle', advIntervalMs, advSeconds, connIntervalMs, connSeconds, battery });
  if (connSeconds > 0 && !r.connected) throw new MedtwinError('energy.link', 'the phone did not connect');
  console.log(`medtwin energy — one simulated MKW31Z, costs from hal/kw31z/costs.ts`);
  console.log('');
  console.log(`advertising at ${advIntervalMs} ms for ${advSeconds} s, nobody listening:`);
  console.log(formatLedger(r.advertising));
  if (connSeconds > 0) {
    console.log('');
    console.log(`then connecting and ${connSeconds} s connected at ${connIntervalMs} ms (empty PDUs), the whole run:`);
    console.log(formatLedger(r.total));
  }
  console.log('');
  console.log(batteryLine(battery, r.projection, 'the whole run, repeated'));
  return 0;
}
