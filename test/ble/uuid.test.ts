// Tests of UUID parsing, wire forms and equality (Vol 3 Part B §2.5.1).
// Not the UUIDs' meaning (services/).

import { describe, expect, it } from 'vitest';
import { parseUuid, uuid, uuid16, uuidEquals, uuidFromLe, uuidLabel } from '../../src/ble/uuid.ts';
import { bytes, hex } from './loopback.ts';

describe('UUIDs (Vol 3 Part B §2.5.1)', () => {
  it.each([
    ['180A', 16, '0000180a-0000-1000-8000-00805f9b34fb', '0a18'],
    ['0x2902', 16, '00002902-0000-1000-8000-00805f9b34fb', '0229'],
    ['0000183a-0000-1000-8000-00805F9B34FB', 16, '0000183a-0000-1000-8000-00805f9b34fb', '3a18'],
    ['0001180a', 128, '0001180a-0000-1000-8000-00805f9b34fb', 'fb349b5f80000080001000000a180100'],
    ['7A1F0001-3C2E-4D5B-9E8F-0123456789AB', 128, '7a1f0001-3c2e-4d5b-9e8f-0123456789ab', 'ab89674523018f9e5b4d2e3c01001f7a'],
  ])('parses %s', (text, bits, canonical, le) => {
    const r = parseUuid(text);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.bits).toBe(bits);
    expect(r.value.text).toBe(canonical);
    expect(hex(r.value.le)).toBe(le);
  });

  it.each([['18'], ['xyz0'], ['7a1f0001-3c2e-4d5b-9e8f-0123456789a'], ['']])('rejects %j', (text) => {
    expect(parseUuid(text)).toMatchObject({ ok: false, code: 'uuid.text' });
  });

  it('reads 2-, 4- and 16-byte wire forms and treats a Base-UUID alias as its 16-bit form', () => {
    expect(uuidFromLe(bytes('0f18'))).toEqual({ ok: true, value: uuid16(0x180f) });
    expect(uuidFromLe(bytes('0f180000'))).toEqual({ ok: true, value: uuid16(0x180f) });
    expect(uuidFromLe(bytes('fb349b5f80000080001000000f180000'))).toEqual({ ok: true, value: uuid16(0x180f) });
    expect(uuidFromLe(bytes('0f18 00'))).toMatchObject({ ok: false, code: 'uuid.length' });
    expect(uuidEquals(uuid('0000180f-0000-1000-8000-00805f9b34fb'), uuid16(0x180f))).toBe(true);
    expect(uuidLabel(uuid16(0x183a))).toBe('0x183A');
    expect(() => uuid16(0x10000)).toThrow(RangeError);
  });
});
