// Scenario `ph/battery`: the pH meter's stated duty cycle on its CR2032 — one logged reading a
// minute (the meter's own interval logging, each a one-shot to a stable reading into the GLP log),
// an hourly sync by the patient's phone (connect, session, records, one signed checkpoint, verify,
// acknowledge, disconnect), advertising at 1 s in between — and the battery life it projects from
// the ledger of the steady state (the first pairing's ECDH is a one-time cost and left out).
// Not a test (test/scenarios/ph/ checks it) nor the meter's logic (devices/ph-meter/).

import { projectBatteryLife, type BatteryLifeProjection } from '../../hal/kw31z/battery.ts';
import { ledgerSince, type LedgerSummary } from '../../hal/kw31z/ledger.ts';
import { syncGlp, type GlpSyncResult } from '../../src/client/ph-client.ts';
import { formatLedger } from '../../src/cli/report.ts';
import { US_PER_S } from '../../src/sim/scheduler.ts';
import { PH_COMMANDS } from '../../devices/ph-meter/index.ts';
import { verifyGlpExport, type GlpAnchor } from '../../devices/ph-meter/glp-verify.ts';
import { encodeSeq } from '../../devices/ph-meter/ph-wire.ts';
import { Rig } from '../rig.ts';
import { meterSession, meterStage, METER_SERIAL } from './calibrate-and-measure.ts';

const US_PER_MIN = 60 * US_PER_S;
const US_PER_H = 60 * US_PER_MIN;

export interface BatteryDayOptions {
  readonly seed?: string;
  /** Simulated span of the steady state, h (default 24). */
  readonly hours?: number;
  /** Reading period, s (default 60). */
  readonly readingEveryS?: number;
  /** Sync period, min (default 60). */
  readonly syncEveryMin?: number;
}

export interface BatteryDayReport {
  readonly rig: Rig;
  readonly hours: number;
  readonly readingEveryS: number;
  readonly syncEveryMin: number;
  readonly logged: number;
  readonly skipped: number;
  readonly failed: number;
  readonly syncs: number;
  readonly syncFailures: readonly string[];
  readonly verifiedRecords: number;
  readonly steady: LedgerSummary;
  readonly projection: BatteryLifeProjection;
  /** Activities by energy, largest first: what costs most. */
  readonly ranking: readonly { readonly activity: string; readonly microJoules: number; readonly share: number }[];
  readonly ok: boolean;
}

export function runBatteryDay(opts: BatteryDayOptions = {}): BatteryDayReport {
  const hours = opts.hours ?? 24;
  const readingEveryS = opts.readingEveryS ?? 60;
  const syncEveryMin = opts.syncEveryMin ?? 60;
  const rig = new Rig({ seed: opts.seed ?? 'ph-battery' });
  const { world } = rig;
  const stage = meterStage(rig, { device: 'meter', serial: METER_SERIAL, address: { address: 'C0:00:00:00:00:07', random: true } });
  stage.meter.probe.immerse({ ph: 6.5, tempC: 22 });
  world.runFor(2 * US_PER_S);
  const phone = rig.phone('patient', '11:22:33:44:55:66');
  // One-time: the first pairing (ECDH on the chip), then the steady state starts.
  const first = meterSession(rig, phone, 'patient', stage, 'patient');
  first.conn.disconnect();
  world.runFor(US_PER_S);
  const before = stage.board.ledger.summary();
  const startUs = world.nowUs;
  stage.meter.startLogging(readingEveryS * US_PER_S);

  let syncs = 0;
  let verifiedRecords = 0;
  const syncFailures: string[] = [];
  let previous: GlpAnchor | undefined;
  let fromSeq = 1;
  for (let t = syncEveryMin * US_PER_MIN; t <= hours * US_PER_H; t += syncEveryMin * US_PER_MIN) {
    world.runUntil(startUs + t);
    const c = rig.connect(phone, stage);
    const s = rig.session(phone, c, stage);
    const r = rig.settle<GlpSyncResult>((done) => syncGlp(s, c.certificate, fromSeq, done));
    syncs++;
    if (r.ok) {
      const v = verifyGlpExport(r.export, { rootPublicKey: rig.manufacturer.rootPublicKey, expectedSerial: METER_SERIAL, ...(previous ? { previous } : {}) });
      if (v.ok) {
        verifiedRecords += v.records.length;
        previous = v.last;
        fromSeq = v.lastSeq + 1;
        rig.request(s, PH_COMMANDS.glpAcknowledge.id, encodeSeq(v.lastSeq));
      } else syncFailures.push(`${(world.nowUs / US_PER_H).toFixed(2)} h: ${v.code}`);
    } else syncFailures.push(`${(world.nowUs / US_PER_H).toFixed(2)} h: ${r.code}`);
    c.disconnect();
    world.runFor(US_PER_S);
  }
  stage.meter.stopLogging();
  const steady = ledgerSince(before, stage.board.ledger.summary());
  const projection = projectBatteryLife(stage.board.power.model, steady.microJoules, steady.elapsedUs);
  const ranking = steady.activities
    .filter((a) => a.microJoules > 0)
    .map((a) => ({ activity: a.activity, microJoules: a.microJoules, share: a.microJoules / steady.microJoules }))
    .sort((a, b) => b.microJoules - a.microJoules);
  const { logged, skipped, failed } = stage.meter.logging;
  const expectedReadings = Math.floor((hours * 3600) / readingEveryS);
  rig.close();
  return {
    rig,
    hours,
    readingEveryS,
    syncEveryMin,
    logged,
    skipped,
    failed,
    syncs,
    syncFailures,
    verifiedRecords,
    steady,
    projection,
    ranking,
    // Every reading logged and verified downstream, no sync failed.
    ok: logged >= expectedReadings - 1 && failed === 0 && syncFailures.length === 0 && verifiedRecords === logged,
  };
}

export function formatBatteryDay(r: BatteryDayReport): string {
  const p = r.projection;
  const lines = [
    `medtwin scenario ph/battery — seed "${r.rig.world.seed}"`,
    '',
    `duty cycle: one logged reading every ${r.readingEveryS} s (one-shot to a stable reading: ~10 samples at 1 s, two ADC conversions each),`,
    `an hourly sync every ${r.syncEveryMin} min (connect at 30 ms, session, GLP records, one ECDSA-signed checkpoint, ack), advertising at 1 s`,
    `over ${r.hours} h: ${r.logged} readings logged, ${r.skipped} skipped, ${r.failed} lost; ${r.syncs} syncs, ${r.verifiedRecords} records verified downstream${r.syncFailures.length ? `; sync failures: ${r.syncFailures.join('; ')}` : ''}`,
    '',
    `steady-state ledger (the first pairing excluded):`,
    formatLedger(r.steady),
    '',
    `what costs most: ${r.ranking.map((x) => `${x.activity} ${(x.share * 100).toFixed(1)} %`).join(', ')}`,
    `battery: CR2032 coin cell (buck); at a mean ${p.averageMicroWatts.toFixed(2)} µW it lasts ${p.lifeDays.toFixed(0)} days = ${(p.lifeDays / 365.25).toFixed(2)} years (goal ≥ 1 year: ${p.lifeDays >= 365.25 ? 'met' : 'NOT met'})`,
    '',
    r.ok ? 'all checks held' : 'A CHECK FAILED',
  ];
  return lines.join('\n');
}
