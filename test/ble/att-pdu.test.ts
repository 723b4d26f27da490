// Tests of the ATT codec: every opcode byte-exact both ways, and the malformed PDUs the decoder refuses.
// Not ATT behaviour (att-server.test.ts, att-client.test.ts).

import { describe, expect, it } from 'vitest';
import { ATT_ERROR, ATT_OP, attErrorName, attOpcodeName, decodeAttPdu, encodeAttPdu, primaryHandle, type AttPdu } from '../../src/ble/att-pdu.ts';
import { uuid, uuid16 } from '../../src/ble/uuid.ts';
import { bytes, hex } from './loopback.ts';

const U128 = uuid('7a1f0001-3c2e-4d5b-9e8f-0123456789ab');
const U128_LE = 'ab8967452301 8f9e 5b4d 2e3c 01001f7a'.replaceAll(' ', '');

// Every opcode of Vol 3 Part F §3.4.8 with a byte-exact encoding (little-endian fields).
const CASES: [string, AttPdu, string][] = [
  ['Error Response', { op: 'error-rsp', requestOpcode: 0x0a, handle: 0x0012, error: 0x02 }, '01 0a 1200 02'],
  ['Exchange MTU Request', { op: 'exchange-mtu-req', mtu: 247 }, '02 f700'],
  ['Exchange MTU Response', { op: 'exchange-mtu-rsp', mtu: 256 }, '03 0001'],
  ['Find Information Request', { op: 'find-information-req', startHandle: 0x0001, endHandle: 0xffff }, '04 0100 ffff'],
  ['Find Information Response (16-bit)', { op: 'find-information-rsp', format: 1, entries: [{ handle: 8, uuid: uuid16(0x2a05) }, { handle: 9, uuid: uuid16(0x2902) }] }, '05 01 0800 052a 0900 0229'],
  ['Find Information Response (128-bit)', { op: 'find-information-rsp', format: 2, entries: [{ handle: 0x1b, uuid: U128 }] }, `05 02 1b00 ${U128_LE}`],
  ['Find By Type Value Request', { op: 'find-by-type-value-req', startHandle: 1, endHandle: 0xffff, type: 0x2800, value: Uint8Array.of(0x0f, 0x18) }, '06 0100 ffff 0028 0f18'],
  ['Find By Type Value Response', { op: 'find-by-type-value-rsp', entries: [{ foundHandle: 0x15, groupEndHandle: 0x18 }] }, '07 1500 1800'],
  ['Read By Type Request (16-bit)', { op: 'read-by-type-req', startHandle: 1, endHandle: 5, type: uuid16(0x2803) }, '08 0100 0500 0328'],
  ['Read By Type Request (128-bit)', { op: 'read-by-type-req', startHandle: 1, endHandle: 0xffff, type: U128 }, `08 0100 ffff ${U128_LE}`],
  ['Read By Type Response', { op: 'read-by-type-rsp', entries: [{ handle: 2, value: bytes('020300002a') }, { handle: 4, value: bytes('020500012a') }] }, '09 07 0200 020300002a 0400 020500012a'],
  ['Read Request', { op: 'read-req', handle: 0x0003 }, '0a 0300'],
  ['Read Response', { op: 'read-rsp', value: bytes('6d6564') }, '0b 6d6564'],
  ['Read Blob Request', { op: 'read-blob-req', handle: 0x1b, offset: 22 }, '0c 1b00 1600'],
  ['Read Blob Response', { op: 'read-blob-rsp', value: bytes('1617') }, '0d 1617'],
  ['Read Multiple Request', { op: 'read-multiple-req', handles: [3, 5] }, '0e 0300 0500'],
  ['Read Multiple Response', { op: 'read-multiple-rsp', values: bytes('41420d41') }, '0f 41420d41'],
  ['Read By Group Type Request', { op: 'read-by-group-type-req', startHandle: 1, endHandle: 0xffff, type: uuid16(0x2800) }, '10 0100 ffff 0028'],
  ['Read By Group Type Response', { op: 'read-by-group-type-rsp', entries: [{ handle: 1, endGroupHandle: 5, value: bytes('0018') }] }, '11 06 0100 0500 0018'],
  ['Write Request', { op: 'write-req', handle: 0x1e, value: bytes('01') }, '12 1e00 01'],
  ['Write Response', { op: 'write-rsp' }, '13'],
  ['Prepare Write Request', { op: 'prepare-write-req', handle: 0x1b, offset: 18, value: bytes('aabb') }, '16 1b00 1200 aabb'],
  ['Prepare Write Response', { op: 'prepare-write-rsp', handle: 0x1b, offset: 18, value: bytes('aabb') }, '17 1b00 1200 aabb'],
  ['Execute Write Request', { op: 'execute-write-req', flags: 1 }, '18 01'],
  ['Execute Write Response', { op: 'execute-write-rsp' }, '19'],
  ['Handle Value Notification', { op: 'handle-value-ntf', handle: 0x20, value: bytes('0102') }, '1b 2000 0102'],
  ['Handle Value Indication', { op: 'handle-value-ind', handle: 0x23, value: bytes('ff') }, '1d 2300 ff'],
  ['Handle Value Confirmation', { op: 'handle-value-cfm' }, '1e'],
  ['Read Multiple Variable Request', { op: 'read-multiple-variable-req', handles: [3, 0x1e] }, '20 0300 1e00'],
  ['Read Multiple Variable Response', { op: 'read-multiple-variable-rsp', values: [bytes('4142'), bytes('00')] }, '21 0200 4142 0100 00'],
  ['Multiple Handle Value Notification', { op: 'multiple-handle-value-ntf', entries: [{ handle: 0x20, value: bytes('01') }, { handle: 0x17, value: bytes('6463') }] }, '23 2000 0100 01 1700 0200 6463'],
  ['Write Command', { op: 'write-cmd', handle: 0x1e, value: bytes('0203') }, '52 1e00 0203'],
  ['Signed Write Command', { op: 'signed-write-cmd', handle: 0x1e, value: bytes('07'), signature: bytes('000102030405060708090a0b') }, 'd2 1e00 07 000102030405060708090a0b'],
];

describe('ATT PDU codec (Vol 3 Part F §3.4)', () => {
  it.each(CASES)('%s encodes to its bytes and decodes back', (_name, pdu, wire) => {
    const b = encodeAttPdu(pdu);
    expect(hex(b)).toBe(wire.replaceAll(' ', ''));
    const d = decodeAttPdu(b);
    expect(d).toEqual({ ok: true, value: pdu });
  });

  it('covers every opcode the spec defines', () => {
    const seen = new Set(CASES.map(([, p]) => encodeAttPdu(p)[0]));
    expect([...Object.values(ATT_OP)].filter((o) => !seen.has(o))).toEqual([]);
  });

  const BAD: [string, string, string][] = [
    ['empty', '', 'empty'],
    ['unknown opcode 0x14', '14 0100', 'unknown-opcode'],
    ['unknown command 0x7f', '7f', 'unknown-opcode'],
    ['Error Response too short', '01 0a 1200', 'length'],
    ['Exchange MTU one byte', '02 17', 'length'],
    ['Find Information Request 6 bytes', '04 0100 ffff 00', 'length'],
    ['Find Information Response format 3', '05 03 0100 0028', 'format'],
    ['Find Information Response ragged', '05 01 0100 00', 'length'],
    ['Find Information Response empty list', '05 01', 'length'],
    ['Find By Type Value Request without type', '06 0100 ffff', 'length'],
    ['Find By Type Value Response ragged', '07 0100 05', 'length'],
    ['Read By Type Request 32-bit type', '08 0100 ffff 00280000', 'length'],
    ['Read By Type Response length 1', '09 01 0100', 'format'],
    ['Read By Type Response ragged', '09 04 0100 aa02 03', 'length'],
    ['Read Request 4 bytes', '0a 0300 00', 'length'],
    ['Read Blob Request 3 bytes', '0c 0300', 'length'],
    ['Read Multiple one handle', '0e 0300', 'length'],
    ['Read Multiple odd', '0e 0300 0500 01', 'length'],
    ['Read By Group Type Response length 3', '11 03 0100 0500', 'format'],
    ['Write Request without handle', '12 01', 'length'],
    ['Write Response with a byte', '13 00', 'length'],
    ['Prepare Write Request without offset', '16 1b00 12', 'length'],
    ['Execute Write Request without flags', '18', 'length'],
    ['Execute Write Response with a byte', '19 00', 'length'],
    ['Confirmation with a byte', '1e 00', 'length'],
    ['Read Multiple Variable Response cut length', '21 0200 4142 01', 'length'],
    ['Multiple Handle Value Notification one tuple', '23 2000 0100 01', 'length'],
    ['Multiple Handle Value Notification overrun', '23 2000 0500 01 1700 0100 00', 'length'],
    ['Write Command without handle', '52 1e', 'length'],
    ['Signed Write Command short signature', 'd2 1e00 000102030405060708090a', 'length'],
  ];

  it.each(BAD)('%s (%s) is rejected with code %s', (_name, wire, code) => {
    const d = decodeAttPdu(bytes(wire));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.code).toBe(code);
  });

  it('names opcodes and errors as the spec does', () => {
    expect(attOpcodeName(0x0a)).toBe('ATT_READ_REQ');
    expect(attOpcodeName(0x1e)).toBe('ATT_HANDLE_VALUE_CFM');
    expect(attOpcodeName(0x7f)).toBe('ATT_0x7F');
    expect(attErrorName(ATT_ERROR.ATTRIBUTE_NOT_LONG)).toBe('attribute-not-long');
    expect(attErrorName(0x80)).toBe('application-error-0x80');
    expect(attErrorName(0x30)).toBe('att-error-0x30');
  });

  it('picks the handle a trace names', () => {
    expect(primaryHandle({ op: 'read-blob-req', handle: 0x1b, offset: 22 })).toBe(0x1b);
    expect(primaryHandle({ op: 'error-rsp', requestOpcode: 0x0a, handle: 0x26, error: 8 })).toBe(0x26);
    expect(primaryHandle({ op: 'read-multiple-req', handles: [5, 3] })).toBe(5);
    expect(primaryHandle({ op: 'find-information-req', startHandle: 1, endHandle: 2 })).toBeUndefined();
  });
});
