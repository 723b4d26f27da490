// Tests for the simulated KW31Z flash: NOR rules, errors that change nothing, erase counts,
// exact ledger charges, the file-backed image and power-cut injection. Not record-store tests.

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Kw31zFlash, PowerCutError, type Kw31zFlashOptions } from '../../../hal/kw31z/flash.ts';
import { KW31Z_COSTS, cyclesForUs } from '../../../hal/kw31z/costs.ts';
import { Kw31zLedger } from '../../../hal/kw31z/ledger.ts';
import { MedtwinError } from '../../../src/errors.ts';
import { Trace } from '../../../src/sim/trace.ts';

const SMALL_BYTES = 8 * 2048;

function setup(opts: Partial<Kw31zFlashOptions> = {}) {
  const ledger = new Kw31zLedger('dev', () => 0);
  const flash = new Kw31zFlash({ device: 'dev', ledger, sizeBytes: SMALL_BYTES, ...opts });
  const flashMeters = () => ledger.summary().activities.find((a) => a.activity === 'flash')!.meters;
  const image = () => {
    const r = flash.read(0, flash.geometry.sizeBytes);
    if (!r.ok) throw new Error('read failed');
    return r.value;
  };
  return { ledger, flash, flashMeters, image };
}

const bytes = (...b: number[]) => new Uint8Array(b);

describe('Kw31zFlash geometry and reads', () => {
  it('is 512 KB of 2 KB sectors with a 4-byte program unit by default, erased', () => {
    const flash = new Kw31zFlash({ device: 'd', ledger: new Kw31zLedger('d', () => 0) });
    expect(flash.geometry).toEqual({ sizeBytes: 524_288, sectorBytes: 2048, programUnitBytes: 4 });
    expect(flash.eraseCounts()).toHaveLength(256);
    const r = flash.read(524_288 - 4, 4);
    expect(r).toEqual({ ok: true, value: bytes(0xff, 0xff, 0xff, 0xff) });
  });

  it('returns a copy: changing what read() returned does not change the flash', () => {
    const { flash } = setup();
    const r = flash.read(0, 4);
    if (!r.ok) throw new Error('read');
    r.value[0] = 0;
    expect(flash.read(0, 4)).toEqual({ ok: true, value: bytes(0xff, 0xff, 0xff, 0xff) });
  });

  it('rejects reads outside the device with size and malformed ones with invalid', () => {
    const { flash } = setup();
    expect(flash.read(SMALL_BYTES - 2, 4)).toMatchObject({ ok: false, code: 'size' });
    expect(flash.read(-1, 4)).toMatchObject({ ok: false, code: 'invalid' });
    expect(flash.read(0.5, 4)).toMatchObject({ ok: false, code: 'invalid' });
  });

  it('rejects a size that is not a whole number of sectors', () => {
    expect(() => new Kw31zFlash({ device: 'd', ledger: new Kw31zLedger('d', () => 0), sizeBytes: 3000 })).toThrow(MedtwinError);
  });
});

describe('Kw31zFlash program', () => {
  it('clears bits: 1→0 is allowed, including over already-programmed bytes', () => {
    const { flash } = setup();
    expect(flash.program(8, bytes(0xf0, 0x0f, 0xaa, 0xff))).toEqual({ ok: true, value: undefined });
    expect(flash.program(8, bytes(0x80, 0x0f, 0x00, 0xfe))).toEqual({ ok: true, value: undefined });
    expect(flash.read(8, 4)).toEqual({ ok: true, value: bytes(0x80, 0x0f, 0x00, 0xfe) });
  });

  it('refuses a 0→1 bit with bits and changes nothing, not even the longwords before it', () => {
    const { flash, image, flashMeters } = setup();
    flash.program(16, bytes(0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x7f, 0xff));
    const before = image();
    const opsBefore = flash.opsCount;
    // The first longword is legal (0xff → 0x12 over erased bytes); the second needs 0→1 in bit 7 of 0x7f.
    const r = flash.program(8, bytes(0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff));
    expect(r).toMatchObject({ ok: false, code: 'bits' });
    expect(image()).toEqual(before);
    expect(flash.opsCount).toBe(opsBefore);
    expect(flashMeters().flashProgramOps).toBe(2); // only the first, successful program
  });

  it.each([
    ['unaligned address', 2, 4, 'invalid'],
    ['unaligned length', 4, 6, 'invalid'],
    ['empty', 4, 0, 'invalid'],
    ['crossing a sector boundary', 2044, 8, 'size'],
    ['past the end', SMALL_BYTES - 4, 8, 'size'],
    ['negative address', -4, 4, 'size'],
  ] as const)('rejects %s with %s and changes nothing', (_name, address, length, code) => {
    const { flash, image, flashMeters } = setup();
    const before = image();
    expect(flash.program(address, new Uint8Array(length))).toMatchObject({ ok: false, code });
    expect(image()).toEqual(before);
    expect(flash.opsCount).toBe(0);
    expect(flashMeters()).toMatchObject({ flashProgramOps: 0, cpuCycles: 0 });
  });

  it('programs the last longword of a sector and the first of the next separately', () => {
    const { flash } = setup();
    expect(flash.program(2044, bytes(1, 2, 3, 4)).ok).toBe(true);
    expect(flash.program(2048, bytes(5, 6, 7, 8)).ok).toBe(true);
    expect(flash.read(2044, 8)).toEqual({ ok: true, value: bytes(1, 2, 3, 4, 5, 6, 7, 8) });
  });
});

describe('Kw31zFlash erase', () => {
  it('sets the whole sector, and only it, to 0xFF and counts erases per sector', () => {
    const { flash } = setup();
    flash.program(2048 - 4, bytes(0, 0, 0, 0));
    flash.program(2048, new Uint8Array(2048));
    flash.program(4096, bytes(0, 0, 0, 0));
    expect(flash.eraseSector(1)).toEqual({ ok: true, value: undefined });
    expect(flash.eraseSector(1).ok).toBe(true);
    expect(flash.read(2048, 2048)).toEqual({ ok: true, value: new Uint8Array(2048).fill(0xff) });
    expect(flash.read(2044, 4)).toEqual({ ok: true, value: bytes(0, 0, 0, 0) });
    expect(flash.read(4096, 4)).toEqual({ ok: true, value: bytes(0, 0, 0, 0) });
    expect(flash.eraseCount(1)).toBe(2);
    expect(flash.eraseCounts()).toEqual([0, 2, 0, 0, 0, 0, 0, 0]);
  });

  it('rejects a sector outside the device with size and a fractional one with invalid', () => {
    const { flash } = setup();
    expect(flash.eraseSector(8)).toMatchObject({ ok: false, code: 'size' });
    expect(flash.eraseSector(-1)).toMatchObject({ ok: false, code: 'size' });
    expect(flash.eraseSector(1.5)).toMatchObject({ ok: false, code: 'invalid' });
    expect(flash.eraseCounts()).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('Kw31zFlash ledger charges', () => {
  it('charges program per longword and erase per sector at the cost table figures, reads nothing', () => {
    const { flash, flashMeters } = setup();
    flash.read(0, 2048);
    expect(flashMeters()).toMatchObject({ flashProgramOps: 0, flashEraseOps: 0, cpuCycles: 0 });

    flash.program(0, new Uint8Array(12)); // 3 longwords × 65 µs × 48 MHz = 9,360 cycles
    expect(flashMeters()).toMatchObject({ flashProgramOps: 3, flashEraseOps: 0, cpuCycles: 9_360 });

    flash.eraseSector(0); // 14,000 µs × 48 MHz = 672,000 cycles
    expect(flashMeters()).toMatchObject({ flashProgramOps: 3, flashEraseOps: 1, cpuCycles: 681_360 });

    // The literals above are the cost table's figures; keep them tied to it.
    expect(3 * cyclesForUs(KW31Z_COSTS, KW31Z_COSTS.flashProgramLongwordUs.value)).toBe(9_360);
    expect(cyclesForUs(KW31Z_COSTS, KW31Z_COSTS.flashEraseSectorUs.value)).toBe(672_000);
  });

  it('charges the flash activity only', () => {
    const { flash, ledger } = setup();
    flash.program(0, new Uint8Array(4));
    for (const a of ledger.summary().activities) {
      if (a.activity !== 'flash' && a.activity !== 'idle') expect(a.meters.cpuCycles).toBe(0);
    }
  });
});

describe('Kw31zFlash trace', () => {
  it('records program and erase on layer flash when given a trace', () => {
    const trace = new Trace(() => 77);
    const { flash } = setup({ trace });
    flash.program(8, new Uint8Array(8));
    flash.eraseSector(3);
    flash.read(0, 4);
    expect(trace.filter({ layer: 'flash' }).map((r) => [r.tUs, r.device, r.kind, r.fields])).toEqual([
      [77, 'dev', 'program', { address: 8, length: 8 }],
      [77, 'dev', 'erase', { sector: 3 }],
    ]);
  });

  it('records nothing when the layer is filtered out', () => {
    const trace = new Trace(() => 0, { layers: ['ll'] });
    const { flash } = setup({ trace });
    flash.program(0, new Uint8Array(4));
    expect(trace.records).toEqual([]);
  });
});

describe('Kw31zFlash file-backed image', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'medtwin-flash-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a missing image erased, writes through at once, and reloads it in a new instance', () => {
    const path = join(dir, 'flash.bin');
    const { flash } = setup({ imagePath: path });
    expect(statSync(path).size).toBe(SMALL_BYTES);
    expect(readFileSync(path).every((b) => b === 0xff)).toBe(true);

    flash.program(2048 + 4, bytes(0xde, 0xad, 0xbe, 0xef));
    // Written through before any close: a killed process keeps it.
    expect([...readFileSync(path).subarray(2052, 2056)]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    flash.program(4096, bytes(1, 2, 3, 4));
    flash.eraseSector(2);
    expect(readFileSync(path).subarray(4096, 6144).every((b) => b === 0xff)).toBe(true);
    flash.close();

    const again = setup({ imagePath: path }).flash;
    expect(again.read(2052, 4)).toEqual({ ok: true, value: bytes(0xde, 0xad, 0xbe, 0xef) });
    expect(again.read(4096, 4)).toEqual({ ok: true, value: bytes(0xff, 0xff, 0xff, 0xff) });
    // Bits programmed by the first instance are still 0 for the second one.
    expect(again.program(2052, bytes(0xff, 0xff, 0xff, 0xff))).toMatchObject({ ok: false, code: 'bits' });
    again.close();
  });

  it('refuses an image of the wrong size with flash.image-size', () => {
    const path = join(dir, 'short.bin');
    writeFileSync(path, new Uint8Array(1000));
    let caught: unknown;
    try {
      new Kw31zFlash({ device: 'd', ledger: new Kw31zLedger('d', () => 0), imagePath: path });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(MedtwinError);
    expect(caught).toMatchObject({ code: 'flash.image-size', message: `${path}: flash image is 1000 bytes, expected 524288` });
  });
});

describe('Kw31zFlash power cut', () => {
  it('lets the armed number of operations through, then throws and changes nothing until power returns', () => {
    const { flash, image, flashMeters } = setup();
    flash.armPowerCut(2);
    flash.program(0, bytes(0, 0, 0, 0));
    expect(flash.program(3, bytes(0, 0, 0, 0))).toMatchObject({ code: 'invalid' }); // failures do not count
    flash.eraseSector(1);
    const before = image();

    let caught: unknown;
    try {
      flash.program(4, bytes(0, 0, 0, 0));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PowerCutError);
    expect(caught).toMatchObject({ code: 'flash.power-cut' });
    expect(flash.poweredOn).toBe(false);
    expect(() => flash.eraseSector(2)).toThrow(PowerCutError);
    expect(() => flash.read(0, 4)).toThrow(PowerCutError);
    expect(flash.opsCount).toBe(2);

    flash.restorePower();
    expect(image()).toEqual(before);
    expect(flashMeters()).toMatchObject({ flashProgramOps: 1, flashEraseOps: 1 });
    expect(flash.program(4, bytes(0, 0, 0, 0)).ok).toBe(true);
    expect(flash.opsCount).toBe(3);
  });

  it('cuts before the very first operation when armed with 0', () => {
    const { flash, image } = setup();
    flash.armPowerCut(0);
    expect(() => flash.eraseSector(0)).toThrow(PowerCutError);
    flash.restorePower();
    expect(image().every((b) => b === 0xff)).toBe(true);
    expect(flash.eraseCounts()).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('leaves the file image as it was at the cut', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medtwin-flash-'));
    try {
      const path = join(dir, 'flash.bin');
      const { flash } = setup({ imagePath: path });
      flash.program(0, bytes(1, 1, 1, 1));
      flash.armPowerCut(0);
      expect(() => flash.program(4, bytes(2, 2, 2, 2))).toThrow(PowerCutError);
      flash.close();
      expect([...readFileSync(path).subarray(0, 8)]).toEqual([1, 1, 1, 1, 0xff, 0xff, 0xff, 0xff]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
