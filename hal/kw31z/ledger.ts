// The KW31Z's ledger: integer meters per activity, turned into µJ with the cost table.
// Not a battery model (battery.ts) and not a budget checker (budgets come with the crypto core).

import { ACTIVITIES, METER_NAMES, type Activity, type Ledger, type MeterName, type Meters } from '../ledger.ts';
import { KW31Z_COSTS, type CostTable } from './costs.ts';
import { MedtwinError } from '../../src/errors.ts';

/** µJ for one unit of each meter, derived from the cost table (energy = I × V × t). */
export function microJoulesPerUnit(costs: CostTable): Record<MeterName, number> {
  const v = costs.supplyVolts.value;
  const mAtoUJperUs = (mA: number) => (mA / 1000) * v; // A × V × 1 µs = µJ
  return {
    cpuCycles: mAtoUJperUs(costs.cpuRunMilliAmps.value) / (costs.cpuClockHz.value / 1_000_000),
    radioTxUs: mAtoUJperUs(costs.radioTxMilliAmps.value),
    radioRxUs: mAtoUJperUs(costs.radioRxMilliAmps.value),
    flashProgramOps: mAtoUJperUs(costs.flashExtraMilliAmps.value) * costs.flashProgramLongwordUs.value,
    flashEraseOps: mAtoUJperUs(costs.flashExtraMilliAmps.value) * costs.flashEraseSectorUs.value,
    adcConversions: mAtoUJperUs(costs.adcMilliAmps.value) * costs.adcConversionUs.value,
    motorSteps: costs.motorMicroJoulesPerStep.value,
    aesBlocksHw: 0, // the LTC's own current is inside the CPU run current while it computes (assumption)
    sleepUs: mAtoUJperUs(costs.sleepMicroAmps.value / 1000),
  };
}

export interface ActivitySummary {
  readonly activity: Activity;
  readonly meters: Readonly<Record<MeterName, number>>;
  readonly microJoules: number;
}

export interface LedgerSummary {
  readonly device: string;
  readonly elapsedUs: number;
  readonly activities: readonly ActivitySummary[];
  readonly totals: Readonly<Record<MeterName, number>>;
  readonly cpuCycles: number;
  readonly radioOnUs: number;
  readonly microJoules: number;
}

const zeroMeters = (): Record<MeterName, number> =>
  Object.fromEntries(METER_NAMES.map((m) => [m, 0])) as Record<MeterName, number>;

export class Kw31zLedger implements Ledger {
  private readonly byActivity = new Map<Activity, Record<MeterName, number>>();
  private readonly unit: Record<MeterName, number>;
  private sleepSettledUs: number;
  private readonly startUs: number;

  constructor(
    readonly device: string,
    private readonly nowUs: () => number,
    readonly costs: CostTable = KW31Z_COSTS,
  ) {
    this.unit = microJoulesPerUnit(costs);
    for (const a of ACTIVITIES) this.byActivity.set(a, zeroMeters());
    this.startUs = nowUs();
    this.sleepSettledUs = this.startUs;
  }

  charge(activity: Activity, meters: Meters): void {
    const acc = this.byActivity.get(activity)!;
    for (const k in meters) {
      const n = meters[k as MeterName]!;
      if (!Number.isInteger(n) || n < 0) {
        throw new RangeError(`ledger ${this.device}: meter ${k} must be a non-negative integer, got ${n}`);
      }
      acc[k as MeterName] += n;
    }
  }

  /**
   * Charge the time since the last settlement as sleep. The chip sleeps between activities;
   * active bursts are short against the intervals, so sleep is charged over the whole span
   * (an over-estimate of at most the active time × the sleep current, below 0.1 % here).
   */
  settleSleep(): void {
    const now = this.nowUs();
    if (now > this.sleepSettledUs) this.charge('idle', { sleepUs: now - this.sleepSettledUs });
    this.sleepSettledUs = now;
  }

  microJoules(meters: Readonly<Record<MeterName, number>>): number {
    let e = 0;
    for (const m of METER_NAMES) e += meters[m] * this.unit[m];
    return e;
  }

  summary(): LedgerSummary {
    this.settleSleep();
    const totals = zeroMeters();
    const activities: ActivitySummary[] = [];
    let microJoules = 0;
    for (const a of ACTIVITIES) {
      const meters = { ...this.byActivity.get(a)! };
      for (const m of METER_NAMES) totals[m] += meters[m];
      const e = this.microJoules(meters);
      microJoules += e;
      activities.push({ activity: a, meters, microJoules: e });
    }
    return {
      device: this.device,
      elapsedUs: this.nowUs() - this.startUs,
      activities,
      totals,
      cpuCycles: totals.cpuCycles,
      radioOnUs: totals.radioTxUs + totals.radioRxUs,
      microJoules,
    };
  }
}

/**
 * What was charged between two summaries of one ledger (`before` taken first): a steady state
 * without its one-time setup (a first pairing's ECDH), for a battery projection of a duty cycle.
 */
export function ledgerSince(before: LedgerSummary, after: LedgerSummary): LedgerSummary {
  if (before.device !== after.device || before.elapsedUs > after.elapsedUs) throw new MedtwinError('ledger.since', `summaries of ${before.device} and ${after.device} out of order`);
  const totals = zeroMeters();
  const activities = after.activities.map((a) => {
    const b = before.activities.find((x) => x.activity === a.activity);
    const meters = zeroMeters();
    for (const m of METER_NAMES) {
      meters[m] = a.meters[m] - (b?.meters[m] ?? 0);
      totals[m] += meters[m];
    }
    return { activity: a.activity, meters, microJoules: a.microJoules - (b?.microJoules ?? 0) };
  });
  return {
    device: after.device,
    elapsedUs: after.elapsedUs - before.elapsedUs,
    activities,
    totals,
    cpuCycles: totals.cpuCycles,
    radioOnUs: totals.radioTxUs + totals.radioRxUs,
    microJoules: after.microJoules - before.microJoules,
  };
}
