// The simulated air: the BLE link layer between radios on the world's scheduler (advertising, connections, loss, taps, on-air time).
// Not a cost model (each chip's driver charges its own ledger) and not a host stack (above it: hal/radio.ts clients).

import type {
  AdvertisingParams,
  AdvertisingReport,
  BdAddress,
  CentralClient,
  Connection,
  ConnectionParams,
  Llid,
  ScanParams,
} from '../../../hal/radio.ts';
import { fail, okVoid, type HalResult } from '../../../hal/result.ts';
import { MedtwinError } from '../../errors.ts';
import type { Rng } from '../random.ts';
import type { Scheduler, Timer } from '../scheduler.ts';
import type { TraceFields } from '../trace.ts';
import type { World } from '../world.ts';
import {
  ADV_ACCESS_ADDRESS,
  ADV_CHANNELS,
  ADV_CRC_INIT,
  DEFAULT_DATA_PAYLOAD_BYTES,
  LLID,
  LL_OPCODE,
  MAX_ADV_DATA_BYTES,
  MAX_DATA_PAYLOAD_BYTES,
  SCA_PPM,
  T_IFS_US,
  airTimeUs,
  allChannelsMapLe,
  dataHeaderByte0,
  decodeAdvPdu,
  decodeDataHeader,
  decodeLlControl,
  encodeAdvPdu,
  encodeLlControl,
  isAddressString,
  isValidAccessAddress,
  llOpcodeName,
  sameAddress,
  scaFieldForPpm,
  usedChannels,
  type AdvPdu,
  type LlControlPdu,
  type LlData,
} from './pdu.ts';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/**
 * What one radio did during one event, as on-air time. The air reports it to the endpoint
 * that did it; the chip's driver turns it into ledger meters with its own cost table.
 * - txUs: on-air time of every packet this radio transmitted (preamble to CRC, LE 1M PHY).
 * - rxUs: time this radio listened: the on-air time of each packet it received (even one
 *   whose CRC failed), RX_SYNC_WINDOW_US for each expected packet that never came, and for
 *   a peripheral at a connection event's anchor the window widening before it (§4.5.7),
 *   twice over plus the transmit window when nothing arrived.
 * - txBursts / rxBursts: how many separate transmissions and receive windows (each needs
 *   the radio to ramp up; chips charge their warm-up per burst).
 */
export interface RadioEvent {
  readonly kind: 'adv' | 'scan' | 'conn';
  readonly txUs: number;
  readonly rxUs: number;
  readonly txBursts: number;
  readonly rxBursts: number;
}

export type RadioEventListener = (event: RadioEvent) => void;

/** The link-layer version an endpoint announces in LL_VERSION_IND (§2.4.2.13). */
export interface LlVersion {
  readonly versNr: number;
  readonly compId: number;
  readonly subVersNr: number;
}

export interface AirEndpointOptions {
  /** Unique on this air; the trace's device name and the sniff record's `sender`. */
  readonly name: string;
  readonly address: BdAddress;
  /**
   * Called once per event this radio took part in, synchronously from the air's scheduler
   * event. The object is reused: copy what you keep.
   */
  readonly onRadioEvent?: RadioEventListener;
  /** Sleep clock accuracy in ppm (default 50): window widening and the SCA of CONNECT_IND. */
  readonly sleepClockPpm?: number;
  /**
   * Largest data payload this end sends and accepts (default 27: no Data Length Extension,
   * so nothing is negotiated; a longer PDU from the peer is discarded as invalid).
   */
  readonly maxPayloadBytes?: number;
  /** Answer to LL_VERSION_IND (default: version 5.3, company 0xFFFF "not assigned"). */
  readonly version?: LlVersion;
  /** Host data PDUs queued per connection before send() answers 'busy' (default 64). */
  readonly txQueueLimit?: number;
}

/** Where an endpoint's host events go; the HAL's CentralClient, every method optional. */
export type AirClient = Partial<CentralClient>;

export interface AirOptions {
  /** Probability that a packet is corrupted in flight (its CRC fails); stream ('air', 'loss'). */
  readonly lossProbability?: number;
  /** Extra delay between the link layer and the host for every event delivered to a client, µs. */
  readonly extraLatencyUs?: number;
  /** Cap on central/peripheral packet pairs per connection event (default 4; MD bit, §4.5.6). */
  readonly maxPairsPerEvent?: number;
}

/** A PDU on the air as a sniffer sees it: bytes are header + payload, no CRC. */
export interface SniffedPdu {
  readonly tUs: number;
  readonly channel: number;
  readonly accessAddress: number;
  readonly bytes: Uint8Array;
  /** Endpoint name, or the injected address (or "inject"). */
  readonly sender: string;
  /** False when the loss model corrupted it (the intended receivers' CRC check failed). */
  readonly crcOk: boolean;
  /** True when no intended receiver got it intact: corrupted, dropped by a tap, or nobody listening. */
  readonly lost: boolean;
  readonly injected: boolean;
  /** An intercept tap replaced the sender's bytes with these. */
  readonly rewritten: boolean;
  /**
   * The CRC shift register preset the sender's CRC used (Vol 6 Part B §3.1.1): 0x555555 on
   * the advertising channels, the connection's CRCInit from CONNECT_IND for data PDUs;
   * undefined for a data PDU on an access address no connection on this air uses. A
   * capture writer needs it to append the CRC, which the air does not carry as bytes.
   */
  readonly crcInit: number | undefined;
  /** Data PDUs: true when sent in the central's slot, false in the peripheral's; undefined on the advertising channels or when unknown. */
  readonly fromCentral: boolean | undefined;
}

export type SniffListener = (pdu: SniffedPdu) => void;

/** A PDU in flight, offered to intercept taps before anyone receives it. */
export interface InFlightPdu {
  readonly tUs: number;
  readonly channel: number;
  readonly accessAddress: number;
  readonly bytes: Uint8Array;
  readonly sender: string;
}

/** Return 'drop' to remove the PDU, replacement bytes to rewrite it, or nothing to pass it on. */
export type Interceptor = (pdu: InFlightPdu) => 'drop' | Uint8Array | undefined | void;

export interface InjectOptions {
  /**
   * 37..39 for advertising PDUs (default 37). For a data PDU: the channel it is sent on;
   * when omitted, the channel of the connection's next event (a sniffer that follows the
   * hop sequence). A data PDU on another channel than the event's reaches nobody.
   */
  readonly channel?: number;
  readonly accessAddress: number;
  /**
   * The address it pretends to come from ("AA:BB:CC:DD:EE:FF"). For a data PDU it picks the
   * side: the peripheral's address means "from the peripheral", anything else (default)
   * "from the central".
   */
  readonly asAddress?: string;
}

// ---------------------------------------------------------------------------------------------
// Timing constants
// ---------------------------------------------------------------------------------------------

/** Listening for a packet that does not come: long enough to miss its preamble and access address (5 bytes on LE 1M). */
export const RX_SYNC_WINDOW_US = 5 * 8;
/** Gap between the end of one advertising channel's exchange and the next PDU of the same event (assumption: radio hop). */
export const ADV_CHANNEL_HOP_US = 150;
/** advDelay is 0–10 ms, drawn per advertising event (Vol 6 Part B §4.4.2.2.1). */
export const ADV_DELAY_MAX_US = 10_000;
/** transmitWindowDelay after CONNECT_IND on the LE 1M PHY (Vol 6 Part B §4.5.3). */
export const TRANSMIT_WINDOW_DELAY_US = 1_250;
/** Transmit window the initiator grants in CONNECT_IND, in 1.25 ms units (2.5 ms). */
export const CONNECT_WIN_SIZE_UNITS = 2;
/** Instantaneous timing jitter allowed each side of the sleep clock (Vol 6 Part B §4.2.4: ±16 µs). */
export const SLEEP_CLOCK_JITTER_US = 16;
/** Fixed RSSI of every report: the air does not model distance. */
export const REPORT_RSSI_DBM = -60;
/** Connections are lost if not established within six intervals (Vol 6 Part B §4.5.2). */
const ESTABLISH_INTERVALS = 6;

/**
 * Window widening of a peripheral at an anchor (Vol 6 Part B §4.5.7): both sleep clocks
 * may drift by their accuracy over the time since the last anchor it synchronised on, plus
 * the instantaneous jitter. Rounded up to whole µs.
 */
export function windowWideningUs(centralScaPpm: number, peripheralScaPpm: number, sinceLastAnchorUs: number): number {
  return Math.ceil(((centralScaPpm + peripheralScaPpm) * sinceLastAnchorUs) / 1_000_000) + SLEEP_CLOCK_JITTER_US;
}

/** HCI error codes the air reports (Core Vol 1 Part F). */
export const HCI = {
  CONNECTION_TIMEOUT: 0x08,
  REMOTE_USER_TERMINATED: 0x13,
  LOCAL_HOST_TERMINATED: 0x16,
  INSTANT_PASSED: 0x28,
  FAILED_TO_ESTABLISH: 0x3e,
} as const;

const DEFAULT_VERSION: LlVersion = { versNr: 0x0c, compId: 0xffff, subVersNr: 0 };
/** Feature set we answer LL_FEATURE_REQ with: LE Ping only (bit 4, Vol 6 Part B §4.6). */
const FEATURES_LE = Uint8Array.of(0x10, 0, 0, 0, 0, 0, 0, 0);

// ---------------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------------

const NOT_HEARD = 0;
const CRC_ERR = 1;
const RX_OK = 2;

interface MutRadioEvent {
  kind: 'adv' | 'scan' | 'conn';
  txUs: number;
  rxUs: number;
  txBursts: number;
  rxBursts: number;
}

const newEvent = (kind: RadioEvent['kind']): MutRadioEvent => ({ kind, txUs: 0, rxUs: 0, txBursts: 0, rxBursts: 0 });

interface TxItem {
  readonly llid: number;
  readonly payload: Uint8Array;
  readonly fromHost: boolean;
  /** An LL_TERMINATE_IND: its acknowledgement ends the sender's side of the link (§5.1.3). */
  readonly terminate: boolean;
}

/** The empty PDU (LLID 0b01, length 0) a link layer sends when it has nothing else (§2.4). */
const EMPTY: TxItem = { llid: LLID.CONTINUATION, payload: new Uint8Array(0), fromHost: false, terminate: false };

interface PendingUpdate {
  readonly instant: number;
  readonly intervalUs?: number;
  readonly latency?: number;
  readonly timeoutUs?: number;
  readonly winOffsetUs?: number;
  readonly winSizeUs?: number;
  readonly channelMapLe?: Uint8Array;
}

class LinkEnd {
  sn = 0;
  nesn = 0;
  readonly ctrlQueue: TxItem[] = [];
  readonly queue: TxItem[] = [];
  unacked: TxItem | null = null;
  lastTxMd = false;
  /** Host PDUs queued or not yet acknowledged; `sent` fires when it falls to 0. */
  hostPending = 0;
  lastValidRxUs: number;
  established = false;
  /** Peripheral: the last anchor it synchronised on (window widening grows from here). */
  lastSyncUs: number;
  /** Peripheral: transmit window to listen across at the next anchor (CONNECT_IND, connection update). */
  windowUs = 0;
  skipped = 0;
  /** ≥ 0: received LL_TERMINATE_IND with this reason; leaves after its next transmission (the ack). */
  closeReason = -1;
  terminating = false;
  versionSent = false;
  gone = false;
  pendingUpdate: PendingUpdate | null = null;
  readonly ev: MutRadioEvent = newEvent('conn');
  readonly conn: Connection;

  constructor(
    readonly port: AirPort,
    public link: Link,
    readonly role: 'central' | 'peripheral',
    readonly handle: number,
    peer: BdAddress,
    createdUs: number,
  ) {
    this.lastValidRxUs = createdUs;
    this.lastSyncUs = createdUs;
    this.conn = {
      handle,
      peer,
      role,
      intervalUs: link.intervalUs,
      latency: link.latency,
      supervisionTimeoutUs: link.timeoutUs,
    };
  }
}

interface InjectedData {
  readonly bytes: Uint8Array;
  readonly channel: number | undefined;
  readonly sender: string;
  readonly fromCentral: boolean;
}

class Link {
  central: LinkEnd | null = null;
  peripheral: LinkEnd | null = null;
  used: number[];
  usedMask: boolean[];
  unmapped = 0;
  channel = 0;
  counter = 0;
  anchorUs: number;
  timer: Timer | undefined = undefined;
  dead = false;
  injectQueue: InjectedData[] | null = null;
  readonly tick: () => void;

  constructor(
    air: Air,
    readonly aa: number,
    readonly crcInit: number,
    readonly hop: number,
    public intervalUs: number,
    public latency: number,
    public timeoutUs: number,
    readonly scaCentralPpm: number,
    channelMapLe: Uint8Array,
    readonly createdUs: number,
    firstAnchorUs: number,
    readonly centralAddress: string,
    readonly peripheralAddress: string,
  ) {
    this.used = usedChannels(channelMapLe);
    this.usedMask = maskOf(this.used);
    this.anchorUs = firstAnchorUs;
    this.tick = () => air._linkTick(this);
  }
}

function maskOf(used: readonly number[]): boolean[] {
  const m = new Array<boolean>(37).fill(false);
  for (const ch of used) m[ch] = true;
  return m;
}

class Advertiser {
  timer: Timer | undefined = undefined;
  readonly pdu: AdvPdu;
  readonly bytes: Uint8Array;
  readonly airUs: number;
  readonly scanRsp: AdvPdu;
  readonly scanRspBytes: Uint8Array;
  /** ADV_IND listens for SCAN_REQ and CONNECT_IND after each PDU; ADV_NONCONN_IND does not (§4.4.2). */
  readonly listens: boolean;
  /** The event nobody hears, precomputed so the common case costs no arithmetic or allocation. */
  readonly idleEvent: RadioEvent;
  readonly ev: MutRadioEvent = newEvent('adv');
  /** Injected SCAN_REQ/CONNECT_IND waiting for this advertiser's next PDU on their channel. */
  pending: { channel: number; bytes: Uint8Array; sender: string }[] = [];
  readonly fire: () => void;

  constructor(
    air: Air,
    readonly port: AirPort,
    readonly intervalUs: number,
    advData: Uint8Array,
    scanRspData: Uint8Array,
    connectable: boolean,
  ) {
    this.pdu = { type: connectable ? 'ADV_IND' : 'ADV_NONCONN_IND', advA: port.address, advData };
    this.bytes = encodeAdvPdu(this.pdu);
    this.airUs = airTimeUs(this.bytes.length);
    this.scanRsp = { type: 'SCAN_RSP', advA: port.address, scanRspData };
    this.scanRspBytes = encodeAdvPdu(this.scanRsp);
    this.listens = connectable;
    this.idleEvent = Object.freeze({
      kind: 'adv',
      txUs: 3 * this.airUs,
      rxUs: this.listens ? 3 * RX_SYNC_WINDOW_US : 0,
      txBursts: 3,
      rxBursts: this.listens ? 3 : 0,
    });
    this.fire = () => air._advEvent(this);
  }
}

interface ScanState {
  readonly active: boolean;
  /** Advertisers that already answered our SCAN_REQ in this scanning session (simplified backoff, §4.4.3.2). */
  readonly answered: Set<string>;
  lastEventSeq: number;
}

interface InitState {
  readonly peer: BdAddress;
  readonly params: ConnectionParams;
}

const addrKey = (a: BdAddress): string => `${a.random ? 'r' : 'p'}${a.address.toUpperCase()}`;

// ---------------------------------------------------------------------------------------------
// AirPort: one attached radio
// ---------------------------------------------------------------------------------------------

/**
 * One radio on the air. Its methods return at once; everything they cause reaches the
 * client later, from the scheduler (split-phase, as the HAL requires).
 */
export class AirPort {
  readonly name: string;
  readonly address: BdAddress;
  readonly maxPayloadBytes: number;
  readonly sleepClockPpm: number;
  readonly version: LlVersion;
  readonly txQueueLimit: number;
  readonly onRadioEvent: RadioEventListener | undefined;
  client: AirClient | undefined = undefined;
  detached = false;
  /** @internal */ adv: Advertiser | null = null;
  /** @internal */ scan: ScanState | null = null;
  /** @internal */ init: InitState | null = null;
  /** @internal */ readonly ends = new Map<number, LinkEnd>();
  /** @internal */ readonly scanEv: MutRadioEvent = newEvent('scan');
  /** @internal */ scanTouched = false;
  /** @internal */ advDelayRng: Rng | undefined = undefined;
  private nextHandle = 1;

  constructor(
    private readonly air: Air,
    opts: AirEndpointOptions,
  ) {
    this.name = opts.name;
    this.address = { address: opts.address.address.toUpperCase(), random: opts.address.random };
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_DATA_PAYLOAD_BYTES;
    this.sleepClockPpm = opts.sleepClockPpm ?? 50;
    this.version = opts.version ?? DEFAULT_VERSION;
    this.txQueueLimit = opts.txQueueLimit ?? 64;
    this.onRadioEvent = opts.onRadioEvent;
  }

  setClient(client: AirClient): void {
    this.client = client;
  }

  startAdvertising(params: AdvertisingParams): HalResult {
    return this.air._startAdvertising(this, params);
  }

  stopAdvertising(): HalResult {
    return this.air._stopAdvertising(this);
  }

  startScanning(params: ScanParams): HalResult {
    if (this.detached) return fail('off', 'detached from the air');
    if (this.scan) return fail('already', 'already scanning');
    this.scan = { active: params.active, answered: new Set(), lastEventSeq: -1 };
    this.air._listenersChanged(this, true);
    return okVoid;
  }

  stopScanning(): HalResult {
    if (!this.scan) return fail('already', 'not scanning');
    this.scan = null;
    this.air._listenersChanged(this, false);
    return okVoid;
  }

  connect(peer: BdAddress, params: ConnectionParams): HalResult {
    return this.air._connect(this, peer, params);
  }

  /** Give up a pending connect() (HCI LE_Create_Connection_Cancel). */
  cancelConnect(): HalResult {
    if (!this.init) return fail('already', 'no connection is being initiated');
    this.init = null;
    this.air._listenersChanged(this, false);
    return okVoid;
  }

  send(handle: number, llid: Llid, payload: Uint8Array): HalResult {
    return this.air._send(this, handle, llid, payload);
  }

  disconnect(handle: number, reason: number): HalResult {
    return this.air._disconnect(this, handle, reason);
  }

  /** Take this radio off the air (power loss): it stops at once, peers find out by supervision timeout. */
  detach(): void {
    this.air._detach(this);
  }

  /** @internal */
  allocHandle(): number {
    // Connection handles are 12 bits (HCI ACL header); 0x0F00.. are reserved, skip ones in use.
    for (;;) {
      const h = this.nextHandle;
      this.nextHandle = h >= 0x0eff ? 1 : h + 1;
      if (!this.ends.has(h)) return h;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The air
// ---------------------------------------------------------------------------------------------

/** The radio medium of one world. */
export class Air {
  private readonly s: Scheduler;
  private readonly ports = new Map<string, AirPort>();
  private readonly advertisers: Advertiser[] = [];
  /** Ports that scan or initiate (they hear advertising PDUs). */
  private readonly listeners: AirPort[] = [];
  private readonly links: Link[] = [];
  private readonly lossRng: Rng;
  private loss: number;
  readonly extraLatencyUs: number;
  readonly maxPairsPerEvent: number;
  private readonly traceLl: boolean;
  private readonly traceVerbose: boolean;
  private sniffers: SniffListener[] = [];
  private interceptors: Interceptor[] = [];
  /** True when any tap is present: only then are PDUs built as bytes. */
  private tapping = false;
  private advEventSeq = 0;

  // Receive scratch: what the last transmitted data PDU looks like to its receiver.
  private rxLlid = 0;
  private rxSn = 0;
  private rxNesn = 0;
  private rxMd = false;
  private rxCp = false;
  private rxPayload: Uint8Array = EMPTY.payload;
  private rxDurUs = 0;

  constructor(
    readonly world: World,
    opts: AirOptions = {},
  ) {
    this.s = world.scheduler;
    this.lossRng = world.random.stream('air', 'loss');
    this.loss = 0;
    this.lossProbability = opts.lossProbability ?? 0;
    const extra = opts.extraLatencyUs ?? 0;
    if (!Number.isInteger(extra) || extra < 0) throw new MedtwinError('air.config', `extraLatencyUs must be a non-negative integer, got ${extra}`);
    this.extraLatencyUs = extra;
    const pairs = opts.maxPairsPerEvent ?? 4;
    if (!Number.isInteger(pairs) || pairs < 1) throw new MedtwinError('air.config', `maxPairsPerEvent must be a positive integer, got ${pairs}`);
    this.maxPairsPerEvent = pairs;
    this.traceLl = world.trace.wants('ll');
    this.traceVerbose = this.traceLl && world.trace.verbose;
  }

  get lossProbability(): number {
    return this.loss;
  }

  /** Change the loss probability at any time (e.g. 1 to make a peer vanish). */
  set lossProbability(p: number) {
    if (!(p >= 0 && p <= 1)) throw new MedtwinError('air.config', `lossProbability must be in 0..1, got ${p}`);
    this.loss = p;
  }

  /** Attach a radio. Names are unique per air (they name the trace device and the sniff sender). */
  attach(opts: AirEndpointOptions): AirPort {
    if (this.ports.has(opts.name)) throw new MedtwinError('air.name', `an endpoint named "${opts.name}" is already on the air`);
    if (!isAddressString(opts.address.address)) throw new MedtwinError('air.address', `not a device address: "${opts.address.address}"`);
    const ppm = opts.sleepClockPpm ?? 50;
    if (!(ppm >= 0 && ppm <= 500)) throw new MedtwinError('air.config', `sleepClockPpm must be in 0..500, got ${ppm}`);
    const max = opts.maxPayloadBytes ?? DEFAULT_DATA_PAYLOAD_BYTES;
    if (!Number.isInteger(max) || max < 27 || max > MAX_DATA_PAYLOAD_BYTES) {
      throw new MedtwinError('air.config', `maxPayloadBytes must be 27..251, got ${max}`);
    }
    const port = new AirPort(this, opts);
    this.ports.set(opts.name, port);
    return port;
  }

  // ------------------------------------------------------------------------------ taps

  /** Every PDU put on the air, after intercept taps. Returns the unsubscribe function. */
  sniff(listener: SniffListener): () => void {
    this.sniffers = [...this.sniffers, listener];
    this.tapping = true;
    return () => {
      this.sniffers = this.sniffers.filter((l) => l !== listener);
      this.tapping = this.sniffers.length > 0 || this.interceptors.length > 0;
    };
  }

  /** Drop or rewrite PDUs from attached radios in flight (not injected ones). Returns the unsubscribe function. */
  intercept(fn: Interceptor): () => void {
    this.interceptors = [...this.interceptors, fn];
    this.tapping = true;
    return () => {
      this.interceptors = this.interceptors.filter((f) => f !== fn);
      this.tapping = this.sniffers.length > 0 || this.interceptors.length > 0;
    };
  }

  /**
   * Put PDU bytes (header + payload) on the air as if from any address. Advertising PDUs
   * go out now (from a scheduler event); a SCAN_REQ or CONNECT_IND for an advertiser waits
   * for its next PDU on that channel, as a well-timed attacker's would. Data PDUs take
   * the chosen side's slot in the next event of the connection with that access address
   * (that side's own packet collides and is lost). Returns 'invalid' only for a channel
   * outside 0..39 or more than 2 + 255 bytes; malformed PDUs are sent as they are.
   */
  inject(bytes: Uint8Array, opts: InjectOptions): HalResult {
    const aa = opts.accessAddress >>> 0;
    const isAdv = aa === ADV_ACCESS_ADDRESS;
    const channel = opts.channel ?? (isAdv ? 37 : undefined);
    if (channel !== undefined && (!Number.isInteger(channel) || channel < 0 || channel > 39)) {
      return fail('invalid', `channel must be 0..39, got ${channel}`);
    }
    if (isAdv && channel !== undefined && channel < 37) return fail('invalid', `advertising PDUs go on channels 37..39, got ${channel}`);
    if (bytes.length > 257) return fail('size', `a PDU is at most 257 bytes, got ${bytes.length}`);
    const copy = bytes.slice();
    const sender = opts.asAddress ?? 'inject';
    if (this.traceLl) {
      this.world.trace.record('air', 'll', 'inject', { channel: channel ?? -1, accessAddress: aa, length: copy.length, as: sender });
    }
    if (isAdv) {
      this.s.schedule(0, () => this.injectAdv(copy, channel ?? 37, sender), 'air.inject');
      return okVoid;
    }
    // Data channel: the link whose receiving side is present.
    const fromPeripheral = opts.asAddress !== undefined && this.links.some((l) => l.aa === aa && l.peripheralAddress === opts.asAddress!.toUpperCase());
    const fromCentral = !fromPeripheral;
    const link = this.links.find((l) => l.aa === aa && !l.dead && (fromCentral ? l.peripheral !== null : l.central !== null));
    const item: InjectedData = { bytes: copy, channel, sender, fromCentral };
    if (!link) {
      // On the air, but no connection follows that access address on any channel.
      const known = this.links.find((l) => l.aa === aa);
      const crcInit = known?.crcInit;
      const side = known ? fromCentral : undefined;
      this.s.schedule(0, () => this.emitSniff(this.s.nowUs, channel ?? 0, aa, copy, sender, true, true, true, false, crcInit, side), 'air.inject');
      return okVoid;
    }
    (link.injectQueue ??= []).push(item);
    return okVoid;
  }

  // ------------------------------------------------------------------------------ port operations (@internal)

  /** @internal */
  _startAdvertising(port: AirPort, params: AdvertisingParams): HalResult {
    if (port.detached) return fail('off', 'detached from the air');
    if (port.adv) return fail('already', 'already advertising');
    const { intervalUs } = params;
    // advInterval: 20 ms .. 10.24 s in 0.625 ms steps (Vol 6 Part B §4.4.2.2.1; HCI units of 0.625 ms).
    if (!Number.isInteger(intervalUs) || intervalUs < 20_000 || intervalUs > 10_240_000 || intervalUs % 625 !== 0) {
      return fail('invalid', `advertising interval must be a multiple of 625 µs in 20,000..10,240,000, got ${intervalUs}`);
    }
    if (params.advData.length > MAX_ADV_DATA_BYTES) return fail('size', `advData is at most 31 bytes, got ${params.advData.length}`);
    if (params.scanRspData.length > MAX_ADV_DATA_BYTES) return fail('size', `scanRspData is at most 31 bytes, got ${params.scanRspData.length}`);
    const adv = new Advertiser(this, port, intervalUs, params.advData.slice(), params.scanRspData.slice(), params.connectable);
    port.adv = adv;
    this.advertisers.push(adv);
    // The first event comes after an advDelay, like every later one: never inside this call.
    adv.timer = this.s.schedule(this.advDelay(port), adv.fire, 'air.adv');
    return okVoid;
  }

  /** @internal */
  _stopAdvertising(port: AirPort): HalResult {
    const adv = port.adv;
    if (!adv) return fail('already', 'not advertising');
    this.endAdvertising(adv);
    return okVoid;
  }

  private endAdvertising(adv: Advertiser): void {
    this.s.cancel(adv.timer);
    adv.timer = undefined;
    adv.port.adv = null;
    const i = this.advertisers.indexOf(adv);
    if (i >= 0) this.advertisers.splice(i, 1);
  }

  private advDelay(port: AirPort): number {
    // The stream is the same object on every lookup; keep it to skip the lookup per event.
    return (port.advDelayRng ??= this.world.random.stream(port.name, 'air.advDelay')).int(0, ADV_DELAY_MAX_US);
  }

  /** @internal */
  _listenersChanged(port: AirPort, listening: boolean): void {
    const i = this.listeners.indexOf(port);
    if (listening && i < 0) this.listeners.push(port);
    if (!listening && i >= 0 && !port.scan && !port.init) this.listeners.splice(i, 1);
  }

  /** @internal */
  _connect(port: AirPort, peer: BdAddress, params: ConnectionParams): HalResult {
    if (port.detached) return fail('off', 'detached from the air');
    if (port.init) return fail('busy', 'already initiating a connection');
    if (!isAddressString(peer.address)) return fail('invalid', `not a device address: "${peer.address}"`);
    const { intervalUs, latency, supervisionTimeoutUs } = params;
    // Vol 6 Part B §4.5.1/§4.5.2: interval 7.5 ms..4 s in 1.25 ms; latency 0..499; timeout
    // 100 ms..32 s in 10 ms and larger than (1 + latency) × interval × 2.
    if (!Number.isInteger(intervalUs) || intervalUs < 7_500 || intervalUs > 4_000_000 || intervalUs % 1_250 !== 0) {
      return fail('invalid', `connection interval must be a multiple of 1,250 µs in 7,500..4,000,000, got ${intervalUs}`);
    }
    if (!Number.isInteger(latency) || latency < 0 || latency > 499) return fail('invalid', `peripheral latency must be 0..499, got ${latency}`);
    if (!Number.isInteger(supervisionTimeoutUs) || supervisionTimeoutUs < 100_000 || supervisionTimeoutUs > 32_000_000 || supervisionTimeoutUs % 10_000 !== 0) {
      return fail('invalid', `supervision timeout must be a multiple of 10,000 µs in 100,000..32,000,000, got ${supervisionTimeoutUs}`);
    }
    if (supervisionTimeoutUs <= (1 + latency) * intervalUs * 2) {
      return fail('invalid', `supervision timeout ${supervisionTimeoutUs} µs must exceed (1 + latency) × interval × 2 = ${(1 + latency) * intervalUs * 2} µs`);
    }
    port.init = { peer: { address: peer.address.toUpperCase(), random: peer.random }, params };
    this._listenersChanged(port, true);
    return okVoid;
  }

  /** @internal */
  _send(port: AirPort, handle: number, llid: Llid, payload: Uint8Array): HalResult {
    const end = port.ends.get(handle);
    if (!end || end.gone) return fail('off', `no connection with handle ${handle}`);
    if (end.terminating) return fail('off', `connection ${handle} is being terminated`);
    if (llid !== 1 && llid !== 2 && llid !== 3) return fail('invalid', `LLID must be 1, 2 or 3, got ${String(llid)}`);
    if (payload.length === 0) return fail('size', 'a data PDU from the host carries at least one byte');
    if (payload.length > port.maxPayloadBytes) return fail('size', `payload of ${payload.length} bytes exceeds ${port.maxPayloadBytes}`);
    if (end.queue.length >= port.txQueueLimit) return fail('busy', `${end.queue.length} PDUs already queued on connection ${handle}`);
    // A host that sends LL_VERSION_IND itself has done this end's one version exchange
    // (Vol 6 Part B §5.1.5): its link layer must not answer the peer's reply with another.
    if (llid === LLID.CONTROL && payload[0] === LL_OPCODE.LL_VERSION_IND) end.versionSent = true;
    end.queue.push({ llid, payload: payload.slice(), fromHost: true, terminate: false });
    end.hostPending++;
    return okVoid;
  }

  /** @internal */
  _disconnect(port: AirPort, handle: number, reason: number): HalResult {
    const end = port.ends.get(handle);
    if (!end || end.gone) return fail('off', `no connection with handle ${handle}`);
    if (!Number.isInteger(reason) || reason < 0 || reason > 255) return fail('invalid', `reason must be an HCI error code 0..255, got ${reason}`);
    if (end.terminating) return fail('already', `connection ${handle} is already being terminated`);
    end.terminating = true;
    // The LL_TERMINATE_IND goes before any queued data: the host asked to stop (§5.1.3).
    end.ctrlQueue.unshift({ llid: LLID.CONTROL, payload: encodeLlControl({ type: 'LL_TERMINATE_IND', errorCode: reason }), fromHost: false, terminate: true });
    if (this.traceLl) this.world.trace.record(port.name, 'll', 'terminate', { handle, reason });
    return okVoid;
  }

  /** @internal */
  _detach(port: AirPort): void {
    if (port.detached) return;
    port.detached = true;
    if (port.adv) this.endAdvertising(port.adv);
    port.scan = null;
    port.init = null;
    this._listenersChanged(port, false);
    for (const end of [...port.ends.values()]) this.leave(end);
    this.ports.delete(port.name);
    if (this.traceLl) this.world.trace.record(port.name, 'll', 'detached', {});
  }

  // ------------------------------------------------------------------------------ delivery to hosts

  private deliver(port: AirPort, atUs: number, fn: (c: AirClient) => void): void {
    this.s.scheduleAt(
      atUs + this.extraLatencyUs,
      () => {
        const c = port.client;
        if (c && !port.detached) fn(c);
      },
      'air.deliver',
    );
  }

  private report(port: AirPort, ev: RadioEvent): void {
    const cb = port.onRadioEvent;
    if (cb !== undefined && !port.detached) cb(ev);
  }

  // ------------------------------------------------------------------------------ sniff / intercept plumbing

  private emitSniff(
    tUs: number,
    channel: number,
    accessAddress: number,
    bytes: Uint8Array,
    sender: string,
    crcOk: boolean,
    lost: boolean,
    injected: boolean,
    rewritten: boolean,
    crcInit: number | undefined = accessAddress === ADV_ACCESS_ADDRESS ? ADV_CRC_INIT : undefined,
    fromCentral: boolean | undefined = undefined,
  ): void {
    if (this.sniffers.length === 0) return;
    const rec: SniffedPdu = { tUs, channel, accessAddress, bytes: bytes.slice(), sender, crcOk, lost, injected, rewritten, crcInit, fromCentral };
    for (const l of this.sniffers) l(rec);
  }

  /** Run intercept taps: null when dropped, else the bytes to deliver (maybe replaced). */
  private runIntercept(tUs: number, channel: number, accessAddress: number, bytes: Uint8Array, sender: string): Uint8Array | null {
    let cur = bytes;
    for (const fn of this.interceptors) {
      const r = fn({ tUs, channel, accessAddress, bytes: cur.slice(), sender });
      if (r === 'drop') return null;
      if (r instanceof Uint8Array) cur = r.slice();
    }
    return cur;
  }

  private lossDraw(): boolean {
    return this.loss > 0 && this.lossRng.nextFloat() < this.loss;
  }

  // ------------------------------------------------------------------------------ advertising

  /** @internal One advertising event: ADV on 37, 38, 39 with requests and responses (§4.4.2). */
  _advEvent(adv: Advertiser): void {
    adv.timer = undefined;
    const port = adv.port;
    const quiet = this.listeners.length === 0 && !this.tapping && adv.pending.length === 0 && !this.traceVerbose;
    if (quiet) {
      this.report(port, adv.idleEvent);
    } else {
      const ev = adv.ev;
      ev.txUs = ev.rxUs = ev.txBursts = ev.rxBursts = 0;
      const seq = this.advEventSeq++;
      let t = this.s.nowUs;
      for (const ch of ADV_CHANNELS) {
        const end = this.advChannel(adv, ch, t, seq);
        if (end < 0) break; // connected: advertising ended
        t = end + ADV_CHANNEL_HOP_US;
      }
      this.report(port, ev);
      this.flushScanEvents();
    }
    // T_advEvent = advInterval + advDelay, start to start (§4.4.2.2.1).
    if (port.adv === adv) adv.timer = this.s.schedule(adv.intervalUs + this.advDelay(port), adv.fire, 'air.adv');
  }

  private touched: AirPort[] = [];

  private touchScan(p: AirPort): MutRadioEvent {
    if (!p.scanTouched) {
      p.scanTouched = true;
      const e = p.scanEv;
      e.txUs = e.rxUs = e.txBursts = e.rxBursts = 0;
      this.touched.push(p);
    }
    return p.scanEv;
  }

  private flushScanEvents(): void {
    for (const p of this.touched) {
      p.scanTouched = false;
      this.report(p, p.scanEv);
    }
    this.touched.length = 0;
  }

  /**
   * One advertising PDU on `ch` at `t`, then the listening window. Returns when the
   * channel's exchange ends, or -1 when a CONNECT_IND ended advertising.
   */
  private advChannel(adv: Advertiser, ch: number, t: number, seq: number): number {
    const port = adv.port;
    const ev = adv.ev;
    // 1. The advertising PDU.
    let bytes = adv.bytes;
    let view: AdvPdu | null = adv.pdu;
    let rewritten = false;
    let dropped = false;
    if (this.interceptors.length > 0) {
      const r = this.runIntercept(t, ch, ADV_ACCESS_ADDRESS, bytes, port.name);
      if (r === null) dropped = true;
      else if (r !== bytes && !equalBytes(r, bytes)) {
        bytes = r;
        rewritten = true;
        const d = decodeAdvPdu(r);
        view = d.ok ? d.value : null;
      }
    }
    const advUs = adv.airUs;
    ev.txUs += advUs;
    ev.txBursts++;
    const candidates = this.listeners.length > 0 && !(this.listeners.length === 1 && this.listeners[0] === port);
    const corrupted = candidates && !dropped && this.lossDraw();
    const heard = !dropped && !corrupted && view !== null;
    if (this.traceLl && ((heard && candidates) || this.traceVerbose)) {
      this.world.trace.record(port.name, 'll', 'adv.tx', { channel: ch, pdu: adv.pdu.type, length: bytes.length - 2, lost: !(heard && candidates) });
    }
    let heardBy = 0;
    // 2. Who hears it, and who answers (an injected request wins the race: it was timed for this).
    let responder: AirPort | null = null;
    let responderIsInitiator = false;
    if (heard) {
      const r = this.hearAdv(view!, bytes.length, ch, t, seq, port);
      heardBy = r.heardBy;
      responder = r.responder;
      responderIsInitiator = r.isInitiator;
    } else if (candidates && !dropped) {
      // A corrupted or unparsable PDU still kept the listeners' radios busy for its duration.
      for (const p of this.listeners) {
        if (p === port) continue;
        const e = this.touchScan(p);
        e.rxUs += airTimeUs(bytes.length);
        e.rxBursts++;
      }
    }
    this.emitSniff(t, ch, ADV_ACCESS_ADDRESS, bytes, port.name, !corrupted, heardBy === 0, false, rewritten);
    let slotEnd = t + advUs;
    if (!adv.listens) return slotEnd;
    // 3. The listening window T_IFS after the PDU (§4.4.2.3): a request, or nothing.
    const t1 = slotEnd + T_IFS_US;
    const injIdx = adv.pending.findIndex((p) => p.channel === ch);
    let reqBytes: Uint8Array | null = null;
    let reqSender = '';
    let reqInjected = false;
    let initiatorLlData: LlData | null = null;
    if (injIdx >= 0) {
      const inj = adv.pending.splice(injIdx, 1)[0]!;
      reqBytes = inj.bytes;
      reqSender = inj.sender;
      reqInjected = true;
      // The legitimate responder's request collides with the injected one and is lost.
      if (responder) this.sendRequest(responder, responderIsInitiator, adv, ch, t1);
    } else if (responder) {
      const built = this.buildRequest(responder, responderIsInitiator, adv);
      reqBytes = built.bytes;
      reqSender = responder.name;
      initiatorLlData = built.llData;
    }
    if (reqBytes === null) {
      ev.rxUs += RX_SYNC_WINDOW_US;
      ev.rxBursts++;
      return t1 + RX_SYNC_WINDOW_US;
    }
    // The request on the air.
    let reqOnAir: Uint8Array | null = reqBytes;
    let reqRewritten = false;
    if (!reqInjected && this.interceptors.length > 0) {
      const r = this.runIntercept(t1, ch, ADV_ACCESS_ADDRESS, reqBytes, reqSender);
      if (r !== null && !equalBytes(r, reqBytes)) reqRewritten = true;
      reqOnAir = r;
    }
    const reqUs = airTimeUs((reqOnAir ?? reqBytes).length);
    if (!reqInjected && responder) {
      const e = this.touchScan(responder);
      e.txUs += airTimeUs(reqBytes.length);
      e.txBursts++;
    }
    const reqCorrupted = reqOnAir !== null && this.lossDraw();
    let reqView: AdvPdu | null = null;
    if (reqOnAir !== null && !reqCorrupted) {
      const d = decodeAdvPdu(reqOnAir);
      if (d.ok && (d.value.type === 'SCAN_REQ' || d.value.type === 'CONNECT_IND') && sameAddress(d.value.advA, port.address)) reqView = d.value;
    }
    if (reqOnAir === null) {
      ev.rxUs += RX_SYNC_WINDOW_US;
    } else {
      ev.rxUs += reqUs;
    }
    ev.rxBursts++;
    const reqEnd = t1 + reqUs;
    this.emitSniff(t1, ch, ADV_ACCESS_ADDRESS, reqOnAir ?? reqBytes, reqSender, !reqCorrupted, reqView === null, reqInjected, reqRewritten);
    if (this.traceLl && !reqInjected && responder) {
      const kind = responderIsInitiator ? 'connect.ind' : 'scan.req';
      const f: TraceFields = { channel: ch, to: port.address.address, lost: reqView === null };
      if (initiatorLlData) {
        f.accessAddress = initiatorLlData.accessAddress;
        f.intervalUs = initiatorLlData.intervalUnits1250us * 1_250;
        f.latency = initiatorLlData.latency;
        f.timeoutUs = initiatorLlData.timeoutUnits10ms * 10_000;
        f.hop = initiatorLlData.hop;
      }
      this.world.trace.record(responder.name, 'll', kind, f);
    }
    // A CONNECT_IND from a real initiator makes it a central whether or not the advertiser heard it (§4.5).
    if (initiatorLlData && responder) {
      const peripheralView = reqView?.type === 'CONNECT_IND' && equalBytes(reqOnAir!, reqBytes) ? reqView : null;
      this.establish(responder, initiatorLlData, adv.pdu.advA, reqEnd, peripheralView ? adv : null, peripheralView);
      if (peripheralView) return -1;
    }
    if (reqView === null) return reqEnd;
    if (reqView.type === 'CONNECT_IND') {
      // The advertiser heard a CONNECT_IND the initiator did not send as such: injected, or rewritten in flight.
      if (this.establish(null, null, null, reqEnd, adv, reqView)) return -1;
      return reqEnd;
    }
    // SCAN_REQ: answer with SCAN_RSP after T_IFS (§4.4.2.3), ADV_IND only.
    const t2 = reqEnd + T_IFS_US;
    let rspBytes: Uint8Array | null = adv.scanRspBytes;
    let rspRewritten = false;
    if (this.interceptors.length > 0) {
      const r = this.runIntercept(t2, ch, ADV_ACCESS_ADDRESS, rspBytes, port.name);
      if (r !== null && !equalBytes(r, rspBytes)) rspRewritten = true;
      rspBytes = r;
    }
    const rspUs = airTimeUs(adv.scanRspBytes.length);
    ev.txUs += rspUs;
    ev.txBursts++;
    const requester = reqInjected ? null : responder;
    const rspCorrupted = rspBytes !== null && requester !== null && this.lossDraw();
    let rspHeard = false;
    if (requester && rspBytes !== null) {
      const e = this.touchScan(requester);
      e.rxUs += airTimeUs(rspBytes.length);
      e.rxBursts++;
      if (!rspCorrupted) {
        const d = decodeAdvPdu(rspBytes);
        if (d.ok && d.value.type === 'SCAN_RSP') {
          rspHeard = true;
          const rsp = d.value;
          requester.scan?.answered.add(addrKey(port.address));
          const report: AdvertisingReport = { address: rsp.advA, pduType: 'scan_rsp', data: rsp.scanRspData, rssiDbm: REPORT_RSSI_DBM };
          this.deliver(requester, t2 + rspUs, (c) => c.advertisement?.(report));
        }
      }
    } else if (requester) {
      const e = this.touchScan(requester);
      e.rxUs += RX_SYNC_WINDOW_US;
      e.rxBursts++;
    }
    this.emitSniff(t2, ch, ADV_ACCESS_ADDRESS, rspBytes ?? adv.scanRspBytes, port.name, !rspCorrupted, !rspHeard, false, rspRewritten);
    if (this.traceLl) {
      this.world.trace.record(port.name, 'll', 'scan.rsp', { channel: ch, to: reqView.type === 'SCAN_REQ' ? reqView.scanA.address : '', lost: !rspHeard });
    }
    return t2 + rspUs;
  }

  /**
   * Listeners hear an advertising PDU: scanners report it (once per advertising event),
   * an initiator waiting for this advertiser picks it as the one to answer with
   * CONNECT_IND, else the first active scanner that still needs a SCAN_RSP answers.
   */
  private hearAdv(
    view: AdvPdu,
    lengthBytes: number,
    ch: number,
    t: number,
    seq: number,
    from: AirPort | null,
  ): { heardBy: number; responder: AirPort | null; isInitiator: boolean } {
    let heardBy = 0;
    let responder: AirPort | null = null;
    let isInitiator = false;
    const durUs = airTimeUs(lengthBytes);
    const type = view.type;
    const advA = type === 'SCAN_REQ' || type === 'CONNECT_IND' ? null : view.advA;
    const connectable = type === 'ADV_IND' || type === 'ADV_DIRECT_IND';
    const scannable = type === 'ADV_IND' || type === 'ADV_SCAN_IND';
    for (const p of this.listeners) {
      if (p === from || p.detached) continue;
      const e = this.touchScan(p);
      e.rxUs += durUs;
      e.rxBursts++;
      heardBy++;
      if (advA === null) continue;
      if (p.init && !responder && connectable && sameAddress(p.init.peer, advA)) {
        if (type === 'ADV_IND' || (type === 'ADV_DIRECT_IND' && sameAddress(view.targetA, p.address))) {
          responder = p;
          isInitiator = true;
        }
      }
      const sc = p.scan;
      if (sc && sc.lastEventSeq !== seq) {
        sc.lastEventSeq = seq;
        const data = advPayloadData(view);
        const report: AdvertisingReport = { address: advA, pduType: type.toLowerCase(), data, rssiDbm: REPORT_RSSI_DBM };
        this.deliver(p, t + durUs, (c) => c.advertisement?.(report));
        if (this.traceLl) this.world.trace.record(p.name, 'll', 'adv.report', { channel: ch, from: advA.address, pdu: type });
        if (!responder && sc.active && scannable && !sc.answered.has(addrKey(advA))) responder = p;
      }
    }
    return { heardBy, responder, isInitiator };
  }

  /** The request bytes a responder sends: SCAN_REQ, or CONNECT_IND with fresh LLData (§2.3.2.1, §2.3.3.1). */
  private buildRequest(responder: AirPort, isInitiator: boolean, adv: Advertiser | null, target?: BdAddress): { bytes: Uint8Array; llData: LlData | null } {
    const advA = adv ? adv.pdu.advA : target!;
    if (!isInitiator) return { bytes: encodeAdvPdu({ type: 'SCAN_REQ', scanA: responder.address, advA }), llData: null };
    const init = responder.init!;
    const rng = this.world.random.stream(responder.name, 'air.connect');
    let aa = rng.nextU32();
    while (!isValidAccessAddress(aa) || this.links.some((l) => l.aa === aa)) aa = rng.nextU32();
    const llData: LlData = {
      accessAddress: aa,
      crcInit: rng.nextU32() & 0xffffff,
      winSizeUnits1250us: CONNECT_WIN_SIZE_UNITS,
      winOffsetUnits1250us: 0,
      intervalUnits1250us: init.params.intervalUs / 1_250,
      latency: init.params.latency,
      timeoutUnits10ms: init.params.supervisionTimeoutUs / 10_000,
      channelMapLe: allChannelsMapLe(),
      hop: rng.int(5, 16),
      sca: scaFieldForPpm(responder.sleepClockPpm),
    };
    return { bytes: encodeAdvPdu({ type: 'CONNECT_IND', initA: responder.address, advA, llData }), llData };
  }

  /** A legitimate request that collided with an injected one: the initiator still becomes a central. */
  private sendRequest(responder: AirPort, isInitiator: boolean, adv: Advertiser, ch: number, t1: number): void {
    const built = this.buildRequest(responder, isInitiator, adv);
    const e = this.touchScan(responder);
    e.txUs += airTimeUs(built.bytes.length);
    e.txBursts++;
    this.emitSniff(t1, ch, ADV_ACCESS_ADDRESS, built.bytes, responder.name, true, true, false, false);
    if (built.llData) this.establish(responder, built.llData, adv.pdu.advA, t1 + airTimeUs(built.bytes.length), null, null);
  }

  /** An injected advertising channel PDU, at the scheduler time of the injection. */
  private injectAdv(bytes: Uint8Array, ch: number, sender: string): void {
    const t = this.s.nowUs;
    const d = decodeAdvPdu(bytes);
    if (!d.ok) {
      this.emitSniff(t, ch, ADV_ACCESS_ADDRESS, bytes, sender, true, true, true, false);
      if (this.traceLl) this.world.trace.record('air', 'll', 'adv.invalid', { channel: ch, code: d.code });
      return;
    }
    const pdu = d.value;
    if (pdu.type === 'SCAN_REQ' || pdu.type === 'CONNECT_IND') {
      const adv = this.advertisers.find((a) => sameAddress(a.port.address, pdu.advA));
      if (adv && adv.listens) {
        adv.pending.push({ channel: ch, bytes, sender });
      } else {
        this.emitSniff(t, ch, ADV_ACCESS_ADDRESS, bytes, sender, true, true, true, false);
      }
      return;
    }
    const corrupted = this.listeners.length > 0 && this.lossDraw();
    let heardBy = 0;
    let responder: AirPort | null = null;
    let isInitiator = false;
    if (!corrupted) {
      const r = this.hearAdv(pdu, bytes.length, ch, t, this.advEventSeq++, null);
      heardBy = r.heardBy;
      responder = r.responder;
      isInitiator = r.isInitiator;
    }
    this.emitSniff(t, ch, ADV_ACCESS_ADDRESS, bytes, sender, !corrupted, heardBy === 0, true, false);
    if (responder && pdu.type !== 'SCAN_RSP') {
      // The responder answers a forged advertiser nobody real stands behind: its request goes unheard.
      const built = this.buildRequest(responder, isInitiator, null, pdu.advA);
      const t1 = t + airTimeUs(bytes.length) + T_IFS_US;
      const e = this.touchScan(responder);
      e.txUs += airTimeUs(built.bytes.length);
      e.txBursts++;
      this.emitSniff(t1, ch, ADV_ACCESS_ADDRESS, built.bytes, responder.name, true, true, false, false);
      if (this.traceLl) this.world.trace.record(responder.name, 'll', isInitiator ? 'connect.ind' : 'scan.req', { channel: ch, to: pdu.advA.address, lost: true });
      if (built.llData) this.establish(responder, built.llData, pdu.advA, t1 + airTimeUs(built.bytes.length), null, null);
    }
    this.flushScanEvents();
  }

  // ------------------------------------------------------------------------------ connection set-up

  /**
   * Enter the Connection state (§4.5): the initiator as central with its own LLData, the
   * advertiser as peripheral with the LLData it received. When both hold the same LLData
   * they share one link; when they differ (rewritten in flight) each gets its own, and both
   * will fail to establish. Returns whether the peripheral side was created.
   */
  private establish(
    initiator: AirPort | null,
    initLlData: LlData | null,
    target: BdAddress | null,
    tEndUs: number,
    adv: Advertiser | null,
    advView: Extract<AdvPdu, { type: 'CONNECT_IND' }> | null,
  ): boolean {
    let link: Link | null = null;
    if (initiator && initLlData && target) {
      initiator.init = null;
      this._listenersChanged(initiator, false);
      link = this.newLink(initLlData, tEndUs, initiator.address.address, target.address);
      const end = new LinkEnd(initiator, link, 'central', initiator.allocHandle(), target, tEndUs);
      link.central = end;
      initiator.ends.set(end.handle, end);
      this.announce(end, tEndUs);
    }
    if (!adv || !advView) {
      if (link) this.scheduleLink(link);
      return false;
    }
    const d = advView.llData;
    // A peripheral ignores a CONNECT_IND whose LLData it cannot follow (§2.3.3.1 ranges).
    const invalid = connectIndProblem(d);
    if (invalid) {
      if (this.traceLl) this.world.trace.record(adv.port.name, 'll', 'connect.invalid', { reason: invalid });
      if (link) this.scheduleLink(link);
      return false;
    }
    const shared = link !== null && equalLlData(d, initLlData!);
    const plink = shared ? link! : this.newLink(d, tEndUs, advView.initA.address, adv.port.address.address);
    if (link && !shared) this.scheduleLink(link);
    const port = adv.port;
    this.endAdvertising(adv);
    const end = new LinkEnd(port, plink, 'peripheral', port.allocHandle(), advView.initA, tEndUs);
    end.windowUs = d.winSizeUnits1250us * 1_250;
    plink.peripheral = end;
    port.ends.set(end.handle, end);
    this.announce(end, tEndUs);
    this.scheduleLink(plink);
    return true;
  }

  private newLink(d: LlData, tEndUs: number, centralAddress: string, peripheralAddress: string): Link {
    const intervalUs = d.intervalUnits1250us * 1_250;
    const firstAnchorUs = tEndUs + TRANSMIT_WINDOW_DELAY_US + d.winOffsetUnits1250us * 1_250;
    const link = new Link(
      this,
      d.accessAddress,
      d.crcInit,
      d.hop,
      intervalUs,
      d.latency,
      d.timeoutUnits10ms * 10_000,
      SCA_PPM[d.sca] ?? 500,
      d.channelMapLe,
      tEndUs,
      firstAnchorUs,
      centralAddress.toUpperCase(),
      peripheralAddress.toUpperCase(),
    );
    this.nextChannel(link);
    this.links.push(link);
    return link;
  }

  private announce(end: LinkEnd, tUs: number): void {
    const conn = end.conn;
    if (this.traceLl) {
      this.world.trace.record(end.port.name, 'll', 'conn.open', {
        handle: end.handle,
        role: end.role,
        peer: conn.peer.address,
        accessAddress: end.link.aa,
        intervalUs: end.link.intervalUs,
        latency: end.link.latency,
        timeoutUs: end.link.timeoutUs,
      });
    }
    this.deliver(end.port, tUs, (c) => c.connected?.(conn));
  }

  // ------------------------------------------------------------------------------ connections

  /** Channel selection algorithm #1 (§4.5.8.2), once per connection event whether or not anyone listens. */
  private nextChannel(link: Link): void {
    const u = (link.unmapped + link.hop) % 37;
    link.unmapped = u;
    link.channel = link.usedMask[u] ? u : link.used[u % link.used.length]!;
  }

  private expiryUs(link: Link, end: LinkEnd): number {
    return end.established ? end.lastValidRxUs + link.timeoutUs : link.createdUs + ESTABLISH_INTERVALS * link.intervalUs;
  }

  private scheduleLink(link: Link): void {
    if (link.dead) return;
    let at = link.anchorUs;
    const c = link.central;
    const p = link.peripheral;
    if (c) {
      const e = this.expiryUs(link, c);
      if (e < at) at = e;
    }
    if (p) {
      const e = this.expiryUs(link, p);
      if (e < at) at = e;
    }
    link.timer = this.s.scheduleAt(at, link.tick, 'air.conn');
  }

  /** @internal The link's timer: a supervision timeout, a connection event, or both. */
  _linkTick(link: Link): void {
    link.timer = undefined;
    const now = this.s.nowUs;
    const c = link.central;
    const p = link.peripheral;
    if (c && now >= this.expiryUs(link, c)) this.timeout(c, now);
    if (p && now >= this.expiryUs(link, p)) this.timeout(p, now);
    if (link.dead) return;
    if (now >= link.anchorUs) {
      this.connEvent(link);
      if (link.dead) return;
      this.advance(link);
    }
    this.scheduleLink(link);
  }

  /** The supervision timer ran out (§4.5.2): 0x08, or 0x3E before establishment, or 0x16 mid-terminate. */
  private timeout(end: LinkEnd, now: number): void {
    const reason = end.terminating ? HCI.LOCAL_HOST_TERMINATED : end.established ? HCI.CONNECTION_TIMEOUT : HCI.FAILED_TO_ESTABLISH;
    if (this.traceLl) this.world.trace.record(end.port.name, 'll', 'supervision.timeout', { handle: end.handle, reason, lastValidRxUs: end.lastValidRxUs });
    this.exit(end, reason, now);
  }

  /** An end leaves the Connection state and its host hears why. */
  private exit(end: LinkEnd, reason: number, atUs: number): void {
    if (end.gone) return;
    this.leave(end);
    if (this.traceLl) this.world.trace.record(end.port.name, 'll', 'disconnected', { handle: end.handle, reason });
    const handle = end.handle;
    this.deliver(end.port, atUs, (c) => c.disconnected?.(handle, reason));
  }

  /** Remove an end silently (detach) or as part of exit(). */
  private leave(end: LinkEnd): void {
    if (end.gone) return;
    end.gone = true;
    const link = end.link;
    if (link.central === end) link.central = null;
    if (link.peripheral === end) link.peripheral = null;
    end.port.ends.delete(end.handle);
    if (!link.central && !link.peripheral) {
      link.dead = true;
      this.s.cancel(link.timer);
      link.timer = undefined;
      const i = this.links.indexOf(link);
      if (i >= 0) this.links.splice(i, 1);
    }
  }

  /** Whether the peripheral may sleep through this event (§4.5.1 peripheral latency). */
  private canSkip(link: Link, p: LinkEnd): boolean {
    return (
      link.latency > 0 &&
      p.established &&
      p.skipped < link.latency &&
      p.queue.length === 0 &&
      p.ctrlQueue.length === 0 &&
      (p.unacked === null || p.unacked === EMPTY) &&
      p.closeReason < 0 &&
      p.pendingUpdate === null &&
      p.windowUs === 0
    );
  }

  /** The PDU an end transmits now: its unacknowledged one again, or the next queued, or an empty PDU (§4.5.9). */
  private nextTx(end: LinkEnd): TxItem {
    let item = end.unacked;
    if (item === null) {
      item = end.ctrlQueue.length > 0 ? end.ctrlQueue.shift()! : end.queue.length > 0 ? end.queue.shift()! : EMPTY;
      end.unacked = item;
    }
    end.lastTxMd = end.ctrlQueue.length + end.queue.length > 0;
    return item;
  }

  /**
   * Put one data PDU from `from` on the air at `t`; fill the receive scratch with what
   * `to` (null: nobody listening) receives. Returns NOT_HEARD, CRC_ERR or RX_OK.
   */
  private txData(link: Link, from: LinkEnd, item: TxItem, t: number, ch: number, to: LinkEnd | null): number {
    const len = item.payload.length;
    let status: number;
    if (!this.tapping) {
      this.rxDurUs = airTimeUs(2 + len);
      this.rxLlid = item.llid;
      this.rxSn = from.sn;
      this.rxNesn = from.nesn;
      this.rxMd = from.lastTxMd;
      this.rxCp = false;
      this.rxPayload = item.payload;
      status = to === null ? NOT_HEARD : this.loss > 0 && this.lossRng.nextFloat() < this.loss ? CRC_ERR : RX_OK;
    } else {
      const bytes = new Uint8Array(2 + len);
      bytes[0] = dataHeaderByte0(item.llid, from.nesn, from.sn, from.lastTxMd);
      bytes[1] = len;
      bytes.set(item.payload, 2);
      status = this.onAirData(link, bytes, t, ch, from.port.name, to, false, from.role === 'central');
    }
    if (this.traceLl && (len > 0 || this.traceVerbose)) {
      const f: TraceFields = {
        handle: from.handle,
        event: link.counter,
        channel: ch,
        llid: item.llid,
        length: len,
        sn: from.sn,
        nesn: from.nesn,
        md: from.lastTxMd,
        lost: status !== RX_OK,
      };
      if (item.llid === LLID.CONTROL && len > 0) f.op = llOpcodeName(item.payload[0]!);
      this.world.trace.record(from.port.name, 'll', 'data.tx', f);
    }
    return status;
  }

  /** Bytes of a data PDU in flight: intercept, loss, sniff, then the receiver's header decode. */
  private onAirData(link: Link, bytes: Uint8Array, t: number, ch: number, sender: string, to: LinkEnd | null, injected: boolean, fromCentral: boolean): number {
    let onAir: Uint8Array | null = bytes;
    let rewritten = false;
    if (!injected && this.interceptors.length > 0) {
      onAir = this.runIntercept(t, ch, link.aa, bytes, sender);
      if (onAir !== null && !equalBytes(onAir, bytes)) rewritten = true;
    }
    const final = onAir ?? bytes;
    this.rxDurUs = airTimeUs(final.length);
    let status = to === null || onAir === null ? NOT_HEARD : this.lossDraw() ? CRC_ERR : RX_OK;
    if (status === RX_OK) {
      const h = decodeDataHeader(final);
      if (!h.ok) {
        // A Length field that disagrees with what was sent makes the receiver read the wrong bytes as CRC.
        status = CRC_ERR;
      } else {
        const v = h.value;
        this.rxLlid = v.llid;
        this.rxSn = v.sn;
        this.rxNesn = v.nesn;
        this.rxMd = v.md;
        this.rxCp = v.cp;
        this.rxPayload = final.subarray(v.cp ? 3 : 2);
      }
    }
    this.emitSniff(t, ch, link.aa, final, sender, status !== CRC_ERR, status !== RX_OK, injected, rewritten, link.crcInit, fromCentral);
    return status;
  }

  /**
   * One connection event (§4.5.1, §4.5.6): the central transmits at the anchor, the
   * peripheral answers T_IFS later; they go on while either sets MD, up to the pair cap and
   * what fits in the interval; a packet the central cannot read closes the event.
   */
  private connEvent(link: Link): void {
    const A = link.anchorUs;
    const ch = link.channel;
    const c = link.central;
    const p = link.peripheral;
    let pListen = false;
    let ww = 0;
    if (p) {
      if (this.canSkip(link, p)) {
        p.skipped++;
      } else {
        p.skipped = 0;
        pListen = true;
        ww = windowWideningUs(link.scaCentralPpm, p.port.sleepClockPpm, A - p.lastSyncUs);
        const e = p.ev;
        e.txUs = e.rxUs = e.txBursts = e.rxBursts = 0;
      }
    }
    if (c) {
      const e = c.ev;
      e.txUs = e.rxUs = e.txBursts = e.rxBursts = 0;
    }
    let inj: InjectedData | undefined;
    if (link.injectQueue !== null && link.injectQueue.length > 0) inj = link.injectQueue.shift();
    if (inj !== undefined && inj.channel !== undefined && inj.channel !== ch) {
      // Sent on another channel than this event's: on the air, heard by nobody.
      this.emitSniff(A, inj.channel, link.aa, inj.bytes, inj.sender, true, true, true, false, link.crcInit, inj.fromCentral);
      inj = undefined;
    }

    let t = A;
    let pairs = 0;
    let crcRun = 0;
    for (;;) {
      const first = pairs === 0;
      const cNow = link.central;
      const pNow = link.peripheral;
      const pHears = pListen && pNow !== null;
      // --- central → peripheral
      let cDur = 0;
      let status = NOT_HEARD;
      const injC = first && inj !== undefined && inj.fromCentral;
      if (cNow) {
        const item = this.nextTx(cNow);
        cDur = airTimeUs(2 + item.payload.length);
        cNow.ev.txUs += cDur;
        cNow.ev.txBursts++;
        // When an injected packet takes the central's slot, the central's own collides with it.
        status = this.txData(link, cNow, item, t, ch, pHears && !injC ? pNow : null);
        if (cNow.closeReason >= 0) this.exit(cNow, cNow.closeReason, t + cDur);
      }
      if (injC) {
        status = this.onAirData(link, inj!.bytes, t, ch, inj!.sender, pHears ? pNow : null, true, true);
        if (cDur === 0) cDur = this.rxDurUs;
      }
      const injP = first && inj !== undefined && !inj.fromCentral;
      if (pHears) {
        const pe = pNow.ev;
        pe.rxBursts++;
        if (status === NOT_HEARD) {
          pe.rxUs += (first ? 2 * ww + pNow.windowUs : 0) + RX_SYNC_WINDOW_US;
        } else {
          pe.rxUs += (first ? ww : 0) + this.rxDurUs;
          if (first) {
            // The peripheral resynchronises on the central's packet (§4.5.7).
            pNow.lastSyncUs = A;
            pNow.windowUs = 0;
          }
          if (status === RX_OK) {
            crcRun = 0;
            this.receive(link, pNow, t + this.rxDurUs);
          } else {
            crcRun++;
          }
        }
      }
      // The peripheral answers any packet it received, even with a bad CRC (§4.5.1).
      const pAnswers = pHears && status !== NOT_HEARD && !pNow.gone;
      if (!pAnswers && !injP) {
        if (cNow && !cNow.gone) {
          cNow.ev.rxUs += RX_SYNC_WINDOW_US;
          cNow.ev.rxBursts++;
        }
        break;
      }
      // --- peripheral → central, T_IFS after the central's packet
      const t2 = t + (cDur > 0 ? cDur : airTimeUs(2)) + T_IFS_US;
      const cListen = cNow !== null && !cNow.gone ? cNow : null;
      let pDur = 0;
      let status2 = NOT_HEARD;
      if (pAnswers) {
        const item = this.nextTx(pNow);
        pDur = airTimeUs(2 + item.payload.length);
        pNow.ev.txUs += pDur;
        pNow.ev.txBursts++;
        status2 = this.txData(link, pNow, item, t2, ch, injP ? null : cListen);
        if (pNow.closeReason >= 0) this.exit(pNow, pNow.closeReason, t2 + pDur);
      }
      if (injP) {
        status2 = this.onAirData(link, inj!.bytes, t2, ch, inj!.sender, cListen, true, false);
        if (pDur === 0) pDur = this.rxDurUs;
      }
      if (!cListen) break;
      const ce = cListen.ev;
      ce.rxBursts++;
      if (status2 === NOT_HEARD) {
        ce.rxUs += RX_SYNC_WINDOW_US;
        break;
      }
      ce.rxUs += this.rxDurUs;
      if (status2 !== RX_OK) break; // the central cannot read MD: it closes the event (§4.5.6)
      crcRun = 0;
      this.receive(link, cListen, t2 + this.rxDurUs);
      pairs++;
      t = t2 + pDur + T_IFS_US;
      // --- another pair?
      const c2 = link.central;
      const p2 = link.peripheral;
      if (!c2 || !p2 || c2.gone) break;
      const more = c2.lastTxMd || this.rxMd || c2.closeReason >= 0 || c2.ctrlQueue.length > 0;
      if (!more || pairs >= this.maxPairsPerEvent || crcRun >= 2) break;
      const nextCentral = c2.unacked ?? c2.ctrlQueue[0] ?? c2.queue[0] ?? EMPTY;
      const pairUs = airTimeUs(2 + nextCentral.payload.length) + T_IFS_US + airTimeUs(2 + p2.port.maxPayloadBytes) + T_IFS_US;
      if (t + pairUs > A + link.intervalUs - T_IFS_US) break;
    }
    if (c) this.report(c.port, c.ev);
    if (p && pListen) this.report(p.port, p.ev);
  }

  /** A valid packet (CRC ok) reached `end`: acknowledgement, de-duplication, then the payload (§4.5.9). */
  private receive(link: Link, end: LinkEnd, tEndUs: number): void {
    end.lastValidRxUs = tEndUs;
    end.established = true;
    if (this.rxNesn !== end.sn) {
      // The peer acknowledged our last PDU: the next one is new.
      end.sn ^= 1;
      const acked = end.unacked;
      end.unacked = null;
      if (acked !== null && acked !== EMPTY) {
        this.acked(end, acked, tEndUs);
        if (end.gone) return;
      }
    }
    const payload = this.rxPayload;
    const len = payload.length;
    if (this.rxSn !== end.nesn) {
      if (this.traceLl && (len > 0 || this.traceVerbose)) {
        this.world.trace.record(end.port.name, 'll', 'data.dup', { handle: end.handle, event: link.counter, sn: this.rxSn, length: len });
      }
      return;
    }
    end.nesn ^= 1;
    const llid = this.rxLlid;
    if (llid === LLID.CONTINUATION && len === 0 && !this.rxCp) {
      if (this.traceVerbose) this.world.trace.record(end.port.name, 'll', 'data.rx', { handle: end.handle, event: link.counter, channel: link.channel, llid, length: 0, sn: this.rxSn, nesn: this.rxNesn });
      return;
    }
    const problem = this.rxCp
      ? 'cte'
      : llid === 0
        ? 'llid'
        : len > end.port.maxPayloadBytes
          ? 'length'
          : llid === LLID.START && len === 0
            ? 'empty-start'
            : llid === LLID.CONTROL && len === 0
              ? 'no-opcode'
              : '';
    if (problem !== '') {
      // Acknowledged (the header was valid) but discarded: a fixed link layer neither
      // crashes on a length over what it can receive (connMaxRxOctets, §4.5.10) nor stalls
      // on LLID 0 (SweynTooth: CVE-2019-17519, CVE-2019-17060 on the KW41Z before SDK 2.2.1).
      if (this.traceLl) this.world.trace.record(end.port.name, 'll', 'data.invalid', { handle: end.handle, event: link.counter, reason: problem, llid, length: len });
      return;
    }
    if (this.traceLl) {
      this.world.trace.record(end.port.name, 'll', 'data.rx', { handle: end.handle, event: link.counter, channel: link.channel, llid, length: len, sn: this.rxSn, nesn: this.rxNesn });
    }
    if (llid === LLID.CONTROL) {
      this.control(link, end, payload.slice(), tEndUs);
      return;
    }
    const copy = payload.slice();
    const handle = end.handle;
    this.deliver(end.port, tEndUs, (cl) => cl.received?.(handle, llid as Llid, copy));
  }

  /** Our PDU was acknowledged. */
  private acked(end: LinkEnd, item: TxItem, tUs: number): void {
    if (item.terminate) {
      // The peer acknowledged LL_TERMINATE_IND: the procedure is complete (§5.1.3).
      this.exit(end, HCI.LOCAL_HOST_TERMINATED, tUs);
      return;
    }
    if (item.fromHost && --end.hostPending === 0) {
      const handle = end.handle;
      this.deliver(end.port, tUs, (c) => c.sent?.(handle));
    }
  }

  private queueCtrl(end: LinkEnd, pdu: LlControlPdu | Uint8Array): void {
    const payload = pdu instanceof Uint8Array ? pdu : encodeLlControl(pdu);
    end.ctrlQueue.push({ llid: LLID.CONTROL, payload, fromHost: false, terminate: false });
  }

  /** The link layer's own control procedures (§5.1); none of them reaches the host. */
  private control(link: Link, end: LinkEnd, payload: Uint8Array, tUs: number): void {
    const d = decodeLlControl(payload);
    if (!d.ok) {
      if (this.traceLl) this.world.trace.record(end.port.name, 'll', 'ctrl.invalid', { handle: end.handle, op: llOpcodeName(payload[0] ?? 0), code: d.code });
      return;
    }
    const pdu = d.value;
    if (this.traceLl) this.world.trace.record(end.port.name, 'll', 'ctrl.rx', { handle: end.handle, op: llOpcodeName(payload[0]!) });
    switch (pdu.type) {
      case 'LL_TERMINATE_IND':
        // Acknowledge it, then leave with the peer's reason (§5.1.3).
        end.closeReason = pdu.errorCode;
        return;
      case 'LL_VERSION_IND':
        if (!end.versionSent) {
          end.versionSent = true;
          this.queueCtrl(end, { type: 'LL_VERSION_IND', ...end.port.version });
        }
        return;
      case 'LL_LENGTH_REQ': {
        // No Data Length Extension: we answer with what we already use both ways (§5.1.9).
        const octets = end.port.maxPayloadBytes;
        const timeUs = (octets + 14) * 8; // payload + header, preamble, AA, CRC and MIC on LE 1M
        this.queueCtrl(end, { type: 'LL_LENGTH_RSP', maxRxOctets: octets, maxRxTimeUs: timeUs, maxTxOctets: octets, maxTxTimeUs: timeUs });
        return;
      }
      case 'LL_PING_REQ':
        this.queueCtrl(end, { type: 'LL_PING_RSP' });
        return;
      case 'LL_FEATURE_REQ':
      case 'LL_PERIPHERAL_FEATURE_REQ':
        this.queueCtrl(end, { type: 'LL_FEATURE_RSP', featureSetLe: FEATURES_LE });
        return;
      case 'LL_CONNECTION_UPDATE_IND':
      case 'LL_CHANNEL_MAP_IND': {
        if (end.role !== 'peripheral') return; // only a central sends these (§5.1.1, §5.1.2)
        if (((pdu.instant - link.counter) & 0xffff) >= 0x8000 || pdu.instant === link.counter) {
          if (this.traceLl) this.world.trace.record(end.port.name, 'll', 'instant.passed', { handle: end.handle, instant: pdu.instant, event: link.counter });
          this.exit(end, HCI.INSTANT_PASSED, tUs);
          return;
        }
        if (pdu.type === 'LL_CONNECTION_UPDATE_IND') {
          const intervalUs = pdu.intervalUnits1250us * 1_250;
          const timeoutUs = pdu.timeoutUnits10ms * 10_000;
          if (intervalUs < 7_500 || intervalUs > 4_000_000 || timeoutUs < 100_000 || pdu.latency > 499) {
            if (this.traceLl) this.world.trace.record(end.port.name, 'll', 'ctrl.invalid', { handle: end.handle, op: 'LL_CONNECTION_UPDATE_IND', code: 'value' });
            return;
          }
          end.pendingUpdate = {
            instant: pdu.instant,
            intervalUs,
            latency: pdu.latency,
            timeoutUs,
            winOffsetUs: pdu.winOffsetUnits1250us * 1_250,
            winSizeUs: Math.max(1, pdu.winSizeUnits1250us) * 1_250,
          };
        } else {
          if (usedChannels(pdu.channelMapLe).length < 2) return; // at least two used channels (§2.3.3.1)
          end.pendingUpdate = { instant: pdu.instant, channelMapLe: pdu.channelMapLe };
        }
        return;
      }
      case 'LL_UNKNOWN_RSP':
      case 'LL_FEATURE_RSP':
      case 'LL_PING_RSP':
      case 'LL_LENGTH_RSP':
      case 'LL_REJECT_IND':
        return;
      case 'other':
        // Not supported here (encryption, PHY, parameters request…): LL_UNKNOWN_RSP (§2.4.2.7).
        if (pdu.opcode === 0x11) return; // LL_REJECT_EXT_IND needs no answer
        this.queueCtrl(end, { type: 'LL_UNKNOWN_RSP', unknownType: pdu.opcode });
        return;
    }
  }

  /**
   * Move to the next connection event: counter, anchor, channel. At a peripheral's pending
   * instant its new parameters start; the central did not send them (our centrals never do),
   * so the two now follow different schedules: the link splits in two.
   */
  private advance(link: Link): void {
    link.counter = (link.counter + 1) & 0xffff;
    const oldAnchor = link.anchorUs;
    link.anchorUs = oldAnchor + link.intervalUs;
    this.nextChannel(link);
    const p = link.peripheral;
    const u = p?.pendingUpdate;
    if (!p || !u || u.instant !== link.counter) return;
    p.pendingUpdate = null;
    let target = link;
    if (link.central) {
      target = this.splitOff(link, p);
    }
    if (u.channelMapLe) {
      target.used = usedChannels(u.channelMapLe);
      target.usedMask = maskOf(target.used);
      // The event at the instant already uses the new map (§5.1.2).
      const un = target.unmapped;
      target.channel = target.usedMask[un] ? un : target.used[un % target.used.length]!;
    }
    if (u.intervalUs !== undefined) {
      // The instant's event sits in a transmit window winOffset after the old anchor + old interval (§5.1.1).
      target.anchorUs = oldAnchor + link.intervalUs + (u.winOffsetUs ?? 0);
      target.intervalUs = u.intervalUs;
      target.latency = u.latency ?? target.latency;
      target.timeoutUs = u.timeoutUs ?? target.timeoutUs;
      p.windowUs = u.winSizeUs ?? 1_250;
    }
    if (this.traceLl) {
      this.world.trace.record(p.port.name, 'll', 'conn.update', {
        handle: p.handle,
        event: link.counter,
        intervalUs: target.intervalUs,
        latency: target.latency,
        timeoutUs: target.timeoutUs,
        split: target !== link,
      });
    }
    if (target !== link) this.scheduleLink(target);
  }

  private splitOff(link: Link, p: LinkEnd): Link {
    const t = new Link(
      this,
      link.aa,
      link.crcInit,
      link.hop,
      link.intervalUs,
      link.latency,
      link.timeoutUs,
      link.scaCentralPpm,
      allChannelsMapLe(),
      link.createdUs,
      link.anchorUs,
      link.centralAddress,
      link.peripheralAddress,
    );
    t.used = link.used;
    t.usedMask = link.usedMask;
    t.unmapped = link.unmapped;
    t.channel = link.channel;
    t.counter = link.counter;
    link.peripheral = null;
    t.peripheral = p;
    p.link = t;
    this.links.push(t);
    return t;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** The AD structures an advertising PDU carries (none for directed, request and connect PDUs). */
function advPayloadData(pdu: AdvPdu): Uint8Array {
  switch (pdu.type) {
    case 'ADV_IND':
    case 'ADV_NONCONN_IND':
    case 'ADV_SCAN_IND':
      return pdu.advData;
    case 'SCAN_RSP':
      return pdu.scanRspData;
    default:
      return new Uint8Array(0);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function equalLlData(a: LlData, b: LlData): boolean {
  return (
    a.accessAddress === b.accessAddress &&
    a.crcInit === b.crcInit &&
    a.winSizeUnits1250us === b.winSizeUnits1250us &&
    a.winOffsetUnits1250us === b.winOffsetUnits1250us &&
    a.intervalUnits1250us === b.intervalUnits1250us &&
    a.latency === b.latency &&
    a.timeoutUnits10ms === b.timeoutUnits10ms &&
    equalBytes(a.channelMapLe, b.channelMapLe) &&
    a.hop === b.hop &&
    a.sca === b.sca
  );
}

/** Why a peripheral cannot follow this LLData (§2.3.3.1 ranges), or '' when it can. */
function connectIndProblem(d: LlData): string {
  if (!isValidAccessAddress(d.accessAddress)) return 'access address';
  if (d.intervalUnits1250us < 6 || d.intervalUnits1250us > 3200) return 'interval';
  if (d.winSizeUnits1250us < 1) return 'window size';
  if (d.latency > 499) return 'latency';
  if (d.timeoutUnits10ms < 10 || d.timeoutUnits10ms > 3200) return 'timeout';
  if (d.timeoutUnits10ms * 10_000 <= (1 + d.latency) * d.intervalUnits1250us * 1_250 * 2) return 'timeout';
  if (d.hop < 5 || d.hop > 16) return 'hop';
  if (usedChannels(d.channelMapLe).length < 2) return 'channel map';
  return '';
}
