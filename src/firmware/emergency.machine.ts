// The emergency override: a long Stop press always stops therapy; break-glass grants timed access that
// never increases delivery (docs/protocol.md §7, §8). Not the code check (session) nor therapy itself.

import { assertEvent, assign, createActor, emit, raise, setup, type Actor } from 'xstate';
import type { Alarm } from '../../hal/alarm.ts';
import type { ButtonName } from '../../hal/ui.ts';
import type { AuditSink } from '../session/ports.ts';
import type { Role } from '../session/roles.ts';
import { xstateClock } from '../sim/xstate-clock.ts';

/** Break-glass access lasts at most 30 min (§7), whatever expiry the grant asks for. */
export const BREAK_GLASS_MAX_US = 30 * 60 * 1_000_000;

/** What the emergency rules need to know about a command (its §6 declaration). */
export interface EmergencyCommandDeclaration {
  /** Marked *emergency* in §6: the emergency role may use it. */
  readonly emergency: boolean;
  /** It can start or increase delivery: never for the emergency role (§6, §7). */
  readonly increasesDelivery: boolean;
}

export interface EmergencyCommand extends EmergencyCommandDeclaration {
  /** §6 command number (audit records carry it). */
  readonly code: number;
}

/**
 * The one rule for the emergency role (§3.3, §6, §7): only commands marked emergency, and never
 * one that can increase delivery — even if a table marked it both. The session applies it too.
 */
export function emergencyAllows(command: EmergencyCommandDeclaration): boolean {
  return command.emergency && !command.increasesDelivery;
}

export type CommandRefusal = 'no-breakglass' | 'not-emergency' | 'increases-delivery';
/** Why the session refused a break-glass code (§7), or why the machine did. */
export type BreakGlassRefusal = 'index-used' | 'code-expired' | 'proof-failed' | 'busy' | 'bad-expiry';

export interface EmergencyContext {
  /** Device time of the latest timed event, µs (the machine reads no clock). */
  readonly nowUs: number;
  /** When break-glass access ends, µs; 0 outside break-glass. */
  readonly untilUs: number;
  /** Index of the break-glass code in use (§7), for the audit records. */
  readonly index: number;
}

export interface EmergencyInput {
  readonly nowUs: number;
}

export type EmergencyEvent =
  /** Buttons.longPressed('stop'): works in every state, whatever the lock state or session. */
  | { type: 'button.stop.long' }
  /** The session verified a break-glass code (§7) and recorded its index as used. */
  | { type: 'breakglass.granted'; index: number; untilUs: number; nowUs: number }
  /** The session refused a break-glass code; audited here so every attempt leaves a record. */
  | { type: 'breakglass.refused'; index: number; reason: BreakGlassRefusal }
  /** The emergency session closed: the code was single-use, the access goes with it. */
  | { type: 'breakglass.ended' }
  /** Raised by the machine's timer at the expiry; an earlier stamp is ignored. */
  | { type: 'breakglass.expired'; nowUs: number }
  /** An emergency-role session asks to run a command. */
  | { type: 'command.requested'; requestId: number; command: EmergencyCommand };

export type EmergencyEmitted =
  | { type: 'therapy.stop'; source: 'button' }
  | { type: 'command.allowed'; requestId: number; code: number }
  | { type: 'command.refused'; requestId: number; code: number; reason: CommandRefusal }
  | { type: 'audit'; event: number; role: Role | undefined; detail: Uint8Array };

// Audit codes (docs/protocol.md §9; the table is AUDIT_EVENTS in audit-log.ts, not imported so
// the machine depends on no storage) and detail encodings.
const AUDIT_BREAKGLASS_USED = 0x0040;
const AUDIT_BREAKGLASS_REFUSED = 0x0041;
const AUDIT_EMERGENCY_STOP = 0x0050;
const AUDIT_COMMAND_REFUSED = 0x0060;

/** breakglass.used phases (detail byte 0). */
export const BREAK_GLASS_PHASES = { granted: 1, command: 2, ended: 3, expired: 4 } as const;
export const BREAK_GLASS_REFUSAL_CODES: Readonly<Record<BreakGlassRefusal, number>> = {
  'index-used': 1,
  'code-expired': 2,
  'proof-failed': 3,
  busy: 4,
  'bad-expiry': 5,
};
export const COMMAND_REFUSAL_CODES: Readonly<Record<CommandRefusal, number>> = { 'no-breakglass': 1, 'not-emergency': 2, 'increases-delivery': 3 };
/** §5.4 response status for each refusal: 0x06 not permitted now, 0x02 insufficient role. */
export const COMMAND_REFUSAL_STATUS: Readonly<Record<CommandRefusal, number>> = { 'no-breakglass': 0x06, 'not-emergency': 0x02, 'increases-delivery': 0x02 };
/** emergency.stop source (detail byte 0). */
export const EMERGENCY_STOP_SOURCES = { button: 1 } as const;

function bytes(n: number, fill: (v: DataView) => void): Uint8Array {
  const b = new Uint8Array(n);
  fill(new DataView(b.buffer));
  return b;
}
/** breakglass.used detail: phase u8 ‖ index u32 ‖ arg u16 (granted: seconds; command: command number; else 0). */
const usedDetail = (phase: number, index: number, arg: number) =>
  bytes(7, (v) => {
    v.setUint8(0, phase);
    v.setUint32(1, index >>> 0, true);
    v.setUint16(5, Math.min(arg, 0xffff), true);
  });
/** breakglass.refused detail: reason u8 ‖ index u32. */
const refusedDetail = (reason: BreakGlassRefusal, index: number) =>
  bytes(5, (v) => {
    v.setUint8(0, BREAK_GLASS_REFUSAL_CODES[reason]);
    v.setUint32(1, index >>> 0, true);
  });
/** command.refused detail: command u16 ‖ §5.4 status u8 ‖ reason u8. */
const commandRefusedDetail = (code: number, reason: CommandRefusal) =>
  bytes(4, (v) => {
    v.setUint16(0, code & 0xffff, true);
    v.setUint8(2, COMMAND_REFUSAL_STATUS[reason]);
    v.setUint8(3, COMMAND_REFUSAL_CODES[reason]);
  });

/** Why a command is refused: outside break-glass always for lack of access, inside for its declaration. */
function refusalOf(command: EmergencyCommandDeclaration, access: boolean): CommandRefusal {
  if (!access) return 'no-breakglass';
  return command.increasesDelivery ? 'increases-delivery' : 'not-emergency';
}

export const emergencyMachine = setup({
  types: {
    context: {} as EmergencyContext,
    events: {} as EmergencyEvent,
    input: {} as EmergencyInput,
    emitted: {} as EmergencyEmitted,
  },
  guards: {
    /** A grant must end in the future; how far is capped by `startBreakGlass`. */
    isValidGrant: ({ event }) => event.type === 'breakglass.granted' && event.untilUs > event.nowUs,
    /** The rule of emergencyAllows, on the requested command. */
    emergencyAllowsCommand: ({ event }) => event.type === 'command.requested' && emergencyAllows(event.command),
    /** Only the expiry ends break-glass by time: an earlier stamp is ignored. */
    breakGlassExpiryReached: ({ context, event }) => event.type === 'breakglass.expired' && event.nowUs >= context.untilUs,
  },
  delays: {
    untilExpiry: ({ context }) => Math.max(0, context.untilUs - context.nowUs) / 1_000,
  },
  actions: {
    requestTherapyStop: emit({ type: 'therapy.stop' as const, source: 'button' as const }),
    /** emergency.stop detail: source u8 (1 = the Stop button held). */
    auditEmergencyStop: emit(() => ({ type: 'audit' as const, event: AUDIT_EMERGENCY_STOP, role: undefined, detail: Uint8Array.of(EMERGENCY_STOP_SOURCES.button) })),
    // Actions below run only on the event their transition names; assertEvent throws otherwise
    // (an impossible state, not an input).
    startBreakGlass: assign(({ event }) => {
      assertEvent(event, 'breakglass.granted');
      return { nowUs: event.nowUs, index: event.index, untilUs: Math.min(event.untilUs, event.nowUs + BREAK_GLASS_MAX_US) };
    }),
    auditGrant: emit(({ context }) => ({
      type: 'audit' as const,
      event: AUDIT_BREAKGLASS_USED,
      role: 'emergency' as const,
      detail: usedDetail(BREAK_GLASS_PHASES.granted, context.index, Math.ceil((context.untilUs - context.nowUs) / 1e6)),
    })),
    auditGrantRefused: emit(({ event }, params: { reason: BreakGlassRefusal }) => {
      assertEvent(event, 'breakglass.granted');
      return { type: 'audit' as const, event: AUDIT_BREAKGLASS_REFUSED, role: 'emergency' as const, detail: refusedDetail(params.reason, event.index) };
    }),
    auditRefused: emit(({ event }) => {
      assertEvent(event, 'breakglass.refused');
      return { type: 'audit' as const, event: AUDIT_BREAKGLASS_REFUSED, role: 'emergency' as const, detail: refusedDetail(event.reason, event.index) };
    }),
    allowCommand: emit(({ event }) => {
      assertEvent(event, 'command.requested');
      return { type: 'command.allowed' as const, requestId: event.requestId, code: event.command.code };
    }),
    auditCommandUse: emit(({ event, context }) => {
      assertEvent(event, 'command.requested');
      return { type: 'audit' as const, event: AUDIT_BREAKGLASS_USED, role: 'emergency' as const, detail: usedDetail(BREAK_GLASS_PHASES.command, context.index, event.command.code) };
    }),
    refuseCommand: emit(({ event }, params: { access: boolean }) => {
      assertEvent(event, 'command.requested');
      return { type: 'command.refused' as const, requestId: event.requestId, code: event.command.code, reason: refusalOf(event.command, params.access) };
    }),
    auditCommandRefused: emit(({ event }, params: { access: boolean }) => {
      assertEvent(event, 'command.requested');
      const detail = commandRefusedDetail(event.command.code, refusalOf(event.command, params.access));
      return { type: 'audit' as const, event: AUDIT_COMMAND_REFUSED, role: 'emergency' as const, detail };
    }),
    auditEnded: emit(({ context }) => ({ type: 'audit' as const, event: AUDIT_BREAKGLASS_USED, role: 'emergency' as const, detail: usedDetail(BREAK_GLASS_PHASES.ended, context.index, 0) })),
    auditExpired: emit(({ context }) => ({ type: 'audit' as const, event: AUDIT_BREAKGLASS_USED, role: 'emergency' as const, detail: usedDetail(BREAK_GLASS_PHASES.expired, context.index, 0) })),
    endBreakGlass: assign(({ context, event }) => ({ untilUs: 0, index: 0, nowUs: event.type === 'breakglass.expired' ? Math.max(context.nowUs, event.nowUs) : context.nowUs })),
    /** The timer fires at the expiry by construction (delay = expiry − time of the grant). */
    raiseExpiry: raise(({ context }) => ({ type: 'breakglass.expired' as const, nowUs: context.untilUs })),
  },
}).createMachine({
  id: 'emergency',
  context: ({ input }) => ({ nowUs: input.nowUs, untilUs: 0, index: 0 }),
  // Break-glass is never persisted: a reboot drops the session it belongs to.
  initial: 'normal',
  // At the root, so no state can forget it: the Stop long press is answered everywhere (§8).
  on: {
    'button.stop.long': { actions: ['requestTherapyStop', 'auditEmergencyStop'] },
    'breakglass.refused': { actions: 'auditRefused' },
  },
  states: {
    normal: {
      on: {
        'breakglass.granted': [
          { guard: 'isValidGrant', target: 'breakGlass', actions: ['startBreakGlass', 'auditGrant'] },
          { actions: { type: 'auditGrantRefused', params: { reason: 'bad-expiry' } } },
        ],
        'command.requested': {
          actions: [
            { type: 'refuseCommand', params: { access: false } },
            { type: 'auditCommandRefused', params: { access: false } },
          ],
        },
      },
    },
    breakGlass: {
      // Armed on entry, disarmed on exit (QP: timers belong to states).
      after: { untilExpiry: { actions: 'raiseExpiry' } },
      on: {
        'command.requested': [
          { guard: 'emergencyAllowsCommand', actions: ['allowCommand', 'auditCommandUse'] },
          {
            actions: [
              { type: 'refuseCommand', params: { access: true } },
              { type: 'auditCommandRefused', params: { access: true } },
            ],
          },
        ],
        // One emergency access at a time; a second grant can neither stack nor extend it.
        'breakglass.granted': { actions: { type: 'auditGrantRefused', params: { reason: 'busy' } } },
        'breakglass.expired': { guard: 'breakGlassExpiryReached', target: 'normal', actions: ['auditExpired', 'endBreakGlass'] },
        'breakglass.ended': { target: 'normal', actions: ['auditEnded', 'endBreakGlass'] },
      },
    },
  },
});

export type EmergencyMachine = typeof emergencyMachine;

// ─── running it ───────────────────────────────────────────────────────────────────────────────

export interface EmergencyOverrideOptions {
  /** The device's clock and timers; the break-glass timer runs on it. */
  readonly alarm: Alarm;
  /** The device's therapy: asked to stop on every Stop long press. Must not need a session. */
  readonly therapy: { stop(source: 'button'): void };
  readonly audit: AuditSink;
}

export type GrantResult = { ok: true; untilUs: number } | { ok: false; code: 'busy' | 'bad-expiry' };
export type AuthorizeResult = { ok: true } | { ok: false; code: CommandRefusal; status: number };

/**
 * The machine on the device: the composition routes `Buttons.longPressed` here and the session
 * its break-glass grants, refusals, ends and emergency-role commands.
 *
 * Effects (stop, audit) run after XState's step, not inside it: a power cut while the audit is
 * written must reach the scheduler like the chip dying, which XState would swallow. The stop
 * goes first, so a cut during the audit write cannot lose the stop.
 */
export class EmergencyOverride {
  private readonly actor: Actor<typeof emergencyMachine>;
  private readonly effects: EmergencyEmitted[] = [];

  constructor(private readonly opts: EmergencyOverrideOptions) {
    const clock = xstateClock(opts.alarm, () => this.flush());
    this.actor = createActor(emergencyMachine, { input: { nowUs: opts.alarm.nowUs() }, clock });
    this.actor.on('*', (e) => this.effects.push(e));
    this.actor.start();
  }

  /** Wire to Buttons.longPressed: a long Stop is answered whatever else is going on. */
  buttonLongPressed(button: ButtonName): void {
    if (button !== 'stop') return;
    this.run({ type: 'button.stop.long' });
  }

  /** The session verified a code and recorded its index (§7): open emergency access until `untilUs` (≤ 30 min). */
  grantBreakGlass(index: number, untilUs: number): GrantResult {
    this.catchUp();
    const wasActive = this.actor.getSnapshot().matches('breakGlass');
    this.run({ type: 'breakglass.granted', index, untilUs, nowUs: this.opts.alarm.nowUs() });
    const snap = this.actor.getSnapshot();
    if (wasActive) return { ok: false, code: 'busy' };
    return snap.matches('breakGlass') ? { ok: true, untilUs: snap.context.untilUs } : { ok: false, code: 'bad-expiry' };
  }

  refuseBreakGlass(index: number, reason: BreakGlassRefusal): void {
    this.run({ type: 'breakglass.refused', index, reason });
  }

  /** The emergency session closed. */
  endBreakGlass(): void {
    this.run({ type: 'breakglass.ended' });
  }

  /** May the emergency-role session run this command now? Every answer is audited. */
  authorize(requestId: number, command: EmergencyCommand): AuthorizeResult {
    const answers = this.run({ type: 'command.requested', requestId, command });
    const answer = answers.find((e) => (e.type === 'command.allowed' || e.type === 'command.refused') && e.requestId === requestId);
    if (answer?.type === 'command.allowed') return { ok: true };
    const code = answer?.type === 'command.refused' ? answer.reason : 'no-breakglass';
    return { ok: false, code, status: COMMAND_REFUSAL_STATUS[code] };
  }

  status(): { breakGlass: boolean; remainingS: number; index: number } {
    this.catchUp();
    const snap = this.actor.getSnapshot();
    const breakGlass = snap.matches('breakGlass');
    const remainingUs = breakGlass ? snap.context.untilUs - this.opts.alarm.nowUs() : 0;
    return { breakGlass, remainingS: Math.max(0, Math.ceil(remainingUs / 1e6)), index: snap.context.index };
  }

  stop(): void {
    this.actor.stop();
  }

  private run(event: EmergencyEvent): EmergencyEmitted[] {
    this.catchUp();
    this.actor.send(event);
    return this.flush();
  }

  /**
   * The timer and a caller can fall on the same microsecond: a caller at or past the expiry sees
   * the access ended, whichever the scheduler runs first (the guard still checks the time).
   */
  private catchUp(): void {
    const snap = this.actor.getSnapshot();
    const nowUs = this.opts.alarm.nowUs();
    if (snap.matches('breakGlass') && nowUs >= snap.context.untilUs) {
      this.actor.send({ type: 'breakglass.expired', nowUs });
      this.flush();
    }
  }

  private flush(): EmergencyEmitted[] {
    const done: EmergencyEmitted[] = [];
    // Stops first: they matter more than the records of them.
    const batch = this.effects.splice(0);
    for (const e of batch) if (e.type === 'therapy.stop') this.opts.therapy.stop(e.source);
    for (const e of batch) {
      if (e.type === 'audit') this.opts.audit(e.event, e.role, e.detail);
      done.push(e);
    }
    return done;
  }
}
