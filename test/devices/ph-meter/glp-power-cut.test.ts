// A power cut at every flash program/erase boundary of each GLP append and acknowledgement (garbage
// collection and slot overwrites included): after the reboot the record is wholly there or absent,
// the chain is intact from its anchor to the recovered head, nothing kept before is lost, and
// numbering goes on. Not the record-store's own power-cut tests (test/storage).

import { describe, expect, it } from 'vitest';
import { PowerCutError } from '../../../hal/kw31z/flash.ts';
import { glpGenesisHash, GLP_BODY_BYTES } from '../../../devices/ph-meter/glp-record.ts';
import { verifyGlpExport, verifyGlpRecords } from '../../../devices/ph-meter/glp-verify.ts';
import type { GlpLog } from '../../../devices/ph-meter/glp-log.ts';
import { glpRig, imageOf, MANUFACTURER, must, readingAt, SERIAL, US_PER_S } from './glp-fixtures.ts';

const STORE_SECTORS = 3;
const CAPACITY = 6;

type Step = { readonly kind: 'append'; readonly i: number } | { readonly kind: 'ack'; readonly upTo: number };

interface Point {
  readonly step: Step;
  readonly atUs: number;
  readonly image: Uint8Array;
  readonly lastBefore: number;
  readonly ackBefore: number;
  readonly headBefore: Uint8Array;
  /** Every record the log held before, seq → bytes. */
  readonly heldBefore: Map<number, Uint8Array>;
  readonly lastAfter: number;
  readonly ackAfter: number;
  readonly headAfter: Uint8Array;
  /** The record the uncut append wrote. */
  readonly written: Uint8Array | undefined;
  readonly ops: number;
  readonly erased: boolean;
}

function held(log: GlpLog): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (let seq = Math.max(1, log.lastSeq - CAPACITY); seq <= log.lastSeq; seq++) {
    const r = log.record(seq);
    if (r !== undefined) out.set(seq, r);
  }
  return out;
}

/** Chain check of everything a query can return, against the log's own recovered head. */
function chainIntact(log: GlpLog): ReturnType<typeof verifyGlpRecords> | { ok: true; records: [] } {
  if (log.lastSeq === 0) return { ok: true, records: [] };
  const first = log.firstSeq;
  const anchorHash = first === 1 ? glpGenesisHash(SERIAL) : log.record(first - 1)!.slice(GLP_BODY_BYTES);
  return verifyGlpRecords(must(log.records({ operator: 'all' })), { serial: SERIAL, firstSeq: first, lastSeq: log.lastSeq, anchorHash, headHash: log.headHash });
}

function run(log: GlpLog, step: Step): void {
  if (step.kind === 'append') must(log.append(readingAt(step.i)));
  else must(log.acknowledge(step.upTo));
}

describe('GLP log power cut at every flash operation', () => {
  it('leaves each append and acknowledgement whole or absent and the chain intact', () => {
    // The uncut run: appends 30 s apart, an acknowledgement of all but the newest two every third
    // append, so slots are overwritten and the three-sector store collects sectors along the way.
    const rig = glpRig({ storeSectors: STORE_SECTORS });
    let log = rig.openLog({ capacity: CAPACITY });
    const steps: Step[] = [];
    for (let i = 0; i < 150; i++) {
      steps.push({ kind: 'append', i });
      if (i % 3 === 2) steps.push({ kind: 'ack', upTo: i - 1 }); // seq i + 1 is the newest
    }
    const points: Point[] = [];
    const erases = () => rig.flash.eraseCounts().reduce((a, b) => a + b, 0);
    for (const [n, step] of steps.entries()) {
      if (step.kind === 'append') rig.world.runFor(30 * US_PER_S);
      const before = { image: imageOf(rig.flash), last: log.lastSeq, ack: log.acknowledgedSeq, head: log.headHash, held: held(log), ops: rig.flash.opsCount, erases: erases() };
      run(log, step);
      points.push({
        step,
        atUs: rig.world.nowUs,
        image: before.image,
        lastBefore: before.last,
        ackBefore: before.ack,
        headBefore: before.head,
        heldBefore: before.held,
        lastAfter: log.lastSeq,
        ackAfter: log.acknowledgedSeq,
        headAfter: log.headHash,
        written: step.kind === 'append' ? log.record(log.lastSeq) : undefined,
        ops: rig.flash.opsCount - before.ops,
        erased: erases() > before.erases,
      });
      if (n % 20 === 19) log = rig.openLog({ capacity: CAPACITY }); // clean reboots along the way
    }
    expect(points.filter((p) => p.erased).length).toBeGreaterThanOrEqual(6);
    expect(log.lastSeq).toBe(150);

    let cuts = 0;
    let absent = 0;
    let present = 0;
    for (const [pi, p] of points.entries()) {
      for (let k = 0; k <= p.ops; k++) {
        const r = glpRig({ storeSectors: STORE_SECTORS, image: p.image });
        r.world.runUntil(p.atUs);
        const booted = r.openLog({ capacity: CAPACITY });
        expect([booted.lastSeq, booted.acknowledgedSeq]).toEqual([p.lastBefore, p.ackBefore]);
        r.flash.armPowerCut(k);
        let cut = false;
        try {
          run(booted, p.step);
        } catch (e) {
          if (!(e instanceof PowerCutError)) throw e;
          cut = true;
        }
        expect(cut).toBe(k < p.ops);
        r.flash.restorePower();
        cuts += 1;

        const where = `step ${pi} (${p.step.kind}), cut after ${k} of ${p.ops} flash ops`;
        const rebooted = r.openLog({ capacity: CAPACITY });
        if (p.step.kind === 'append') {
          if (rebooted.lastSeq === p.lastBefore) {
            absent += 1;
            expect(rebooted.headHash, where).toEqual(p.headBefore);
          } else {
            present += 1;
            expect(rebooted.lastSeq, where).toBe(p.lastAfter);
            expect(rebooted.record(p.lastAfter), where).toEqual(p.written); // the whole record, byte for byte
            expect(rebooted.headHash, where).toEqual(p.headAfter);
          }
          expect(rebooted.acknowledgedSeq, where).toBe(p.ackBefore);
        } else {
          expect(rebooted.lastSeq, where).toBe(p.lastBefore);
          expect([p.ackBefore, p.ackAfter], where).toContain(rebooted.acknowledgedSeq);
        }
        if (k === p.ops) expect([rebooted.lastSeq, rebooted.acknowledgedSeq], where).toEqual([p.lastAfter, p.ackAfter]);
        // Nothing held before is lost, except the one slot the uncut append overwrote.
        for (const [seq, bytes] of p.heldBefore) {
          if (seq > rebooted.lastSeq - CAPACITY - 1) expect(rebooted.record(seq), `${where}: record ${seq}`).toEqual(bytes);
        }
        const chain = chainIntact(rebooted);
        expect(chain.ok, `${where}: ${chain.ok ? '' : `${chain.code} at ${chain.atSeq}`}`).toBe(true);
        // Numbering and the chain go on from whatever landed.
        r.world.runFor(US_PER_S);
        const next = rebooted.append(readingAt(1_000));
        if (!next.ok) {
          // Only a full backlog may refuse, and only when the cut kept an acknowledgement from landing.
          expect(next.code, where).toBe('unsynced-full');
          expect(rebooted.unsyncedCount, where).toBe(CAPACITY);
        } else {
          expect(next.value, where).toBe(rebooted.lastSeq);
          expect(chainIntact(rebooted).ok, where).toBe(true);
        }
        // Now and then the whole way downstream: signed checkpoint, certificate, chain.
        if (cuts % 40 === 0) {
          expect(verifyGlpExport(must(rebooted.query({ operator: 'all' })), { rootPublicKey: MANUFACTURER.rootPublicKey, expectedSerial: SERIAL }).ok, where).toBe(true);
        }
      }
    }
    expect(absent).toBeGreaterThan(0);
    expect(present).toBeGreaterThan(0);
    expect(cuts).toBeGreaterThan(800);
  });
});
