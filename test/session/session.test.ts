// End-to-end tests of the session on a KW31Z board over an in-memory link (docs/protocol.md §5–§7):
// handshake and commands with exact responses, then every attack and failure with its exact code.
// Not the codecs (session-wire), the crypto vectors (session-keys, record-layer) or the model test.

import { describe, expect, it } from 'vitest';
import { STORE_KEYS } from '../../src/firmware/store-keys.ts';
import { breakGlassCode } from '../../src/session/break-glass.ts';
import { deriveSessionKeys } from '../../src/session/key-schedule.ts';
import { RecordLayer } from '../../src/session/record-layer.ts';
import { SESSION_AUDIT } from '../../src/session/session.machine.ts';
import { decodeSessionMessage, encodePlaintext, encodeSessionHello, encodeSessionProof } from '../../src/session/wire-session.ts';
import { CLINICIAN, CLOCK_BASE_S, hex, KDEV, PATIENT, SERVICE, sessionFixture, spyCommands, STRANGER, toHex, type CommandCall, type SessionFixture } from './session-fixture.ts';
import { nodeCmac } from './session-node-crypto.ts';

const ESTABLISHED = 'established.traffic.open,established.idleTimer.watching,established.lifetime.uncapped';
const EMERGENCY_ESTABLISHED = 'established.traffic.open,established.idleTimer.watching,established.lifetime.capped';
const CMD = { deviceInfo: 0x0001, auditRead: 0x0002, bondsList: 0x0003, unpair: 0x0004, stop: 0x0010, suspend: 0x0011, resume: 0x0012 };

/** SESSION_FAILED messages the device sent: [reason, remainingS?]. */
function failures(fx: SessionFixture): Array<[number, number?]> {
  return fx.fromDevice().flatMap((b) => {
    const d = decodeSessionMessage(b);
    if (!d.ok || d.value.type !== 'failed') return [];
    const f = d.value.failed;
    return [f.remainingS === undefined ? ([f.reason] as [number]) : ([f.reason, f.remainingS] as [number, number])];
  });
}

const types = (msgs: Uint8Array[]): string[] => msgs.map((m) => `0x${m[0]!.toString(16).padStart(2, '0')}`);

function openOk(fx: SessionFixture, bond = PATIENT) {
  const s = fx.open(bond);
  fx.run();
  expect(s.state, JSON.stringify(s.failure)).toBe('open');
  return s;
}

/** A request record the phone sent, the n-th RECORD from the phone (0-based). */
const phoneRecords = (fx: SessionFixture) => fx.fromPhone().filter((m) => m[0] === 0x30);

describe('session handshake and commands (docs/protocol.md §5.1, §5.4, §6)', () => {
  it('opens with HELLO, CHALLENGE, PROOF, ACCEPT; the device proves itself with Pd', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    expect(types(fx.wire.map((w) => w.bytes))).toEqual(['0x20', '0x21', '0x22', '0x23']);
    expect(s.role).toBe('patient');
    expect(s.idleTimeoutS).toBe(300);
    expect(fx.device.state).toBe(ESTABLISHED);
    expect(fx.device.role).toBe('patient');
    // Check the bytes on the wire by the independent route (hand-made CMAC on node:crypto).
    const [hello, challenge, proof, accept] = fx.wire.map((w) => w.bytes) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const nc = hello.subarray(17, 33);
    const nd = challenge.subarray(1, 17);
    const kauth = nodeCmac(PATIENT.ltk, new Uint8Array([...Buffer.from('mtAK'), ...nc, ...nd]));
    expect(toHex(proof)).toBe('22' + toHex(nodeCmac(kauth, new Uint8Array([...Buffer.from('mtPC'), ...nc, ...nd]))));
    expect(toHex(accept)).toBe('23' + toHex(nodeCmac(kauth, new Uint8Array([...Buffer.from('mtPD'), ...nd, ...nc]))) + '01' + '2c01');
    expect(fx.lockout.successes).toBe(1);
    expect(fx.audit.map((a) => [a.event, a.role, toHex(a.detail)])).toEqual([[SESSION_AUDIT.sessionOpened, 'patient', toHex(PATIENT.clientId) + '01']]);
  });

  it('runs commands with exact responses, matched by request id', async () => {
    const fx = sessionFixture();
    const s = openOk(fx, CLINICIAN);
    const info = s.request(CMD.deviceInfo);
    const audit = s.request(CMD.auditRead, hex('0100000010'));
    const stop = s.request(CMD.stop);
    const unknown = s.request(0x7777, hex('00'));
    fx.run();
    expect(info.response).toEqual({ ok: true, status: 0, payload: Uint8Array.from([1, ...Buffer.from('PU000001'), 1, 0, 0]) });
    expect(audit.response).toEqual({ ok: true, status: 0, payload: hex('a005') });
    expect(stop.response).toEqual({ ok: true, status: 0, payload: new Uint8Array(0) });
    expect(unknown.response).toEqual({ ok: true, status: 0x01, payload: new Uint8Array(0) });
    expect(await stop.promise).toEqual(stop.response);
    expect(fx.calls.map((c) => [c.name, c.role, toHex(c.payload)])).toEqual([
      ['device.info', 'clinician', ''],
      ['audit.read', 'clinician', '0100000010'],
      ['therapy.stop', 'clinician', ''],
    ]);
    expect(fx.device.counters).toMatchObject({ commandsRun: 3, recordsAccepted: 4 });
  });

  it('queues requests made before the session opens and sends them on open', () => {
    const fx = sessionFixture();
    const s = fx.open(SERVICE);
    const r = s.request(CMD.bondsList);
    fx.run();
    expect(r.response).toMatchObject({ ok: true, status: 0 });
    expect(fx.calls.map((c) => [c.name, c.role])).toEqual([['bonds.list', 'service']]);
  });

  it('delivers device events to the client', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    const events: Array<[number, string]> = [];
    s.on((e) => {
      if (e.type === 'event') events.push([e.event, toHex(e.payload)]);
    });
    expect(fx.device.sendEvent(0x0101, hex('55'))).toBe(true);
    fx.run();
    expect(events).toEqual([[0x0101, '55']]);
  });

  it('answers a deferred handler later, once; a throwing handler gets status 0x06 and the session goes on', () => {
    const calls: CommandCall[] = [];
    let later: ((r: { status: number; payload?: Uint8Array }) => void) | undefined;
    const world = { now: 0 };
    const commands = spyCommands(calls, () => world.now, [
      { id: 0x0100, name: 'test.deferred', leastRole: 'patient', emergency: false, increasesDelivery: false, handler: (r) => void (later = r.respond) },
      { id: 0x0101, name: 'test.throws', leastRole: 'patient', emergency: false, increasesDelivery: false, handler: () => { throw new Error('bug'); } },
    ]);
    const fx = sessionFixture({ deps: { commands } });
    const s = openOk(fx);
    const deferred = s.request(0x0100);
    const throws = s.request(0x0101);
    fx.run();
    expect(deferred.response).toBeUndefined();
    expect(throws.response).toEqual({ ok: true, status: 0x06, payload: new Uint8Array(0) });
    later!({ status: 0, payload: hex('77') });
    later!({ status: 4 });
    fx.run();
    expect(deferred.response).toEqual({ ok: true, status: 0, payload: hex('77') });
    expect(fx.world.trace.filter({ kind: 'command.error' })).toHaveLength(1);
    expect(fx.device.state).toBe(ESTABLISHED);
  });

  it('never puts a key, the LTK or a proof into the trace', () => {
    const fx = sessionFixture({ deps: { rekeyThreshold: 2 } });
    const s = openOk(fx, CLINICIAN);
    for (let i = 0; i < 4; i++) s.request(CMD.deviceInfo);
    fx.run();
    expect(fx.device.counters.rekeys).toBeGreaterThan(0);
    const [hello, challenge, proof, accept] = fx.wire.map((w) => w.bytes) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const k = deriveSessionKeys(CLINICIAN.ltk, hello.subarray(17, 33), challenge.subarray(1, 17));
    const secrets = [CLINICIAN.ltk, k.authKey, k.c2dKey, k.d2cKey, k.c2dIv, k.d2cIv, proof.subarray(1), accept.subarray(1, 17), KDEV].map(toHex);
    const text = fx.world.trace.toJsonLines() + fx.world.trace.formatTimeline();
    for (const x of secrets) expect(text).not.toContain(x);
    expect(fx.world.trace.filter({ layer: 'session' }).length).toBeGreaterThan(5);
  });

  it('ends on the client’s close: the device terminates the link', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    s.close();
    fx.run();
    expect(s.failure).toEqual({ code: 'closed-by-client' });
    expect(fx.device.state).toBe('closed');
    expect(fx.linkClosedAtUs).toBeDefined();
  });

  it('is deterministic: the same seed gives the same bytes on the wire', () => {
    const run = () => {
      const fx = sessionFixture({ seed: 'same' });
      const s = openOk(fx);
      s.request(CMD.deviceInfo);
      fx.run();
      return fx.wire.map((w) => `${w.tUs}:${toHex(w.bytes)}`).join('\n');
    };
    expect(run()).toBe(run());
  });
});

describe('records under attack: dropped with exact codes, nothing acted on (docs/protocol.md §5.3)', () => {
  it('drops a replayed record (replay): the command runs once', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    s.request(CMD.stop);
    fx.run();
    fx.sendRaw(phoneRecords(fx)[0]!);
    fx.run();
    expect(fx.calls).toHaveLength(1);
    expect(fx.device.counters.recordsDropped.replay).toBe(1);
    expect(fx.device.state).toBe(ESTABLISHED);
  });

  it('drops a reordered record (replay): the later one runs, the earlier one not', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    let held: Uint8Array | undefined;
    fx.setIntercept((from, m) => {
      if (from === 'phone' && m[0] === 0x30 && held === undefined) {
        held = m;
        return 'drop';
      }
      return undefined;
    });
    const first = s.request(CMD.suspend);
    const second = s.request(CMD.stop);
    fx.run();
    fx.setIntercept(undefined);
    fx.sendRaw(held!);
    fx.run();
    expect(fx.calls.map((c) => c.name)).toEqual(['therapy.stop']);
    expect(second.response).toMatchObject({ ok: true, status: 0 });
    expect(first.response).toBeUndefined();
    expect(fx.device.counters.recordsDropped.replay).toBe(1);
  });

  it('drops a bit-flipped record (auth) and keeps the session', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    fx.setIntercept((from, m) => {
      if (from !== 'phone' || m[0] !== 0x30) return undefined;
      const bad = m.slice();
      bad[10] = bad[10]! ^ 0x04;
      return bad;
    });
    s.request(CMD.resume);
    fx.run();
    fx.setIntercept(undefined);
    expect(fx.calls).toEqual([]);
    expect(fx.device.counters.recordsDropped.auth).toBe(1);
    const next = s.request(CMD.deviceInfo);
    fx.run();
    expect(next.response).toMatchObject({ ok: true, status: 0 });
  });

  it('drops a truncated record: one byte short (auth), shorter than header + tag (malformed)', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    let cut = 1;
    fx.setIntercept((from, m) => (from === 'phone' && m[0] === 0x30 ? m.slice(0, cut === 1 ? m.length - 1 : 10) : undefined));
    s.request(CMD.stop);
    fx.run();
    cut = 2;
    s.request(CMD.stop);
    fx.run();
    expect(fx.calls).toEqual([]);
    expect(fx.device.counters.recordsDropped).toMatchObject({ auth: 1, malformed: 1 });
  });

  it('drops a record from another session (auth)', () => {
    // A record of an earlier session of the same bond (other nonces, so other keys).
    const earlier = sessionFixture({ seed: 'earlier' });
    openOk(earlier).request(CMD.stop);
    earlier.run();
    const stolen = phoneRecords(earlier)[0]!;
    const fx = sessionFixture({ seed: 'later' });
    openOk(fx);
    fx.sendRaw(stolen);
    fx.run();
    expect(fx.calls).toEqual([]);
    expect(fx.device.counters.recordsDropped.auth).toBe(1);
    // and one sealed with keys derived from other nonces by hand
    const forged = new RecordLayer('client', deriveSessionKeys(PATIENT.ltk, hex('11'.repeat(16)), hex('22'.repeat(16)))).seal(
      encodePlaintext({ kind: 'request', requestId: 9, command: CMD.stop, payload: new Uint8Array(0) }),
    );
    if (forged.ok) fx.sendRaw(forged.record);
    fx.run();
    expect(fx.device.counters.recordsDropped.auth).toBe(2);
    expect(fx.calls).toEqual([]);
  });

  it('drops a record of the wrong epoch (epoch) and a reflected record, wrong direction (direction)', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    fx.setIntercept((from, m) => (from === 'phone' && m[0] === 0x30 ? Uint8Array.from([m[0]!, 1, ...m.subarray(2)]) : undefined));
    s.request(CMD.stop);
    fx.run();
    fx.setIntercept(undefined);
    const info = s.request(CMD.deviceInfo);
    fx.run();
    expect(info.response).toMatchObject({ ok: true });
    const deviceRecord = fx.fromDevice().filter((m) => m[0] === 0x30).at(-1)!;
    fx.sendRaw(deviceRecord);
    fx.run();
    expect(fx.device.counters.recordsDropped).toMatchObject({ epoch: 1, direction: 1 });
    expect(fx.calls.map((c) => c.name)).toEqual(['device.info']);
  });

  it('ends the session on the third dropped record: SESSION_FAILED 0x04, security alarm, audit', () => {
    const fx = sessionFixture();
    openOk(fx);
    const junk = Uint8Array.from([0x30, 0, 0, 0, 0, 0, 9, ...new Uint8Array(20)]);
    fx.sendRaw(junk);
    fx.sendRaw(junk);
    fx.run();
    expect(fx.device.state).toBe(ESTABLISHED);
    expect(fx.alarms).toEqual([]);
    fx.sendRaw(junk);
    fx.run();
    expect(failures(fx)).toEqual([[0x04]]);
    expect(fx.alarms).toEqual(['records-dropped']);
    expect(fx.audit.at(-1)).toMatchObject({ event: SESSION_AUDIT.tooManyDrops, role: 'patient', detail: Uint8Array.of(3) });
    expect(fx.device.state).toBe('closed');
    expect(fx.linkClosedAtUs).toBeDefined();
  });
});

describe('authorization and handshake failures (docs/protocol.md §5.4, §6, §8)', () => {
  it('refuses a patient a clinician command: status 0x02 and audit 0x0060, nothing run', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    const r = s.request(CMD.auditRead, hex('0100000010'));
    const b = s.request(CMD.bondsList);
    fx.run();
    expect(r.response).toEqual({ ok: true, status: 0x02, payload: new Uint8Array(0) });
    expect(b.response).toEqual({ ok: true, status: 0x02, payload: new Uint8Array(0) });
    expect(fx.calls).toEqual([]);
    expect(fx.audit.filter((a) => a.event === 0x0060).map((a) => [a.role, toHex(a.detail)])).toEqual([
      ['patient', '0200' + '01'],
      ['patient', '0300' + '01'],
    ]);
  });

  it('answers commands before a session with SESSION_FAILED 0x01 and runs nothing', () => {
    const fx = sessionFixture();
    const forged = new RecordLayer('client', deriveSessionKeys(PATIENT.ltk, hex('11'.repeat(16)), hex('22'.repeat(16)))).seal(
      encodePlaintext({ kind: 'request', requestId: 1, command: CMD.stop, payload: new Uint8Array(0) }),
    );
    if (forged.ok) fx.sendRaw(forged.record);
    fx.run();
    expect(failures(fx)).toEqual([[0x01]]);
    expect(fx.calls).toEqual([]);
    expect(fx.linkClosedAtUs).toBeDefined();
    // a proof without a hello, on a new connection
    fx.reconnect();
    fx.sendRaw(encodeSessionProof(new Uint8Array(16)));
    fx.run();
    expect(failures(fx)).toEqual([[0x01]]);
    expect(fx.lockout.failures).toBe(0);
  });

  it('refuses a wrong proof with SESSION_FAILED 0x02, recording the lockout failure before answering', () => {
    const fx = sessionFixture();
    fx.sendRaw(encodeSessionHello({ clientId: PATIENT.clientId, nc: hex('33'.repeat(16)) }));
    fx.run();
    fx.sendRaw(encodeSessionProof(hex('44'.repeat(16))));
    fx.run();
    expect(types(fx.fromDevice())).toEqual(['0x21', '0x2f']);
    expect(failures(fx)).toEqual([[0x02]]);
    expect(fx.lockout.failuresByKind).toEqual(['session-proof']);
    const i = fx.log.indexOf('lockout.failure session-proof');
    expect(i).toBeGreaterThan(-1);
    expect(fx.log.indexOf('device 0x2f')).toBeGreaterThan(i);
    expect(fx.audit.map((a) => a.event)).toEqual([SESSION_AUDIT.proofFailed]);
  });

  it('treats a clinician bond whose credential expired as unknown: 0x02, and its role is never granted', () => {
    const fx = sessionFixture({ bonds: [{ ...CLINICIAN, credentialNotAfterS: CLOCK_BASE_S + 10 }] });
    const early = fx.open(CLINICIAN);
    fx.run();
    expect(early.state).toBe('open');
    early.close();
    fx.run();
    fx.world.runFor(11_000_000); // the device clock passes the credential's not-after
    fx.reconnect();
    const late = fx.open(CLINICIAN);
    fx.run();
    expect(late.state).toBe('closed');
    expect(late.failure).toEqual({ code: 'session-failed', reason: 0x02 });
    expect(fx.world.trace.filter({ kind: 'session.credential-expired' })).toHaveLength(1);
  });

  it('refuses a client with the wrong LTK (the client sees 0x02)', () => {
    const fx = sessionFixture();
    const s = fx.open({ ...PATIENT, ltk: hex('ff'.repeat(16)) });
    fx.run();
    expect(s.state).toBe('closed');
    expect(s.failure).toEqual({ code: 'session-failed', reason: 0x02 });
    expect(fx.lockout.failures).toBe(1);
  });

  it('challenges an unknown client id like any other (no oracle), then answers 0x02', () => {
    const fx = sessionFixture();
    const s = fx.open(STRANGER);
    fx.run();
    expect(types(fx.fromDevice())).toEqual(['0x21', '0x2f']);
    expect(s.failure).toEqual({ code: 'session-failed', reason: 0x02 });
    expect(fx.lockout.failuresByKind).toEqual(['session-proof']);
  });

  it('answers a hello during lockout with SESSION_FAILED 0x03 and the remaining seconds', () => {
    const fx = sessionFixture();
    fx.lockout.lockFor(61);
    fx.run(500_000);
    const s = fx.open();
    fx.run();
    // 61 s − 0.5 s − 15 ms link delay = 60.485 s, rounded up.
    expect(toHex(fx.fromDevice()[0]!)).toBe('2f03' + '3d000000');
    expect(s.failure).toEqual({ code: 'session-failed', reason: 0x03, remainingS: 61 });
    expect(fx.lockout.failures).toBe(0);
    expect(fx.audit.map((a) => a.event)).toEqual([SESSION_AUDIT.lockedOut]);
  });

  it('locks out after five wrong proofs, across connections', () => {
    const fx = sessionFixture();
    for (let i = 0; i < 5; i++) {
      fx.open({ ...PATIENT, ltk: hex('ee'.repeat(16)) });
      fx.run();
      fx.reconnect();
    }
    const s = fx.open();
    fx.run();
    expect(s.failure).toMatchObject({ code: 'session-failed', reason: 0x03 });
  });

  it('answers a malformed or out-of-place handshake message with 0x06', () => {
    const fx = sessionFixture();
    fx.sendRaw(hex('20' + '00'.repeat(10)));
    fx.run();
    expect(failures(fx)).toEqual([[0x06]]);
    fx.reconnect();
    openOk(fx);
    fx.sendRaw(encodeSessionHello({ clientId: PATIENT.clientId, nc: hex('33'.repeat(16)) }));
    fx.run();
    expect(failures(fx)).toEqual([[0x06]]);
  });

  it('ignores messages of other types (pairing is routed elsewhere)', () => {
    const fx = sessionFixture();
    expect(fx.device.handle(hex('0101'))).toBe('not-session');
    expect(fx.device.counters.notSession).toBe(1);
    expect(fx.device.state).toBe('awaitingHello');
  });
});

describe('idle timeout (docs/protocol.md §5.4)', () => {
  it('ends the session with 0x05 exactly 300 s of virtual time after the last valid record', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    fx.run(20_000_000);
    s.request(CMD.deviceInfo);
    fx.run(100_000);
    const sentUs = fx.wire.filter((w) => w.from === 'phone' && w.bytes[0] === 0x30).at(-1)!.tUs;
    const receivedUs = sentUs + 15_000; // linkPair's one-way latency
    // A dropped record does not count as activity.
    fx.sendRaw(Uint8Array.from([0x30, 0, 0, 0, 0, 0, 9, ...new Uint8Array(20)]));
    fx.world.runUntil(receivedUs + 300_000_000 - 1);
    expect(fx.device.state).toBe(ESTABLISHED);
    fx.world.runUntil(receivedUs + 300_000_000);
    expect(failures(fx)).toEqual([[0x05]]);
    expect(fx.wire.find((w) => w.from === 'device' && w.bytes[0] === 0x2f)!.tUs).toBe(receivedUs + 300_000_000);
    fx.run();
    expect(s.failure).toEqual({ code: 'session-failed', reason: 0x05 });
    expect(fx.audit.at(-1)?.event).toBe(SESSION_AUDIT.idleTimeout);
  });

  it('ends a connection that never says hello after the same timeout', () => {
    const fx = sessionFixture();
    fx.world.runUntil(300_000_000);
    expect(failures(fx)).toEqual([[0x05]]);
  });
});

describe('rekey (docs/protocol.md §5.3)', () => {
  it('rekeys at the threshold, and both directions keep working across epochs', () => {
    const fx = sessionFixture({ deps: { rekeyThreshold: 3 } });
    const s = openOk(fx);
    const epochs: number[] = [];
    s.on((e) => {
      if (e.type === 'rekeyed') epochs.push(e.epoch);
    });
    const answers: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = s.request(CMD.deviceInfo);
      fx.run(200_000);
      if (r.response?.ok) answers.push(r.response.status);
    }
    expect(answers).toEqual(new Array(12).fill(0));
    expect(epochs.length).toBeGreaterThanOrEqual(3);
    expect(epochs).toEqual(epochs.map((_, i) => i + 1));
    expect(fx.device.epoch).toBe(s.epoch);
    expect(fx.device.counters.rekeys).toBe(epochs.length);
    expect(fx.device.counters.recordsDropped).toMatchObject({ replay: 0, epoch: 0, auth: 0 });
    expect(s.counters.dropped).toMatchObject({ epoch: 0, auth: 0 });
  });

  it('holds device records during the rekey, so pipelined requests survive it', () => {
    const fx = sessionFixture({ deps: { rekeyThreshold: 2 } });
    const s = openOk(fx);
    const rs = Array.from({ length: 8 }, (_, i) => s.request(i % 2 === 0 ? CMD.deviceInfo : CMD.stop));
    fx.run();
    expect(rs.map((r) => r.response?.ok && r.response.status)).toEqual(new Array(8).fill(0));
    expect(fx.device.counters.rekeys).toBeGreaterThanOrEqual(1);
    expect(fx.calls).toHaveLength(8);
  });

  it('rekeys on request (composition) with the default threshold', () => {
    const fx = sessionFixture();
    const s = openOk(fx);
    fx.device.requestRekey();
    fx.run();
    expect([fx.device.epoch, s.epoch]).toEqual([1, 1]);
    const r = s.request(CMD.deviceInfo);
    fx.run();
    expect(r.response).toMatchObject({ ok: true, status: 0 });
  });
});

describe('break-glass (docs/protocol.md §7)', () => {
  const notAfter = (fx: SessionFixture) => fx.nowS() + 3600;

  it('grants emergency with a valid code: stop and audit.read run, resume (increases delivery) is refused 0x02', () => {
    const fx = sessionFixture();
    const s = fx.openBreakGlass(5, notAfter(fx));
    fx.run();
    expect(s.state).toBe('open');
    expect(s.role).toBe('emergency');
    expect(fx.device.state).toBe(EMERGENCY_ESTABLISHED);
    const stop = s.request(CMD.stop);
    const audit = s.request(CMD.auditRead, hex('0100000010'));
    const info = s.request(CMD.deviceInfo);
    const resume = s.request(CMD.resume);
    const bonds = s.request(CMD.bondsList);
    const unpair = s.request(CMD.unpair, PATIENT.clientId);
    fx.run();
    expect([stop, audit, info].map((r) => r.response?.ok && r.response.status)).toEqual([0, 0, 0]);
    expect([resume, bonds, unpair].map((r) => r.response)).toEqual(new Array(3).fill({ ok: true, status: 0x02, payload: new Uint8Array(0) }));
    expect(fx.calls.map((c) => [c.name, c.role])).toEqual([
      ['therapy.stop', 'emergency'],
      ['audit.read', 'emergency'],
      ['device.info', 'emergency'],
    ]);
    // Every use audited: the grant, each command run, each refusal.
    expect(fx.audit.map((a) => `0x${a.event.toString(16)}`)).toEqual(['0x40', '0x61', '0x61', '0x61', '0x60', '0x60', '0x60']);
    expect(fx.audit.find((a) => a.event === 0x0060)).toMatchObject({ role: 'emergency', detail: hex('1200' + '0e') });
  });

  it('persists the index before answering', () => {
    const fx = sessionFixture();
    fx.openBreakGlass(5, notAfter(fx));
    fx.run();
    expect(fx.store.get(STORE_KEYS.breakGlassIndex)).toEqual(hex('05000000'));
    const put = fx.log.indexOf('store.put 0x11');
    expect(put).toBeGreaterThan(-1);
    expect(fx.log.indexOf('device 0x23')).toBeGreaterThan(put);
  });

  it('refuses a reused index with 0x07 (index persisted across connections)', () => {
    const fx = sessionFixture();
    const first = fx.openBreakGlass(5, notAfter(fx));
    fx.run();
    expect(first.state).toBe('open');
    first.close();
    fx.run();
    fx.reconnect();
    const again = fx.openBreakGlass(5, notAfter(fx));
    fx.run();
    expect(again.failure).toEqual({ code: 'session-failed', reason: 0x07 });
    expect(types(fx.fromDevice())).toEqual(['0x2f']);
    fx.reconnect();
    const older = fx.openBreakGlass(4, notAfter(fx));
    fx.run();
    expect(older.failure).toEqual({ code: 'session-failed', reason: 0x07 });
    fx.reconnect();
    const next = fx.openBreakGlass(6, notAfter(fx));
    fx.run();
    expect(next.state).toBe('open');
  });

  it('refuses an expired code with 0x07; a code is valid through its not-after second', () => {
    const fx = sessionFixture();
    fx.run(10_000_000);
    const expired = fx.openBreakGlass(1, fx.nowS() - 1);
    fx.run();
    expect(expired.failure).toEqual({ code: 'session-failed', reason: 0x07 });
    expect(fx.audit.at(-1)).toMatchObject({ event: SESSION_AUDIT.breakGlassRefused, detail: hex('02' + '01000000') });
    expect(fx.store.get(STORE_KEYS.breakGlassIndex)).toBeUndefined();
    fx.reconnect();
    const edge = fx.openBreakGlass(1, fx.nowS());
    fx.run(100_000);
    expect(edge.state).toBe('open');
  });

  it('refuses a forged code with 0x07, counts it towards lockout and does not use up the index', () => {
    const fx = sessionFixture();
    const s = fx.openBreakGlass(3, notAfter(fx), breakGlassCode(hex('00'.repeat(16)), 3, notAfter(fx)));
    fx.run();
    expect(s.failure).toEqual({ code: 'session-failed', reason: 0x07 });
    expect(fx.lockout.failuresByKind).toEqual(['break-glass']);
    expect(fx.store.get(STORE_KEYS.breakGlassIndex)).toBeUndefined();
  });

  it('refuses with 0x07 when the index cannot be written, before granting anything', () => {
    const fx = sessionFixture();
    fx.failStorePuts(true);
    const s = fx.openBreakGlass(3, notAfter(fx));
    fx.run();
    expect(s.failure).toEqual({ code: 'session-failed', reason: 0x07 });
    expect(types(fx.fromDevice())).toEqual(['0x21', '0x2f']);
    expect(fx.audit.at(-1)).toMatchObject({ event: SESSION_AUDIT.breakGlassRefused, detail: hex('04' + '03000000') });
  });

  it('works during lockout and does not lift it', () => {
    const fx = sessionFixture();
    fx.lockout.lockFor(600);
    const bonded = fx.open();
    fx.run();
    expect(bonded.failure).toMatchObject({ reason: 0x03 });
    fx.reconnect();
    const s = fx.openBreakGlass(1, notAfter(fx));
    fx.run();
    expect(s.role).toBe('emergency');
    const stop = s.request(CMD.stop);
    fx.run();
    expect(stop.response).toMatchObject({ ok: true, status: 0 });
    expect(fx.lockout.successes).toBe(0);
    expect(fx.lockout.status().locked).toBe(true);
  });

  it('ends the emergency session at 30 min, however active it is', () => {
    const fx = sessionFixture();
    const s = fx.openBreakGlass(1, notAfter(fx));
    fx.run(100_000);
    const acceptUs = fx.wire.find((w) => w.bytes[0] === 0x23)!.tUs;
    // A request every 60 s keeps the idle timer from firing.
    while (fx.world.nowUs + 60_000_000 < acceptUs + 1_800_000_000) {
      s.request(CMD.deviceInfo);
      fx.run(60_000_000);
    }
    fx.world.runUntil(acceptUs + 1_800_000_000 - 1);
    expect(fx.device.state).toBe(EMERGENCY_ESTABLISHED);
    fx.world.runUntil(acceptUs + 1_800_000_000);
    expect(fx.device.state).toBe('closed');
    fx.run();
    expect(s.failure).toEqual({ code: 'closed-by-device' });
    expect(fx.audit.at(-1)).toMatchObject({ event: SESSION_AUDIT.breakGlassEnded, role: 'emergency' });
    expect(fx.linkClosedAtUs).toBeDefined();
  });

  it('uses the device clock: not-after is seconds on clockS, not world time', () => {
    const fx = sessionFixture();
    expect(fx.nowS()).toBe(CLOCK_BASE_S);
    const s = fx.openBreakGlass(9, CLOCK_BASE_S + 1, breakGlassCode(KDEV, 9, CLOCK_BASE_S + 1));
    fx.run();
    expect(s.state).toBe('open');
  });
});
