// Bonds at rest (docs/protocol.md §4.6) and the write-once area (§3.4): sealed on flash, no key in
// clear in a flash dump, survive reopening, unpair, tampering; provisioning once and only once.

import { describe, expect, it } from 'vitest';
import { createKw31zBoard } from '../../hal/kw31z/board.ts';
import { PowerCutError } from '../../hal/kw31z/flash.ts';
import { Air } from '../../src/sim/air/air.ts';
import { World } from '../../src/sim/world.ts';
import { STORE_KEYS } from '../../src/firmware/store-keys.ts';
import { BOND_RECORD_BYTES, MAX_BONDS } from '../../src/session/bond-store.ts';
import {
  WRITE_ONCE_LAYOUT,
  loadIdentity,
  protectWriteOnceArea,
  provisionDevice,
  writeOnceAddress,
  writeOnceSector,
} from '../../src/session/identity.ts';
import { Manufacturer } from '../../src/session/manufacturer.ts';
import type { Bond } from '../../src/session/ports.ts';
import { FLASH_BYTES, clientIdFor, createRig, flashDump, hex, indexOfBytes, openBondStore, pairOnce, SERIAL } from './pairing-fixture.ts';

const bond = (name: string, fill: number, role: Bond['role'] = 'patient'): Bond => ({
  clientId: clientIdFor(name),
  role,
  ltk: new Uint8Array(16).fill(fill),
  createdUs: 1_234_567,
  credentialNotAfterS: role === 'patient' ? 0 : 86_400,
});

describe('bonds on flash (§4.6)', () => {
  it('a flash dump after pairing holds no LTK, and the storage and identity keys only in the write-once sector', () => {
    const rig = createRig();
    const ltks: Uint8Array[] = [];
    for (const name of ['a', 'b', 'c']) {
      const run = pairOnce(rig, { clientId: clientIdFor(name) }, { settleUs: 2_500_000 });
      if (!run.result.ok) throw new Error(run.result.code);
      ltks.push(run.result.bond.ltk);
    }
    const clinician = clientIdFor('clinic');
    const run = pairOnce(rig, { clientId: clinician, role: 'clinician', credential: rig.manufacturer.issueCredential('clinician', clinician, 86_400), method: 'passkey-entry' });
    if (!run.result.ok) throw new Error(run.result.code);
    ltks.push(run.result.bond.ltk);

    const dump = flashDump(rig);
    for (const ltk of ltks) expect(indexOfBytes(dump, ltk), hex(ltk)).toBe(-1);
    const woStart = writeOnceAddress(rig.board.flash.geometry);
    const outside = dump.slice(0, woStart);
    expect(indexOfBytes(outside, rig.identity.storageKey)).toBe(-1);
    expect(indexOfBytes(outside, rig.identity.identityPrivateKey)).toBe(-1);
    expect(indexOfBytes(outside, rig.identity.breakGlassKey)).toBe(-1);
    expect(indexOfBytes(dump, rig.identity.storageKey)).toBe(woStart + WRITE_ONCE_LAYOUT.storageKey);
    // The bonds are there, sealed: 4 records of 66 bytes under bondBase + slot.
    expect(rig.store.keys().filter((k) => k >= STORE_KEYS.bondBase && k < STORE_KEYS.bondBase + MAX_BONDS)).toHaveLength(4);
    expect(rig.store.get(STORE_KEYS.bondBase)!.length).toBe(BOND_RECORD_BYTES);
    // And the client ids (not secret) are not in clear either: the whole plaintext is sealed.
    expect(indexOfBytes(outside, clientIdFor('a'))).toBe(-1);
  });

  it('survive reopening the record store (a reboot): same bonds, same LTKs, same slots', () => {
    const rig = createRig();
    const run = pairOnce(rig, { clientId: clientIdFor('reboot') });
    if (!run.result.ok) throw new Error(run.result.code);
    expect(rig.bonds.store(bond('other', 7, 'service')).ok).toBe(true);
    const before = rig.bonds.list();

    const reopened = openBondStore(rig.board, rig.identity, rig.cost).bonds;
    expect(reopened.list()).toEqual(before);
    expect(reopened.unreadableSlots).toEqual([]);
    expect(hex(reopened.find(clientIdFor('reboot'))!.ltk)).toBe(hex(run.result.bond.ltk));
    expect(reopened.find(clientIdFor('other'))).toMatchObject({ role: 'service', credentialNotAfterS: 86_400, createdUs: 1_234_567 });
    expect(reopened.find(clientIdFor('nobody'))).toBeUndefined();
  });

  it('unpair removes the bond, also across a reboot, and frees its slot', () => {
    const rig = createRig();
    for (let i = 0; i < MAX_BONDS; i++) expect(rig.bonds.store(bond(`c${i}`, i + 1)).ok).toBe(true);
    expect(rig.bonds.store(bond('ninth', 9))).toMatchObject({ ok: false, code: 'full' });
    expect(rig.bonds.hasRoomFor(clientIdFor('ninth'))).toBe(false);
    expect(rig.bonds.hasRoomFor(clientIdFor('c3'))).toBe(true);

    expect(rig.bonds.remove(clientIdFor('c3'))).toEqual({ ok: true, value: true });
    expect(rig.bonds.remove(clientIdFor('c3'))).toEqual({ ok: true, value: false });
    expect(rig.bonds.find(clientIdFor('c3'))).toBeUndefined();
    const reopened = openBondStore(rig.board, rig.identity, rig.cost).bonds;
    expect(reopened.find(clientIdFor('c3'))).toBeUndefined();
    expect(reopened.size).toBe(MAX_BONDS - 1);
    expect(reopened.store(bond('ninth', 9))).toEqual({ ok: true, value: { slot: 3 } });
  });

  it('list() gives client ids, roles and times, never a key', () => {
    const rig = createRig();
    rig.bonds.store(bond('x', 0x42, 'clinician'));
    const listed = rig.bonds.list();
    expect(listed).toEqual([{ slot: 0, clientId: clientIdFor('x'), role: 'clinician', createdUs: 1_234_567, credentialNotAfterS: 86_400 }]);
    expect(JSON.stringify(listed)).not.toContain('ltk');
  });

  it('each write has a fresh nonce: the same bond stored twice gives two different records', () => {
    const rig = createRig();
    rig.bonds.store(bond('same', 5));
    const one = rig.store.get(STORE_KEYS.bondBase)!;
    rig.bonds.store(bond('same', 5));
    const two = rig.store.get(STORE_KEYS.bondBase)!;
    expect(hex(one.slice(0, 13))).not.toBe(hex(two.slice(0, 13)));
    expect(hex(one)).not.toBe(hex(two));
  });

  it.each([
    ['a flipped ciphertext bit', (r: Uint8Array) => ((r[20]! ^= 1), r)],
    ['a flipped tag bit', (r: Uint8Array) => ((r[65]! ^= 1), r)],
    ['a truncated record', (r: Uint8Array) => r.slice(0, 60)],
  ])('a bond record with %s is no bond (it does not authenticate)', (_n, edit) => {
    const rig = createRig();
    rig.bonds.store(bond('t', 1));
    rig.store.put(STORE_KEYS.bondBase, edit(rig.store.get(STORE_KEYS.bondBase)!.slice()));
    expect(rig.bonds.find(clientIdFor('t'))).toBeUndefined();
    const reopened = openBondStore(rig.board, rig.identity, rig.cost).bonds;
    expect(reopened.unreadableSlots).toEqual([0]);
    expect(reopened.size).toBe(0);
  });

  it('a sealed bond moved to another slot does not open there (the slot is in the AAD)', () => {
    const rig = createRig();
    rig.bonds.store(bond('moved', 1));
    rig.store.put(STORE_KEYS.bondBase + 5, rig.store.get(STORE_KEYS.bondBase)!);
    rig.store.delete(STORE_KEYS.bondBase);
    const reopened = openBondStore(rig.board, rig.identity, rig.cost).bonds;
    expect(reopened.unreadableSlots).toEqual([5]);
    expect(reopened.find(clientIdFor('moved'))).toBeUndefined();
  });

  it('another device\'s storage key cannot open the bonds', () => {
    const rig = createRig();
    rig.bonds.store(bond('k', 1));
    const foreign = new Manufacturer('medtwin-test').issueDeviceIdentity('PU000002', 'insulin-pump').storageKey;
    const reopened = openBondStore(rig.board, { ...rig.identity, storageKey: foreign }, rig.cost).bonds;
    expect(reopened.size).toBe(0);
    expect(reopened.unreadableSlots).toEqual([0]);
  });

  it('refuses bonds it must never hold', () => {
    const rig = createRig();
    expect(rig.bonds.store({ ...bond('e', 1), role: 'emergency' })).toMatchObject({ ok: false, code: 'invalid' });
    expect(rig.bonds.store({ ...bond('e', 1), ltk: new Uint8Array(15) })).toMatchObject({ ok: false, code: 'invalid' });
  });
});

describe('the write-once area (§3.4)', () => {
  const blank = () => {
    const world = new World();
    return createKw31zBoard({ world, air: new Air(world), device: 'd', address: { address: 'C0:00:00:00:00:02', random: true }, battery: 'cr2032', flashSizeBytes: FLASH_BYTES });
  };
  const m = new Manufacturer('wo');
  const p = m.issueDeviceIdentity(SERIAL, 'insulin-pump');

  it('is the last sector; provisioned once, read back field for field', () => {
    const board = blank();
    expect(writeOnceSector(board.flash.geometry)).toBe(7);
    expect(loadIdentity(board.flash)).toMatchObject({ ok: false, code: 'unprovisioned' });
    expect(provisionDevice(board.flash, p)).toEqual({ ok: true, value: undefined });
    const id = loadIdentity(board.flash);
    expect(id.ok).toBe(true);
    if (!id.ok) return;
    expect(id.value).toMatchObject({ serial: SERIAL, deviceType: 'insulin-pump' });
    for (const k of ['certificate', 'identityPrivateKey', 'storageKey', 'breakGlassKey', 'clinicalAuthorityPublicKey', 'serviceAuthorityPublicKey', 'manufacturerRootPublicKey'] as const) {
      expect(hex(id.value[k]), k).toBe(hex(p[k]));
    }
    const raw = board.flash.read(writeOnceAddress(board.flash.geometry), 8);
    expect(raw.ok && new TextDecoder().decode(raw.value.slice(0, 4))).toBe('mtWO');
  });

  it('refuses a second provisioning: the sector is not erased', () => {
    const board = blank();
    provisionDevice(board.flash, p);
    const again = provisionDevice(board.flash, m.issueDeviceIdentity('PU000009', 'insulin-pump'));
    expect(again).toEqual({ ok: false, code: 'not-erased', detail: 'the write-once area is already programmed' });
    expect(loadIdentity(board.flash)).toMatchObject({ ok: true, value: { serial: SERIAL } });
  });

  it('a power cut between the body and the header leaves a corrupt area, never a valid identity, and it stays refused', () => {
    const board = blank();
    board.flash.armPowerCut(1);
    expect(() => provisionDevice(board.flash, p)).toThrow(PowerCutError);
    board.flash.restorePower();
    expect(loadIdentity(board.flash)).toMatchObject({ ok: false, code: 'corrupt', detail: 'no write-once magic (provisioning did not complete)' });
    expect(provisionDevice(board.flash, p)).toMatchObject({ ok: false, code: 'not-erased' });
  });

  it('detects a changed byte (CRC)', () => {
    const board = blank();
    provisionDevice(board.flash, p);
    // Programming can only clear bits: clear one in the storage key, as a fault would.
    const at = writeOnceAddress(board.flash.geometry) + WRITE_ONCE_LAYOUT.storageKey - 2; // the aligned longword holding its first byte
    const word = board.flash.read(at, 4);
    if (!word.ok) throw new Error('read');
    const cleared = word.value.map((b, i) => (i === 2 ? b & (b - 1) : b));
    expect(word.value[2]).not.toBe(0);
    expect(board.flash.program(at, Uint8Array.from(cleared)).ok).toBe(true);
    expect(loadIdentity(board.flash)).toMatchObject({ ok: false, code: 'corrupt', detail: 'write-once area CRC mismatch' });
  });

  it('refuses provisioning data that does not hang together', () => {
    const board = blank();
    const other = m.issueDeviceIdentity('PU000002', 'insulin-pump');
    expect(provisionDevice(board.flash, { ...p, identityPrivateKey: other.identityPrivateKey })).toEqual({ ok: false, code: 'invalid', detail: 'identity private key does not match the certificate' });
    expect(provisionDevice(board.flash, { ...p, storageKey: new Uint8Array(15) })).toMatchObject({ ok: false, code: 'invalid' });
    expect(loadIdentity(board.flash)).toMatchObject({ ok: false, code: 'unprovisioned' });
  });

  it('protectWriteOnceArea refuses to program or erase the sector (FPROT), and passes everything else', () => {
    const board = blank();
    provisionDevice(board.flash, p);
    const guarded = protectWriteOnceArea(board.flash);
    const start = writeOnceAddress(board.flash.geometry);
    expect(guarded.eraseSector(7)).toMatchObject({ ok: false, code: 'invalid' });
    expect(guarded.program(start + 1_000, new Uint8Array(4))).toMatchObject({ ok: false, code: 'invalid' });
    expect(guarded.program(start - 4, new Uint8Array(4)).ok).toBe(true);
    expect(guarded.eraseSector(6).ok).toBe(true);
    expect(loadIdentity(guarded).ok).toBe(true);
  });
});
