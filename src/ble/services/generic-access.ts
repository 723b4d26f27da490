// The Generic Access service 0x1800 (Core v5.x Vol 3 Part C §12): Device Name, Appearance and, optionally, the
// Peripheral Preferred Connection Parameters. Not the GAP procedures (advertising.ts, the hosts).

import { uuid16 } from '../uuid.ts';
import type { ServiceDef } from '../gatt-db.ts';
import type { ConnParamUpdate } from '../l2cap-signalling.ts';

export const GENERIC_ACCESS_UUID = uuid16(0x1800);
export const DEVICE_NAME_UUID = uuid16(0x2a00);
export const APPEARANCE_UUID = uuid16(0x2a01);
export const PERIPHERAL_PREFERRED_CONNECTION_PARAMETERS_UUID = uuid16(0x2a04);

export interface GenericAccessConfig {
  /** UTF-8, at most 248 bytes (§12.1). */
  readonly deviceName: string;
  /** Appearance value (Assigned Numbers §2.6): category << 6 | subcategory. */
  readonly appearance: number;
  readonly preferredConnectionParameters?: ConnParamUpdate;
}

const u16le = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];

/** Ids: "gap.deviceName", "gap.appearance", "gap.ppcp". */
export function genericAccessService(c: GenericAccessConfig): ServiceDef {
  const name = Uint8Array.from(Buffer.from(c.deviceName, 'utf8'));
  const p = c.preferredConnectionParameters;
  return {
    uuid: GENERIC_ACCESS_UUID,
    id: 'gap',
    characteristics: [
      { uuid: DEVICE_NAME_UUID, id: 'gap.deviceName', properties: ['read'], value: name, maxLengthBytes: 248 },
      { uuid: APPEARANCE_UUID, id: 'gap.appearance', properties: ['read'], value: Uint8Array.from(u16le(c.appearance)), fixedLengthBytes: 2 },
      ...(p
        ? [
            {
              uuid: PERIPHERAL_PREFERRED_CONNECTION_PARAMETERS_UUID,
              id: 'gap.ppcp',
              properties: ['read' as const],
              value: Uint8Array.from([...u16le(p.intervalMinUnits1250us), ...u16le(p.intervalMaxUnits1250us), ...u16le(p.latency), ...u16le(p.timeoutUnits10ms)]),
              fixedLengthBytes: 8,
            },
          ]
        : []),
    ],
  };
}
