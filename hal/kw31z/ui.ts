// The simulated MKW31Z board's user interface: a segment/text display that remembers what it
// shows, and buttons the world presses. Not a UI policy: what to show and when is the firmware's.

import type { ButtonName, Buttons, ButtonsClient, Display } from '../ui.ts';
import { MedtwinError } from '../../src/errors.ts';
import type { World } from '../../src/sim/world.ts';

export type Shown =
  | { readonly kind: 'blank'; readonly value: '' }
  | { readonly kind: 'digits'; readonly value: string }
  | { readonly kind: 'text'; readonly value: string };

export interface Kw31zDisplayOptions {
  readonly device: string;
  readonly world: World;
}

/** Starts blank. Every change is a trace record (layer 'ui'), so scenarios can assert on it. */
export class Kw31zDisplay implements Display {
  private readonly device: string;
  private readonly world: World;
  private current: Shown = { kind: 'blank', value: '' };

  constructor(opts: Kw31zDisplayOptions) {
    this.device = opts.device;
    this.world = opts.world;
  }

  /** What the user sees now (world side: scenarios read the screen, as a user would). */
  shown(): Shown {
    return this.current;
  }

  /** Segment digits only: a letter here is a firmware bug, not a user-facing failure. */
  showDigits(digits: string): void {
    if (!/^[0-9]+$/.test(digits)) {
      throw new MedtwinError('ui.digits', `${this.device}: a segment display shows digits 0–9 only, got "${digits}"`);
    }
    this.current = { kind: 'digits', value: digits };
    this.record('display.digits', { value: digits });
  }

  showText(text: string): void {
    this.current = { kind: 'text', value: text };
    this.record('display.text', { value: text });
  }

  clear(): void {
    this.current = { kind: 'blank', value: '' };
    this.record('display.clear', {});
  }

  private record(kind: string, fields: { value?: string }): void {
    if (this.world.trace.wants('ui')) this.world.trace.record(this.device, 'ui', kind, fields);
  }
}

/**
 * Contact bounce filter: a closure shorter than this is rejected, and the shortest press
 * that counts is delivered this long after the contact closes (assumption: 20 ms, the usual
 * figure for tactile switches).
 */
export const BUTTON_DEBOUNCE_MS = 20;
/**
 * Hold time that makes a press a long press (assumption: 2 s, long enough that a confirm or
 * stop cannot happen by accident).
 */
export const BUTTON_LONG_PRESS_MS = 2_000;

const US_PER_MS = 1_000;
const DEFAULT_BUTTONS: readonly ButtonName[] = ['ok', 'cancel', 'stop'];

export interface Kw31zButtonsOptions {
  readonly device: string;
  readonly world: World;
  /** The buttons fitted on this device; default ok, cancel, stop. */
  readonly names?: readonly ButtonName[];
}

/**
 * Presses come from the world (`press`, `hold`) and reach the client through the scheduler:
 *
 * - held < BUTTON_DEBOUNCE_MS: a bounce, dropped (trace 'button.bounce');
 * - held < BUTTON_LONG_PRESS_MS: `pressed` at the release — only then is it known not to be
 *   a long press;
 * - held ≥ BUTTON_LONG_PRESS_MS: `longPressed` at the threshold, while still held; the
 *   release delivers nothing.
 *
 * `press(name)` is the shortest press the debounce accepts, so `pressed` arrives
 * BUTTON_DEBOUNCE_MS after it. Without a client at delivery the press is dropped
 * (trace 'button.dropped'), like an interrupt nobody enabled.
 */
export class Kw31zButtons implements Buttons {
  readonly names: readonly ButtonName[];
  private readonly device: string;
  private readonly world: World;
  private client: ButtonsClient | undefined;
  /** Per button: when its contact opens again, µs (a button cannot be pressed twice at once). */
  private readonly heldUntilUs = new Map<ButtonName, number>();

  constructor(opts: Kw31zButtonsOptions) {
    this.device = opts.device;
    this.world = opts.world;
    this.names = Object.freeze([...(opts.names ?? DEFAULT_BUTTONS)]);
  }

  setClient(client: ButtonsClient): void {
    this.client = client;
  }

  /** World side: a short press of `name`; `pressed` follows BUTTON_DEBOUNCE_MS later. */
  press(name: ButtonName): void {
    this.hold(name, BUTTON_DEBOUNCE_MS);
  }

  /** World side: close the contact of `name` now and open it `durationMs` later. */
  hold(name: ButtonName, durationMs: number): void {
    if (!this.names.includes(name)) {
      throw new MedtwinError('ui.button', `${this.device} has no "${name}" button (has ${this.names.join(', ')})`);
    }
    if (!(durationMs >= 0) || !Number.isFinite(durationMs)) {
      throw new MedtwinError('ui.button', `hold time must be finite and ≥ 0 ms, got ${durationMs}`);
    }
    const now = this.world.nowUs;
    const until = this.heldUntilUs.get(name);
    if (until !== undefined && until > now) {
      // A scenario error, not something a user can do: say so loudly.
      throw new MedtwinError('ui.button', `${this.device}: "${name}" is still held until ${until} µs (now ${now} µs)`);
    }
    const heldUs = Math.round(durationMs * US_PER_MS);
    this.heldUntilUs.set(name, now + heldUs);
    const s = this.world.scheduler;
    if (heldUs < BUTTON_DEBOUNCE_MS * US_PER_MS) {
      s.schedule(heldUs, () => this.record('button.bounce', name, durationMs), 'button.bounce');
    } else if (heldUs < BUTTON_LONG_PRESS_MS * US_PER_MS) {
      s.schedule(heldUs, () => this.deliver('button.press', name, durationMs), 'button.press');
    } else {
      s.schedule(BUTTON_LONG_PRESS_MS * US_PER_MS, () => this.deliver('button.long-press', name, durationMs), 'button.long-press');
    }
  }

  private deliver(kind: 'button.press' | 'button.long-press', name: ButtonName, heldMs: number): void {
    const client = this.client;
    if (client === undefined) {
      this.record('button.dropped', name, heldMs);
      return;
    }
    this.record(kind, name, heldMs);
    if (kind === 'button.press') client.pressed(name);
    else client.longPressed(name);
  }

  private record(kind: string, button: ButtonName, heldMs: number): void {
    if (this.world.trace.wants('ui')) this.world.trace.record(this.device, 'ui', kind, { button, heldMs });
  }
}
