import { describe, expect, it } from 'vitest';
import { Trace, formatTimeUs } from '../../src/sim/trace.ts';

describe('Trace', () => {
  it('records virtual time, device, layer, kind and fields, and exports JSON lines with hex bytes', () => {
    let now = 1_250;
    const t = new Trace(() => now);
    t.record('pump-1', 'll', 'adv.tx', { channel: 37, pdu: new Uint8Array([0x40, 0x06]) });
    now = 2_000_000;
    t.record('phone', 'app', 'note', { ok: true });
    expect(t.toJsonLines()).toBe(
      '{"t_us":1250,"device":"pump-1","layer":"ll","kind":"adv.tx","fields":{"channel":37,"pdu":"4006"}}\n' +
        '{"t_us":2000000,"device":"phone","layer":"app","kind":"note","fields":{"ok":true}}\n',
    );
  });

  it('filters by layer when asked, and wants() tells hot paths what is recorded', () => {
    const t = new Trace(() => 0, { layers: ['ll'] });
    t.record('a', 'll', 'x');
    t.record('a', 'flash', 'y');
    expect(t.records.map((r) => r.kind)).toEqual(['x']);
    expect(t.wants('flash')).toBe(false);
    expect(t.wants('ll')).toBe(true);
  });

  it('prints a readable timeline, eliding the middle of long runs', () => {
    const t = new Trace(() => 3_000_042);
    for (let i = 0; i < 10; i++) t.record('dev', 'll', `k${i}`, { i });
    const text = t.formatTimeline({ limit: 4 });
    const lines = text.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe('     3.000042 s  dev        ll      k0                 i=0');
    expect(lines[2]).toBe('          … 6 more records …');
    expect(lines[4]).toContain('k9');
    expect(formatTimeUs(0)).toBe('     0.000000 s');
  });

  it('notifies listeners even when records are not kept', () => {
    const t = new Trace(() => 5, { keep: false });
    const got: string[] = [];
    const off = t.on((r) => got.push(r.kind));
    t.record('d', 'l', 'one');
    off();
    t.record('d', 'l', 'two');
    expect(got).toEqual(['one']);
    expect(t.records).toHaveLength(0);
  });
});
