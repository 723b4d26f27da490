// The showcase `npm start` runs: both devices on one simulated air. The insulin pump, set up by the
// clinic's service phone, pairs with Alice's phone by six-digit comparison, delivers a bolus and
// reports its status over the encrypted session; Mallory's wrong passkey is refused; the pH meter is
// calibrated by a clinician and measures, and Alice's phone syncs its GLP records and checks them;
// a long press of Stop stops the pump — then the ledger says what it all cost each device.
// Not the devices' logic (devices/) nor a test (test/scenarios/demo/ checks it).

import { projectBatteryLife, type BatteryLifeProjection } from '../../hal/kw31z/battery.ts';
import type { LedgerSummary } from '../../hal/kw31z/ledger.ts';
import type { BdAddress } from '../../hal/radio.ts';
import type { PairResult } from '../../src/client/pairing-client.ts';
import { syncGlp, type GlpSyncResult } from '../../src/client/ph-client.ts';
import type { ClientSession } from '../../src/client/session-client.ts';
import type { BudgetReport } from '../../src/crypto/index.ts';
import { MedtwinError } from '../../src/errors.ts';
import { RESPONSE_STATUS } from '../../src/session/wire-session.ts';
import { US_PER_S } from '../../src/sim/scheduler.ts';
import type { TraceRecord } from '../../src/sim/trace.ts';
import { createInsulinPump, type InsulinPump } from '../../devices/insulin-pump/index.ts';
import type { CcpRequest, CcpResponse, IddStatus } from '../../devices/insulin-pump/ids/index.ts';
import { idsCcp, idsStatus } from '../therapy/day-in-the-life.ts';
import { bufferPhAt, US_BUFFERS } from '../../devices/ph-meter/buffers.ts';
import { PH_COMMANDS } from '../../devices/ph-meter/index.ts';
import { decodeGlpRecord } from '../../devices/ph-meter/glp-record.ts';
import { verifyGlpExport } from '../../devices/ph-meter/glp-verify.ts';
import { BUFFER_SET_CODES, decodeCalibrationAnswer } from '../../devices/ph-meter/ph-wire.ts';
import { meterSession, meterStage, METER_SERIAL, type MeterStage } from '../ph/calibrate-and-measure.ts';
import { Rig, type Stage } from '../rig.ts';

export const PUMP_SERIAL = 'PU000042';
const PUMP_ADDR: BdAddress = { address: 'C0:00:00:00:00:01', random: true };
const METER_ADDR: BdAddress = { address: 'C0:00:00:00:00:07', random: true };
/** The KW31Z's 512 KB, as in the therapy scenario: the history and audit rings' retention needs it (src/firmware/store-keys.ts). */
const PUMP_FLASH_BYTES = 256 * 2048;

export interface ShowcaseOptions {
  readonly seed?: string;
  readonly pcapPath?: string;
}

export interface DeviceCost {
  readonly name: string;
  readonly ledger: LedgerSummary;
  readonly projection: BatteryLifeProjection;
  readonly battery: 'aaa-alkaline' | 'cr2032';
  readonly cpuClockHz: number;
}

export interface ShowcaseResult {
  readonly rig: Rig;
  readonly pump: InsulinPump;
  readonly meter: MeterStage;
  /** What happened, one line per step, with virtual times. */
  readonly story: readonly string[];
  /** The records a reader wants: pairing, session, display, buttons, connections. */
  readonly highlights: readonly TraceRecord[];
  readonly costs: readonly DeviceCost[];
  /** Alice's pairing with the pump: its CPU, ms, as the pump's budget measured it. */
  readonly pairingCpuMs: number;
  readonly pairingBudgets: readonly BudgetReport[];
  /** What the showcase declares, each checked. */
  readonly checks: Readonly<Record<'comparisonMatched' | 'bolusDelivered' | 'statusOverSession' | 'malloryRefused' | 'meterCalibrated' | 'meterMeasured' | 'glpVerified' | 'stopStopped', boolean>>;
  readonly ok: boolean;
}

const seconds = (us: number): string => `${(us / US_PER_S).toFixed(3)} s`;
const units = (mU: number | null): string => (mU === null ? 'none' : `${(mU / 1000).toFixed(2)} U`);

export function runShowcase(opts: ShowcaseOptions = {}): ShowcaseResult {
  const rig = new Rig({ seed: opts.seed ?? 'showcase', traceLayers: ['pairing', 'session', 'ui', 'll', 'app'], ...(opts.pcapPath !== undefined ? { pcapPath: opts.pcapPath } : {}) });
  const { world } = rig;
  const story: string[] = [];
  const say = (line: string): void => void story.push(`${seconds(world.nowUs).padStart(10)}  ${line}`);
  try {
    const pumpStage: Stage = rig.board({ device: 'pump', address: PUMP_ADDR, battery: 'aaa-alkaline', flashBytes: PUMP_FLASH_BYTES, serial: PUMP_SERIAL, deviceType: 'insulin-pump' });
    const pairingBudgets: BudgetReport[] = [];
    const pump = createInsulinPump({ world, board: pumpStage.board, serial: PUMP_SERIAL, onPairingBudget: (r) => pairingBudgets.push(r) });
    const meter = meterStage(rig, { device: 'meter', serial: METER_SERIAL, address: METER_ADDR });
    say(`pump ${PUMP_SERIAL} and pH meter ${METER_SERIAL} boot on simulated MKW31Z chips, prepare their first pairing keys and advertise`);
    world.runFor(3 * US_PER_S);

    const ccp = (s: ClientSession, m: CcpRequest): CcpResponse | undefined => idsCcp(rig, s, m).response;
    // An IDS answer of its own (a write or activate response) is that procedure's success.
    const verdict = (r: CcpResponse | undefined): string => (r === undefined ? 'no IDS answer' : r.op === 'responseCode' ? r.responseCode : 'success');
    const status = (s: ClientSession): IddStatus | undefined => idsStatus(rig, s);

    // 1. The clinic's service phone readies the pump: reservoir, priming, a basal rate.
    const service = rig.phone('clinic-service', '22:33:44:55:66:77');
    const sc = rig.connect(service, pumpStage);
    const sp = rig.pair(service, sc, pumpStage, 'service', rig.manufacturer.issueCredential('service', rig.clientIdOf('clinic-service'), 86_400));
    if (!sp.ok) throw new MedtwinError('showcase.pair', `service: ${sp.code}`);
    const ss = rig.session(service, sc, pumpStage);
    const setup = [
      ccp(ss, { op: 'setInitialReservoirFillLevel', fillLevelMilliUnits: 50_000 }),
      ccp(ss, { op: 'startPriming', amountMilliUnits: 2_000 }),
    ];
    world.runFor(10 * US_PER_S);
    setup.push(ccp(ss, { op: 'writeBasalRateProfileTemplate', endTransaction: true, templateNumber: 1, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1440, valueMilli: 800 }] }));
    setup.push(ccp(ss, { op: 'activateProfileTemplates', templateNumbers: [1] }));
    say(`the clinic's service phone pairs with its credential: fill 50 U, prime 2 U, basal 0.80 U/h → ${setup.map(verdict).join(', ')}`);
    sc.disconnect();
    world.runFor(US_PER_S);

    // 2. Alice pairs by numeric comparison: the same six digits on both screens.
    const alice = rig.phone('alice', '11:22:33:44:55:66');
    const ac = rig.connect(alice, pumpStage);
    say(`alice's phone connects to the pump, reads its certificate and subscribes to its secure channel`);
    let comparisonMatched = false;
    const budgetsBefore = pairingBudgets.length;
    const paired: PairResult = rig.pair(alice, ac, pumpStage, 'patient', undefined, (shown, six) => {
      comparisonMatched = shown === six;
      say(`pump display shows ${shown}, phone shows ${six}: alice presses OK on the pump and confirms on the phone`);
    });
    if (!paired.ok) throw new MedtwinError('showcase.pair', `alice: ${paired.code}`);
    const budget = pairingBudgets[budgetsBefore];
    say(`paired as ${paired.bond.role}; the pump spent ${budget ? budget.cpuMs.toFixed(1) : '?'} ms of CPU on it, mostly one ECDH`);

    // 3. A session: Run, a 1 U bolus, the status — all inside AES-CCM records.
    const as = rig.session(alice, ac, pumpStage);
    say(`session open as patient: keys derived from the bond, records sealed with AES-128-CCM`);
    say(`  Set Therapy Control State Run → ${verdict(ccp(as, { op: 'setTherapyControlState', state: 'run' }))}`);
    const stepsBefore = pump.motor.positionSteps();
    const bolus = ccp(as, { op: 'setBolus', bolusType: 'fast', fastAmountMilliUnits: 1_000, extendedAmountMilliUnits: 0, durationMinutes: 0, reasonCorrection: false, reasonMeal: true });
    say(`  Set Bolus 1.00 U (meal) → ${bolus?.op === 'setBolusResponse' ? `accepted, bolus id ${bolus.bolusId}` : verdict(bolus)}`);
    const refusedTemplate = ccp(as, { op: 'writeBasalRateProfileTemplate', endTransaction: true, templateNumber: 2, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1440, valueMilli: 5_000 }] });
    const tooBig = ccp(as, { op: 'setBolus', bolusType: 'fast', fastAmountMilliUnits: 40_000, extendedAmountMilliUnits: 0, durationMinutes: 0, reasonCorrection: false, reasonMeal: true });
    say(`  a basal template from the patient → ${refusedTemplate === undefined ? 'refused: insufficient role' : verdict(refusedTemplate)}; a 40 U bolus → ${tooBig ? verdict(tooBig) : 'no answer'} (the hard limit, whatever the role)`);
    world.runFor(60 * US_PER_S);
    const deliveredMu = (pump.motor.positionSteps() - stepsBefore) * pump.motor.milliUnitsPerStep;
    const st = status(as);
    say(`  a minute later, IDD Status over the session: therapy ${st?.therapyControlState ?? '?'}, ${st?.operationalState ?? '?'}, reservoir ${units(st?.reservoirRemainingMilliUnits ?? null)}; the motor moved ${units(deliveredMu)} since the bolus`);
    ac.disconnect();
    world.runFor(US_PER_S);

    // 4. Mallory tries passkey entry with the wrong digits.
    const mallory = rig.phone('mallory', '66:55:44:33:22:11');
    const mc = rig.connect(mallory, pumpStage);
    const wrong = rig.settle<PairResult>((done) =>
      mallory.pair(
        mc,
        {
          method: 'passkey',
          deviceType: 'insulin-pump',
          user: {
            passkey: () => {
              const shown = Number(pumpStage.board.display.shown().value);
              const typed = (shown + 314_159) % 1_000_000;
              say(`mallory asks for passkey pairing: the pump shows ${String(shown).padStart(6, '0')}, mallory types ${String(typed).padStart(6, '0')}`);
              return typed;
            },
          },
        },
        done,
      ),
    );
    say(wrong.ok ? 'mallory paired (this must not happen)' : `refused: ${wrong.code} (PAIR_FAILED 0x${(wrong.reason ?? 0).toString(16).padStart(2, '0')}); lockout counts ${pump.device.lockout.status().failures} failure`);
    mc.disconnect();
    world.runFor(US_PER_S);

    // 5. The meter: a clinician calibrates with two buffers, then measures a sample.
    const clinician = rig.phone('clinician', '33:44:55:66:77:88');
    const cm = meterSession(rig, clinician, 'clinician', meter, 'clinician');
    say(`the clinician's phone pairs with the pH meter (credential, six-digit comparison) and calibrates it:`);
    rig.request(cm.session, PH_COMMANDS.calibrationStart.id, Uint8Array.of(BUFFER_SET_CODES.us));
    for (const nominal of [7, 4.01]) {
      const b = US_BUFFERS.buffers.find((x) => x.nominalPh === nominal)!;
      const ph = bufferPhAt(b, 25);
      meter.meter.probe.immerse({ ph: ph.ok ? ph.ph : nominal, tempC: 25 });
      world.runFor(60 * US_PER_S);
      const p = rig.request(cm.session, PH_COMMANDS.calibrationPoint.id);
      say(`  buffer ${nominal.toFixed(2)} at 25 °C → ${p.ok && p.status === RESPONSE_STATUS.ok ? 'point taken' : 'refused'}`);
    }
    const fin = rig.request(cm.session, PH_COMMANDS.calibrationFinish.id);
    const cal = fin.ok ? decodeCalibrationAnswer(fin.payload) : undefined;
    say(`  → ${cal?.failure === 0 ? `accepted: slope ${cal.slopePercent.toFixed(2)} %, offset ${cal.offsetMv.toFixed(2)} mV, calibration #${cal.id}` : 'failed'}`);
    meter.meter.probe.immerse({ ph: 6.42, tempC: 31 });
    world.runFor(60 * US_PER_S);
    const m = rig.request(cm.session, PH_COMMANDS.measure.id);
    const rec = m.ok && m.status === RESPONSE_STATUS.ok ? decodeGlpRecord(m.payload) : undefined;
    const readPh = rec?.ok && rec.value.phMilli !== undefined ? rec.value.phMilli / 1000 : undefined;
    say(`  a sample of pH 6.42 at 31 °C reads ${readPh === undefined ? 'nothing' : `pH ${readPh.toFixed(3)} at ${(rec!.ok ? rec!.value.tempCentiC! / 100 : 0).toFixed(2)} °C (GLP record #${rec!.ok ? rec!.value.seq : '?'})`}`);
    cm.conn.disconnect();
    world.runFor(US_PER_S);

    // 6. Alice's phone syncs the meter's GLP records; the clinic's server checks them.
    const am = meterSession(rig, alice, 'alice', meter, 'patient');
    const sync = rig.settle<GlpSyncResult>((done) => syncGlp(am.session, am.conn.certificate, 1, done));
    const verified = sync.ok ? verifyGlpExport(sync.export, { rootPublicKey: rig.manufacturer.rootPublicKey, expectedSerial: METER_SERIAL }) : undefined;
    say(`alice's phone pairs with the meter and syncs its GLP records: ${verified?.ok ? `${verified.records.length} record(s), signed checkpoint verified against the manufacturer root` : `failed (${sync.ok ? verified?.code : sync.code})`}`);
    am.conn.disconnect();
    world.runFor(US_PER_S);

    // 7. Whatever the state: a long press of Stop on the pump stops therapy.
    pumpStage.board.buttons.hold('stop', 2_500);
    world.runFor(3 * US_PER_S);
    const stopped = pump.therapy.status().therapyControlState === 'stop';
    say(`someone holds Stop on the pump for 2.5 s: therapy ${pump.therapy.status().therapyControlState}`);
    world.runFor(2 * US_PER_S);

    const costOf = (name: string, stage: Stage, battery: DeviceCost['battery']): DeviceCost => {
      const ledger = stage.board.ledger.summary();
      return { name, battery, ledger, cpuClockHz: stage.board.costs.cpuClockHz.value, projection: projectBatteryLife(stage.board.power.model, ledger.microJoules, ledger.elapsedUs) };
    };
    const costs: DeviceCost[] = [costOf(`pump ${PUMP_SERIAL}`, pumpStage, 'aaa-alkaline'), costOf(`pH meter ${METER_SERIAL}`, meter, 'cr2032')];
    const highlights = world.trace.records.filter(
      (r) =>
        r.layer === 'pairing' ||
        r.layer === 'ui' ||
        (r.layer === 'session' && !r.kind.startsWith('record')) ||
        (r.layer === 'll' && (r.kind === 'conn.open' || r.kind === 'disconnected') && (r.device === 'pump' || r.device === 'meter')),
    );
    const checks = {
      comparisonMatched,
      bolusDelivered: bolus?.op === 'setBolusResponse' && deliveredMu >= 1_000,
      statusOverSession: st !== undefined,
      malloryRefused: !wrong.ok && pump.device.lockout.status().failures === 1,
      meterCalibrated: cal?.failure === 0,
      meterMeasured: readPh !== undefined && Math.abs(readPh - 6.42) <= 0.05,
      glpVerified: verified?.ok === true,
      stopStopped: stopped,
    };
    return {
      rig,
      pump,
      meter,
      story,
      highlights,
      costs,
      pairingCpuMs: budget?.cpuMs ?? 0,
      pairingBudgets,
      checks,
      ok: Object.values(checks).every(Boolean) && pairingBudgets.every((b) => b.ok),
    };
  } finally {
    rig.close();
  }
}
