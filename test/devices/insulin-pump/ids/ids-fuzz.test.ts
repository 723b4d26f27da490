// Seeded property tests for the whole IDS codec: no decoder throws on any bytes, and decode(encode(x)) = x for
// generated valid messages of every layout, with and without E2E. Not a replacement for the exact-byte tables.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Framing, MessageDef, Value } from '../../../../devices/insulin-pump/ids/codec.ts';
import {
  CCP_LAYOUTS,
  decodeCcpRequest,
  decodeCcpResponse,
  decodeCommandData,
  encodeCcpRequest,
  encodeCcpResponse,
  encodeCommandData,
  type CcpRequest,
  type CcpResponse,
  type CommandData,
} from '../../../../devices/insulin-pump/ids/command-cp.ts';
import { checkCrc, checkE2e, withE2e } from '../../../../devices/insulin-pump/ids/e2e.ts';
import { CCP_OP, RACP_OP, SRCP_OP } from '../../../../devices/insulin-pump/ids/enums.ts';
import { decodeHistoryRecord, encodeHistoryRecord, EVENT_FIELDS, type HistoryRecord } from '../../../../devices/insulin-pump/ids/history-data.ts';
import { decodeRacpRequest, decodeRacpResponse, encodeRacpRequest, encodeRacpResponse, type RacpRequest, type RacpResponse } from '../../../../devices/insulin-pump/ids/racp.ts';
import {
  decodeSrcpRequest,
  decodeSrcpResponse,
  encodeSrcpRequest,
  encodeSrcpResponse,
  SRCP_LAYOUTS,
  type SrcpRequest,
  type SrcpResponse,
} from '../../../../devices/insulin-pump/ids/status-reader-cp.ts';
import {
  decodeAnnunciationStatus,
  decodeFeatures,
  decodeStatus,
  decodeStatusChanged,
  encodeAnnunciationStatus,
  encodeFeatures,
  encodeStatus,
  encodeStatusChanged,
} from '../../../../devices/insulin-pump/ids/status.ts';
import { messageArb, sfloatMilli } from './ids-fixture.ts';

const RUNS = { seed: 6, numRuns: 5000 } as const;

const DECODERS: Array<(b: Uint8Array, f?: Framing) => { ok: boolean }> = [
  decodeCcpRequest,
  decodeCcpResponse,
  decodeCommandData,
  decodeSrcpRequest,
  decodeSrcpResponse,
  decodeRacpRequest,
  decodeRacpResponse,
  decodeStatus,
  decodeStatusChanged,
  decodeAnnunciationStatus,
  (b) => decodeFeatures(b),
  (b, f) => decodeHistoryRecord(b, f?.e2e ?? false),
  (b) => checkE2e(b),
  (b) => checkCrc(b),
];

const le16 = (v: number): number[] => [v & 0xff, v >>> 8];
const KNOWN_PREFIXES = [
  ...Object.values(CCP_OP.codes).map(le16),
  ...Object.values(SRCP_OP.codes).map(le16),
  ...Object.values(RACP_OP.codes).map((v) => [v]),
  ...Object.keys(EVENT_FIELDS).map(() => [] as number[]),
];

/** Random bytes, half of them behind a real op code so that the operand decoders are reached. */
const noisyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 24 }),
  fc.tuple(fc.constantFrom(...KNOWN_PREFIXES), fc.uint8Array({ maxLength: 20 })).map(([p, b]) => Uint8Array.from([...p, ...b])),
);

describe('IDS codec properties (seed 6)', () => {
  it('no decoder throws on any bytes, with or without E2E', () => {
    fc.assert(
      fc.property(noisyBytes, fc.integer({ min: 1, max: 255 }), (b, counter) => {
        // The same noise bare, and behind a valid E2E trailer so that the body decoders run under E2E too.
        const framed = withE2e(b, counter);
        // A plain check rather than expect(): 28 decodes per run, and a throw fails the property by itself.
        for (const decode of DECODERS) {
          if (typeof decode(b).ok !== 'boolean' || typeof decode(framed, { e2e: true, expectedCounter: counter }).ok !== 'boolean') return false;
        }
        return true;
      }),
      RUNS,
    );
  });

  const family = <T>(defs: readonly MessageDef[], encode: (m: T, c?: number) => Uint8Array, decode: (b: Uint8Array, f?: Framing) => unknown) =>
    defs.map((d) => messageArb(d, { op: d.name }).map((v) => ({ v, encode: encode as (m: Value, c?: number) => Uint8Array, decode })));

  const cpMessages = fc.oneof(
    ...family<CcpRequest>(CCP_LAYOUTS.requests, encodeCcpRequest, decodeCcpRequest),
    ...family<CcpResponse>(CCP_LAYOUTS.responses, encodeCcpResponse, decodeCcpResponse),
    ...family<CommandData>(CCP_LAYOUTS.commandData, encodeCommandData, decodeCommandData),
    ...family<SrcpRequest>(SRCP_LAYOUTS.requests, encodeSrcpRequest, decodeSrcpRequest),
    ...family<SrcpResponse>(SRCP_LAYOUTS.responses, encodeSrcpResponse, decodeSrcpResponse),
  );

  it('decode(encode(x)) = x for every CCP, Command Data and SRCP message', () => {
    fc.assert(
      fc.property(cpMessages, fc.option(fc.integer({ min: 1, max: 255 }), { nil: undefined }), ({ v, encode, decode }, counter) => {
        const b = encode(v, counter);
        expect(b.length).toBeLessThanOrEqual(20);
        const framing: Framing = counter === undefined ? { e2e: false } : { e2e: true, expectedCounter: counter };
        expect(decode(b, framing)).toEqual(counter === undefined ? { ok: true, value: v } : { ok: true, value: v, counter });
      }),
      RUNS,
    );
  });

  const historyRecords: fc.Arbitrary<HistoryRecord> = fc.oneof(
    ...Object.entries(EVENT_FIELDS).map(([name, fields]) =>
      fc
        .tuple(messageArb({ name, op: 0, fields }, { type: name }), fc.integer({ min: 0, max: 0xfffffffe }), fc.integer({ min: 0, max: 0xffff }))
        .map(([event, seq, offset]) => ({ sequenceNumber: name === 'dataCorruption' ? 0xffffffff : seq, relativeOffsetSeconds: offset, event }) as unknown as HistoryRecord),
    ),
    fc
      .tuple(fc.constantFrom(0xf00f, 0xf033, 0xfff0), fc.uint8Array({ maxLength: 10 }))
      .map(([eventType, data]) => ({ sequenceNumber: 7, relativeOffsetSeconds: 0, event: { type: 'manufacturer', eventType, data } }) as HistoryRecord),
  );

  it('decode(encode(x)) = x for every History Data event type', () => {
    fc.assert(
      fc.property(historyRecords, fc.boolean(), (rec, crc) => {
        const b = encodeHistoryRecord(rec, crc);
        expect(b.length).toBeLessThanOrEqual(20);
        expect(decodeHistoryRecord(b, crc)).toEqual({ ok: true, value: rec });
      }),
      RUNS,
    );
  });

  const recordOp = fc.constantFrom('reportStoredRecords', 'deleteStoredRecords', 'reportNumberOfStoredRecords' as const);
  const filterType = fc.constantFrom('sequenceNumber', 'sequenceNumberReferenceTimeEvents', 'sequenceNumberNonReferenceTimeEvents' as const);
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const racpRequests: fc.Arbitrary<RacpRequest> = fc.oneof(
    fc.constant({ op: 'abortOperation' } as const),
    fc.record({ op: recordOp, operator: fc.constantFrom('allRecords', 'firstRecord', 'lastRecord' as const) }),
    fc.record({ op: recordOp, operator: fc.constantFrom('lessThanOrEqualTo', 'greaterThanOrEqualTo' as const), filterType, sequenceNumber: u32 }),
    fc
      .record({ op: recordOp, filterType, a: u32, b: u32 })
      .map(({ op, filterType, a, b }) => ({ op, operator: 'withinRangeOf', filterType, minSequenceNumber: Math.min(a, b), maxSequenceNumber: Math.max(a, b) }) as const),
  );
  const racpResponses: fc.Arbitrary<RacpResponse> = fc.oneof(
    fc.record({
      op: fc.constant('responseCode' as const),
      requestOpCode: fc.integer({ min: 0, max: 255 }),
      responseCode: fc.constantFrom('success', 'opCodeNotSupported', 'invalidOperator', 'noRecordsFound', 'procedureNotApplicable' as const),
    }),
    fc.record({ op: fc.constant('numberOfStoredRecordsResponse' as const), numberOfRecords: u32 }),
  );

  it('decode(encode(x)) = x for status characteristics, Features and RACP', () => {
    const statusValue = fc.record({
      therapyControlState: fc.constantFrom('undetermined', 'stop', 'pause', 'run' as const),
      operationalState: fc.constantFrom('undetermined', 'off', 'standby', 'preparing', 'priming', 'waiting', 'ready' as const),
      reservoirRemainingMilliUnits: fc.oneof(sfloatMilli(true), fc.constant(null)),
      reservoirAttached: fc.boolean(),
    });
    const annunciation = fc.option(
      fc.record(
        {
          instanceId: fc.integer({ min: 0, max: 0xffff }),
          annunciationType: fc.constantFrom(0x000f, 0x003c, 0x0365, 0xf00f),
          status: fc.constantFrom('undetermined', 'pending', 'snoozed', 'confirmed' as const),
          auxInfo1: fc.uint8Array({ minLength: 2, maxLength: 2 }),
          auxInfo2: fc.uint8Array({ minLength: 2, maxLength: 2 }),
          auxInfo3: fc.uint8Array({ minLength: 2, maxLength: 2 }),
          auxInfo4: fc.uint8Array({ minLength: 2, maxLength: 2 }),
          auxInfo5: fc.uint8Array({ minLength: 2, maxLength: 2 }),
        },
        { requiredKeys: ['instanceId', 'annunciationType', 'status'] },
      ),
      { nil: undefined },
    );
    const features = fc.record({ insulinConcentrationMilli: sfloatMilli(true), flags: fc.integer({ min: 0, max: 0xffff }), extension: fc.constant(new Uint8Array(0)) });
    const counter = fc.integer({ min: 1, max: 255 });
    fc.assert(
      fc.property(statusValue, annunciation, fc.integer({ min: 0, max: 0xff }), features, racpRequests, racpResponses, counter, (s, a, changed, f, rq, rs, c) => {
        expect(decodeStatus(encodeStatus(s, c), { e2e: true, expectedCounter: c })).toEqual({ ok: true, value: s, counter: c });
        const ann = a === undefined ? {} : { annunciation: a };
        expect(decodeAnnunciationStatus(encodeAnnunciationStatus(ann))).toEqual({ ok: true, value: ann });
        expect(decodeStatusChanged(encodeStatusChanged({ flags: changed }))).toEqual({ ok: true, value: { flags: changed } });
        const fb = encodeFeatures(f, c);
        expect(decodeFeatures(fb)).toEqual(f.flags & 1 ? { ok: true, value: f, counter: c } : { ok: true, value: f });
        expect(decodeRacpRequest(encodeRacpRequest(rq, c), { e2e: true, expectedCounter: c })).toEqual({ ok: true, value: rq, counter: c });
        expect(decodeRacpResponse(encodeRacpResponse(rs))).toEqual({ ok: true, value: rs });
      }),
      RUNS,
    );
  });
});
