import { describe, expect, it } from 'vitest';

import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { mapRecord } from './map-record.ts';
import type { CioBatchOp } from './ops.ts';
import { planBatch } from './plan-batch.ts';
import { record, streamSync } from './testing.ts';

const sync = streamSync({ events: { properties: { event: '*' } } });

function logged(seq: number, overrides: Partial<CanonicalRecord> = {}): LoggedRecord {
  return {
    seq,
    sourceId: 'web',
    receivedAt: 0,
    record: record({
      kind: 'track',
      event_type: 'Purchase',
      user_id: 'u1',
      insert_id: `msg-${seq}`,
      ...overrides,
    }),
  };
}

/** The single operation mapRecord makes of a logged record (as planBatch will). */
function opOf(l: LoggedRecord): CioBatchOp {
  const result = mapRecord(l.record, sync, l.sourceId);
  if (result.kind !== 'send' || result.ops[0] === undefined) throw new Error('expected an op');
  return result.ops[0];
}

/** Serialized size of the request body these ops would make. */
const bodyBytes = (ops: CioBatchOp[]) => Buffer.byteLength(JSON.stringify({ batch: ops }));

describe('planBatch', () => {
  const a = logged(11, { event_properties: { note: 'é'.repeat(50) } });
  const b = logged(12);
  const c = logged(13);
  const fits2 = bodyBytes([opOf(a), opOf(b)]);

  it.each([
    { name: 'room for all three', maxBytes: bodyBytes([opOf(a), opOf(b), opOf(c)]), included: [a, b, c] },
    { name: 'exactly two ops fill the body', maxBytes: fits2, included: [a, b] },
    { name: 'one byte short of two (UTF-8 bytes, not characters)', maxBytes: fits2 - 1, included: [a] },
    { name: 'one byte more than two', maxBytes: fits2 + 1, included: [a, b] },
  ])('$name', ({ maxBytes, included }) => {
    const plan = planBatch([a, b, c], sync, maxBytes);
    expect(plan).toEqual({
      ops: included.map((l) => ({ seq: l.seq, op: opOf(l) })),
      filtered: {},
      deadLetters: [],
      lastSeq: included.at(-1)?.seq,
    });
    expect(bodyBytes(plan.ops.map((o) => o.op))).toBeLessThanOrEqual(maxBytes);
  });

  it('counts filtered records, keeps dead letters, and advances over both', () => {
    const anonymous = logged(2, { user_id: undefined });
    const tooLong = logged(3, { user_id: 'u'.repeat(151) });
    const identify = logged(4, { kind: 'identify' });
    const ok = logged(5);
    const anonymous2 = logged(6, { user_id: undefined });
    expect(planBatch([anonymous, tooLong, identify, ok, anonymous2], sync)).toEqual({
      ops: [{ seq: 5, op: opOf(ok) }],
      filtered: { no_identifier: 2, users_disabled: 1 },
      deadLetters: [
        {
          seq: 3,
          record: tooLong.record,
          reason: 'identifier_too_long',
          detail: 'identifier is 151 bytes, limit 150',
        },
      ],
      lastSeq: 6,
    });
  });

  it('stops at the first record that does not fit: later ones, even filtered, wait for the next batch', () => {
    const filteredAfter = logged(14, { user_id: undefined });
    const plan = planBatch([a, b, c, filteredAfter], sync, fits2);
    expect(plan).toEqual({
      ops: [
        { seq: 11, op: opOf(a) },
        { seq: 12, op: opOf(b) },
      ],
      filtered: {},
      deadLetters: [],
      lastSeq: 12,
    });
  });

  it('dead-letters a record too big for even an empty batch, so the sync moves on', () => {
    const small = bodyBytes([opOf(b)]);
    const big = logged(20, { event_properties: { blob: 'x'.repeat(200) } });
    const bigBytes = Buffer.byteLength(JSON.stringify(opOf(big)));
    expect(planBatch([big, b], sync, small)).toEqual({
      ops: [{ seq: 12, op: opOf(b) }],
      filtered: {},
      deadLetters: [
        {
          seq: 20,
          record: big.record,
          reason: 'exceeds_batch_size',
          detail: `operations are ${bigBytes} bytes serialized, a batch holds ${small - '{"batch":[]}'.length}`,
        },
      ],
      lastSeq: 12,
    });
  });

  it('uses a 500,000-byte body by default', () => {
    const records = Array.from({ length: 40 }, (_, i) =>
      logged(i + 1, { event_properties: { blob: 'x'.repeat(20_000) } }),
    );
    const plan = planBatch(records, sync);
    const bytes = bodyBytes(plan.ops.map((o) => o.op));
    const next = records[plan.ops.length];
    expect({
      included: plan.ops.length,
      lastSeq: plan.lastSeq,
      fits: bytes <= 500_000,
      nextWouldNotFit:
        next !== undefined && bytes + 1 + Buffer.byteLength(JSON.stringify(opOf(next))) > 500_000,
    }).toEqual({ included: 24, lastSeq: 24, fits: true, nextWouldNotFit: true });
  });

  it('refuses an empty input rather than invent a cursor', () => {
    expect(() => planBatch([], sync)).toThrow(RangeError);
  });
});
