import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ADV_ACCESS_ADDRESS,
  airTimeUs,
  allChannelsMapLe,
  csa1NextChannel,
  decodeAdvPdu,
  decodeDataPdu,
  decodeLlControl,
  encodeAdvPdu,
  encodeDataPdu,
  encodeLlControl,
  isValidAccessAddress,
  readAddressLe,
  scaFieldForPpm,
  usedChannels,
  writeAddressLe,
  type AdvPdu,
  type DataPdu,
  type LlControlPdu,
} from '../../../src/sim/air/pdu.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

const PUMP = { address: 'C0:00:00:00:00:01', random: true };
const PHONE = { address: '11:22:33:44:55:66', random: false };

const LL_DATA = {
  accessAddress: 0xaf9a9b3c,
  crcInit: 0x123456,
  winSizeUnits1250us: 2,
  winOffsetUnits1250us: 0,
  intervalUnits1250us: 24,
  latency: 0,
  timeoutUnits10ms: 100,
  channelMapLe: allChannelsMapLe(),
  hop: 7,
  sca: 5,
};

describe('device addresses (Vol 6 Part B §1.3: LSB first on air)', () => {
  it('writes MSB-first strings least significant byte first and reads them back upper case', () => {
    const out = new Uint8Array(6);
    writeAddressLe(out, 0, 'aa:bb:cc:dd:ee:ff');
    expect(hex(out)).toBe('ffeeddccbbaa');
    expect(readAddressLe(out, 0)).toBe('AA:BB:CC:DD:EE:FF');
  });

  it('rejects a malformed address with a coded error', () => {
    expect(() => writeAddressLe(new Uint8Array(6), 0, 'AA:BB:CC:DD:EE')).toThrowError(expect.objectContaining({ code: 'pdu.address' }));
  });
});

describe('advertising channel PDUs (§2.3)', () => {
  it.each<[string, AdvPdu, string]>([
    ['ADV_IND, random AdvA', { type: 'ADV_IND', advA: PUMP, advData: bytes('020106') }, '40 09 0100000000c0 020106'],
    ['ADV_IND with ChSel', { type: 'ADV_IND', advA: PUMP, advData: new Uint8Array(0), chSel: true }, '60 06 0100000000c0'],
    ['ADV_NONCONN_IND, public AdvA', { type: 'ADV_NONCONN_IND', advA: { address: '12:34:56:78:9A:BC', random: false }, advData: new Uint8Array(0) }, '02 06 bc9a78563412'],
    ['ADV_SCAN_IND', { type: 'ADV_SCAN_IND', advA: PUMP, advData: bytes('0201') }, '46 08 0100000000c0 0201'],
    ['ADV_DIRECT_IND', { type: 'ADV_DIRECT_IND', advA: PUMP, targetA: PHONE }, '41 0c 0100000000c0 665544332211'],
    ['SCAN_REQ (RxAdd: AdvA random)', { type: 'SCAN_REQ', scanA: PHONE, advA: PUMP }, '83 0c 665544332211 0100000000c0'],
    ['SCAN_RSP', { type: 'SCAN_RSP', advA: PUMP, scanRspData: bytes('03094142') }, '44 0a 0100000000c0 03094142'],
    [
      'CONNECT_IND with LLData (§2.3.3.1)',
      { type: 'CONNECT_IND', initA: PHONE, advA: PUMP, llData: LL_DATA },
      '85 22 665544332211 0100000000c0 3c9b9aaf 563412 02 0000 1800 0000 6400 ffffffff1f a7',
    ],
  ])('%s encodes to exact bytes and decodes back', (_name, pdu, expected) => {
    const encoded = encodeAdvPdu(pdu);
    expect(hex(encoded)).toBe(expected.replace(/\s+/g, ''));
    const decoded = decodeAdvPdu(encoded);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(hex(encodeAdvPdu(decoded.value))).toBe(hex(encoded));
    expect(decoded.value.type).toBe(pdu.type);
  });

  it('decodes CONNECT_IND LLData field by field', () => {
    const d = decodeAdvPdu(encodeAdvPdu({ type: 'CONNECT_IND', initA: PHONE, advA: PUMP, llData: LL_DATA }));
    expect(d.ok && d.value.type === 'CONNECT_IND' && d.value.llData).toEqual(LL_DATA);
  });

  it.each<[string, string, string]>([
    ['no bytes', '', 'short'],
    ['one byte', '40', 'short'],
    ['Length larger than the bytes', '40 05 0102', 'length'],
    ['Length smaller than the bytes', '40 06 0100000000c0 ff', 'length'],
    ['ADV_EXT_IND is not a legacy PDU', '47 06 0100000000c0', 'type'],
    ['reserved type 0b1000', '48 06 0100000000c0', 'type'],
    ['ADV_IND shorter than AdvA', '40 05 0100000000', 'length'],
    ['ADV_IND with 32 bytes of AdvData', '40 26 0100000000c0' + '00'.repeat(32), 'length'],
    ['SCAN_REQ of 11 bytes', '83 0b 665544332211 0100000000', 'length'],
    ['CONNECT_IND of 33 bytes', '85 21 ' + '00'.repeat(33), 'length'],
  ])('rejects %s with code %s', (_name, input, code) => {
    const r = decodeAdvPdu(bytes(input));
    expect(r).toMatchObject({ ok: false, code });
  });
});

describe('data channel PDUs (§2.4)', () => {
  it.each<[string, DataPdu, string]>([
    ['empty PDU, SN 0 NESN 0', { llid: 1, nesn: 0, sn: 0, md: false, payload: new Uint8Array(0) }, '0100'],
    ['empty PDU acknowledging (NESN 1)', { llid: 1, nesn: 1, sn: 0, md: false, payload: new Uint8Array(0) }, '0500'],
    ['empty PDU, SN 1 NESN 1 MD', { llid: 1, nesn: 1, sn: 1, md: true, payload: new Uint8Array(0) }, '1d00'],
    ['L2CAP start, SN 1', { llid: 2, nesn: 0, sn: 1, md: false, payload: bytes('70696e67') }, '0a0470696e67'],
    ['LL control with MD', { llid: 3, nesn: 1, sn: 0, md: true, payload: bytes('0213') }, '17020213'],
  ])('%s', (_name, pdu, expected) => {
    const encoded = encodeDataPdu(pdu);
    expect(hex(encoded)).toBe(expected);
    const decoded = decodeDataPdu(encoded);
    expect(decoded.ok && { ...decoded.value, payload: hex(decoded.value.payload) }).toEqual({ ...pdu, payload: hex(pdu.payload) });
  });

  it.each<[string, string, string]>([
    ['no bytes', '', 'short'],
    ['one byte', '01', 'short'],
    ['Length larger than the bytes', '0201', 'length'],
    ['Length smaller than the bytes', '020170 69', 'length'],
    ['reserved LLID 0b00', '0000', 'llid'],
    ['CP bit with a CTEInfo byte', '2100 00', 'cte'],
    ['LL control without an opcode', '0300', 'length'],
    ['L2CAP start with no payload', '0200', 'length'],
    ['payload of 252 bytes (over 251)', '02fc' + '00'.repeat(252), 'length'],
  ])('rejects %s with code %s', (_name, input, code) => {
    expect(decodeDataPdu(bytes(input))).toMatchObject({ ok: false, code });
  });
});

describe('LL control PDUs (§2.4.2)', () => {
  it.each<[string, LlControlPdu, string]>([
    ['LL_TERMINATE_IND 0x13', { type: 'LL_TERMINATE_IND', errorCode: 0x13 }, '0213'],
    ['LL_UNKNOWN_RSP', { type: 'LL_UNKNOWN_RSP', unknownType: 0x08 }, '0708'],
    ['LL_VERSION_IND', { type: 'LL_VERSION_IND', versNr: 0x09, compId: 0x0025, subVersNr: 0x0102 }, '0c09250002 01'],
    ['LL_LENGTH_REQ 27/328', { type: 'LL_LENGTH_REQ', maxRxOctets: 27, maxRxTimeUs: 328, maxTxOctets: 27, maxTxTimeUs: 328 }, '14 1b00 4801 1b00 4801'],
    ['LL_LENGTH_RSP 251/2120', { type: 'LL_LENGTH_RSP', maxRxOctets: 251, maxRxTimeUs: 2120, maxTxOctets: 251, maxTxTimeUs: 2120 }, '15 fb00 4808 fb00 4808'],
    [
      'LL_CONNECTION_UPDATE_IND',
      { type: 'LL_CONNECTION_UPDATE_IND', winSizeUnits1250us: 2, winOffsetUnits1250us: 1, intervalUnits1250us: 40, latency: 4, timeoutUnits10ms: 200, instant: 0x1234 },
      '00 02 0100 2800 0400 c800 3412',
    ],
    ['LL_CHANNEL_MAP_IND', { type: 'LL_CHANNEL_MAP_IND', channelMapLe: allChannelsMapLe(), instant: 100 }, '01 ffffffff1f 6400'],
    ['LL_FEATURE_REQ', { type: 'LL_FEATURE_REQ', featureSetLe: bytes('0100000000000000') }, '08 0100000000000000'],
    ['LL_REJECT_IND', { type: 'LL_REJECT_IND', errorCode: 0x06 }, '0d06'],
    ['LL_PING_REQ', { type: 'LL_PING_REQ' }, '12'],
    ['an opcode we do not name', { type: 'other', opcode: 0x20, ctrData: bytes('0102') }, '200102'],
  ])('%s', (_name, pdu, expected) => {
    const encoded = encodeLlControl(pdu);
    expect(hex(encoded)).toBe(expected.replace(/\s+/g, ''));
    const decoded = decodeLlControl(encoded);
    expect(decoded.ok).toBe(true);
    if (decoded.ok) expect(hex(encodeLlControl(decoded.value))).toBe(hex(encoded));
  });

  it.each<[string, string, string]>([
    ['no opcode', '', 'short'],
    ['LL_TERMINATE_IND without its error code', '02', 'length'],
    ['LL_TERMINATE_IND one byte too long', '021300', 'length'],
    ['LL_VERSION_IND cut short', '0c0925', 'length'],
  ])('rejects %s with code %s', (_name, input, code) => {
    expect(decodeLlControl(bytes(input))).toMatchObject({ ok: false, code });
  });

  it('decodes opcodes it does not interpret (LL_ENC_REQ) as "other", still checking their CtrData size', () => {
    expect(decodeLlControl(bytes('03' + '00'.repeat(22)))).toMatchObject({ ok: true, value: { type: 'other', opcode: 3 } });
    expect(decodeLlControl(bytes('03' + '00'.repeat(5)))).toMatchObject({ ok: false, code: 'length' });
  });
});

describe('decoders never throw, and what decodes re-encodes to the same bytes (RFU bits aside)', () => {
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const a = decodeAdvPdu(b);
        if (a.ok) {
          const again = encodeAdvPdu(a.value);
          const masked = b.slice();
          masked[0] = masked[0]! & ~0x10; // RFU bit of the advertising header
          if (a.value.type === 'SCAN_RSP' || a.value.type === 'SCAN_REQ') masked[0] = masked[0]! & ~0x20; // ChSel is RFU there
          if (a.value.type === 'ADV_NONCONN_IND' || a.value.type === 'ADV_SCAN_IND' || a.value.type === 'ADV_IND' || a.value.type === 'SCAN_RSP') masked[0] = masked[0]! & ~0x80; // RxAdd unused
          expect(hex(again)).toBe(hex(masked));
        }
        const d = decodeDataPdu(b);
        if (d.ok) {
          const masked = b.slice();
          masked[0] = masked[0]! & 0x1f; // CP (rejected) and RFU bits
          expect(hex(encodeDataPdu(d.value))).toBe(hex(masked));
        }
        decodeLlControl(b);
      }),
      { numRuns: 3000, seed: 42 },
    );
  });
});

describe('air time and connection set-up values', () => {
  it.each([
    [2, 80], // empty data PDU: (1 + 4 + 2 + 3) × 8
    [11, 152], // ADV_IND with 3 bytes of AdvData
    [36, 352], // CONNECT_IND
    [29, 296], // 27-byte data payload
  ])('a %i-byte PDU is %i µs on the LE 1M PHY', (pduBytes, us) => {
    expect(airTimeUs(pduBytes)).toBe(us);
  });

  it.each<[string, number, boolean]>([
    ['the advertising access address', ADV_ACCESS_ADDRESS, false],
    ['one bit away from it', 0x8e89bed7, false],
    ['four equal octets', 0x12121212, false],
    ['sixteen equal bits in a row', 0x0000ffff, false],
    ['31 transitions', 0x55555555, false],
    ['no transition in the six most significant bits', 0xfc0f0f0f, false],
    ['a valid one', 0x71764129, true],
    ['another valid one', 0xaf9a9b3c, true],
  ])('access address rule (§2.1.2): %s', (_name, aa, valid) => {
    expect(isValidAccessAddress(aa)).toBe(valid);
  });

  it('channel selection #1 hops by hopIncrement and remaps unused channels (§4.5.8.2)', () => {
    const used = [1, 5, 9, 20];
    const mask = new Array<boolean>(37).fill(false);
    for (const c of used) mask[c] = true;
    const seen: number[] = [];
    let last = 0;
    for (let i = 0; i < 6; i++) {
      const r = csa1NextChannel(last, 7, used, mask);
      last = r.unmapped;
      seen.push(r.channel);
    }
    // unmapped 7, 14, 21, 28, 35, 5 → remapped by index unmapped mod 4, except 5 which is used.
    expect(seen).toEqual([20, 9, 5, 1, 20, 5]);
  });

  it('reads the used channels of a channel map and picks SCA fields by ppm', () => {
    expect(usedChannels(bytes('2202000010'))).toEqual([1, 5, 9, 36]);
    expect(usedChannels(allChannelsMapLe())).toHaveLength(37);
    expect([scaFieldForPpm(50), scaFieldForPpm(20), scaFieldForPpm(500), scaFieldForPpm(60)]).toEqual([5, 7, 0, 4]);
  });
});
