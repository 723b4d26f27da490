// Test rig for pairing: one World, one simulated KW31Z board provisioned by a seeded manufacturer,
// its bond store and prepared keys, a simple in-test lockout, and in-memory links to a client.
// Not a device composition (devices/ does that) and not a GATT test: the link is linkPair.

import { createKw31zBoard, type Kw31zBoard } from '../../hal/kw31z/board.ts';
import type { CostTable } from '../../hal/kw31z/costs.ts';
import { Air } from '../../src/sim/air/air.ts';
import { World } from '../../src/sim/world.ts';
import { Rng } from '../../src/sim/random.ts';
import { RecordStore } from '../../src/storage/record-store.ts';
import { RING_LOGS } from '../../src/firmware/store-keys.ts';
import type { BudgetReport, CostContext, CryptoCharge } from '../../src/crypto/index.ts';
import { BondStore } from '../../src/session/bond-store.ts';
import { ledgerCpuMeter } from '../../src/session/cpu-time.ts';
import { DevicePairing, type DevicePairingDeps } from '../../src/session/device-pairing.ts';
import { EphemeralKeys } from '../../src/session/ephemeral-key.ts';
import { loadIdentity, protectWriteOnceArea, provisionDevice, type DeviceIdentity, type DeviceType } from '../../src/session/identity.ts';
import { linkPair, type MessageLink } from '../../src/session/link.ts';
import { Manufacturer } from '../../src/session/manufacturer.ts';
import type { AuditSink, AuthFailureKind, Bond, LockoutPort, LockoutStatus } from '../../src/session/ports.ts';
import type { Role } from '../../src/session/roles.ts';
import { startPairing, type ClientPairing, type PairOptions, type PairResult, type PairingUser } from '../../src/client/pairing-client.ts';

export const SERIAL = 'PU000001';
/** 8 sectors (16 KB): 0..6 for the record store, 7 is the write-once area. */
export const FLASH_BYTES = 8 * 2048;
export const STORE_SECTORS = 7;

/** The simplest lockout that does the job: 5 failures → locked for 60 s; a success resets. */
export class TestLockout implements LockoutPort {
  failures = 0;
  lockedUntilUs = 0;
  readonly kinds: AuthFailureKind[] = [];
  successes = 0;
  constructor(
    private readonly nowUs: () => number,
    private readonly log: string[],
  ) {}
  status(): LockoutStatus {
    const now = this.nowUs();
    const locked = now < this.lockedUntilUs;
    return { locked, remainingS: locked ? Math.ceil((this.lockedUntilUs - now) / 1e6) : 0, failures: this.failures, level: locked ? 1 : 0 };
  }
  recordFailure(kind: AuthFailureKind): LockoutStatus {
    this.failures++;
    this.kinds.push(kind);
    this.log.push(`lockout.failure:${kind}`);
    if (this.failures >= 5) {
      this.lockedUntilUs = this.nowUs() + 60_000_000;
      this.failures = 0;
    }
    return this.status();
  }
  recordSuccess(): void {
    this.successes++;
    this.failures = 0;
    this.log.push('lockout.success');
  }
}

export interface AuditEntry {
  readonly event: number;
  readonly role: Role | undefined;
  readonly detail: Uint8Array;
}

export interface Rig {
  readonly world: World;
  readonly board: Kw31zBoard;
  readonly manufacturer: Manufacturer;
  readonly identity: DeviceIdentity;
  bonds: BondStore;
  store: RecordStore;
  readonly keys: EphemeralKeys;
  readonly lockout: TestLockout;
  readonly audit: AuditEntry[];
  /** Lockout calls and messages sent, in order: `tx:a:0f` (client) / `tx:b:0f` (device). */
  readonly log: string[];
  readonly charges: CryptoCharge[];
  readonly budgets: BudgetReport[];
  readonly preparations: Array<BudgetReport | undefined>;
  readonly cost: CostContext;
  readonly deps: DevicePairingDeps;
  readonly clientRng: Rng;
}

export interface RigOptions {
  readonly seed?: string;
  readonly manufacturerSeed?: string;
  /** Sign the device certificate with another manufacturer's root (the client trusts `manufacturerSeed`). */
  readonly certificateFrom?: string;
  readonly deviceType?: DeviceType;
  /** Run the world this long first so the boot key is prepared (default 3 s). */
  readonly bootUs?: number;
  readonly busy?: () => boolean;
  /** Another cost table (e.g. a slower chip, to see a budget exceeded). */
  readonly costs?: CostTable;
}

export function openBondStore(board: Kw31zBoard, identity: DeviceIdentity, cost: CostContext): { store: RecordStore; bonds: BondStore } {
  const opened = RecordStore.open(protectWriteOnceArea(board.flash), { firstSector: 0, sectorCount: STORE_SECTORS, ringLogs: RING_LOGS });
  if (!opened.ok) throw new Error(`record store: ${opened.code}`);
  return { store: opened.value, bonds: BondStore.open({ store: opened.value, storageKey: identity.storageKey, entropy: board.entropy, cost }) };
}

export function createRig(opts: RigOptions = {}): Rig {
  const world = new World({ seed: opts.seed ?? 'pairing' });
  const air = new Air(world);
  const board = createKw31zBoard({ world, air, device: 'pump', address: { address: 'C0:00:00:00:00:01', random: true }, battery: 'aaa-alkaline', flashSizeBytes: FLASH_BYTES, ...(opts.costs ? { costs: opts.costs } : {}) });
  const manufacturer = new Manufacturer(opts.manufacturerSeed ?? 'medtwin-test');
  const issuer = opts.certificateFrom !== undefined ? new Manufacturer(opts.certificateFrom) : manufacturer;
  const provisioning = issuer.issueDeviceIdentity(SERIAL, opts.deviceType ?? 'insulin-pump');
  const provisioned = provisionDevice(board.flash, provisioning);
  if (!provisioned.ok) throw new Error(`provision: ${provisioned.code}`);
  const loaded = loadIdentity(board.flash);
  if (!loaded.ok) throw new Error(`identity: ${loaded.code}`);
  const identity = loaded.value;
  const charges: CryptoCharge[] = [];
  const cost: CostContext = { ledger: board.ledger, costs: board.costs, onCharge: (c) => charges.push(c) };
  const meter = ledgerCpuMeter(board.ledger);
  const { store, bonds } = openBondStore(board, identity, cost);
  const log: string[] = [];
  const lockout = new TestLockout(() => world.nowUs, log);
  const audit: AuditEntry[] = [];
  const auditSink: AuditSink = (event, role, detail) => audit.push({ event, role, detail: detail.slice() });
  const preparations: Array<BudgetReport | undefined> = [];
  const keys = new EphemeralKeys({
    alarm: board.alarm,
    meter,
    cost,
    entropy: board.entropy,
    identityPrivateKey: identity.identityPrivateKey,
    ledger: board.ledger,
    onPrepared: (r) => preparations.push(r),
  });
  keys.prepare(); // boot
  const budgets: BudgetReport[] = [];
  const rig: Rig = {
    world,
    board,
    manufacturer,
    identity,
    bonds,
    store,
    keys,
    lockout,
    audit,
    log,
    charges,
    budgets,
    preparations,
    cost,
    clientRng: new Rng(`client\u0000${opts.seed ?? 'pairing'}`),
    get deps(): DevicePairingDeps {
      return {
        identity,
        keys,
        bonds: rig.bonds,
        lockout,
        audit: auditSink,
        alarm: board.alarm,
        entropy: board.entropy,
        display: board.display,
        cost,
        meter,
        ledger: board.ledger,
        onBudget: (r) => budgets.push(r),
        trace: (kind, fields) => world.trace.record('pump', 'pairing', kind, fields),
        ...(opts.busy ? { busy: opts.busy } : {}),
      };
    },
  };
  world.runFor(opts.bootUs ?? 3_000_000);
  return rig;
}

export const clientIdFor = (name: string): Uint8Array => new Rng(`client-id\u0000${name}`).bytes(16);

export interface Connection {
  readonly client: MessageLink;
  readonly deviceLink: MessageLink;
  readonly device: DevicePairing;
  readonly tx: Array<{ from: 'a' | 'b'; tUs: number; message: Uint8Array }>;
  /** Bonds the device handed to onPaired. */
  readonly paired: Bond[];
}

/** A new connection: a fresh link and DevicePairing, the board's buttons wired to it. */
export function connect(rig: Rig, tap?: (from: 'a' | 'b', m: Uint8Array) => Uint8Array | 'drop' | undefined): Connection {
  const tx: Connection['tx'] = [];
  const { a, b } = linkPair(rig.board.alarm, {
    tap: (from, m) => {
      const out = tap?.(from, m);
      if (out !== 'drop') {
        const sent = out ?? m;
        tx.push({ from, tUs: rig.world.nowUs, message: sent.slice() });
        rig.log.push(`tx:${from}:${(sent[0] ?? 0).toString(16).padStart(2, '0')}`);
      }
      return out;
    },
  });
  const paired: Bond[] = [];
  const device = new DevicePairing(rig.deps, b, { onPaired: (bond) => paired.push(bond) }).attachToLink();
  rig.board.buttons.setClient({ pressed: (n) => device.buttonPressed(n), longPressed: () => {} });
  return { client: a, deviceLink: b, device, tx, paired };
}

/** A client user who reads the device's display (as a person would) and says whether it matches. */
export function honestUser(rig: Rig, opts: { devicePress?: 'ok' | 'cancel' | 'none'; clientSays?: boolean; seen?: string[]; deviceShowed?: string[] } = {}): PairingUser {
  return {
    compare: (digits) => {
      opts.seen?.push(digits);
      const shown = rig.board.display.shown();
      opts.deviceShowed?.push(shown.value);
      const press = opts.devicePress ?? 'ok';
      if (press !== 'none') rig.board.buttons.press(press);
      return opts.clientSays ?? shown.value === digits;
    },
    passkey: () => Number(rig.board.display.shown().value),
  };
}

export interface PairRun {
  readonly result: PairResult;
  readonly client: ClientPairing;
  readonly conn: Connection;
}

/** Pair once and run the world until the client has a result (then a little more so the device settles). */
export function pairOnce(
  rig: Rig,
  opts: Partial<PairOptions> = {},
  connOpts: { tap?: (from: 'a' | 'b', m: Uint8Array) => Uint8Array | 'drop' | undefined; settleUs?: number; maxUs?: number } = {},
): PairRun {
  const conn = connect(rig, connOpts.tap);
  let result: PairResult | undefined;
  const client = startPairing(
    conn.client,
    {
      method: 'numeric-comparison',
      role: 'patient',
      clientId: clientIdFor('phone'),
      expectedDeviceType: 'insulin-pump',
      manufacturerRootPublicKey: rig.manufacturer.rootPublicKey,
      user: honestUser(rig),
      rng: rig.clientRng,
      alarm: rig.board.alarm,
      ...opts,
    },
    (r) => (result = r),
  );
  const deadline = rig.world.nowUs + (connOpts.maxUs ?? 200_000_000);
  while (result === undefined && rig.world.nowUs < deadline) rig.world.runFor(50_000);
  if (result === undefined) throw new Error('pairing did not finish');
  rig.world.runFor(connOpts.settleUs ?? 500_000);
  return { result, client, conn };
}

/** Read the whole flash, as an attacker with a debugger would. */
export function flashDump(rig: Rig): Uint8Array {
  const r = rig.board.flash.read(0, rig.board.flash.geometry.sizeBytes);
  if (!r.ok) throw new Error('flash read');
  return r.value;
}

export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
