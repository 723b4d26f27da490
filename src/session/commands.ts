// The command registry and the pure authorization rule of docs/protocol.md §3.3 and §6: each
// command declares its least role, whether the emergency role may use it, and whether it can
// start or increase delivery. Not the handlers' logic: the device composition supplies them.

import { emergencyAllows } from '../firmware/emergency.machine.ts';
import { MedtwinError } from '../errors.ts';
import { meetsLeastRole, type Role } from './roles.ts';
import { RESPONSE_STATUS } from './wire-session.ts';

/** The roles a command can name as its least role (emergency is never a least role, §3.3). */
export type LeastRole = Exclude<Role, 'emergency'>;

/** What a command declares (docs/protocol.md §6). */
export interface CommandDeclaration {
  /** 16-bit command number. */
  readonly id: number;
  /** Dotted name, noun first: `therapy.stop`. */
  readonly name: string;
  readonly leastRole: LeastRole;
  /** Whether the emergency (break-glass) role may use it (§7). */
  readonly emergency: boolean;
  /** Whether it can start or increase delivery; then never for emergency (§6). */
  readonly increasesDelivery: boolean;
}

/** What a handler answers: a response status (§5.4) and its payload. */
export interface CommandResult {
  readonly status: number;
  readonly payload?: Uint8Array;
}

/** One authorized request as a handler sees it. */
export interface CommandRequest {
  readonly command: CommandDeclaration;
  readonly requestId: number;
  readonly payload: Uint8Array;
  /** The session's role (already checked against the declaration). */
  readonly role: Role;
  /** The bonded client's id; undefined for a break-glass session (no bond). */
  readonly clientId: Uint8Array | undefined;
  /**
   * Answer later, for a handler that returns undefined (work on the device's other machines).
   * A second answer, or one after the session ended, is ignored.
   */
  readonly respond: (result: CommandResult) => void;
}

/** Runs an authorized command: answer now (a result) or later (undefined, then `respond`). */
export type CommandHandler = (request: CommandRequest) => CommandResult | undefined;

export interface Command extends CommandDeclaration {
  readonly handler: CommandHandler;
}

/** The session's read-only view of the registry (the machine's guards look commands up here). */
export interface CommandTable {
  get(id: number): Command | undefined;
}

export type Authorization = { readonly ok: true } | { readonly ok: false; readonly status: typeof RESPONSE_STATUS.insufficientRole };

const REFUSED: Authorization = { ok: false, status: RESPONSE_STATUS.insufficientRole };
const ALLOWED: Authorization = { ok: true };

/**
 * May `role` run `command`? §3.3 and §6: the emergency role only commands marked emergency
 * and never one that increases delivery (checked here as well as at registration: defence in
 * depth); every other role by rank against the least role. Pure.
 */
export function authorize(role: Role, command: CommandDeclaration): Authorization {
  if (role === 'emergency') return emergencyAllows(command) ? ALLOWED : REFUSED;
  return meetsLeastRole(role, command.leastRole) ? ALLOWED : REFUSED;
}

const LEAST_ROLES: readonly LeastRole[] = ['patient', 'clinician', 'service'];

/** The device's commands by number. Registration refuses declarations that break §6. */
export class CommandRegistry implements CommandTable {
  private readonly byId = new Map<number, Command>();

  constructor(commands: readonly Command[] = []) {
    for (const c of commands) this.register(c);
  }

  /**
   * Add a command. Throws (a firmware bug, not a peer's input) for: a number outside 16 bits,
   * a number or name already taken, an unknown least role, and a command marked both
   * emergency and increasesDelivery (§6: emergency never increases delivery).
   */
  register(command: Command): void {
    const { id, name } = command;
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new MedtwinError('command.id', `command ${name}: id ${id} is not a 16-bit number`);
    if (this.byId.has(id)) throw new MedtwinError('command.duplicate', `command ${name}: id 0x${id.toString(16)} is already ${this.byId.get(id)!.name}`);
    for (const c of this.byId.values()) {
      if (c.name === name) throw new MedtwinError('command.duplicate', `command name ${name} is already 0x${c.id.toString(16)}`);
    }
    if (!LEAST_ROLES.includes(command.leastRole)) throw new MedtwinError('command.role', `command ${name}: least role ${String(command.leastRole)} is not patient, clinician or service`);
    if (command.emergency && command.increasesDelivery) {
      throw new MedtwinError('command.emergency', `command ${name} is marked emergency and increasesDelivery: the emergency role never increases delivery (docs/protocol.md §6)`);
    }
    if (typeof command.handler !== 'function') throw new MedtwinError('command.handler', `command ${name} has no handler`);
    this.byId.set(id, Object.freeze({ ...command }));
  }

  get(id: number): Command | undefined {
    return this.byId.get(id);
  }

  /** Every command, by number. */
  list(): Command[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }
}

// ─── the generic commands every device has (docs/protocol.md §6) ───────────────────────────

export const GENERIC_COMMANDS = {
  deviceInfo: { id: 0x0001, name: 'device.info', leastRole: 'patient', emergency: true, increasesDelivery: false },
  auditRead: { id: 0x0002, name: 'audit.read', leastRole: 'clinician', emergency: true, increasesDelivery: false },
  bondsList: { id: 0x0003, name: 'bonds.list', leastRole: 'service', emergency: false, increasesDelivery: false },
  unpair: { id: 0x0004, name: 'unpair', leastRole: 'patient', emergency: false, increasesDelivery: false },
  therapyStop: { id: 0x0010, name: 'therapy.stop', leastRole: 'patient', emergency: true, increasesDelivery: false },
  therapySuspend: { id: 0x0011, name: 'therapy.suspend', leastRole: 'patient', emergency: true, increasesDelivery: false },
  therapyResume: { id: 0x0012, name: 'therapy.resume', leastRole: 'patient', emergency: false, increasesDelivery: true },
} as const satisfies Record<string, CommandDeclaration>;

export type GenericCommandName = keyof typeof GENERIC_COMMANDS;

/** The generic commands with the handlers the device composition supplies (all seven). */
export function genericCommands(handlers: Readonly<Record<GenericCommandName, CommandHandler>>): Command[] {
  return (Object.keys(GENERIC_COMMANDS) as GenericCommandName[]).map((k) => ({ ...GENERIC_COMMANDS[k], handler: handlers[k] }));
}
