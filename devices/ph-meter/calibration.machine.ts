// The calibration procedure and the `Calibrator` service around it: start with a buffer set, take 1–5 points
// (each a fresh stable reading in a recognized buffer), finish with fit and acceptance (DESIGN §6). Not the math
// (calibration.ts), the buffers (buffers.ts), who may calibrate (the session authorizes; this records who), nor
// the readings (measurement.machine.ts makes them; the composition feeds them here).
//
// Procedure, as a lab meter's: start → for each buffer the operator puts the probe in and asks for a point →
// the first stable reading whose whole stability window was taken after that request is matched to a buffer of
// the set (recognition through the best line known: the calibration in force for the first point, the points
// taken so far after it) → recorded, or refused with a code (unrecognized, repeated, temperature outside the
// tables, or no stable reading within the point timeout) → … → finish: fit, acceptance → accepted (with its
// warnings, a new Calibration in force) or failed with the rule that failed. A failure, a cancel or the
// procedure's idle timeout leave the calibration in force as it was.

import { and, assertEvent, assign, createActor, emit, not, setup, type Actor } from 'xstate';
import type { Alarm } from '../../hal/alarm.ts';
import { MedtwinError } from '../../src/errors.ts';
import { xstateClock } from '../../src/sim/xstate-clock.ts';
import { RECOGNITION_WINDOW_PH, bufferSetById, recognizeBuffer, type BufferSetId, type Recognition, type RecognitionCode } from './buffers.ts';
import {
  MAX_CALIBRATION_POINTS,
  fitCalibrationLine,
  judgeCalibration,
  type AcceptanceFailure,
  type Calibration,
  type CalibrationOperator,
  type FitCode,
  type LineFit,
  type RecordedPoint,
} from './calibration.ts';
import type { PhReading } from './measurement.machine.ts';
import { IDEAL_LINE, type CalibrationLine } from './nernst.ts';

/** A buffer point gets 3 min to settle (an old electrode's t90 is ~30 s; rinsing and stirring take the rest). */
export const POINT_TIMEOUT_US = 180_000_000;
/** A procedure left waiting for the next point 10 min ends ('timeout'): the operator walked away. */
export const PROCEDURE_IDLE_TIMEOUT_US = 600_000_000;

export interface CalibratorConfig {
  readonly pointTimeoutUs: number;
  readonly idleTimeoutUs: number;
  /** Recognition window, ± pH (buffers.ts RECOGNITION_WINDOW_PH). */
  readonly windowPh: number;
}

export const DEFAULT_CALIBRATOR_CONFIG: CalibratorConfig = Object.freeze({
  pointTimeoutUs: POINT_TIMEOUT_US,
  idleTimeoutUs: PROCEDURE_IDLE_TIMEOUT_US,
  windowPh: RECOGNITION_WINDOW_PH,
});

/** Why a point was not recorded. */
export type PointRefusal = RecognitionCode | 'not-stable' | 'interrupted';

/** Why a command was refused (nothing changed). */
export type CalibratorRefusal = 'busy' | 'unknown-buffer-set' | 'not-calibrating' | 'point-in-progress' | 'max-points' | 'no-points';

/** What a procedure was, for the record of one that did not end in a calibration (the GLP log keeps those too). */
export interface CalibrationAttempt {
  readonly bufferSet: BufferSetId;
  readonly performedBy: CalibrationOperator;
  readonly points: readonly RecordedPoint[];
  readonly startedAtUs: number;
  readonly endedAtUs: number;
}

export type CalibrationOutcome =
  | { readonly ok: true; readonly calibration: Calibration }
  /** Fitted, but a §6 rule failed: `code` the first (slope-low, slope-high, offset), `failures` all. */
  | { readonly ok: false; readonly code: AcceptanceFailure; readonly failures: readonly AcceptanceFailure[]; readonly fit: LineFit; readonly attempt: CalibrationAttempt }
  /** Ended without a fit: cancelled, timed out, or points the fit refused. */
  | { readonly ok: false; readonly code: 'cancelled' | 'timeout' | FitCode; readonly attempt: CalibrationAttempt };

export interface CalibrationContext {
  readonly config: CalibratorConfig;
  /** The calibration in force (changes only when one is accepted). */
  readonly current: Calibration | undefined;
  /** The id of the last accepted calibration (0 = none ever): the next is lastId + 1. */
  readonly lastId: number;
  // The procedure in progress (meaningless in idle).
  readonly bufferSet: BufferSetId;
  readonly performedBy: CalibrationOperator;
  readonly startedAtUs: number;
  readonly points: readonly RecordedPoint[];
  readonly pointRequestedAtUs: number;
  /** Device time of the latest event, µs (the machine reads no clock). */
  readonly nowUs: number;
  readonly lastOutcome: CalibrationOutcome | undefined;
}

export interface CalibrationInput {
  readonly current?: Calibration;
  /** Default: the current calibration's id, or 0. Must not be below it. */
  readonly lastId?: number;
  readonly config?: Partial<CalibratorConfig>;
}

export type CalibrationEvent =
  | { type: 'cal.start'; bufferSet: string; performedBy: CalibrationOperator; nowUs: number }
  /** The probe is in the next buffer: take a point. */
  | { type: 'point.measure'; nowUs: number }
  /** A reading from the measurement service (every displayed one; the machine picks). */
  | { type: 'reading'; reading: PhReading }
  | { type: 'cal.finish'; nowUs: number }
  | { type: 'cal.cancel'; nowUs: number };

export type CalibrationEmitted =
  | { type: 'point.recorded'; point: RecordedPoint; index: number; line: CalibrationLine }
  | { type: 'point.refused'; code: PointRefusal; measuredPh: number | undefined; nearest: string | undefined }
  | { type: 'calibration.finished'; outcome: CalibrationOutcome }
  | { type: 'command.refused'; command: CalibrationEvent['type']; code: CalibratorRefusal };

/** The line recognition uses: the points so far (a one-point fit keeps the slope in force), else the line in force. */
export function provisionalLine(ctx: Pick<CalibrationContext, 'points' | 'current'>): CalibrationLine {
  if (ctx.points.length === 0) return ctx.current?.line ?? IDEAL_LINE;
  const fit = fitCalibrationLine(ctx.points, previousSlope(ctx.current));
  return fit.ok ? fit.value.line : (ctx.current?.line ?? IDEAL_LINE);
}

const previousSlope = (current: Calibration | undefined) => (current === undefined ? {} : { previousSlopeFraction: current.line.slopeFraction });

/** Recognition of a reading's buffer in the procedure's context. */
export function recognitionFor(ctx: CalibrationContext, reading: PhReading): Recognition {
  if (reading.mv === undefined) return { ok: false, code: 'bad-input' };
  const set = bufferSetById(ctx.bufferSet);
  if (set === undefined) return { ok: false, code: 'bad-input' };
  return recognizeBuffer({ set, mv: reading.mv, tempC: reading.tempC, line: provisionalLine(ctx), used: ctx.points.map((p) => p.bufferId), windowPh: ctx.config.windowPh });
}

/** Finish: fit the points, judge the line, and make the record (pure; the id is the next one). */
export function outcomeOf(ctx: CalibrationContext, endedAtUs: number): CalibrationOutcome {
  const attempt: CalibrationAttempt = { bufferSet: ctx.bufferSet, performedBy: ctx.performedBy, points: ctx.points, startedAtUs: ctx.startedAtUs, endedAtUs };
  const fit = fitCalibrationLine(ctx.points, previousSlope(ctx.current));
  if (!fit.ok) return { ok: false, code: fit.code, attempt };
  const judged = judgeCalibration(fit.value.line);
  if (!judged.ok) return { ok: false, code: judged.code, failures: judged.failures, fit: fit.value, attempt };
  const calibration: Calibration = {
    id: ctx.lastId + 1,
    line: fit.value.line,
    slopePercent: fit.value.slopePercent,
    offsetMv: fit.value.offsetMv,
    segments: fit.value.segments,
    points: ctx.points,
    tempC: ctx.points.reduce((a, p) => a + p.tempC, 0) / ctx.points.length,
    atUs: endedAtUs,
    bufferSet: ctx.bufferSet,
    warnings: judged.warnings,
    performedBy: ctx.performedBy,
  };
  return { ok: true, calibration };
}

const NO_OPERATOR: CalibrationOperator = { source: 'local' };

/**
 * The machine's starting context, checked: a bad configuration throws MedtwinError('ph.config'). The service calls
 * it before creating the actor, because XState would catch the throw and re-raise it later from a timer.
 */
export function initialCalibrationContext(input: CalibrationInput): CalibrationContext {
  const config: CalibratorConfig = { ...DEFAULT_CALIBRATOR_CONFIG, ...input.config };
  if (!(config.pointTimeoutUs > 0) || !(config.idleTimeoutUs > 0) || !(config.windowPh > 0)) {
    throw new MedtwinError('ph.config', `calibrator timeouts and window must be > 0: ${JSON.stringify(config)}`);
  }
  const lastId = input.lastId ?? input.current?.id ?? 0;
  if (!Number.isInteger(lastId) || lastId < (input.current?.id ?? 0) || lastId < 0) {
    throw new MedtwinError('ph.config', `last calibration id ${lastId} must be a whole number, not below the one in force (${input.current?.id ?? 0})`);
  }
  return {
    config,
    current: input.current,
    lastId,
    bufferSet: 'nist',
    performedBy: NO_OPERATOR,
    startedAtUs: 0,
    points: [],
    pointRequestedAtUs: 0,
    nowUs: 0,
    lastOutcome: undefined,
  };
}

export const calibrationMachine = setup({
  types: {
    context: {} as CalibrationContext,
    events: {} as CalibrationEvent,
    input: {} as CalibrationInput,
    emitted: {} as CalibrationEmitted,
  },
  guards: {
    isKnownBufferSet: ({ event }) => event.type === 'cal.start' && bufferSetById(event.bufferSet) !== undefined,
    hasMaxPoints: ({ context }) => context.points.length >= MAX_CALIBRATION_POINTS,
    hasNoPoints: ({ context }) => context.points.length === 0,
    /**
     * Stable, with a potential, and judged only on samples taken after the point was asked for — so a reading
     * still stable from the previous buffer (or before the probe was moved) can never become this point.
     */
    isFreshStableReading: ({ context, event }) =>
      event.type === 'reading' &&
      event.reading.flags.stable &&
      event.reading.mv !== undefined &&
      event.reading.stabilityWindowStartUs !== undefined &&
      event.reading.stabilityWindowStartUs >= context.pointRequestedAtUs,
    isRecognizedBuffer: ({ context, event }) => event.type === 'reading' && recognitionFor(context, event.reading).ok,
  },
  delays: {
    pointTimeout: ({ context }) => context.config.pointTimeoutUs / 1_000,
    idleTimeout: ({ context }) => context.config.idleTimeoutUs / 1_000,
  },
  actions: {
    noteTime: assign({
      nowUs: ({ context, event }) => ('nowUs' in event ? Math.max(context.nowUs, event.nowUs) : event.type === 'reading' ? Math.max(context.nowUs, event.reading.atUs) : context.nowUs),
    }),
    begin: assign(({ event }) => {
      assertEvent(event, 'cal.start');
      return { bufferSet: event.bufferSet as BufferSetId, performedBy: event.performedBy, startedAtUs: event.nowUs, points: [], lastOutcome: undefined };
    }),
    notePointRequest: assign({ pointRequestedAtUs: ({ context }) => context.nowUs }),
    recordPoint: assign({
      points: ({ context, event }) => {
        assertEvent(event, 'reading');
        const r = recognitionFor(context, event.reading);
        if (!r.ok) throw new Error('recordPoint without a recognized buffer'); // the guard said it was
        const point: RecordedPoint = {
          mv: event.reading.mv as number,
          tempC: event.reading.tempC,
          bufferPhAtT: r.phAtT,
          bufferId: r.buffer.id,
          nominalPh: r.buffer.nominalPh,
          temperatureSource: event.reading.flags.temperature,
          atUs: event.reading.atUs,
        };
        return [...context.points, point];
      },
    }),
    announcePoint: emit(({ context }) => ({
      type: 'point.recorded' as const,
      point: context.points[context.points.length - 1]!,
      index: context.points.length,
      line: provisionalLine(context),
    })),
    refuseReading: emit(({ context, event }) => {
      assertEvent(event, 'reading');
      const r = recognitionFor(context, event.reading);
      if (r.ok) throw new Error('refuseReading with a recognized buffer'); // the guard said it was not
      return { type: 'point.refused' as const, code: r.code, measuredPh: r.measuredPh, nearest: r.nearest?.id };
    }),
    refusePoint: emit((_, params: { code: PointRefusal }) => ({ type: 'point.refused' as const, code: params.code, measuredPh: undefined, nearest: undefined })),
    /** Fit, judge; an accepted calibration comes into force and takes the next id. */
    finish: assign(({ context }) => {
      const outcome = outcomeOf(context, context.nowUs);
      return outcome.ok ? { lastOutcome: outcome, current: outcome.calibration, lastId: outcome.calibration.id } : { lastOutcome: outcome };
    }),
    end: assign(({ context }, params: { code: 'cancelled' | 'timeout' }) => ({
      lastOutcome: {
        ok: false as const,
        code: params.code,
        attempt: { bufferSet: context.bufferSet, performedBy: context.performedBy, points: context.points, startedAtUs: context.startedAtUs, endedAtUs: context.nowUs },
      },
    })),
    announceOutcome: emit(({ context }) => ({ type: 'calibration.finished' as const, outcome: context.lastOutcome as CalibrationOutcome })),
    /** The timers fire at their deadline: the time of the state's entry plus the timeout. */
    notePointTimeout: assign({ nowUs: ({ context }) => context.pointRequestedAtUs + context.config.pointTimeoutUs }),
    noteIdleTimeout: assign({ nowUs: ({ context }) => context.nowUs + context.config.idleTimeoutUs }),
    refuse: emit(({ event }, params: { code: CalibratorRefusal }) => ({ type: 'command.refused' as const, command: event.type, code: params.code })),
  },
}).createMachine({
  id: 'calibration',
  context: ({ input }) => initialCalibrationContext(input),
  initial: 'idle',
  states: {
    idle: {
      on: {
        'cal.start': [
          { guard: 'isKnownBufferSet', target: 'active', actions: ['noteTime', 'begin'] },
          { actions: { type: 'refuse', params: { code: 'unknown-buffer-set' } } },
        ],
        'point.measure': { actions: { type: 'refuse', params: { code: 'not-calibrating' } } },
        'cal.finish': { actions: { type: 'refuse', params: { code: 'not-calibrating' } } },
        'cal.cancel': { actions: { type: 'refuse', params: { code: 'not-calibrating' } } },
      },
    },
    active: {
      initial: 'awaitingPoint',
      on: {
        'cal.start': { actions: { type: 'refuse', params: { code: 'busy' } } },
      },
      states: {
        awaitingPoint: {
          // Armed on entry, disarmed on exit: each point asked for, taken or refused restarts it.
          after: { idleTimeout: { target: '#calibration.idle', actions: ['noteIdleTimeout', { type: 'end', params: { code: 'timeout' } }, 'announceOutcome'] } },
          on: {
            'point.measure': [
              { guard: 'hasMaxPoints', actions: { type: 'refuse', params: { code: 'max-points' } } },
              { target: 'measuringPoint', actions: ['noteTime', 'notePointRequest'] },
            ],
            'cal.finish': [
              { guard: 'hasNoPoints', actions: { type: 'refuse', params: { code: 'no-points' } } },
              { target: '#calibration.idle', actions: ['noteTime', 'finish', 'announceOutcome'] },
            ],
            'cal.cancel': { target: '#calibration.idle', actions: ['noteTime', { type: 'end', params: { code: 'cancelled' } }, 'announceOutcome'] },
          },
        },
        measuringPoint: {
          after: { pointTimeout: { target: 'awaitingPoint', actions: ['notePointTimeout', { type: 'refusePoint', params: { code: 'not-stable' } }] } },
          on: {
            reading: [
              { guard: and(['isFreshStableReading', 'isRecognizedBuffer']), target: 'awaitingPoint', actions: ['noteTime', 'recordPoint', 'announcePoint'] },
              { guard: and(['isFreshStableReading', not('isRecognizedBuffer')]), target: 'awaitingPoint', actions: ['noteTime', 'refuseReading'] },
            ],
            'point.measure': { actions: { type: 'refuse', params: { code: 'point-in-progress' } } },
            // Ending while a point is pending drops that point (it has no reading yet) and ends with the others.
            'cal.finish': [
              { guard: 'hasNoPoints', actions: { type: 'refuse', params: { code: 'no-points' } } },
              { target: '#calibration.idle', actions: ['noteTime', { type: 'refusePoint', params: { code: 'interrupted' } }, 'finish', 'announceOutcome'] },
            ],
            'cal.cancel': {
              target: '#calibration.idle',
              actions: ['noteTime', { type: 'refusePoint', params: { code: 'interrupted' } }, { type: 'end', params: { code: 'cancelled' } }, 'announceOutcome'],
            },
          },
        },
      },
    },
  },
});

export type CalibrationMachine = typeof calibrationMachine;

// ─── the service ──────────────────────────────────────────────────────────────────────────────

export type CalibratorResult = { readonly ok: true } | { readonly ok: false; readonly code: CalibratorRefusal };

export type PointResult =
  | { readonly ok: true; readonly point: RecordedPoint; readonly index: number; readonly line: CalibrationLine }
  | { readonly ok: false; readonly code: PointRefusal; readonly measuredPh: number | undefined; readonly nearest: string | undefined };

export interface CalibratorStatus {
  readonly state: 'idle' | 'awaiting-point' | 'measuring-point';
  readonly bufferSet: BufferSetId | undefined;
  readonly performedBy: CalibrationOperator | undefined;
  readonly points: readonly RecordedPoint[];
  readonly current: Calibration | undefined;
  readonly lastOutcome: CalibrationOutcome | undefined;
}

export interface CalibratorOptions extends CalibrationInput {
  /** The device's clock and timers; the procedure's timeouts run on it. */
  readonly alarm: Alarm;
  /** Every procedure's end: accepted (the composition hands the calibration to Measurement and the GLP log), failed, cancelled, timed out. */
  readonly onFinished?: (outcome: CalibrationOutcome) => void;
}

/**
 * The calibration procedure on the device. Commands answer at once; a point's result arrives through its
 * `done`, the procedure's end through `onFinished` (and finish()'s answer). Feed it every reading the
 * Measurement service makes (`reading`, from onLiveReading), with measurement running continuously while calibrating.
 */
export class Calibrator {
  private readonly actor: Actor<typeof calibrationMachine>;
  private readonly alarm: Alarm;
  private readonly onFinished: ((outcome: CalibrationOutcome) => void) | undefined;
  private readonly queue: CalibrationEmitted[] = [];
  private pointDone: ((result: PointResult) => void) | undefined;

  constructor(opts: CalibratorOptions) {
    this.alarm = opts.alarm;
    this.onFinished = opts.onFinished;
    const input: CalibrationInput = {
      ...(opts.current === undefined ? {} : { current: opts.current }),
      ...(opts.lastId === undefined ? {} : { lastId: opts.lastId }),
      ...(opts.config === undefined ? {} : { config: opts.config }),
    };
    initialCalibrationContext(input); // throws on a bad configuration, here rather than inside XState
    const clock = xstateClock(opts.alarm, () => this.execute(this.queue.splice(0)));
    this.actor = createActor(calibrationMachine, { input, clock });
    this.actor.on('*', (e) => this.queue.push(e));
    this.actor.start();
  }

  /** Begin a procedure with `bufferSet` ('nist' | 'us'), recording who started it. */
  start(bufferSet: string, performedBy: CalibrationOperator): CalibratorResult {
    return this.result(this.run({ type: 'cal.start', bufferSet, performedBy, nowUs: this.alarm.nowUs() }));
  }

  /** The probe is in the next buffer: take a point; `done` runs once, later, with the point or the refusal. */
  measurePoint(done?: (result: PointResult) => void): CalibratorResult {
    const r = this.result(this.run({ type: 'point.measure', nowUs: this.alarm.nowUs() }));
    if (r.ok) this.pointDone = done;
    return r;
  }

  /** Wire to Measurement's onLiveReading (every reading, so a held display does not stall a point). */
  reading(reading: PhReading): void {
    this.run({ type: 'reading', reading });
  }

  /** Fit and judge the points taken: the outcome, or a refusal ('not-calibrating', 'no-points') that changes nothing. */
  finish(): CalibrationOutcome | { readonly ok: false; readonly code: CalibratorRefusal } {
    const emitted = this.run({ type: 'cal.finish', nowUs: this.alarm.nowUs() });
    const refused = emitted.find((e) => e.type === 'command.refused');
    if (refused?.type === 'command.refused') return { ok: false, code: refused.code };
    const finished = emitted.find((e) => e.type === 'calibration.finished');
    if (finished?.type !== 'calibration.finished') throw new Error('cal.finish neither refused nor finished');
    return finished.outcome;
  }

  cancel(): CalibratorResult {
    return this.result(this.run({ type: 'cal.cancel', nowUs: this.alarm.nowUs() }));
  }

  /** The calibration in force. */
  current(): Calibration | undefined {
    return this.actor.getSnapshot().context.current;
  }

  status(): CalibratorStatus {
    const snap = this.actor.getSnapshot();
    const c = snap.context;
    const state = snap.matches('idle') ? 'idle' : snap.matches({ active: 'measuringPoint' }) ? 'measuring-point' : 'awaiting-point';
    const active = state !== 'idle';
    return {
      state,
      bufferSet: active ? c.bufferSet : undefined,
      performedBy: active ? c.performedBy : undefined,
      points: active ? c.points : [],
      current: c.current,
      lastOutcome: c.lastOutcome,
    };
  }

  /** Stop the machine and its timers (a reboot in tests). */
  stop(): void {
    this.actor.stop();
  }

  private result(emitted: readonly CalibrationEmitted[]): CalibratorResult {
    const refused = emitted.find((e) => e.type === 'command.refused');
    return refused?.type === 'command.refused' ? { ok: false, code: refused.code } : { ok: true };
  }

  private run(event: CalibrationEvent): CalibrationEmitted[] {
    const start = this.queue.length;
    this.actor.send(event);
    const mine = this.queue.splice(start);
    this.execute(mine);
    return mine;
  }

  private execute(batch: readonly CalibrationEmitted[]): void {
    for (const e of batch) {
      switch (e.type) {
        case 'point.recorded':
          this.settlePoint({ ok: true, point: e.point, index: e.index, line: e.line });
          break;
        case 'point.refused':
          this.settlePoint({ ok: false, code: e.code, measuredPh: e.measuredPh, nearest: e.nearest });
          break;
        case 'calibration.finished':
          this.onFinished?.(e.outcome);
          break;
        case 'command.refused':
          break;
      }
    }
  }

  private settlePoint(result: PointResult): void {
    const done = this.pointDone;
    this.pointDone = undefined;
    done?.(result);
  }
}
