// Flash: NOR storage with erase-before-write, addressed in bytes.
// Not a key-value store: records live in src/storage/record-store.ts on top of this.

import type { HalResult } from './result.ts';

export interface FlashGeometry {
  readonly sizeBytes: number;
  readonly sectorBytes: number;
  /** The smallest programmable unit; addresses and lengths of program() are multiples of it. */
  readonly programUnitBytes: number;
}

/**
 * Blocking, unlike the split-phase rule of the other capabilities: the MCUXpresso SDK's
 * FLASH_Program/FLASH_Erase spin on the FTFA's CCIF flag, and firmware runs them to
 * completion inside one run-to-completion step. The target charges the stall to the ledger.
 */
export interface Flash {
  readonly geometry: FlashGeometry;
  /** Copy of `length` bytes at `address`. */
  read(address: number, length: number): HalResult<Uint8Array>;
  /**
   * Program `data` at `address`. Bits only go 1→0: a 0→1 bit fails with 'bits' and
   * changes nothing; a range outside the device or crossing a sector boundary fails with
   * 'size'; an unaligned address or length fails with 'invalid'.
   */
  program(address: number, data: Uint8Array): HalResult;
  /** Erase one sector to 0xFF. */
  eraseSector(sector: number): HalResult;
}
