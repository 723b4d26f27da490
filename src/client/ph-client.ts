// The phone side of the pH meter's GLP sync (docs/protocol.md §6.2): page the records out of the
// meter over the session, ask for one signed checkpoint over them, and hand back the export a
// downstream system verifies (devices/ph-meter/glp-verify.ts). Not the verification itself, and
// no acknowledgement: the app acknowledges only what it has verified and stored.

import { GLP_RECORD_BYTES, glpRecordSeq } from '../../devices/ph-meter/glp-record.ts';
import type { GlpExport } from '../../devices/ph-meter/glp-export.ts';
import { decodeGlpRecordsAnswer, encodeGlpRecordsRequest, encodeSeqPair, GLP_RECORDS_PER_ANSWER, PH_COMMANDS } from '../../devices/ph-meter/ph-wire.ts';
import { RESPONSE_STATUS } from '../session/wire-session.ts';
import type { ClientResponse, ClientSession } from './session-client.ts';

export type GlpSyncResult =
  | { readonly ok: true; readonly export: GlpExport; readonly firstSeq: number; readonly lastSeq: number; readonly requests: number }
  | { readonly ok: false; readonly code: 'nothing-new' | 'request-failed' | 'refused' | 'malformed'; readonly detail: string };

/**
 * Fetch records `fromSeq`..newest (pages of GLP_RECORDS_PER_ANSWER) and a checkpoint over them.
 * `certificate` is the meter's, as the phone read it on connecting (PhoneConnection.certificate).
 */
export function syncGlp(session: ClientSession, certificate: Uint8Array, fromSeq: number, done: (r: GlpSyncResult) => void): void {
  const records: Uint8Array[] = [];
  let requests = 0;
  let first: number | undefined;
  const failed = (r: ClientResponse, what: string): boolean => {
    if (!r.ok) {
      done({ ok: false, code: 'request-failed', detail: `${what}: ${r.code}` });
      return true;
    }
    if (r.status !== RESPONSE_STATUS.ok) {
      done({ ok: false, code: 'refused', detail: `${what}: status ${r.status}` });
      return true;
    }
    return false;
  };
  const page = (from: number): void => {
    requests++;
    session.request(PH_COMMANDS.glpRecords.id, encodeGlpRecordsRequest(from, GLP_RECORDS_PER_ANSWER), (r) => {
      if (failed(r, 'ph.glp.records') || !r.ok) return;
      const a = decodeGlpRecordsAnswer(r.payload, GLP_RECORD_BYTES);
      if (a === undefined) return done({ ok: false, code: 'malformed', detail: `ph.glp.records answer of ${r.payload.length} bytes` });
      if (first === undefined && a.records.length > 0) first = glpRecordSeq(a.records[0]!);
      records.push(...a.records);
      const last = records.length > 0 ? glpRecordSeq(records.at(-1)!) : undefined;
      if (a.records.length > 0 && last !== undefined && last < a.newest) return page(last + 1);
      if (first === undefined || last === undefined) return done({ ok: false, code: 'nothing-new', detail: `no records from ${from} (the meter's newest is ${a.newest})` });
      checkpoint(first, last);
    });
  };
  const checkpoint = (a: number, b: number): void => {
    requests++;
    session.request(PH_COMMANDS.glpCheckpoint.id, encodeSeqPair(a, b), (r) => {
      if (failed(r, 'ph.glp.checkpoint') || !r.ok) return;
      done({ ok: true, export: { certificate, checkpoint: r.payload, records }, firstSeq: a, lastSeq: b, requests });
    });
  };
  page(fromSeq);
}
