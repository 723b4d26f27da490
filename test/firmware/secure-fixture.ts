// Test rig for the secure firmware end to end: the demo's secure world (scenarios/demo/secure-world.ts).
// Not a second composition: tests and the showcase run the same one.

export { CONN, FLASH_BYTES, PUMP_ADDRESS, SERIAL, secureWorld, type SecureRig } from '../../scenarios/demo/secure-world.ts';
import { secureWorld, type SecureRig } from '../../scenarios/demo/secure-world.ts';

export const secureRig = (seed = 'secure-e2e'): SecureRig => secureWorld({ seed });
