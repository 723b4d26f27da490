// IDD Record Access Control Point 0x2B27 requests and indications (ids.md §4; IDS v1.0.2 §3.9, §4.8).
// Not the record store or the transfer: which records match and the History Data flow belong to the history module.
//
// Frame: `Op Code u8 | Operator u8 | Operand 0–9 | [E2E]`; operand = `Filter Type u8, Sequence Number u32 [, u32]`.
// Failures carry the RACP Response Code Value to answer with (Table 3.27) in `responseCode`.

import { frame, Reader, unframe, Writer, type Framing } from './codec.ts';
import {
  decodeEnum,
  RACP_FILTER_TYPE,
  RACP_OP,
  RACP_OPERATOR,
  RACP_RESPONSE_CODE,
  type RacpFilterType,
  type RacpResponseCode,
} from './enums.ts';
import { fail, hex2, Reject, type IdsResult } from './result.ts';

export type RacpRecordOp = 'reportStoredRecords' | 'deleteStoredRecords' | 'reportNumberOfStoredRecords';

export type RacpRequest =
  | { readonly op: RacpRecordOp; readonly operator: 'allRecords' | 'firstRecord' | 'lastRecord' }
  | { readonly op: RacpRecordOp; readonly operator: 'lessThanOrEqualTo' | 'greaterThanOrEqualTo'; readonly filterType: RacpFilterType; readonly sequenceNumber: number }
  | {
      readonly op: RacpRecordOp;
      readonly operator: 'withinRangeOf';
      readonly filterType: RacpFilterType;
      readonly minSequenceNumber: number;
      readonly maxSequenceNumber: number;
    }
  /** Operator Null, no operand (§3.9.4.4). */
  | { readonly op: 'abortOperation' };

export type RacpResponse =
  | { readonly op: 'responseCode'; readonly requestOpCode: number; readonly responseCode: RacpResponseCode }
  | { readonly op: 'numberOfStoredRecordsResponse'; readonly numberOfRecords: number };

const RC = RACP_RESPONSE_CODE.codes;

/** A RACP write (E2E fields when `e2eCounter` is given). Throws RangeError on a bad value. */
export function encodeRacpRequest(m: RacpRequest, e2eCounter?: number): Uint8Array {
  const w = new Writer();
  const opCode = RACP_OP.codes[m.op];
  if (opCode === undefined) throw new RangeError(`${String(m.op)} is not a RACP request`);
  w.u8(opCode, 'op code');
  if (m.op === 'abortOperation') {
    w.u8(RACP_OPERATOR.codes.null, 'operator');
    return frame(w.finish(), e2eCounter);
  }
  const operator = RACP_OPERATOR.codes[m.operator];
  if (operator === undefined) throw new RangeError(`${String(m.operator)} is not a RACP operator`);
  w.u8(operator, 'operator');
  if (m.operator === 'lessThanOrEqualTo' || m.operator === 'greaterThanOrEqualTo') {
    w.u8(RACP_FILTER_TYPE.codes[m.filterType], 'filter type');
    w.u32(m.sequenceNumber, 'sequence number');
  } else if (m.operator === 'withinRangeOf') {
    if (m.minSequenceNumber > m.maxSequenceNumber) throw new RangeError('range minimum above maximum');
    w.u8(RACP_FILTER_TYPE.codes[m.filterType], 'filter type');
    w.u32(m.minSequenceNumber, 'minimum sequence number');
    w.u32(m.maxSequenceNumber, 'maximum sequence number');
  }
  return frame(w.finish(), e2eCounter);
}

/**
 * Decode a RACP write (§3.9.4). Prohibited op code, operator or filter → 'prohibited' (ignored). RFU op code →
 * 'opcode' (0x02). RFU operator → 'operand' (0x04 Operator not supported); an operator wrong for the op code →
 * 'operand' (0x03 Invalid Operator); RFU filter type → 'operand' (0x09 Operand not supported); a wrong operand
 * length or a reversed range → 'length' / 'operand' (0x05 Invalid Operand).
 */
export function decodeRacpRequest(bytes: Uint8Array, framing?: Framing): IdsResult<RacpRequest> {
  const u = unframe(bytes, framing);
  if (!u.ok) return u;
  const body = u.value;
  if (body.length < 1) return fail('length', 'RACP: no op code');
  const opCode = body[0]!;
  const at = { opCode };
  const op = decodeEnum(RACP_OP, opCode);
  if (!op.ok) return op.code === 'prohibited' ? fail('prohibited', op.detail, at) : fail('opcode', op.detail, { opCode, responseCode: RC.opCodeNotSupported });
  if (op.value === 'responseCode' || op.value === 'numberOfStoredRecordsResponse') {
    return fail('opcode', `RACP ${op.value} is not a request`, { opCode, responseCode: RC.opCodeNotSupported });
  }
  const r = new Reader(body, 1);
  try {
    const operatorCode = r.u8('operator');
    const operator = decodeEnum(RACP_OPERATOR, operatorCode);
    if (!operator.ok) {
      if (operator.code === 'prohibited') throw new Reject('prohibited', operator.detail);
      throw new Reject('operand', operator.detail, RC.operatorNotSupported);
    }
    let value: RacpRequest;
    if (op.value === 'abortOperation') {
      if (operator.value !== 'null') throw new Reject('operand', 'Abort Operation takes operator Null', RC.invalidOperator);
      value = { op: 'abortOperation' };
    } else {
      const recordOp: RacpRecordOp = op.value;
      switch (operator.value) {
        case 'null':
          throw new Reject('operand', `${recordOp} needs an operator other than Null`, RC.invalidOperator);
        case 'allRecords':
        case 'firstRecord':
        case 'lastRecord':
          value = { op: recordOp, operator: operator.value };
          break;
        case 'lessThanOrEqualTo':
        case 'greaterThanOrEqualTo': {
          const filterType = readFilter(r);
          value = { op: recordOp, operator: operator.value, filterType, sequenceNumber: r.u32('sequence number') };
          break;
        }
        case 'withinRangeOf': {
          const filterType = readFilter(r);
          const min = r.u32('minimum sequence number');
          const max = r.u32('maximum sequence number');
          if (r.remaining === 0 && min > max) throw new Reject('operand', `range ${min}..${max} is reversed`, RC.invalidOperand);
          value = { op: recordOp, operator: 'withinRangeOf', filterType, minSequenceNumber: min, maxSequenceNumber: max };
          break;
        }
      }
    }
    r.end('RACP operand');
    return u.counter === undefined ? { ok: true, value } : { ok: true, value, counter: u.counter };
  } catch (e) {
    if (!(e instanceof Reject)) throw e;
    const responseCode = e.responseCode ?? (e.code === 'length' ? RC.invalidOperand : undefined);
    return fail(e.code, e.detail, { opCode, ...(responseCode !== undefined ? { responseCode } : {}) });
  }
}

function readFilter(r: Reader): RacpFilterType {
  const code = r.u8('filter type');
  const f = decodeEnum(RACP_FILTER_TYPE, code);
  if (f.ok) return f.value;
  if (f.code === 'prohibited') throw new Reject('prohibited', f.detail);
  throw new Reject('operand', f.detail, RC.operandNotSupported);
}

/** `0F 0F <req op> <value>` or `66 0F <count u32>` (E2E fields when `e2eCounter` is given). */
export function encodeRacpResponse(m: RacpResponse, e2eCounter?: number): Uint8Array {
  const w = new Writer();
  w.u8(RACP_OP.codes[m.op], 'op code');
  w.u8(RACP_OPERATOR.codes.null, 'operator');
  if (m.op === 'responseCode') {
    w.u8(m.requestOpCode, 'request op code');
    const v = RACP_RESPONSE_CODE.codes[m.responseCode];
    if (v === undefined) throw new RangeError(`${String(m.responseCode)} is not a RACP Response Code`);
    w.u8(v, 'response code');
  } else {
    w.u32(m.numberOfRecords, 'number of records');
  }
  return frame(w.finish(), e2eCounter);
}

export function decodeRacpResponse(bytes: Uint8Array, framing?: Framing): IdsResult<RacpResponse> {
  const u = unframe(bytes, framing);
  if (!u.ok) return u;
  const body = u.value;
  if (body.length < 2) return fail('length', 'RACP response: no op code and operator');
  const op = decodeEnum(RACP_OP, body[0]!);
  if (!op.ok) return op.code === 'prohibited' ? op : fail('opcode', op.detail);
  if (op.value !== 'responseCode' && op.value !== 'numberOfStoredRecordsResponse') return fail('opcode', `RACP ${op.value} is not a response`);
  const operator = decodeEnum(RACP_OPERATOR, body[1]!);
  if (!operator.ok) return operator;
  if (operator.value !== 'null') return fail('operand', `RACP response operator ${hex2(body[1]!)} is not Null`);
  let value: RacpResponse;
  if (op.value === 'responseCode') {
    if (body.length !== 4) return fail('length', 'RACP Response Code is 4 octets');
    const rc = decodeEnum(RACP_RESPONSE_CODE, body[3]!);
    if (!rc.ok) return rc;
    value = { op: 'responseCode', requestOpCode: body[2]!, responseCode: rc.value };
  } else {
    if (body.length !== 6) return fail('length', 'Number of Stored Records Response is 6 octets');
    value = { op: 'numberOfStoredRecordsResponse', numberOfRecords: new Reader(body, 2).u32('number of records') };
  }
  return u.counter === undefined ? { ok: true, value } : { ok: true, value, counter: u.counter };
}
