// Tests for the Record Access Control Point codec (ids.md §4, §9 example 7): every op code and operator, exact
// bytes, and each rejection with the RACP Response Code Value it implies. Not the record store.

import { describe, expect, it } from 'vitest';
import { decodeRacpRequest, decodeRacpResponse, encodeRacpRequest, encodeRacpResponse, type RacpRequest, type RacpResponse } from '../../../../devices/insulin-pump/ids/racp.ts';
import { hex, toHex } from './ids-fixture.ts';

const REQUESTS: Array<[string, RacpRequest, string]> = [
  ['report all (§9)', { op: 'reportStoredRecords', operator: 'allRecords' }, '3333'],
  ['report seq ≥ 100 (§9)', { op: 'reportStoredRecords', operator: 'greaterThanOrEqualTo', filterType: 'sequenceNumber', sequenceNumber: 100 }, '3355 0f 64000000'],
  ['report ≤, reference-time events', { op: 'reportStoredRecords', operator: 'lessThanOrEqualTo', filterType: 'sequenceNumberReferenceTimeEvents', sequenceNumber: 0xffffffff }, '333c 33 ffffffff'],
  ['report first', { op: 'reportStoredRecords', operator: 'firstRecord' }, '3366'],
  ['report last', { op: 'reportStoredRecords', operator: 'lastRecord' }, '3369'],
  ['delete all', { op: 'deleteStoredRecords', operator: 'allRecords' }, '3c33'],
  [
    'delete within range, other events',
    { op: 'deleteStoredRecords', operator: 'withinRangeOf', filterType: 'sequenceNumberNonReferenceTimeEvents', minSequenceNumber: 10, maxSequenceNumber: 20 },
    '3c5a 3c 0a000000 14000000',
  ],
  ['abort', { op: 'abortOperation' }, '550f'],
  ['report number, within range', { op: 'reportNumberOfStoredRecords', operator: 'withinRangeOf', filterType: 'sequenceNumber', minSequenceNumber: 5, maxSequenceNumber: 5 }, '5a5a 0f 05000000 05000000'],
  ['report number, all', { op: 'reportNumberOfStoredRecords', operator: 'allRecords' }, '5a33'],
];

const RESPONSES: Array<[string, RacpResponse, string]> = [
  ['end of a report (§9)', { op: 'responseCode', requestOpCode: 0x33, responseCode: 'success' }, '0f0f 33 f0'],
  ['no records found', { op: 'responseCode', requestOpCode: 0x33, responseCode: 'noRecordsFound' }, '0f0f 33 06'],
  ['number of records 300', { op: 'numberOfStoredRecordsResponse', numberOfRecords: 300 }, '660f 2c010000'],
  ['no records: count 0', { op: 'numberOfStoredRecordsResponse', numberOfRecords: 0 }, '660f 00000000'],
];

describe('RACP requests (§3.9)', () => {
  it.each(REQUESTS)('%s', (_n, v, h) => {
    expect(toHex(encodeRacpRequest(v))).toBe(toHex(hex(h)));
    expect(decodeRacpRequest(hex(h))).toEqual({ ok: true, value: v });
    const framed = encodeRacpRequest(v, 1);
    expect(decodeRacpRequest(framed, { e2e: true, expectedCounter: 1 })).toEqual({ ok: true, value: v, counter: 1 });
    expect(decodeRacpRequest(framed, { e2e: true, expectedCounter: 2 })).toMatchObject({ ok: false, code: 'counter' });
    const bad = framed.slice();
    bad[0]! ^= 1;
    expect(decodeRacpRequest(bad, { e2e: true })).toMatchObject({ ok: false, code: 'crc' });
  });

  it('reproduces the §9 E2E bytes', () => {
    expect(toHex(encodeRacpRequest({ op: 'reportStoredRecords', operator: 'allRecords' }, 1))).toBe('333301badd');
    expect(toHex(encodeRacpRequest(REQUESTS[1]![1], 1))).toBe('33550f64000000011b39');
  });

  it.each([
    ['a prohibited op code', '0033', 'prohibited', undefined],
    ['an RFU op code 0x69', '6933', 'opcode', 0x02],
    ['a response op code as a request', '0f0f 33 f0', 'opcode', 0x02],
    ['a prohibited operator', '3300', 'prohibited', undefined],
    ['an RFU operator 0x96', '3396', 'operand', 0x04],
    ['operator Null on Report', '330f', 'operand', 0x03],
    ['Abort with operator All', '5533', 'operand', 0x03],
    ['a prohibited filter type', '3355 00 64000000', 'prohibited', undefined],
    ['an RFU filter type 0x55', '3355 55 64000000', 'operand', 0x09],
    ['≥ without an operand', '3355', 'length', 0x05],
    ['≥ with a short sequence number', '3355 0f 640000', 'length', 0x05],
    ['All with an operand', '3333 0f', 'length', 0x05],
    ['a reversed range', '335a 0f 14000000 0a000000', 'operand', 0x05],
    ['Abort with an operand', '550f 00', 'length', 0x05],
    ['only an op code', '33', 'length', 0x05],
    ['nothing', '', 'length', undefined],
  ])('refuses %s → %s', (_n, h, code, rc) => {
    const d = decodeRacpRequest(hex(h));
    expect(d).toMatchObject({ ok: false, code });
    if (!d.ok) expect(d.responseCode).toBe(rc);
  });
});

describe('RACP responses (§3.9)', () => {
  it.each(RESPONSES)('%s', (_n, v, h) => {
    expect(toHex(encodeRacpResponse(v))).toBe(toHex(hex(h)));
    expect(decodeRacpResponse(hex(h))).toEqual({ ok: true, value: v });
  });

  it('reproduces the §9 end-of-report bytes', () => {
    expect(toHex(encodeRacpResponse(RESPONSES[0]![1], 1))).toBe('0f0f33f001c6ec');
    expect(decodeRacpResponse(hex('0f0f33f001c6ec'), { e2e: true, expectedCounter: 1 })).toEqual({ ok: true, value: RESPONSES[0]![1], counter: 1 });
  });

  it.each([
    ['an undefined response code', '0f0f 33 f1', 'prohibited'],
    ['a non-Null operator', '0f33 33 f0', 'operand'],
    ['a short count', '660f 2c0100', 'length'],
    ['a request op code', '3333', 'opcode'],
    ['a prohibited op code', '0100', 'prohibited'],
  ])('refuses %s', (_n, h, code) => {
    expect(decodeRacpResponse(hex(h))).toMatchObject({ ok: false, code });
  });
});
