// Unit tests of the therapy machine and its Therapy service: every transition rule of ids.md §5/§7
// and each refusal code, as tables. Not the model-based traversal (therapy.model.test.ts).

import { describe, expect, it } from 'vitest';
import {
  MAX_PRIMING_MILLIUNITS,
  OPERATIONAL_STATE_CODES,
  RESERVOIR_CAPACITY_MILLIUNITS,
  THERAPY_CONTROL_STATE_CODES,
  Therapy,
  type TherapyEvent,
  type TherapyStateChange,
} from '../../../devices/insulin-pump/therapy.machine.ts';
import { FAST_BOLUS, FILL_MU, PRIME_MU, TBR, recordingPort, therapyIn, type SetupName } from './therapy-fixtures.ts';

type Row = [SetupName, TherapyEvent, string, string, string[]];

describe('therapy machine: accepted transitions', () => {
  // setup, event → therapy control state, operational state, DeliveryPort calls (in order)
  it.each<Row>([
    ['standby', { type: 'reservoir.filled', fillMilliunits: FILL_MU }, 'stop', 'preparing', []],
    ['preparing', { type: 'preparing.done' }, 'stop', 'waiting', []],
    ['waiting', { type: 'priming.start', amountMilliunits: PRIME_MU }, 'stop', 'priming', ['prime']],
    ['priming', { type: 'priming.done' }, 'stop', 'ready', []],
    ['priming', { type: 'priming.stop' }, 'stop', 'waiting', ['stopPriming']],
    ['priming', { type: 'therapy.stop' }, 'stop', 'waiting', ['stop']],
    ['priming', { type: 'therapy.pause' }, 'stop', 'waiting', ['pause']],
    ['ready', { type: 'priming.start', amountMilliunits: PRIME_MU }, 'stop', 'priming', ['prime']], // re-prime
    ['ready', { type: 'therapy.run' }, 'run', 'ready', ['start']],
    ['ready', { type: 'reservoir.filled', fillMilliunits: FILL_MU }, 'stop', 'preparing', []], // new reservoir: prime again
    ['run', { type: 'therapy.pause' }, 'pause', 'ready', ['pause']],
    ['run', { type: 'therapy.stop' }, 'stop', 'ready', ['stop']],
    ['run', { type: 'therapy.run' }, 'run', 'ready', []],
    ['run', { type: 'occlusion.detected' }, 'stop', 'waiting', ['stop']],
    ['run', { type: 'reservoir.empty' }, 'stop', 'standby', ['stop']],
    ['run', { type: 'reservoir.removed' }, 'stop', 'standby', ['stop']],
    ['run', { type: 'bolus.set', bolus: FAST_BOLUS }, 'run', 'ready', ['bolus']],
    ['run', { type: 'bolus.cancel', bolusId: 1 }, 'run', 'ready', ['cancelBolus']],
    ['run', { type: 'tbr.set', tbr: TBR }, 'run', 'ready', ['setTbr']],
    ['run', { type: 'tbr.cancel' }, 'run', 'ready', ['cancelTbr']],
    ['run', { type: 'delivery.failed' }, 'stop', 'ready', ['stop']],
    ['pause', { type: 'therapy.run' }, 'run', 'ready', ['start']],
    ['pause', { type: 'therapy.pause' }, 'pause', 'ready', ['pause']],
    ['pause', { type: 'therapy.stop' }, 'stop', 'ready', ['stop']],
    ['pause', { type: 'tbr.set', tbr: TBR }, 'pause', 'ready', ['setTbr']],
    ['pause', { type: 'basal.activate', templateNumber: 2 }, 'pause', 'ready', ['setBasalProfile']],
    ['pause', { type: 'occlusion.detected' }, 'stop', 'waiting', ['stop']],
    ['ready', { type: 'basal.activate', templateNumber: 1 }, 'stop', 'ready', ['setBasalProfile']],
    ['ready', { type: 'config.change', kind: 'max-bolus' }, 'stop', 'ready', []],
    ['ready', { type: 'therapy.stop' }, 'stop', 'ready', ['stop']],
    ['ready', { type: 'therapy.pause' }, 'stop', 'ready', ['pause']], // Pause while stopped stays Stop
    ['standby', { type: 'therapy.stop' }, 'stop', 'standby', ['stop']],
    ['off', { type: 'therapy.stop' }, 'stop', 'off', ['stop']],
    ['off', { type: 'therapy.pause' }, 'stop', 'off', ['pause']],
    ['ready', { type: 'device.off' }, 'stop', 'off', ['stop']],
    ['off', { type: 'device.on' }, 'stop', 'standby', []],
    ['ready', { type: 'occlusion.detected' }, 'stop', 'waiting', ['stop']],
    ['waiting', { type: 'reservoir.empty' }, 'stop', 'standby', ['stop']],
    ['ready', { type: 'flight.enter' }, 'stop', 'ready', []],
    ['standby', { type: 'priming.done' }, 'stop', 'standby', []], // a stray report changes nothing
  ])('%s + %j → %s/%s, port %j', (setup, event, tcs, op, calls) => {
    const { therapy, port } = therapyIn(setup);
    const r = therapy.send(event);
    expect(r.code).toBe('ok');
    expect(therapy.status().therapyControlState).toBe(tcs);
    expect(therapy.status().operationalState).toBe(op);
    expect(port.calls.map((c) => c.method)).toEqual(calls);
  });

  it('device.on returns to the operational state the reservoir and line allow', () => {
    const { therapy } = therapyIn('ready');
    therapy.switchOff();
    expect(therapy.status().operationalState).toBe('off');
    therapy.switchOn();
    expect(therapy.status().operationalState).toBe('ready');
  });

  it('facts while off are applied but do not switch the pump on', () => {
    const { therapy, port } = therapyIn('ready');
    therapy.switchOff();
    port.calls.length = 0;
    therapy.occlusionDetected();
    expect(therapy.status()).toMatchObject({ operationalState: 'off', primed: false });
    expect(port.calls.map((c) => c.method)).toEqual(['stop']);
    therapy.reservoirEmpty();
    therapy.switchOn();
    expect(therapy.status().operationalState).toBe('standby');
  });
});

describe('therapy machine: refusals (ids.md §3.3)', () => {
  type Refusal = [SetupName, TherapyEvent, string, string];
  it.each<Refusal>([
    ['standby', { type: 'therapy.run' }, 'procedure-not-applicable', 'no-reservoir'],
    ['emptyReservoir', { type: 'therapy.run' }, 'procedure-not-applicable', 'no-reservoir'],
    ['preparing', { type: 'therapy.run' }, 'procedure-not-applicable', 'not-primed'],
    ['waiting', { type: 'therapy.run' }, 'procedure-not-applicable', 'not-primed'],
    ['priming', { type: 'therapy.run' }, 'procedure-not-applicable', 'not-primed'],
    ['off', { type: 'therapy.run' }, 'procedure-not-applicable', 'device-off'],
    ['run', { type: 'priming.start', amountMilliunits: PRIME_MU }, 'procedure-not-applicable', 'therapy-not-stopped'],
    ['pause', { type: 'priming.start', amountMilliunits: PRIME_MU }, 'procedure-not-applicable', 'therapy-not-stopped'],
    ['standby', { type: 'priming.start', amountMilliunits: PRIME_MU }, 'procedure-not-applicable', 'no-reservoir'],
    ['preparing', { type: 'priming.start', amountMilliunits: PRIME_MU }, 'procedure-not-applicable', 'preparing'],
    ['priming', { type: 'priming.start', amountMilliunits: PRIME_MU }, 'procedure-not-applicable', 'priming'],
    ['off', { type: 'priming.start', amountMilliunits: PRIME_MU }, 'procedure-not-applicable', 'device-off'],
    ['waiting', { type: 'priming.start', amountMilliunits: 0 }, 'parameter-out-of-range', 'amount-out-of-range'],
    ['waiting', { type: 'priming.start', amountMilliunits: MAX_PRIMING_MILLIUNITS + 1 }, 'parameter-out-of-range', 'amount-out-of-range'],
    ['waiting', { type: 'priming.start', amountMilliunits: 1.5 }, 'parameter-out-of-range', 'amount-out-of-range'],
    ['waiting', { type: 'priming.stop' }, 'procedure-not-applicable', 'not-priming'],
    ['ready', { type: 'priming.stop' }, 'procedure-not-applicable', 'not-priming'],
    ['run', { type: 'priming.stop' }, 'procedure-not-applicable', 'not-priming'],
    ['run', { type: 'reservoir.filled', fillMilliunits: FILL_MU }, 'procedure-not-applicable', 'therapy-not-stopped'],
    ['pause', { type: 'reservoir.filled', fillMilliunits: FILL_MU }, 'procedure-not-applicable', 'therapy-not-stopped'],
    ['priming', { type: 'reservoir.filled', fillMilliunits: FILL_MU }, 'procedure-not-applicable', 'priming'],
    ['off', { type: 'reservoir.filled', fillMilliunits: FILL_MU }, 'procedure-not-applicable', 'device-off'],
    ['standby', { type: 'reservoir.filled', fillMilliunits: 0 }, 'parameter-out-of-range', 'fill-out-of-range'],
    ['standby', { type: 'reservoir.filled', fillMilliunits: RESERVOIR_CAPACITY_MILLIUNITS + 1 }, 'parameter-out-of-range', 'fill-out-of-range'],
    ['run', { type: 'config.change', kind: 'basal-template' }, 'procedure-not-applicable', 'running'],
    ['run', { type: 'basal.activate', templateNumber: 1 }, 'procedure-not-applicable', 'running'],
    ['ready', { type: 'bolus.set', bolus: FAST_BOLUS }, 'procedure-not-applicable', 'therapy-not-running'],
    ['pause', { type: 'bolus.set', bolus: FAST_BOLUS }, 'procedure-not-applicable', 'therapy-not-running'],
    ['ready', { type: 'tbr.set', tbr: TBR }, 'procedure-not-applicable', 'therapy-not-running'],
    ['run', { type: 'device.off' }, 'procedure-not-applicable', 'therapy-not-stopped'],
    ['priming', { type: 'device.off' }, 'procedure-not-applicable', 'priming'],
  ])('%s + %j → %s (%s), state and port untouched', (setup, event, code, reason) => {
    const { therapy, port } = therapyIn(setup);
    const before = therapy.status();
    const r = therapy.send(event);
    expect(r).toEqual({ ok: false, code, reason });
    expect(therapy.status()).toEqual(before);
    expect(port.calls).toEqual([]);
  });

  it('passes the DeliveryPort refusal through (e.g. a limit: parameter out of range)', () => {
    const { therapy, port } = therapyIn('run');
    port.failNext('bolus', { ok: false, code: 'parameter-out-of-range', detail: 'max bolus' });
    expect(therapy.setBolus(FAST_BOLUS)).toEqual({ ok: false, code: 'parameter-out-of-range', reason: 'delivery-port', detail: 'max bolus' });
    expect(therapy.setBolus(FAST_BOLUS)).toEqual({ ok: true, code: 'ok', value: { bolusId: 2 } });
  });

  it('goes back to Stop when the engine refuses to start, and tells it to stop', () => {
    const { therapy, port } = therapyIn('ready');
    port.failNext('start', { ok: false, code: 'procedure-not-completed' });
    const r = therapy.setTherapyControlState('run');
    expect(r.code).toBe('procedure-not-completed');
    expect(therapy.status().therapyControlState).toBe('stop');
    expect(port.calls.map((c) => c.method)).toEqual(['start', 'stop']);
  });

  it('goes back to waiting when the engine refuses to prime', () => {
    const { therapy, port } = therapyIn('waiting');
    port.failNext('prime', { ok: false, code: 'procedure-not-completed' });
    expect(therapy.startPriming(PRIME_MU).code).toBe('procedure-not-completed');
    expect(therapy.status()).toMatchObject({ operationalState: 'waiting', primed: false });
    expect(port.calls.map((c) => c.method)).toEqual(['prime', 'stop']);
  });
});

describe('Therapy service', () => {
  it('walks the IDS procedures: fill, prime, run, bolus, pause, resume, stop', () => {
    const changes: TherapyStateChange[] = [];
    const port = recordingPort();
    const t = new Therapy({ port, onChange: (c) => changes.push(c) });
    expect(t.setTherapyControlState('run')).toEqual({ ok: false, code: 'procedure-not-applicable', reason: 'no-reservoir' });
    expect(t.setInitialReservoirFillLevel(FILL_MU).ok).toBe(true);
    t.preparingDone();
    expect(t.startPriming(PRIME_MU).ok).toBe(true);
    t.primingDone();
    expect(t.setTherapyControlState('run').ok).toBe(true);
    expect(t.setBolus(FAST_BOLUS)).toEqual({ ok: true, code: 'ok', value: { bolusId: 1 } });
    expect(t.setTherapyControlState('pause').ok).toBe(true);
    expect(t.setTherapyControlState('run').ok).toBe(true);
    expect(t.setTherapyControlState('stop').ok).toBe(true);
    expect(port.calls).toEqual([
      { method: 'prime', arg: PRIME_MU },
      { method: 'start', arg: { resume: false } },
      { method: 'bolus', arg: FAST_BOLUS },
      { method: 'pause' },
      { method: 'start', arg: { resume: true } },
      { method: 'stop' },
    ]);
    expect(changes.map((c) => `${c.to.therapyControlState}/${c.to.operationalState}`)).toEqual([
      'stop/preparing',
      'stop/waiting',
      'stop/priming',
      'stop/ready',
      'run/ready',
      'pause/ready',
      'run/ready',
      'stop/ready',
    ]);
  });

  it('runs the Stop on the port before onChange sees it (history comes after the motor)', () => {
    const order: string[] = [];
    const port = recordingPort();
    const stop = port.stop.bind(port);
    port.stop = () => (order.push('port.stop'), stop());
    const t = new Therapy({ port, input: { reservoir: 'filled', fillMilliunits: FILL_MU, primed: true }, onChange: () => order.push('onChange') });
    t.setTherapyControlState('run');
    order.length = 0;
    t.occlusionDetected();
    expect(order).toEqual(['port.stop', 'onChange']);
  });

  it('boots in Stop whatever it is given, and trusts a primed line only with a filled reservoir', () => {
    expect(new Therapy({ port: recordingPort(), input: { reservoir: 'filled', fillMilliunits: FILL_MU, primed: true } }).status()).toMatchObject({
      therapyControlState: 'stop',
      operationalState: 'ready',
    });
    expect(new Therapy({ port: recordingPort(), input: { reservoir: 'empty', primed: true } }).status()).toMatchObject({
      operationalState: 'standby',
      primed: false,
      reservoirAttached: true,
    });
    expect(new Therapy({ port: recordingPort(), input: { reservoir: 'filled', fillMilliunits: FILL_MU } }).status().operationalState).toBe('waiting');
  });

  it('flight mode is entered by Set Flight Mode and left only locally', () => {
    const { therapy } = therapyIn('run');
    expect(therapy.setFlightMode().ok).toBe(true);
    expect(therapy.status()).toMatchObject({ flightMode: true, therapyControlState: 'run' });
    therapy.exitFlightMode();
    expect(therapy.status().flightMode).toBe(false);
  });

  it('reports refusals to onRefused', () => {
    const seen: string[] = [];
    const t = new Therapy({ port: recordingPort(), onRefused: (e, code, reason) => seen.push(`${e.type}:${code}:${reason}`) });
    t.setTherapyControlState('run');
    expect(seen).toEqual(['therapy.run:procedure-not-applicable:no-reservoir']);
  });

  it('uses the IDS enum values (ids.md §5)', () => {
    expect(THERAPY_CONTROL_STATE_CODES).toEqual({ stop: 0x33, pause: 0x3c, run: 0x55 });
    expect(OPERATIONAL_STATE_CODES).toEqual({ off: 0x33, standby: 0x3c, preparing: 0x55, priming: 0x5a, waiting: 0x66, ready: 0x96 });
  });
});
