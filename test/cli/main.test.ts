import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SKIP_TSHARK, tsharkFields } from '../sim/capture/tshark.ts';

// The real command in a child process: exit codes and stderr are what a user sees.
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
const medtwin = (...args: string[]) => {
  const r = spawnSync(process.execPath, [tsxCli, 'src/cli/main.ts', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('medtwin (the command)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medtwin-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('demo (npm start) tells the showcase of both devices, then each ledger and battery', () => {
    const r = medtwin('demo');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^medtwin demo — insulin pump and pH meter on simulated MKW31Z chips, seed "showcase"$/m);
    const shown = /pump display shows (\d{6}), phone shows (\d{6}): alice presses OK/.exec(r.out);
    expect(shown?.[1]).toBe(shown?.[2]);
    expect(r.out).toMatch(/paired as patient; the pump spent 9\d\d\.\d ms of CPU on it/);
    expect(r.out).toContain('Set Bolus 1.00 U (meal) → accepted, bolus id 1');
    expect(r.out).toContain('a basal template from the patient → refused: insufficient role; a 40 U bolus → parameterOutOfRange');
    expect(r.out).toMatch(/IDD Status over the session: therapy run, ready, reservoir [\d.]+ U; the motor moved 1\.\d\d U since the bolus/);
    expect(r.out).toMatch(/refused: passkey \(PAIR_FAILED 0x01\); lockout counts 1 failure/);
    expect(r.out).toMatch(/→ accepted: slope 9\d\.\d\d %, offset -?\d+\.\d\d mV, calibration #1/);
    expect(r.out).toMatch(/a sample of pH 6\.42 at 31 °C reads pH 6\.4\d\d/);
    expect(r.out).toContain('signed checkpoint verified against the manufacturer root');
    expect(r.out).toContain('someone holds Stop on the pump for 2.5 s: therapy stop');
    expect(r.out).toMatch(/^crypto +[\d,]+ +0 +0 +0 +0\.000 +[\d,.]+$/m);
    expect(r.out).toMatch(/^battery: AAA alkaline cell \(boost\); at a mean [\d,.]+ µW \(this busy run\) it lasts/m);
    expect(r.out).toMatch(/^battery: CR2032 coin cell \(buck\); at a mean [\d,.]+ µW \(this busy run\) it lasts/m);
    expect(r.out).toMatch(/^every check held: /m);
  });

  it('first-contact prints the timeline, the ledger and a battery projection', () => {
    const r = medtwin('first-contact', '--seed', 'cli');
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^medtwin first-contact — pump on a simulated MKW31Z, seed "cli", boot #1$/m);
    expect(r.out).toMatch(/^ +0\.\d{6} s {2}pump {7}ll {6}adv\.tx/m);
    expect(r.out).toMatch(/^total +[\d,]+ +[\d,]+ +[\d,]+ +\d+ +[\d.]+ +[\d,.]+$/m);
    expect(r.out).toMatch(/^battery: AAA alkaline cell \(boost\); at a mean [\d,.]+ µW \(this run\) it lasts [\d,.]+ h = [\d,.]+ days$/m);
  });

  it('energy prints the advertising ledger and the projection the table predicts', () => {
    const r = medtwin('energy', '--adv-s', '60', '--conn-s', '0');
    expect(r.code).toBe(0);
    // 60 events × 28.31436 µJ + 60 s × 5.4 µJ/s asleep (see test/hal/kw31z/ledger.test.ts).
    expect(r.out).toMatch(/^total +180,000 +27,360 +43,200 +0 +60\.000 +2,022\.9$/m);
    // 1,944 J / 33.714 µW / 3,600 = 16,016.9 h.
    expect(r.out).toContain('battery: CR2032 coin cell (buck); at a mean 33.7 µW (the whole run, repeated) it lasts 16,016.9 h = 667.4 days');
  });

  it.skipIf(SKIP_TSHARK)('first-contact --pcap writes a capture tshark decodes: advertising, the connection, the data, the terminate', () => {
    const pcap = join(dir, 'demo.pcap');
    const r = medtwin('first-contact', '--seed', 'cli-pcap', '--pcap', pcap);
    expect(r.code).toBe(0);
    const frames = Number(/^capture: (\d+) frames written to /m.exec(r.out)?.[1]);
    const rows = tsharkFields(pcap, ['btle.advertising_header.pdu_type', 'btle.control_opcode', 'btle.data_header.llid']);
    expect(rows.length).toBe(frames);
    expect(rows[0]!['btle.advertising_header.pdu_type']).toBe('0x00'); // ADV_IND
    expect(rows.some((x) => x['btle.advertising_header.pdu_type'] === '0x05')).toBe(true); // CONNECT_IND
    // Three requests and three replies as L2CAP starts (LLID 2), then LL_TERMINATE_IND (0x02).
    expect(rows.filter((x) => x['btle.data_header.llid'] === '0x02').length).toBe(6);
    expect(rows.filter((x) => x['btle.control_opcode'] !== '').map((x) => x['btle.control_opcode'])).toEqual(['0x02']);
  });

  it.each([
    [['first-contact', '--adv-interval-ms=-5'], 'medtwin: error [cli.option]: --adv-interval-ms must be between 20 and 10240, got -5'],
    [['first-contact', '--conn-interval-ms', '31'], 'medtwin: error [cli.option]: --conn-interval-ms must be a multiple of 1.25 ms, got 31'],
    [['first-contact', '--device', 'toaster'], 'medtwin: error [cli.option]: --device must be one of pump, ph-meter, got "toaster"'],
    [['demo', '--bogus'], "medtwin: error [cli.option]: Unknown option '--bogus' (try --help)"],
    [['energy', '--battery', 'lipo'], 'medtwin: error [cli.option]: --battery must be one of cr2032, aaa, got "lipo"'],
    [['frob'], 'medtwin: error [cli.command]: unknown command "frob" (try: medtwin help)'],
  ])('%j: one coded line on stderr, exit 2, nothing on stdout', (args, line) => {
    const r = medtwin(...args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(line + '\n');
  });

  it('a flash image of the wrong size: one coded line, exit 2, the file untouched', () => {
    const image = join(dir, 'short.flash');
    writeFileSync(image, new Uint8Array(100));
    const r = medtwin('first-contact', '--flash-image', image);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`medtwin: error [flash.image-size]: ${image}: flash image is 100 bytes, expected 524288\n`);
  });

  it('scenario runs a named scenario, says whether its declarations held, and lists them', () => {
    const list = medtwin('scenario', '--list');
    expect(list.code).toBe(0);
    expect(list.out.split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual(['demo/showcase', 'demo/first-contact', 'therapy/day-in-the-life', 'ph/calibrate-and-measure', 'ph/battery']);
    const r = medtwin('scenario', 'demo/showcase');
    expect(r.code).toBe(0);
    expect(r.out).toContain('scenario demo/showcase: everything it declares held');
    expect(medtwin('scenario', 'therapy/nothing')).toMatchObject({ code: 2, err: 'medtwin: error [scenario.unknown]: no scenario "therapy/nothing" (have: demo/showcase, demo/first-contact, therapy/day-in-the-life, ph/calibrate-and-measure, ph/battery)\n' });
  });

  it('--help and help list the commands and exit 0', () => {
    const r = medtwin('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ {2}demo {8}/m);
    expect(r.out).toMatch(/^ {2}energy {6}/m);
    expect(r.out).toMatch(/^ {2}first-contact$/m);
    expect(medtwin('first-contact', '--help').out).toContain('--flash-image FILE');
    expect(medtwin('demo', '--help').out).toContain('--pcap FILE');
  });
});
