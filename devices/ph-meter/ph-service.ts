// The pH meter's own GATT service (128-bit: the Bluetooth SIG defines no pH characteristic) and its
// one characteristic, pH Meter Features: what this meter can do, read in the clear so an app can
// tell a meter from other devices before pairing. Not the meter's data: readings, calibrations and
// GLP records travel only inside the secure session (ph-commands.ts, docs/protocol.md §6.2).
//
// pH Meter Features (read, 12 bytes, little-endian):
//   +0 version u8 = 1 | +1 buffer sets u8 (bit 0 NIST, bit 1 US) | +2 max calibration points u8
//   +3 flags u8 (bit 0 ATC, bit 1 GLP records with signed checkpoints, bit 2 secure session required)
//   +4 pH range min i16 (0.001 pH) | +6 pH range max i16 | +8 resolution u8 (0.001 pH) | +9 reserved u8 = 0
//   +10 GLP capacity u16 (records the meter keeps unsynced)

import type { ServiceDef } from '../../src/ble/gatt-db.ts';
import { uuid } from '../../src/ble/uuid.ts';
import { MAX_CALIBRATION_POINTS } from './calibration.ts';
import { PH_RANGE } from './measurement.machine.ts';

/** A random (version 4) UUID, fixed for medtwin's pH meter service; characteristics count up from it. */
export const PH_SERVICE_UUID = uuid('5d2b0e10-9c4a-4f5e-b7d3-0a6e2f1c8a41');
export const PH_FEATURES_UUID = uuid('5d2b0e11-9c4a-4f5e-b7d3-0a6e2f1c8a41');
export const PH_FEATURES_BYTES = 12;

export function phFeatures(glpCapacity: number): Uint8Array {
  const out = new Uint8Array(PH_FEATURES_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, 1);
  v.setUint8(1, 0b11);
  v.setUint8(2, MAX_CALIBRATION_POINTS);
  v.setUint8(3, 0b111);
  v.setInt16(4, PH_RANGE.min * 1000, true);
  v.setInt16(6, PH_RANGE.max * 1000, true);
  v.setUint8(8, 1);
  v.setUint16(10, Math.min(0xffff, glpCapacity), true);
  return out;
}

export function phMeterService(glpCapacity: number): ServiceDef {
  const value = phFeatures(glpCapacity);
  return {
    uuid: PH_SERVICE_UUID,
    id: 'ph',
    characteristics: [{ uuid: PH_FEATURES_UUID, id: 'ph.features', properties: ['read'], value, fixedLengthBytes: value.length, userDescription: 'pH Meter Features' }],
  };
}
