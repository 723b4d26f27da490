// Tests for the command registry and the pure authorization rule (docs/protocol.md §3.3, §6):
// the whole role × generic-command table, and registrations that are firmware bugs. Not the session.

import { describe, expect, it } from 'vitest';
import { authorize, CommandRegistry, GENERIC_COMMANDS, genericCommands, type Command, type CommandDeclaration } from '../../src/session/commands.ts';
import type { Role } from '../../src/session/roles.ts';

const noop = () => ({ status: 0 });
const ROLES: Role[] = ['emergency', 'patient', 'clinician', 'service'];

describe('authorize (docs/protocol.md §3.3, §6)', () => {
  // Rows: command; columns: emergency, patient, clinician, service.
  const table: Array<[keyof typeof GENERIC_COMMANDS, [boolean, boolean, boolean, boolean]]> = [
    ['deviceInfo', [true, true, true, true]],
    ['auditRead', [true, false, true, true]],
    ['bondsList', [false, false, false, true]],
    ['unpair', [false, true, true, true]],
    ['therapyStop', [true, true, true, true]],
    ['therapySuspend', [true, true, true, true]],
    ['therapyResume', [false, true, true, true]],
  ];
  it.each(table)('%s: emergency, patient, clinician, service → %o', (name, allowed) => {
    const c = GENERIC_COMMANDS[name];
    ROLES.forEach((role, i) => {
      expect(authorize(role, c), `${role} ${c.name}`).toEqual(allowed[i] ? { ok: true } : { ok: false, status: 0x02 });
    });
  });

  it('never lets emergency run a command that increases delivery, even if it is marked emergency', () => {
    const sneaky: CommandDeclaration = { id: 0x99, name: 'bolus.start', leastRole: 'patient', emergency: true, increasesDelivery: true };
    expect(authorize('emergency', sneaky)).toEqual({ ok: false, status: 0x02 });
    expect(authorize('patient', sneaky)).toEqual({ ok: true });
  });
});

describe('CommandRegistry', () => {
  it('holds the seven generic commands by number', () => {
    const r = new CommandRegistry(genericCommands({ deviceInfo: noop, auditRead: noop, bondsList: noop, unpair: noop, therapyStop: noop, therapySuspend: noop, therapyResume: noop }));
    expect(r.list().map((c) => [c.id, c.name])).toEqual([
      [0x0001, 'device.info'],
      [0x0002, 'audit.read'],
      [0x0003, 'bonds.list'],
      [0x0004, 'unpair'],
      [0x0010, 'therapy.stop'],
      [0x0011, 'therapy.suspend'],
      [0x0012, 'therapy.resume'],
    ]);
    expect(r.get(0x0012)).toMatchObject({ emergency: false, increasesDelivery: true });
    expect(r.get(0x7777)).toBeUndefined();
  });

  const base: Command = { id: 0x100, name: 'x.y', leastRole: 'patient', emergency: false, increasesDelivery: false, handler: noop };
  it.each([
    ['emergency and increasesDelivery', { emergency: true, increasesDelivery: true }, 'command.emergency'],
    ['a 17-bit id', { id: 0x10000 }, 'command.id'],
    ['a least role of emergency', { leastRole: 'emergency' as never }, 'command.role'],
  ])('refuses a command marked %s with a thrown error (a firmware bug)', (_what, change, code) => {
    const r = new CommandRegistry();
    expect(() => r.register({ ...base, ...change })).toThrow(expect.objectContaining({ code }));
    expect(r.list()).toEqual([]);
  });

  it('refuses a duplicate number or name', () => {
    const r = new CommandRegistry([base]);
    expect(() => r.register({ ...base, name: 'other' })).toThrow(expect.objectContaining({ code: 'command.duplicate' }));
    expect(() => r.register({ ...base, id: 0x101 })).toThrow(expect.objectContaining({ code: 'command.duplicate' }));
  });
});
