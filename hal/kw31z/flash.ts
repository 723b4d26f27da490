// The simulated MKW31Z program flash (FTFA): NOR semantics, per-sector erase counts, ledger
// charges, an optional file-backed image and injectable power cuts. Not a record store (src/storage).

import { closeSync, existsSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import type { Flash, FlashGeometry } from '../flash.ts';
import type { Ledger, Meters } from '../ledger.ts';
import { fail, ok, okVoid, type HalResult } from '../result.ts';
import type { Trace } from '../../src/sim/trace.ts';
import { MedtwinError } from '../../src/errors.ts';
import { KW31Z_COSTS, cyclesForUs, type CostTable } from './costs.ts';

/** MKW31Z: 512 KB in 2 blocks of 256 KB, 2 KB sectors (DESIGN §3, NXP MKW41Z/31Z data sheet). */
export const KW31Z_FLASH_SIZE_BYTES = 512 * 1024;
export const KW31Z_SECTOR_BYTES = 2048;
/** FTFA "Program Longword" command: the smallest programmable unit is 4 bytes. */
export const KW31Z_PROGRAM_UNIT_BYTES = 4;

const ERASED_BYTE = 0xff;

/**
 * The chip lost power in the middle of a flash operation. Thrown, not returned: it models the
 * firmware dying, so nothing above the HAL may catch it and carry on.
 */
export class PowerCutError extends MedtwinError {
  constructor(message: string) {
    super('flash.power-cut', message);
    this.name = 'PowerCutError';
  }
}

export interface Kw31zFlashOptions {
  device: string;
  ledger: Ledger;
  /** Program/erase records go to layer 'flash' only when a trace is given. */
  trace?: Trace;
  /**
   * Persist the image in this file. An existing file must be exactly `sizeBytes` long; a
   * missing one is created erased (0xFF). Erase counts are not part of the image.
   */
  imagePath?: string;
  /** Default 512 KB; smaller multiples of the sector size make tests cheaper. */
  sizeBytes?: number;
  /** Default KW31Z_COSTS. */
  costs?: CostTable;
}

export class Kw31zFlash implements Flash {
  readonly geometry: FlashGeometry;
  private readonly device: string;
  private readonly ledger: Ledger;
  private readonly trace: Trace | undefined;
  private readonly image: Uint8Array;
  private readonly erases: number[];
  private readonly programCyclesPerLongword: number;
  private readonly eraseCyclesPerSector: number;
  private fd: number | undefined;
  private ops = 0;
  /** Successful program/erase operations left before the cut; undefined when none is armed. */
  private opsBeforeCut: number | undefined;
  private powered = true;

  constructor(opts: Kw31zFlashOptions) {
    const sizeBytes = opts.sizeBytes ?? KW31Z_FLASH_SIZE_BYTES;
    if (!Number.isInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % KW31Z_SECTOR_BYTES !== 0) {
      throw new MedtwinError('flash.config', `flash size must be a positive multiple of ${KW31Z_SECTOR_BYTES} bytes, got ${sizeBytes}`);
    }
    this.geometry = { sizeBytes, sectorBytes: KW31Z_SECTOR_BYTES, programUnitBytes: KW31Z_PROGRAM_UNIT_BYTES };
    this.device = opts.device;
    this.ledger = opts.ledger;
    this.trace = opts.trace;
    const costs = opts.costs ?? KW31Z_COSTS;
    // Charged per longword rather than per call: the SDK's FLASH_Program issues one FTFA
    // command per longword and the CPU stalls on CCIF for each.
    this.programCyclesPerLongword = cyclesForUs(costs, costs.flashProgramLongwordUs.value);
    this.eraseCyclesPerSector = cyclesForUs(costs, costs.flashEraseSectorUs.value);
    this.erases = new Array<number>(sizeBytes / KW31Z_SECTOR_BYTES).fill(0);
    this.image = new Uint8Array(sizeBytes).fill(ERASED_BYTE);
    if (opts.imagePath !== undefined) this.fd = this.openImage(opts.imagePath, sizeBytes);
  }

  private openImage(path: string, sizeBytes: number): number {
    if (!existsSync(path)) {
      const fd = openSync(path, 'w+');
      writeSync(fd, this.image, 0, sizeBytes, 0);
      return fd;
    }
    const fd = openSync(path, 'r+');
    const actualBytes = fstatSync(fd).size;
    if (actualBytes !== sizeBytes) {
      closeSync(fd);
      throw new MedtwinError('flash.image-size', `${path}: flash image is ${actualBytes} bytes, expected ${sizeBytes}`);
    }
    let done = 0;
    while (done < sizeBytes) {
      const n = readSync(fd, this.image, done, sizeBytes - done, done);
      if (n === 0) throw new MedtwinError('flash.image-read', `${path}: image ended after ${done} bytes`);
      done += n;
    }
    return fd;
  }

  /** Successful program and erase operations since construction (a test enumerates cut points with it). */
  get opsCount(): number {
    return this.ops;
  }

  /**
   * Let `afterOps` more program/erase operations succeed; the one after throws PowerCutError
   * and changes nothing, and every operation (reads included: the chip is off) throws until
   * restorePower(). Operations that fail with an error code do not count.
   */
  armPowerCut(afterOps: number): void {
    if (!Number.isInteger(afterOps) || afterOps < 0) {
      throw new MedtwinError('flash.config', `armPowerCut: afterOps must be a non-negative integer, got ${afterOps}`);
    }
    this.opsBeforeCut = afterOps;
  }

  /** Power back on, with no cut armed: what the chip sees after a reset. */
  restorePower(): void {
    this.powered = true;
    this.opsBeforeCut = undefined;
  }

  get poweredOn(): boolean {
    return this.powered;
  }

  eraseCount(sector: number): number {
    const n = this.erases[sector];
    if (n === undefined) throw new MedtwinError('flash.config', `no sector ${sector} (device has ${this.erases.length})`);
    return n;
  }

  eraseCounts(): readonly number[] {
    return this.erases.slice();
  }

  /** Release the image file. The in-memory image stays readable. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  read(address: number, length: number): HalResult<Uint8Array> {
    this.checkPowered('read');
    if (!Number.isInteger(address) || !Number.isInteger(length) || address < 0 || length < 0) {
      return fail('invalid', `read(${address}, ${length})`);
    }
    if (address + length > this.geometry.sizeBytes) return fail('size', `read beyond ${this.geometry.sizeBytes} bytes`);
    // Reads are memory-mapped on the Cortex-M0+: no FTFA command, no stall, no charge.
    return ok(this.image.slice(address, address + length));
  }

  program(address: number, data: Uint8Array): HalResult {
    this.beforeWrite('program');
    const unit = KW31Z_PROGRAM_UNIT_BYTES;
    const length = data.length;
    if (!Number.isInteger(address) || address % unit !== 0 || length % unit !== 0 || length === 0) {
      return fail('invalid', `program at ${address}, ${length} bytes: need a non-empty multiple of ${unit} bytes at a ${unit}-byte boundary`);
    }
    if (address < 0 || address + length > this.geometry.sizeBytes) {
      return fail('size', `program at ${address}, ${length} bytes: outside ${this.geometry.sizeBytes} bytes`);
    }
    const sectorBytes = this.geometry.sectorBytes;
    if (Math.floor(address / sectorBytes) !== Math.floor((address + length - 1) / sectorBytes)) {
      return fail('size', `program at ${address}, ${length} bytes: crosses a sector boundary`);
    }
    // NOR cells only go 1→0 when programmed; check every byte before touching any, so a
    // rejected call leaves the array exactly as it was.
    const image = this.image;
    for (let i = 0; i < length; i++) {
      if ((data[i]! & ~image[address + i]!) !== 0) {
        return fail('bits', `program at ${address + i}: 0x${image[address + i]!.toString(16)} → 0x${data[i]!.toString(16)} needs a 0→1 bit`);
      }
    }
    image.set(data, address);
    if (this.fd !== undefined) writeSync(this.fd, image, address, length, address);
    const longwords = length / unit;
    this.afterWrite({ flashProgramOps: longwords, cpuCycles: longwords * this.programCyclesPerLongword });
    if (this.trace?.wants('flash')) this.trace.record(this.device, 'flash', 'program', { address, length });
    return okVoid;
  }

  eraseSector(sector: number): HalResult {
    this.beforeWrite('erase');
    if (!Number.isInteger(sector)) return fail('invalid', `erase sector ${sector}`);
    if (sector < 0 || sector >= this.erases.length) return fail('size', `erase sector ${sector}: device has ${this.erases.length}`);
    const start = sector * this.geometry.sectorBytes;
    this.image.fill(ERASED_BYTE, start, start + this.geometry.sectorBytes);
    if (this.fd !== undefined) writeSync(this.fd, this.image, start, this.geometry.sectorBytes, start);
    this.erases[sector]! += 1;
    this.afterWrite({ flashEraseOps: 1, cpuCycles: this.eraseCyclesPerSector });
    if (this.trace?.wants('flash')) this.trace.record(this.device, 'flash', 'erase', { sector });
    return okVoid;
  }

  private checkPowered(op: string): void {
    if (!this.powered) throw new PowerCutError(`${this.device}: flash ${op} while the power is cut`);
  }

  private beforeWrite(op: string): void {
    this.checkPowered(op);
    if (this.opsBeforeCut === 0) {
      this.powered = false;
      throw new PowerCutError(`${this.device}: power cut before flash ${op} (after ${this.ops} operations)`);
    }
  }

  private afterWrite(meters: Meters): void {
    this.ops += 1;
    if (this.opsBeforeCut !== undefined) this.opsBeforeCut -= 1;
    this.ledger.charge('flash', meters);
  }
}
