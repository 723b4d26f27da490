// Test helpers for the therapy machine: a DeliveryPort that records every call, and ways to drive
// the machine into each state. Not a delivery engine.

import type { BolusRequest, DeliveryPort, DeliveryResult, TbrRequest, TherapyEvent, TherapyInput } from '../../../devices/insulin-pump/therapy.machine.ts';
import { Therapy } from '../../../devices/insulin-pump/therapy.machine.ts';

export type PortCall = { readonly method: keyof DeliveryPort; readonly arg?: unknown };

export interface RecordingPort extends DeliveryPort {
  readonly calls: PortCall[];
  /** Make the next calls of `method` fail with this result. */
  failNext(method: keyof DeliveryPort, result: DeliveryResult<never>): void;
}

export function recordingPort(): RecordingPort {
  const calls: PortCall[] = [];
  const failures = new Map<keyof DeliveryPort, DeliveryResult<never>>();
  let nextBolusId = 1;
  const call = <T>(method: keyof DeliveryPort, arg: unknown, value: T): DeliveryResult<T> => {
    calls.push(arg === undefined ? { method } : { method, arg });
    const f = failures.get(method);
    if (f !== undefined) {
      failures.delete(method);
      return f;
    }
    return { ok: true, value };
  };
  return {
    calls,
    failNext: (method, result) => void failures.set(method, result),
    start: (opts) => call('start', opts, undefined),
    pause: () => call('pause', undefined, undefined),
    stop: () => call('stop', undefined, undefined),
    prime: (amountMilliunits) => call('prime', amountMilliunits, undefined),
    stopPriming: () => call('stopPriming', undefined, undefined),
    setBasalProfile: (n) => call('setBasalProfile', n, undefined),
    setTbr: (tbr: TbrRequest) => call('setTbr', tbr, undefined),
    cancelTbr: () => call('cancelTbr', undefined, undefined),
    bolus: (b: BolusRequest) => call('bolus', b, { bolusId: nextBolusId++ }),
    cancelBolus: (id) => call('cancelBolus', id, undefined),
  };
}

export const FILL_MU = 200_000;
export const PRIME_MU = 2_000;
export const FAST_BOLUS: BolusRequest = { kind: 'fast', fastMilliunits: 2_500, extendedMilliunits: 0, durationMin: 0 };
export const TBR: TbrRequest = { kind: 'relative', percent: 150, durationMin: 60, change: false };

/** Named situations, each reached from a fresh boot by a short event script. */
export const SETUPS = {
  standby: [],
  off: [{ type: 'device.off' }],
  preparing: [{ type: 'reservoir.filled', fillMilliunits: FILL_MU }],
  waiting: [{ type: 'reservoir.filled', fillMilliunits: FILL_MU }, { type: 'preparing.done' }],
  priming: [{ type: 'reservoir.filled', fillMilliunits: FILL_MU }, { type: 'preparing.done' }, { type: 'priming.start', amountMilliunits: PRIME_MU }],
  ready: [{ type: 'reservoir.filled', fillMilliunits: FILL_MU }, { type: 'preparing.done' }, { type: 'priming.start', amountMilliunits: PRIME_MU }, { type: 'priming.done' }],
  run: [
    { type: 'reservoir.filled', fillMilliunits: FILL_MU },
    { type: 'preparing.done' },
    { type: 'priming.start', amountMilliunits: PRIME_MU },
    { type: 'priming.done' },
    { type: 'therapy.run' },
  ],
  pause: [
    { type: 'reservoir.filled', fillMilliunits: FILL_MU },
    { type: 'preparing.done' },
    { type: 'priming.start', amountMilliunits: PRIME_MU },
    { type: 'priming.done' },
    { type: 'therapy.run' },
    { type: 'therapy.pause' },
  ],
  emptyReservoir: [{ type: 'reservoir.filled', fillMilliunits: FILL_MU }, { type: 'reservoir.empty' }],
} as const satisfies Record<string, readonly TherapyEvent[]>;

export type SetupName = keyof typeof SETUPS;

/** A Therapy brought into `setup`, with the port's calls cleared. */
export function therapyIn(setup: SetupName, input: TherapyInput = {}): { therapy: Therapy; port: RecordingPort } {
  const port = recordingPort();
  const therapy = new Therapy({ port, input });
  for (const e of SETUPS[setup]) therapy.send(e);
  port.calls.length = 0;
  return { therapy, port };
}
