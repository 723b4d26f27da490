// Budgets firmware declares ("one session record ≤ 1 ms CPU", "pairing ≤ 2.5 s CPU"), measured on
// a device ledger's meters over a scope, failing with a message naming budget, figure and limit.
// Not a profiler and not a scheduler: it reads the ledger before and after, nothing in between.

import { MedtwinError } from '../errors.ts';
import type { CycleRow } from './cost.ts';

/** Limits a budget can set; any subset. CPU time is CPU cycles at the ledger's clock. */
export interface BudgetLimits {
  readonly cpuMs?: number;
  readonly cpuCycles?: number;
  readonly microJoules?: number;
}

/**
 * What a budget reads: a ledger that can total its meters and knows its CPU clock.
 * hal/kw31z/ledger.ts's Kw31zLedger fits (summary() and its cost table); src/ takes it
 * by shape and never imports the target (DESIGN §1).
 */
export interface MeteredLedger {
  readonly device: string;
  readonly costs: { readonly cpuClockHz: CycleRow };
  summary(): { readonly cpuCycles: number; readonly microJoules: number };
}

/** What one scope used, and how it compares with its budget. */
export interface BudgetReport {
  readonly budget: string;
  readonly device: string;
  readonly cpuCycles: number;
  readonly cpuMs: number;
  readonly microJoules: number;
  readonly limits: BudgetLimits;
  /** One line per exceeded limit, e.g. `1.23 ms CPU > 1 ms`; empty when within budget. */
  readonly exceeded: readonly string[];
  readonly ok: boolean;
}

/** The error an exceeded budget throws: code `budget`, the report attached. */
export class BudgetExceededError extends MedtwinError {
  declare readonly code: 'budget';
  readonly report: BudgetReport;
  constructor(report: BudgetReport) {
    super('budget', `budget "${report.budget}" exceeded: ${report.exceeded.join('; ')}`);
    this.name = 'BudgetExceededError';
    this.report = report;
  }
}

/** Figures print with two decimals and no locale grouping, so messages are the same on every machine. */
const fig = (n: number): string => n.toFixed(2);
const lim = (n: number): string => String(n);

function checkLimits(name: string, limits: BudgetLimits): void {
  for (const [k, v] of Object.entries(limits)) {
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      throw new MedtwinError('budget.limit', `budget "${name}": limit ${k} must be a finite number ≥ 0, got ${String(v)}`);
    }
  }
}

/** A named budget. Declare once (module level in firmware), start a scope per occurrence. */
export class Budget {
  constructor(
    readonly name: string,
    readonly limits: BudgetLimits,
  ) {
    checkLimits(name, limits);
  }

  /** Start measuring on `ledger` now; `onEnd` sees the report of `end()` (within or not). */
  start(ledger: MeteredLedger, onEnd?: (report: BudgetReport) => void): BudgetScope {
    return new BudgetScope(this, ledger, onEnd);
  }

  /**
   * Run `fn` inside a scope and check the budget when it returns; throws
   * BudgetExceededError when exceeded, else returns fn's result. If fn throws, its error
   * propagates and the budget is not checked (the work did not complete).
   */
  within<T>(ledger: MeteredLedger, fn: () => T): T {
    const scope = this.start(ledger);
    const result = fn();
    scope.end();
    return result;
  }

  /** Compare a measured use with the limits (≤ the limit is within budget). */
  judge(device: string, cpuCycles: number, cpuClockHz: number, microJoules: number): BudgetReport {
    const cpuMs = (cpuCycles * 1000) / cpuClockHz;
    const l = this.limits;
    const exceeded: string[] = [];
    if (l.cpuMs !== undefined && cpuMs > l.cpuMs) exceeded.push(`${fig(cpuMs)} ms CPU > ${lim(l.cpuMs)} ms`);
    if (l.cpuCycles !== undefined && cpuCycles > l.cpuCycles) exceeded.push(`${cpuCycles} cycles > ${lim(l.cpuCycles)} cycles`);
    if (l.microJoules !== undefined && microJoules > l.microJoules) exceeded.push(`${fig(microJoules)} µJ > ${lim(l.microJoules)} µJ`);
    return { budget: this.name, device, cpuCycles, cpuMs, microJoules, limits: l, exceeded, ok: exceeded.length === 0 };
  }
}

/** Declare a budget: `budget('one session record', { cpuMs: 1 })`. */
export function budget(name: string, limits: BudgetLimits): Budget {
  return new Budget(name, limits);
}

/** One measurement of a budget: ledger totals at start, compared at `end()`. */
export class BudgetScope {
  private readonly startCycles: number;
  private readonly startMicroJoules: number;
  private ended = false;

  constructor(
    readonly budget: Budget,
    private readonly ledger: MeteredLedger,
    private readonly onEnd?: (report: BudgetReport) => void,
  ) {
    const s = ledger.summary();
    this.startCycles = s.cpuCycles;
    this.startMicroJoules = s.microJoules;
  }

  /** What the scope has used so far, judged against the budget; does not end it or throw. */
  report(): BudgetReport {
    const s = this.ledger.summary();
    return this.budget.judge(this.ledger.device, s.cpuCycles - this.startCycles, this.ledger.costs.cpuClockHz.value, s.microJoules - this.startMicroJoules);
  }

  /** End the scope: returns the report, or throws BudgetExceededError (code `budget`) when exceeded. */
  end(): BudgetReport {
    if (this.ended) throw new MedtwinError('budget.ended', `budget "${this.budget.name}": scope already ended`);
    this.ended = true;
    const r = this.report();
    this.onEnd?.(r);
    if (!r.ok) throw new BudgetExceededError(r);
    return r;
  }
}

/**
 * A device's declared budgets on its ledger, by name: `budgets.start('pairing')` …
 * `scope.end()`, or `budgets.within('pairing', () => …)`. Keeps every ended scope's
 * report (also failed ones) for scenario reports.
 */
export class Budgets {
  private readonly byName = new Map<string, Budget>();
  private readonly done: BudgetReport[] = [];

  constructor(
    private readonly ledger: MeteredLedger,
    declared: readonly Budget[] = [],
  ) {
    for (const b of declared) this.declare(b);
  }

  /** Add a budget (a Budget, or a name and limits). A name can be declared once. */
  declare(b: Budget | string, limits?: BudgetLimits): Budget {
    const bud = typeof b === 'string' ? new Budget(b, limits ?? {}) : b;
    if (this.byName.has(bud.name)) throw new MedtwinError('budget.duplicate', `budget "${bud.name}" is already declared`);
    this.byName.set(bud.name, bud);
    return bud;
  }

  get(name: string): Budget {
    const b = this.byName.get(name);
    if (b === undefined) throw new MedtwinError('budget.unknown', `no budget named "${name}" (declared: ${[...this.byName.keys()].join(', ') || 'none'})`);
    return b;
  }

  start(name: string): BudgetScope {
    return this.get(name).start(this.ledger, (r) => this.done.push(r));
  }

  within<T>(name: string, fn: () => T): T {
    const scope = this.start(name);
    const result = fn();
    scope.end();
    return result;
  }

  /** Reports of every ended scope, in order. */
  get reports(): readonly BudgetReport[] {
    return this.done;
  }
}
