// Tests for the simulated KW31Z display and buttons: what is shown, the trace, press / hold /
// long-press timing through the scheduler, bounces and dropped presses. Not tests of any UI flow.

import { describe, expect, it } from 'vitest';
import { BUTTON_DEBOUNCE_MS, BUTTON_LONG_PRESS_MS, Kw31zButtons, Kw31zDisplay } from '../../../hal/kw31z/ui.ts';
import type { ButtonName } from '../../../hal/ui.ts';
import { MedtwinError } from '../../../src/errors.ts';
import { World } from '../../../src/sim/world.ts';

const uiTrace = (world: World) => world.trace.filter({ layer: 'ui' }).map((r) => [r.tUs, r.kind, r.fields]);

describe('Kw31zDisplay', () => {
  it('starts blank and shows digits, text and blank in turn, tracing each', () => {
    const world = new World();
    const display = new Kw31zDisplay({ device: 'ph-meter', world });
    expect(display.shown()).toEqual({ kind: 'blank', value: '' });
    display.showDigits('042117');
    expect(display.shown()).toEqual({ kind: 'digits', value: '042117' });
    world.runUntil(5);
    display.showText('PAIR?');
    expect(display.shown()).toEqual({ kind: 'text', value: 'PAIR?' });
    display.clear();
    expect(display.shown()).toEqual({ kind: 'blank', value: '' });
    expect(uiTrace(world)).toEqual([
      [0, 'display.digits', { value: '042117' }],
      [5, 'display.text', { value: 'PAIR?' }],
      [5, 'display.clear', {}],
    ]);
    expect(world.trace.records.every((r) => r.device === 'ph-meter')).toBe(true);
  });

  it.each(['', '12a4', '1.5', ' 42'])('throws for digits %j and keeps what was shown', (bad) => {
    const world = new World();
    const display = new Kw31zDisplay({ device: 'ph-meter', world });
    display.showText('OK');
    expect(() => display.showDigits(bad)).toThrow(MedtwinError);
    expect(display.shown()).toEqual({ kind: 'text', value: 'OK' });
    expect(uiTrace(world)).toHaveLength(1);
  });
});

type Heard = [number, 'pressed' | 'longPressed', ButtonName];

function buttons(names?: readonly ButtonName[]) {
  const world = new World();
  const b = new Kw31zButtons(names === undefined ? { device: 'pump', world } : { device: 'pump', world, names });
  const heard: Heard[] = [];
  const client = {
    pressed: (n: ButtonName) => heard.push([world.nowUs, 'pressed', n]),
    longPressed: (n: ButtonName) => heard.push([world.nowUs, 'longPressed', n]),
  };
  return { world, b, heard, client };
}

describe('Kw31zButtons', () => {
  it('has ok, cancel and stop by default, or the names given', () => {
    expect(buttons().b.names).toEqual(['ok', 'cancel', 'stop']);
    expect(buttons(['ok']).b.names).toEqual(['ok']);
  });

  it('delivers a press BUTTON_DEBOUNCE_MS later from the scheduler, never inside press()', () => {
    const { world, b, heard, client } = buttons();
    b.setClient(client);
    world.runUntil(1_000_000);
    b.press('ok');
    expect(heard).toEqual([]);
    world.runUntil(1_019_999);
    expect(heard).toEqual([]);
    world.runUntil(1_020_000);
    expect(BUTTON_DEBOUNCE_MS).toBe(20);
    expect(heard).toEqual([[1_020_000, 'pressed', 'ok']]);
    expect(uiTrace(world)).toEqual([[1_020_000, 'button.press', { button: 'ok', heldMs: 20 }]]);
  });

  it('classifies a hold below the long-press threshold at its release', () => {
    const { world, b, heard, client } = buttons();
    b.setClient(client);
    b.hold('cancel', 500);
    b.hold('ok', BUTTON_LONG_PRESS_MS - 1);
    world.runFor(10_000_000);
    expect(heard).toEqual([
      [500_000, 'pressed', 'cancel'],
      [1_999_000, 'pressed', 'ok'],
    ]);
  });

  it('makes a hold of at least BUTTON_LONG_PRESS_MS a long press at the threshold, and nothing at the release', () => {
    const { world, b, heard, client } = buttons();
    b.setClient(client);
    expect(BUTTON_LONG_PRESS_MS).toBe(2_000);
    b.hold('stop', 2_000);
    world.runFor(3_000_000);
    b.hold('ok', 5_000);
    world.runFor(10_000_000);
    expect(heard).toEqual([
      [2_000_000, 'longPressed', 'stop'],
      [5_000_000, 'longPressed', 'ok'],
    ]);
    expect(uiTrace(world)).toEqual([
      [2_000_000, 'button.long-press', { button: 'stop', heldMs: 2_000 }],
      [5_000_000, 'button.long-press', { button: 'ok', heldMs: 5_000 }],
    ]);
  });

  it('rejects a contact shorter than the debounce as a bounce', () => {
    const { world, b, heard, client } = buttons();
    b.setClient(client);
    b.hold('ok', BUTTON_DEBOUNCE_MS - 1);
    world.runFor(1_000_000);
    expect(heard).toEqual([]);
    expect(uiTrace(world)).toEqual([[19_000, 'button.bounce', { button: 'ok', heldMs: 19 }]]);
  });

  it('drops presses while there is no client (traced), and delivers once one is set', () => {
    const { world, b, heard, client } = buttons();
    b.press('ok');
    b.hold('stop', 3_000);
    world.runFor(5_000_000);
    b.setClient(client);
    b.press('ok');
    world.runFor(1_000_000);
    expect(heard).toEqual([[5_020_000, 'pressed', 'ok']]);
    expect(uiTrace(world).map(([t, k]) => [t, k])).toEqual([
      [20_000, 'button.dropped'],
      [2_000_000, 'button.dropped'],
      [5_020_000, 'button.press'],
    ]);
  });

  it('throws for a button the device lacks, a bad duration, or a button still held', () => {
    const { world, b } = buttons(['ok']);
    expect(() => b.press('stop')).toThrow(MedtwinError);
    expect(() => b.hold('ok', -1)).toThrow(MedtwinError);
    expect(() => b.hold('ok', Number.POSITIVE_INFINITY)).toThrow(MedtwinError);
    b.hold('ok', 3_000);
    world.runUntil(2_999_999);
    expect(() => b.press('ok')).toThrow(MedtwinError);
    world.runUntil(3_000_000);
    expect(() => b.press('ok')).not.toThrow();
  });
});
