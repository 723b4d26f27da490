// The `medtwin` command: parses options, runs a command, prints one readable line per error
// and exits non-zero. Not where devices or scenarios are built: it only composes and reports.

import { readFileSync } from 'node:fs';
import { isMedtwinError, MedtwinError } from '../errors.ts';
import { demoCommand, DEMO_HELP } from './demo-command.ts';
import { energyCommand, ENERGY_HELP } from './energy-command.ts';
import { firstContactCommand, FIRST_CONTACT_HELP } from './first-contact-command.ts';
import { scenarioCommand, SCENARIO_HELP } from './scenario-command.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const HELP = `medtwin ${VERSION} — secure firmware twins of BLE medical devices

usage: medtwin <command> [options]

commands:
  demo        the showcase (npm start): a simulated KW31Z insulin pump pairs with a
              phone by six-digit comparison, delivers a bolus and reports its status
              over an encrypted session, refuses a wrong passkey; a pH meter is
              calibrated, measures and its GLP records are verified; prints the story,
              the timeline, each device's ledger and battery
  first-contact
              the link layer alone: advertise, connect, raw data PDUs, disconnect
  scenario    run a named scenario (medtwin scenario --list) and print its report
  energy      the ledger and battery life of a scripted duty cycle (advertise, then
              one idle connection) on the simulated KW31Z (the pH meter's own duty
              cycle: medtwin scenario ph/battery)
  help        this text (also: medtwin <command> --help)
  version     print the version

Run \`medtwin demo --help\` for the demo's options.`;

export async function main(argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv;
  switch (command) {
    case 'demo':
      if (rest.includes('--help') || rest.includes('-h')) {
        console.log(DEMO_HELP);
        return 0;
      }
      return demoCommand(rest);
    case 'first-contact':
      if (rest.includes('--help') || rest.includes('-h')) {
        console.log(FIRST_CONTACT_HELP);
        return 0;
      }
      return firstContactCommand(rest);
    case 'scenario':
      if (rest.includes('--help') || rest.includes('-h')) {
        console.log(SCENARIO_HELP);
        return 0;
      }
      return scenarioCommand(rest);
    case 'energy':
      if (rest.includes('--help') || rest.includes('-h')) {
        console.log(ENERGY_HELP);
        return 0;
      }
      return energyCommand(rest);
    case 'help':
    case '--help':
    case '-h':
      console.log(HELP);
      return 0;
    case 'version':
    case '--version':
      console.log(VERSION);
      return 0;
    default:
      throw new MedtwinError('cli.command', `unknown command "${command}" (try: medtwin help)`);
  }
}

/** Turn any failure into one line: coded errors as themselves, Node's parseArgs errors as cli.option. */
export function errorLine(e: unknown): string {
  if (isMedtwinError(e)) return `medtwin: error [${e.code}]: ${e.message}`;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    // One line: Node's parseArgs messages carry a hint on a second line.
    return `medtwin: error [cli.option]: ${(e as Error).message.replace(/\s*\n\s*/g, ' ')} (try --help)`;
  }
  return `medtwin: internal error: ${(e as Error)?.stack ?? String(e)}`;
}

// Run only when executed directly, not when imported by tests.
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('src/cli/main.ts')) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(errorLine(e));
      process.exit(isMedtwinError(e) || String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS') ? 2 : 1);
    },
  );
}

