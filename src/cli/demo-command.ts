// `medtwin demo` (what `npm start` runs): the showcase of both devices — the pump paired by six-digit
// comparison, a bolus and its status, a refused wrong passkey, the meter calibrated and measuring, its
// GLP records verified, the Stop button — then the timeline and each device's ledger and battery.
// Not the scenario itself (scenarios/demo/showcase.ts).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { runShowcase, type ShowcaseResult } from '../../scenarios/demo/showcase.ts';
import { formatTimeline } from '../sim/trace.ts';
import { numberOption } from './args.ts';
import { batteryLine, fmt, formatLedger, integer } from './report.ts';

export const DEMO_HELP = `medtwin demo — both devices on simulated KW31Z chips, and phones, on one simulated air

usage: medtwin demo [options]        (npm start -- [options])

  The insulin pump and the pH meter boot and advertise. The clinic's service phone readies the
  pump (reservoir, priming, a basal rate). Alice's phone pairs with the pump by numeric
  comparison (the six digits on the pump's display, OK on its button), opens an encrypted
  session, starts therapy, asks for a 1 U bolus (a patient's basal template and a 40 U bolus are
  refused) and reads the IDD status. Mallory tries passkey entry with the wrong digits and is
  refused. A clinician calibrates the pH meter with two buffers and measures a sample; Alice's
  phone syncs the meter's GLP records and checks their signed checkpoint. A long press of Stop
  stops the pump. Then: the story, the security timeline, each device's ledger and battery.

options:
  --seed S                 seed of the world (default "showcase"); same seed, same trace
  --pcap FILE              write the air as pcap for Wireshark/tshark (link type 256)
  --trace-json FILE        also write the whole trace as JSON lines
  --timeline N             print at most N timeline records, the first and last (default 80)
  -h, --help               this text

See also: medtwin scenario --list (the pump's day, the meter's calibration, its battery),
medtwin first-contact (the link layer alone), medtwin energy (duty-cycle costs).`;

export function formatShowcase(r: ShowcaseResult, timelineLimit: number): string {
  const lines = [
    `medtwin demo — insulin pump and pH meter on simulated MKW31Z chips, seed "${r.rig.world.seed}"`,
    '',
    'what happened:',
    ...r.story,
    '',
    `security timeline (${fmt(r.highlights.length)} of ${fmt(r.rig.world.trace.records.length)} trace records: pairing, session, display, buttons, links):`,
    formatTimeline(r.highlights, { limit: timelineLimit }),
  ];
  for (const c of r.costs) {
    lines.push('', `ledger of the ${c.name} over ${fmt(c.ledger.elapsedUs / 1e6, 3)} virtual s (costs: hal/kw31z/costs.ts):`, formatLedger(c.ledger));
    lines.push(`  CPU busy ${fmt((c.ledger.cpuCycles / c.cpuClockHz) * 1000, 1)} ms; radio on ${fmt(c.ledger.radioOnUs)} µs`);
    lines.push(batteryLine(c.battery, c.projection, 'this busy run'));
  }
  lines.push(`  (three pairings in a few minutes is far from a device's day: see \`medtwin scenario therapy/day-in-the-life\` and \`ph/battery\`)`);
  const failed = Object.entries(r.checks).filter(([, v]) => !v).map(([k]) => k);
  lines.push('', failed.length === 0 ? 'every check held: comparison matched, bolus delivered, status over the session, mallory refused, meter calibrated and measuring, GLP verified, Stop stopped' : `CHECKS FAILED: ${failed.join(', ')}`);
  return lines.join('\n');
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
