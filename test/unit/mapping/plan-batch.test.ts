import { describe, expect, it } from 'vitest';

import type { CanonicalRecord, LoggedRecord } from '../../../src/events/record.ts';
import { mapRecord } from '../../../src/mapping/map-record.ts';
import type { CioBatchOp } from '../../../src/mapping/ops.ts';
import { planBatch, settleUserSnapshots, userKeysOf } from '../../../src/mapping/plan-batch.ts';
import { record, streamSync } from '../../helpers/mapping.ts';

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
      users: new Map(),
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
      users: new Map(),
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
      users: new Map(),
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
      users: new Map(),
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

  it('dead-letters a record nothing can walk (3,000 nested arrays) as unprocessable, and goes on', () => {
    let deep: unknown = [];
    for (let i = 0; i < 3000; i++) deep = [deep];
    const records = [logged(1), logged(2, { insert_id: undefined, event_properties: { deep } }), logged(3)];
    const plan = planBatch(records, sync);
    expect(plan.ops.map((o) => o.seq)).toEqual([1, 3]);
    expect(plan.deadLetters).toEqual([
      {
        seq: 2,
        record: records[1]!.record,
        reason: 'unprocessable',
        detail: expect.stringMatching(
          /^RecordLimitError: event_properties\.deep.*: nested deeper than 40 levels$/,
        ),
      },
    ]);
    expect(plan.lastSeq).toBe(3);
    expect(() => userKeysOf(records, streamSync({ users: { send: true } }))).not.toThrow();
  });

  it('isolates a record whose mapping throws, whatever it throws', () => {
    const records = [logged(1), logged(2, { time: Number.NaN }), logged(3, { user_id: 'u2' })];
    const poisoned = { ...records[1]!, record: { ...records[1]!.record } };
    Object.defineProperty(poisoned.record, 'event_properties', {
      enumerable: true,
      get() {
        throw new TypeError('boom');
      },
    });
    const plan = planBatch([records[0]!, poisoned, records[2]!], sync);
    expect(plan.ops.map((o) => o.seq)).toEqual([1, 3]);
    expect(plan.deadLetters.map((d) => [d.seq, d.reason, d.detail])).toEqual([
      [2, 'unprocessable', 'TypeError: boom'],
    ]);
  });

  it('refuses an empty input rather than invent a cursor', () => {
    expect(() => planBatch([], sync)).toThrow(RangeError);
  });
});

describe('planBatch with user snapshots', () => {
  const users = streamSync({ users: { send: true, properties: ['plan', 'logins'] } });
  const amp = (
    seq: number,
    user_properties: Record<string, unknown>,
    overrides: Partial<CanonicalRecord> = {},
  ) =>
    logged(seq, {
      kind: 'identify',
      origin: 'amplitude',
      event_type: '$identify',
      user_properties,
      ...overrides,
    });
  const identifyOf = (attributes: Record<string, unknown>, identifiers: object = { id: 'u1' }) => ({
    type: 'person',
    action: 'identify',
    identifiers,
    attributes,
  });
  const stored = new Map([['id:u1', { attributes: { logins: 1 }, state: { logins: 1 }, seq: 3 }]]);

  it('chains updates of one user in log order, from the stored snapshot; other users apart', () => {
    const plan = planBatch(
      [
        amp(4, { $add: { logins: 1 } }),
        amp(5, { $add: { logins: 1 } }, { user_id: 'u2' }),
        amp(6, { $add: { logins: 1 }, $set: { plan: 'pro' } }),
        amp(7, { $setOnce: { plan: 'team' } }),
        amp(8, { $add: { logins: 1 } }),
      ],
      users,
      undefined,
      stored,
    );
    expect(plan.ops).toEqual([
      { seq: 4, op: identifyOf({ logins: 2 }) },
      { seq: 5, op: identifyOf({ logins: 1 }, { id: 'u2' }) },
      { seq: 6, op: identifyOf({ plan: 'pro', logins: 3 }) },
      { seq: 8, op: identifyOf({ logins: 4 }) },
    ]);
    expect(plan.filtered).toEqual({ user_unchanged: 1 });
    expect(plan.users).toEqual(
      new Map([
        [
          'id:u1',
          {
            base: stored.get('id:u1'),
            next: { attributes: { logins: 4, plan: 'pro' }, state: { logins: 4, plan: 'pro' }, seq: 8 },
            updates: [
              { seq: 4, patch: { logins: 2 }, withOp: true },
              { seq: 6, patch: { plan: 'pro', logins: 3 }, withOp: true },
              { seq: 8, patch: { logins: 4 }, withOp: true },
            ],
          },
        ],
        [
          'id:u2',
          {
            next: { attributes: { logins: 1 }, state: { logins: 1 }, seq: 5 },
            updates: [{ seq: 5, patch: { logins: 1 }, withOp: true }],
          },
        ],
      ]),
    );
  });

  it('a retried batch whose snapshots were already written applies nothing twice', () => {
    const batch = [amp(4, { $add: { logins: 1 } }), amp(5, { $add: { logins: 1 } })];
    const first = planBatch(batch, users, undefined, stored);
    const written = new Map(
      settleUserSnapshots(first.users, new Set([4, 5])).map((e) => [e.userKey, e.snapshot]),
    );
    expect(written.get('id:u1')).toEqual({ attributes: { logins: 3 }, state: { logins: 3 }, seq: 5 });
    const retried = planBatch(batch, users, undefined, written);
    expect({ ops: retried.ops, filtered: retried.filtered, users: retried.users }).toEqual({
      ops: [],
      filtered: { user_unchanged: 2 },
      users: new Map(),
    });
    // Recomputed before the write (a crash between send and write): the same absolute values.
    expect(planBatch(batch, users, undefined, stored).ops).toEqual(first.ops);
  });

  it('a record too big for any batch leaves its user untouched', () => {
    const big = amp(4, { $set: { plan: 'x'.repeat(900) } });
    const plan = planBatch([big], users, 100, stored);
    expect({ ops: plan.ops, letters: plan.deadLetters.map((l) => l.reason), users: plan.users }).toEqual({
      ops: [],
      letters: ['exceeds_batch_size'],
      users: new Map(),
    });
  });

  it('keeps a partial dead letter beside the op of the same record', () => {
    const plan = planBatch(
      [amp(4, { $set: { plan: 'p'.repeat(1001), logins: 7 } })],
      users,
      undefined,
      stored,
    );
    expect({ ops: plan.ops, letters: plan.deadLetters.map((l) => [l.seq, l.reason]) }).toEqual({
      ops: [{ seq: 4, op: identifyOf({ logins: 7 }) }],
      letters: [[4, 'attributes_over_limits']],
    });
  });
});

describe('settleUserSnapshots', () => {
  const base = { attributes: { a: 1, n: 0 }, state: { a: 1, n: 0 }, seq: 1 };
  const planned = new Map([
    [
      'id:u1',
      {
        base,
        next: { attributes: { a: 2, n: 3, b: 'x' }, state: { a: 2, n: 3, b: 'x' }, seq: 7 },
        updates: [
          { seq: 3, patch: { n: 1 }, withOp: true },
          { seq: 5, patch: { a: 2, n: 2 }, withOp: true },
          { seq: 6, patch: { b: 'x' }, withOp: false },
          { seq: 7, patch: { n: 3 }, withOp: true },
        ],
      },
    ],
  ]);

  it('all accepted: the planned snapshot', () => {
    expect(settleUserSnapshots(planned, new Set([3, 5, 7]))).toEqual([
      { userKey: 'id:u1', snapshot: planned.get('id:u1')!.next },
    ]);
  });

  it('one rejected: state and seq move on, attributes take only what was accepted', () => {
    expect(settleUserSnapshots(planned, new Set([3, 7]))).toEqual([
      {
        userKey: 'id:u1',
        snapshot: { attributes: { a: 1, n: 3, b: 'x' }, state: { a: 2, n: 3, b: 'x' }, seq: 7 },
      },
    ]);
  });

  it('nothing accepted (a refused batch) and a user never seen', () => {
    const fresh = new Map([
      [
        'id:u2',
        {
          next: { attributes: { a: 1 }, state: { a: 1 }, seq: 4 },
          updates: [{ seq: 4, patch: { a: 1 }, withOp: true }],
        },
      ],
    ]);
    expect(settleUserSnapshots(fresh, new Set())).toEqual([
      { userKey: 'id:u2', snapshot: { attributes: {}, state: { a: 1 }, seq: 4 } },
    ]);
  });
});

describe('userKeysOf', () => {
  it('names the users whose snapshots a batch needs, once each', () => {
    const sync = streamSync({ users: { send: true, properties: '*' } });
    const records = [
      logged(1, { kind: 'identify', user_id: 'u1' }),
      logged(2, { kind: 'identify', user_id: 'Ann@Example.com' }),
      logged(3, { kind: 'identify', user_id: 'u1' }),
      logged(4, { kind: 'identify', user_id: 'cio_abc' }),
      logged(5, { kind: 'track', origin: 'amplitude', user_id: 'u3', user_properties: { plan: 'pro' } }),
      logged(6, { kind: 'track', origin: 'amplitude', user_id: 'u4' }),
      logged(7, { kind: 'track', origin: 'segment', user_id: 'u5', user_properties: { plan: 'pro' } }),
      logged(8, { kind: 'identify', user_id: undefined }),
      logged(9, { kind: 'identify', user_id: 'u'.repeat(151) }),
    ];
    expect(userKeysOf(records, sync)).toEqual(['id:u1', 'email:ann@example.com', 'cio_id:abc', 'id:u3']);
    expect(userKeysOf(records, streamSync())).toEqual([]);
  });
});
