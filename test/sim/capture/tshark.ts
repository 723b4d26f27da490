// Test helpers for captures: run tshark on a pcap file and read fields per frame; parse classic pcap records.
// Not a test file. tshark missing is a failure (CI installs it) unless MEDTWIN_SKIP_TSHARK=1 says to skip.

import { spawnSync } from 'node:child_process';

/** Set MEDTWIN_SKIP_TSHARK=1 to skip the decoding tests on a machine without Wireshark. */
export const SKIP_TSHARK = process.env.MEDTWIN_SKIP_TSHARK === '1';
export const SKIP_REASON = 'skipped: MEDTWIN_SKIP_TSHARK=1 (tshark decoding not checked)';

/** tshark's version line; throws with an install hint when it cannot be run. */
export function requireTshark(): string {
  const r = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `tshark is needed to check that Wireshark decodes our captures, and it could not run (${r.error?.message ?? `exit ${r.status}`}). ` +
        'Install it (apt-get install -y tshark) or set MEDTWIN_SKIP_TSHARK=1 to skip these tests.',
    );
  }
  return r.stdout.split('\n')[0] ?? '';
}

export type TsharkRow = Record<string, string>;

/**
 * `tshark -r FILE -T fields -e …`: one row per frame, every field a string ('' when the
 * frame has none; several occurrences joined by ','). Throws when tshark fails.
 */
export function tsharkFields(file: string, fields: readonly string[], extraArgs: readonly string[] = []): TsharkRow[] {
  const args = ['-r', file, '-n', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'quote=n'];
  for (const f of fields) args.push('-e', f);
  args.push(...extraArgs);
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.length > 0);
  return lines.map((line) => {
    const cols = line.split('\t');
    const row: TsharkRow = {};
    fields.forEach((f, i) => (row[f] = cols[i] ?? ''));
    return row;
  });
}

/** `tshark -r FILE -V`: the full dissection as text. */
export function tsharkVerbose(file: string): string {
  const r = spawnSync('tshark', ['-r', file, '-n', '-V'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw new Error(`tshark -V failed: ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

export interface PcapRecord {
  readonly tsSec: number;
  readonly tsUsec: number;
  readonly inclLen: number;
  readonly origLen: number;
  readonly data: Uint8Array;
}

/** Parse a little-endian classic pcap file (our writer's layout), checking the lengths. */
export function readPcap(bytes: Uint8Array): { header: DataView; records: PcapRecord[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 24 || view.getUint32(0, true) !== 0xa1b2c3d4) throw new Error('not a little-endian µs pcap file');
  const records: PcapRecord[] = [];
  let o = 24;
  while (o < bytes.length) {
    if (o + 16 > bytes.length) throw new Error(`truncated record header at ${o}`);
    const inclLen = view.getUint32(o + 8, true);
    if (o + 16 + inclLen > bytes.length) throw new Error(`truncated record at ${o}`);
    records.push({
      tsSec: view.getUint32(o, true),
      tsUsec: view.getUint32(o + 4, true),
      inclLen,
      origLen: view.getUint32(o + 12, true),
      data: bytes.subarray(o + 16, o + 16 + inclLen),
    });
    o += 16 + inclLen;
  }
  return { header: new DataView(bytes.buffer, bytes.byteOffset, 24), records };
}
