// Scenario `therapy/day-in-the-life`: a simulated 24 h of the insulin pump over the secure session — pairing, fill and priming, basal, meals, a TBR, an occlusion, reservoir low, a status poll every 5 min.
// Not a test (test/scenarios/therapy/ checks it) nor the pump's logic (devices/insulin-pump/): it only drives the pump through phones and reports.
//
// The basal is a real time-of-day profile (DAY_BASAL_PROFILE, five blocks from midnight = device
// time 0), written by the service phone in two Write Basal Rate Profile Template records (one IDS
// transaction) and read back by the patient's phone before Run.
//
// Choices: every 5-minute status poll is its own connection (connect, session, ids.status,
// disconnect), as a phone app waking up would do; a connection kept for 24 h at a 30 ms interval
// would cost ~2.9 M connection events of wall time and the session's 300 s idle timeout races a
// 300 s poll. The pump advertises at 1 s. Trace is off unless `traceLayers` is given.

import type { Kw31zBoard } from '../../hal/kw31z/board.ts';
import { projectBatteryLife, type BatteryLifeProjection } from '../../hal/kw31z/battery.ts';
import type { LedgerSummary } from '../../hal/kw31z/ledger.ts';
import type { BdAddress, ConnectionParams } from '../../hal/radio.ts';
import type { PairResult } from '../../src/client/pairing-client.ts';
import type { Phone, PhoneConnection } from '../../src/client/phone.ts';
import type { ClientResponse, ClientSession } from '../../src/client/session-client.ts';
import type { BudgetReport } from '../../src/crypto/index.ts';
import { MedtwinError } from '../../src/errors.ts';
import type { Manufacturer } from '../../src/session/manufacturer.ts';
import type { Role } from '../../src/session/roles.ts';
import type { Air } from '../../src/sim/air/air.ts';
import { US_PER_S } from '../../src/sim/scheduler.ts';
import type { World } from '../../src/sim/world.ts';
import { Rig } from '../rig.ts';
import { createInsulinPump, IDS_COMMANDS, type InsulinPump } from '../../devices/insulin-pump/index.ts';
import { splitCommandDataAnswer } from '../../devices/insulin-pump/ids-commands.ts';
import { CCP_RESPONSE_CODE, decodeCcpResponse, decodeStatus, encodeCcpRequest, type CcpRequest, type CcpResponse, type CommandData, type IddStatus, type ProfileBlock } from '../../devices/insulin-pump/ids/index.ts';

export const PUMP_SERIAL = 'PU000042';
export const PUMP_ADDR: BdAddress = { address: 'C0:00:00:00:00:01', random: true };
export const PUMP_CONN: ConnectionParams = { intervalUs: 30_000, latency: 0, supervisionTimeoutUs: 4_000_000 };
/**
 * The KW31Z's 512 KB: 256 sectors, 0..254 the record store (journal, history, annunciations, bonds,
 * audit), 255 the write-once area. The rings' retention needs it (src/firmware/store-keys.ts):
 * 3,000 history entries (~190 KB) and 1,000 audit records (~72 KB) would fill a 256 KB store.
 */
export const PUMP_FLASH_BYTES = 256 * 2048;

const US_PER_MIN = 60 * US_PER_S;
const US_PER_H = 60 * US_PER_MIN;

/**
 * The patient's basal profile (template 1): five blocks from midnight (device time 0), 18.0 U a
 * day — more before waking (the dawn rise), less in the active afternoon. Illustrative figures.
 */
export const DAY_BASAL_PROFILE: readonly ProfileBlock[] = [
  { durationMinutes: 180, valueMilli: 700 }, // 00:00–03:00 0.70 U/h
  { durationMinutes: 240, valueMilli: 950 }, // 03:00–07:00 0.95 U/h
  { durationMinutes: 300, valueMilli: 800 }, // 07:00–12:00 0.80 U/h
  { durationMinutes: 360, valueMilli: 600 }, // 12:00–18:00 0.60 U/h
  { durationMinutes: 360, valueMilli: 750 }, // 18:00–24:00 0.75 U/h
];

/** A profile as Write Basal Rate Profile Template records of up to 3 blocks, the last one ending the transaction. */
export function basalTemplateWrites(templateNumber: number, blocks: readonly ProfileBlock[]): CcpRequest[] {
  const out: CcpRequest[] = [];
  for (let i = 0; i < blocks.length; i += 3) {
    out.push({ op: 'writeBasalRateProfileTemplate', endTransaction: i + 3 >= blocks.length, templateNumber, firstTimeBlockIndex: i + 1, blocks: blocks.slice(i, i + 3) });
  }
  return out;
}

// ─── the rig: a world with the pump and phones ─────────────────────────────────────────────

export interface PumpRig {
  readonly world: World;
  readonly air: Air;
  readonly board: Kw31zBoard;
  readonly manufacturer: Manufacturer;
  readonly pump: InsulinPump;
  readonly pairingBudgets: BudgetReport[];
  phone(name: string, address: string): Phone;
  clientIdOf(name: string): Uint8Array;
  settle<T>(start: (done: (r: T) => void) => void, maxUs?: number): T;
  connect(phone: Phone): PhoneConnection;
  /** Pair by numeric comparison (the pump's OK pressed when the digits match). */
  pair(phone: Phone, c: PhoneConnection, role: Exclude<Role, 'emergency'>, credential?: Uint8Array): PairResult;
  /** Open a bonded session and wait for it. */
  session(phone: Phone, c: PhoneConnection): ClientSession;
  request(s: ClientSession, command: number, payload?: Uint8Array): ClientResponse;
  /** One CCP request over `ids.ccp`: the session status and the decoded IDS response. */
  ccp(s: ClientSession, m: CcpRequest): { readonly status: number; readonly response: CcpResponse | undefined };
  /** A CCP request whose procedure answers with Command Data (template reads, template status): the notifications and the final indication. */
  ccpData(s: ClientSession, m: CcpRequest): { readonly status: number; readonly data: readonly CommandData[]; readonly response: CcpResponse | undefined };
  status(s: ClientSession): IddStatus | undefined;
  close(): void;
}

export interface PumpRigOptions {
  readonly seed?: string;
  readonly pcapPath?: string;
  /** Keep trace records of these layers (default none: fast). */
  readonly traceLayers?: readonly string[];
}

/** One CCP request over `ids.ccp` on any rig: the session status and the decoded IDS response. */
export function idsCcp(rig: Rig, s: ClientSession, m: CcpRequest): { readonly status: number; readonly response: CcpResponse | undefined } {
  const r = rig.request(s, IDS_COMMANDS.ccp.id, encodeCcpRequest(m));
  if (!r.ok) throw new MedtwinError('scenario.request', `ids.ccp: ${r.code}`);
  const d = r.payload.length > 0 ? decodeCcpResponse(r.payload) : undefined;
  return { status: r.status, response: d?.ok ? d.value : undefined };
}

/** IDD Status over `ids.status` on any rig, or undefined when it is not answered. */
export function idsStatus(rig: Rig, s: ClientSession): IddStatus | undefined {
  const r = rig.request(s, IDS_COMMANDS.status.id);
  if (!r.ok || r.status !== 0) return undefined;
  const d = decodeStatus(r.payload);
  return d.ok ? d.value : undefined;
}

export function pumpRig(opts: PumpRigOptions = {}): PumpRig {
  const rig = new Rig({ seed: opts.seed ?? 'day-in-the-life', ...(opts.pcapPath !== undefined ? { pcapPath: opts.pcapPath } : {}), ...(opts.traceLayers ? { traceLayers: opts.traceLayers } : {}) });
  const stage = rig.board({ device: 'pump', address: PUMP_ADDR, battery: 'aaa-alkaline', flashBytes: PUMP_FLASH_BYTES, serial: PUMP_SERIAL, deviceType: 'insulin-pump' });
  const pairingBudgets: BudgetReport[] = [];
  const pump = createInsulinPump({ world: rig.world, board: stage.board, serial: PUMP_SERIAL, onPairingBudget: (r) => pairingBudgets.push(r) });
  const request = (s: ClientSession, command: number, payload?: Uint8Array): ClientResponse => rig.request(s, command, payload);

  return {
    world: rig.world,
    air: rig.air,
    board: stage.board,
    manufacturer: rig.manufacturer,
    pump,
    pairingBudgets,
    clientIdOf: (name) => rig.clientIdOf(name),
    settle: (start, maxUs) => rig.settle(start, maxUs),
    phone: (name, address) => rig.phone(name, address),
    connect: (phone) => rig.connect(phone, stage, PUMP_CONN),
    pair: (phone, c, role, credential) => rig.pair(phone, c, stage, role, credential),
    session: (phone, c) => rig.session(phone, c, stage),
    request,
    ccp: (s, m) => idsCcp(rig, s, m),
    ccpData: (s, m) => {
      const r = request(s, IDS_COMMANDS.ccp.id, encodeCcpRequest(m));
      if (!r.ok) throw new MedtwinError('scenario.request', `ids.ccp: ${r.code}`);
      const d = r.payload.length > 0 ? splitCommandDataAnswer(r.payload) : undefined;
      return { status: r.status, data: d?.ok ? d.value.data : [], response: d?.ok ? d.value.response : undefined };
    },
    status: (s) => idsStatus(rig, s),
    close: () => rig.close(),
  };
}

// ─── the day ───────────────────────────────────────────────────────────────────────────────

export interface DayOptions extends PumpRigOptions {
  /** Simulated span, h (default 24). */
  readonly hours?: number;
}

export interface DayReport {
  readonly rig: PumpRig;
  readonly story: readonly string[];
  readonly programmed: { readonly basalMilliUnits: number; readonly bolusMilliUnits: number };
  readonly delivered: { readonly basalMilliUnits: number; readonly bolusMilliUnits: number };
  readonly annunciations: readonly string[];
  readonly polls: number;
  readonly pollFailures: number;
  readonly occlusionDetectedAtUs: number | undefined;
  /** When basal delivery ran, halted, and a TBR started or ended (device time): enough to integrate the profile independently. */
  readonly basalTimeline: readonly { readonly atUs: number; readonly what: 'run' | 'halt' | 'tbr-start' | 'tbr-end'; readonly percent?: number }[];
  /** The template as the patient read it back over the session (Read Basal Rate Profile Template). */
  readonly readBack: readonly ProfileBlock[];
  readonly maxBolusRefusedCode: number | undefined;
  readonly limitsHeld: boolean;
  readonly ledger: LedgerSummary;
  readonly projection: BatteryLifeProjection;
  readonly ok: boolean;
}

const hhmm = (us: number): string => {
  const m = Math.floor(us / US_PER_MIN);
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
};
const rcName = (r: CcpResponse | undefined): string => {
  if (r === undefined) return 'no IDS answer';
  if (r.op === 'writeBasalRateProfileTemplateResponse') return `${r.op} (transaction ${r.transactionCompleted ? 'completed' : 'open'})`;
  if (r.op !== 'responseCode') return r.op;
  return r.responseCode;
};

/** What the patient and the service do, by minute of the day. */
type Action = { readonly atMin: number; readonly who: 'patient' | 'service'; readonly what: string; readonly run: (s: ClientSession) => string };

export function runDayInTheLife(opts: DayOptions = {}): DayReport {
  const rig = pumpRig(opts);
  const { world, pump } = rig;
  const story: string[] = [];
  const say = (line: string): void => void story.push(`${hhmm(world.nowUs)}  ${line}`);
  const endUs = (opts.hours ?? 24) * US_PER_H;
  let maxBolusRefusedCode: number | undefined;
  const bolusesDone: number[] = [];
  const basalTimeline: { atUs: number; what: 'run' | 'halt' | 'tbr-start' | 'tbr-end'; percent?: number }[] = [];
  const readBack: ProfileBlock[] = [];
  pump.engine.onEvent((e) => {
    if (e.type === 'state.changed') basalTimeline.push({ atUs: world.nowUs, what: e.state === 'running' ? 'run' : 'halt' });
    if (e.type === 'tbr.done' || e.type === 'tbr.cancelled') basalTimeline.push({ atUs: world.nowUs, what: 'tbr-end' });
    if (e.type === 'bolus.done') bolusesDone.push(e.deliveredMilliUnits);
    if (e.type === 'occlusion') say(`pump: occlusion detected at ${e.pressureKpa} kPa — delivery stopped`);
    if (e.type === 'reservoir.low') say(`pump: reservoir low, ${(e.remainingMilliUnits / 1000).toFixed(2)} U left`);
  });
  try {
    world.runFor(2 * US_PER_S);
    // 1. The service technician's phone: a credential from the manufacturer, then fill, prime, basal.
    const service = rig.phone('service', '22:33:44:55:66:77');
    const cs = rig.connect(service);
    const credential = rig.manufacturer.issueCredential('service', rig.clientIdOf('service'), 7 * 86_400);
    const ps = rig.pair(service, cs, 'service', credential);
    if (!ps.ok) throw new MedtwinError('scenario.pair', `service pairing: ${ps.code}`);
    say(`service phone paired as ${ps.bond.role} (numeric comparison, manufacturer credential)`);
    const ss = rig.session(service, cs);
    const step = (s: ClientSession, label: string, m: CcpRequest): CcpResponse | undefined => {
      const r = rig.ccp(s, m);
      say(`  ${label} → ${r.status === 0 ? rcName(r.response) : `session status ${r.status}`}`);
      return r.response;
    };
    step(ss, 'set initial reservoir fill 50 U', { op: 'setInitialReservoirFillLevel', fillLevelMilliUnits: 50_000 });
    step(ss, 'start priming 2 U', { op: 'startPriming', amountMilliUnits: 2_000 });
    world.runFor(10 * US_PER_S);
    const writes = basalTemplateWrites(1, DAY_BASAL_PROFILE);
    writes.forEach((w, i) => step(ss, `write basal template 1, record ${i + 1}/${writes.length} (${DAY_BASAL_PROFILE.length} blocks, 18.0 U/day)`, w));
    step(ss, 'activate basal template 1', { op: 'activateProfileTemplates', templateNumbers: [1] });
    cs.disconnect();
    world.runFor(US_PER_S);

    // 2. The patient's phone pairs and starts therapy.
    const patient = rig.phone('patient', '11:22:33:44:55:66');
    const cp = rig.connect(patient);
    const pp = rig.pair(patient, cp, 'patient');
    if (!pp.ok) throw new MedtwinError('scenario.pair', `patient pairing: ${pp.code}`);
    say(`patient phone paired as ${pp.bond.role} (numeric comparison)`);
    const sp = rig.session(patient, cp);
    const read = rig.ccpData(sp, { op: 'readBasalRateProfileTemplate', templateNumber: 1 });
    for (const d of read.data) if (d.op === 'readBasalRateProfileTemplateResponse') readBack.push(...d.blocks);
    say(`  patient: read basal template 1 → ${read.data.length} records, ${readBack.length} blocks, ${rcName(read.response)}`);
    step(sp, 'patient: run', { op: 'setTherapyControlState', state: 'run' });
    cp.disconnect();
    world.runFor(US_PER_S);

    const bolus = (mU: number): CcpRequest => ({ op: 'setBolus', bolusType: 'fast', fastAmountMilliUnits: mU, extendedAmountMilliUnits: 0, durationMinutes: 0, reasonCorrection: false, reasonMeal: true });
    const label = (who: string, what: string, r: CcpResponse | undefined): string => `${who}: ${what} → ${rcName(r)}`;
    const actions: Action[] = [
      { atMin: 7 * 60 + 30, who: 'patient', what: 'breakfast bolus 5 U', run: (s) => label('patient', 'breakfast bolus 5 U', rig.ccp(s, bolus(5_000)).response) },
      {
        atMin: 12 * 60 + 30,
        who: 'patient',
        what: 'lunch',
        run: (s) => {
          const big = rig.ccp(s, bolus(12_000)).response;
          if (big?.op === 'responseCode') maxBolusRefusedCode = CCP_RESPONSE_CODE.codes[big.responseCode];
          const ok = rig.ccp(s, bolus(6_000)).response;
          return `patient: lunch bolus 12 U → ${rcName(big)} (max bolus 10 U); 6 U → ${rcName(ok)}`;
        },
      },
      { atMin: 14 * 60, who: 'patient', what: 'occlusion', run: () => (pump.motor.injectOcclusion(), 'world: the infusion line kinks (occlusion injected)') },
      {
        atMin: 14 * 60 + 45,
        who: 'service',
        what: 're-prime',
        run: (s) => {
          pump.motor.clearOcclusion();
          return `world: the line is changed; ${label('service', 're-prime 1 U', rig.ccp(s, { op: 'startPriming', amountMilliUnits: 1_000 }).response)}`;
        },
      },
      {
        atMin: 14 * 60 + 50,
        who: 'patient',
        what: 'confirm + resume',
        run: (s) => {
          const occ = pump.annunciations.active().find((a) => a.type === 'occlusionDetected');
          const c = occ ? rcName(rig.ccp(s, { op: 'confirmAnnunciation', instanceId: occ.instanceId }).response) : 'none pending';
          return `patient: confirm occlusion annunciation → ${c}; ${label('patient', 'run', rig.ccp(s, { op: 'setTherapyControlState', state: 'run' }).response)}`;
        },
      },
      {
        atMin: 16 * 60,
        who: 'patient',
        what: 'TBR',
        run: (s) => {
          const r = rig.ccp(s, { op: 'setTbrAdjustment', changeTbr: false, tbrType: 'relative', adjustmentMilli: 500, durationMinutes: 120 }).response;
          if (r?.op === 'responseCode' && r.responseCode === 'success') basalTimeline.push({ atUs: world.nowUs, what: 'tbr-start', percent: 50 });
          return label('patient', 'TBR 50 % for 2 h (exercise)', r);
        },
      },
      { atMin: 19 * 60, who: 'patient', what: 'dinner bolus 7 U', run: (s) => label('patient', 'dinner bolus 7 U', rig.ccp(s, bolus(7_000)).response) },
    ];

    // 3. The day: a poll every 5 min (its own connection), the due actions in it.
    let polls = 0;
    let pollFailures = 0;
    let lastState = '';
    for (let t = 5 * US_PER_MIN; t <= endUs; t += 5 * US_PER_MIN) {
      if (world.nowUs < t) world.runFor(t - world.nowUs);
      const minute = Math.round(t / US_PER_MIN);
      const due = actions.filter((a) => a.atMin <= minute && a.atMin > minute - 5);
      for (const a of due.filter((x) => x.who === 'service')) {
        const c = rig.connect(service);
        const s = rig.session(service, c);
        say(a.run(s));
        c.disconnect();
        world.runFor(US_PER_S);
      }
      const c = rig.connect(patient);
      const s = rig.session(patient, c);
      for (const a of due.filter((x) => x.who === 'patient')) say(a.run(s));
      const st = rig.status(s);
      polls++;
      if (st === undefined) pollFailures++;
      else {
        const now = `${st.therapyControlState}/${st.operationalState}`;
        if (now !== lastState) say(`poll: IDD Status ${now}, reservoir ${st.reservoirRemainingMilliUnits === null ? '—' : `${st.reservoirRemainingMilliUnits / 1000} U`}`);
        lastState = now;
      }
      c.disconnect();
      world.runFor(US_PER_S);
    }

    const pulses = pump.engine.pulses();
    const per = pump.motor.milliUnitsPerStep;
    const delivered = { basalMilliUnits: (pulses.basal + pulses.tempBasal) * per, bolusMilliUnits: (pulses.bolusFast + pulses.bolusExtended) * per };
    const programmed = { basalMilliUnits: pump.port.programmed.basalMilliUnits, bolusMilliUnits: pump.port.programmed.bolusMilliUnits };
    const limits = pump.engine.currentLimits;
    const limitsHeld =
      bolusesDone.every((b) => b <= limits.maxBolusMilliUnits) && delivered.basalMilliUnits + delivered.bolusMilliUnits <= limits.maxDailyMilliUnits && pulses.unattributed === 0;
    const occ = pump.raised.find((a) => a.type === 'occlusionDetected');
    const ledger = rig.board.ledger.summary();
    const ok =
      delivered.basalMilliUnits <= programmed.basalMilliUnits &&
      delivered.bolusMilliUnits <= programmed.bolusMilliUnits &&
      limitsHeld &&
      occ !== undefined &&
      maxBolusRefusedCode === CCP_RESPONSE_CODE.codes.parameterOutOfRange &&
      pump.raised.some((a) => a.type === 'reservoirLow') &&
      pollFailures === 0 &&
      JSON.stringify(readBack) === JSON.stringify(DAY_BASAL_PROFILE);
    return {
      rig,
      story,
      programmed,
      delivered,
      annunciations: pump.raised.map((a) => `${hhmm(a.atUs)} ${a.type} (#${a.instanceId})`),
      polls,
      pollFailures,
      occlusionDetectedAtUs: occ?.atUs,
      basalTimeline,
      readBack,
      maxBolusRefusedCode,
      limitsHeld,
      ledger,
      projection: projectBatteryLife(rig.board.power.model, ledger.microJoules, ledger.elapsedUs),
      ok,
    };
  } finally {
    rig.close();
  }
}

const u = (mU: number): string => `${(mU / 1000).toFixed(2)} U`;

export function formatDayReport(r: DayReport): string {
  const l = r.ledger;
  return [
    `therapy/day-in-the-life — pump ${PUMP_SERIAL}, ${(l.elapsedUs / US_PER_H).toFixed(2)} h simulated`,
    '',
    ...r.story,
    '',
    `insulin          programmed   delivered`,
    `  basal + TBR    ${u(r.programmed.basalMilliUnits).padStart(10)}  ${u(r.delivered.basalMilliUnits).padStart(10)}`,
    `  boluses        ${u(r.programmed.bolusMilliUnits).padStart(10)}  ${u(r.delivered.bolusMilliUnits).padStart(10)}`,
    `  reservoir left ${u(r.rig.pump.engine.reservoirRemainingMilliUnits())}`,
    r.annunciations.length === 0 ? 'annunciations raised: none' : 'annunciations raised:',
    ...r.annunciations.map((a) => `  ${a}`),
    `status polls over the encrypted session: ${r.polls} (${r.pollFailures} failed)`,
    `bolus above max bolus answered IDS response code 0x${(r.maxBolusRefusedCode ?? 0).toString(16)} (parameter out of range = 0x73)`,
    `hard limits held: ${r.limitsHeld ? 'yes' : 'NO'}; history records: ${r.rig.pump.history.records().length}`,
    `energy: ${(l.microJoules / 1e6).toFixed(2)} J, average ${r.projection.averageMicroWatts.toFixed(1)} µW → AAA alkaline projection ${r.projection.lifeDays.toFixed(1)} days`,
  ].join('\n');
}
