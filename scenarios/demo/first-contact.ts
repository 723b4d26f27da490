// The first demo: a simulated KW31Z advertises, a simulated phone scans, connects, exchanges a
// few data PDUs and disconnects, all on the world's virtual clock. Not the pump or the pH meter.
//
// It also opens the board's journaled record store and counts boots, so `--flash-image`
// shows flash surviving between runs. The ledger and a battery projection close the run.

import { createKw31zBoard, type Kw31zBoard } from '../../hal/kw31z/board.ts';
import { projectBatteryLife, type BatteryKind, type BatteryLifeProjection } from '../../hal/kw31z/battery.ts';
import type { LedgerSummary } from '../../hal/kw31z/ledger.ts';
import type { BdAddress, Connection } from '../../hal/radio.ts';
import { MedtwinError } from '../../src/errors.ts';
import { Air } from '../../src/sim/air/air.ts';
import { defaultSupervisionTimeoutUs, SimCentral } from '../../src/sim/air/central.ts';
import { capturePcap, type PcapCapture } from '../../src/sim/capture/pcap-file.ts';
import { US_PER_MS, US_PER_S } from '../../src/sim/scheduler.ts';
import { World } from '../../src/sim/world.ts';
import { RecordStore } from '../../src/storage/record-store.ts';

/** The device profiles the demo can put on the air: name, address and battery as they will ship. */
export const DEMO_DEVICES = {
  pump: { localName: 'medtwin pump', address: 'C0:00:00:00:00:01', battery: 'aaa-alkaline' },
  'ph-meter': { localName: 'medtwin pH', address: 'C0:00:00:00:00:02', battery: 'cr2032' },
} as const satisfies Record<string, { localName: string; address: string; battery: BatteryKind }>;
export type DemoDevice = keyof typeof DEMO_DEVICES;
export const DEMO_DEVICE_NAMES = Object.keys(DEMO_DEVICES) as DemoDevice[];

export interface FirstContactOptions {
  readonly seed?: string;
  readonly device?: DemoDevice;
  readonly advIntervalMs?: number;
  readonly connIntervalMs?: number;
  /** Probability that any one PDU is lost on the air, 0..1. */
  readonly loss?: number;
  /** Default: the device profile's battery. */
  readonly battery?: BatteryKind;
  readonly flashImagePath?: string;
  /** Request/response pairs the phone sends once connected. */
  readonly exchanges?: number;
  /** Write everything on the air to this pcap file (LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR). */
  readonly pcapPath?: string;
  /** Trace per-event chatter too (advertising nobody hears, empty PDUs). */
  readonly verbose?: boolean;
}

export interface FirstContactResult {
  readonly world: World;
  readonly board: Kw31zBoard;
  readonly device: DemoDevice;
  readonly battery: BatteryKind;
  /** Boots recorded in the board's flash, this one included. */
  readonly bootCount: number;
  /** Replies the phone received, in order. */
  readonly replies: readonly string[];
  readonly connectedAtUs: number | undefined;
  readonly disconnectedAtUs: number | undefined;
  readonly ledger: LedgerSummary;
  readonly projection: BatteryLifeProjection;
  /** Frames written to the pcap file; 0 without one. */
  readonly pcapFrames: number;
}

const PHONE: BdAddress = { address: '11:22:33:44:55:66', random: false };
/** Store layout for the demo: sectors 0..2 of the board's flash, key 1 = boot counter. */
const DEMO_STORE = { firstSector: 0, sectorCount: 3 } as const;
const BOOT_COUNT_KEY = 1;
/** How long the world runs after the phone hangs up: the device goes back to advertising. */
const TAIL_US = 2 * US_PER_S;
/** Give up if the phone has not finished by then (loss can stretch a run; nothing should take this long). */
const MAX_RUN_US = 120 * US_PER_S;

const ascii = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** AD structures (Supplement to the Core Spec Part A §1.3 flags, §1.2 local name). */
function advData(localName: string): { advData: Uint8Array; scanRspData: Uint8Array } {
  const flags = Uint8Array.of(2, 0x01, 0x06); // LE General Discoverable, BR/EDR not supported
  const name = ascii(localName);
  const scanRsp = Uint8Array.of(name.length + 1, 0x09, ...name); // Complete Local Name
  return { advData: flags, scanRspData: scanRsp };
}

function check(name: string, value: number, min: number, max: number, unit: string): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new MedtwinError('demo.config', `${name} must be ${min}–${max} ${unit}, got ${value}`);
  }
}

/** Throw a coded error unless the HAL accepted the call. */
function halOk(what: string, r: { ok: boolean; code?: string; detail?: string }): void {
  if (!r.ok) throw new MedtwinError('demo.config', `${what}: ${r.detail ?? r.code}`);
}

function bootCountFrom(board: Kw31zBoard): number {
  const opened = RecordStore.open(board.flash, DEMO_STORE);
  if (!opened.ok) throw new MedtwinError('demo.flash', `record store: ${opened.code} ${opened.detail ?? ''}`.trim());
  const store = opened.value;
  const old = store.get(BOOT_COUNT_KEY);
  const count = (old && old.length === 4 ? new DataView(old.buffer, old.byteOffset).getUint32(0, true) : 0) + 1;
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, count, true);
  const put = store.put(BOOT_COUNT_KEY, value);
  if (!put.ok) throw new MedtwinError('demo.flash', `record store: ${put.code} ${put.detail ?? ''}`.trim());
  board.world.trace.record(board.device, 'app', 'boot', { count });
  return count;
}

export function runFirstContact(opts: FirstContactOptions = {}): FirstContactResult {
  const device = opts.device ?? 'pump';
  const profile = DEMO_DEVICES[device];
  if (profile === undefined) {
    throw new MedtwinError('demo.device', `unknown device "${device}" (have: ${DEMO_DEVICE_NAMES.join(', ')})`);
  }
  const advIntervalMs = opts.advIntervalMs ?? 100;
  const connIntervalMs = opts.connIntervalMs ?? 30;
  const loss = opts.loss ?? 0;
  const exchanges = opts.exchanges ?? 3;
  check('advertising interval', advIntervalMs, 20, 10_240, 'ms');
  check('connection interval', connIntervalMs, 7.5, 4_000, 'ms');
  check('loss', loss, 0, 0.9, '(probability)');
  check('exchanges', exchanges, 1, 100, 'pairs');
  const battery = opts.battery ?? profile.battery;

  const world = new World({ seed: opts.seed ?? 'demo', trace: { verbose: opts.verbose ?? false } });
  const air = new Air(world, { lossProbability: loss });
  // Before anything advertises: Wireshark follows a connection only from its CONNECT_IND.
  const capture: PcapCapture | undefined = opts.pcapPath !== undefined ? capturePcap(air, opts.pcapPath) : undefined;
  const board = createKw31zBoard({
    world,
    air,
    device,
    address: { address: profile.address, random: true },
    battery,
    ...(opts.flashImagePath !== undefined ? { flashImagePath: opts.flashImagePath } : {}),
  });
  try {
    const bootCount = bootCountFrom(board);
    const phone = new SimCentral({ air, name: 'phone', address: PHONE });
    const ad = advData(profile.localName);
    const advertise = (): void =>
      halOk(
        'advertising',
        board.radio.startAdvertising({ intervalUs: Math.round(advIntervalMs * US_PER_MS), ...ad, connectable: true }),
      );

    // The device: answer each request with its status; advertise again after a disconnect.
    let served = 0;
    board.radio.setClient({
      connected: () => {},
      received: (handle, _llid, payload) => {
        served++;
        const battery = board.power.battery();
        // One LL payload (27 bytes): this demo has no L2CAP to fragment a longer answer.
        const reply = `ok #${served} battery ${battery.levelPercent}% ${battery.milliVolts} mV`.slice(0, board.radio.maxPayloadBytes);
        world.trace.record(device, 'app', 'reply', { handle, to: text(payload), text: reply });
        board.radio.send(handle, 2, ascii(reply));
      },
      disconnected: () => advertise(),
    });

    // The phone: scan, connect on the first scan response, ask `exchanges` times, hang up.
    const replies: string[] = [];
    let conn: Connection | undefined;
    let connectedAtUs: number | undefined;
    let disconnectedAtUs: number | undefined;
    let connecting = false;
    const ask = (handle: number): void => {
      const request = `status? ${replies.length + 1}`;
      world.trace.record('phone', 'app', 'request', { handle, text: request });
      phone.send(handle, 2, ascii(request));
    };
    const connIntervalUs = Math.round((connIntervalMs * US_PER_MS) / 1250) * 1250;
    phone.setClient({
      advertisement: (r) => {
        if (connecting || r.pduType !== 'scan_rsp' || r.address.address !== profile.address) return;
        connecting = true;
        halOk('scan', phone.stopScanning());
        const supervisionTimeoutUs = defaultSupervisionTimeoutUs(connIntervalUs);
        halOk('connect', phone.connect(r.address, { intervalUs: connIntervalUs, latency: 0, supervisionTimeoutUs }));
      },
      connected: (c) => {
        conn = c;
        connectedAtUs = world.nowUs;
        ask(c.handle);
      },
      received: (handle, _llid, payload) => {
        replies.push(text(payload));
        if (replies.length < exchanges) ask(handle);
        else phone.disconnect(handle, 0x13); // remote user terminated connection
      },
      disconnected: () => {
        disconnectedAtUs = world.nowUs;
      },
    });

    advertise();
    halOk('scan', phone.startScanning({ active: true }));
    while (disconnectedAtUs === undefined && world.nowUs < MAX_RUN_US) world.runFor(10 * US_PER_MS);
    if (disconnectedAtUs === undefined) {
      throw new MedtwinError('demo.timeout', `the phone did not finish within ${MAX_RUN_US / US_PER_S} s (connected: ${conn !== undefined}, replies: ${replies.length})`);
    }
    world.runFor(TAIL_US);
    const ledger = board.ledger.summary();
    return {
      world,
      board,
      device,
      battery,
      bootCount,
      replies,
      connectedAtUs,
      disconnectedAtUs,
      ledger,
      projection: projectBatteryLife(board.power.model, ledger.microJoules, ledger.elapsedUs),
      pcapFrames: capture ? (capture.close(), capture.packets) : 0,
    };
  } finally {
    capture?.close();
    board.flash.close();
  }
}
