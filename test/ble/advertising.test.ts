// Tests of AD structure encoding, strict decoding and fitting into ADV_IND + SCAN_RSP (Supplement Part A §1).
// Not advertising on the air (gatt.test.ts shows a scan of the pump).

import { describe, expect, it } from 'vitest';
import { decodeAdvertisingData, encodeAdvertisingData, fitAdvertising, LE_GENERAL_FLAGS, type AdvertisingData } from '../../src/ble/advertising.ts';
import { uuid, uuid16 } from '../../src/ble/uuid.ts';
import { bytes, hex } from './loopback.ts';

const CUSTOM = uuid('7a1f0000-3c2e-4d5b-9e8f-0123456789ab');

describe('AD structures (Supplement to the Core Specification Part A §1)', () => {
  const CASES: [string, AdvertisingData, string][] = [
    ['flags', { flags: LE_GENERAL_FLAGS }, '020106'],
    ['the pump: flags and IDS 0x183A', { flags: 0x06, serviceUuids: [uuid16(0x183a)] }, '020106 03033a18'],
    ['an incomplete 16-bit list', { serviceUuids: [uuid16(0x180f), uuid16(0x180a)], serviceUuidsIncomplete: true }, '05020f180a18'],
    ['a 128-bit list', { serviceUuids: [CUSTOM] }, `1107${hex(CUSTOM.le)}`],
    ['a complete local name', { localName: 'pump' }, '050970756d70'],
    ['a shortened local name', { localName: 'pu', localNameShortened: true }, '03087075'],
    ['TX power −4 dBm', { txPowerDbm: -4 }, '020afc'],
    ['appearance 0x0D41', { appearance: 0x0d41 }, '0319410d'],
    ['service data', { serviceData: [{ uuid: uuid16(0x180f), data: bytes('57') }] }, '04160f1857'],
    ['manufacturer data (NXP 0x0025)', { manufacturerData: [{ companyId: 0x0025, data: bytes('0102') }] }, '05ff25000102'],
    ['another type, as given', { other: [{ type: 0x12, data: bytes('06000c00') }] }, '051206000c00'],
  ];

  it.each(CASES)('%s', (_n, d, wire) => {
    const e = encodeAdvertisingData(d);
    expect(e).toEqual({ ok: true, value: bytes(wire) });
    const back = decodeAdvertisingData(bytes(wire));
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    const v = back.value;
    if (d.flags !== undefined) expect(v.flags).toBe(d.flags);
    if (d.serviceUuids) expect(v.serviceUuids).toEqual(d.serviceUuids);
    if (d.localName !== undefined) expect([v.localName, v.localNameShortened]).toEqual([d.localName, d.localNameShortened ?? false]);
    if (d.txPowerDbm !== undefined) expect(v.txPowerDbm).toBe(d.txPowerDbm);
    if (d.appearance !== undefined) expect(v.appearance).toBe(d.appearance);
    if (d.serviceData) expect(v.serviceData).toEqual(d.serviceData);
    if (d.manufacturerData) expect(v.manufacturerData).toEqual(d.manufacturerData);
    if (d.other) expect(v.other).toEqual(d.other);
  });

  it('refuses more than 31 bytes with a code', () => {
    expect(encodeAdvertisingData({ flags: 6, localName: 'a name far too long for one packet' })).toMatchObject({ ok: false, code: 'ad.too-long' });
    expect(encodeAdvertisingData({ txPowerDbm: 200 })).toMatchObject({ ok: false, code: 'ad.field' });
  });

  it.each([
    ['32 bytes', '00'.repeat(32), 'ad.too-long'],
    ['a structure running past the end', '05 09 7075', 'ad.overrun'],
    ['non-zero bytes after the significant part', '020106 00 01', 'ad.padding'],
    ['flags of 2 bytes', '03 01 0600', 'ad.field'],
    ['two flags', '020106 020106', 'ad.duplicate'],
    ['a ragged 16-bit list', '04 03 0f180a', 'ad.field'],
    ['a ragged 128-bit list', '03 07 0102', 'ad.field'],
    ['TX power of 2 bytes', '03 0a 0000', 'ad.field'],
    ['appearance of 1 byte', '02 19 00', 'ad.field'],
    ['manufacturer data without a company', '02 ff 25', 'ad.field'],
    ['two names', '03 09 6162 03 08 6162', 'ad.duplicate'],
  ])('rejects %s', (_n, wire, code) => {
    expect(decodeAdvertisingData(bytes(wire))).toMatchObject({ ok: false, code });
  });

  it('accepts zero padding (bleno sends 31 bytes) and a 32-bit list', () => {
    const r = decodeAdvertisingData(bytes('020106 05053a180000' + '00'.repeat(21)));
    expect(r.ok && [r.value.flags, r.value.serviceUuids.map((u) => u.value16)]).toEqual([6, [0x183a]]);
  });

  it('fits a long name into the scan response, shortened when even that is too small', () => {
    const pump = fitAdvertising({ flags: 6, serviceUuids: [uuid16(0x183a)], localName: 'medtwin insulin pump 0001' });
    expect(pump.ok && [hex(pump.value.advData), Buffer.from(pump.value.scanRspData).toString('latin1')]).toEqual(['02010603033a18', '\u001a\u0009medtwin insulin pump 0001']);
    const short = fitAdvertising({ flags: 6, localName: 'pump' });
    expect(short.ok && [hex(short.value.advData), hex(short.value.scanRspData)]).toEqual(['020106050970756d70', '']);
    const long = fitAdvertising({ flags: 6, serviceUuids: [CUSTOM], localName: 'é'.repeat(20) }); // 40 bytes of UTF-8
    expect(long.ok && hex(long.value.scanRspData)).toBe('1d08' + 'c3a9'.repeat(14)); // 29 bytes of room, cut to 28 on a character boundary
  });
});
