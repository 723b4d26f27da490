// The scenarios `medtwin scenario NAME` can run, by name: each a module under scenarios/ with a
// `run` that returns its report and whether what it declares held. Not a test runner.

import { MedtwinError } from '../src/errors.ts';

export interface ScenarioOptions {
  readonly seed?: string;
  readonly pcapPath?: string;
}

export interface ScenarioOutcome {
  /** The readable report. */
  readonly report: string;
  /** Everything the scenario declares held (the command's exit code follows it). */
  readonly ok: boolean;
}

export interface ScenarioEntry {
  readonly summary: string;
  readonly run: (opts: ScenarioOptions) => Promise<ScenarioOutcome>;
}

export const SCENARIOS: Readonly<Record<string, ScenarioEntry>> = {
  'demo/showcase': {
    summary: 'both devices: the pump pairs by six-digit comparison, boluses, reports status; a wrong passkey refused; the meter calibrated, measuring, its GLP verified; Stop (npm start)',
    run: async (opts) => {
      const [{ runShowcase }, { formatShowcase }] = await Promise.all([import('./demo/showcase.ts'), import('../src/cli/demo-command.ts')]);
      const r = runShowcase(opts);
      return { report: formatShowcase(r, 80), ok: r.ok };
    },
  },
  'demo/first-contact': {
    summary: 'the link layer alone: advertise, connect, raw data PDUs, disconnect',
    run: async (opts) => {
      const [{ runFirstContact }, { formatDemoReport }] = await Promise.all([import('./demo/first-contact.ts'), import('../src/cli/first-contact-command.ts')]);
      const r = runFirstContact({ ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(opts.pcapPath !== undefined ? { pcapPath: opts.pcapPath } : {}) });
      return { report: formatDemoReport(r, 60), ok: r.replies.length === 3 };
    },
  },
  'therapy/day-in-the-life': {
    summary: 'the insulin pump for 24 h: fill, prime, basal, meals, a TBR, an occlusion, reservoir low, polls every 5 min',
    run: async (opts) => {
      const { runDayInTheLife, formatDayReport } = await import('./therapy/day-in-the-life.ts');
      const r = runDayInTheLife({ ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(opts.pcapPath !== undefined ? { pcapPath: opts.pcapPath } : {}) });
      return { report: formatDayReport(r), ok: r.ok };
    },
  },
  'ph/calibrate-and-measure': {
    summary: 'the pH meter: 3-point calibration by a clinician (a patient refused), buffers at 5/25/45 °C, an old probe failing, GLP sync verified downstream',
    run: async (opts) => {
      const { runCalibrateAndMeasure, formatCalibrateAndMeasure } = await import('./ph/calibrate-and-measure.ts');
      const r = runCalibrateAndMeasure({ ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(opts.pcapPath !== undefined ? { pcapPath: opts.pcapPath } : {}) });
      return { report: formatCalibrateAndMeasure(r), ok: r.ok };
    },
  },
  'ph/battery': {
    summary: "the pH meter's duty cycle for 24 h (a reading a minute, an hourly sync) and its CR2032 life from the ledger",
    run: async (opts) => {
      const { runBatteryDay, formatBatteryDay } = await import('./ph/battery.ts');
      const r = runBatteryDay({ ...(opts.seed !== undefined ? { seed: opts.seed } : {}) });
      return { report: formatBatteryDay(r), ok: r.ok };
    },
  },
};

export function scenarioNamed(name: string): ScenarioEntry {
  const s = SCENARIOS[name];
  if (!s) throw new MedtwinError('scenario.unknown', `no scenario "${name}" (have: ${Object.keys(SCENARIOS).join(', ')})`);
  return s;
}
