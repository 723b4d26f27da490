// Shared pieces of the CLI's reports: the ledger table, the battery line, option checks that
// several commands take. Not a command: demo-command.ts and energy-command.ts print with these.

import type { BatteryKind, BatteryLifeProjection } from '../../hal/kw31z/battery.ts';
import type { LedgerSummary } from '../../hal/kw31z/ledger.ts';
import { MedtwinError } from '../errors.ts';

/** The CLI's battery names. */
export const BATTERIES: Record<string, BatteryKind> = { cr2032: 'cr2032', aaa: 'aaa-alkaline' };

export const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The air takes only whole 625 µs / 1,250 µs units (Core Vol 6 Part B §4.4.2.2, §4.5.1). */
export function multipleOf(name: string, valueMs: number, unitMs: number): number {
  const units = valueMs / unitMs;
  if (Math.abs(units - Math.round(units)) > 1e-9) {
    throw new MedtwinError('cli.option', `--${name} must be a multiple of ${unitMs} ms, got ${valueMs}`);
  }
  return valueMs;
}

export function integer(name: string, v: number): number {
  if (!Number.isInteger(v)) throw new MedtwinError('cli.option', `--${name} must be a whole number, got ${v}`);
  return v;
}

/** The ledger as a table: one row per activity that spent anything, then the totals. */
export function formatLedger(s: LedgerSummary): string {
  const rows = [['activity', 'CPU cycles', 'radio TX µs', 'radio RX µs', 'flash ops', 'sleep s', 'energy µJ']];
  const cells = (name: string, m: LedgerSummary['totals'], uj: number): string[] => [
    name,
    fmt(m.cpuCycles),
    fmt(m.radioTxUs),
    fmt(m.radioRxUs),
    fmt(m.flashProgramOps + m.flashEraseOps),
    fmt(m.sleepUs / 1e6, 3),
    fmt(uj, 1),
  ];
  for (const a of s.activities) if (a.microJoules > 0) rows.push(cells(a.activity, a.meters, a.microJoules));
  rows.push(cells('total', s.totals, s.microJoules));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function batteryLine(battery: BatteryKind, p: BatteryLifeProjection, span: string): string {
  const name = battery === 'cr2032' ? 'CR2032 coin cell (buck)' : 'AAA alkaline cell (boost)';
  return `battery: ${name}; at a mean ${fmt(p.averageMicroWatts, 1)} µW (${span}) it lasts ${fmt(p.lifeHours, 1)} h = ${fmt(p.lifeDays, 1)} days`;
}
