import { describe, expect, it } from 'vitest';
import type { PairResult } from '../../src/client/pairing-client.ts';
import type { ClientResponse, ClientSession } from '../../src/client/session-client.ts';
import { AUDIT_EVENTS, verifyAuditChain } from '../../src/firmware/audit-log.ts';
import { GENERIC_COMMANDS } from '../../src/session/commands.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { Rng } from '../../src/sim/random.ts';
import { Phone } from '../../src/client/phone.ts';
import { SimCentral } from '../../src/sim/air/central.ts';
import { SERIAL, secureRig, type SecureRig } from './secure-fixture.ts';

const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');

function request(rig: SecureRig, s: ClientSession, command: number, payload?: Uint8Array): ClientResponse {
  return rig.settle<ClientResponse>((done) => s.request(command, payload, done));
}

function opened(rig: SecureRig, s: ClientSession): void {
  rig.settle<void>((done) => {
    const off = s.on((e) => {
      if (e.type === 'open' || e.type === 'closed') {
        off();
        done();
      }
    });
  });
  expect(s.state).toBe('open');
}

describe('the secure firmware end to end over the air (GATT, pairing, sessions)', () => {
  it('pairs by numeric comparison on the display and buttons, opens a session, reconnects, runs commands', () => {
    const rig = secureRig();
    rig.world.runFor(3_000_000); // the device prepares its first ephemeral key at boot
    const phone = rig.phone('phone', '11:22:33:44:55:66');
    const c = rig.connect(phone);
    expect(ascii(c.certificate.subarray(2, 10))).toBe(SERIAL);

    const seen: string[] = [];
    const t0 = rig.world.nowUs;
    const ledger0 = rig.board.ledger.summary().cpuCycles;
    const paired = rig.settle<PairResult>((done) =>
      phone.pair(
        c,
        {
          method: 'numeric-comparison',
          deviceType: 'insulin-pump',
          user: {
            compare: (six, answer) => {
              // The person holding both: reads the pump's display, presses OK there, says yes on the phone.
              seen.push(six, rig.board.display.shown().value);
              rig.board.buttons.press('ok');
              rig.world.alarm().setAlarm(500_000, () => answer(true));
              return undefined;
            },
          },
        },
        done,
      ),
    );
    expect(paired).toMatchObject({ ok: true, bond: { role: 'patient', deviceSerial: SERIAL } });
    expect(seen[0]).toMatch(/^\d{6}$/);
    expect(seen[1]).toBe(seen[0]);
    // The pairing's ECDH ran on the chip: ≥ 45 M cycles, and the PAIR_RESPONSE waited for it.
    expect(rig.board.ledger.summary().cpuCycles - ledger0).toBeGreaterThanOrEqual(45_000_000);
    expect(rig.world.nowUs - t0).toBeGreaterThan(940_000);
    expect(rig.pairingBudgets.map((b) => [b.budget, b.ok])).toEqual([['pairing CPU (patient)', true]]);
    expect(rig.world.trace.filter({ layer: 'pairing', kind: 'pairing.budget' })).toHaveLength(1);

    // A session on the same connection, then commands.
    const s1 = phone.openSession(c, SERIAL)!;
    opened(rig, s1);
    const info = request(rig, s1, GENERIC_COMMANDS.deviceInfo.id);
    expect(info).toMatchObject({ ok: true, status: 0 });
    expect(ascii((info as { payload: Uint8Array }).payload.subarray(1, 9))).toBe(SERIAL);
    expect(request(rig, s1, GENERIC_COMMANDS.therapyStop.id)).toMatchObject({ ok: true, status: 0 });
    // A patient may not read the audit log (clinician).
    expect(request(rig, s1, GENERIC_COMMANDS.auditRead.id, Uint8Array.of(1, 0, 0, 0, 10))).toMatchObject({ ok: true, status: 0x02 });
    c.disconnect();
    rig.world.runFor(1_000_000);

    // Reconnect: the bond is proved again with fresh nonces; no pairing.
    const c2 = rig.connect(phone);
    const s2 = phone.openSession(c2, SERIAL)!;
    opened(rig, s2);
    expect(request(rig, s2, GENERIC_COMMANDS.therapySuspend.id)).toMatchObject({ ok: true, status: 0 });
    expect(rig.therapyCalls).toEqual(['stop:command', 'suspend']);

    // The audit log tells the story, and its chain verifies.
    const records = rig.device.audit.read(1, 50);
    const events = records.map((r) => new DataView(r.buffer, r.byteOffset).getUint16(12, true));
    expect(events).toEqual([
      AUDIT_EVENTS.boot,
      AUDIT_EVENTS['pairing.ok'],
      AUDIT_EVENTS['session.opened'],
      AUDIT_EVENTS['command.refused'],
      AUDIT_EVENTS['session.opened'],
    ]);
    expect(verifyAuditChain(records, { serial: SERIAL, hash: (b) => sha256(b) })).toMatchObject({ ok: true, count: 5 });
  });

  it('pairs by passkey entry (typed from the display) as a clinician with a credential, then reads the audit log', () => {
    const rig = secureRig('secure-e2e-3');
    rig.world.runFor(3_000_000);
    const clinic = rig.phone('clinic', '22:22:22:22:22:22');
    const credential = rig.manufacturer.issueCredential('clinician', new Rng('client-id\u0000clinic').bytes(16), 4_000_000_000);
    const c = rig.connect(clinic);
    const typed: string[] = [];
    const r = rig.settle<PairResult>((done) =>
      clinic.pair(
        c,
        {
          method: 'passkey',
          role: 'clinician',
          credential,
          deviceType: 'insulin-pump',
          user: {
            passkey: () => {
              typed.push(rig.board.display.shown().value);
              return Number(rig.board.display.shown().value);
            },
          },
        },
        done,
      ),
    );
    expect(r).toMatchObject({ ok: true, bond: { role: 'clinician' } });
    expect(typed[0]).toMatch(/^\d{6}$/);
    const s = clinic.openSession(c, SERIAL)!;
    opened(rig, s);
    expect(s.role).toBe('clinician');
    const audit = request(rig, s, GENERIC_COMMANDS.auditRead.id, Uint8Array.of(1, 0, 0, 0, 10));
    expect(audit).toMatchObject({ ok: true, status: 0 });
    // count ‖ (length u16 ‖ record)…: boot, pairing.ok, session.opened.
    expect((audit as { payload: Uint8Array }).payload[0]).toBe(3);
    // Privileged pairing verifies the credential on the chip: ECDSA verify + ECDH ≈ 2.5 s, within its budget.
    expect(rig.pairingBudgets.map((b) => [b.budget, b.ok])).toEqual([['pairing CPU (clinician, service)', true]]);
  });

  it('a phone app built without a trace still runs its BLE host (the stack gets a silent sink)', () => {
    const rig = secureRig('secure-e2e-4');
    rig.world.runFor(3_000_000);
    const quiet = new Phone({
      name: 'quiet',
      radio: new SimCentral({ air: rig.air, name: 'quiet', address: { address: '33:33:33:33:33:33', random: false } }),
      alarm: rig.world.alarm(),
      rng: new Rng('quiet'),
      clientId: new Rng('client-id\u0000quiet').bytes(16),
      manufacturerRootPublicKey: rig.manufacturer.rootPublicKey,
    });
    const c = rig.connect(quiet);
    expect(ascii(c.certificate.subarray(2, 10))).toBe(SERIAL);
    expect(rig.world.trace.filter({ device: 'quiet', layer: 'att' })).toEqual([]);
    expect(rig.world.trace.filter({ device: 'pump', layer: 'att' }).length).toBeGreaterThan(5);
  });

  it('refuses a wrong passkey with its code, counts it, and stops therapy on a long press whatever the state', () => {
    const rig = secureRig('secure-e2e-2');
    rig.world.runFor(3_000_000);
    const mallory = rig.phone('mallory', '66:55:44:33:22:11');
    const c = rig.connect(mallory);
    const r = rig.settle<PairResult>((done) =>
      mallory.pair(c, { method: 'passkey', deviceType: 'insulin-pump', user: { passkey: () => (Number(rig.board.display.shown().value) + 1) % 1_000_000 } }, done),
    );
    expect(r).toMatchObject({ ok: false, code: 'passkey' });
    expect(rig.device.lockout.status()).toMatchObject({ locked: false, failures: 1 });
    // No session without a bond: the proof fails (0x02) and counts too.
    rig.world.runFor(1_000_000);
    rig.board.buttons.hold('stop', 2_500);
    rig.world.runFor(3_000_000);
    expect(rig.therapyCalls).toEqual(['stop:button']);
  });
});
