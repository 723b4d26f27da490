// What the simulated air carried, as a classic pcap stream with link type 256 (LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR) for Wireshark/tshark.
// Not file I/O (pcap-file.ts writes to a path) and not a dissector: bytes go out as sniffed, malformed ones included.

import { REPORT_RSSI_DBM, type Air, type SniffedPdu } from '../air/air.ts';
import { MedtwinError } from '../../errors.ts';
import { bleCrc24, writeCrc24OnAir } from './crc24.ts';

// ---------------------------------------------------------------------------------------------
// File format constants
// ---------------------------------------------------------------------------------------------

/** tcpdump.org link-layer header type 256: BLE LL packet behind a 10-byte pseudo-header. */
export const LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR = 256;
/** Classic pcap magic for microsecond timestamps; written little-endian, so the file starts d4 c3 b2 a1. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_GLOBAL_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
/** RF channel, signal power, noise power, AA offenses (1 each), reference AA (4), flags (2): tcpdump LINKTYPE page. */
export const LE_PHDR_BYTES = 10;
/** Access address (4) + PDU header (2) + the largest payload the air lets anyone send (255) + CRC (3), Vol 6 Part B §2.1. */
export const MAX_LE_PACKET_BYTES = 4 + 2 + 255 + 3;
/** No frame is ever longer, so none is truncated. */
export const PCAP_SNAPLEN_BYTES = LE_PHDR_BYTES + MAX_LE_PACKET_BYTES;

/** Flags of the pseudo-header (LE 16 bits, tcpdump LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR). */
export const LE_PHDR_FLAG = {
  DEWHITENED: 0x0001,
  SIGNAL_POWER_VALID: 0x0002,
  NOISE_POWER_VALID: 0x0004,
  DECRYPTED: 0x0008,
  REFERENCE_AA_VALID: 0x0010,
  AA_OFFENSES_VALID: 0x0020,
  CHANNEL_ALIASED: 0x0040,
  CRC_CHECKED: 0x0400,
  CRC_VALID: 0x0800,
  MIC_CHECKED: 0x1000,
  MIC_VALID: 0x2000,
} as const;

/** The PDU type field, flag bits 7..9. */
export const LE_PHDR_PDU_TYPE = {
  ADVERTISING_OR_DATA_UNSPECIFIED: 0,
  AUXILIARY_ADVERTISING: 1,
  DATA_CENTRAL_TO_PERIPHERAL: 2,
  DATA_PERIPHERAL_TO_CENTRAL: 3,
} as const;
const PDU_TYPE_SHIFT = 7;
/** PHY, flag bits 14..15: 0 = LE 1M, the only PHY the air models. */
const PHY_LE_1M = 0 << 14;

/**
 * The RF channel (Vol 6 Part A §2: centre frequency 2402 + 2·k MHz, k = 0..39) of a
 * channel index (Vol 6 Part B §1.4.1: data 0..36, advertising 37..39). The pseudo-header
 * carries the RF channel, not the index: 37 → 0, 0..10 → 1..11, 38 → 12, 11..36 → 13..38, 39 → 39.
 */
export function rfChannelOf(channelIndex: number): number {
  if (!Number.isInteger(channelIndex) || channelIndex < 0 || channelIndex > 39) {
    throw new MedtwinError('capture.channel', `channel index must be 0..39, got ${channelIndex}`);
  }
  if (channelIndex === 37) return 0;
  if (channelIndex === 38) return 12;
  if (channelIndex === 39) return 39;
  return channelIndex <= 10 ? channelIndex + 1 : channelIndex + 2;
}

function put16Le(out: Uint8Array, o: number, v: number): void {
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
}

function put32Le(out: Uint8Array, o: number, v: number): void {
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
  out[o + 2] = (v >>> 16) & 0xff;
  out[o + 3] = (v >>> 24) & 0xff;
}

/** The 24-byte global header: magic, version 2.4, thiszone 0, sigfigs 0, snaplen, link type; all little-endian. */
export function encodePcapGlobalHeader(snaplenBytes: number = PCAP_SNAPLEN_BYTES): Uint8Array {
  const out = new Uint8Array(PCAP_GLOBAL_HEADER_BYTES);
  put32Le(out, 0, PCAP_MAGIC_US);
  put16Le(out, 4, PCAP_VERSION_MAJOR);
  put16Le(out, 6, PCAP_VERSION_MINOR);
  // thiszone (GMT offset) and sigfigs stay 0, as every writer does.
  put32Le(out, 16, snaplenBytes);
  put32Le(out, 20, LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR);
  return out;
}

// ---------------------------------------------------------------------------------------------
// One frame
// ---------------------------------------------------------------------------------------------

export interface PcapOptions {
  /**
   * Set "CRC checked" in the pseudo-header, with "CRC valid" unless the air corrupted the
   * PDU (default true: the simulator knows). Wireshark then trusts the flags and does not
   * compute the CRC itself. With false it recomputes the advertising CRCs from 0x555555
   * (the tests check ours that way); data CRCs only in versions that take CRCInit from the
   * CONNECT_IND they dissected; tshark 4.0 marks every data frame "CRC unchecked" instead.
   */
  readonly crcCheckedAtCapture?: boolean;
}

/**
 * The CRC octets of a frame, or null when the sender's CRC init is unknown (a data PDU
 * injected on an access address no connection uses): the air does not model an injector's
 * CRC, so three zero octets go out and the frame is not marked as checked.
 */
function frameCrc(p: SniffedPdu): number | null {
  if (p.crcInit === undefined) return null;
  const crc = bleCrc24(p.bytes, p.crcInit);
  // The loss model corrupts a packet without saying which bits: keep the PDU bytes and
  // invert the CRC, so any checker that recomputes it fails as the intended receivers did.
  return p.crcOk ? crc : crc ^ 0xffffff;
}

/**
 * The data of one pcap record: the 10-byte pseudo-header then the LL packet without its
 * preamble (Vol 6 Part B §2.1): access address (LE 32), PDU (header + payload), CRC (3
 * octets in on-air order, §3.1.1).
 */
export function encodeLeFrame(p: SniffedPdu, opts: PcapOptions = {}): Uint8Array {
  const pduBytes = p.bytes.length;
  const out = new Uint8Array(LE_PHDR_BYTES + 4 + pduBytes + 3);
  const crc = frameCrc(p);
  // The air names the side of a data PDU; Wireshark uses it for direction and L2CAP reassembly.
  const pduType =
    p.fromCentral === undefined
      ? LE_PHDR_PDU_TYPE.ADVERTISING_OR_DATA_UNSPECIFIED
      : p.fromCentral
        ? LE_PHDR_PDU_TYPE.DATA_CENTRAL_TO_PERIPHERAL
        : LE_PHDR_PDU_TYPE.DATA_PERIPHERAL_TO_CENTRAL;
  let flags = LE_PHDR_FLAG.DEWHITENED | LE_PHDR_FLAG.SIGNAL_POWER_VALID | LE_PHDR_FLAG.REFERENCE_AA_VALID | (pduType << PDU_TYPE_SHIFT) | PHY_LE_1M;
  if (crc !== null && (opts.crcCheckedAtCapture ?? true)) flags |= LE_PHDR_FLAG.CRC_CHECKED | (p.crcOk ? LE_PHDR_FLAG.CRC_VALID : 0);
  // Pseudo-header. Noise power and AA offenses are not modelled: their flags stay clear.
  out[0] = rfChannelOf(p.channel);
  out[1] = REPORT_RSSI_DBM & 0xff; // signed dBm: the air's fixed RSSI
  out[2] = 0;
  out[3] = 0;
  put32Le(out, 4, p.accessAddress >>> 0); // the sniffer listened for exactly this access address
  put16Le(out, 8, flags);
  // LL packet.
  put32Le(out, 10, p.accessAddress >>> 0);
  out.set(p.bytes, 14);
  if (crc !== null) writeCrc24OnAir(out, 14 + pduBytes, crc);
  return out;
}

/** A record: ts_sec, ts_usec (from virtual µs), incl_len = orig_len, then the frame; all little-endian. */
export function encodePcapRecord(tUs: number, frame: Uint8Array): Uint8Array {
  if (!Number.isInteger(tUs) || tUs < 0 || tUs >= 2 ** 32 * 1_000_000) {
    throw new MedtwinError('capture.time', `virtual time must be a non-negative integer below 2^32 s in µs, got ${tUs}`);
  }
  const out = new Uint8Array(PCAP_RECORD_HEADER_BYTES + frame.length);
  put32Le(out, 0, Math.floor(tUs / 1_000_000));
  put32Le(out, 4, tUs % 1_000_000);
  put32Le(out, 8, frame.length);
  put32Le(out, 12, frame.length);
  out.set(frame, PCAP_RECORD_HEADER_BYTES);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sinks and the recorder
// ---------------------------------------------------------------------------------------------

/** Where pcap bytes go, in order: the global header first, then one chunk per record. */
export interface PcapSink {
  write(chunk: Uint8Array): void;
}

/** Keeps the stream in memory. */
export class MemoryPcapSink implements PcapSink {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  write(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  get byteLength(): number {
    return this.length;
  }

  /** Everything written so far, as one copy. */
  bytes(extra: readonly Uint8Array[] = []): Uint8Array {
    let n = this.length;
    for (const c of extra) n += c.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    for (const c of extra) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

export interface PcapRecorderOptions extends PcapOptions {
  /** Default: a MemoryPcapSink, read with bytes(). */
  readonly sink?: PcapSink;
}

interface Pending {
  readonly tUs: number;
  readonly seq: number;
  readonly record: Uint8Array;
}

/**
 * Records every PDU the air carries from now on, as pcap. Start it before the devices
 * connect: Wireshark follows a connection (its access address and CRCInit, so its CRCs and
 * L2CAP reassembly) only from the CONNECT_IND it dissected.
 *
 * Frames come out in virtual-time order. The air computes a whole advertising event or
 * connection event at its start, so another device's event can be sniffed later with an
 * earlier time; but nothing is ever sniffed with a time before the scheduler's current
 * time. So a frame waits until the scheduler's time reaches it, and ties keep the order
 * in which they were sniffed.
 */
export class PcapRecorder {
  private readonly sink: PcapSink;
  private readonly memory: MemoryPcapSink | null;
  private readonly opts: PcapOptions;
  private pending: Pending[] = [];
  private seq = 0;
  private written = 0;
  private unsubscribe: (() => void) | null;

  constructor(
    private readonly air: Air,
    opts: PcapRecorderOptions = {},
  ) {
    this.opts = opts.crcCheckedAtCapture === undefined ? {} : { crcCheckedAtCapture: opts.crcCheckedAtCapture };
    this.memory = opts.sink ? null : new MemoryPcapSink();
    this.sink = opts.sink ?? this.memory!;
    this.sink.write(encodePcapGlobalHeader());
    this.unsubscribe = air.sniff((p) => this.onPdu(p));
  }

  /** Frames recorded so far (written or waiting for the clock). */
  get packets(): number {
    return this.written + this.pending.length;
  }

  get stopped(): boolean {
    return this.unsubscribe === null;
  }

  private onPdu(p: SniffedPdu): void {
    const rec: Pending = { tUs: p.tUs, seq: this.seq++, record: encodePcapRecord(p.tUs, encodeLeFrame(p, this.opts)) };
    // Insert by (time, seq); usually it belongs at the end.
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.tUs > rec.tUs) i--;
    this.pending.splice(i, 0, rec);
    this.release(this.air.world.nowUs);
  }

  /** Write the frames no later PDU can precede: those at or before `untilUs`. */
  private release(untilUs: number): void {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.tUs <= untilUs) {
      this.sink.write(this.pending[n]!.record);
      n++;
    }
    if (n > 0) {
      this.pending = this.pending.slice(n);
      this.written += n;
    }
  }

  /**
   * The pcap file so far, frames still waiting for the clock included (they are not
   * committed: a later PDU may still go before them). Only with the default memory sink.
   */
  bytes(): Uint8Array {
    if (!this.memory) throw new MedtwinError('capture.sink', 'bytes() needs the default memory sink; this recorder writes to its own sink');
    return this.memory.bytes(this.pending.map((p) => p.record));
  }

  /** Stop listening and write every waiting frame. Idempotent. */
  stop(): void {
    if (this.unsubscribe) {
      this.unsubscribe();
      this.unsubscribe = null;
    }
    this.release(Infinity);
  }
}

/** Start recording the air as pcap (see PcapRecorder). */
export function startCapture(air: Air, opts: PcapRecorderOptions = {}): PcapRecorder {
  return new PcapRecorder(air, opts);
}
