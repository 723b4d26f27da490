// The downstream check of a GLP export (a clinic's or a lab's server, after the records left the
// phone): certificate to the manufacturer root, the meter's signature on the checkpoint, and the
// hash chain through the records. Pure, and needs no device secret. Not the device side (glp-log.ts).
//
// Order of checks, and the code each failure gets (the first problem wins):
//   malformed      the export, the checkpoint or a record does not decode (atSeq: where it was expected)
//   certificate    the certificate is not a pH meter's signed by the manufacturer root
//   wrong-device   the certificate is not the expected meter's; the checkpoint names another serial;
//                  a record carries another meter's serial (atSeq)
//   bad-signature  the checkpoint's signature does not verify under the certificate's identity key
//   removed        a record the checkpoint covers is missing: in the middle (a sequence gap) or at
//                  the end (fewer records than firstSeq..lastSeq); with `previous`, a retrieval that
//                  starts after previous.seq + 1 or a log whose newest record went back before it
//   reordered      the record expected here comes later, or an earlier genuine record appears again
//   edited         a record's hash does not recompute (a field, its seq or its hash changed); the
//                  chain does not end at the signed head hash (a record changed and the hashes after
//                  it were recomputed: atSeq is then lastSeq, as the chain cannot say which); with
//                  `previous`, a retrieval whose history before differs from the one accepted
//   extra          more records than the checkpoint covers
// atSeq is the sequence number expected at the first place the chain breaks (as the audit log's
// verifier, src/firmware/audit-log.ts, docs/protocol.md §9).

import { constantTimeEqual, type CostContext } from '../../src/crypto/index.ts';
import { verifyDeviceCertificate } from '../../src/session/identity.ts';
import { decodeGlpCheckpoint, verifyGlpCheckpointSignature } from './glp-checkpoint.ts';
import { decodeGlpExport, type GlpExport } from './glp-export.ts';
import { decodeGlpRecord, GLP_BODY_BYTES, glpChainHash, glpGenesisHash, type GlpDecodeResult, type GlpRecord } from './glp-record.ts';

export type GlpVerifyCode = 'malformed' | 'certificate' | 'wrong-device' | 'bad-signature' | 'removed' | 'reordered' | 'edited' | 'extra';

/** A record the verifier accepted: its sequence number and hash. */
export interface GlpAnchor {
  readonly seq: number;
  readonly hash: Uint8Array;
}

export interface GlpVerifyOptions {
  /** The manufacturer root's public key (64 bytes X ‖ Y): the only thing the verifier must already trust. */
  readonly rootPublicKey: Uint8Array;
  /** The meter the records should come from; another serial is 'wrong-device'. */
  readonly expectedSerial?: string;
  /**
   * The last record accepted from this meter before (`last` of an earlier result): the retrieval must
   * continue from it or overlap it. { seq: 0, hash: glpGenesisHash(serial) } demands the log from record 1.
   */
  readonly previous?: GlpAnchor;
  /** Charge the two signature verifications and the hashes (a bench of the verifier's cost). */
  readonly cost?: CostContext;
}

export type GlpVerifyFailure = { readonly ok: false; readonly code: GlpVerifyCode; readonly atSeq?: number; readonly detail: string };

export type GlpVerifyResult =
  | {
      readonly ok: true;
      readonly serial: string;
      readonly firstSeq: number;
      readonly lastSeq: number;
      /** The meter's newest record when it signed: lastSeq < newestSeq means more records are on the meter. */
      readonly newestSeq: number;
      readonly signedAtS: number;
      readonly records: readonly GlpRecord[];
      /** Pass as `previous` next time. */
      readonly last: GlpAnchor;
    }
  | GlpVerifyFailure;

/** What the chain check needs: the run the checkpoint covers and its two ends. */
export interface GlpChainSpec {
  readonly serial: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Hash of record firstSeq − 1 (the genesis hash when firstSeq = 1). */
  readonly anchorHash: Uint8Array;
  /** Hash of record lastSeq. */
  readonly headHash: Uint8Array;
}

const failure = (code: GlpVerifyCode, detail: string, atSeq?: number): GlpVerifyFailure => (atSeq === undefined ? { ok: false, code, detail } : { ok: false, code, atSeq, detail });
const costOpt = (cost: CostContext | undefined): { cost?: CostContext } => (cost === undefined ? {} : { cost });

/**
 * Check that `records` are exactly firstSeq..lastSeq of `serial`'s chain from anchorHash to
 * headHash, in order. Pure; the checkpoint's signature is verifyGlpExport's.
 */
export function verifyGlpRecords(records: readonly Uint8Array[], spec: GlpChainSpec, opts: { readonly cost?: CostContext } = {}): { ok: true; records: GlpRecord[] } | GlpVerifyFailure {
  const decoded: GlpDecodeResult[] = records.map(decodeGlpRecord);
  const seqAt = (i: number): number | undefined => {
    const d = decoded[i];
    return d !== undefined && d.ok ? d.value.seq : undefined;
  };
  const hashOf = (prev: Uint8Array, i: number): Uint8Array => glpChainHash(prev, records[i]!.subarray(0, GLP_BODY_BYTES), costOpt(opts.cost));
  /** Hashes of the records accepted so far, to tell a genuine record that came back from an edited one. */
  const accepted = new Map<number, Uint8Array>([[spec.firstSeq - 1, spec.anchorHash]]);
  const out: GlpRecord[] = [];
  let prev = spec.anchorHash;
  for (let i = 0; i < records.length; i++) {
    const expected = spec.firstSeq + i;
    const d = decoded[i]!;
    if (!d.ok) return failure('malformed', `record ${i}: ${d.code}: ${d.detail}`, expected);
    const r = d.value;
    if (r.serial !== spec.serial) return failure('wrong-device', `record ${r.seq} is from meter ${r.serial}, not ${spec.serial}`, expected);
    if (expected > spec.lastSeq) return failure('extra', `record ${r.seq} after the last one the checkpoint covers (${spec.lastSeq})`, expected);
    if (r.seq === expected) {
      if (!constantTimeEqual(hashOf(prev, i), r.hash)) return failure('edited', `record ${expected}: hash mismatch`, expected);
      prev = r.hash;
      accepted.set(r.seq, r.hash);
      out.push(r);
      continue;
    }
    for (let j = i + 1; j < records.length; j++) {
      if (seqAt(j) === expected) return failure('reordered', `record ${expected} found after record ${r.seq}`, expected);
    }
    if (r.seq < expected) {
      // An earlier record again: a genuine copy still chains from its own predecessor.
      const before = accepted.get(r.seq - 1);
      const genuine = before !== undefined && constantTimeEqual(hashOf(before, i), r.hash);
      return genuine
        ? failure('reordered', `record ${r.seq} again after record ${expected - 1}`, expected)
        : failure('edited', `record with seq ${r.seq} where ${expected} belongs`, expected);
    }
    // The seq jumped ahead. A real gap keeps counting from there; a successor that does not follow
    // on means this record's own seq field was changed.
    const next = seqAt(i + 1);
    if (next !== undefined && next !== r.seq + 1) return failure('edited', `seq ${r.seq} where ${expected} belongs, followed by ${next}`, expected);
    return failure('removed', `record ${expected}${r.seq - 1 > expected ? `..${r.seq - 1}` : ''} missing`, expected);
  }
  const expectedCount = spec.lastSeq - spec.firstSeq + 1;
  if (records.length < expectedCount) {
    const missing = spec.firstSeq + records.length;
    return failure('removed', `record ${missing}${spec.lastSeq > missing ? `..${spec.lastSeq}` : ''} missing at the end`, missing);
  }
  if (!constantTimeEqual(prev, spec.headHash)) {
    return failure('edited', `the records chain together but not to the head hash the meter signed for ${spec.lastSeq}: a record was changed and the hashes after it recomputed`, spec.lastSeq);
  }
  return { ok: true, records: out };
}

/** Verify an export (its parts, or its bytes as they arrived) against the manufacturer root. */
export function verifyGlpExport(exp: GlpExport | Uint8Array, opts: GlpVerifyOptions): GlpVerifyResult {
  let e: GlpExport;
  if (exp instanceof Uint8Array) {
    const d = decodeGlpExport(exp);
    if (!d.ok) return failure('malformed', d.detail);
    e = d.value;
  } else e = exp;
  const cert = verifyDeviceCertificate(e.certificate, opts.rootPublicKey, { expectedDeviceType: 'ph-meter', ...costOpt(opts.cost) });
  if (!cert.ok) return failure('certificate', cert.detail);
  const serial = cert.value.serial;
  if (opts.expectedSerial !== undefined && serial !== opts.expectedSerial) return failure('wrong-device', `certificate is meter ${serial}, expected ${opts.expectedSerial}`);
  const c = decodeGlpCheckpoint(e.checkpoint);
  if (!c.ok) return failure('malformed', `checkpoint: ${c.code}: ${c.detail}`);
  const cp = c.value;
  if (cp.serial !== serial) return failure('wrong-device', `checkpoint is from meter ${cp.serial}, certificate is ${serial}`);
  if (!verifyGlpCheckpointSignature(cp, cert.value.identityPublicKey, costOpt(opts.cost))) return failure('bad-signature', `checkpoint ${cp.firstSeq}..${cp.lastSeq} is not signed by meter ${serial}`);
  if (cp.firstSeq === 1 && !constantTimeEqual(cp.anchorHash, glpGenesisHash(serial))) return failure('malformed', `checkpoint anchor of record 1 is not meter ${serial}'s genesis hash`);

  const p = opts.previous;
  if (p !== undefined) {
    if (p.seq > cp.newestSeq) return failure('removed', `record ${p.seq} was accepted before, the meter's newest is now ${cp.newestSeq}`, cp.newestSeq + 1);
    if (cp.firstSeq > p.seq + 1) return failure('removed', `the retrieval starts at ${cp.firstSeq}, record ${p.seq} was the last accepted`, p.seq + 1);
    if (cp.firstSeq === p.seq + 1 && !constantTimeEqual(cp.anchorHash, p.hash)) return failure('edited', `record ${p.seq} is not the one accepted before`, p.seq);
  }

  const chain = verifyGlpRecords(e.records, { serial, firstSeq: cp.firstSeq, lastSeq: cp.lastSeq, anchorHash: cp.anchorHash, headHash: cp.headHash }, costOpt(opts.cost));
  if (!chain.ok) return chain;
  if (p !== undefined && p.seq >= cp.firstSeq && p.seq <= cp.lastSeq) {
    const again = chain.records[p.seq - cp.firstSeq]!;
    if (!constantTimeEqual(again.hash, p.hash)) return failure('edited', `record ${p.seq} is not the one accepted before`, p.seq);
  }
  return {
    ok: true,
    serial,
    firstSeq: cp.firstSeq,
    lastSeq: cp.lastSeq,
    newestSeq: cp.newestSeq,
    signedAtS: cp.signedAtS,
    records: chain.records,
    last: { seq: cp.lastSeq, hash: cp.headHash.slice() },
  };
}
