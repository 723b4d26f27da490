// Tests for the emergency override (docs/protocol.md §7, §8): Stop in every situation, break-glass
// timing on the world clock, the emergency command rule, the audit trail. Not the model-based tests.

import { describe, expect, it } from 'vitest';
import { PowerCutError } from '../../hal/kw31z/flash.ts';
import { BUTTON_LONG_PRESS_MS, Kw31zButtons } from '../../hal/kw31z/ui.ts';
import { AUDIT_EVENTS, decodeAuditRecord, verifyAuditChain, type AuditLog } from '../../src/firmware/audit-log.ts';
import { BREAK_GLASS_MAX_US, EmergencyOverride, emergencyAllows, type EmergencyCommand } from '../../src/firmware/emergency.machine.ts';
import { Lockout } from '../../src/firmware/lockout-store.ts';
import { auditSinkOf, hash, rig, SERIAL, US_PER_S, type Rig } from './fixtures.ts';

const MIN_US = 60 * US_PER_S;

/** The §6 generic commands with their declarations. */
const COMMANDS: Record<string, EmergencyCommand> = {
  'device.info': { code: 0x0001, emergency: true, increasesDelivery: false },
  'audit.read': { code: 0x0002, emergency: true, increasesDelivery: false },
  'bonds.list': { code: 0x0003, emergency: false, increasesDelivery: false },
  unpair: { code: 0x0004, emergency: false, increasesDelivery: false },
  'therapy.stop': { code: 0x0010, emergency: true, increasesDelivery: false },
  'therapy.suspend': { code: 0x0011, emergency: true, increasesDelivery: false },
  'therapy.resume': { code: 0x0012, emergency: false, increasesDelivery: true },
};

/** A device with flash, audit log, lockout, the override and its Stop button. */
function device(r: Rig = rig()) {
  const store = r.openStore();
  const log = r.openAudit(store);
  const audit = auditSinkOf(log);
  const lockout = new Lockout({ store, alarm: r.world.alarm(), audit });
  const stops: number[] = [];
  const emergency = new EmergencyOverride({ alarm: r.world.alarm(), therapy: { stop: () => stops.push(r.world.nowUs) }, audit });
  const buttons = new Kw31zButtons({ device: 'dev', world: r.world });
  buttons.setClient({ pressed: () => {}, longPressed: (b) => emergency.buttonLongPressed(b) });
  return { r, store, log, lockout, emergency, buttons, stops };
}

function events(log: AuditLog): Array<[number, number]> {
  return log.read(1, 255).map((b) => {
    const d = decodeAuditRecord(b);
    if (!d.ok) throw new Error(d.detail);
    return [d.value.event, d.value.role];
  });
}

function lockOut(d: ReturnType<typeof device>): void {
  for (let i = 0; i < 5; i++) d.lockout.recordFailure('pairing');
  expect(d.lockout.status().locked).toBe(true);
}

describe('Stop long press (§8): always stops therapy', () => {
  it('requests therapy.stop while locked out, without a session, and during break-glass — and audits each', () => {
    const d = device();
    const { world } = d.r;
    lockOut(d);
    // 1. Locked out, no session.
    const t1 = world.nowUs;
    d.buttons.hold('stop', 3_000);
    world.runFor(5 * US_PER_S);
    expect(d.stops).toEqual([t1 + BUTTON_LONG_PRESS_MS * 1_000]);
    // 2. Break-glass granted during the lockout (it does not lift it).
    expect(d.emergency.grantBreakGlass(7, world.nowUs + 10 * MIN_US)).toMatchObject({ ok: true });
    const t2 = world.nowUs;
    d.buttons.hold('stop', 2_500);
    world.runFor(5 * US_PER_S);
    expect(d.stops[1]).toBe(t2 + BUTTON_LONG_PRESS_MS * 1_000);
    expect(d.lockout.status().locked).toBe(true);
    // 3. After the lockout and the break-glass ended.
    world.runFor(60 * MIN_US);
    expect(d.lockout.status().locked).toBe(false);
    expect(d.emergency.status().breakGlass).toBe(false);
    d.buttons.hold('stop', 2_000);
    world.runFor(5 * US_PER_S);
    expect(d.stops).toHaveLength(3);

    const stopRecords = d.log
      .read(1, 255)
      .map((b) => decodeAuditRecord(b))
      .filter((x) => x.ok && x.value.event === AUDIT_EVENTS['emergency.stop']);
    expect(stopRecords).toHaveLength(3);
    for (const [i, rec] of stopRecords.entries()) {
      // Stamped at the press, role 0 (a local user), detail: source 1 = the Stop button.
      expect(rec).toMatchObject({ ok: true, value: { timeUs: d.stops[i], role: 0, detail: Uint8Array.of(1) } });
    }
    expect(verifyAuditChain(d.log.read(1, 255), { serial: SERIAL, hash })).toMatchObject({ ok: true });
  });

  it('needs a long press: a short press of Stop or a long press of another button stops nothing', () => {
    const d = device();
    d.buttons.press('stop');
    d.buttons.hold('ok', 3_000);
    d.r.world.runFor(5 * US_PER_S);
    expect(d.stops).toEqual([]);
  });

  it('stops therapy before writing the audit record: a power cut during the record cannot lose the stop', () => {
    const d = device();
    d.buttons.hold('stop', 3_000);
    d.r.flash.armPowerCut(0);
    expect(() => d.r.world.runFor(5 * US_PER_S)).toThrow(PowerCutError);
    expect(d.stops).toHaveLength(1);
  });
});

describe('break-glass access (§7)', () => {
  it('ends at exactly its expiry on the clock, audited as expired', () => {
    const d = device();
    const { world } = d.r;
    world.runUntil(100 * US_PER_S);
    const until = world.nowUs + 10 * MIN_US;
    expect(d.emergency.grantBreakGlass(9, until)).toEqual({ ok: true, untilUs: until });
    expect(d.emergency.status()).toEqual({ breakGlass: true, remainingS: 600, index: 9 });
    world.runUntil(until - 1);
    expect(d.emergency.status()).toEqual({ breakGlass: true, remainingS: 1, index: 9 });
    expect(d.emergency.authorize(1, COMMANDS['device.info']!)).toEqual({ ok: true });
    world.runUntil(until);
    expect(d.emergency.status()).toEqual({ breakGlass: false, remainingS: 0, index: 0 });
    expect(d.emergency.authorize(2, COMMANDS['device.info']!)).toEqual({ ok: false, code: 'no-breakglass', status: 0x06 });
    const expired = d.log
      .read(1, 255)
      .map((b) => decodeAuditRecord(b))
      .find((x) => x.ok && x.value.event === AUDIT_EVENTS['breakglass.used'] && x.value.detail[0] === 4);
    // phase 4 (expired), index 9, stamped at the expiry.
    expect(expired).toMatchObject({ ok: true, value: { timeUs: until, role: 14, detail: Uint8Array.of(4, 9, 0, 0, 0, 0, 0) } });
  });

  it('lasts at most 30 minutes whatever the grant asks for', () => {
    const d = device();
    const now = d.r.world.nowUs;
    expect(d.emergency.grantBreakGlass(1, now + 2 * 60 * MIN_US)).toEqual({ ok: true, untilUs: now + BREAK_GLASS_MAX_US });
    d.r.world.runUntil(now + BREAK_GLASS_MAX_US);
    expect(d.emergency.status().breakGlass).toBe(false);
  });

  it('refuses a grant that ends now or earlier, and a second grant while one is active — both audited', () => {
    const d = device();
    const now = d.r.world.nowUs;
    expect(d.emergency.grantBreakGlass(1, now)).toEqual({ ok: false, code: 'bad-expiry' });
    expect(d.emergency.grantBreakGlass(2, now + MIN_US)).toMatchObject({ ok: true });
    expect(d.emergency.grantBreakGlass(3, now + 20 * MIN_US)).toEqual({ ok: false, code: 'busy' });
    expect(d.emergency.status()).toMatchObject({ index: 2, remainingS: 60 });
    d.emergency.refuseBreakGlass(4, 'proof-failed');
    expect(events(d.log)).toEqual([
      [AUDIT_EVENTS['breakglass.refused'], 14],
      [AUDIT_EVENTS['breakglass.used'], 14],
      [AUDIT_EVENTS['breakglass.refused'], 14],
      [AUDIT_EVENTS['breakglass.refused'], 14],
    ]);
    const details = d.log.read(1, 255).map((b) => decodeAuditRecord(b)).map((x) => (x.ok ? [...x.value.detail] : []));
    expect(details).toEqual([
      [5, 1, 0, 0, 0], // bad-expiry, index 1
      [1, 2, 0, 0, 0, 60, 0], // granted, index 2, 60 s
      [4, 3, 0, 0, 0], // busy, index 3
      [3, 4, 0, 0, 0], // proof-failed, index 4
    ]);
  });

  it('ends with the session, and the timer does not fire afterwards', () => {
    const d = device();
    d.emergency.grantBreakGlass(5, d.r.world.nowUs + 10 * MIN_US);
    d.r.world.runFor(MIN_US);
    d.emergency.endBreakGlass();
    expect(d.emergency.status().breakGlass).toBe(false);
    const before = events(d.log).length;
    d.r.world.runFor(20 * MIN_US);
    expect(events(d.log).length).toBe(before);
    expect(d.r.world.scheduler.pending).toBe(0);
  });

  it('never lifts a lockout', () => {
    const d = device();
    lockOut(d);
    const deadline = d.lockout.state().deadlineUs;
    d.emergency.grantBreakGlass(1, d.r.world.nowUs + 10 * MIN_US);
    d.emergency.authorize(1, COMMANDS['therapy.stop']!);
    d.emergency.endBreakGlass();
    expect(d.lockout.status().locked).toBe(true);
    expect(d.lockout.state().deadlineUs).toBe(deadline);
  });
});

describe('emergency command rule (§6)', () => {
  it.each([
    { emergency: true, increasesDelivery: false, allows: true },
    { emergency: false, increasesDelivery: false, allows: false },
    { emergency: false, increasesDelivery: true, allows: false },
    { emergency: true, increasesDelivery: true, allows: false },
  ])('emergencyAllows($emergency, $increasesDelivery) = $allows', ({ emergency, increasesDelivery, allows }) => {
    expect(emergencyAllows({ emergency, increasesDelivery })).toBe(allows);
  });

  it.each([
    ['device.info', { ok: true }],
    ['audit.read', { ok: true }],
    ['therapy.stop', { ok: true }],
    ['therapy.suspend', { ok: true }],
    ['bonds.list', { ok: false, code: 'not-emergency', status: 0x02 }],
    ['unpair', { ok: false, code: 'not-emergency', status: 0x02 }],
    ['therapy.resume', { ok: false, code: 'increases-delivery', status: 0x02 }],
  ] as const)('during break-glass, %s → %j', (name, answer) => {
    const d = device();
    d.emergency.grantBreakGlass(1, d.r.world.nowUs + 10 * MIN_US);
    expect(d.emergency.authorize(42, COMMANDS[name]!)).toEqual(answer);
    const last = decodeAuditRecord(d.log.read(2, 1)[0]!);
    if (answer.ok) expect(last).toMatchObject({ ok: true, value: { event: AUDIT_EVENTS['breakglass.used'], detail: Uint8Array.of(2, 1, 0, 0, 0, COMMANDS[name]!.code, 0) } });
    else expect(last).toMatchObject({ ok: true, value: { event: AUDIT_EVENTS['command.refused'], role: 14 } });
  });

  it('refuses a command declared both emergency and increasing delivery (a table mistake)', () => {
    const d = device();
    d.emergency.grantBreakGlass(1, d.r.world.nowUs + 10 * MIN_US);
    expect(d.emergency.authorize(1, { code: 0x0100, emergency: true, increasesDelivery: true })).toEqual({ ok: false, code: 'increases-delivery', status: 0x02 });
    const last = decodeAuditRecord(d.log.read(2, 1)[0]!);
    // command 0x0100, status 0x02, reason 3.
    expect(last).toMatchObject({ ok: true, value: { event: AUDIT_EVENTS['command.refused'], detail: Uint8Array.of(0x00, 0x01, 0x02, 3) } });
  });

  it('refuses every command without break-glass access', () => {
    const d = device();
    for (const [i, command] of Object.values(COMMANDS).entries()) {
      expect(d.emergency.authorize(i, command)).toEqual({ ok: false, code: 'no-breakglass', status: 0x06 });
    }
    expect(events(d.log).every(([e]) => e === AUDIT_EVENTS['command.refused'])).toBe(true);
  });
});
