// A simulated manufacturer: root, clinical and service authority key pairs and Kmaster, all
// derived from a seed string, issuing device identities (§3), role credentials (§3.2) and
// break-glass keys and codes (§7). Not firmware: nothing here runs on the device or is charged.
//
// Determinism over secrecy: every key comes from the world's seeded stream (src/sim/random.ts),
// so the same seed gives the same keys every run. A real manufacturer keeps these in an HSM.

import { p256Keypair, P256_KEYGEN_ENTROPY_BYTES, type P256Keypair } from '../crypto/index.ts';
import { Rng } from '../sim/random.ts';
import { breakGlassCode, breakGlassDeviceKey } from './break-glass.ts';
import { signDeviceCertificate, signRoleCredential, isValidSerial, type Authority, type DeviceProvisioning, type DeviceType, type PrivilegedRole } from './identity.ts';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

export class Manufacturer {
  private readonly root: P256Keypair;
  private readonly clinical: P256Keypair;
  private readonly service: P256Keypair;
  private readonly kmaster: Uint8Array;

  constructor(readonly seed: string) {
    this.root = p256Keypair(this.stream('root').bytes(P256_KEYGEN_ENTROPY_BYTES));
    this.clinical = p256Keypair(this.stream('clinical-authority').bytes(P256_KEYGEN_ENTROPY_BYTES));
    this.service = p256Keypair(this.stream('service-authority').bytes(P256_KEYGEN_ENTROPY_BYTES));
    this.kmaster = this.stream('kmaster').bytes(16);
  }

  private stream(...purpose: string[]): Rng {
    return new Rng(['medtwin-manufacturer', this.seed, ...purpose].join('\u0000'));
  }

  get rootPublicKey(): Uint8Array {
    return this.root.publicKey.slice();
  }

  get clinicalAuthorityPublicKey(): Uint8Array {
    return this.clinical.publicKey.slice();
  }

  get serviceAuthorityPublicKey(): Uint8Array {
    return this.service.publicKey.slice();
  }

  /**
   * Everything provisionDevice writes into one device's write-once area: a fresh identity key
   * pair and its certificate signed by the root, a storage key, Kdev (§7) and the three public
   * keys the device trusts. The same serial always gives the same identity.
   */
  issueDeviceIdentity(serial: string, deviceType: DeviceType): DeviceProvisioning {
    if (!isValidSerial(serial)) throw new RangeError(`serial must be 8 printable ASCII characters, got ${JSON.stringify(serial)}`);
    const identity = p256Keypair(this.stream('device-identity', serial).bytes(P256_KEYGEN_ENTROPY_BYTES));
    return {
      certificate: signDeviceCertificate({ deviceType, serial, identityPublicKey: identity.publicKey }, this.root.privateKey),
      identityPrivateKey: identity.privateKey,
      storageKey: this.stream('storage-key', serial).bytes(16),
      breakGlassKey: this.deviceBreakGlassKey(serial),
      clinicalAuthorityPublicKey: this.clinicalAuthorityPublicKey,
      serviceAuthorityPublicKey: this.serviceAuthorityPublicKey,
      manufacturerRootPublicKey: this.rootPublicKey,
    };
  }

  /**
   * A role credential (§3.2) for one client id, valid while the device clock ≤ notAfterS.
   * `authority` defaults to the one that may grant `role`; tests pass the other to forge.
   */
  issueCredential(role: PrivilegedRole, clientId: Uint8Array, notAfterS: number, opts: { readonly authority?: Authority } = {}): Uint8Array {
    const authority = opts.authority ?? (role === 'clinician' ? 'clinical' : 'service');
    const key = authority === 'clinical' ? this.clinical.privateKey : this.service.privateKey;
    return signRoleCredential({ role, clientId, notAfterS, authority }, key);
  }

  /** Kdev = CMAC(Kmaster, "mtDK" ‖ serial) (§7; break-glass.ts does the arithmetic). */
  deviceBreakGlassKey(serial: string): Uint8Array {
    if (!isValidSerial(serial)) throw new RangeError(`serial must be 8 printable ASCII characters, got ${JSON.stringify(serial)}`);
    return breakGlassDeviceKey(this.kmaster, ascii(serial));
  }

  /** code = CMAC(Kdev, "mtBG" ‖ index[4] ‖ notAfterS[4]), integers little-endian (§1, §7). */
  issueBreakGlassCode(serial: string, index: number, notAfterS: number): Uint8Array {
    for (const [what, n] of [
      ['index', index],
      ['not-after', notAfterS],
    ] as const) {
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`${what} must be a u32, got ${n}`);
    }
    return breakGlassCode(this.deviceBreakGlassKey(serial), index, notAfterS);
  }
}
