// Tests for the IDS enumerations (ids.md §5): the Hamming scheme, every listed value, and every other value of
// every table refused — non-codewords as 'prohibited', unlisted codewords as RFU ('operand'). Not the layouts.

import { describe, expect, it } from 'vitest';
import * as E from '../../../../devices/insulin-pump/ids/enums.ts';
import type { EnumTable } from '../../../../devices/insulin-pump/ids/enums.ts';

const TABLES_8: Array<[string, EnumTable]> = [
  ['THERAPY_CONTROL_STATE', E.THERAPY_CONTROL_STATE],
  ['OPERATIONAL_STATE', E.OPERATIONAL_STATE],
  ['ANNUNCIATION_STATUS', E.ANNUNCIATION_STATUS],
  ['BOLUS_TYPE', E.BOLUS_TYPE],
  ['BOLUS_VALUE_SELECTION', E.BOLUS_VALUE_SELECTION],
  ['BOLUS_ACTIVATION_TYPE', E.BOLUS_ACTIVATION_TYPE],
  ['TBR_TYPE', E.TBR_TYPE],
  ['DELIVERY_CONTEXT', E.DELIVERY_CONTEXT],
  ['COUNTER_TYPE', E.COUNTER_TYPE],
  ['COUNTER_VALUE_SELECTION', E.COUNTER_VALUE_SELECTION],
  ['TEMPLATE_TYPE', E.TEMPLATE_TYPE],
  ['PROFILE_TEMPLATE_TYPE', E.PROFILE_TEMPLATE_TYPE],
  ['RECORDING_REASON', E.RECORDING_REASON],
  ['BOLUS_END_REASON', E.BOLUS_END_REASON],
  ['TBR_END_REASON', E.TBR_END_REASON],
  ['PRIMING_TERMINATION_REASON', E.PRIMING_TERMINATION_REASON],
  ['TEMPERATURE_CONTEXT', E.TEMPERATURE_CONTEXT],
  ['RACP_OP', E.RACP_OP],
  ['RACP_OPERATOR', E.RACP_OPERATOR],
  ['RACP_FILTER_TYPE', E.RACP_FILTER_TYPE],
];
const TABLES_16: Array<[string, EnumTable]> = [
  ['ANNUNCIATION_TYPE', E.ANNUNCIATION_TYPE],
  ['SRCP_OP', E.SRCP_OP],
  ['CCP_OP', E.CCP_OP],
  ['HISTORY_EVENT_TYPE', E.HISTORY_EVENT_TYPE],
];
const RESPONSE_TABLES: Array<[string, EnumTable, number[]]> = [
  ['SRCP_RESPONSE_CODE', E.SRCP_RESPONSE_CODE, [0x0f, 0x70, 0x71, 0x72, 0x73, 0x74]],
  ['CCP_RESPONSE_CODE', E.CCP_RESPONSE_CODE, [0x0f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76]],
  ['RACP_RESPONSE_CODE', E.RACP_RESPONSE_CODE, [0xf0, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a]],
];

const HAMMING_8 = [0x0f, 0x33, 0x3c, 0x55, 0x5a, 0x66, 0x69, 0x96, 0x99, 0xa5, 0xaa, 0xc3, 0xcc, 0xf0, 0xff];

describe('Hamming scheme (§5, Table 5.1)', () => {
  it('has 2047 16-bit codewords, of which the 15 listed 8-bit ones are below 0x100', () => {
    const all: number[] = [];
    for (let v = 0; v <= 0xffff; v++) if (E.isHammingCode(v)) all.push(v);
    expect(all.length).toBe(2047);
    expect(all.filter((v) => v < 0x100)).toEqual(HAMMING_8);
  });

  it('keeps every two codewords ≥ 4 bits apart and is closed under XOR', () => {
    const popcount = (x: number): number => x.toString(2).replace(/0/g, '').length;
    for (const a of HAMMING_8) for (const b of HAMMING_8) if (a !== b) expect(popcount(a ^ b)).toBeGreaterThanOrEqual(4);
    expect(E.isHammingCode(0x0f55 ^ 0x0f5a)).toBe(true);
    expect(E.isHammingCode(0)).toBe(false);
  });

  it('puts the SRCP range at 100 codewords 0x0303–0x0F3C', () => {
    let n = 0;
    for (let v = E.SRCP_OP_RANGE.min; v <= E.SRCP_OP_RANGE.max; v++) if (E.isHammingCode(v)) n++;
    expect(n).toBe(100);
  });
});

describe('8-bit enumerations: all 256 values', () => {
  it.each(TABLES_8)('%s: only the listed values decode; others prohibited or RFU', (_name, t) => {
    const listed = new Set(Object.values(t.codes));
    for (let v = 0; v <= 0xff; v++) {
      const d = E.decodeEnum(t, v);
      if (listed.has(v)) expect(d).toEqual({ ok: true, value: t.byCode.get(v) });
      else expect(d).toMatchObject({ ok: false, code: HAMMING_8.includes(v) ? 'operand' : 'prohibited' });
    }
  });

  it('lists the values of ids.md §5', () => {
    expect(E.THERAPY_CONTROL_STATE.codes).toEqual({ undetermined: 0x0f, stop: 0x33, pause: 0x3c, run: 0x55 });
    expect(E.OPERATIONAL_STATE.codes.ready).toBe(0x96);
    expect(E.BOLUS_ACTIVATION_TYPE.codes.commanded).toBe(0x5a);
    // The history Profile Template Type differs from the Command Data Template Type (§4.9.4.13.1 vs §3.8.1.8.1).
    expect(E.PROFILE_TEMPLATE_TYPE.codes.isf).toBe(0x3c);
    expect(E.TEMPLATE_TYPE.codes.isfProfile).toBe(0x5a);
  });
});

describe('16-bit enumerations: all 65 536 values', () => {
  it.each(TABLES_16)('%s: only the listed values decode; others prohibited or RFU', (_name, t) => {
    const listed = new Set(Object.values(t.codes));
    for (let v = 0; v <= 0xffff; v++) {
      const d = E.decodeEnum(t, v);
      if (listed.has(v)) expect(d.ok).toBe(true);
      else if (d.ok || d.code !== (E.isHammingCode(v) ? 'operand' : 'prohibited')) expect.fail(`${t.name} ${v.toString(16)} → ${JSON.stringify(d)}`);
    }
  });

  it('accepts manufacturer annunciation types 0xF000–0xFFF0 (codewords only)', () => {
    let n = 0;
    for (let v = 0xf000; v <= 0xffff; v++) {
      const d = E.decodeAnnunciationType(v);
      if (v <= 0xfff0 && E.isHammingCode(v)) {
        expect(d).toEqual({ ok: true, value: v });
        n++;
      } else expect(d.ok).toBe(false);
    }
    expect(n).toBe(127);
    expect(E.decodeAnnunciationType(0x003c)).toEqual({ ok: true, value: 0x003c });
    expect(E.decodeAnnunciationType(0x0000)).toMatchObject({ code: 'prohibited' });
    expect(E.decodeAnnunciationType(0x036a)).toMatchObject({ code: 'operand' });
  });
});

describe('Response Code Values (not Hamming codes)', () => {
  it.each(RESPONSE_TABLES)('%s: only the listed values decode', (_name, t, listed) => {
    for (let v = 0; v <= 0xff; v++) {
      const d = E.decodeEnum(t, v);
      if (listed.includes(v)) expect(d.ok).toBe(true);
      else expect(d).toMatchObject({ ok: false, code: 'prohibited' });
    }
  });
});

describe('encodeEnum', () => {
  it('returns the code of a name and throws on a foreign one', () => {
    expect(E.encodeEnum(E.BOLUS_TYPE, 'multiwave')).toBe(0x55);
    expect(() => E.encodeEnum(E.BOLUS_TYPE, 'toString' as never)).toThrow(RangeError);
  });
});
