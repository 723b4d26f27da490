// The Device Information service 0x180A (DIS v1.1): manufacturer, model, serial, revisions, System ID, PnP ID and
// the IEEE 11073-20601 regulatory data a medical device reports, from a device model object. Read only.
// Not where those facts come from (devices/*: the composition fills the model).

import { uuid16 } from '../uuid.ts';
import type { CharacteristicDef, ServiceDef } from '../gatt-db.ts';

export const DEVICE_INFORMATION_UUID = uuid16(0x180a);
export const DIS_UUID = {
  systemId: uuid16(0x2a23),
  modelNumber: uuid16(0x2a24),
  serialNumber: uuid16(0x2a25),
  firmwareRevision: uuid16(0x2a26),
  hardwareRevision: uuid16(0x2a27),
  softwareRevision: uuid16(0x2a28),
  manufacturerName: uuid16(0x2a29),
  regulatoryCertification: uuid16(0x2a2a),
  pnpId: uuid16(0x2a50),
} as const;

export interface DeviceModel {
  readonly manufacturerName: string;
  readonly modelNumber: string;
  readonly serialNumber: string;
  readonly hardwareRevision?: string;
  readonly firmwareRevision: string;
  readonly softwareRevision?: string;
  /** System ID (DIS §3.9): 40-bit manufacturer-defined identifier and 24-bit OUI. */
  readonly systemId?: { readonly manufacturerIdentifier: bigint; readonly organizationallyUniqueIdentifier: number };
  /** IEEE 11073-20601 Regulatory Certification Data List, opaque bytes (DIS §3.10). */
  readonly regulatoryCertification?: Uint8Array;
  /** PnP ID (DIS §3.11): vendor ID source 1 = Bluetooth SIG, 2 = USB-IF. */
  readonly pnpId?: { readonly vendorIdSource: 1 | 2; readonly vendorId: number; readonly productId: number; readonly productVersion: number };
}

const text = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'utf8'));
const u16le = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];

/** System ID bytes: the 40-bit identifier then the OUI, least significant byte first (DIS §3.9). */
export function systemIdBytes(id: NonNullable<DeviceModel['systemId']>): Uint8Array {
  const out = new Uint8Array(8);
  let m = BigInt.asUintN(40, id.manufacturerIdentifier);
  for (let i = 0; i < 5; i++) {
    out[i] = Number(m & 0xffn);
    m >>= 8n;
  }
  const oui = id.organizationallyUniqueIdentifier & 0xffffff;
  out[5] = oui & 0xff;
  out[6] = (oui >> 8) & 0xff;
  out[7] = oui >> 16;
  return out;
}

/**
 * The service, characteristics in this order when present: manufacturer name, model number,
 * serial number, hardware, firmware and software revision, System ID, regulatory data, PnP ID.
 * Ids "dis.<field>" (e.g. "dis.serialNumber").
 */
export function deviceInformationService(m: DeviceModel): ServiceDef {
  const chars: CharacteristicDef[] = [];
  const add = (field: keyof typeof DIS_UUID, value: Uint8Array | undefined): void => {
    if (value !== undefined) chars.push({ uuid: DIS_UUID[field], id: `dis.${field}`, properties: ['read'], value, fixedLengthBytes: value.length });
  };
  add('manufacturerName', text(m.manufacturerName));
  add('modelNumber', text(m.modelNumber));
  add('serialNumber', text(m.serialNumber));
  add('hardwareRevision', m.hardwareRevision !== undefined ? text(m.hardwareRevision) : undefined);
  add('firmwareRevision', text(m.firmwareRevision));
  add('softwareRevision', m.softwareRevision !== undefined ? text(m.softwareRevision) : undefined);
  add('systemId', m.systemId ? systemIdBytes(m.systemId) : undefined);
  add('regulatoryCertification', m.regulatoryCertification);
  add('pnpId', m.pnpId ? Uint8Array.from([m.pnpId.vendorIdSource, ...u16le(m.pnpId.vendorId), ...u16le(m.pnpId.productId), ...u16le(m.pnpId.productVersion)]) : undefined);
  return { uuid: DEVICE_INFORMATION_UUID, id: 'dis', characteristics: chars };
}
