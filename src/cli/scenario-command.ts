// `medtwin scenario NAME`: runs one scenario from scenarios/index.ts and prints its report; the
// exit code says whether what it declares held. Not the scenarios themselves.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { SCENARIOS, scenarioNamed } from '../../scenarios/index.ts';
import { MedtwinError } from '../errors.ts';

/** The longest scenario name: the summaries line up. */
const NAME_WIDTH = Math.max(...Object.keys(SCENARIOS).map((n) => n.length)) + 1;

export const SCENARIO_HELP = `medtwin scenario — run a scenario and print its report

usage: medtwin scenario NAME [options]
       medtwin scenario --list

scenarios:
${Object.entries(SCENARIOS)
  .map(([name, s]) => `  ${name.padEnd(NAME_WIDTH)} ${s.summary}`)
  .join('\n')}

options:
  --seed S                 seed of the world (default: the scenario's own)
  --pcap FILE              write the air as pcap for Wireshark/tshark
  --list                   list the scenarios
  -h, --help               this text

Exit code 0 when everything the scenario declares held, 1 when something did not.`;

export async function scenarioCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { seed: { type: 'string' }, pcap: { type: 'string' }, list: { type: 'boolean' } },
  });
  if (values.list) {
    for (const [name, s] of Object.entries(SCENARIOS)) console.log(`${name.padEnd(NAME_WIDTH)} ${s.summary}`);
    return 0;
  }
  if (positionals.length !== 1) throw new MedtwinError('cli.option', `give one scenario name (try: medtwin scenario --list)`);
  const entry = scenarioNamed(positionals[0]!);
  if (values.pcap !== undefined) mkdirSync(dirname(values.pcap), { recursive: true });
  const outcome = await entry.run({ ...(values.seed !== undefined ? { seed: values.seed } : {}), ...(values.pcap !== undefined ? { pcapPath: values.pcap } : {}) });
  console.log(outcome.report);
  console.log('');
  console.log(outcome.ok ? `scenario ${positionals[0]}: everything it declares held` : `scenario ${positionals[0]}: NOT everything it declares held`);
  return outcome.ok ? 0 : 1;
}
