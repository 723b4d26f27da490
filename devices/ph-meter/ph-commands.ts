// The pH meter's session commands (0x0200…, docs/protocol.md §6.2): measure, calibrate, read the
// calibration, retrieve and acknowledge GLP records. Not the byte layouts (ph-wire.ts) nor the
// machines (measurement.machine.ts, calibration.machine.ts): handlers only translate.
//
// Roles: calibration is clinician or service (DESIGN §5/§6: a wrong calibration misreads every
// sample after it); the session refuses a patient with insufficient role (0x02) and audits the
// refusal (0x0060) before the handler runs. Reading, the calibration in force and the GLP records
// are the patient's own data, and readable under break-glass (emergency: true, nothing here can
// start or increase delivery). Acknowledging records lets the meter overwrite them later: not for
// the emergency role.
//
// Answers: ok with the payload; busy (0x05) when another measurement holds the probe or a point is
// being taken; not permitted now (0x06) with code[1] ‖ measured pH[4] (ph-wire.ts) when the meter
// could not do it now (a calibration holds the probe, not stable in time, buffer not recognized,
// five points already, no procedure running, log full until a sync, flash failed); invalid
// parameters (0x03) for bytes that do not decode or name records the log does not hold. The checkpoint's signature costs ≈ 1 s of CPU on
// the KW31Z (glp-log.ts): it is answered after that time (src/session/cpu-time.ts).

import type { Command, CommandResult } from '../../src/session/commands.ts';
import { ledgerCpuMeter, afterCpu } from '../../src/session/cpu-time.ts';
import { RESPONSE_STATUS } from '../../src/session/wire-session.ts';
import { calibrationStatusAt } from './calibration.ts';
import type { CalibrationOutcome } from './calibration.machine.ts';
import { GLP_RECORD_BYTES } from './glp-record.ts';
import type { GlpLog } from './glp-log.ts';
import type { PhMeter } from './index.ts';
import {
  BUFFER_SET_CODES,
  CALIBRATION_STATUS_CODES,
  decodeGlpQuery,
  decodeGlpRecordsRequest,
  decodeSeq,
  decodeSeqPair,
  encodeCalibrationAnswer,
  encodePointAnswer,
  encodeRefusal,
  failureCodeOf,
  GLP_RECORDS_PER_ANSWER,
  PH_COMMANDS,
  type CalibrationAnswer,
  type GlpWireQuery,
} from './ph-wire.ts';

const EMPTY = new Uint8Array(0);
const ok = (payload: Uint8Array = EMPTY): CommandResult => ({ status: RESPONSE_STATUS.ok, payload });
const invalid: CommandResult = { status: RESPONSE_STATUS.invalidParameters, payload: EMPTY };
const busy: CommandResult = { status: RESPONSE_STATUS.busy, payload: EMPTY };
const notNow = (payload: Uint8Array): CommandResult => ({ status: RESPONSE_STATUS.notPermittedNow, payload });
const SET_BY_CODE: Readonly<Record<number, string>> = { [BUFFER_SET_CODES.nist]: 'nist', [BUFFER_SET_CODES.us]: 'us' };

function outcomeAnswer(o: CalibrationOutcome): CalibrationAnswer {
  if (o.ok) {
    const c = o.calibration;
    return { failure: 0, status: 0, id: c.id, slopePercent: c.slopePercent, offsetMv: c.offsetMv, timeS: Math.floor(c.atUs / 1e6), points: c.points.length, bufferSet: BUFFER_SET_CODES[c.bufferSet], warnings: c.warnings };
  }
  const fit = 'fit' in o ? o.fit : undefined;
  return { failure: failureCodeOf(o), status: 0, id: 0, slopePercent: fit?.slopePercent ?? 0, offsetMv: fit?.offsetMv ?? 0, timeS: Math.floor(o.attempt.endedAtUs / 1e6), points: o.attempt.points.length, bufferSet: BUFFER_SET_CODES[o.attempt.bufferSet], warnings: [] };
}

/** Up to `max` (and GLP_RECORDS_PER_ANSWER) consecutive records from `fromSeq` (raised to the oldest kept). */
function recordsFrom(glp: GlpLog, fromSeq: number, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let s = Math.max(fromSeq, glp.firstSeq); s <= glp.lastSeq && out.length < Math.min(max, GLP_RECORDS_PER_ANSWER); s++) {
    const r = glp.record(s);
    if (r === undefined) break;
    out.push(r);
  }
  return out;
}

/** The oldest record a query with matches selects (GlpLog.count said there are some). */
function firstMatching(glp: GlpLog, q: GlpWireQuery): number {
  if (q.operator === 'gte' || q.operator === 'range') return Math.max(q.minSeq, glp.firstSeq);
  if (q.operator === 'last') return Math.max(glp.firstSeq, glp.lastSeq - q.count + 1);
  return glp.firstSeq;
}

/** u32 header fields ‖ count[1] ‖ the records: the ph.glp.records and ph.glp.query answers. */
function recordsAnswer(header: readonly number[], records: readonly Uint8Array[]): Uint8Array {
  const at = 4 * header.length + 1;
  const answer = new Uint8Array(at + records.length * GLP_RECORD_BYTES);
  const v = new DataView(answer.buffer);
  header.forEach((x, i) => v.setUint32(4 * i, x, true));
  answer[at - 1] = records.length;
  records.forEach((r, i) => answer.set(r, at + i * GLP_RECORD_BYTES));
  return answer;
}

/** The meter's commands; `meter` is late-bound (the SecureDevice is built before the parts these drive). */
export function phCommands(meter: () => PhMeter): Command[] {
  return [
    {
      ...PH_COMMANDS.measure,
      handler: (req) => {
        if (req.payload.length !== 0) return invalid;
        const m = meter();
        if (m.calibrator.status().state !== 'idle') return notNow(encodeRefusal('calibrating'));
        const started = m.measurement.measureOnce((r) => {
          if (!r.ok) return req.respond(notNow(encodeRefusal(r.code, r.reading?.ph)));
          const seq = m.record(r.reading);
          if (!seq.ok) return req.respond(notNow(encodeRefusal(seq.code === 'unsynced-full' ? 'unsynced-full' : 'log-failed', r.reading.ph)));
          req.respond(ok(m.glp.record(seq.value) ?? EMPTY));
        });
        return started.ok ? undefined : busy;
      },
    },
    {
      ...PH_COMMANDS.calibrationStart,
      handler: (req) => {
        const set = req.payload.length === 1 ? SET_BY_CODE[req.payload[0]!] : undefined;
        if (set === undefined) return invalid;
        const m = meter();
        const r = m.startCalibration(set, { source: 'session', role: req.role });
        return r.ok ? ok() : busy;
      },
    },
    {
      ...PH_COMMANDS.calibrationPoint,
      handler: (req) => {
        if (req.payload.length !== 0) return invalid;
        const r = meter().calibrator.measurePoint((p) => {
          if (!p.ok) return req.respond(notNow(encodeRefusal(p.code, p.measuredPh)));
          req.respond(ok(encodePointAnswer({ index: p.index, nominalPh: p.point.nominalPh, bufferPhAtT: p.point.bufferPhAtT, mv: p.point.mv, tempC: p.point.tempC })));
        });
        if (r.ok) return undefined;
        return r.code === 'not-calibrating' || r.code === 'max-points' ? notNow(encodeRefusal(r.code)) : busy;
      },
    },
    {
      ...PH_COMMANDS.calibrationFinish,
      handler: (req) => {
        if (req.payload.length !== 0) return invalid;
        const o = meter().calibrator.finish();
        if ('attempt' in o || o.ok) return ok(encodeCalibrationAnswer(outcomeAnswer(o as CalibrationOutcome)));
        return notNow(encodeRefusal(o.code === 'no-points' ? 'no-points' : 'not-calibrating'));
      },
    },
    {
      ...PH_COMMANDS.calibrationCancel,
      handler: (req) => {
        if (req.payload.length !== 0) return invalid;
        const r = meter().calibrator.cancel();
        return r.ok ? ok() : notNow(encodeRefusal('not-calibrating'));
      },
    },
    {
      ...PH_COMMANDS.calibrationRead,
      handler: (req) => {
        if (req.payload.length !== 0) return invalid;
        const m = meter();
        const c = m.calibration();
        const status = CALIBRATION_STATUS_CODES[calibrationStatusAt(c, m.alarm.nowUs(), m.expiry)];
        if (c === undefined) return ok(encodeCalibrationAnswer({ failure: 0, status, id: 0, slopePercent: 100, offsetMv: 0, timeS: 0, points: 0, bufferSet: 0, warnings: [] }));
        return ok(encodeCalibrationAnswer({ failure: 0, status, id: c.id, slopePercent: c.slopePercent, offsetMv: c.offsetMv, timeS: Math.floor(c.atUs / 1e6), points: c.points.length, bufferSet: BUFFER_SET_CODES[c.bufferSet], warnings: c.warnings }));
      },
    },
    {
      ...PH_COMMANDS.glpRecords,
      handler: (req) => {
        const q = decodeGlpRecordsRequest(req.payload);
        if (q === undefined || q.max === 0) return invalid;
        const glp = meter().glp;
        const answer = recordsAnswer([glp.lastSeq], recordsFrom(glp, q.fromSeq, q.max));
        return ok(answer);
      },
    },
    {
      ...PH_COMMANDS.glpCheckpoint,
      handler: (req) => {
        const q = decodeSeqPair(req.payload);
        if (q === undefined) return invalid;
        const m = meter();
        const { ledger, alarm } = m.board;
        afterCpu(
          alarm,
          ledgerCpuMeter(ledger),
          () => m.glp.checkpoint(q.first, q.last),
          (r) => req.respond(r.ok ? ok(r.value) : r.code === 'invalid-operand' ? invalid : notNow(encodeRefusal('log-failed'))),
          () => req.respond({ status: RESPONSE_STATUS.notPermittedNow, payload: encodeRefusal('log-failed') }),
        );
        return undefined;
      },
    },
    {
      ...PH_COMMANDS.glpQuery,
      handler: (req) => {
        const q = decodeGlpQuery(req.payload);
        if (q === undefined) return invalid;
        const glp = meter().glp;
        const matching = glp.count(q);
        if (!matching.ok) return invalid;
        // Matches are one run of sequence numbers: read only the page, not every match.
        const answer = recordsAnswer([glp.lastSeq, matching.value], matching.value === 0 ? [] : recordsFrom(glp, firstMatching(glp, q), Math.min(matching.value, GLP_RECORDS_PER_ANSWER)));
        return ok(answer);
      },
    },
    {
      ...PH_COMMANDS.glpAcknowledge,
      handler: (req) => {
        const seq = decodeSeq(req.payload);
        if (seq === undefined) return invalid;
        const r = meter().glp.acknowledge(seq);
        return r.ok ? ok() : r.code === 'invalid-operand' ? invalid : notNow(encodeRefusal('log-failed'));
      },
    },
  ];
}
