// Tests for IDD History Data records (ids.md §4, §9 example 7): every event type ids.md lists with exact bytes,
// the CRC without counter, and each rejection code. Not the journal or RACP queries.

import { describe, expect, it } from 'vitest';
import { withCrc } from '../../../../devices/insulin-pump/ids/e2e.ts';
import { decodeHistoryRecord, encodeHistoryRecord, HISTORY_EVENT_TYPES, type HistoryEvent } from '../../../../devices/insulin-pump/ids/history-data.ts';
import { hex, toHex } from './ids-fixture.ts';

const dt = { year: 2024, month: 10, day: 1, hours: 12, minutes: 30, seconds: 45 };

/** [event, Event Type octets (LE), Event Data octets]. Every record: Sequence Number 1, Relative Offset 16 s. */
const EVENTS: Array<[HistoryEvent, string, string]> = [
  [{ type: 'referenceTime', recordingReason: 'setDateTime', dateTime: dt, timeZone: 4, dstOffset: 0 }, '0f00', '33 e807 0a 01 0c 1e 2d 04 00'],
  [{ type: 'referenceTimeBaseOffset', recordingReason: 'periodicRecording', baseTime: dt, timeOffsetMinutes: -60 }, '3300', '3c e807 0a 01 0c 1e 2d c4ff'],
  [{ type: 'bolusCalculatedPart1', fastMealMilliUnits: 2000, fastCorrectionMilliUnits: 500, extendedMealMilliUnits: 0, extendedCorrectionMilliUnits: 0 }, '3c00', '14f0 05f0 0000 0000'],
  [{ type: 'bolusCalculatedPart2', fastMealMilliUnits: 2000, fastCorrectionMilliUnits: 500, extendedMealMilliUnits: 1000, extendedCorrectionMilliUnits: 0 }, '5500', '14f0 05f0 0af0 0000'],
  [{ type: 'bolusProgrammedPart1', bolusId: 1, bolusType: 'fast', fastAmountMilliUnits: 2500, extendedAmountMilliUnits: 0, durationMinutes: 0 }, '5a00', '0100 33 19f0 0000 0000'],
  [{ type: 'bolusProgrammedPart2', reasonCorrection: false, reasonMeal: true, delayMinutes: 15, activationType: 'manual' }, '6600', '15 0f00 33'],
  [{ type: 'bolusDeliveredPart1', bolusId: 1, bolusType: 'fast', deliveredFastMilliUnits: 2500, deliveredExtendedMilliUnits: 0, effectiveDurationMinutes: 2 }, '6900', '0100 33 19f0 0000 0200'],
  [{ type: 'bolusDeliveredPart2', bolusStartTimeOffsetSeconds: 900, activationType: 'manual', endReason: 'programmedAmountDelivered' }, '9600', '03 84030000 33 33'],
  [{ type: 'bolusDeliveredPart2', bolusStartTimeOffsetSeconds: 60, endReason: 'errorAbort', annunciationInstanceId: 9 }, '9600', '06 3c000000 55 0900'],
  [{ type: 'deliveredBasalRateChanged', oldRateMilliUnitsPerHour: 800, newRateMilliUnitsPerHour: 1200, deliveryContext: 'deviceBased' }, '9900', '01 08f0 0cf0 33'],
  [{ type: 'tbrAdjustmentStarted', tbrType: 'relative', adjustmentMilli: 1500, durationProgrammedMinutes: 60 }, 'a500', '00 3c 0ff0 3c00'],
  [{ type: 'tbrAdjustmentEnded', lastSetTbrType: 'absolute', effectiveDurationMinutes: 45, endReason: 'canceled', annunciationInstanceId: 9 }, 'aa00', '02 33 2d00 3c 0900'],
  [
    { type: 'tbrAdjustmentChanged', tbrType: 'absolute', adjustmentMilli: 500, durationProgrammedMinutes: 120, elapsedSinceLastChangeMinutes: 30, templateNumber: 2 },
    'c300',
    '01 33 05f0 7800 1e00 02',
  ],
  [{ type: 'profileTemplateActivated', profileTemplateType: 'basalRate', oldTemplateNumber: 0, newTemplateNumber: 1 }, 'cc00', '33 00 01'],
  [{ type: 'basalRateProfileTemplateTimeBlockChanged', templateNumber: 1, timeBlockNumber: 1, durationMinutes: 180, rateMilliUnitsPerHour: 1000 }, 'f000', '01 01 b400 0af0'],
  [
    { type: 'totalDailyInsulinDelivery', dateTimeChangedWarning: false, sumBolusMilliUnits: 20_500, sumBasalMilliUnits: 19_200, year: 2024, month: 10, day: 1 },
    'ff00',
    '00 cdf0 c0f0 e807 0a 01',
  ],
  [{ type: 'therapyControlStateChanged', oldState: 'stop', newState: 'run' }, '0303', '33 55'],
  [{ type: 'operationalStateChanged', oldState: 'ready', newState: 'standby' }, '0c03', '96 3c'],
  [{ type: 'reservoirRemainingAmountChanged', amountMilliUnits: 150_000 }, '3003', '9600'],
  [{ type: 'reservoirRemainingAmountChanged', amountMilliUnits: null }, '3003', 'ff07'],
  [{ type: 'annunciationStatusChangedPart1', instanceId: 5, annunciationType: 0x003c, status: 'pending', auxInfo1: hex('aabb') }, '3f03', '01 0500 3c00 33 aabb'],
  [{ type: 'annunciationStatusChangedPart2', auxInfo3: hex('0102'), auxInfo5: hex('0304') }, '5603', '05 0102 0304'],
  [{ type: 'isfProfileTemplateTimeBlockChanged', templateNumber: 4, timeBlockNumber: 1, durationMinutes: 1440, valueMilli: 40_000 }, '5903', '04 01 a005 2800'],
  [{ type: 'i2choRatioProfileTemplateTimeBlockChanged', templateNumber: 6, timeBlockNumber: 2, durationMinutes: 720, valueMilli: 12_000 }, '6503', '06 02 d002 0c00'],
  [
    { type: 'targetGlucoseRangeProfileTemplateTimeBlockChanged', templateNumber: 8, timeBlockNumber: 1, durationMinutes: 600, lowerMilli: 90_000, upperMilli: 120_000 },
    '6a03',
    '08 01 5802 5a00 7800',
  ],
  [{ type: 'primingStarted', programmedAmountMilliUnits: 2000 }, '9503', '14f0'],
  [{ type: 'primingDone', deliveredAmountMilliUnits: 1500, terminationReason: 'programmedAmountReached' }, '9a03', '00 0ff0 3c'],
  [{ type: 'pointerEvent' }, 'a903', ''],
  [{ type: 'bolusTemplateChangedPart1', templateNumber: 5, bolusType: 'fast', fastAmountMilliUnits: 4500, extendedAmountMilliUnits: 0, durationMinutes: 0 }, 'c003', '05 33 2df0 0000 0000'],
  [{ type: 'bolusTemplateChangedPart2', reasonCorrection: false, reasonMeal: true, delayMinutes: 10 }, 'cf03', '05 0a00'],
  [{ type: 'tbrTemplateChanged', templateNumber: 4, tbrType: 'relative', adjustmentMilli: 800, durationMinutes: 30 }, 'f303', '04 3c 08f0 1e00'],
  [{ type: 'maxBolusAmountChanged', oldMaxBolusMilliUnits: 10_000, newMaxBolusMilliUnits: 25_000 }, 'fc03', '64f0 faf0'],
  [{ type: 'manufacturer', eventType: 0xf00f, data: hex('deadbeef') }, '0ff0', 'deadbeef'],
];

describe('History Data records (§4.9)', () => {
  it('covers every event type ids.md lists', () => {
    const covered = new Set(EVENTS.map(([e]) => e.type));
    for (const t of HISTORY_EVENT_TYPES) if (t !== 'dataCorruption') expect(covered).toContain(t);
  });

  it('reproduces §9 example 7 byte for byte', () => {
    const rec = { sequenceNumber: 42, relativeOffsetSeconds: 120, event: { type: 'therapyControlStateChanged', oldState: 'stop', newState: 'run' } } as const;
    expect(toHex(encodeHistoryRecord(rec, true))).toBe('03032a00000078003355b588');
    expect(decodeHistoryRecord(hex('03032a00000078003355b588'), true)).toEqual({ ok: true, value: rec });
  });

  it.each(EVENTS.map(([e, t, d]) => [e.type, e, t, d] as const))('%s: exact bytes and back', (_n, event, type, data) => {
    const rec = { sequenceNumber: 1, relativeOffsetSeconds: 16, event };
    const h = type + '01000000' + '1000' + data.replace(/\s+/g, '');
    expect(toHex(encodeHistoryRecord(rec, false))).toBe(h);
    expect(decodeHistoryRecord(hex(h), false)).toEqual({ ok: true, value: rec });
    expect(toHex(encodeHistoryRecord(rec, true))).toBe(toHex(withCrc(hex(h))));
    expect(decodeHistoryRecord(withCrc(hex(h)), true)).toEqual({ ok: true, value: rec });
  });

  it('gives Data Corruption the Sequence Number 0xFFFFFFFF (§3.10.2)', () => {
    const rec = { sequenceNumber: 0xffffffff, relativeOffsetSeconds: 0, event: { type: 'dataCorruption' } } as const;
    expect(toHex(encodeHistoryRecord(rec, false))).toBe('a603ffffffff0000');
    expect(decodeHistoryRecord(hex('a603ffffffff0000'), false)).toEqual({ ok: true, value: rec });
    expect(decodeHistoryRecord(hex('a60301000000 0000'), false)).toMatchObject({ ok: false, code: 'operand' });
    expect(() => encodeHistoryRecord({ ...rec, sequenceNumber: 1 }, false)).toThrow(RangeError);
  });

  it.each([
    ['a corrupted CRC', '03032a00000078003355b589', true, 'crc'],
    ['seven octets', '03032a000000 78', false, 'length'],
    ['a trailing octet', '03032a00000078003355 00', false, 'length'],
    ['a missing octet', '03032a00000078003355'.slice(0, -2), false, 'length'],
    ['a prohibited event type', '04032a0000007800', false, 'prohibited'],
    ['an RFU event type 0x0505', '05052a0000007800', false, 'operand'],
    ['a prohibited therapy state in the data', '03032a00000078003300', false, 'prohibited'],
    ['an RFU therapy state in the data', '03032a000000780033ff', false, 'operand'],
    ['an invalid month', '0f0001000000100033 e807 0d 01 0c 1e 2d 04 00', false, 'operand'],
    ['a time zone out of range', '0f0001000000100033 e807 0a 01 0c 1e 2d 60 00', false, 'operand'],
    ['a DST offset not in 0/2/4/8/255', '0f0001000000100033 e807 0a 01 0c 1e 2d 04 03', false, 'operand'],
    ['manufacturer data beyond 10 octets', '0ff001000000100000' + '00'.repeat(10), false, 'length'],
  ])('refuses %s', (_n, h, crc, code) => {
    expect(decodeHistoryRecord(hex(h), crc)).toMatchObject({ ok: false, code });
  });

  it('refuses to encode a non-manufacturer code as manufacturer', () => {
    expect(() => encodeHistoryRecord({ sequenceNumber: 1, relativeOffsetSeconds: 0, event: { type: 'manufacturer', eventType: 0x0303, data: hex('') } }, false)).toThrow(RangeError);
  });
});
