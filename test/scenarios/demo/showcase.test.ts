import { describe, expect, it } from 'vitest';
import { runShowcase } from '../../../scenarios/demo/showcase.ts';

describe('the showcase (npm start)', () => {
  it('same seed ⇒ byte-identical trace; the story holds its security outcomes', () => {
    const a = runShowcase({ seed: 'sc' });
    const b = runShowcase({ seed: 'sc' });
    expect(b.rig.world.trace.toJsonLines()).toBe(a.rig.world.trace.toJsonLines());
    expect(a.rig.therapyCalls).toEqual(['suspend', 'resume', 'stop:button']);
    expect(a.rig.device.lockout.status().failures).toBe(1);
    // The pairing budget held, and its CPU is one ECDH plus a few hundred AES blocks.
    expect(a.pairingCpuMs).toBeGreaterThan(937.5);
    expect(a.pairingCpuMs).toBeLessThan(1_000);
    expect(a.rig.pairingBudgets.map((r) => r.ok)).toEqual([true, true]);
    expect(runShowcase({ seed: 'other' }).rig.world.trace.toJsonLines()).not.toBe(a.rig.world.trace.toJsonLines());
  });
});
