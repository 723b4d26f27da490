// The BLE host stack's public surface: UUIDs, L2CAP, ATT, GATT, advertising data, the services every device
// carries, and the two hosts. Not a HAL target: hosts take any PeripheralRadio / CentralRadio.

export * from './uuid.ts';
export * from './trace-sink.ts';
export * from './l2cap.ts';
export * from './l2cap-signalling.ts';
export * from './smp.ts';
export * from './att-pdu.ts';
export * from './att-bearer.ts';
export * from './att-server.ts';
export * from './att-client.ts';
export * from './gatt-db.ts';
export * from './gatt-server.ts';
export * from './gatt-client.ts';
export * from './advertising.ts';
export * from './host.ts';
export * from './peripheral-host.ts';
export * from './central-host.ts';
export * from './services/generic-access.ts';
export * from './services/generic-attribute.ts';
export * from './services/device-information.ts';
export * from './services/battery.ts';
