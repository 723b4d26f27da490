// The firmware every medtwin device shares, put together on HAL interfaces: the record store,
// identity, audit log, lockout, bonds, emergency override, GATT (GAP, GATT, DIS, BAS, Secure
// Channel) and, per connection, pairing and a session. Not a device: the pump and the pH meter
// add their therapy or measurement, their commands and services (devices/).
//
// It sees only HAL interfaces (DESIGN §1); the composition root passes a board's parts.

import type { Alarm } from '../../hal/alarm.ts';
import type { Entropy } from '../../hal/entropy.ts';
import type { Flash } from '../../hal/flash.ts';
import type { Ledger } from '../../hal/ledger.ts';
import type { Power } from '../../hal/power.ts';
import type { PeripheralRadio } from '../../hal/radio.ts';
import type { ButtonName, Buttons, Display } from '../../hal/ui.ts';
import type { AdvertisingData } from '../ble/advertising.ts';
import { buildGattDb, type ServiceDef } from '../ble/gatt-db.ts';
import { GattServer } from '../ble/gatt-server.ts';
import { NO_TRACE } from '../ble/trace-sink.ts';
import { PeripheralHost } from '../ble/peripheral-host.ts';
import { BatteryService } from '../ble/services/battery.ts';
import { deviceInformationService, type DeviceModel } from '../ble/services/device-information.ts';
import { genericAccessService } from '../ble/services/generic-access.ts';
import { genericAttributeService } from '../ble/services/generic-attribute.ts';
import type { BudgetReport, CostContext, CryptoCostRows, MeteredLedger } from '../crypto/index.ts';
import { MedtwinError } from '../errors.ts';
import { BondStore } from '../session/bond-store.ts';
import { CommandRegistry, GENERIC_COMMANDS, genericCommands, type Command, type CommandResult } from '../session/commands.ts';
import { ledgerCpuMeter } from '../session/cpu-time.ts';
import { DevicePairing } from '../session/device-pairing.ts';
import { DeviceSession } from '../session/device-session.ts';
import { EphemeralKeys } from '../session/ephemeral-key.ts';
import { loadIdentity, protectWriteOnceArea, type DeviceIdentity } from '../session/identity.ts';
import type { AuditSink } from '../session/ports.ts';
import { ROLE_CODES } from '../session/roles.ts';
import { RESPONSE_STATUS } from '../session/wire-session.ts';
import type { Trace } from '../sim/trace.ts';
import { RecordStore } from '../storage/record-store.ts';
import { AuditLog, AUDIT_EVENTS, type Sha256 } from './audit-log.ts';
import { EmergencyOverride } from './emergency.machine.ts';
import { Lockout } from './lockout-store.ts';
import { GattChannelLink, secureChannelService } from './secure-channel-gatt.ts';
import { RING_LOGS } from './store-keys.ts';

/** The HAL parts the shared firmware uses. */
export interface SecureDeviceHal {
  readonly alarm: Alarm;
  readonly radio: PeripheralRadio;
  readonly flash: Flash;
  readonly entropy: Entropy;
  readonly display: Display;
  readonly buttons: Buttons;
  readonly power: Power;
  /** The device's ledger; it must also total its meters (budgets, CPU time). */
  readonly ledger: Ledger & MeteredLedger & { summary(): { cpuCycles: number; microJoules: number } };
  readonly costs: CryptoCostRows;
}

/** What stopping, suspending and resuming therapy mean on this device. */
export interface TherapyPort {
  stop(source: 'button' | 'command'): CommandResult;
  suspend(): CommandResult;
  /** Increases delivery: never reachable by the emergency role (docs/protocol.md §6). */
  resume(): CommandResult;
}

export interface SecureDeviceOptions {
  readonly hal: SecureDeviceHal;
  /** Trace and ledger name. */
  readonly device: string;
  readonly trace?: Trace;
  readonly model: DeviceModel;
  /** GAP Appearance (Assigned Numbers §2.6). */
  readonly appearance: number;
  readonly advertising: { readonly intervalUs: number; readonly data: AdvertisingData };
  /** Record store sectors (the write-once area is the flash's last sector; keep clear of it). */
  readonly store: { readonly firstSector: number; readonly sectorCount: number };
  /** A therapy device's Stop/Suspend/Resume; absent on a device that delivers nothing (the pH meter): then therapy.* are not its commands (status 0x01) and a long Stop press does nothing. */
  readonly therapy?: TherapyPort;
  /** SHA-256 for the audit chain (charged to the ledger by the composition). */
  readonly sha256: Sha256;
  /** Device-specific commands (numbers from 0x0100). */
  readonly commands?: readonly Command[];
  /** Device-specific GATT services, after the shared ones. */
  readonly services?: readonly ServiceDef[];
  /** Device clock in seconds (credential expiry, break-glass not-after). Default: the alarm, from 0. */
  readonly clockS?: () => number;
  /** The security annunciation (a session ended for forged records). */
  readonly onSecurityAlarm?: (reason: string) => void;
  /** Every pairing attempt's CPU budget report. */
  readonly onPairingBudget?: (report: BudgetReport) => void;
  readonly firmwareVersion?: string;
  /** A connection's channel closed (its session, if any, ended): e.g. the pump abandons an open IDS transaction (IDP §4.15.4.1). */
  readonly onLinkClosed?: (conn: number) => void;
  /** Button presses for a device's own local procedures: every long press (after the emergency's), and short ones no comparison is waiting for. */
  readonly onButton?: (name: ButtonName, long: boolean) => void;
}

const u16 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff];
const ok = (payload: Uint8Array = new Uint8Array(0)): CommandResult => ({ status: RESPONSE_STATUS.ok, payload });

/** One connection's channel, pairing and session. */
interface Conn {
  readonly link: GattChannelLink;
  readonly pairing: DevicePairing;
  readonly session: DeviceSession;
}

export class SecureDevice {
  readonly identity: DeviceIdentity;
  readonly store: RecordStore;
  readonly audit: AuditLog;
  readonly lockout: Lockout;
  readonly bonds: BondStore;
  readonly keys: EphemeralKeys;
  readonly emergency: EmergencyOverride;
  readonly commands: CommandRegistry;
  readonly server: GattServer;
  readonly host: PeripheralHost;
  readonly battery: BatteryService;
  private readonly cost: CostContext;
  private readonly conns = new Map<number, Conn>();
  /** Counted and dropped: channel messages of no known type. */
  unknownMessages = 0;

  constructor(private readonly opts: SecureDeviceOptions) {
    const { hal, device } = opts;
    const loaded = loadIdentity(hal.flash);
    if (!loaded.ok) throw new MedtwinError(`device.identity`, `${device}: ${loaded.code}: ${loaded.detail} (provision it first)`);
    this.identity = loaded.value;
    const opened = RecordStore.open(protectWriteOnceArea(hal.flash), { ...opts.store, ringLogs: RING_LOGS });
    if (!opened.ok) throw new MedtwinError('device.store', `${device}: record store: ${opened.code} ${opened.detail ?? ''}`.trim());
    this.store = opened.value;
    this.cost = { ledger: hal.ledger, costs: hal.costs };
    const audit = AuditLog.open({ store: this.store, serial: this.identity.serial, hash: opts.sha256, clock: hal.alarm });
    if (!audit.ok) throw new MedtwinError('device.audit', `${device}: audit log: ${audit.code}`);
    this.audit = audit.value;
    const sink: AuditSink = (event, role, detail) => this.auditSink(event, role, detail);
    sink(AUDIT_EVENTS.boot, undefined, new Uint8Array(0));
    this.lockout = new Lockout({ store: this.store, alarm: hal.alarm, audit: sink });
    this.bonds = BondStore.open({ store: this.store, storageKey: this.identity.storageKey, entropy: hal.entropy, cost: this.cost });
    const meter = ledgerCpuMeter(hal.ledger);
    this.keys = new EphemeralKeys({ alarm: hal.alarm, meter, cost: this.cost, entropy: hal.entropy, identityPrivateKey: this.identity.identityPrivateKey, ledger: hal.ledger });
    this.keys.prepare();
    this.emergency = new EmergencyOverride({ alarm: hal.alarm, therapy: { stop: (source) => void opts.therapy?.stop(source) }, audit: sink });
    this.commands = new CommandRegistry([...this.generic(), ...(opts.commands ?? [])]);

    this.battery = new BatteryService(hal.power);
    const db = buildGattDb([
      genericAccessService({ deviceName: opts.advertising.data.localName ?? device, appearance: opts.appearance }),
      genericAttributeService(),
      deviceInformationService(opts.model),
      this.battery.definition,
      secureChannelService(this.identity.certificate, (conn, f) => this.conns.get(conn)?.link.fragmentReceived(f)),
      ...(opts.services ?? []),
    ]);
    this.server = new GattServer({ db });
    this.battery.attach(this.server);
    this.host = new PeripheralHost({ env: { alarm: hal.alarm, device, trace: opts.trace ?? NO_TRACE }, radio: hal.radio, server: this.server });
    this.host.onConnect((hostLink) => this.connected(hostLink.connection.handle, () => hostLink.att.mtu, (done) => hostLink.l2cap.whenDrained(done)));
    this.host.onDisconnect((conn) => this.disconnected(conn));
    hal.buttons.setClient({
      pressed: (name) => {
        // A press that confirms or rejects a comparison is the pairing's alone (docs/protocol.md §4.2).
        const forPairing = [...this.conns.values()].some((c) => c.pairing.awaitingUser);
        for (const c of this.conns.values()) c.pairing.buttonPressed(name);
        if (!forPairing) opts.onButton?.(name, false);
      },
      longPressed: (name) => {
        this.emergency.buttonLongPressed(name);
        opts.onButton?.(name, true);
      },
    });
    this.advertise();
  }

  /**
   * Send an event (docs/protocol.md §5.4 kind 0x03) to every open session: how a device tells its
   * clients of a change (the pump's IDD Status Changed, an annunciation). The number of sessions it
   * reached; none open is not an error (a client reads the state when it next connects).
   */
  broadcast(event: number, payload: Uint8Array = new Uint8Array(0)): number {
    let sent = 0;
    for (const c of this.conns.values()) if (c.session.sendEvent(event, payload)) sent++;
    return sent;
  }

  /** Start (or resume) advertising; a failure is a configuration error. */
  advertise(): void {
    const r = this.host.startAdvertising(this.opts.advertising);
    if (!r.ok && r.code !== 'already') throw new MedtwinError('device.advertising', `${this.opts.device}: ${r.detail ?? r.code}`);
  }

  private connected(conn: number, mtu: () => number, whenDrained: (done: () => void) => void): void {
    const { hal } = this.opts;
    const sink: AuditSink = (event, role, detail) => this.auditSink(event, role, detail);
    const link = new GattChannelLink({
      server: this.server,
      conn,
      mtu,
      disconnect: () => this.host.disconnect(conn, 0x13),
      whenDrained,
      ...(this.opts.trace ? { trace: this.opts.trace } : {}),
      device: this.opts.device,
    });
    const clockS = this.opts.clockS ?? (() => Math.floor(hal.alarm.nowUs() / 1e6));
    const session = new DeviceSession(
      {
        alarm: hal.alarm,
        entropy: hal.entropy,
        cost: this.cost,
        bonds: this.bonds,
        lockout: this.lockout,
        audit: sink,
        commands: this.commands,
        store: this.store,
        breakGlassKey: this.identity.breakGlassKey,
        clockS,
        onSecurityAlarm: (reason) => {
          hal.display.showText('SECURITY');
          this.opts.onSecurityAlarm?.(reason);
        },
        ...(this.opts.trace ? { trace: this.opts.trace } : {}),
        device: this.opts.device,
      },
      link,
    );
    const pairing = new DevicePairing(
      {
        identity: this.identity,
        keys: this.keys,
        bonds: this.bonds,
        lockout: this.lockout,
        audit: sink,
        alarm: hal.alarm,
        entropy: hal.entropy,
        display: hal.display,
        cost: this.cost,
        meter: ledgerCpuMeter(hal.ledger),
        ledger: hal.ledger,
        clockS,
        // One at a time: no pairing while this connection holds a session.
        busy: () => session.role !== undefined,
        ...(this.opts.onPairingBudget ? { onBudget: this.opts.onPairingBudget } : {}),
        ...(this.opts.trace ? { trace: (kind: string, fields: Record<string, string | number | boolean>) => this.opts.trace!.record(this.opts.device, 'pairing', kind, fields) } : {}),
      },
      link,
    );
    link.setReceiver((message) => {
      const type = message[0] ?? 0;
      if (type >= 0x01 && type <= 0x0f) pairing.handle(message);
      else if (session.handle(message) === 'not-session') this.unknownMessages++;
    });
    link.setClosedHandler(() => {
      pairing.linkClosed();
      session.linkClosed();
      this.opts.onLinkClosed?.(conn);
    });
    this.conns.set(conn, { link, pairing, session });
  }

  private disconnected(conn: number): void {
    const c = this.conns.get(conn);
    this.conns.delete(conn);
    c?.link.linkDown('disconnected');
    this.opts.hal.display.clear();
    this.advertise();
  }

  /** The audit log never stops the device: a full or failing flash is traced, not thrown. */
  private auditSink(event: number, role: Parameters<AuditSink>[1], detail: Uint8Array): void {
    const r = this.audit.append(event, role, detail);
    if (!r.ok) this.note('audit.failed', { code: r.code });
  }

  /** The generic commands of docs/protocol.md §6 on this device. */
  private generic(): Command[] {
    const version = new TextEncoder().encode(this.opts.firmwareVersion ?? '0.1.0');
    const therapy = this.opts.therapy;
    const all = genericCommands({
      deviceInfo: () => ok(Uint8Array.from([...this.identity.certificate.subarray(1, 10), ...version])),
      auditRead: (req) => {
        const v = new DataView(req.payload.buffer, req.payload.byteOffset, req.payload.byteLength);
        if (req.payload.length !== 5) return { status: RESPONSE_STATUS.invalidParameters, payload: new Uint8Array(0) };
        const fromSeq = v.getUint32(0, true);
        const max = req.payload[4]!;
        // count ‖ (length u16 ‖ record)…, cut to what one channel message holds (1,024 bytes).
        const out: number[] = [0];
        for (const rec of this.audit.read(fromSeq, max)) {
          if (out.length + 2 + rec.length > 900) break;
          out.push(...u16(rec.length), ...rec);
          out[0]!++;
        }
        return ok(Uint8Array.from(out));
      },
      bondsList: () => ok(Uint8Array.from(this.bonds.list().flatMap((b) => [...b.clientId, ROLE_CODES[b.role]]))),
      unpair: (req) => {
        if (req.payload.length !== 16) return { status: RESPONSE_STATUS.invalidParameters, payload: new Uint8Array(0) };
        const own = req.clientId !== undefined && req.payload.every((x, i) => x === req.clientId![i]);
        if (req.role === 'patient' && !own) return { status: RESPONSE_STATUS.insufficientRole, payload: new Uint8Array(0) };
        const r = this.bonds.remove(req.payload);
        if (r.ok) this.auditSink(AUDIT_EVENTS.unpair, req.role, req.payload.subarray(0, 8));
        return r.ok ? ok() : { status: RESPONSE_STATUS.invalidParameters, payload: new Uint8Array(0) };
      },
      therapyStop: () => therapy!.stop('command'),
      therapySuspend: () => therapy!.suspend(),
      therapyResume: () => therapy!.resume(),
    });
    const therapyIds: readonly number[] = [GENERIC_COMMANDS.therapyStop.id, GENERIC_COMMANDS.therapySuspend.id, GENERIC_COMMANDS.therapyResume.id];
    return therapy === undefined ? all.filter((c) => !therapyIds.includes(c.id)) : all;
  }

  private note(kind: string, fields: Record<string, string>): void {
    if (this.opts.trace?.wants('app')) this.opts.trace.record(this.opts.device, 'app', kind, fields);
  }
}
