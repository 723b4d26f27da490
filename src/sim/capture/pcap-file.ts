// Capture the simulated air straight into a pcap file (the CLI's --pcap FILE): a buffered, synchronous file sink for PcapRecorder.
// Not the format (pcap.ts) and not for firmware or the air: only composition roots (CLI, scenarios, tests) touch the file system.

import { closeSync, openSync, writeSync } from 'node:fs';
import type { Air } from '../air/air.ts';
import { MedtwinError } from '../../errors.ts';
import { PcapRecorder, type PcapOptions, type PcapSink } from './pcap.ts';

/** Bytes gathered before one write(2): a few hundred frames. */
const FLUSH_AT_BYTES = 64 * 1024;

/**
 * Appends to a file it creates (or truncates), in chunks of about 64 KB. What reached the
 * file is always a valid pcap prefix: a run that dies mid-way leaves a readable capture.
 */
export class PcapFileSink implements PcapSink {
  private fd: number | null;
  private buf = new Uint8Array(FLUSH_AT_BYTES);
  private used = 0;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new MedtwinError('capture.file', `cannot create pcap file "${path}": ${(e as Error).message}`);
    }
  }

  write(chunk: Uint8Array): void {
    if (this.fd === null) throw new MedtwinError('capture.closed', `pcap file "${this.path}" is already closed`);
    if (this.used + chunk.length > this.buf.length) this.flush();
    if (chunk.length > this.buf.length) {
      this.writeAll(chunk);
      return;
    }
    this.buf.set(chunk, this.used);
    this.used += chunk.length;
  }

  flush(): void {
    if (this.fd === null || this.used === 0) return;
    this.writeAll(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    closeSync(this.fd);
    this.fd = null;
  }

  private writeAll(bytes: Uint8Array): void {
    let o = 0;
    while (o < bytes.length) o += writeSync(this.fd!, bytes, o, bytes.length - o);
  }
}

export interface PcapCapture {
  readonly path: string;
  /** Frames recorded so far. */
  readonly packets: number;
  /** Stop recording, write the frames still waiting for the clock, flush and close the file. Idempotent. */
  close(): void;
}

/**
 * Record everything the air carries from now on into `path` as pcap (link type 256).
 * Start it before the devices connect, so the CONNECT_IND is in the file.
 */
export function capturePcap(air: Air, path: string, opts: PcapOptions = {}): PcapCapture {
  const sink = new PcapFileSink(path);
  const recorder = new PcapRecorder(air, { ...opts, sink });
  return {
    path,
    get packets() {
      return recorder.packets;
    },
    close() {
      recorder.stop();
      sink.close();
    },
  };
}

/** Write what a memory-backed recorder holds so far to `path` (replacing the file). */
export function writePcapFile(path: string, recorder: PcapRecorder): void {
  const sink = new PcapFileSink(path);
  try {
    sink.write(recorder.bytes());
  } finally {
    sink.close();
  }
}
