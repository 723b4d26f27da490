// User interface: a small segment/text display and a few buttons.
// Not a GUI: enough to show a six-digit comparison value and confirm it with a press.

export interface Display {
  /** Show digits (e.g. the g2 comparison value "042117"). */
  showDigits(digits: string): void;
  showText(text: string): void;
  clear(): void;
}

export type ButtonName = 'ok' | 'cancel' | 'stop';

export interface ButtonsClient {
  pressed(button: ButtonName): void;
  longPressed(button: ButtonName): void;
}

/** Split-phase by nature: presses arrive as events from the world, never inside a call. */
export interface Buttons {
  readonly names: readonly ButtonName[];
  setClient(client: ButtonsClient): void;
}
