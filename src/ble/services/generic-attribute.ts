// The Generic Attribute service 0x1801 (Core v5.x Vol 3 Part G §7): Service Changed, indicated to clients whose
// CCCD asks for it when handles move. Not database hashing (Database Hash needs AES-CMAC: src/crypto, later).

import { uuid16 } from '../uuid.ts';
import type { ServiceDef } from '../gatt-db.ts';
import type { GattServer, GattServerResult } from '../gatt-server.ts';
import type { IndicationOutcome } from '../att-server.ts';

export const GENERIC_ATTRIBUTE_UUID = uuid16(0x1801);
export const SERVICE_CHANGED_UUID = uuid16(0x2a05);

/**
 * Service Changed: indicate only, not readable (§7.1), a 4-byte value (start and end of the
 * affected handle range, little-endian), with its CCCD. Ids "gatt", "gatt.serviceChanged".
 */
export function genericAttributeService(): ServiceDef {
  return {
    uuid: GENERIC_ATTRIBUTE_UUID,
    id: 'gatt',
    characteristics: [{ uuid: SERVICE_CHANGED_UUID, id: 'gatt.serviceChanged', properties: ['indicate'], value: new Uint8Array(4), fixedLengthBytes: 4 }],
  };
}

/** Tell one client that handles `startHandle..endHandle` changed (§7.1). */
export function indicateServiceChanged(
  server: GattServer,
  conn: number,
  startHandle: number,
  endHandle: number,
  done?: (r: IndicationOutcome) => void,
): GattServerResult {
  const v = Uint8Array.of(startHandle & 0xff, startHandle >> 8, endHandle & 0xff, endHandle >> 8);
  return server.indicate(conn, 'gatt.serviceChanged', v, done);
}
