// Test rig for the firmware pieces: a world, a small KW31Z flash, the record store, the audit log,
// and a recording audit sink. Not a device composition (devices/ does that).

import { sha256 } from '@noble/hashes/sha2.js';
import { Kw31zFlash, KW31Z_SECTOR_BYTES } from '../../hal/kw31z/flash.ts';
import { Kw31zLedger } from '../../hal/kw31z/ledger.ts';
import { AuditLog } from '../../src/firmware/audit-log.ts';
import { RING_LOGS } from '../../src/firmware/store-keys.ts';
import type { AuditSink } from '../../src/session/ports.ts';
import type { Role } from '../../src/session/roles.ts';
import { World } from '../../src/sim/world.ts';
import { RecordStore } from '../../src/storage/record-store.ts';

export const SERIAL = 'PU000001';
export const US_PER_S = 1_000_000;
export const hash = (bytes: Uint8Array): Uint8Array => sha256(bytes);

export interface Rig {
  readonly world: World;
  readonly flash: Kw31zFlash;
  readonly sectorCount: number;
  /** Open (or reopen, as after a reboot) the record store on the rig's flash. */
  openStore(): RecordStore;
  openAudit(store: RecordStore): AuditLog;
}

/** A few 2 KB sectors: small enough that power-cut enumeration stays fast. */
export function rig(opts: { sectorCount?: number; world?: World } = {}): Rig {
  const world = opts.world ?? new World({ seed: 1 });
  const sectorCount = opts.sectorCount ?? 4;
  const ledger = new Kw31zLedger('dev', () => world.nowUs);
  const flash = new Kw31zFlash({ device: 'dev', ledger, sizeBytes: sectorCount * KW31Z_SECTOR_BYTES });
  return {
    world,
    flash,
    sectorCount,
    openStore: () => must(RecordStore.open(flash, { firstSector: 0, sectorCount, ringLogs: RING_LOGS })),
    openAudit: (store) => must(AuditLog.open({ store, serial: SERIAL, hash, clock: world.alarm() })),
  };
}

export function must<T>(r: { ok: true; value: T } | { ok: false; code: string; detail?: string }): T {
  if (!r.ok) throw new Error(`unexpected failure: ${r.code} ${r.detail ?? ''}`);
  return r.value;
}

export interface SeenAudit {
  readonly event: number;
  readonly role: Role | undefined;
  readonly detail: number[];
  readonly atUs: number;
}

/** An audit sink that remembers what it was given (and optionally forwards it). */
export function recordingSink(world: World, forward?: AuditSink): { sink: AuditSink; seen: SeenAudit[] } {
  const seen: SeenAudit[] = [];
  const sink: AuditSink = (event, role, detail) => {
    seen.push({ event, role, detail: [...detail], atUs: world.nowUs });
    forward?.(event, role, detail);
  };
  return { sink, seen };
}

export const auditSinkOf = (log: AuditLog): AuditSink => (event, role, detail) => {
  const r = log.append(event, role, detail);
  if (!r.ok) throw new Error(`audit append failed: ${r.code}`);
};

