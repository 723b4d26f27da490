// `medtwin first-contact`: runs the first-contact scenario (advertise, connect, raw data PDUs) and
// prints its timeline, the chip's ledger and a battery projection. Not the scenario itself.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { BatteryKind } from '../../hal/kw31z/battery.ts';
import { DEMO_DEVICE_NAMES, runFirstContact, type DemoDevice, type FirstContactResult } from '../../scenarios/demo/first-contact.ts';
import { formatTimeUs } from '../sim/trace.ts';
import { choiceOption, numberOption } from './args.ts';
import { BATTERIES, batteryLine, fmt, formatLedger, integer, multipleOf } from './report.ts';

export const FIRST_CONTACT_HELP = `medtwin first-contact — a simulated KW31Z advertises, a simulated phone connects and exchanges raw data PDUs

usage: medtwin first-contact [options]

options:
  --seed S                 seed of the world's random streams (default "demo"); same seed, same trace
  --device NAME            ${DEMO_DEVICE_NAMES.join(' | ')} (default pump): name, address and battery
  --adv-interval-ms N      advertising interval, 20–10240 ms, a multiple of 0.625 (default 100)
  --conn-interval-ms N     connection interval, 7.5–4000 ms, a multiple of 1.25 (default 30)
  --loss P                 probability that a PDU is lost on the air, 0–0.9 (default 0)
  --exchanges N            request/response pairs before the phone hangs up, 1–100 (default 3)
  --battery KIND           cr2032 | aaa (default: the device's own: pump aaa, ph-meter cr2032)
  --trace-json FILE        also write the whole trace as JSON lines
  --pcap FILE              write the air as pcap for Wireshark/tshark (link type 256)
  --flash-image FILE       keep the chip's 512 KB flash in FILE (the boot count survives runs)
  --timeline N             print at most N timeline records, the first and last (default 60)
  -h, --help               this text`;

export interface DemoArgs {
  readonly seed: string;
  readonly device: DemoDevice;
  readonly advIntervalMs: number;
  readonly connIntervalMs: number;
  readonly loss: number;
  readonly exchanges: number;
  readonly battery: BatteryKind | undefined;
  readonly traceJson: string | undefined;
  readonly flashImage: string | undefined;
  readonly pcap: string | undefined;
  readonly timelineLimit: number;
}

/** Parse and range-check the options; every mistake is one coded line (cli.option). */
export function parseDemoArgs(argv: string[]): DemoArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      seed: { type: 'string' },
      device: { type: 'string' },
      'adv-interval-ms': { type: 'string' },
      'conn-interval-ms': { type: 'string' },
      loss: { type: 'string' },
      exchanges: { type: 'string' },
      battery: { type: 'string' },
      'trace-json': { type: 'string' },
      'flash-image': { type: 'string' },
      pcap: { type: 'string' },
      timeline: { type: 'string' },
    },
  });
  const battery = values.battery === undefined ? undefined : BATTERIES[choiceOption('battery', values.battery, 'cr2032', Object.keys(BATTERIES))];
  const advIntervalMs = numberOption('adv-interval-ms', values['adv-interval-ms'], 100, 20, 10_240);
  const connIntervalMs = numberOption('conn-interval-ms', values['conn-interval-ms'], 30, 7.5, 4_000);
  // The air takes only whole 625 µs / 1,250 µs units (Core Vol 6 Part B §4.4.2.2, §4.5.1).
  multipleOf('adv-interval-ms', advIntervalMs, 0.625);
  multipleOf('conn-interval-ms', connIntervalMs, 1.25);
  return {
    seed: values.seed ?? 'demo',
    device: choiceOption('device', values.device, 'pump', DEMO_DEVICE_NAMES),
    advIntervalMs,
    connIntervalMs,
    loss: numberOption('loss', values.loss, 0, 0, 0.9),
    exchanges: integer('exchanges', numberOption('exchanges', values.exchanges, 3, 1, 100)),
    battery,
    traceJson: values['trace-json'],
    flashImage: values['flash-image'],
    pcap: values.pcap,
    timelineLimit: integer('timeline', numberOption('timeline', values.timeline, 60, 0, 1_000_000)),
  };
}

export function formatDemoReport(r: FirstContactResult, timelineLimit: number): string {
  const { ledger, projection } = r;
  const out = [
    `medtwin first-contact — ${r.device} on a simulated MKW31Z, seed "${r.world.seed}", boot #${r.bootCount}`,
    '',
    `timeline (${fmt(r.world.trace.records.length)} records${r.world.trace.records.length > timelineLimit ? `, first and last ${fmt(timelineLimit)}` : ''}):`,
    r.world.trace.formatTimeline({ limit: timelineLimit }),
    '',
    `phone: connected at ${formatTimeUs(r.connectedAtUs ?? 0).trim()}, ${r.replies.length} replies, hung up at ${formatTimeUs(r.disconnectedAtUs ?? 0).trim()}`,
    ...r.replies.map((t) => `  ← ${t}`),
    '',
    `ledger of ${r.device} over ${fmt(ledger.elapsedUs / 1e6, 3)} virtual s (costs: hal/kw31z/costs.ts):`,
    formatLedger(ledger),
    `  radio on ${fmt(ledger.radioOnUs)} µs; CPU busy ${fmt((ledger.cpuCycles / r.board.costs.cpuClockHz.value) * 1000, 3)} ms`,
    '',
    batteryLine(r.battery, projection, 'this run'),
    `  (the span is mostly one connection: a device that sleeps between contacts lasts far longer)`,
  ];
  return out.join('\n');
}

export function firstContactCommand(argv: string[]): number {
  const args = parseDemoArgs(argv);
  for (const file of [args.traceJson, args.flashImage, args.pcap]) if (file !== undefined) mkdirSync(dirname(file), { recursive: true });
  const result = runFirstContact({
    seed: args.seed,
    device: args.device,
    advIntervalMs: args.advIntervalMs,
    connIntervalMs: args.connIntervalMs,
    loss: args.loss,
    exchanges: args.exchanges,
    ...(args.battery !== undefined ? { battery: args.battery } : {}),
    ...(args.flashImage !== undefined ? { flashImagePath: args.flashImage } : {}),
    ...(args.pcap !== undefined ? { pcapPath: args.pcap } : {}),
  });
  console.log(formatDemoReport(result, args.timelineLimit));
  if (args.traceJson !== undefined) {
    writeFileSync(args.traceJson, result.world.trace.toJsonLines());
    console.log(`trace: ${result.world.trace.records.length} records written to ${args.traceJson}`);
  }
  if (args.pcap !== undefined) console.log(`capture: ${result.pcapFrames} frames written to ${args.pcap} (tshark -r ${args.pcap})`);
  return 0;
}
