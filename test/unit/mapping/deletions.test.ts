import { describe, expect, it } from 'vitest';

import type { CanonicalRecord, LoggedRecord } from '../../../src/events/record.ts';
import { personKeysOf } from '../../../src/mapping/deletions.ts';
import { mapRecord } from '../../../src/mapping/map-record.ts';
import type { MapResult, PersonIdentifiers } from '../../../src/mapping/ops.ts';
import { planBatch, settleUserSnapshots } from '../../../src/mapping/plan-batch.ts';
import { T, record, streamSync } from '../../helpers/mapping.ts';

const track = (event_type: string, overrides: Partial<CanonicalRecord> = {}) =>
  record({ kind: 'track', event_type, user_id: 'u1', insert_id: 'msg-1', ...overrides });

const amplitudeDeletion = (user_id: string | undefined, overrides: Partial<CanonicalRecord> = {}) =>
  record({
    kind: 'user_deletion',
    origin: 'amplitude',
    ...(user_id === undefined ? {} : { user_id }),
    event_properties: { requester: 'dpo@example.com' },
    context: { api: 'user_privacy' },
    ...overrides,
  });

type Case = { name: string; rec: CanonicalRecord; sync?: Record<string, unknown>; result: MapResult };

function run(cases: Case[]) {
  it.each(cases)('$name', ({ rec, sync, result }) => {
    expect(mapRecord(rec, streamSync(sync), 'web')).toEqual(result);
  });
}

const person = (key: string, identifiers: PersonIdentifiers) => ({ key, identifiers });

describe('Segment semantic events', () => {
  run([
    {
      name: 'User Deleted → person delete by id',
      rec: track('User Deleted'),
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'delete', identifiers: { id: 'u1' } }],
        deletion: { kind: 'person_delete', person: person('id:u1', { id: 'u1' }) },
      },
    },
    {
      name: 'User Suppressed → suppress, an email-shaped id as email',
      rec: track('User Suppressed', { user_id: 'Ann@Example.com' }),
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'suppress', identifiers: { email: 'Ann@Example.com' } }],
        deletion: {
          kind: 'person_suppress',
          person: person('email:ann@example.com', { email: 'Ann@Example.com' }),
        },
      },
    },
    {
      name: 'User Unsuppressed → unsuppress, a cio_ id as the bare cio_id',
      rec: track('User Unsuppressed', { user_id: 'cio_a3000001' }),
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'unsuppress', identifiers: { cio_id: 'a3000001' } }],
        deletion: { kind: 'person_unsuppress', person: person('cio_id:a3000001', { cio_id: 'a3000001' }) },
      },
    },
    {
      name: "the person comes from the sync's identifier rule",
      rec: track('User Deleted', { user_properties: { email: 'bo@example.com' } }),
      sync: { identifier: 'user_properties.email' },
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'delete', identifiers: { email: 'bo@example.com' } }],
        deletion: {
          kind: 'person_delete',
          person: person('email:bo@example.com', { email: 'bo@example.com' }),
        },
      },
    },
    {
      name: 'Object Deleted → object delete with objectId and the object type id (default "1")',
      rec: track('Object Deleted', { event_properties: { objectId: 'acme' } }),
      result: {
        kind: 'send',
        ops: [{ type: 'object', action: 'delete', identifiers: { object_type_id: '1', object_id: 'acme' } }],
        deletion: { kind: 'object_delete' },
      },
    },
    {
      name: 'Object Deleted with objectTypeId, and without a person',
      rec: track('Object Deleted', {
        user_id: undefined,
        event_properties: { objectId: 7, objectTypeId: 2 },
      }),
      result: {
        kind: 'send',
        ops: [{ type: 'object', action: 'delete', identifiers: { object_type_id: '2', object_id: '7' } }],
        deletion: { kind: 'object_delete' },
      },
    },
    {
      name: 'Relationship Deleted → delete_relationships between the object and the person',
      rec: track('Relationship Deleted', { event_properties: { objectId: 'acme', object_type_id: '3' } }),
      result: {
        kind: 'send',
        ops: [
          {
            type: 'object',
            action: 'delete_relationships',
            identifiers: { object_type_id: '3', object_id: 'acme' },
            cio_relationships: [{ identifiers: { id: 'u1' } }],
          },
        ],
        deletion: { kind: 'relationship_delete', person: person('id:u1', { id: 'u1' }) },
      },
    },
    {
      name: 'a group call with the relationship-delete action → delete_relationships for the group',
      rec: record({
        kind: 'group',
        user_id: 'u1',
        group_id: 'acme',
        group_properties: { action: 'delete_relationships', objectTypeId: '2', name: 'Acme' },
      }),
      result: {
        kind: 'send',
        ops: [
          {
            type: 'object',
            action: 'delete_relationships',
            identifiers: { object_type_id: '2', object_id: 'acme' },
            cio_relationships: [{ identifiers: { id: 'u1' } }],
          },
        ],
        deletion: { kind: 'relationship_delete', person: person('id:u1', { id: 'u1' }) },
      },
    },
    {
      name: 'names are configurable per sync',
      rec: track('Account Erased'),
      sync: { events: { semantic: { userDeleted: ['Account Erased'] } } },
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'delete', identifiers: { id: 'u1' } }],
        deletion: { kind: 'person_delete', person: person('id:u1', { id: 'u1' }) },
      },
    },
    {
      name: 'event filters do not apply: a deletion is not an event',
      rec: track('User Deleted'),
      sync: { events: { send: false, filter: { eventTypes: ['Signed Up'] } } },
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'delete', identifiers: { id: 'u1' } }],
        deletion: { kind: 'person_delete', person: person('id:u1', { id: 'u1' }) },
      },
    },
    {
      name: 'with semantic events off, User Deleted is an ordinary event',
      rec: track('User Deleted'),
      sync: { events: { semantic: { send: false } } },
      result: expect.objectContaining({
        kind: 'send',
        ops: [expect.objectContaining({ action: 'event', name: 'User Deleted' })],
      }) as MapResult,
    },
    {
      name: 'an Amplitude event named User Deleted is an ordinary event (the names are Segment semantics)',
      rec: track('User Deleted', { origin: 'amplitude' }),
      result: expect.objectContaining({
        ops: [expect.objectContaining({ action: 'event', name: 'User Deleted' })],
      }) as MapResult,
    },
    {
      name: 'a deletion without the identifier is dead-lettered, not filtered',
      rec: track('User Deleted', { user_id: undefined, anonymous_id: 'anon-1' }),
      sync: { anonymous: true },
      result: {
        kind: 'dead_letter',
        reason: 'deletion_without_identifier',
        detail: "the record has no user_id, the sync's identifier, to name the person by",
      },
    },
    {
      name: 'an object delete without objectId is dead-lettered',
      rec: track('Object Deleted'),
      result: {
        kind: 'dead_letter',
        reason: 'missing_object_id',
        detail: 'an object delete needs properties.objectId',
      },
    },
    {
      name: 'an identifier over 150 bytes is dead-lettered as for every person call',
      rec: track('User Suppressed', { user_id: 'x'.repeat(151) }),
      result: expect.objectContaining({ kind: 'dead_letter', reason: 'identifier_too_long' }) as MapResult,
    },
  ]);
});

describe('Amplitude deletions', () => {
  run([
    {
      name: "a deletion record → person delete by the sync's identifier rule",
      rec: amplitudeDeletion('user-42'),
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'delete', identifiers: { id: 'user-42' } }],
        deletion: { kind: 'person_delete', person: person('id:user-42', { id: 'user-42' }) },
      },
    },
    {
      name: 'users.deletions: false filters them',
      rec: amplitudeDeletion('user-42'),
      sync: { users: { deletions: false } },
      result: { kind: 'filtered', reason: 'deletions_disabled' },
    },
    {
      name: 'an identifier rule the deletion cannot satisfy dead-letters it',
      rec: amplitudeDeletion('user-42'),
      sync: { identifier: 'user_properties.email' },
      result: {
        kind: 'dead_letter',
        reason: 'deletion_without_identifier',
        detail: "the record has no user_properties.email, the sync's identifier, to name the person by",
      },
    },
  ]);
});

describe('suppressed people', () => {
  const suppressed = new Set(['id:u1']);
  const users = { seq: 5, snapshots: new Map(), suppressed };
  const sync = streamSync({ users: { send: true, properties: '*' } });

  it.each([
    ['an event', track('Purchase')],
    ['an identify', record({ kind: 'identify', user_id: 'u1', user_properties: { plan: 'pro' } })],
    ['a device', track('Application Opened', { context: { device: { token: 't', type: 'ios' } } })],
    ['a delete or a second suppress', track('User Deleted')],
    ['a merge naming them on either side', record({ kind: 'alias', user_id: 'u2', previous_id: 'u1' })],
    ['an Amplitude deletion', amplitudeDeletion('u1')],
  ])('hold back %s with reason suppressed', (_name, rec) => {
    expect(mapRecord(rec, sync, 'web', users)).toEqual({ kind: 'filtered', reason: 'suppressed' });
  });

  it('let an unsuppress, object deletes and other people through', () => {
    expect(mapRecord(track('User Unsuppressed'), sync, 'web', users)).toMatchObject({
      kind: 'send',
      ops: [{ action: 'unsuppress' }],
    });
    expect(
      mapRecord(track('Object Deleted', { event_properties: { objectId: 'o' } }), sync, 'web', users),
    ).toMatchObject({ kind: 'send', ops: [{ type: 'object', action: 'delete' }] });
    expect(mapRecord(track('Purchase', { user_id: 'u2' }), sync, 'web', users)).toMatchObject({
      kind: 'send',
    });
  });
});

describe('deletions in a batch', () => {
  const sync = streamSync({ users: { send: true, properties: '*' } });
  let seq = 0;
  const logged = (rec: CanonicalRecord): LoggedRecord => ({
    seq: ++seq,
    sourceId: 'web',
    receivedAt: T,
    record: rec,
  });
  const identify = (plan: string) => record({ kind: 'identify', user_id: 'u1', user_properties: { plan } });
  const stored = { attributes: { plan: 'free', seats: 2 }, state: { plan: 'free', seats: 2 }, seq: 0 };

  it('a delete forgets the user: a later identify in the batch starts a new person from scratch', () => {
    const batch = [logged(identify('pro')), logged(track('User Deleted')), logged(identify('team'))];
    const plan = planBatch(batch, sync, undefined, new Map([['id:u1', stored]]));
    expect(plan.ops.map(({ op }) => op)).toEqual([
      { type: 'person', action: 'identify', identifiers: { id: 'u1' }, attributes: { plan: 'pro' } },
      { type: 'person', action: 'delete', identifiers: { id: 'u1' } },
      // Everything the stored snapshot held is gone: only what the new person has is sent.
      { type: 'person', action: 'identify', identifiers: { id: 'u1' }, attributes: { plan: 'team' } },
    ]);
    expect(plan.deletions).toEqual([
      { seq: batch[1]!.seq, effect: { kind: 'person_delete', person: person('id:u1', { id: 'u1' }) } },
    ]);
    // What is written once Customer.io accepted: the new person's snapshot, nothing of the old one.
    expect(settleUserSnapshots(plan.users, new Set(batch.map((l) => l.seq)))).toEqual([
      {
        userKey: 'id:u1',
        snapshot: { attributes: { plan: 'team' }, state: { plan: 'team' }, seq: batch[2]!.seq },
      },
    ]);
  });

  it('a suppress holds the user back until the unsuppress; the next identify creates a fresh person', () => {
    const batch = [
      logged(track('User Suppressed')),
      logged(identify('pro')),
      logged(track('Purchase')),
      logged(track('User Unsuppressed')),
      logged(identify('team')),
    ];
    const plan = planBatch(batch, sync, undefined, new Map([['id:u1', stored]]));
    expect(plan.ops.map(({ op }) => [op.action, 'attributes' in op ? op.attributes : undefined])).toEqual([
      ['suppress', undefined],
      ['unsuppress', undefined],
      ['identify', { plan: 'team' }],
    ]);
    expect(plan.filtered).toEqual({ suppressed: 2 });
    expect(plan.deletions?.map((d) => d.effect.kind)).toEqual(['person_suppress', 'person_unsuppress']);
  });

  it('a user suppressed before the batch stays held back', () => {
    const plan = planBatch([logged(identify('pro'))], sync, undefined, new Map(), new Set(['id:u1']));
    expect(plan.ops).toEqual([]);
    expect(plan.filtered).toEqual({ suppressed: 1 });
  });

  it("personKeysOf names every record's people, both sides of an alias", () => {
    expect(
      personKeysOf(
        [
          logged(track('Purchase')),
          logged(record({ kind: 'alias', user_id: 'a@example.com', previous_id: 'cio_x1' })),
          logged(track('Object Deleted', { user_id: undefined })),
        ],
        sync,
      ),
    ).toEqual(['id:u1', 'email:a@example.com', 'cio_id:x1']);
  });
});
