// `medtwin demo` (what `npm start` runs): the showcase — pairing by six-digit comparison, sessions,
// commands, a refused wrong passkey, the Stop button — then its timeline, ledger and battery line.
// Not the scenario itself (scenarios/demo/showcase.ts).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { runShowcase, type ShowcaseResult } from '../../scenarios/demo/showcase.ts';
import { formatTimeline } from '../sim/trace.ts';
import { numberOption } from './args.ts';
import { batteryLine, fmt, formatLedger, integer } from './report.ts';

export const DEMO_HELP = `medtwin demo — a simulated KW31Z insulin pump with the secure firmware, and two phones

usage: medtwin demo [options]        (npm start -- [options])

  The pump boots and advertises. Alice's phone pairs with it by numeric comparison (the six
  digits on the pump's display, OK on its button), opens an encrypted session, runs commands
  (one refused for her role), hangs up, reconnects and proves its bond again. Mallory tries
  passkey entry with the wrong digits and is refused. A long press of Stop stops therapy.
  Then: the story, the security timeline, the pump's ledger and a battery projection.

options:
  --seed S                 seed of the world (default "showcase"); same seed, same trace
  --pcap FILE              write the air as pcap for Wireshark/tshark (link type 256)
  --trace-json FILE        also write the whole trace as JSON lines
  --timeline N             print at most N timeline records, the first and last (default 80)
  -h, --help               this text

See also: medtwin first-contact (the link layer alone), medtwin energy (duty-cycle costs).`;

export function formatShowcase(r: ShowcaseResult, timelineLimit: number): string {
  const { ledger } = r;
  const clockHz = r.rig.board.costs.cpuClockHz.value;
  return [
    `medtwin demo — insulin pump on a simulated MKW31Z, seed "${r.rig.world.seed}"`,
    '',
    'what happened:',
    ...r.story,
    '',
    `security timeline (${fmt(r.highlights.length)} of ${fmt(r.rig.world.trace.records.length)} trace records: pairing, session, display, buttons, links):`,
    formatTimeline(r.highlights, { limit: timelineLimit }),
    '',
    `ledger of the pump over ${fmt(ledger.elapsedUs / 1e6, 3)} virtual s (costs: hal/kw31z/costs.ts):`,
    formatLedger(ledger),
    `  CPU busy ${fmt((ledger.cpuCycles / clockHz) * 1000, 1)} ms, of which pairing ${fmt(r.pairingCpuMs, 1)} ms; radio on ${fmt(ledger.radioOnUs)} µs`,
    '',
    batteryLine('aaa-alkaline', r.projection, 'this busy run'),
    `  (two pairings in 20 s is far from a pump's day: see \`medtwin energy\` for duty cycles)`,
  ].join('\n');
}

export function demoCommand(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: { seed: { type: 'string' }, pcap: { type: 'string' }, 'trace-json': { type: 'string' }, timeline: { type: 'string' } },
  });
  const timeline = integer('timeline', numberOption('timeline', values.timeline, 80, 0, 1_000_000));
  for (const file of [values.pcap, values['trace-json']]) if (file !== undefined) mkdirSync(dirname(file), { recursive: true });
  const r = runShowcase({ ...(values.seed !== undefined ? { seed: values.seed } : {}), ...(values.pcap !== undefined ? { pcapPath: values.pcap } : {}) });
  console.log(formatShowcase(r, timeline));
  if (values['trace-json'] !== undefined) {
    writeFileSync(values['trace-json'], r.rig.world.trace.toJsonLines());
    console.log(`trace: ${r.rig.world.trace.records.length} records written to ${values['trace-json']}`);
  }
  if (values.pcap !== undefined) console.log(`capture written to ${values.pcap} (tshark -r ${values.pcap})`);
  return 0;
}
