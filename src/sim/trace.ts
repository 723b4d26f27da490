// The trace recorder: structured records (virtual time, device, layer, kind, fields),
// exported as JSON lines and printed as a readable timeline. Not a logger for humans only:
// tests assert on it, and the same seed must give byte-identical exports.

export type TraceValue = string | number | boolean | null | Uint8Array | readonly number[];
export type TraceFields = Record<string, TraceValue>;

export interface TraceRecord {
  readonly tUs: number;
  readonly device: string;
  readonly layer: string;
  readonly kind: string;
  readonly fields: TraceFields;
}

export interface TraceOptions {
  /** Record only these layers (default: all). */
  layers?: readonly string[];
  /** Also record per-event chatter marked verbose (empty LL PDUs, idle events). Default false. */
  verbose?: boolean;
  /** Keep records in memory (default true); listeners still see every record. */
  keep?: boolean;
}

export type TraceListener = (r: TraceRecord) => void;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function jsonValue(v: TraceValue): unknown {
  return v instanceof Uint8Array ? hex(v) : v;
}

export class Trace {
  readonly records: TraceRecord[] = [];
  readonly verbose: boolean;
  private readonly layers: ReadonlySet<string> | undefined;
  private readonly keep: boolean;
  private listeners: TraceListener[] = [];

  constructor(private readonly now: () => number, opts: TraceOptions = {}) {
    this.layers = opts.layers ? new Set(opts.layers) : undefined;
    this.verbose = opts.verbose ?? false;
    this.keep = opts.keep ?? true;
  }

  /** Cheap check for hot paths: build the fields only when the layer is recorded. */
  wants(layer: string): boolean {
    return this.layers === undefined || this.layers.has(layer);
  }

  record(device: string, layer: string, kind: string, fields: TraceFields = {}): void {
    if (!this.wants(layer)) return;
    const r: TraceRecord = { tUs: this.now(), device, layer, kind, fields };
    if (this.keep) this.records.push(r);
    for (const l of this.listeners) l(r);
  }

  /** Subscribe to records as they are made; returns the unsubscribe function. */
  on(listener: TraceListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  filter(pred: Partial<Pick<TraceRecord, 'device' | 'layer' | 'kind'>>): TraceRecord[] {
    return this.records.filter(
      (r) =>
        (pred.device === undefined || r.device === pred.device) &&
        (pred.layer === undefined || r.layer === pred.layer) &&
        (pred.kind === undefined || r.kind === pred.kind),
    );
  }

  /** One JSON object per line; byte-stable for the same run (fields keep insertion order). */
  toJsonLines(): string {
    let out = '';
    for (const r of this.records) out += traceRecordToJson(r) + '\n';
    return out;
  }

  /** A readable timeline; `limit` keeps the first and last records of a long run. */
  formatTimeline(opts: { limit?: number } = {}): string {
    return formatTimeline(this.records, opts);
  }
}

export function traceRecordToJson(r: TraceRecord): string {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.fields)) fields[k] = jsonValue(v);
  return JSON.stringify({ t_us: r.tUs, device: r.device, layer: r.layer, kind: r.kind, fields });
}

export function formatTimeUs(tUs: number): string {
  const s = Math.floor(tUs / 1_000_000);
  const frac = String(tUs % 1_000_000).padStart(6, '0');
  return `${String(s).padStart(6, ' ')}.${frac} s`;
}

function formatFields(fields: TraceFields): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v instanceof Uint8Array ? hex(v) : Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`)
    .join(' ');
}

export function formatTimeline(records: readonly TraceRecord[], opts: { limit?: number } = {}): string {
  const limit = opts.limit ?? Infinity;
  const lines: string[] = [];
  const line = (r: TraceRecord) =>
    `${formatTimeUs(r.tUs)}  ${r.device.padEnd(10)} ${r.layer.padEnd(7)} ${r.kind.padEnd(18)} ${formatFields(r.fields)}`.trimEnd();
  if (records.length <= limit) {
    for (const r of records) lines.push(line(r));
  } else {
    const head = Math.ceil(limit / 2);
    const tail = Math.floor(limit / 2);
    for (const r of records.slice(0, head)) lines.push(line(r));
    lines.push(`          … ${records.length - head - tail} more records …`);
    for (const r of records.slice(records.length - tail)) lines.push(line(r));
  }
  return lines.join('\n');
}
