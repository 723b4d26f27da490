// Tests of the GATT database builder: handle layout, pinned handles, configuration errors, stored values.
// Not ATT access rules (att-server.test.ts).

import { describe, expect, it } from 'vitest';
import { buildGattDb, CCCD_UUID } from '../../src/ble/gatt-db.ts';
import { uuid16 } from '../../src/ble/uuid.ts';
import { hex } from './loopback.ts';

const svc = (u: number, chars: Parameters<typeof buildGattDb>[0][number]['characteristics'], extra: object = {}) => ({ uuid: uuid16(u), characteristics: chars, ...extra });

describe('the GATT database (Vol 3 Part G §3)', () => {
  it('lays out declarations, values and descriptors with handles fixed by the definitions', () => {
    const db = buildGattDb([
      svc(0x1800, [{ uuid: uuid16(0x2a00), id: 'name', properties: ['read'], value: Uint8Array.of(0x61) }]),
      svc(0x180f, [{ uuid: uuid16(0x2a19), id: 'level', properties: ['read', 'notify'], value: Uint8Array.of(50), userDescription: 'battery' }], { id: 'bas' }),
    ]);
    expect(db.attributes.map((a) => [a.handle, a.type.value16, a.role])).toEqual([
      [1, 0x2800, 'primary-service'],
      [2, 0x2803, 'characteristic'],
      [3, 0x2a00, 'value'],
      [4, 0x2800, 'primary-service'],
      [5, 0x2803, 'characteristic'],
      [6, 0x2a19, 'value'],
      [7, 0x2902, 'cccd'],
      [8, 0x2901, 'descriptor'],
    ]);
    expect(hex(db.value(5)!)).toBe('120600192a'); // properties read|notify, value handle 6, UUID 0x2A19
    expect(db.get(4)!.endGroupHandle).toBe(8);
    expect([db.handleOf('bas'), db.handleOf('level'), db.handleOf('level.cccd')]).toEqual([4, 6, 7]);
    expect(db.characteristic('level')).toMatchObject({ declarationHandle: 5, valueHandle: 6, endHandle: 8, cccdHandle: 7 });
    expect(db.get(7)!.type).toBe(CCCD_UUID);
    expect(() => db.handleOf('nope')).toThrow(/no attribute with id/);
  });

  it('pins a service to a start handle and reserves room to grow', () => {
    const db = buildGattDb([
      svc(0x1800, [{ uuid: uuid16(0x2a00), properties: ['read'] }], { endHandle: 0x0f }),
      svc(0x180f, [{ uuid: uuid16(0x2a19), properties: ['read'] }], { startHandle: 0x20 }),
    ]);
    expect(db.services.map((s) => [s.startHandle, s.endHandle])).toEqual([
      [0x01, 0x0f],
      [0x20, 0x22],
    ]);
    expect(db.get(0x10)).toBeUndefined();
    expect(db.firstIndexAtOrAfter(0x10)).toBe(3);
  });

  it.each([
    ['a value longer than its limit', [svc(0x1800, [{ uuid: uuid16(0x2a00), properties: ['read'], value: new Uint8Array(3), maxLengthBytes: 2 }])]],
    ['a value not of its fixed length', [svc(0x1800, [{ uuid: uuid16(0x2a00), properties: ['read'], value: new Uint8Array(3), fixedLengthBytes: 2 }])]],
    ['a duplicate id', [svc(0x1800, [{ uuid: uuid16(0x2a00), id: 'x', properties: ['read'] }, { uuid: uuid16(0x2a01), id: 'x', properties: ['read'] }])]],
    ['a start handle already taken', [svc(0x1800, [{ uuid: uuid16(0x2a00), properties: ['read'] }]), svc(0x1801, [], { startHandle: 2 })]],
    ['an explicit CCCD', [svc(0x1800, [{ uuid: uuid16(0x2a00), properties: ['notify'], descriptors: [{ uuid: uuid16(0x2902) }] }])]],
  ])('refuses %s', (_n, defs) => {
    expect(() => buildGattDb(defs)).toThrow(expect.objectContaining({ code: 'gatt.config' }));
  });

  it('lets firmware set a stored value within its limits', () => {
    const db = buildGattDb([svc(0x1800, [{ uuid: uuid16(0x2a01), properties: ['read'], value: new Uint8Array(2), fixedLengthBytes: 2 }])]);
    expect(db.setValue(3, Uint8Array.of(1, 2))).toEqual({ ok: true });
    expect(db.setValue(3, Uint8Array.of(1))).toMatchObject({ ok: false, code: 'size' });
    expect(db.setValue(9, Uint8Array.of(1))).toMatchObject({ ok: false, code: 'no-attribute' });
    expect(db.snapshot()).toEqual(new Map([[1, Uint8Array.of(0x00, 0x18)], [2, Uint8Array.of(0x02, 0x03, 0x00, 0x01, 0x2a)], [3, Uint8Array.of(1, 2)]]));
  });
});
