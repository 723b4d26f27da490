// The GATT server a device's firmware uses (Core v5.x Vol 3 Part G §4.10, §4.11): one GattDb shared by every
// connection, permission hooks, per-client subscriptions, notify/indicate by handle, value updates that reach subscribers.
// Not the ATT rules (att-server.ts) and not the radio binding (peripheral-host.ts attaches bearers here).

import type { AttBearer } from './att-bearer.ts';
import { AttServer, type AuthorizeHook, type IndicationOutcome } from './att-server.ts';
import { CCCD, CHAR_PROPERTY, type CharacteristicInfo, type GattDb } from './gatt-db.ts';

export interface GattServerOptions {
  readonly db: GattDb;
  /** Asked before every client read or write of an attribute (see att-server.ts AuthorizeHook). */
  readonly authorize?: AuthorizeHook;
  /** Whether a connection's link is authenticated (BLE pairing; this stack never pairs, so default never). */
  readonly isAuthenticated?: (conn: number) => boolean;
  /** Prepared writes held per client (default 32) before Prepare Queue Full. */
  readonly prepareQueueLimit?: number;
  /** Requests held while firmware answers one later (default 16). */
  readonly inboxLimit?: number;
}

export type GattServerFailureCode = 'no-connection' | 'no-characteristic' | 'not-subscribed' | 'closed' | 'size';
export type GattServerResult = { ok: true } | { ok: false; code: GattServerFailureCode; detail: string };

export type SubscriptionListener = (conn: number, characteristic: CharacteristicInfo, cccd: number) => void;

export class GattServer {
  readonly db: GattDb;
  private readonly sessions = new Map<number, AttServer>();
  private readonly subscriptionListeners: SubscriptionListener[] = [];
  private readonly opts: GattServerOptions;
  /** Firmware callbacks that threw (answered with Unlikely Error): for tests and diagnostics. */
  readonly handlerErrors: { conn: number; handle: number; error: unknown }[] = [];

  constructor(opts: GattServerOptions) {
    this.db = opts.db;
    this.opts = opts;
  }

  /** @internal The host gives every new connection's bearer a server session. */
  attach(bearer: AttBearer): AttServer {
    const s = new AttServer(bearer, this.db, {
      ...(this.opts.authorize ? { authorize: this.opts.authorize } : {}),
      ...(this.opts.isAuthenticated ? { isAuthenticated: this.opts.isAuthenticated } : {}),
      prepareQueueLimit: this.opts.prepareQueueLimit ?? 32,
      inboxLimit: this.opts.inboxLimit ?? 16,
      onCccdWrite: (conn, ch, v) => {
        for (const l of this.subscriptionListeners) l(conn, ch, v);
      },
      onHandlerError: (conn, handle, error) => {
        if (this.handlerErrors.length < 100) this.handlerErrors.push({ conn, handle, error });
      },
    });
    this.sessions.set(bearer.conn, s);
    return s;
  }

  /** @internal The connection ended (its bearer is already closed). */
  detach(conn: number): void {
    this.sessions.delete(conn);
  }

  /** Connections with a server session. */
  get connections(): number[] {
    return [...this.sessions.keys()];
  }

  session(conn: number): AttServer | undefined {
    return this.sessions.get(conn);
  }

  /** Called when a client writes a CCCD; returns the unsubscribe function. */
  onSubscription(listener: SubscriptionListener): () => void {
    this.subscriptionListeners.push(listener);
    return () => {
      const i = this.subscriptionListeners.indexOf(listener);
      if (i >= 0) this.subscriptionListeners.splice(i, 1);
    };
  }

  private resolve(conn: number, handleOrId: number | string): { s: AttServer; ch: CharacteristicInfo } | { ok: false; code: GattServerFailureCode; detail: string } {
    const s = this.sessions.get(conn);
    if (!s) return { ok: false, code: 'no-connection', detail: `no connection ${conn}` };
    const ch = this.db.characteristic(handleOrId);
    if (!ch) return { ok: false, code: 'no-characteristic', detail: `no characteristic value ${String(handleOrId)}` };
    return { s, ch };
  }

  /** The CCCD bits a client wrote for a characteristic (0 when none). */
  subscription(conn: number, handleOrId: number | string): number {
    const r = this.resolve(conn, handleOrId);
    return 'ch' in r ? r.s.cccdValue(r.ch) : 0;
  }

  /**
   * Notify one client (§4.10): only when its CCCD has the notification bit, unless `force`.
   * `value` defaults to the stored value; it is cut to ATT_MTU − 3.
   */
  notify(conn: number, handleOrId: number | string, value?: Uint8Array, force = false): GattServerResult {
    const r = this.resolve(conn, handleOrId);
    if (!('ch' in r)) return r;
    if (!force && (r.s.cccdValue(r.ch) & CCCD.NOTIFY) === 0) return { ok: false, code: 'not-subscribed', detail: `connection ${conn} has not enabled notifications` };
    const v = value ?? this.db.storedValue(r.ch.valueHandle);
    if (v === undefined) return { ok: false, code: 'size', detail: 'no value given and none stored' };
    return r.s.notify(r.ch.valueHandle, v) ? { ok: true } : { ok: false, code: 'closed', detail: 'the ATT bearer is closed' };
  }

  /**
   * Indicate to one client (§4.11): queued behind any unconfirmed indication; `done` runs
   * when the Handle Value Confirmation arrives, or with 'timeout' after 30 s.
   */
  indicate(conn: number, handleOrId: number | string, value?: Uint8Array, done?: (r: IndicationOutcome) => void, force = false): GattServerResult {
    const r = this.resolve(conn, handleOrId);
    if (!('ch' in r)) return r;
    if (!force && (r.s.cccdValue(r.ch) & CCCD.INDICATE) === 0) return { ok: false, code: 'not-subscribed', detail: `connection ${conn} has not enabled indications` };
    const v = value ?? this.db.storedValue(r.ch.valueHandle);
    if (v === undefined) return { ok: false, code: 'size', detail: 'no value given and none stored' };
    return r.s.indicate(r.ch.valueHandle, v, done) ? { ok: true } : { ok: false, code: 'closed', detail: 'the ATT bearer is closed' };
  }

  /**
   * Firmware changed a value: store it (when the attribute keeps a stored value) and tell
   * every subscribed client — by notification when its CCCD asks for them, else by
   * indication. Returns how many clients were told.
   */
  updateValue(handleOrId: number | string, value: Uint8Array): { ok: true; value: number } | { ok: false; code: GattServerFailureCode; detail: string } {
    const ch = this.db.characteristic(handleOrId);
    if (!ch) return { ok: false, code: 'no-characteristic', detail: `no characteristic value ${String(handleOrId)}` };
    if (this.db.storedValue(ch.valueHandle) !== undefined) {
      const s = this.db.setValue(ch.valueHandle, value);
      if (!s.ok) return { ok: false, code: 'size', detail: s.detail };
    }
    let told = 0;
    for (const [, s] of this.sessions) {
      const bits = s.cccdValue(ch);
      if ((bits & CCCD.NOTIFY) !== 0 && (ch.properties & CHAR_PROPERTY.notify) !== 0) {
        if (s.notify(ch.valueHandle, value)) told++;
      } else if ((bits & CCCD.INDICATE) !== 0 && (ch.properties & CHAR_PROPERTY.indicate) !== 0) {
        if (s.indicate(ch.valueHandle, value)) told++;
      }
    }
    return { ok: true, value: told };
  }
}
