// Tests for the Command Control Point and Command Data codecs (ids.md §3, §4): per op code a round trip with
// exact bytes, and each rejection code ('length', 'prohibited', 'operand', 'opcode', 'crc', 'counter').

import { describe, expect, it } from 'vitest';
import {
  ccpResponseCode,
  CCP_REQUEST_OPS,
  CCP_RESPONSE_OPS,
  COMMAND_DATA_OPS,
  decodeCcpRequest,
  decodeCcpResponse,
  decodeCommandData,
  encodeCcpRequest,
  encodeCcpResponse,
  encodeCommandData,
  type CcpRequest,
  type CcpResponse,
  type CommandData,
} from '../../../../devices/insulin-pump/ids/command-cp.ts';
import { withE2e } from '../../../../devices/insulin-pump/ids/e2e.ts';
import { hex, toHex } from './ids-fixture.ts';

const noFlags = { reasonCorrection: false, reasonMeal: false };
const fast25: CcpRequest = { op: 'setBolus', bolusType: 'fast', fastAmountMilliUnits: 2500, extendedAmountMilliUnits: 0, durationMinutes: 0, ...noFlags };
/** The first record of the App. B profile (§9 example 6). */
const basalBlocks = [
  { durationMinutes: 180, valueMilli: 1000 },
  { durationMinutes: 330, valueMilli: 1500 },
  { durationMinutes: 345, valueMilli: 2000 },
];
const basalFirst: CcpRequest = { op: 'writeBasalRateProfileTemplate', endTransaction: false, templateNumber: 1, firstTimeBlockIndex: 1, blocks: basalBlocks };
const bolusTemplate = { templateNumber: 5, bolusType: 'fast', fastAmountMilliUnits: 4500, extendedAmountMilliUnits: 0, durationMinutes: 0, delayMinutes: 10, reasonCorrection: false, reasonMeal: true } as const;
const tgrBlocks = [
  { durationMinutes: 600, lowerMilli: 90_000, upperMilli: 120_000 },
  { durationMinutes: 840, lowerMilli: 100_000, upperMilli: 140_000 },
];
const tgrWrite: CcpRequest = { op: 'writeTargetGlucoseRangeProfileTemplate', endTransaction: true, templateNumber: 8, firstTimeBlockIndex: 1, blocks: tgrBlocks };

/** [op, value, exact bytes without E2E, offsets of enumeration octets (u8 Hamming)]. */
const REQUESTS: Array<[string, CcpRequest, string, number[]]> = [
  ['setTherapyControlState', { op: 'setTherapyControlState', state: 'stop' }, '5a0f 33', [2]],
  ['setFlightMode', { op: 'setFlightMode' }, '660f', []],
  ['snoozeAnnunciation', { op: 'snoozeAnnunciation', instanceId: 0x1234 }, '690f 3412', []],
  ['confirmAnnunciation', { op: 'confirmAnnunciation', instanceId: 1 }, '990f 0100', []],
  ['readBasalRateProfileTemplate', { op: 'readBasalRateProfileTemplate', templateNumber: 2 }, 'aa0f 02', []],
  ['writeBasalRateProfileTemplate (§9 example 6)', basalFirst, 'cc0f 06 01 01 b400 0af0 4a01 0ff0 5901 14f0', []],
  [
    'writeBasalRateProfileTemplate, one block, end',
    { op: 'writeBasalRateProfileTemplate', endTransaction: true, templateNumber: 1, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1440, valueMilli: 800 }] },
    'cc0f 01 01 01 a005 08f0',
    [],
  ],
  [
    'setTbrAdjustment (§9 example 5)',
    { op: 'setTbrAdjustment', changeTbr: false, tbrType: 'relative', adjustmentMilli: 1500, durationMinutes: 60, deliveryContext: 'remoteControl' },
    'ff0f 02 3c 0ff0 3c00 3c',
    [3, 8],
  ],
  [
    'setTbrAdjustment, change, absolute, template',
    { op: 'setTbrAdjustment', changeTbr: true, tbrType: 'absolute', adjustmentMilli: 500, durationMinutes: 120, templateNumber: 3 },
    'ff0f 05 33 05f0 7800 03',
    [3],
  ],
  ['cancelTbrAdjustment', { op: 'cancelTbrAdjustment' }, '1111', []],
  ['getTbrTemplate', { op: 'getTbrTemplate', templateNumber: 4 }, '1e11 04', []],
  ['setTbrTemplate', { op: 'setTbrTemplate', templateNumber: 4, tbrType: 'relative', adjustmentMilli: 800, durationMinutes: 30 }, '2d11 04 3c 08f0 1e00', [3]],
  ['setBolus (§9 example 1)', fast25, '4b11 00 33 19f0 0000 0000', [3]],
  [
    'setBolus multiwave, delay, template, activation, meal',
    {
      op: 'setBolus',
      bolusType: 'multiwave',
      fastAmountMilliUnits: 1000,
      extendedAmountMilliUnits: 2000,
      durationMinutes: 90,
      delayMinutes: 15,
      templateNumber: 2,
      activationType: 'recommended',
      reasonCorrection: false,
      reasonMeal: true,
    },
    '4b11 17 55 0af0 14f0 5a00 0f00 02 3c',
    [3, 13],
  ],
  [
    'setBolus extended, correction',
    { op: 'setBolus', bolusType: 'extended', fastAmountMilliUnits: 0, extendedAmountMilliUnits: 3000, durationMinutes: 120, reasonCorrection: true, reasonMeal: false },
    '4b11 08 3c 0000 1ef0 7800',
    [3],
  ],
  ['cancelBolus', { op: 'cancelBolus', bolusId: 7 }, '7811 0700', []],
  ['getAvailableBoluses', { op: 'getAvailableBoluses' }, '8811', []],
  ['getBolusTemplate', { op: 'getBolusTemplate', templateNumber: 5 }, 'bb11 05', []],
  ['setBolusTemplate', { op: 'setBolusTemplate', ...bolusTemplate }, 'dd11 05 05 33 2df0 0000 0000 0a00', [4]],
  ['getTemplateStatusAndDetails', { op: 'getTemplateStatusAndDetails' }, 'ee11', []],
  ['resetTemplateStatus', { op: 'resetTemplateStatus', templateNumbers: [1, 2] }, '1d12 02 01 02', []],
  ['activateProfileTemplates', { op: 'activateProfileTemplates', templateNumbers: [1] }, '2e12 01 01', []],
  ['getActivatedProfileTemplates', { op: 'getActivatedProfileTemplates' }, '4812', []],
  ['startPriming', { op: 'startPriming', amountMilliUnits: 2000 }, '7b12 14f0', []],
  ['stopPriming', { op: 'stopPriming' }, '8412', []],
  ['setInitialReservoirFillLevel', { op: 'setInitialReservoirFillLevel', fillLevelMilliUnits: 300_000 }, '8b12 2c01', []],
  ['resetReservoirInsulinOperationTime', { op: 'resetReservoirInsulinOperationTime' }, 'b712', []],
  ['readIsfProfileTemplate', { op: 'readIsfProfileTemplate', templateNumber: 4 }, 'b812 04', []],
  [
    'writeIsfProfileTemplate',
    { op: 'writeIsfProfileTemplate', endTransaction: true, templateNumber: 4, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1440, valueMilli: 40_000 }] },
    'de12 01 04 01 a005 2800',
    [],
  ],
  ['readI2choRatioProfileTemplate', { op: 'readI2choRatioProfileTemplate', templateNumber: 6 }, 'ed12 06', []],
  [
    'writeI2choRatioProfileTemplate',
    {
      op: 'writeI2choRatioProfileTemplate',
      endTransaction: false,
      templateNumber: 6,
      firstTimeBlockIndex: 1,
      blocks: [
        { durationMinutes: 720, valueMilli: 10_000 },
        { durationMinutes: 720, valueMilli: 12_000 },
      ],
    },
    '1b14 02 06 01 d002 0a00 d002 0c00',
    [],
  ],
  ['readTargetGlucoseRangeProfileTemplate', { op: 'readTargetGlucoseRangeProfileTemplate', templateNumber: 8 }, '2814 08', []],
  ['writeTargetGlucoseRangeProfileTemplate', tgrWrite, '4e14 03 08 01 5802 5a00 7800 4803 6400 8c00', []],
  ['getMaxBolusAmount', { op: 'getMaxBolusAmount' }, '7d14', []],
  ['setMaxBolusAmount', { op: 'setMaxBolusAmount', maxBolusAmountMilliUnits: 25_000 }, '8d14 faf0', []],
];

const RESPONSES: Array<[string, CcpResponse, string, number[]]> = [
  ['responseCode (§9 example 2)', ccpResponseCode(0x0f5a, 'procedureNotApplicable'), '550f 5a0f 74', []],
  ['responseCode success', ccpResponseCode(0x0f66, 'success'), '550f 660f 0f', []],
  ['responseCode max bolus number reached', ccpResponseCode(0x114b, 'maximumBolusNumberReached'), '550f 4b11 76', []],
  ['snoozeAnnunciationResponse', { op: 'snoozeAnnunciationResponse', instanceId: 0x1234 }, '960f 3412', []],
  ['confirmAnnunciationResponse', { op: 'confirmAnnunciationResponse', instanceId: 1 }, 'a50f 0100', []],
  ['writeBasalRateProfileTemplateResponse (§9 example 6)', { op: 'writeBasalRateProfileTemplateResponse', transactionCompleted: false, templateNumber: 1, firstTimeBlockIndex: 1 }, 'f00f 00 01 01', []],
  ['writeBasalRateProfileTemplateResponse completed', { op: 'writeBasalRateProfileTemplateResponse', transactionCompleted: true, templateNumber: 1, firstTimeBlockIndex: 4 }, 'f00f 01 01 04', []],
  ['getTbrTemplateResponse', { op: 'getTbrTemplateResponse', templateNumber: 4, tbrType: 'relative', adjustmentMilli: 800, durationMinutes: 30 }, '2211 04 3c 08f0 1e00', [3]],
  ['setTbrTemplateResponse', { op: 'setTbrTemplateResponse', templateNumber: 4 }, '4411 04', []],
  ['setBolusResponse (§9 example 1)', { op: 'setBolusResponse', bolusId: 1 }, '7711 0100', []],
  ['setBolusResponse 0xBEEF', { op: 'setBolusResponse', bolusId: 0xbeef }, '7711 efbe', []],
  ['cancelBolusResponse', { op: 'cancelBolusResponse', bolusId: 7 }, '8711 0700', []],
  ['getAvailableBolusesResponse', { op: 'getAvailableBolusesResponse', fastAvailable: true, extendedAvailable: false, multiwaveAvailable: true }, 'b411 05', []],
  ['getBolusTemplateResponse', { op: 'getBolusTemplateResponse', ...bolusTemplate }, 'd211 05 05 33 2df0 0000 0000 0a00', [4]],
  ['setBolusTemplateResponse', { op: 'setBolusTemplateResponse', templateNumber: 5 }, 'e111 05', []],
  ['resetTemplateStatusResponse', { op: 'resetTemplateStatusResponse', templateNumbers: [1, 2] }, '2112 02 01 02', []],
  ['activateProfileTemplatesResponse', { op: 'activateProfileTemplatesResponse', templateNumbers: [1] }, '4712 01 01', []],
  ['getActivatedProfileTemplatesResponse none', { op: 'getActivatedProfileTemplatesResponse', templateNumbers: [] }, '7412 00', []],
  ['getActivatedProfileTemplatesResponse two', { op: 'getActivatedProfileTemplatesResponse', templateNumbers: [1, 4] }, '7412 02 01 04', []],
  ['writeIsfProfileTemplateResponse', { op: 'writeIsfProfileTemplateResponse', transactionCompleted: true, templateNumber: 4, firstTimeBlockIndex: 1 }, 'e212 01 04 01', []],
  ['writeI2choRatioProfileTemplateResponse', { op: 'writeI2choRatioProfileTemplateResponse', transactionCompleted: false, templateNumber: 6, firstTimeBlockIndex: 1 }, '2714 00 06 01', []],
  [
    'writeTargetGlucoseRangeProfileTemplateResponse',
    { op: 'writeTargetGlucoseRangeProfileTemplateResponse', transactionCompleted: true, templateNumber: 8, firstTimeBlockIndex: 1 },
    '7214 01 08 01',
    [],
  ],
  ['getMaxBolusAmountResponse', { op: 'getMaxBolusAmountResponse', maxBolusAmountMilliUnits: 25_000 }, '8214 faf0', []],
];

const COMMAND_DATA: Array<[string, CommandData, string, number[]]> = [
  [
    'readBasalRateProfileTemplateResponse (read flags: b0 = 2nd, b1 = 3rd block)',
    { op: 'readBasalRateProfileTemplateResponse', templateNumber: 1, firstTimeBlockIndex: 1, blocks: basalBlocks },
    'c30f 03 01 01 b400 0af0 4a01 0ff0 5901 14f0',
    [],
  ],
  [
    'readIsfProfileTemplateResponse',
    { op: 'readIsfProfileTemplateResponse', templateNumber: 4, firstTimeBlockIndex: 1, blocks: [{ durationMinutes: 1440, valueMilli: 40_000 }] },
    'd112 00 04 01 a005 2800',
    [],
  ],
  [
    'readI2choRatioProfileTemplateResponse',
    {
      op: 'readI2choRatioProfileTemplateResponse',
      templateNumber: 6,
      firstTimeBlockIndex: 1,
      blocks: [
        { durationMinutes: 720, valueMilli: 10_000 },
        { durationMinutes: 720, valueMilli: 12_000 },
      ],
    },
    '1414 01 06 01 d002 0a00 d002 0c00',
    [],
  ],
  [
    'readTargetGlucoseRangeProfileTemplateResponse',
    { op: 'readTargetGlucoseRangeProfileTemplateResponse', templateNumber: 8, firstTimeBlockIndex: 1, blocks: tgrBlocks },
    '4114 01 08 01 5802 5a00 7800 4803 6400 8c00',
    [],
  ],
  [
    'getTemplateStatusAndDetailsResponse, App. C basal example → 0x39',
    {
      op: 'getTemplateStatusAndDetailsResponse',
      templateType: 'basalRateProfile',
      startingTemplateNumber: 1,
      maxSupportedTimeBlocks: 24,
      templates: [
        { configurable: true, configured: false },
        { configurable: false, configured: true },
        { configurable: true, configured: true },
      ],
    },
    '1212 33 01 03 18 39',
    [2],
  ],
  [
    'getTemplateStatusAndDetailsResponse, App. C ISF example → 0x05',
    {
      op: 'getTemplateStatusAndDetailsResponse',
      templateType: 'isfProfile',
      startingTemplateNumber: 4,
      maxSupportedTimeBlocks: 24,
      templates: [
        { configurable: true, configured: false },
        { configurable: true, configured: false },
      ],
    },
    '1212 5a 04 02 18 05',
    [2],
  ],
];

type Codec<T> = { encode: (m: T, c?: number) => Uint8Array; decode: typeof decodeCcpRequest };

/** The rejections a valid message implies: one octet short/long, prohibited/RFU enum octets, bad CRC/counter. */
function rejections(h: string, enumAt: number[]): Array<[string, Uint8Array, string]> {
  const b = hex(h);
  const out: Array<[string, Uint8Array, string]> = [];
  if (b.length > 2) out.push(['one octet short', b.slice(0, -1), 'length']);
  out.push(['one octet too many', Uint8Array.from([...b, 0]), 'length']);
  for (const at of enumAt) {
    const p = b.slice();
    p[at] = 0x00;
    out.push([`prohibited 0x00 at ${at}`, p, 'prohibited']);
    const r = b.slice();
    r[at] = 0xff; // a codeword no u8 enumeration of the CCP lists: RFU
    out.push([`RFU 0xFF at ${at}`, r, 'operand']);
  }
  return out;
}

function suite<T extends { op: string }>(title: string, rows: Array<[string, T, string, number[]]>, codec: Codec<T>, allOps: readonly string[]): void {
  describe(title, () => {
    it('covers every op code', () => {
      expect(new Set(rows.map((r) => r[1].op))).toEqual(new Set(allOps));
    });

    it.each(rows)('%s: exact bytes and back', (_name, value, h) => {
      expect(toHex(codec.encode(value))).toBe(toHex(hex(h)));
      expect(codec.decode(hex(h))).toEqual({ ok: true, value });
    });

    it.each(rows)('%s: with E2E, and refused with a bad CRC or counter', (_name, value, h) => {
      const framed = codec.encode(value, 7);
      expect(toHex(framed)).toBe(toHex(withE2e(hex(h), 7)));
      expect(codec.decode(framed, { e2e: true, expectedCounter: 7 })).toEqual({ ok: true, value, counter: 7 });
      const badCrc = framed.slice();
      badCrc[badCrc.length - 1]! ^= 0x01;
      expect(codec.decode(badCrc, { e2e: true })).toMatchObject({ ok: false, code: 'crc' });
      expect(codec.decode(framed, { e2e: true, expectedCounter: 8 })).toMatchObject({ ok: false, code: 'counter' });
    });

    it.each(rows.flatMap(([name, , h, enumAt]) => rejections(h, enumAt).map(([what, b, code]) => [`${name}: ${what}`, b, code] as const)))('%s → %s', (_name, b, code) => {
      const d = codec.decode(b);
      expect(d).toMatchObject({ ok: false, code });
      if (!d.ok) expect(d.opCode).toBe(b[0]! | (b[1]! << 8));
    });
  });
}

const requestCodec: Codec<CcpRequest> = { encode: encodeCcpRequest, decode: decodeCcpRequest };
suite('CCP requests (§4.6)', REQUESTS, requestCodec, CCP_REQUEST_OPS);
suite('CCP responses (§4.6)', RESPONSES, { encode: encodeCcpResponse, decode: decodeCcpResponse as unknown as typeof decodeCcpRequest }, CCP_RESPONSE_OPS);
suite('IDD Command Data (§4.7)', COMMAND_DATA, { encode: encodeCommandData, decode: decodeCommandData as unknown as typeof decodeCcpRequest }, COMMAND_DATA_OPS);

describe('CCP op codes (Table 4.36)', () => {
  it.each([
    ['an RFU codeword 0x14B1', 'b114', 'opcode', 0x70],
    ['the last RFU codeword of the range', toHex(Uint8Array.of(0x7d, 0x1b)), 'opcode', 0x70],
    ['a response op sent as a request (0x1177)', '7711 0100', 'opcode', 0x70],
    ['the Response Code op 0x0F55 as a request', '550f 5a0f 0f', 'opcode', 0x70],
  ])('answers %s with Op Code not supported', (_name, h, code, rc) => {
    expect(decodeCcpRequest(hex(h))).toMatchObject({ ok: false, code, responseCode: rc });
  });

  it.each([
    ['a non-codeword 0x0F56', '560f'],
    ['0x0000', '0000'],
    ['0x148E (prohibited range)', '8e14'],
    ['an SRCP op 0x030C', '0c03 ff00'],
    ['a codeword above the CCP range (0x1B87)', '871b'],
  ])('ignores %s as prohibited (no answer)', (_name, h) => {
    const d = decodeCcpRequest(hex(h));
    expect(d).toMatchObject({ ok: false, code: 'prohibited' });
    expect(d.ok === false && d.responseCode).toBeFalsy();
  });

  it('refuses a value without an op code', () => {
    expect(decodeCcpRequest(hex('5a'))).toMatchObject({ ok: false, code: 'length' });
    expect(decodeCcpRequest(new Uint8Array(0))).toMatchObject({ ok: false, code: 'length' });
  });
});

describe('CCP operand rules (ids.md §3.3)', () => {
  it.each([
    ['Set Therapy Control State Undetermined', '5a0f 0f', 'operand', 0x71],
    ['Set TBR type Undetermined', 'ff0f 00 0f 0ff0 3c00', 'operand', 0x71],
    ['Set Bolus type Undetermined', '4b11 00 0f 19f0 0000 0000', 'operand', 0x71],
    ['a fast bolus with an extended amount', '4b11 00 33 19f0 0af0 0000', 'operand', 0x71],
    ['a fast bolus with a duration', '4b11 00 33 19f0 0000 3c00', 'operand', 0x71],
    ['an extended bolus with a fast amount', '4b11 00 3c 19f0 0af0 3c00', 'operand', 0x71],
    ['a bolus template fast with an extended amount', 'dd11 05 00 33 2df0 0af0 0000', 'operand', 0x71],
    ['a NaN bolus amount', '4b11 00 33 ff07 0000 0000', 'operand', 0x71],
    ['a negative bolus amount', '4b11 00 33 fbff 0000 0000', 'operand', 0x71],
    ['a sub-milli-unit amount (5e−4 IU)', '4b11 00 33 05c0 0000 0000', 'operand', 0x71],
    ['block 3 without block 2', 'cc0f 04 01 01 b400 0af0 4a01 0ff0', 'operand', 0x71],
    ['Reset Template Status of 0 templates', '1d12 00', 'operand', 0x71],
    ['Activate 15 templates', '2e12 0f' + '01'.repeat(15), 'length', 0x71],
    ['a list count larger than its octets', '1d12 03 01 02', 'length', 0x71],
    ['an RFU bolus activation type', '4b11 04 33 19f0 0000 0000 ff', 'operand', 0x71],
  ])('refuses %s', (_name, h, code, rc) => {
    expect(decodeCcpRequest(hex(h))).toMatchObject({ ok: false, code, responseCode: rc });
  });

  it('lets a prohibited value win over an earlier RFU one (the message is ignored, not answered)', () => {
    expect(decodeCcpRequest(hex('4b11 04 ff 19f0 0000 0000 00'))).toMatchObject({ ok: false, code: 'prohibited' });
  });

  it('reads RFU flag bits as 0', () => {
    expect(decodeCcpRequest(hex('4b11 e0 33 19f0 0000 0000'))).toEqual({ ok: true, value: fast25 });
    expect(decodeCcpRequest(hex('ff0f f8 3c 0ff0 3c00'))).toMatchObject({ ok: true, value: { changeTbr: false } });
  });

  it.each([
    ['a fast bolus with a duration', { ...fast25, durationMinutes: 5 } as CcpRequest],
    ['Undetermined therapy state', { op: 'setTherapyControlState', state: 'undetermined' } as CcpRequest],
    ['an amount no SFLOAT holds (12.345 IU)', { ...fast25, fastAmountMilliUnits: 12_345 } as CcpRequest],
    ['four basal blocks', { ...basalFirst, blocks: [...basalBlocks, { durationMinutes: 1, valueMilli: 0 }] } as CcpRequest],
    ['an empty activation list', { op: 'activateProfileTemplates', templateNumbers: [] } as CcpRequest],
    ['an instance ID beyond u16', { op: 'snoozeAnnunciation', instanceId: 0x10000 } as CcpRequest],
  ])('refuses to encode %s (RangeError)', (_name, m) => {
    expect(() => encodeCcpRequest(m)).toThrow(RangeError);
  });
});
