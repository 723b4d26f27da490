// The pH meter's measurement machine and the `Measurement` service around it: continuous and one-shot
// measuring at a fixed sampling period, stability, hold, temperature compensation and flagged readings
// (DESIGN §6). Not the sensors (a ProbeReader supplies samples), the calibration procedure
// (calibration.machine.ts) nor the GLP log (which stores readings the composition hands it).
//
// Each sampling tick the machine asks for one probe sample ('probe.read'); the service reads the ProbeReader
// and feeds the sample back ('probe.sample'). From each sample the machine makes a reading:
//   temperature  the sample's (automatic temperature compensation, 'atc'); the manual temperature when the user
//                chose manual mode ('manual'), or when the temperature channel faulted ('manual-fallback', with
//                the fault named) — the reading is still made, and says so;
//   pH           phFromMv through the calibration in force (the ideal line with none), S(T) at that temperature;
//   stability    stability.ts over the last N good samples (a dead-electrode sample empties the window);
//   range        pH outside 0–14, mV outside the front end's range, a temperature outside 0–100 °C, or a dead
//                electrode are flagged;
//   calibration  none / valid / reminder / expired at the sample's time (calibration.ts), with its warnings.
// Hold freezes the displayed reading: sampling and stability go on, but no reading is shown (emitted) until
// release, which shows the latest. One-shot ends at the first stable reading, or with 'timeout'.

import { assertEvent, assign, createActor, emit, not, setup, type Actor } from 'xstate';
import type { Alarm } from '../../hal/alarm.ts';
import { MedtwinError } from '../../src/errors.ts';
import { xstateClock } from '../../src/sim/xstate-clock.ts';
import {
  DEFAULT_EXPIRY_POLICY,
  calibrationStatusAt,
  checkExpiryPolicy,
  type AcceptanceWarning,
  type Calibration,
  type CalibrationStatus,
  type ExpiryPolicy,
  type TemperatureSource,
} from './calibration.ts';
import { IDEAL_LINE, phFromMv } from './nernst.ts';
import type { ProbeFault, ProbeReader, ProbeSample } from './probe.ts';
import { DEFAULT_STABILITY, checkStabilityCriteria, judgeStability, type StabilityCriteria, type TimedMv } from './stability.ts';

// ─── configuration ────────────────────────────────────────────────────────────────────────────

/** One sample a second: a lab meter's display rate, and 10 s fills the default stability window. */
export const SAMPLE_PERIOD_US = 1_000_000;
/** A one-shot that found no stable reading in 2 min gives up (a healthy electrode settles in under 1 min). */
export const ONE_SHOT_TIMEOUT_US = 120_000_000;
/** The manual temperature until the user sets one: the tables' reference temperature. */
export const DEFAULT_MANUAL_TEMP_C = 25;
/** Temperatures the meter compensates for (ATC beyond it is flagged) and a user may set: liquid water at ambient pressure. */
export const COMPENSATION_TEMP_RANGE_C = Object.freeze({ min: 0, max: 100 });
export const MANUAL_TEMP_RANGE_C = COMPENSATION_TEMP_RANGE_C;
/** The displayed pH scale; beyond it a reading is flagged (DESIGN §6 out-of-range). */
export const PH_RANGE = Object.freeze({ min: 0, max: 14 });
/**
 * The front end's linear range, mV. The composition passes the real front end's (front-end.ts); this default is
 * the usual ±1000 mV of a pH input, which pH 0–14 at 0–100 °C (±518 mV) never reaches.
 */
export const DEFAULT_MV_RANGE = Object.freeze({ minMv: -1000, maxMv: 1000 });

export interface MvRange {
  readonly minMv: number;
  readonly maxMv: number;
}

export interface MeasurementConfig {
  readonly samplePeriodUs: number;
  readonly oneShotTimeoutUs: number;
  readonly stability: StabilityCriteria;
  readonly mvRange: MvRange;
  readonly expiry: ExpiryPolicy;
}

export const DEFAULT_MEASUREMENT_CONFIG: MeasurementConfig = Object.freeze({
  samplePeriodUs: SAMPLE_PERIOD_US,
  oneShotTimeoutUs: ONE_SHOT_TIMEOUT_US,
  stability: DEFAULT_STABILITY,
  mvRange: DEFAULT_MV_RANGE,
  expiry: DEFAULT_EXPIRY_POLICY,
});

/** Defaults filled in and checked: a bad configuration is a MedtwinError('ph.config'), not an input. */
export function measurementConfig(partial: Partial<MeasurementConfig> = {}): MeasurementConfig {
  const c: MeasurementConfig = { ...DEFAULT_MEASUREMENT_CONFIG, ...partial };
  if (!Number.isInteger(c.samplePeriodUs) || c.samplePeriodUs < 1_000) throw new MedtwinError('ph.config', `sample period must be a whole number ≥ 1000 µs, got ${c.samplePeriodUs}`);
  if (!(c.oneShotTimeoutUs >= c.samplePeriodUs) || !Number.isFinite(c.oneShotTimeoutUs)) throw new MedtwinError('ph.config', `one-shot timeout ${c.oneShotTimeoutUs} µs`);
  checkStabilityCriteria(c.stability);
  if (!(c.mvRange.minMv < c.mvRange.maxMv) || !Number.isFinite(c.mvRange.minMv) || !Number.isFinite(c.mvRange.maxMv)) {
    throw new MedtwinError('ph.config', `mV range ${c.mvRange.minMv}..${c.mvRange.maxMv}`);
  }
  const p = checkExpiryPolicy(c.expiry);
  if (!p.ok) throw new MedtwinError('ph.config', p.detail);
  return c;
}

// ─── readings ─────────────────────────────────────────────────────────────────────────────────

export type TemperatureMode = 'auto' | 'manual';
export type OutOfRange = 'ph-low' | 'ph-high' | 'mv-low' | 'mv-high' | 'temp-low' | 'temp-high' | 'electrode-dead';

export interface ReadingFlags {
  readonly stable: boolean;
  /** The display was frozen on this reading by hold. */
  readonly held: boolean;
  readonly temperature: TemperatureSource;
  /** With 'manual-fallback': the fault the temperature channel reported (undefined if it only gave no value). */
  readonly temperatureFault: ProbeFault | undefined;
  /** Empty when the reading is in range. */
  readonly outOfRange: readonly OutOfRange[];
  readonly calibration: CalibrationStatus;
  /** The warnings the calibration in force was accepted with (calibration.ts). */
  readonly calibrationWarnings: readonly AcceptanceWarning[];
}

export interface PhReading {
  /** Device time of the sample, µs. */
  readonly atUs: number;
  /** Undefined with a dead electrode. */
  readonly ph: number | undefined;
  readonly mv: number | undefined;
  /** The temperature the pH was compensated for, °C. */
  readonly tempC: number;
  readonly calibrationId: number | undefined;
  readonly driftMvPerMin: number | undefined;
  readonly noiseMvRms: number | undefined;
  /** Time of the oldest sample in the stability window: a stable verdict rests on samples from then on. */
  readonly stabilityWindowStartUs: number | undefined;
  readonly flags: ReadingFlags;
}

export type OneShotResult =
  | { readonly ok: true; readonly reading: PhReading }
  | { readonly ok: false; readonly code: 'timeout' | 'stopped'; readonly reading: PhReading | undefined };

export type MeasurementRefusal = 'busy' | 'temperature-out-of-range' | 'bad-mode' | 'bad-calibration';

// ─── the machine ──────────────────────────────────────────────────────────────────────────────

export interface MeasurementContext {
  readonly config: MeasurementConfig;
  readonly calibration: Calibration | undefined;
  readonly temperatureMode: TemperatureMode;
  readonly manualTempC: number;
  /** The last good samples, oldest first, at most stability.windowSamples. */
  readonly window: readonly TimedMv[];
  /** The newest reading, shown or not. */
  readonly live: PhReading | undefined;
  /** What the display shows. */
  readonly displayed: PhReading | undefined;
  readonly held: boolean;
}

export interface MeasurementInput {
  readonly config?: Partial<MeasurementConfig>;
  readonly calibration?: Calibration;
  readonly temperatureMode?: TemperatureMode;
  readonly manualTempC?: number;
}

export type MeasurementEvent =
  | { type: 'measure.continuous' }
  | { type: 'measure.once' }
  | { type: 'measure.stop' }
  | { type: 'hold.on' }
  | { type: 'hold.off' }
  /** One probe sample, as the ProbeReader delivered it. */
  | { type: 'probe.sample'; sample: ProbeSample }
  /** The calibration in force changed (the calibration service accepted one), or none. */
  | { type: 'calibration.set'; calibration: Calibration | undefined }
  | { type: 'temperature.manual'; tempC: number }
  | { type: 'temperature.mode'; mode: TemperatureMode };

export type MeasurementEmitted =
  /** Read the probe once now. */
  | { type: 'probe.read' }
  /** The display shows a new reading. */
  | { type: 'reading'; reading: PhReading }
  /** Every reading made, shown or not (hold does not stop it): what the calibration procedure needs. */
  | { type: 'live'; reading: PhReading }
  | { type: 'one-shot.done'; result: OneShotResult }
  | { type: 'command.refused'; command: MeasurementEvent['type']; code: MeasurementRefusal };

const isValidCalibration = (c: Calibration | undefined): boolean =>
  c === undefined || (c.line.slopeFraction > 0 && Number.isFinite(c.line.slopeFraction) && Number.isFinite(c.line.offsetMv) && Number.isFinite(c.atUs));

const isManualTemp = (t: number): boolean => t >= MANUAL_TEMP_RANGE_C.min && t <= MANUAL_TEMP_RANGE_C.max;

/** The reading a sample makes, and the stability window after it. Pure: the machine's one computation. */
export function readingFromSample(ctx: MeasurementContext, sample: ProbeSample): { reading: PhReading; window: TimedMv[] } {
  // Temperature: the sample's unless manual was chosen or the channel faulted.
  const tempFault = sample.faults.find((f) => f === 'temperature-open' || f === 'temperature-short');
  let temperature: TemperatureSource;
  let tempC: number;
  if (ctx.temperatureMode === 'manual') {
    temperature = 'manual';
    tempC = ctx.manualTempC;
  } else if (tempFault === undefined && sample.tempC !== undefined && Number.isFinite(sample.tempC)) {
    temperature = 'atc';
    tempC = sample.tempC;
  } else {
    temperature = 'manual-fallback';
    tempC = ctx.manualTempC;
  }
  const common = {
    atUs: sample.atUs,
    tempC,
    calibrationId: ctx.calibration?.id,
  };
  const flags = {
    held: ctx.held,
    temperature,
    temperatureFault: temperature === 'manual-fallback' ? tempFault : undefined,
    calibration: calibrationStatusAt(ctx.calibration, sample.atUs, ctx.config.expiry),
    calibrationWarnings: ctx.calibration?.warnings ?? [],
  };
  const tempOut: OutOfRange[] = tempC < COMPENSATION_TEMP_RANGE_C.min ? ['temp-low'] : tempC > COMPENSATION_TEMP_RANGE_C.max ? ['temp-high'] : [];
  const dead = sample.faults.includes('electrode-dead') || sample.mv === undefined || !Number.isFinite(sample.mv);
  if (dead) {
    // No potential: nothing to judge, and the samples before it no longer describe the signal.
    const reading: PhReading = {
      ...common,
      ph: undefined,
      mv: undefined,
      driftMvPerMin: undefined,
      noiseMvRms: undefined,
      stabilityWindowStartUs: undefined,
      flags: { ...flags, stable: false, outOfRange: ['electrode-dead', ...tempOut] },
    };
    return { reading, window: [] };
  }
  const mv = sample.mv as number;
  const window = [...ctx.window, { atUs: sample.atUs, mv }].slice(-ctx.config.stability.windowSamples);
  const verdict = judgeStability(window, ctx.config.stability);
  const ph = phFromMv(mv, tempC, ctx.calibration?.line ?? IDEAL_LINE);
  const outOfRange: OutOfRange[] = [];
  if (ph < PH_RANGE.min) outOfRange.push('ph-low');
  if (ph > PH_RANGE.max) outOfRange.push('ph-high');
  if (mv < ctx.config.mvRange.minMv) outOfRange.push('mv-low');
  if (mv > ctx.config.mvRange.maxMv) outOfRange.push('mv-high');
  outOfRange.push(...tempOut);
  // Beyond the front end's linear range the mV is not a measurement: never call it stable.
  const mvOut = outOfRange.includes('mv-low') || outOfRange.includes('mv-high');
  const reading: PhReading = {
    ...common,
    ph,
    mv,
    driftMvPerMin: verdict.driftMvPerMin,
    noiseMvRms: verdict.noiseMvRms,
    stabilityWindowStartUs: window[0]?.atUs,
    flags: { ...flags, stable: verdict.stable && !mvOut, outOfRange },
  };
  return { reading, window };
}

/**
 * The machine's starting context, checked: a bad configuration throws MedtwinError('ph.config'). The service calls
 * it before creating the actor, because XState would catch the throw and re-raise it later from a timer.
 */
export function initialMeasurementContext(input: MeasurementInput): MeasurementContext {
  const manualTempC = input.manualTempC ?? DEFAULT_MANUAL_TEMP_C;
  if (!isManualTemp(manualTempC)) throw new MedtwinError('ph.config', `manual temperature must be ${MANUAL_TEMP_RANGE_C.min}..${MANUAL_TEMP_RANGE_C.max} °C, got ${manualTempC}`);
  if (!isValidCalibration(input.calibration)) throw new MedtwinError('ph.config', 'calibration line must have a finite slope > 0 and a finite offset');
  const temperatureMode = input.temperatureMode ?? 'auto';
  if (temperatureMode !== 'auto' && temperatureMode !== 'manual') throw new MedtwinError('ph.config', `temperature mode "${String(temperatureMode)}"`);
  return {
    config: measurementConfig(input.config),
    calibration: input.calibration,
    temperatureMode,
    manualTempC,
    window: [],
    live: undefined,
    displayed: undefined,
    held: false,
  };
}

const withHeld = (r: PhReading | undefined, held: boolean): PhReading | undefined => (r === undefined ? undefined : { ...r, flags: { ...r.flags, held } });

export const measurementMachine = setup({
  types: {
    context: {} as MeasurementContext,
    events: {} as MeasurementEvent,
    input: {} as MeasurementInput,
    emitted: {} as MeasurementEmitted,
  },
  guards: {
    /** The newest reading is stable: a one-shot's endpoint. */
    liveIsStable: ({ context }) => context.live?.flags.stable === true,
    isManualTempInRange: ({ event }) => event.type === 'temperature.manual' && isManualTemp(event.tempC),
    isTemperatureMode: ({ event }) => event.type === 'temperature.mode' && (event.mode === 'auto' || event.mode === 'manual'),
    isValidCalibration: ({ event }) => event.type === 'calibration.set' && isValidCalibration(event.calibration),
    isHeld: ({ context }) => context.held,
    hasDisplayed: ({ context }) => context.displayed !== undefined,
    hasAnyReading: ({ context }) => context.live !== undefined || context.displayed !== undefined,
  },
  delays: {
    // XState delays are ms; the world clock adapter turns them back into whole µs.
    samplePeriod: ({ context }) => context.config.samplePeriodUs / 1_000,
    oneShotTimeout: ({ context }) => context.config.oneShotTimeoutUs / 1_000,
  },
  actions: {
    startRun: assign({ window: [], live: undefined, displayed: undefined, held: false }),
    requestSample: emit({ type: 'probe.read' as const }),
    takeSample: assign(({ context, event }) => {
      assertEvent(event, 'probe.sample');
      const { reading, window } = readingFromSample(context, event.sample);
      return { window, live: reading, displayed: context.held ? context.displayed : reading };
    }),
    announceLive: emit(({ context }) => ({ type: 'live' as const, reading: context.live as PhReading })),
    /** Show the newest reading (the display is not held). */
    showLive: emit(({ context }) => ({ type: 'reading' as const, reading: context.live as PhReading })),
    hold: assign(({ context }) => ({ held: true, displayed: withHeld(context.displayed, true) })),
    release: assign(({ context }) => ({ held: false, displayed: withHeld(context.live ?? context.displayed, false) })),
    showDisplayed: emit(({ context }) => ({ type: 'reading' as const, reading: context.displayed as PhReading })),
    reportEndpoint: emit(({ context }) => ({ type: 'one-shot.done' as const, result: { ok: true as const, reading: context.live as PhReading } })),
    /** The endpoint stays on the display after the one-shot ends. */
    showEndpoint: assign(({ context }) => ({ displayed: context.held ? context.displayed : context.live })),
    reportTimeout: emit(({ context }) => ({ type: 'one-shot.done' as const, result: { ok: false as const, code: 'timeout' as const, reading: context.live } })),
    reportStopped: emit(({ context }) => ({ type: 'one-shot.done' as const, result: { ok: false as const, code: 'stopped' as const, reading: context.live } })),
    setManualTemp: assign({
      manualTempC: ({ context, event }) => (event.type === 'temperature.manual' ? event.tempC : context.manualTempC),
    }),
    setTemperatureMode: assign({
      temperatureMode: ({ context, event }) => (event.type === 'temperature.mode' ? event.mode : context.temperatureMode),
    }),
    setCalibration: assign({
      calibration: ({ context, event }) => (event.type === 'calibration.set' ? event.calibration : context.calibration),
    }),
    refuse: emit(({ event }, params: { code: MeasurementRefusal }) => ({ type: 'command.refused' as const, command: event.type, code: params.code })),
  },
}).createMachine({
  id: 'measurement',
  context: ({ input }) => initialMeasurementContext(input),
  initial: 'idle',
  // Settings and hold apply in every state: they change how the next reading is made or shown.
  on: {
    // Holding twice, or releasing what is not held, changes nothing.
    'hold.on': [{ guard: 'isHeld' }, { guard: 'hasDisplayed', actions: ['hold', 'showDisplayed'] }, { actions: 'hold' }],
    'hold.off': [{ guard: not('isHeld') }, { guard: 'hasAnyReading', actions: ['release', 'showDisplayed'] }, { actions: 'release' }],
    'temperature.manual': [{ guard: 'isManualTempInRange', actions: 'setManualTemp' }, { actions: { type: 'refuse', params: { code: 'temperature-out-of-range' } } }],
    'temperature.mode': [{ guard: 'isTemperatureMode', actions: 'setTemperatureMode' }, { actions: { type: 'refuse', params: { code: 'bad-mode' } } }],
    'calibration.set': [{ guard: 'isValidCalibration', actions: 'setCalibration' }, { actions: { type: 'refuse', params: { code: 'bad-calibration' } } }],
  },
  states: {
    idle: {
      on: {
        'measure.continuous': { target: '#measurement.running.mode.continuous' },
        'measure.once': { target: '#measurement.running.mode.oneShot' },
        // Not handled here: a sample that arrives after a stop (it was in flight) is dropped, and a second stop
        // changes nothing.
      },
    },
    running: {
      type: 'parallel',
      entry: 'startRun',
      on: {
        'probe.sample': [{ guard: 'isHeld', actions: ['takeSample', 'announceLive'] }, { actions: ['takeSample', 'announceLive', 'showLive'] }],
        'measure.continuous': { actions: { type: 'refuse', params: { code: 'busy' } } },
        'measure.once': { actions: { type: 'refuse', params: { code: 'busy' } } },
      },
      states: {
        // The sampling clock: one probe read per period, start to start, whatever the read's latency.
        sampler: {
          initial: 'tick',
          states: {
            tick: {
              entry: 'requestSample',
              after: { samplePeriod: { target: 'tick', reenter: true } },
            },
          },
        },
        mode: {
          initial: 'continuous',
          states: {
            continuous: {
              on: { 'measure.stop': { target: '#measurement.idle' } },
            },
            oneShot: {
              after: { oneShotTimeout: { target: '#measurement.idle', actions: 'reportTimeout' } },
              always: { guard: 'liveIsStable', target: '#measurement.idle', actions: ['showEndpoint', 'reportEndpoint'] },
              on: { 'measure.stop': { target: '#measurement.idle', actions: 'reportStopped' } },
            },
          },
        },
      },
    },
  },
});

export type MeasurementMachine = typeof measurementMachine;

// ─── the service ──────────────────────────────────────────────────────────────────────────────

export type MeasurementResult = { readonly ok: true } | { readonly ok: false; readonly code: MeasurementRefusal };

export interface MeasurementStatus {
  readonly mode: 'idle' | 'continuous' | 'one-shot';
  readonly held: boolean;
  readonly temperatureMode: TemperatureMode;
  readonly manualTempC: number;
  readonly calibration: Calibration | undefined;
  readonly displayed: PhReading | undefined;
  /** Probe reads refused 'busy' (the previous one still in flight at the next tick). */
  readonly skippedReads: number;
}

export interface MeasurementOptions extends MeasurementInput {
  /** The device's clock and timers; the sampling clock runs on it. */
  readonly alarm: Alarm;
  readonly probe: ProbeReader;
  /** Every reading the display shows: each sample's while not held, the frozen one at hold, the latest at release. */
  readonly onReading?: (reading: PhReading) => void;
  /** Every reading made, one per sample, whether the display is held or not (wire the Calibrator here). */
  readonly onLiveReading?: (reading: PhReading) => void;
}

/**
 * The measurement machine on the device. Commands answer at once with ok or a code; readings arrive through
 * `onReading` (the display's) and `onLiveReading` (every sample's); a one-shot's result through its `done` (split-phase, like the HAL). Effects (probe reads,
 * callbacks) run after XState's step, never inside it (see src/firmware/lockout-store.ts).
 */
export class Measurement {
  private readonly actor: Actor<typeof measurementMachine>;
  private readonly probe: ProbeReader;
  private readonly onReading: ((reading: PhReading) => void) | undefined;
  private readonly onLiveReading: ((reading: PhReading) => void) | undefined;
  private readonly queue: MeasurementEmitted[] = [];
  private oneShotDone: ((result: OneShotResult) => void) | undefined;
  private skipped = 0;

  constructor(opts: MeasurementOptions) {
    this.probe = opts.probe;
    this.onReading = opts.onReading;
    this.onLiveReading = opts.onLiveReading;
    const input: MeasurementInput = {
      ...(opts.config === undefined ? {} : { config: opts.config }),
      ...(opts.calibration === undefined ? {} : { calibration: opts.calibration }),
      ...(opts.temperatureMode === undefined ? {} : { temperatureMode: opts.temperatureMode }),
      ...(opts.manualTempC === undefined ? {} : { manualTempC: opts.manualTempC }),
    };
    initialMeasurementContext(input); // throws on a bad configuration, here rather than inside XState
    // Timers fire inside XState; their effects (the probe read) run right after, outside it.
    const clock = xstateClock(opts.alarm, () => this.execute(this.queue.splice(0)));
    this.actor = createActor(measurementMachine, { input, clock });
    this.actor.on('*', (e) => this.queue.push(e));
    this.actor.start();
  }

  /** Measure continuously until stopMeasuring(). */
  startContinuous(): MeasurementResult {
    return this.result(this.run({ type: 'measure.continuous' }));
  }

  /** Measure until the first stable reading (or the timeout); `done` runs once, later, with the result. */
  measureOnce(done: (result: OneShotResult) => void): MeasurementResult {
    const r = this.result(this.run({ type: 'measure.once' }));
    if (r.ok) this.oneShotDone = done;
    return r;
  }

  /** Stop measuring (a one-shot in progress ends with 'stopped'). */
  stopMeasuring(): void {
    this.run({ type: 'measure.stop' });
  }

  /** Freeze the display on the current reading (sampling continues). */
  hold(): void {
    this.run({ type: 'hold.on' });
  }

  /** Unfreeze: the latest reading is shown at once. */
  release(): void {
    this.run({ type: 'hold.off' });
  }

  setCalibration(calibration: Calibration | undefined): MeasurementResult {
    return this.result(this.run({ type: 'calibration.set', calibration }));
  }

  /** The temperature used in manual mode and when the temperature channel faults, °C (0–100). */
  setManualTemperature(tempC: number): MeasurementResult {
    return this.result(this.run({ type: 'temperature.manual', tempC }));
  }

  setTemperatureMode(mode: TemperatureMode): MeasurementResult {
    return this.result(this.run({ type: 'temperature.mode', mode }));
  }

  /** What the display shows now. */
  displayed(): PhReading | undefined {
    return this.actor.getSnapshot().context.displayed;
  }

  status(): MeasurementStatus {
    const snap = this.actor.getSnapshot();
    const c = snap.context;
    const mode = snap.matches('idle') ? 'idle' : snap.matches({ running: { mode: 'oneShot' } }) ? 'one-shot' : 'continuous';
    return { mode, held: c.held, temperatureMode: c.temperatureMode, manualTempC: c.manualTempC, calibration: c.calibration, displayed: c.displayed, skippedReads: this.skipped };
  }

  /** Stop the machine and its timers (a reboot in tests). */
  stop(): void {
    this.actor.stop();
  }

  private result(emitted: readonly MeasurementEmitted[]): MeasurementResult {
    const refused = emitted.find((e) => e.type === 'command.refused');
    return refused?.type === 'command.refused' ? { ok: false, code: refused.code } : { ok: true };
  }

  /** Send one event and run exactly the effects its step emitted (a callback may send more: each runs its own). */
  private run(event: MeasurementEvent): MeasurementEmitted[] {
    const start = this.queue.length;
    this.actor.send(event);
    const mine = this.queue.splice(start);
    this.execute(mine);
    return mine;
  }

  private execute(batch: readonly MeasurementEmitted[]): void {
    for (const e of batch) {
      switch (e.type) {
        case 'probe.read': {
          const r = this.probe.read((sample) => this.run({ type: 'probe.sample', sample }));
          if (!r.ok) this.skipped++;
          break;
        }
        case 'reading':
          this.onReading?.(e.reading);
          break;
        case 'live':
          this.onLiveReading?.(e.reading);
          break;
        case 'one-shot.done': {
          const done = this.oneShotDone;
          this.oneShotDone = undefined;
          done?.(e.result);
          break;
        }
        case 'command.refused':
          break;
      }
    }
  }
}
