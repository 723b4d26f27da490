// The device's bonds, sealed at rest with the storage key (docs/protocol.md §4.6), one record-store
// key per slot (STORE_KEYS.bondBase + slot). Not the pairing that makes them, not the session that uses them.
//
// Slot record: nonce[13] ‖ CCM(storageKey, nonce, clientId[16] ‖ role[1] ‖ LTK[16] ‖ createdUs[u64 LE]
// ‖ credentialNotAfterS[u32 LE], aad = "bond" ‖ slot[1], tag 8). A fresh TRNG nonce per write; the
// slot in the AAD stops a sealed bond being moved to another slot. RAM keeps only the index
// (client id, role, times); the LTK is opened from flash when a session asks for it (find).

import type { Entropy } from '../../hal/entropy.ts';
import { ccmDecrypt, ccmEncrypt, constantTimeEqual, type CostContext } from '../crypto/index.ts';
import { STORE_KEYS } from '../firmware/store-keys.ts';
import type { RecordStore } from '../storage/record-store.ts';
import type { Bond, BondLookup } from './ports.ts';
import { ROLE_CODES, roleFromCode, type Role } from './roles.ts';

/** At most 8 bonds (§4.6). */
export const MAX_BONDS = 8;
export const BOND_NONCE_BYTES = 13;
export const BOND_TAG_BYTES = 8;
const CLIENT_ID_BYTES = 16;
const LTK_BYTES = 16;
const PLAINTEXT_BYTES = CLIENT_ID_BYTES + 1 + LTK_BYTES + 8 + 4; // 45
/** One slot record on flash: 13 + 45 + 8 = 66 bytes. */
export const BOND_RECORD_BYTES = BOND_NONCE_BYTES + PLAINTEXT_BYTES + BOND_TAG_BYTES;

export type BondStoreCode = 'full' | 'flash' | 'entropy' | 'invalid';
export type BondStoreResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: BondStoreCode; readonly detail: string };

/** A bond without its key, for listing (bonds.list) and the index in RAM. */
export interface BondSummary {
  readonly slot: number;
  readonly clientId: Uint8Array;
  readonly role: Role;
  readonly createdUs: number;
  readonly credentialNotAfterS: number;
}

export interface BondStoreOptions {
  readonly store: RecordStore;
  /** From the write-once area (identity.ts). */
  readonly storageKey: Uint8Array;
  /** The TRNG, for each write's nonce. */
  readonly entropy: Entropy;
  /** Every seal and open is charged here (the device's ledger). */
  readonly cost?: CostContext;
}

const BOND_AAD_LABEL = new TextEncoder().encode('bond');
const aadFor = (slot: number): Uint8Array => {
  const aad = new Uint8Array(BOND_AAD_LABEL.length + 1);
  aad.set(BOND_AAD_LABEL);
  aad[BOND_AAD_LABEL.length] = slot;
  return aad;
};

export class BondStore implements BondLookup {
  private readonly records: RecordStore;
  private readonly storageKey: Uint8Array;
  private readonly entropy: Entropy;
  private readonly cost: CostContext | undefined;
  private readonly index: Array<BondSummary | undefined> = new Array<BondSummary | undefined>(MAX_BONDS).fill(undefined);
  /** Slots whose record did not authenticate at open (tampered or foreign): treated as free. */
  readonly unreadableSlots: number[] = [];

  private constructor(opts: BondStoreOptions) {
    if (!(opts.storageKey instanceof Uint8Array) || opts.storageKey.length !== 16) throw new RangeError('storage key must be 16 bytes');
    this.records = opts.store;
    this.storageKey = opts.storageKey.slice();
    this.entropy = opts.entropy;
    this.cost = opts.cost;
  }

  /** Open the bonds already on flash: each slot is opened once to build the index (charged). */
  static open(opts: BondStoreOptions): BondStore {
    const bonds = new BondStore(opts);
    for (let slot = 0; slot < MAX_BONDS; slot++) {
      const sealed = bonds.records.get(STORE_KEYS.bondBase + slot);
      if (sealed === undefined) continue;
      const bond = bonds.unseal(slot, sealed);
      if (bond === undefined) {
        bonds.unreadableSlots.push(slot);
        continue;
      }
      bonds.index[slot] = summary(slot, bond);
      bond.ltk.fill(0);
    }
    return bonds;
  }

  get size(): number {
    return this.index.filter((b) => b !== undefined).length;
  }

  /** Bonds without keys, by slot. */
  list(): BondSummary[] {
    return this.index.filter((b): b is BondSummary => b !== undefined).map((b) => ({ ...b, clientId: b.clientId.slice() }));
  }

  /** Whether storing a bond for `clientId` would succeed for room: it has a bond (replaced) or a slot is free. */
  hasRoomFor(clientId: Uint8Array): boolean {
    return this.slotOf(clientId) !== undefined || this.freeSlot() !== undefined;
  }

  /** The bond of `clientId`, its LTK opened from flash (BondLookup). */
  find(clientId: Uint8Array): Bond | undefined {
    const slot = this.slotOf(clientId);
    if (slot === undefined) return undefined;
    const sealed = this.records.get(STORE_KEYS.bondBase + slot);
    if (sealed === undefined) return undefined;
    const bond = this.unseal(slot, sealed);
    // A record that no longer authenticates (flash tampered since open) is no bond.
    return bond !== undefined && constantTimeEqual(bond.clientId, clientId) ? bond : undefined;
  }

  /** Store a bond: replaces the client id's bond, else takes a free slot, else `full`. */
  store(bond: Bond): BondStoreResult<{ slot: number }> {
    return this.put(bond);
  }

  /** Delete the bond of `clientId` (unpair); `false` when there was none. */
  remove(clientId: Uint8Array): BondStoreResult<boolean> {
    const slot = this.slotOf(clientId);
    if (slot === undefined) return { ok: true, value: false };
    const r = this.records.delete(STORE_KEYS.bondBase + slot);
    if (!r.ok) return { ok: false, code: 'flash', detail: `record store ${r.code}${r.detail === undefined ? '' : `: ${r.detail}`}` };
    this.index[slot] = undefined;
    return { ok: true, value: true };
  }

  private put(bond: Bond): BondStoreResult<{ slot: number }> {
    const bad = checkBond(bond);
    if (bad !== undefined) return { ok: false, code: 'invalid', detail: bad };
    const slot = this.slotOf(bond.clientId) ?? this.freeSlot();
    if (slot === undefined) return { ok: false, code: 'full', detail: `all ${MAX_BONDS} bond slots are in use` };
    const nonce = this.entropy.getBytes(BOND_NONCE_BYTES);
    if (!nonce.ok) return { ok: false, code: 'entropy', detail: `TRNG ${nonce.code}` };
    const plaintext = encodePlaintext(bond);
    const sealed = ccmEncrypt(this.storageKey, nonce.value, plaintext, aadFor(slot), BOND_TAG_BYTES, this.cost ? { cost: this.cost } : {});
    plaintext.fill(0);
    const record = new Uint8Array(BOND_RECORD_BYTES);
    record.set(nonce.value);
    record.set(sealed, BOND_NONCE_BYTES);
    const r = this.records.put(STORE_KEYS.bondBase + slot, record);
    // A full record store is a storage failure, not a full bond table (that is `full` above).
    if (!r.ok) return { ok: false, code: 'flash', detail: `record store ${r.code}${r.detail === undefined ? '' : `: ${r.detail}`}` };
    this.index[slot] = summary(slot, bond);
    return { ok: true, value: { slot } };
  }

  private slotOf(clientId: Uint8Array): number | undefined {
    for (let slot = 0; slot < MAX_BONDS; slot++) {
      const b = this.index[slot];
      if (b !== undefined && constantTimeEqual(b.clientId, clientId)) return slot;
    }
    return undefined;
  }

  private freeSlot(): number | undefined {
    for (let slot = 0; slot < MAX_BONDS; slot++) if (this.index[slot] === undefined) return slot;
    return undefined;
  }

  private unseal(slot: number, record: Uint8Array): (Bond & { ltk: Uint8Array }) | undefined {
    if (record.length !== BOND_RECORD_BYTES) return undefined;
    let plaintext: Uint8Array;
    try {
      plaintext = ccmDecrypt(this.storageKey, record.subarray(0, BOND_NONCE_BYTES), record.subarray(BOND_NONCE_BYTES), aadFor(slot), BOND_TAG_BYTES, this.cost ? { cost: this.cost } : {});
    } catch {
      return undefined; // tag failure ('auth'): not a bond this device sealed in this slot
    }
    const bond = decodePlaintext(plaintext);
    plaintext.fill(0);
    return bond;
  }
}

function checkBond(b: Bond): string | undefined {
  if (!(b.clientId instanceof Uint8Array) || b.clientId.length !== CLIENT_ID_BYTES) return `client id must be ${CLIENT_ID_BYTES} bytes`;
  if (!(b.ltk instanceof Uint8Array) || b.ltk.length !== LTK_BYTES) return `LTK must be ${LTK_BYTES} bytes`;
  if (b.role === 'emergency') return 'the emergency role is never bonded (§3.3)';
  if (!Number.isSafeInteger(b.createdUs) || b.createdUs < 0) return `createdUs must be a non-negative integer, got ${b.createdUs}`;
  if (!Number.isInteger(b.credentialNotAfterS) || b.credentialNotAfterS < 0 || b.credentialNotAfterS > 0xffffffff) return 'credentialNotAfterS must be a u32';
  return undefined;
}

function encodePlaintext(b: Bond): Uint8Array {
  const p = new Uint8Array(PLAINTEXT_BYTES);
  const v = new DataView(p.buffer);
  p.set(b.clientId, 0);
  p[16] = ROLE_CODES[b.role];
  p.set(b.ltk, 17);
  v.setBigUint64(33, BigInt(b.createdUs), true);
  v.setUint32(41, b.credentialNotAfterS, true);
  return p;
}

function decodePlaintext(p: Uint8Array): (Bond & { ltk: Uint8Array }) | undefined {
  if (p.length !== PLAINTEXT_BYTES) return undefined;
  const role = roleFromCode(p[16]!);
  if (role === undefined || role === 'emergency') return undefined;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const createdUs = Number(v.getBigUint64(33, true));
  return {
    clientId: p.slice(0, 16),
    role,
    ltk: p.slice(17, 33),
    createdUs,
    credentialNotAfterS: v.getUint32(41, true),
  };
}

function summary(slot: number, b: Bond): BondSummary {
  return { slot, clientId: b.clientId.slice(), role: b.role, createdUs: b.createdUs, credentialNotAfterS: b.credentialNotAfterS };
}
