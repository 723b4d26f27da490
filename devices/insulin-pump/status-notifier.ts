// What the pump tells its clients unasked: IDD Status Changed (IDS §4.1: flags set on each change,
// kept until a client resets them with the SRCP's Reset Status) and IDD Annunciation Status
// (IDS §4.3: the annunciation the user should see now), each as a session event (docs/protocol.md
// §5.4 kind 0x03, §6.1) to every open session. Not the GATT characteristics: IDS's messages travel
// only inside the session here, and an event is IDS's notification or indication carried there.
//
// A client that was not connected misses the events, not the state: it reads IDD Status,
// Annunciation Status (ids.annunciation) and the Status Changed flags (ids.statusChanged) when it
// connects, as IDS expects of a collector that reconnects.

import { STATUS_CHANGED } from './ids/enums.ts';
import { encodeAnnunciationStatus, encodeStatusChanged, type Annunciation as IdsAnnunciation } from './ids/status.ts';
import { ANNUNCIATION_TYPES, type Annunciation } from './annunciations.ts';

/** Session event numbers the pump sends (§6.1). */
export const PUMP_EVENTS = {
  /** IDD Status Changed: flags[2] (IDS §4.1). */
  statusChanged: 0x0100,
  /** IDD Annunciation Status (IDS §4.3): the current annunciation, or flags 0 when none. */
  annunciation: 0x0101,
} as const;

export type StatusChangedFlag = keyof typeof STATUS_CHANGED;

/** The IDS codec's view of an annunciation of ours (AuxInfo as 2-octet little-endian fields). */
export function idsAnnunciation(a: Annunciation): IdsAnnunciation {
  const aux: Record<string, Uint8Array> = {};
  a.auxInfo.forEach((v, i) => (aux[`auxInfo${i + 1}`] = Uint8Array.of(v & 0xff, (v >> 8) & 0xff)));
  return { instanceId: a.instanceId, annunciationType: ANNUNCIATION_TYPES[a.type], status: a.status, ...aux };
}

/** IDD Annunciation Status bytes for the annunciation to show now (flags 0 when none): the event's and ids.annunciation's. */
export function annunciationStatusBytes(current: Annunciation | undefined): Uint8Array {
  return encodeAnnunciationStatus(current ? { annunciation: idsAnnunciation(current) } : {});
}

export interface StatusNotifierOptions {
  /** Send one event to every open session (SecureDevice.broadcast). */
  readonly broadcast: (event: number, payload: Uint8Array) => number;
}

export class StatusNotifier {
  private bits = 0;

  constructor(private readonly opts: StatusNotifierOptions) {}

  /** The IDD Status Changed flags set since the last reset. */
  get flags(): number {
    return this.bits;
  }

  /** Those flags as IDD Status Changed bytes: the event's and ids.statusChanged's. */
  statusChangedBytes(): Uint8Array {
    return encodeStatusChanged({ flags: this.bits });
  }

  /** Something changed: set its flags and tell every open session the flags now set. */
  changed(...what: readonly StatusChangedFlag[]): void {
    for (const w of what) this.bits |= STATUS_CHANGED[w];
    this.send(PUMP_EVENTS.statusChanged, this.statusChangedBytes());
  }

  /** SRCP Reset Status (IDS §4.5.1): clear the given flags. */
  reset(flags: number): void {
    this.bits &= ~flags & 0xffff;
  }

  /** The annunciation to show changed (raised, snoozed, confirmed): send the current one. */
  annunciation(current: Annunciation | undefined): void {
    this.send(PUMP_EVENTS.annunciation, annunciationStatusBytes(current));
  }

  private send(event: number, payload: Uint8Array): void {
    this.opts.broadcast(event, payload);
  }
}
