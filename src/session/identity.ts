// Device identity (docs/protocol.md §3): the device certificate (§3.1), role credentials (§3.2) and
// the chip's write-once area (§3.4). Not pairing, and not the manufacturer (manufacturer.ts signs).
//
// Expected failures are values: a certificate the client cannot verify is `certificate`, a
// credential the device refuses is `credential` (PAIR_FAILED 0x81), a malformed byte string is
// `malformed`. Nothing here throws on peer input. Keys are never put in a message or detail.

import { crc32 } from 'node:zlib';
import type { Flash, FlashGeometry } from '../../hal/flash.ts';
import type { HalResult } from '../../hal/result.ts';
import {
  ecdsaP256Sign,
  ecdsaP256Verify,
  isValidP256PublicKey,
  p256PublicKey,
  p256ValidatePrivateKey,
  constantTimeEqual,
  type CostContext,
} from '../crypto/index.ts';
import { ROLE_CODES, type Role } from './roles.ts';
import { CLIENT_ID_BYTES, DEVICE_CERTIFICATE_BYTES, PUBLIC_KEY_BYTES, ROLE_CREDENTIAL_BYTES, SIGNATURE_BYTES, type DecodeResult } from './wire-pairing.ts';
import { concatBytes } from '@noble/hashes/utils.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const malformed = (detail: string): { ok: false; code: 'malformed'; detail: string } => ({ ok: false, code: 'malformed', detail });


// ─── Device types and serials (§3.1) ───────────────────────────────────────────────────────────

export type DeviceType = 'insulin-pump' | 'ph-meter';
export const DEVICE_TYPE_CODES: Readonly<Record<DeviceType, number>> = { 'insulin-pump': 1, 'ph-meter': 2 };
export function deviceTypeFromCode(code: number): DeviceType | undefined {
  return code === 1 ? 'insulin-pump' : code === 2 ? 'ph-meter' : undefined;
}

export const SERIAL_BYTES = 8;
/** 8 printable ASCII characters, e.g. "PU000001" (§3.1). */
export const isValidSerial = (serial: string): boolean => /^[\x21-\x7e]{8}$/.test(serial);

function serialToBytes(serial: string): Uint8Array {
  if (!isValidSerial(serial)) throw new RangeError(`serial must be 8 printable ASCII characters, got ${JSON.stringify(serial)}`);
  return ascii(serial);
}

// ─── Device certificate (§3.1) ───────────────────────────────────────────────────────────────

export const DEVICE_CERTIFICATE_VERSION = 1;
const DEVCERT_LABEL = ascii('medtwin-devcert-v1');
const DEVCERT_BODY_BYTES = 74;

export interface DeviceCertificateFields {
  readonly deviceType: DeviceType;
  readonly serial: string;
  readonly identityPublicKey: Uint8Array;
}

export interface DeviceCertificate extends DeviceCertificateFields {
  readonly version: 1;
  /** The 8 serial bytes as they are in the certificate (B = 0x00 ‖ serial[2..7], §4). */
  readonly serialBytes: Uint8Array;
  readonly signature: Uint8Array;
  /** The whole 138-byte certificate. */
  readonly bytes: Uint8Array;
}

function certificateBody(f: DeviceCertificateFields): Uint8Array {
  if (!(f.identityPublicKey instanceof Uint8Array) || f.identityPublicKey.length !== PUBLIC_KEY_BYTES) {
    throw new RangeError(`identity public key must be ${PUBLIC_KEY_BYTES} bytes`);
  }
  const body = new Uint8Array(DEVCERT_BODY_BYTES);
  body[0] = DEVICE_CERTIFICATE_VERSION;
  body[1] = DEVICE_TYPE_CODES[f.deviceType];
  body.set(serialToBytes(f.serial), 2);
  body.set(f.identityPublicKey, 10);
  return body;
}

/** What the manufacturer signs: `"medtwin-devcert-v1" ‖ bytes 0..73` (§3.1). */
export const certificateSignedBytes = (certificateOrBody: Uint8Array): Uint8Array => concatBytes(DEVCERT_LABEL, certificateOrBody.subarray(0, DEVCERT_BODY_BYTES));

/** The 138-byte certificate from its fields and a signature (any 64 bytes: tests forge with it). */
export function encodeDeviceCertificate(f: DeviceCertificateFields, signature: Uint8Array): Uint8Array {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) throw new RangeError(`signature must be ${SIGNATURE_BYTES} bytes`);
  return concatBytes(certificateBody(f), signature);
}

/** Sign a certificate with the manufacturer root's private key (manufacture time). */
export function signDeviceCertificate(f: DeviceCertificateFields, rootPrivateKey: Uint8Array, opts: { cost?: CostContext } = {}): Uint8Array {
  const body = certificateBody(f);
  const signature = ecdsaP256Sign(rootPrivateKey, certificateSignedBytes(body), opts.cost ? { cost: opts.cost } : {});
  return concatBytes(body, signature);
}

/** Structure only (length, version, type, serial); the signature is verifyDeviceCertificate's. */
export function decodeDeviceCertificate(bytes: Uint8Array): DecodeResult<DeviceCertificate> {
  if (!(bytes instanceof Uint8Array)) return malformed('certificate is not a byte string');
  if (bytes.length !== DEVICE_CERTIFICATE_BYTES) return malformed(`certificate must be ${DEVICE_CERTIFICATE_BYTES} bytes, got ${bytes.length}`);
  if (bytes[0] !== DEVICE_CERTIFICATE_VERSION) return malformed(`certificate version ${bytes[0]} is not 1`);
  const deviceType = deviceTypeFromCode(bytes[1]!);
  if (deviceType === undefined) return malformed(`certificate device type ${bytes[1]} is not 1 or 2`);
  const serialBytes = bytes.slice(2, 10);
  const serial = String.fromCharCode(...serialBytes);
  if (!isValidSerial(serial)) return malformed('certificate serial is not 8 printable ASCII characters');
  return {
    ok: true,
    value: {
      version: 1,
      deviceType,
      serial,
      serialBytes,
      identityPublicKey: bytes.slice(10, 74),
      signature: bytes.slice(74, 138),
      bytes: bytes.slice(),
    },
  };
}

export type CertificateResult = { readonly ok: true; readonly value: DeviceCertificate } | { readonly ok: false; readonly code: 'certificate'; readonly detail: string };

/**
 * The client's check (§3.1): well-formed, version 1, the expected device type (when given),
 * and the manufacturer root's signature (one ECDSA verification, charged to `cost`).
 */
export function verifyDeviceCertificate(
  bytes: Uint8Array,
  rootPublicKey: Uint8Array,
  opts: { readonly expectedDeviceType?: DeviceType; readonly cost?: CostContext } = {},
): CertificateResult {
  const d = decodeDeviceCertificate(bytes);
  if (!d.ok) return { ok: false, code: 'certificate', detail: d.detail };
  if (opts.expectedDeviceType !== undefined && d.value.deviceType !== opts.expectedDeviceType) {
    return { ok: false, code: 'certificate', detail: `device type is ${d.value.deviceType}, expected ${opts.expectedDeviceType}` };
  }
  if (!isValidP256PublicKey(d.value.identityPublicKey)) return { ok: false, code: 'certificate', detail: 'identity public key is not a P-256 point' };
  const ok = ecdsaP256Verify(rootPublicKey, certificateSignedBytes(bytes), d.value.signature, opts.cost ? { cost: opts.cost } : {});
  if (!ok) return { ok: false, code: 'certificate', detail: 'manufacturer signature does not verify' };
  return d;
}

// ─── Role credential (§3.2) ──────────────────────────────────────────────────────────────────

export const ROLE_CREDENTIAL_VERSION = 1;
const CREDENTIAL_LABEL = ascii('medtwin-cred-v1');
const CREDENTIAL_BODY_BYTES = 23;

export type PrivilegedRole = 'clinician' | 'service';
export type Authority = 'clinical' | 'service';
export const AUTHORITY_CODES: Readonly<Record<Authority, number>> = { clinical: 1, service: 2 };
/** Which role each authority may grant (§3.2). */
export const AUTHORITY_GRANTS: Readonly<Record<Authority, PrivilegedRole>> = { clinical: 'clinician', service: 'service' };

export interface RoleCredentialFields {
  readonly role: PrivilegedRole;
  readonly clientId: Uint8Array;
  /** Device clock seconds; the credential is valid while now ≤ notAfterS. */
  readonly notAfterS: number;
  readonly authority: Authority;
}

export interface RoleCredential extends RoleCredentialFields {
  readonly version: 1;
  readonly signature: Uint8Array;
}

function credentialBody(f: RoleCredentialFields): Uint8Array {
  if (!(f.clientId instanceof Uint8Array) || f.clientId.length !== CLIENT_ID_BYTES) throw new RangeError(`client id must be ${CLIENT_ID_BYTES} bytes`);
  if (!Number.isInteger(f.notAfterS) || f.notAfterS < 0 || f.notAfterS > 0xffffffff) throw new RangeError(`not-after must be a u32, got ${f.notAfterS}`);
  const body = new Uint8Array(CREDENTIAL_BODY_BYTES);
  body[0] = ROLE_CREDENTIAL_VERSION;
  body[1] = ROLE_CODES[f.role];
  body.set(f.clientId, 2);
  new DataView(body.buffer).setUint32(18, f.notAfterS, true);
  body[22] = AUTHORITY_CODES[f.authority];
  return body;
}

/** What the authority signs: `"medtwin-cred-v1" ‖ bytes 0..22` (§3.2). */
export const credentialSignedBytes = (credentialOrBody: Uint8Array): Uint8Array => concatBytes(CREDENTIAL_LABEL, credentialOrBody.subarray(0, CREDENTIAL_BODY_BYTES));

export function encodeRoleCredential(f: RoleCredentialFields, signature: Uint8Array): Uint8Array {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) throw new RangeError(`signature must be ${SIGNATURE_BYTES} bytes`);
  return concatBytes(credentialBody(f), signature);
}

export function signRoleCredential(f: RoleCredentialFields, authorityPrivateKey: Uint8Array, opts: { cost?: CostContext } = {}): Uint8Array {
  const body = credentialBody(f);
  return concatBytes(body, ecdsaP256Sign(authorityPrivateKey, credentialSignedBytes(body), opts.cost ? { cost: opts.cost } : {}));
}

export function decodeRoleCredential(bytes: Uint8Array): DecodeResult<RoleCredential> {
  if (!(bytes instanceof Uint8Array)) return malformed('credential is not a byte string');
  if (bytes.length !== ROLE_CREDENTIAL_BYTES) return malformed(`credential must be ${ROLE_CREDENTIAL_BYTES} bytes, got ${bytes.length}`);
  if (bytes[0] !== ROLE_CREDENTIAL_VERSION) return malformed(`credential version ${bytes[0]} is not 1`);
  const role: PrivilegedRole | undefined = bytes[1] === ROLE_CODES.clinician ? 'clinician' : bytes[1] === ROLE_CODES.service ? 'service' : undefined;
  if (role === undefined) return malformed(`credential role ${bytes[1]} is not 2 (clinician) or 3 (service)`);
  const authority: Authority | undefined = bytes[22] === 1 ? 'clinical' : bytes[22] === 2 ? 'service' : undefined;
  if (authority === undefined) return malformed(`credential authority ${bytes[22]} is not 1 or 2`);
  return {
    ok: true,
    value: {
      version: 1,
      role,
      clientId: bytes.slice(2, 18),
      notAfterS: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(18, true),
      authority,
      signature: bytes.slice(23, 87),
    },
  };
}

export interface CredentialCheck {
  /** The role the PAIR_REQUEST asks for. */
  readonly role: Role;
  /** The PAIR_REQUEST's client id. */
  readonly clientId: Uint8Array;
  /** Device clock, seconds. */
  readonly nowS: number;
  readonly clinicalAuthorityPublicKey: Uint8Array;
  readonly serviceAuthorityPublicKey: Uint8Array;
  readonly cost?: CostContext;
}

export type CredentialResult = { readonly ok: true; readonly value: RoleCredential } | { readonly ok: false; readonly code: 'credential'; readonly detail: string };

/**
 * The device's check (§3.2), cheap checks first so a credential that names the wrong client
 * does not cost the chip a signature verification: well-formed; the role and client id of
 * the request; an authority that may grant that role; not expired; then the authority's
 * signature (one ECDSA verification ≈ 75 M cycles, charged to `cost`).
 */
export function verifyRoleCredential(bytes: Uint8Array, check: CredentialCheck): CredentialResult {
  const d = decodeRoleCredential(bytes);
  const refuse = (detail: string): CredentialResult => ({ ok: false, code: 'credential', detail });
  if (!d.ok) return refuse(d.detail);
  const c = d.value;
  if (c.role !== check.role) return refuse(`credential is for role ${c.role}, the request asks for ${check.role}`);
  if (!constantTimeEqual(c.clientId, check.clientId)) return refuse('credential is for another client id');
  if (AUTHORITY_GRANTS[c.authority] !== c.role) return refuse(`the ${c.authority} authority may not grant ${c.role}`);
  if (check.nowS > c.notAfterS) return refuse(`credential expired at ${c.notAfterS} s (device clock ${check.nowS} s)`);
  const key = c.authority === 'clinical' ? check.clinicalAuthorityPublicKey : check.serviceAuthorityPublicKey;
  const ok = ecdsaP256Verify(key, credentialSignedBytes(bytes), c.signature, check.cost ? { cost: check.cost } : {});
  return ok ? d : refuse('authority signature does not verify');
}

// ─── The write-once area (§3.4) ──────────────────────────────────────────────────────────────

/*
 * The last 2 KB sector of the device flash, programmed once at manufacture. Little-endian
 * integers; keys as the crypto core takes them (MSB-first):
 *
 *   +0    4   magic "mtWO"
 *   +4    1   layout version = 1
 *   +5    3   reserved, 0x00
 *   +8    138 device certificate (§3.1)
 *   +146  32  identity private key
 *   +178  16  storage key (bonds at rest, §4.6)
 *   +194  16  break-glass device key Kdev (§7)
 *   +210  64  clinical authority public key
 *   +274  64  service authority public key
 *   +338  64  manufacturer root public key
 *   +402  2   reserved, 0x00
 *   +404  4   CRC-32 (IEEE, as the record store's) of bytes +0..+403
 *
 * Provisioning programs +8..+407 first and the 8-byte header last, so a cut in between
 * leaves no magic: the area reads as corrupt, never as a valid identity. The sector is
 * never erased by firmware (protectWriteOnceArea models the chip's flash protection).
 */
export const WRITE_ONCE_MAGIC = ascii('mtWO');
export const WRITE_ONCE_VERSION = 1;
export const WRITE_ONCE_LAYOUT = {
  magic: 0,
  version: 4,
  certificate: 8,
  identityPrivateKey: 146,
  storageKey: 178,
  breakGlassKey: 194,
  clinicalAuthorityPublicKey: 210,
  serviceAuthorityPublicKey: 274,
  manufacturerRootPublicKey: 338,
  crc: 404,
  totalBytes: 408,
} as const;
const HEADER_BYTES = 8;

/** What the manufacturer hands the factory for one device (manufacturer.ts issueDeviceIdentity). */
export interface DeviceProvisioning {
  readonly certificate: Uint8Array;
  readonly identityPrivateKey: Uint8Array;
  readonly storageKey: Uint8Array;
  readonly breakGlassKey: Uint8Array;
  readonly clinicalAuthorityPublicKey: Uint8Array;
  readonly serviceAuthorityPublicKey: Uint8Array;
  readonly manufacturerRootPublicKey: Uint8Array;
}

/** The identity as firmware uses it, read back from the write-once area. */
export interface DeviceIdentity extends DeviceProvisioning {
  readonly serial: string;
  readonly serialBytes: Uint8Array;
  readonly deviceType: DeviceType;
  readonly identityPublicKey: Uint8Array;
}

/** The write-once sector: the device flash's last. */
export const writeOnceSector = (g: FlashGeometry): number => g.sizeBytes / g.sectorBytes - 1;
export const writeOnceAddress = (g: FlashGeometry): number => writeOnceSector(g) * g.sectorBytes;

export type ProvisionResult = { readonly ok: true; readonly value: undefined } | { readonly ok: false; readonly code: 'not-erased' | 'invalid' | 'flash'; readonly detail: string };
export type IdentityResult = { readonly ok: true; readonly value: DeviceIdentity } | { readonly ok: false; readonly code: 'unprovisioned' | 'corrupt' | 'flash'; readonly detail: string };

function checkProvisioning(p: DeviceProvisioning): string | undefined {
  const cert = decodeDeviceCertificate(p.certificate);
  if (!cert.ok) return `certificate: ${cert.detail}`;
  const sized: Array<[string, Uint8Array, number]> = [
    ['identity private key', p.identityPrivateKey, 32],
    ['storage key', p.storageKey, 16],
    ['break-glass key', p.breakGlassKey, 16],
  ];
  for (const [what, b, n] of sized) if (!(b instanceof Uint8Array) || b.length !== n) return `${what} must be ${n} bytes`;
  const points: Array<[string, Uint8Array]> = [
    ['clinical authority public key', p.clinicalAuthorityPublicKey],
    ['service authority public key', p.serviceAuthorityPublicKey],
    ['manufacturer root public key', p.manufacturerRootPublicKey],
  ];
  for (const [what, b] of points) if (!isValidP256PublicKey(b)) return `${what} is not a P-256 point`;
  try {
    p256ValidatePrivateKey(p.identityPrivateKey);
  } catch {
    return 'identity private key is not a P-256 scalar';
  }
  // At the factory, not on the chip: no cost context, nothing charged to the device.
  if (!constantTimeEqual(p256PublicKey(p.identityPrivateKey), cert.value.identityPublicKey)) return 'identity private key does not match the certificate';
  return undefined;
}

function areaImage(p: DeviceProvisioning): Uint8Array {
  const L = WRITE_ONCE_LAYOUT;
  const img = new Uint8Array(L.totalBytes);
  img.set(WRITE_ONCE_MAGIC, L.magic);
  img[L.version] = WRITE_ONCE_VERSION;
  img.set(p.certificate, L.certificate);
  img.set(p.identityPrivateKey, L.identityPrivateKey);
  img.set(p.storageKey, L.storageKey);
  img.set(p.breakGlassKey, L.breakGlassKey);
  img.set(p.clinicalAuthorityPublicKey, L.clinicalAuthorityPublicKey);
  img.set(p.serviceAuthorityPublicKey, L.serviceAuthorityPublicKey);
  img.set(p.manufacturerRootPublicKey, L.manufacturerRootPublicKey);
  new DataView(img.buffer).setUint32(L.crc, crc32(img.subarray(0, L.crc)), true);
  return img;
}

const flashFailure = (r: HalResult<unknown>): string => (r.ok ? '' : `flash ${r.code}${r.detail === undefined ? '' : `: ${r.detail}`}`);

/**
 * Program the write-once area (manufacture). Refused with `not-erased` when any byte of the
 * sector is programmed already (a second provisioning, or a torn first one), with `invalid`
 * for provisioning data that does not hang together.
 */
export function provisionDevice(flash: Flash, p: DeviceProvisioning): ProvisionResult {
  const bad = checkProvisioning(p);
  if (bad !== undefined) return { ok: false, code: 'invalid', detail: bad };
  const g = flash.geometry;
  const base = writeOnceAddress(g);
  const current = flash.read(base, g.sectorBytes);
  if (!current.ok) return { ok: false, code: 'flash', detail: flashFailure(current) };
  if (!current.value.every((b) => b === 0xff)) return { ok: false, code: 'not-erased', detail: 'the write-once area is already programmed' };
  const img = areaImage(p);
  const body = flash.program(base + HEADER_BYTES, img.subarray(HEADER_BYTES));
  if (!body.ok) return { ok: false, code: 'flash', detail: flashFailure(body) };
  const header = flash.program(base, img.subarray(0, HEADER_BYTES));
  if (!header.ok) return { ok: false, code: 'flash', detail: flashFailure(header) };
  return { ok: true, value: undefined };
}

/** Read and validate the write-once area (boot). Cheap: a CRC, no signature verification. */
export function loadIdentity(flash: Flash): IdentityResult {
  const L = WRITE_ONCE_LAYOUT;
  const r = flash.read(writeOnceAddress(flash.geometry), L.totalBytes);
  if (!r.ok) return { ok: false, code: 'flash', detail: flashFailure(r) };
  const img = r.value;
  if (img.every((b) => b === 0xff)) return { ok: false, code: 'unprovisioned', detail: 'the write-once area is erased' };
  const corrupt = (detail: string): IdentityResult => ({ ok: false, code: 'corrupt', detail });
  if (!constantTimeEqual(img.subarray(0, 4), WRITE_ONCE_MAGIC)) return corrupt('no write-once magic (provisioning did not complete)');
  if (img[L.version] !== WRITE_ONCE_VERSION) return corrupt(`write-once layout version ${img[L.version]} is not ${WRITE_ONCE_VERSION}`);
  const crc = new DataView(img.buffer, img.byteOffset).getUint32(L.crc, true);
  if (crc !== crc32(img.subarray(0, L.crc))) return corrupt('write-once area CRC mismatch');
  const certificate = img.slice(L.certificate, L.certificate + DEVICE_CERTIFICATE_BYTES);
  const cert = decodeDeviceCertificate(certificate);
  if (!cert.ok) return corrupt(`certificate: ${cert.detail}`);
  const at = (off: number, n: number): Uint8Array => img.slice(off, off + n);
  return {
    ok: true,
    value: {
      certificate,
      identityPrivateKey: at(L.identityPrivateKey, 32),
      storageKey: at(L.storageKey, 16),
      breakGlassKey: at(L.breakGlassKey, 16),
      clinicalAuthorityPublicKey: at(L.clinicalAuthorityPublicKey, 64),
      serviceAuthorityPublicKey: at(L.serviceAuthorityPublicKey, 64),
      manufacturerRootPublicKey: at(L.manufacturerRootPublicKey, 64),
      serial: cert.value.serial,
      serialBytes: cert.value.serialBytes,
      deviceType: cert.value.deviceType,
      identityPublicKey: cert.value.identityPublicKey,
    },
  };
}

/**
 * A view of `flash` that refuses to program or erase the write-once sector ('invalid'), as
 * the Kinetis FTFA's FPROT protection does once set: give this to the record store and every
 * other firmware user, so no bug can touch the identity.
 */
export function protectWriteOnceArea(flash: Flash): Flash {
  const g = flash.geometry;
  const start = writeOnceAddress(g);
  return {
    geometry: g,
    read: (address, length) => flash.read(address, length),
    program: (address, data) =>
      address + data.length > start && address < start + g.sectorBytes
        ? { ok: false, code: 'invalid', detail: 'the write-once area is protected' }
        : flash.program(address, data),
    eraseSector: (sector) => (sector === writeOnceSector(g) ? { ok: false, code: 'invalid', detail: 'the write-once area is protected' } : flash.eraseSector(sector)),
  };
}
