// Tests for the Status Reader Control Point codec (ids.md §2): per op code a round trip with exact bytes, and each
// rejection code. Not the procedures behind them.

import { describe, expect, it } from 'vitest';
import { withE2e } from '../../../../devices/insulin-pump/ids/e2e.ts';
import {
  decodeSrcpRequest,
  decodeSrcpResponse,
  encodeSrcpRequest,
  encodeSrcpResponse,
  srcpResponseCode,
  SRCP_REQUEST_OPS,
  SRCP_RESPONSE_OPS,
  type SrcpRequest,
  type SrcpResponse,
} from '../../../../devices/insulin-pump/ids/status-reader-cp.ts';
import { hex, toHex } from './ids-fixture.ts';

const REQUESTS: Array<[string, SrcpRequest, string, number[]]> = [
  ['resetStatus (§9 example 7)', { op: 'resetStatus', flags: 0xff }, '0c03 ff00', []],
  ['resetStatus bits 0 and 3', { op: 'resetStatus', flags: 0x09 }, '0c03 0900', []],
  ['getActiveBolusIds', { op: 'getActiveBolusIds' }, '3003', []],
  ['getActiveBolusDelivery', { op: 'getActiveBolusDelivery', bolusId: 7, selection: 'delivered' }, '5603 0700 3c', [4]],
  ['getActiveBasalRateDelivery', { op: 'getActiveBasalRateDelivery' }, '6503', []],
  ['getTotalDailyInsulinStatus', { op: 'getTotalDailyInsulinStatus' }, '9503', []],
  ['getCounter', { op: 'getCounter', counterType: 'reservoirInsulinOperationTime', valueSelection: 'elapsed' }, 'a603 55 33', [2, 3]],
  ['getDeliveredInsulin', { op: 'getDeliveredInsulin' }, 'c003', []],
  ['getInsulinOnBoard', { op: 'getInsulinOnBoard' }, 'f303', []],
];

const RESPONSES: Array<[string, SrcpResponse, string, number[]]> = [
  ['responseCode', srcpResponseCode(0x0365, 'procedureNotApplicable'), '0303 6503 74', []],
  ['responseCode success', srcpResponseCode(0x030c, 'success'), '0303 0c03 0f', []],
  ['getActiveBolusIdsResponse', { op: 'getActiveBolusIdsResponse', count: 2, bolusIds: [1, 2] }, '3f03 02 0100 0200', []],
  ['getActiveBolusIdsResponse none', { op: 'getActiveBolusIdsResponse', count: 0, bolusIds: [] }, '3f03 00', []],
  ['getActiveBolusIdsResponse, 9 active → the 7 oldest', { op: 'getActiveBolusIdsResponse', count: 9, bolusIds: [1, 2, 3, 4, 5, 6, 7] }, '3f03 09 0100 0200 0300 0400 0500 0600 0700', []],
  [
    'getActiveBolusDeliveryResponse, delivered (delay 0xFFFF)',
    {
      op: 'getActiveBolusDeliveryResponse',
      bolusId: 7,
      bolusType: 'multiwave',
      fastAmountMilliUnits: 1000,
      extendedAmountMilliUnits: 2000,
      durationMinutes: 90,
      delayMinutes: 0xffff,
      reasonCorrection: false,
      reasonMeal: true,
    },
    '5903 11 0700 55 0af0 14f0 5a00 ffff',
    [5],
  ],
  [
    'getActiveBasalRateDeliveryResponse, no TBR',
    { op: 'getActiveBasalRateDeliveryResponse', activeTemplateNumber: 1, currentConfigMilliUnitsPerHour: 800 },
    '6a03 00 01 08f0',
    [],
  ],
  [
    'getActiveBasalRateDeliveryResponse, TBR with template and context',
    {
      op: 'getActiveBasalRateDeliveryResponse',
      activeTemplateNumber: 1,
      currentConfigMilliUnitsPerHour: 800,
      tbrType: 'relative',
      tbrAdjustmentMilli: 1500,
      tbrDurationProgrammedMinutes: 60,
      tbrDurationRemainingMinutes: 45,
      tbrTemplateNumber: 4,
      basalDeliveryContext: 'apController',
    },
    '6a03 07 01 08f0 3c 0ff0 3c00 2d00 04 55',
    [6, 14],
  ],
  [
    'getTotalDailyInsulinStatusResponse',
    { op: 'getTotalDailyInsulinStatusResponse', bolusMilliUnits: 20_500, basalMilliUnits: 19_200, totalMilliUnits: 39_700 },
    '9a03 cdf0 c0f0 8df1',
    [],
  ],
  ['getCounterResponse elapsed', { op: 'getCounterResponse', counterType: 'reservoirInsulinOperationTime', valueSelection: 'elapsed', valueMinutes: 4320 }, 'a903 55 33 e0100000', [2, 3]],
  ['getCounterResponse remaining, expired', { op: 'getCounterResponse', counterType: 'iddLifetime', valueSelection: 'remaining', valueMinutes: -30 }, 'a903 0f 0f e2ffffff', [2, 3]],
  ['getDeliveredInsulinResponse (FLOAT)', { op: 'getDeliveredInsulinResponse', bolusMilliUnits: 12_350, basalMilliUnits: 80_000_000 }, 'cf03 d30400fe 00127afe', []],
  ['getInsulinOnBoardResponse with duration', { op: 'getInsulinOnBoardResponse', insulinOnBoardMilliUnits: 3200, remainingDurationMinutes: 150 }, 'fc03 01 20f0 9600', []],
  ['getInsulinOnBoardResponse without duration', { op: 'getInsulinOnBoardResponse', insulinOnBoardMilliUnits: 3200 }, 'fc03 00 20f0', []],
];

function rejections(h: string, enumAt: number[]): Array<[string, Uint8Array, string]> {
  const b = hex(h);
  const out: Array<[string, Uint8Array, string]> = [];
  if (b.length > 2) out.push(['one octet short', b.slice(0, -1), 'length']);
  out.push(['one octet too many', Uint8Array.from([...b, 0]), 'length']);
  for (const at of enumAt) {
    const p = b.slice();
    p[at] = 0x01;
    out.push([`prohibited 0x01 at ${at}`, p, 'prohibited']);
    const r = b.slice();
    r[at] = 0xff;
    out.push([`RFU 0xFF at ${at}`, r, 'operand']);
  }
  return out;
}

type Decode = (b: Uint8Array, f?: { e2e: true; expectedCounter?: number } | { e2e: false }) => { ok: boolean };

function suite<T extends { op: string }>(title: string, rows: Array<[string, T, string, number[]]>, encode: (m: T, c?: number) => Uint8Array, decode: Decode, ops: readonly string[]): void {
  describe(title, () => {
    it('covers every op code', () => expect(new Set(rows.map((r) => r[1].op))).toEqual(new Set(ops)));

    it.each(rows)('%s: exact bytes and back', (_n, value, h) => {
      expect(toHex(encode(value))).toBe(toHex(hex(h)));
      expect(decode(hex(h))).toEqual({ ok: true, value });
    });

    it.each(rows)('%s: E2E round trip, bad CRC, bad counter', (_n, value, h) => {
      const framed = encode(value, 200);
      expect(toHex(framed)).toBe(toHex(withE2e(hex(h), 200)));
      expect(decode(framed, { e2e: true, expectedCounter: 200 })).toEqual({ ok: true, value, counter: 200 });
      const bad = framed.slice();
      bad[2]! ^= 0x80;
      expect(decode(bad, { e2e: true })).toMatchObject({ ok: false, code: 'crc' });
      expect(decode(framed, { e2e: true, expectedCounter: 201 })).toMatchObject({ ok: false, code: 'counter' });
    });

    it.each(rows.flatMap(([name, , h, at]) => rejections(h, at).map(([w, b, c]) => [`${name}: ${w}`, b, c] as const)))('%s → %s', (_n, b, code) => {
      expect(decode(b)).toMatchObject({ ok: false, code });
    });
  });
}

suite('SRCP requests (§4.5)', REQUESTS, encodeSrcpRequest, decodeSrcpRequest, SRCP_REQUEST_OPS);
suite('SRCP responses (§4.5)', RESPONSES, encodeSrcpResponse, decodeSrcpResponse, SRCP_RESPONSE_OPS);

describe('SRCP op codes and operands (Table 4.14)', () => {
  it.each([
    ['an RFU codeword 0x0505', '0505', 'opcode'],
    ['the last RFU codeword 0x0F3C', '3c0f', 'opcode'],
    ['a response op as a request (0x033F)', '3f03 00', 'opcode'],
    ['a non-codeword 0x0304', '0403', 'prohibited'],
    ['a RACP-range value 0x00F0', 'f000', 'prohibited'],
    ['a CCP op 0x0F5A', '5a0f 55', 'prohibited'],
    ['a codeword in 0x03FD–0x0504 (0x0433)', '3304', 'prohibited'],
  ])('refuses %s as %s', (_n, h, code) => {
    expect(decodeSrcpRequest(hex(h))).toMatchObject({ ok: false, code });
  });

  it('answers an RFU op code with 0x70 and a bad operand with 0x71', () => {
    expect(decodeSrcpRequest(hex('0505'))).toMatchObject({ responseCode: 0x70, opCode: 0x0505 });
    expect(decodeSrcpRequest(hex('5603 0700 ff'))).toMatchObject({ code: 'operand', responseCode: 0x71, opCode: 0x0356 });
  });

  it('reads RFU bits 8–15 of Reset Status as 0 (§1.3)', () => {
    expect(decodeSrcpRequest(hex('0c03 ffff'))).toEqual({ ok: true, value: { op: 'resetStatus', flags: 0xff } });
    expect(() => encodeSrcpRequest({ op: 'resetStatus', flags: 0x100 })).toThrow(RangeError);
  });

  it('refuses a TBR template number without the TBR group (flags b1 without b0)', () => {
    expect(decodeSrcpResponse(hex('6a03 02 01 08f0 04'))).toMatchObject({ ok: false, code: 'operand' });
    expect(() =>
      encodeSrcpResponse({ op: 'getActiveBasalRateDeliveryResponse', activeTemplateNumber: 1, currentConfigMilliUnitsPerHour: 800, tbrTemplateNumber: 4 }),
    ).toThrow(RangeError);
  });

  it('refuses a partial TBR group and a bolus ID list that disagrees with its count', () => {
    expect(() =>
      encodeSrcpResponse({ op: 'getActiveBasalRateDeliveryResponse', activeTemplateNumber: 1, currentConfigMilliUnitsPerHour: 800, tbrType: 'absolute' }),
    ).toThrow(RangeError);
    expect(() => encodeSrcpResponse({ op: 'getActiveBolusIdsResponse', count: 9, bolusIds: [1] })).toThrow(RangeError);
  });
});
