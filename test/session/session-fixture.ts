// Test fixture for the session: one KW31Z board (small flash, record store) running a DeviceSession
// over an in-memory linkPair to a phone, with in-test bonds, lockout, audit and a spy command table.
// Not a test file and not a production composition (devices/ compose over GATT).

import { createKw31zBoard, type Kw31zBoard } from '../../hal/kw31z/board.ts';
import { openBreakGlass, openSession, type ClientSession } from '../../src/client/session-client.ts';
import type { CostContext } from '../../src/crypto/index.ts';
import { RING_LOGS } from '../../src/firmware/store-keys.ts';
import { breakGlassCode, type BreakGlassStore } from '../../src/session/break-glass.ts';
import { CommandRegistry, genericCommands, type Command, type CommandHandler, type CommandRequest } from '../../src/session/commands.ts';
import { DeviceSession, type DeviceSessionDeps } from '../../src/session/device-session.ts';
import { linkPair, type MessageLink } from '../../src/session/link.ts';
import type { AuthFailureKind, Bond, BondLookup, LockoutPort, LockoutStatus } from '../../src/session/ports.ts';
import type { Role } from '../../src/session/roles.ts';
import { Air } from '../../src/sim/air/air.ts';
import { World } from '../../src/sim/world.ts';
import { RecordStore } from '../../src/storage/record-store.ts';

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Bonds with known LTKs (as pairing would have stored them). */
export const PATIENT = { clientId: hex('01010101010101010101010101010101'), ltk: hex('000102030405060708090a0b0c0d0e0f'), role: 'patient' as Role };
export const CLINICIAN = { clientId: hex('02020202020202020202020202020202'), ltk: hex('101112131415161718191a1b1c1d1e1f'), role: 'clinician' as Role };
export const SERVICE = { clientId: hex('03030303030303030303030303030303'), ltk: hex('202122232425262728292a2b2c2d2e2f'), role: 'service' as Role };
/** A client id no bond has. */
export const STRANGER = { clientId: hex('0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f'), ltk: hex('f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0'), role: 'patient' as Role };
/** Kdev of the device (§7). */
export const KDEV = hex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
/** The device clock at world time 0, seconds. */
export const CLOCK_BASE_S = 1_700_000_000;

/** An in-test lockout: 5 failures lock for 60 s; tests may lock it by hand. */
export class TestLockout implements LockoutPort {
  failures = 0;
  lockedUntilUs = 0;
  readonly failuresByKind: AuthFailureKind[] = [];
  successes = 0;
  constructor(
    private readonly nowUs: () => number,
    private readonly log: string[],
  ) {}
  status(): LockoutStatus {
    const remainingUs = Math.max(0, this.lockedUntilUs - this.nowUs());
    return { locked: remainingUs > 0, remainingS: Math.ceil(remainingUs / 1e6), failures: this.failures, level: 0 };
  }
  recordFailure(kind: AuthFailureKind): LockoutStatus {
    this.failures++;
    this.failuresByKind.push(kind);
    this.log.push(`lockout.failure ${kind}`);
    if (this.failures >= 5 && this.lockedUntilUs <= this.nowUs()) this.lockedUntilUs = this.nowUs() + 60e6;
    return this.status();
  }
  recordSuccess(): void {
    this.successes++;
    this.failures = 0;
    this.log.push('lockout.success');
  }
  lockFor(seconds: number): void {
    this.lockedUntilUs = this.nowUs() + seconds * 1e6;
  }
}

export interface AuditEntry {
  readonly tUs: number;
  readonly event: number;
  readonly role: Role | undefined;
  readonly detail: Uint8Array;
}

export interface CommandCall {
  readonly tUs: number;
  readonly command: number;
  readonly name: string;
  readonly role: Role;
  readonly payload: Uint8Array;
}

/** The generic commands with spy handlers: each records the call and answers ok with a small payload. */
export function spyCommands(calls: CommandCall[], nowUs: () => number, extra: Command[] = []): CommandRegistry {
  const spy =
    (answer: (r: CommandRequest) => Uint8Array = () => new Uint8Array(0)): CommandHandler =>
    (r) => {
      calls.push({ tUs: nowUs(), command: r.command.id, name: r.command.name, role: r.role, payload: r.payload });
      return { status: 0, payload: answer(r) };
    };
  const registry = new CommandRegistry(
    genericCommands({
      deviceInfo: spy(() => Uint8Array.from([1, ...Buffer.from('PU000001'), 1, 0, 0])),
      auditRead: spy((r) => Uint8Array.of(0xa0, r.payload.length)),
      bondsList: spy(),
      unpair: spy(),
      therapyStop: spy(),
      therapySuspend: spy(),
      therapyResume: spy(),
    }),
  );
  for (const c of extra) registry.register(c);
  return registry;
}

export interface WireEvent {
  readonly tUs: number;
  readonly from: 'phone' | 'device';
  readonly bytes: Uint8Array;
}

export interface SessionFixtureOptions {
  readonly seed?: string;
  readonly bonds?: readonly ((typeof PATIENT) & { readonly credentialNotAfterS?: number })[];
  readonly deps?: Partial<DeviceSessionDeps>;
  /** Change or drop a message in flight; return undefined to pass it on. */
  readonly intercept?: (from: 'phone' | 'device', m: Uint8Array) => Uint8Array | 'drop' | undefined;
  readonly aes?: 'ltc' | 'software';
}

export type SessionFixture = ReturnType<typeof sessionFixture>;

export function sessionFixture(opts: SessionFixtureOptions = {}) {
  const world = new World({ seed: opts.seed ?? 'session-test' });
  const air = new Air(world);
  const board: Kw31zBoard = createKw31zBoard({
    world,
    air,
    device: 'pump',
    address: { address: 'C0:00:00:00:00:01', random: true },
    battery: 'aaa-alkaline',
    flashSizeBytes: 16 * 2048,
  });
  const opened = RecordStore.open(board.flash, { firstSector: 0, sectorCount: 4, ringLogs: RING_LOGS });
  if (!opened.ok) throw new Error(`fixture: record store: ${opened.code}`);
  const store = opened.value;
  const log: string[] = [];
  const wire: WireEvent[] = [];
  const lockout = new TestLockout(() => world.nowUs, log);
  const audit: AuditEntry[] = [];
  const calls: CommandCall[] = [];
  const alarms: string[] = [];
  const bondList: Bond[] = (opts.bonds ?? [PATIENT, CLINICIAN, SERVICE]).map((b) => ({ createdUs: 0, credentialNotAfterS: 0, ...b }));
  const bonds: BondLookup = { find: (id) => bondList.find((b) => Buffer.from(b.clientId).equals(Buffer.from(id))) };
  const cost: CostContext = { ledger: board.ledger, costs: board.costs, aes: opts.aes ?? 'ltc' };
  let intercept = opts.intercept;
  let failPuts = false;
  const storeLog: BreakGlassStore = {
    get: (k) => store.get(k),
    put: (k, v) => {
      log.push(`store.put 0x${k.toString(16)}`);
      return failPuts ? { ok: false, code: 'flash', detail: 'test: flash refuses' } : store.put(k, v);
    },
  };
  const deps: DeviceSessionDeps = {
    alarm: board.alarm,
    entropy: board.entropy,
    cost,
    bonds,
    lockout,
    audit: (event, role, detail) => {
      audit.push({ tUs: world.nowUs, event, role, detail });
      log.push(`audit 0x${event.toString(16).padStart(4, '0')}`);
    },
    commands: opts.deps?.commands ?? spyCommands(calls, () => world.nowUs),
    store: storeLog,
    breakGlassKey: KDEV,
    clockS: () => CLOCK_BASE_S + Math.floor(world.nowUs / 1e6),
    onSecurityAlarm: (reason) => {
      alarms.push(reason);
      log.push(`alarm ${reason}`);
    },
    trace: world.trace,
    ...opts.deps,
  };
  const phoneRng = world.random.stream('phone', 'session');

  /** One connection: a fresh link and DeviceSession (the store, lockout and bonds stay). */
  function connect() {
    const link = linkPair(board.alarm, {
      tap: (from, m) => {
        const who = from === 'a' ? 'phone' : 'device';
        const r = intercept?.(who, m);
        const bytes = r === undefined ? m : r;
        if (bytes !== 'drop') {
          wire.push({ tUs: world.nowUs, from: who, bytes });
          log.push(`${who} 0x${bytes[0]!.toString(16).padStart(2, '0')}`);
        }
        return r;
      },
    });
    const device = new DeviceSession(deps, link.b);
    const conn = { phoneLink: link.a as MessageLink, deviceLink: link.b as MessageLink, device, linkClosedAtUs: undefined as number | undefined };
    link.b.setReceiver((m) => device.handle(m));
    link.b.setClosedHandler(() => {
      conn.linkClosedAtUs = world.nowUs;
      device.linkClosed();
    });
    return conn;
  }
  let conn = connect();

  const fx = {
    world,
    board,
    store,
    lockout,
    audit,
    calls,
    alarms,
    log,
    wire,
    deps,
    phoneRng,
    get device() {
      return conn.device;
    },
    get phoneLink() {
      return conn.phoneLink;
    },
    get deviceLink() {
      return conn.deviceLink;
    },
    get linkClosedAtUs() {
      return conn.linkClosedAtUs;
    },
    /** A new connection (the previous one should have ended). */
    reconnect() {
      conn = connect();
      wire.length = 0;
    },
    setIntercept(f: SessionFixtureOptions['intercept']) {
      intercept = f;
    },
    /** Make the break-glass index write fail (flash full, worn out). */
    failStorePuts(on: boolean) {
      failPuts = on;
    },
    /** Messages the device sent, in order. */
    fromDevice: () => wire.filter((w) => w.from === 'device').map((w) => w.bytes),
    fromPhone: () => wire.filter((w) => w.from === 'phone').map((w) => w.bytes),
    /** Run the world for `us` (default 1 s): enough for a few round trips on the 15 ms link. */
    run: (us = 1_000_000) => world.runFor(us),
    open: (bond: typeof PATIENT = PATIENT): ClientSession => openSession(conn.phoneLink, { bond, rng: phoneRng }),
    openBreakGlass: (index: number, notAfterS: number, code = breakGlassCode(KDEV, index, notAfterS)): ClientSession =>
      openBreakGlass(conn.phoneLink, { code, index, notAfterS, rng: phoneRng }),
    /** The phone sends raw bytes. */
    sendRaw: (bytes: Uint8Array) => conn.phoneLink.send(bytes),
    nowS: () => CLOCK_BASE_S + Math.floor(world.nowUs / 1e6),
  };
  return fx;
}
