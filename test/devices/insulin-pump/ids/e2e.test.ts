// Tests for E2E-Protection (ids.md §6, §9): the CRC-16/MCRF4XX check value and spec vector, every worked
// byte example of §9 checked byte for byte, and the counter rules. Not the message layouts.

import { describe, expect, it } from 'vitest';
import {
  checkCrc,
  checkE2e,
  crc16Mcrf4xx,
  E2E_LAST_RECEIVED_INITIAL,
  expectedE2eCounter,
  nextE2eCounter,
  withCrc,
  withE2e,
} from '../../../../devices/insulin-pump/ids/e2e.ts';
import { hex, toHex } from './ids-fixture.ts';

describe('CRC-16/MCRF4XX (§3.16, GSS §2.5)', () => {
  it('has the check value 0x6F91 for "123456789"', () => {
    expect(crc16Mcrf4xx(new TextEncoder().encode('123456789'))).toBe(0x6f91);
  });

  it('gives 0x2F01, sent 01 2F, for the spec vector 3E 01 … 09', () => {
    const data = hex('3e010203040506070809');
    expect(crc16Mcrf4xx(data)).toBe(0x2f01);
    expect(toHex(withCrc(data)).slice(-4)).toBe('012f');
  });

  it('is 0xFFFF over nothing (the preset, no final XOR)', () => {
    expect(crc16Mcrf4xx(new Uint8Array(0))).toBe(0xffff);
  });
});

/** ids.md §9: [example, body without E2E, counter, full value]. */
const EXAMPLES: Array<[string, string, number, string]> = [
  ['1 Set Bolus fast 2.5 IU', '4b11 00 33 19f0 0000 0000', 1, '4b11 00 33 19f0 0000 0000 01 c0c3'],
  ['1 Set Bolus with Activation Type Manual', '4b11 04 33 19f0 0000 0000 33', 1, '4b11043319f0000000003301c8e2'],
  ['1 Set Bolus Response, Bolus ID 1', '7711 0100', 1, '7711 0100 01 e881'],
  ['2 Set Therapy Control State Run', '5a0f 55', 2, '5a0f 55 02 03ce'],
  ['2 Response Code, procedure not applicable', '550f 5a0f 74', 2, '550f 5a0f 74 02 a3c1'],
  ['3 IDD Status read', '55 96 9600 01', 1, '55969600 01 01 1ff4'],
  ['5 Set TBR Adjustment relative ×1.5', 'ff0f 02 3c 0ff0 3c00 3c', 2, 'ff0f 02 3c 0ff0 3c00 3c 02 5f03'],
  ['6 Write Basal Rate Profile Template, first record', 'cc0f 06 01 01 b400 0af0 4a01 0ff0 5901 14f0', 3, 'cc0f060101b4000af04a010ff0590114f003610a'],
  ['6 Write … Response', 'f00f 00 01 01', 3, 'f00f 00 01 01 03 b0d3'],
  ['6 closing record', 'cc0f 03 01 04 5901 05f0 f000 0af0', 4, 'cc0f 03 01 04 5901 05f0 f000 0af0 04 b994'],
  ['7 RACP report all', '3333', 1, '3333 01 badd'],
  ['7 RACP report seq ≥ 100', '3355 0f 64000000', 1, '33550f6400000001 1b39'],
  ['7 RACP end', '0f0f 33 f0', 1, '0f0f33f0 01 c6ec'],
  ['7 SRCP Reset Status bits 0–7', '0c03 ff00', 1, '0c03ff00 01 0fb5'],
];

describe('worked byte examples (ids.md §9)', () => {
  it.each(EXAMPLES)('example %s', (_name, body, counter, full) => {
    expect(toHex(withE2e(hex(body), counter))).toBe(toHex(hex(full)));
    expect(checkE2e(hex(full), counter)).toEqual({ ok: true, value: { body: hex(body), counter }, counter });
  });

  it('example 4: IDD Features CRC 0xBD26 over the octets after it', () => {
    expect(crc16Mcrf4xx(hex('01 6400 ef0500'))).toBe(0xbd26);
  });

  it('example 7: History Data CRC without counter', () => {
    expect(toHex(withCrc(hex('0303 2a000000 7800 3355')))).toBe('03032a00000078003355b588');
    expect(checkCrc(hex('03032a00000078003355b588'))).toEqual({ ok: true, value: hex('03032a00000078003355') });
  });
});

describe('checkE2e refusals', () => {
  const good = hex('5a0f550203ce');
  it.each([
    ['a flipped CRC bit', hex('5a0f550203cf'), undefined, 'crc'],
    ['a flipped body bit', hex('5a0f540203ce'), undefined, 'crc'],
    ['the wrong counter', good, 3, 'counter'],
    ['counter 0 (never sent)', withE2eRaw(hex('5a0f55'), 0), undefined, 'counter'],
    ['two octets', hex('03ce'), undefined, 'length'],
    ['nothing', new Uint8Array(0), undefined, 'length'],
  ])('refuses %s', (_name, bytes, expected, code) => {
    expect(checkE2e(bytes, expected)).toMatchObject({ ok: false, code });
  });

  it('checks the CRC before the counter', () => {
    expect(checkE2e(hex('5a0f550203cf'), 9)).toMatchObject({ code: 'crc' });
  });

  it('refuses a corrupted History Data CRC', () => {
    expect(checkCrc(hex('03032a00000078003355b589'))).toMatchObject({ ok: false, code: 'crc' });
    expect(checkCrc(hex('03'))).toMatchObject({ ok: false, code: 'length' });
  });

  it('refuses to send counter 0 or 256', () => {
    expect(() => withE2e(hex('00'), 0)).toThrow(RangeError);
    expect(() => withE2e(hex('00'), 256)).toThrow(RangeError);
  });
});

/** Build a value with an arbitrary counter (also 0) and a correct CRC. */
function withE2eRaw(body: Uint8Array, counter: number): Uint8Array {
  const b = Uint8Array.from([...body, counter]);
  const crc = crc16Mcrf4xx(b);
  return Uint8Array.from([...b, crc & 0xff, crc >>> 8]);
}

describe('E2E-Counter rules (§3.15)', () => {
  it('starts at 1, steps to 255, then 1 again (0 skipped)', () => {
    expect(nextE2eCounter(1)).toBe(2);
    expect(nextE2eCounter(254)).toBe(255);
    expect(nextE2eCounter(255)).toBe(1);
  });

  it('accepts only received − (last mod 255) == 1, last starting at 255', () => {
    expect(E2E_LAST_RECEIVED_INITIAL).toBe(255);
    expect(expectedE2eCounter(255)).toBe(1);
    expect(expectedE2eCounter(1)).toBe(2);
    expect(expectedE2eCounter(254)).toBe(255);
    // Walk 600 writes: the expected counter always equals the sender's next counter.
    let last = E2E_LAST_RECEIVED_INITIAL;
    let sent = 1;
    for (let i = 0; i < 600; i++) {
      expect(expectedE2eCounter(last)).toBe(sent);
      last = sent;
      sent = nextE2eCounter(sent);
    }
  });
});
