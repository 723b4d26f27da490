import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runFirstContact } from '../../../scenarios/demo/first-contact.ts';

describe('the first-contact demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medtwin-demo-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('advertises, connects, exchanges three request/response pairs and hangs up', () => {
    const r = runFirstContact({ seed: 'fc-1' });
    expect(r.replies).toEqual(['ok #1 battery 99% 1500 mV', 'ok #2 battery 99% 1500 mV', 'ok #3 battery 99% 1500 mV']);
    expect(r.world.trace.filter({ kind: 'request' }).map((x) => x.fields.text)).toEqual(['status? 1', 'status? 2', 'status? 3']);
    // The phone hung up with 0x13; the device heard it as remote-user-terminated.
    expect(r.world.trace.filter({ kind: 'disconnected', device: 'pump' }).map((x) => x.fields.reason)).toEqual([0x13]);
    expect(r.ledger.activities.find((a) => a.activity === 'radio')!.meters.radioTxUs).toBeGreaterThan(0);
    expect(r.bootCount).toBe(1);
  });

  it('advertises again after the disconnect (seen in a verbose trace: nobody listens then)', () => {
    const r = runFirstContact({ seed: 'fc-1', verbose: true });
    const lastDisconnect = r.world.trace.filter({ kind: 'disconnected' }).at(-1)!.tUs;
    const after = r.world.trace.records.filter((x) => x.kind === 'adv.tx' && x.tUs > lastDisconnect);
    // 2 s of tail at 100 ms + 0–10 ms advDelay: 19 or 20 events of three channels each.
    expect(after.length % 3).toBe(0);
    expect(after.length / 3).toBeGreaterThanOrEqual(19);
    expect(after.length / 3).toBeLessThanOrEqual(20);
    expect(after.every((x) => x.fields.lost === true)).toBe(true);
  });

  it('same seed ⇒ byte-identical trace export; another seed ⇒ a different one', () => {
    const a = runFirstContact({ seed: 'same', loss: 0.2 }).world.trace.toJsonLines();
    const b = runFirstContact({ seed: 'same', loss: 0.2 }).world.trace.toJsonLines();
    const c = runFirstContact({ seed: 'other', loss: 0.2 }).world.trace.toJsonLines();
    expect(a.split('\n').length).toBeGreaterThan(30);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('still completes every exchange under 30 % loss (the link layer retransmits)', () => {
    const r = runFirstContact({ seed: 'lossy', loss: 0.3, exchanges: 5 });
    expect(r.replies.map((t) => t.split(' ')[1])).toEqual(['#1', '#2', '#3', '#4', '#5']);
  });

  it('keeps its flash in a file: the boot count survives a second run, the image is 512 KB', () => {
    const image = join(dir, 'demo.flash');
    expect(runFirstContact({ seed: 'f', flashImagePath: image }).bootCount).toBe(1);
    expect(runFirstContact({ seed: 'f', flashImagePath: image }).bootCount).toBe(2);
    expect(readFileSync(image).length).toBe(512 * 1024);
  });

  it.each([
    [{ advIntervalMs: -5 }, 'demo.config', 'advertising interval must be 20–10240 ms, got -5'],
    [{ connIntervalMs: 5 }, 'demo.config', 'connection interval must be 7.5–4000 ms, got 5'],
    [{ loss: 1 }, 'demo.config', 'loss must be 0–0.9 (probability), got 1'],
    [{ device: 'toaster' as never }, 'demo.device', 'unknown device "toaster" (have: pump, ph-meter)'],
  ])('refuses bad configuration %j with a coded error', (opts, code, message) => {
    expect(() => runFirstContact(opts)).toThrow(expect.objectContaining({ code, message }));
  });
});
