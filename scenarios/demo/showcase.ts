// The showcase `npm start` runs: a simulated KW31Z pump with the secure firmware pairs with a
// phone by six-digit comparison, proves its bond in sessions, runs commands, refuses a wrong
// passkey, and stops therapy on a long press — then the ledger says what it all cost.
// Not the pump's therapy (its IDS firmware comes with devices/insulin-pump) nor a test.

import { projectBatteryLife, type BatteryLifeProjection } from '../../hal/kw31z/battery.ts';
import type { LedgerSummary } from '../../hal/kw31z/ledger.ts';
import type { PairResult } from '../../src/client/pairing-client.ts';
import type { ClientResponse, ClientSession } from '../../src/client/session-client.ts';
import { GENERIC_COMMANDS } from '../../src/session/commands.ts';
import { US_PER_S } from '../../src/sim/scheduler.ts';
import type { TraceRecord } from '../../src/sim/trace.ts';
import { SERIAL, secureWorld, type SecureRig } from './secure-world.ts';

export interface ShowcaseOptions {
  readonly seed?: string;
  readonly pcapPath?: string;
}

export interface ShowcaseResult {
  readonly rig: SecureRig;
  /** What happened, one line per step, with virtual times. */
  readonly story: readonly string[];
  /** The records a reader wants: pairing, session, display, buttons, connections. */
  readonly highlights: readonly TraceRecord[];
  readonly ledger: LedgerSummary;
  readonly projection: BatteryLifeProjection;
  /** Pairing CPU on the device, ms, as its budget measured it. */
  readonly pairingCpuMs: number;
}

const STATUS: Readonly<Record<number, string>> = { 0: 'ok', 1: 'unknown command', 2: 'refused: insufficient role', 3: 'invalid parameters', 4: 'refused for safety', 5: 'busy', 6: 'not permitted now' };
const seconds = (us: number): string => `${(us / US_PER_S).toFixed(3)} s`;

export function runShowcase(opts: ShowcaseOptions = {}): ShowcaseResult {
  const rig = secureWorld({ seed: opts.seed ?? 'showcase', ...(opts.pcapPath !== undefined ? { pcapPath: opts.pcapPath } : {}) });
  const { world, board } = rig;
  const story: string[] = [];
  const say = (line: string): void => void story.push(`${seconds(world.nowUs).padStart(10)}  ${line}`);
  try {
    say(`pump ${SERIAL} boots, prepares its first pairing key (P-256 keygen + signature on the M0+) and advertises`);
    world.runFor(3 * US_PER_S);

    // 1. Alice's phone pairs by numeric comparison: the same six digits on both screens.
    const alice = rig.phone('alice', '11:22:33:44:55:66');
    const c = rig.connect(alice);
    say(`alice's phone connects, reads the pump's certificate and subscribes to its secure channel`);
    let digits = '';
    const paired = rig.settle<PairResult>((done) =>
      alice.pair(
        c,
        {
          method: 'numeric-comparison',
          deviceType: 'insulin-pump',
          user: {
            compare: (six, answer) => {
              digits = six;
              const shown = board.display.shown().value;
              say(`pump display shows ${shown}, phone shows ${six}: alice presses OK on the pump and confirms on the phone`);
              board.buttons.press('ok');
              world.alarm().setAlarm(800_000, () => answer(shown === six));
              return undefined;
            },
          },
        },
        done,
      ),
    );
    if (!paired.ok) throw new Error(`showcase: pairing failed: ${paired.code}`);
    const budget = rig.pairingBudgets.at(-1);
    say(`paired as ${paired.bond.role} (comparison ${digits}); the pump spent ${budget ? budget.cpuMs.toFixed(1) : '?'} ms of CPU on it, mostly one ECDH`);

    // 2. A session: the bond proved with fresh nonces, then AES-CCM records.
    const ask = (s: ClientSession, name: keyof typeof GENERIC_COMMANDS, payload?: Uint8Array): ClientResponse => {
      const r = rig.settle<ClientResponse>((done) => s.request(GENERIC_COMMANDS[name].id, payload, done));
      say(`  ${GENERIC_COMMANDS[name].name} → ${r.ok ? (STATUS[r.status] ?? `status ${r.status}`) : `failed: ${r.code}`}`);
      return r;
    };
    const open = (s: ClientSession): void =>
      rig.settle<void>((done) => {
        const off = s.on((e) => {
          if (e.type === 'open' || e.type === 'closed') {
            off();
            say(e.type === 'open' ? `session open as ${e.role}: keys derived from the bond, records sealed with AES-128-CCM` : `session failed: ${e.failure.code}`);
            done();
          }
        });
      });
    const s1 = alice.openSession(c, SERIAL)!;
    open(s1);
    ask(s1, 'deviceInfo');
    ask(s1, 'therapySuspend');
    ask(s1, 'auditRead', Uint8Array.of(1, 0, 0, 0, 8));
    c.disconnect();
    world.runFor(US_PER_S);
    say(`alice hangs up; the pump advertises again`);

    // 3. Reconnect: no pairing, the bond is proved again.
    const c2 = rig.connect(alice);
    const s2 = alice.openSession(c2, SERIAL)!;
    open(s2);
    ask(s2, 'therapyResume');
    c2.disconnect();
    world.runFor(US_PER_S);

    // 4. Mallory tries passkey entry and types the wrong digits.
    const mallory = rig.phone('mallory', '66:55:44:33:22:11');
    const m = rig.connect(mallory);
    const wrong = rig.settle<PairResult>((done) =>
      mallory.pair(
        m,
        {
          method: 'passkey',
          deviceType: 'insulin-pump',
          user: {
            passkey: () => {
              const shown = Number(board.display.shown().value);
              const typed = (shown + 314_159) % 1_000_000;
              say(`mallory asks for passkey pairing: the pump shows ${String(shown).padStart(6, '0')}, mallory types ${String(typed).padStart(6, '0')}`);
              return typed;
            },
          },
        },
        done,
      ),
    );
    say(wrong.ok ? 'mallory paired (this must not happen)' : `refused: ${wrong.code} (PAIR_FAILED 0x${(wrong.reason ?? 0).toString(16).padStart(2, '0')}); lockout counts ${rig.device.lockout.status().failures} failure`);
    m.disconnect();
    world.runFor(US_PER_S);

    // 5. Whatever the state: a long press of Stop on the pump stops therapy.
    board.buttons.hold('stop', 2_500);
    world.runFor(3 * US_PER_S);
    say(`someone holds Stop on the pump for 2.5 s: therapy calls so far: ${rig.therapyCalls.join(', ')}`);
    world.runFor(2 * US_PER_S);

    const ledger = board.ledger.summary();
    const highlights = world.trace.records.filter(
      (r) =>
        r.layer === 'pairing' ||
        r.layer === 'ui' ||
        (r.layer === 'session' && !r.kind.startsWith('record')) ||
        (r.layer === 'll' && (r.kind === 'conn.open' || r.kind === 'disconnected') && r.device === 'pump'),
    );
    return {
      rig,
      story,
      highlights,
      ledger,
      projection: projectBatteryLife(board.power.model, ledger.microJoules, ledger.elapsedUs),
      pairingCpuMs: budget?.cpuMs ?? 0,
    };
  } finally {
    rig.close();
  }
}
