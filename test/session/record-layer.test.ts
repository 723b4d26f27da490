// Tests for the record layer (docs/protocol.md §5.3): nonce, AAD and tag cross-checked with
// node:crypto's AES-128-CCM, and every drop code — replay, reorder, every bit flipped, truncation,
// another session's keys, wrong epoch, wrong direction — plus the rekey threshold. Not the machine.

import { describe, expect, it } from 'vitest';
import { deriveRecordKeys, deriveSessionKeys, type RecordKeys } from '../../src/session/key-schedule.ts';
import { DEFAULT_REKEY_THRESHOLD, MAX_RECORD_PLAINTEXT_BYTES, RecordLayer, type RecordDropCode } from '../../src/session/record-layer.ts';
import { encodePlaintext, encodeRecordHeader, MAX_RECORD_SEQUENCE } from '../../src/session/wire-session.ts';
import { hex, toHex } from './session-fixture.ts';
import { nodeCcmSeal } from './session-node-crypto.ts';

// The worked example of session-keys.test.ts.
const LTK = hex('000102030405060708090a0b0c0d0e0f');
const NC = hex('00112233445566778899aabbccddeeff');
const ND = hex('ffeeddccbbaa99887766554433221100');
const keys = (): RecordKeys => deriveSessionKeys(LTK, NC, ND);

/** A 20-byte command: request id 1, command 0x0010, 15 payload bytes. */
const COMMAND_20 = encodePlaintext({ kind: 'request', requestId: 1, command: 0x0010, payload: Uint8Array.from({ length: 15 }, (_, i) => i) });

function pair(opts: { rekeyThreshold?: number } = {}) {
  return { client: new RecordLayer('client', keys(), opts), device: new RecordLayer('device', keys(), opts) };
}

function sealOk(layer: RecordLayer, plaintext: Uint8Array): Uint8Array {
  const r = layer.seal(plaintext);
  if (!r.ok) throw new Error(`seal: ${r.code}`);
  return r.record;
}

describe('RecordLayer: sealing (docs/protocol.md §5.3)', () => {
  it('matches node:crypto AES-128-CCM with nonce = header bytes 2..6 ‖ IVc2d and AAD = the 7-byte header', () => {
    const { client } = pair();
    expect(COMMAND_20.length).toBe(20);
    const record = sealOk(client, COMMAND_20);
    const header = encodeRecordHeader({ epoch: 0, direction: 0, seq: 1 });
    expect(toHex(header)).toBe('30000000000001');
    const k = keys();
    const nonce = new Uint8Array([...header.subarray(2, 7), ...k.c2dIv]);
    expect(nonce.length).toBe(13);
    const expected = new Uint8Array([...header, ...nodeCcmSeal(k.c2dKey, nonce, COMMAND_20, header)]);
    expect(toHex(record)).toBe(toHex(expected));
    // The same bytes as a fixed vector for other implementations (computed once by the route above):
    expect(toHex(record)).toBe('30000000000001' + 'ecdcd476d5f516bc7496e7479d8ee041bce623ed' + 'c20febcf615815d4');
    expect(record.length).toBe(7 + 20 + 8);
  });

  it('uses Kd2c and IVd2c with the direction bit set for the device', () => {
    const { device, client } = pair();
    const record = sealOk(device, Uint8Array.of(0x12));
    expect(toHex(record.subarray(0, 7))).toBe('30008000000001');
    const k = keys();
    const nonce = new Uint8Array([...record.subarray(2, 7), ...k.d2cIv]);
    expect(toHex(record.subarray(7))).toBe(toHex(nodeCcmSeal(k.d2cKey, nonce, Uint8Array.of(0x12), record.subarray(0, 7))));
    expect(client.open(record)).toMatchObject({ ok: true, seq: 1, epoch: 0 });
  });

  it('numbers records from 1, strictly increasing, in each direction', () => {
    const { client, device } = pair();
    for (let i = 1; i <= 5; i++) {
      const r = sealOk(client, COMMAND_20);
      const o = device.open(r);
      expect(o).toMatchObject({ ok: true, seq: i });
      if (o.ok) expect(o.plaintext).toEqual(COMMAND_20);
    }
    expect(client.lastSentSeq).toBe(5);
    expect(device.lastAcceptedSeq).toBe(5);
    expect(device.lastSentSeq).toBe(0);
  });

  it('refuses a plaintext larger than a message can carry, and anything once destroyed', () => {
    const { client } = pair();
    expect(client.seal(new Uint8Array(MAX_RECORD_PLAINTEXT_BYTES + 1))).toMatchObject({ ok: false, code: 'too-large' });
    expect(client.seal(new Uint8Array(MAX_RECORD_PLAINTEXT_BYTES))).toMatchObject({ ok: true });
    client.destroy();
    expect(client.seal(COMMAND_20)).toMatchObject({ ok: false, code: 'destroyed' });
  });
});

describe('RecordLayer: dropped records, with exact codes', () => {
  it('drops a replayed record (replay) and acts on it once', () => {
    const { client, device } = pair();
    const r = sealOk(client, COMMAND_20);
    expect(device.open(r).ok).toBe(true);
    expect(device.open(r)).toMatchObject({ ok: false, code: 'replay' });
    expect(device.counters.dropped.replay).toBe(1);
    expect(device.counters.opened).toBe(1);
  });

  it('drops a reordered record (replay) but allows gaps', () => {
    const { client, device } = pair();
    const r1 = sealOk(client, COMMAND_20);
    const r2 = sealOk(client, COMMAND_20);
    const r3 = sealOk(client, COMMAND_20);
    expect(device.open(r2)).toMatchObject({ ok: true, seq: 2 });
    expect(device.open(r1)).toMatchObject({ ok: false, code: 'replay' });
    expect(device.open(r3)).toMatchObject({ ok: true, seq: 3 });
  });

  it('drops a record with sequence 0 (sequences start at 1)', () => {
    const { device } = pair();
    const k = keys();
    const header = encodeRecordHeader({ epoch: 0, direction: 0, seq: 0 });
    const nonce = new Uint8Array([...header.subarray(2, 7), ...k.c2dIv]);
    const record = new Uint8Array([...header, ...nodeCcmSeal(k.c2dKey, nonce, COMMAND_20, header)]);
    expect(device.open(record)).toMatchObject({ ok: false, code: 'replay' });
  });

  // Every bit of a 35-byte record (a 20-byte command): which check catches each flip.
  const record = sealOk(pair().client, COMMAND_20);
  const expectedFor = (byte: number, bit: number): RecordDropCode => {
    if (byte === 0) return 'malformed'; // no longer type 0x30
    if (byte === 1) return 'epoch';
    if (byte === 2 && bit === 7) return 'direction';
    if (byte === 6 && bit === 0) return 'replay'; // sequence 1 → 0
    return 'auth'; // another sequence number (nonce and AAD change), ciphertext or tag
  };
  const flips = Array.from({ length: record.length * 8 }, (_, i) => [Math.floor(i / 8), i % 8] as const);

  it(`drops each of the ${record.length * 8} single-bit flips of a record with its exact code, and nothing changes`, () => {
    const device = new RecordLayer('device', keys());
    const seen: Record<string, number> = {};
    for (const [byte, bit] of flips) {
      const bad = record.slice();
      bad[byte] = bad[byte]! ^ (1 << bit);
      const r = device.open(bad);
      expect(r.ok, `byte ${byte} bit ${bit}`).toBe(false);
      if (!r.ok) {
        expect(r.code, `byte ${byte} bit ${bit}`).toBe(expectedFor(byte, bit));
        seen[r.code] = (seen[r.code] ?? 0) + 1;
      }
    }
    // 8 type bits, 8 epoch bits, 1 direction bit, 1 flip to sequence 0, and the other 262 by the tag.
    expect(seen).toEqual({ malformed: 8, epoch: 8, direction: 1, replay: 1, auth: 280 - 18 });
    expect(device.lastAcceptedSeq).toBe(0);
    expect(device.open(record)).toMatchObject({ ok: true, seq: 1 });
  });

  it('drops a truncated record: one byte short (auth), shorter than header + tag (malformed)', () => {
    const { client, device } = pair();
    const r = sealOk(client, COMMAND_20);
    expect(device.open(r.subarray(0, r.length - 1))).toMatchObject({ ok: false, code: 'auth' });
    expect(device.open(r.subarray(0, 7 + 8))).toMatchObject({ ok: false, code: 'auth' });
    expect(device.open(r.subarray(0, 14))).toMatchObject({ ok: false, code: 'malformed' });
    expect(device.open(new Uint8Array(0))).toMatchObject({ ok: false, code: 'malformed' });
    expect(device.open(r)).toMatchObject({ ok: true });
  });

  it('drops a record of another session (keys from other nonces): auth', () => {
    const other = new RecordLayer('client', deriveSessionKeys(LTK, NC, hex('00000000000000000000000000000001')));
    const { device } = pair();
    expect(device.open(sealOk(other, COMMAND_20))).toMatchObject({ ok: false, code: 'auth' });
  });

  it('drops a record of another epoch (epoch), before and after a rekey', () => {
    const { client, device } = pair();
    const old = sealOk(client, COMMAND_20);
    const next = deriveRecordKeys(LTK, ND, NC);
    expect(client.rekey(next)).toEqual({ ok: true });
    const fresh = sealOk(client, COMMAND_20);
    expect(device.open(fresh)).toMatchObject({ ok: false, code: 'epoch' });
    expect(device.rekey(deriveRecordKeys(LTK, ND, NC))).toEqual({ ok: true });
    expect(device.open(old)).toMatchObject({ ok: false, code: 'epoch' });
    expect(device.open(fresh)).toMatchObject({ ok: true, seq: 1, epoch: 1 });
  });

  it('drops a record with the wrong direction bit (direction): a reflected record', () => {
    const { device } = pair();
    const own = sealOk(device, COMMAND_20);
    expect(device.open(own)).toMatchObject({ ok: false, code: 'direction' });
  });

  it('counts drops by code', () => {
    const { client, device } = pair();
    const r = sealOk(client, COMMAND_20);
    device.open(r);
    device.open(r);
    device.open(new Uint8Array(3));
    expect(device.counters.dropped).toEqual({ replay: 1, epoch: 0, direction: 0, auth: 0, malformed: 1 });
    expect(device.droppedTotal).toBe(2);
  });
});

describe('RecordLayer: rekey threshold (docs/protocol.md §5.3)', () => {
  it('defaults to 2^39 − 2^16 and refuses thresholds outside 1..2^39 − 1', () => {
    expect(pair().device.rekeyThreshold).toBe(DEFAULT_REKEY_THRESHOLD);
    expect(DEFAULT_REKEY_THRESHOLD).toBe(549_755_748_352);
    expect(() => new RecordLayer('device', keys(), { rekeyThreshold: 0 })).toThrow(RangeError);
    expect(() => new RecordLayer('device', keys(), { rekeyThreshold: MAX_RECORD_SEQUENCE + 1 })).toThrow(RangeError);
  });

  it('is due once a sequence in either direction reaches the threshold; a rekey restarts both at 1', () => {
    const { client, device } = pair({ rekeyThreshold: 3 });
    for (let i = 0; i < 2; i++) device.open(sealOk(client, COMMAND_20));
    expect(device.rekeyDue).toBe(false);
    device.open(sealOk(client, COMMAND_20));
    expect(device.rekeyDue).toBe(true);
    expect(client.rekeyDue).toBe(true);
    const k1 = deriveRecordKeys(LTK, hex('11'.repeat(16)), hex('22'.repeat(16)));
    device.rekey(k1);
    client.rekey(deriveRecordKeys(LTK, hex('11'.repeat(16)), hex('22'.repeat(16))));
    expect([device.rekeyDue, device.epoch, device.lastAcceptedSeq, device.lastSentSeq]).toEqual([false, 1, 0, 0]);
    expect(device.open(sealOk(client, COMMAND_20))).toMatchObject({ ok: true, seq: 1, epoch: 1 });
    expect(client.open(sealOk(device, COMMAND_20))).toMatchObject({ ok: true, seq: 1, epoch: 1 });
    // the device's own sends count too
    const d = new RecordLayer('device', keys(), { rekeyThreshold: 2 });
    sealOk(d, COMMAND_20);
    expect(d.rekeyDue).toBe(false);
    sealOk(d, COMMAND_20);
    expect(d.rekeyDue).toBe(true);
  });

  it('stops at epoch 255: the one-byte epoch has no successor', () => {
    const d = new RecordLayer('device', keys());
    for (let e = 1; e <= 255; e++) expect(d.rekey(keys())).toEqual({ ok: true });
    expect(d.epoch).toBe(255);
    expect(d.rekey(keys())).toEqual({ ok: false, code: 'epoch-exhausted' });
  });
});
