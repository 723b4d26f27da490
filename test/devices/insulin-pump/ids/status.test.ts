// Tests for IDD Status Changed, IDD Status, IDD Annunciation Status and IDD Features (ids.md §1.1–1.4, §9):
// exact bytes, E2E, and every rejection code. Not when the pump indicates them.

import { describe, expect, it } from 'vitest';
import { withE2e } from '../../../../devices/insulin-pump/ids/e2e.ts';
import { FEATURE, STATUS_CHANGED } from '../../../../devices/insulin-pump/ids/enums.ts';
import {
  decodeAnnunciationStatus,
  decodeFeatures,
  decodeStatus,
  decodeStatusChanged,
  decodeTemperatureAuxInfo,
  encodeAnnunciationStatus,
  encodeFeatures,
  encodeStatus,
  encodeStatusChanged,
  encodeTemperatureAuxInfo,
  type AnnunciationStatus,
  type IddStatus,
} from '../../../../devices/insulin-pump/ids/status.ts';
import { hex, toHex } from './ids-fixture.ts';

describe('IDD Status Changed (§4.1)', () => {
  it('encodes the latched flags as u16', () => {
    const v = { flags: STATUS_CHANGED.therapyControlStateChanged | STATUS_CHANGED.annunciationStatusChanged };
    expect(toHex(encodeStatusChanged(v))).toBe('0900');
    expect(decodeStatusChanged(hex('0900'))).toEqual({ ok: true, value: v });
    expect(decodeStatusChanged(encodeStatusChanged(v, 3), { e2e: true, expectedCounter: 3 })).toEqual({ ok: true, value: v, counter: 3 });
  });

  it.each([
    ['one octet', '09', 'length'],
    ['three octets', '090000', 'length'],
  ])('refuses %s', (_n, h, code) => {
    expect(decodeStatusChanged(hex(h))).toMatchObject({ ok: false, code });
  });

  it('reads RFU bits 8–15 as 0', () => {
    expect(decodeStatusChanged(hex('81ff'))).toEqual({ ok: true, value: { flags: 0x81 } });
  });
});

describe('IDD Status (§4.2)', () => {
  const run: IddStatus = { therapyControlState: 'run', operationalState: 'ready', reservoirRemainingMilliUnits: 150_000, reservoirAttached: true };
  it('reproduces §9 example 3 byte for byte', () => {
    expect(toHex(encodeStatus(run, 1))).toBe('5596960001011ff4');
    expect(decodeStatus(hex('5596960001011ff4'), { e2e: true, expectedCounter: 1 })).toEqual({ ok: true, value: run, counter: 1 });
  });

  it('carries NaN (0x07FF) as null with no reservoir attached (§3.3.1.3)', () => {
    const none: IddStatus = { therapyControlState: 'stop', operationalState: 'off', reservoirRemainingMilliUnits: null, reservoirAttached: false };
    expect(toHex(encodeStatus(none))).toBe('3333ff0700');
    expect(decodeStatus(hex('3333ff0700'))).toEqual({ ok: true, value: none });
  });

  it.each([
    ['a prohibited therapy state', '00 96 9600 01', 'prohibited'],
    ['an RFU operational state', '55 ff 9600 01', 'operand'],
    ['+INF remaining', '55 96 fe07 01', 'operand'],
    ['a negative amount', '55 96 fbff 01', 'operand'],
    ['a missing flags octet', '55 96 9600', 'length'],
    ['a trailing octet', '55 96 9600 01 00', 'length'],
  ])('refuses %s', (_n, h, code) => {
    expect(decodeStatus(hex(h))).toMatchObject({ ok: false, code });
  });

  it('refuses a bad CRC and a wrong counter', () => {
    expect(decodeStatus(hex('5596960001011ff5'), { e2e: true })).toMatchObject({ code: 'crc' });
    expect(decodeStatus(hex('5596960001011ff4'), { e2e: true, expectedCounter: 2 })).toMatchObject({ code: 'counter' });
  });
});

describe('IDD Annunciation Status (§4.3)', () => {
  const occlusion: AnnunciationStatus = { annunciation: { instanceId: 5, annunciationType: 0x003c, status: 'pending' } };
  const full: AnnunciationStatus = {
    annunciation: {
      instanceId: 0xffff,
      annunciationType: 0xf00f,
      status: 'snoozed',
      auxInfo1: hex('0102'),
      auxInfo2: hex('0304'),
      auxInfo3: hex('0506'),
      auxInfo4: hex('0708'),
      auxInfo5: hex('090a'),
    },
  };
  it.each([
    ['none: just Flags = 0x00', {}, '00'],
    ['an occlusion, pending', occlusion, '01 0500 3c00 33'],
    ['AuxInfo1 and 2', { annunciation: { ...occlusion.annunciation!, auxInfo1: hex('aabb'), auxInfo2: hex('ccdd') } }, '07 0500 3c00 33 aabb ccdd'],
    ['all AuxInfo, a manufacturer type', full, '3f ffff 0ff0 3c 0102 0304 0506 0708 090a'],
  ] as Array<[string, AnnunciationStatus, string]>)('%s', (_n, v, h) => {
    expect(toHex(encodeAnnunciationStatus(v))).toBe(toHex(hex(h)));
    expect(decodeAnnunciationStatus(hex(h))).toEqual({ ok: true, value: v });
  });

  it('is 19 octets at most with E2E', () => {
    const b = encodeAnnunciationStatus(full, 9);
    expect(b.length).toBe(19);
    expect(toHex(b)).toBe(toHex(withE2e(hex('3fffff0ff03c0102030405060708090a'), 9)));
    expect(decodeAnnunciationStatus(b, { e2e: true, expectedCounter: 9 })).toEqual({ ok: true, value: full, counter: 9 });
  });

  it.each([
    ['AuxInfo without an annunciation', '02 aabb', 'operand'],
    ['a prohibited annunciation type', '01 0500 3d00 33', 'prohibited'],
    ['an RFU annunciation type', '01 0500 6a03 33', 'operand'],
    ['a prohibited status', '01 0500 3c00 34', 'prohibited'],
    ['a truncated AuxInfo', '03 0500 3c00 33 aa', 'length'],
    ['empty', '', 'length'],
  ])('refuses %s', (_n, h, code) => {
    expect(decodeAnnunciationStatus(hex(h))).toMatchObject({ ok: false, code });
  });

  it('lays out the Temperature AuxInfo (§3.4.1.6)', () => {
    const t = { valueMilliDegrees: 41_500, unit: 'celsius', tooLow: false, tooHigh: true, context: 'insulin', lowerBoundMilliDegrees: 2000, upperBoundMilliDegrees: 37_000 } as const;
    const aux = encodeTemperatureAuxInfo(t);
    expect(toHex(aux.auxInfo1!)).toBe('9ff1');
    expect(toHex(aux.auxInfo2!)).toBe('8133');
    expect(decodeTemperatureAuxInfo(aux)).toEqual({ ok: true, value: t });
    expect(decodeTemperatureAuxInfo({ auxInfo1: hex('9ff1') })).toMatchObject({ ok: false, code: 'operand' });
  });
});

describe('IDD Features (§4.4, §3.5)', () => {
  const flagsE2e = 0x0005ef;
  it('reproduces §9 example 4 with and without E2E', () => {
    const f = { insulinConcentrationMilli: 100_000, flags: flagsE2e, extension: new Uint8Array(0) };
    expect(toHex(encodeFeatures(f, 1))).toBe('26bd016400ef0500');
    expect(decodeFeatures(hex('26bd016400ef0500'), 1)).toEqual({ ok: true, value: f, counter: 1 });
    const plain = { ...f, flags: 0x0005ee };
    expect(toHex(encodeFeatures(plain))).toBe('ffff006400ee0500');
    expect(decodeFeatures(hex('ffff006400ee0500'))).toEqual({ ok: true, value: plain });
    expect(flagsE2e & FEATURE.e2eProtection).toBe(1);
  });

  it('reads Feature Extension octets (bit 23) until one without its top bit', () => {
    const f = { insulinConcentrationMilli: 200_000, flags: FEATURE.featureExtension | FEATURE.fastBolus, extension: hex('8101') };
    const b = encodeFeatures(f);
    expect(toHex(b)).toBe('ffff00c800200080' + '8101');
    expect(decodeFeatures(b)).toEqual({ ok: true, value: f });
  });

  it.each([
    ['a bad CRC with E2E', '27bd016400ef0500', 'crc'],
    ['a CRC other than 0xFFFF without E2E', 'fffe006400ee0500', 'crc'],
    ['a counter other than 0 without E2E', 'ffff016400ee0500', 'counter'],
    ['seven octets', 'ffff006400ee05', 'length'],
    ['a trailing octet', 'ffff006400ee050000', 'length'],
    ['a missing extension octet', 'ffff006400ee0580', 'length'],
    ['NaN concentration', 'ffff00ff07ee0500', 'operand'],
  ])('refuses %s', (_n, h, code) => {
    expect(decodeFeatures(hex(h))).toMatchObject({ ok: false, code });
  });

  it('refuses a wrong counter with E2E', () => {
    expect(decodeFeatures(hex('26bd016400ef0500'), 2)).toMatchObject({ ok: false, code: 'counter' });
  });

  it('reads RFU flag bits 16–22 as 0 and refuses to send them', () => {
    const b = encodeFeatures({ insulinConcentrationMilli: 100_000, flags: 0x0005ee, extension: new Uint8Array(0) });
    b[7] = 0x7f;
    expect(decodeFeatures(b)).toMatchObject({ ok: true, value: { flags: 0x0005ee } });
    expect(() => encodeFeatures({ insulinConcentrationMilli: 100_000, flags: 0x0105ee, extension: new Uint8Array(0) })).toThrow(RangeError);
    expect(() => encodeFeatures({ insulinConcentrationMilli: 100_000, flags: flagsE2e, extension: new Uint8Array(0) })).toThrow(RangeError);
  });
});
