import { describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../../../src/events/record.ts';
import type { UserSnapshot } from '../../../src/store/store.ts';
import { OVER_LIMITS, userKey } from '../../../src/mapping/identify-plan.ts';
import type { UserUpdate } from '../../../src/mapping/ops.ts';
import { mapRecord } from '../../../src/mapping/map-record.ts';
import type { MapResult, PersonIdentifiers } from '../../../src/mapping/ops.ts';
import { T_SECONDS, record, streamSync } from '../../helpers/mapping.ts';
import { eventUlid } from '../../../src/mapping/ulid.ts';

const SEQ = 10;

const segmentIdentify = (overrides: Partial<CanonicalRecord> = {}) =>
  record({ kind: 'identify', origin: 'segment', user_id: 'u1', anonymous_id: 'anon-1', ...overrides });
const amplitudeIdentify = (overrides: Partial<CanonicalRecord> = {}) =>
  record({
    kind: 'identify',
    origin: 'amplitude',
    event_type: '$identify',
    user_id: 'u1',
    anonymous_id: 'dev-1',
    ...overrides,
  });

const USERS_ON = { users: { send: true, properties: ['plan', 'seats'] } };

/** The snapshot of a user Customer.io is in step with. */
const inStep = (attributes: Record<string, unknown>, seq = 5): UserSnapshot => ({
  attributes,
  state: attributes,
  seq,
});

function map(
  rec: CanonicalRecord,
  sync: Record<string, unknown>,
  snapshot?: UserSnapshot,
  identifiers: PersonIdentifiers = { id: 'u1' },
  seq = SEQ,
): MapResult {
  const snapshots = new Map(snapshot === undefined ? [] : [[userKey(identifiers), snapshot]]);
  return mapRecord(rec, streamSync(sync), 'web', { seq, snapshots });
}

const user = (
  identifiers: PersonIdentifiers,
  next: UserSnapshot,
  patch: Record<string, unknown>,
  withOp = true,
): UserUpdate => ({ key: userKey(identifiers), next, patch, withOp });

/** A sent identify and the user update it makes, the snapshot's attributes being `sent` + `patch`. */
function identify(
  identifiers: PersonIdentifiers,
  attributes: Record<string, unknown>,
  next: UserSnapshot,
  patch: Record<string, unknown> = attributes,
): MapResult {
  return {
    kind: 'send',
    ops: [{ type: 'person', action: 'identify', identifiers, attributes }],
    user: user(identifiers, next, patch),
  };
}

type Case = {
  name: string;
  rec: CanonicalRecord;
  sync?: Record<string, unknown>;
  snapshot?: UserSnapshot;
  identifiers?: PersonIdentifiers;
  result: MapResult;
};

function run(cases: Case[]) {
  it.each(cases)('$name', ({ rec, sync = USERS_ON, snapshot, identifiers, result }) => {
    expect(map(rec, sync, snapshot, identifiers)).toEqual(result);
  });
}

describe('Segment identify', () => {
  run([
    {
      name: 'users.send off',
      rec: segmentIdentify(),
      sync: {},
      result: { kind: 'filtered', reason: 'users_disabled' },
    },
    {
      name: 'first identify: selected traits plus email / created_at (in seconds) / unsubscribed',
      rec: segmentIdentify({
        user_properties: {
          email: 'ann@example.com',
          plan: 'pro',
          secret: 'x',
          created_at: '2006-01-02T18:04:07Z',
          unsubscribed: true,
        },
      }),
      result: identify(
        { id: 'u1' },
        { email: 'ann@example.com', plan: 'pro', created_at: 1_136_225_047, unsubscribed: true },
        inStep(
          { email: 'ann@example.com', plan: 'pro', created_at: '2006-01-02T18:04:07Z', unsubscribed: true },
          SEQ,
        ),
        { email: 'ann@example.com', plan: 'pro', created_at: '2006-01-02T18:04:07Z', unsubscribed: true },
      ),
    },
    {
      name: 'a userId that is an email identifies by email (one snapshot whatever its case)',
      rec: segmentIdentify({ user_id: 'Ann@Example.com', user_properties: { plan: 'pro' } }),
      identifiers: { email: 'Ann@Example.com' },
      result: {
        kind: 'send',
        ops: [
          {
            type: 'person',
            action: 'identify',
            identifiers: { email: 'Ann@Example.com' },
            attributes: { plan: 'pro' },
          },
        ],
        user: {
          key: 'email:ann@example.com',
          next: inStep({ plan: 'pro' }, SEQ),
          patch: { plan: 'pro' },
          withOp: true,
        },
      },
    },
    {
      name: 'a userId and an email trait: the email goes along with every change, to set both',
      rec: segmentIdentify({ user_properties: { email: 'ann@example.com', plan: 'team' } }),
      snapshot: inStep({ email: 'ann@example.com', plan: 'pro' }),
      result: identify(
        { id: 'u1' },
        { email: 'ann@example.com', plan: 'team' },
        inStep({ email: 'ann@example.com', plan: 'team' }, SEQ),
      ),
    },
    {
      name: 'createdAt in ms becomes created_at in seconds',
      rec: segmentIdentify({ user_properties: { createdAt: 1_136_225_047_000 } }),
      result: identify(
        { id: 'u1' },
        { created_at: 1_136_225_047 },
        inStep({ created_at: 1_136_225_047_000 }, SEQ),
        { created_at: 1_136_225_047_000 },
      ),
    },
    {
      name: 'created_at wins over createdAt; seconds stay seconds',
      rec: segmentIdentify({ user_properties: { createdAt: '2020-01-01', created_at: 1_136_225_047 } }),
      result: identify(
        { id: 'u1' },
        { created_at: 1_136_225_047 },
        inStep({ created_at: 1_136_225_047 }, SEQ),
      ),
    },
    {
      name: 'a created_at that is not a date is passed as it came',
      rec: segmentIdentify({ user_properties: { created_at: 'last tuesday' } }),
      result: identify(
        { id: 'u1' },
        { created_at: 'last tuesday' },
        inStep({ created_at: 'last tuesday' }, SEQ),
      ),
    },
    {
      name: 'by cio_id, the id and email traits go through to change them',
      rec: segmentIdentify({
        user_id: 'cio_a300',
        user_properties: { id: 'new-id', email: 'new@example.com' },
      }),
      identifiers: { cio_id: 'a300' },
      result: identify(
        { cio_id: 'a300' },
        { email: 'new@example.com', id: 'new-id' },
        inStep({ id: 'new-id', email: 'new@example.com' }, SEQ),
      ),
    },
    {
      name: 'an id trait is not sent when identifying by id',
      rec: segmentIdentify({ user_properties: { id: 'other' } }),
      result: identify({ id: 'u1' }, {}, { attributes: {}, state: {}, seq: SEQ }),
    },
    {
      name: 'the first identify without traits still creates the person',
      rec: segmentIdentify(),
      result: identify({ id: 'u1' }, {}, { attributes: {}, state: {}, seq: SEQ }),
    },
    {
      name: 'the same traits again: no request',
      rec: segmentIdentify({ user_properties: { email: 'ann@example.com', plan: 'pro', secret: 'changed' } }),
      snapshot: inStep({ email: 'ann@example.com', plan: 'pro' }),
      result: { kind: 'filtered', reason: 'user_unchanged' },
    },
    {
      name: 'an identify without traits of a known user: no request',
      rec: segmentIdentify(),
      snapshot: inStep({ plan: 'pro' }),
      result: { kind: 'filtered', reason: 'user_unchanged' },
    },
    {
      name: 'a null trait removes the attribute (null removes it at Customer.io)',
      rec: segmentIdentify({ user_properties: { plan: null, seats: 3 } }),
      snapshot: inStep({ plan: 'pro', seats: 3 }),
      result: identify({ id: 'u1' }, { plan: null }, inStep({ seats: 3 }, SEQ)),
    },
    {
      name: 'unsubscribed: true unsubscribes',
      rec: segmentIdentify({ user_properties: { unsubscribed: true } }),
      snapshot: inStep({ plan: 'pro' }),
      result: identify(
        { id: 'u1' },
        { unsubscribed: true },
        inStep({ plan: 'pro', unsubscribed: true }, SEQ),
        {
          unsubscribed: true,
        },
      ),
    },
    {
      name: 'an Engage audience trait passes unselected, as its snake_cased boolean',
      rec: segmentIdentify({
        user_properties: { order_completed_last_30days: false, other_audience: true },
        context: {
          personas: { computation_class: 'audience', computation_key: 'order_completed_last_30days' },
        },
      }),
      snapshot: inStep({ order_completed_last_30days: true }),
      result: identify(
        { id: 'u1' },
        { order_completed_last_30days: false },
        inStep({ order_completed_last_30days: false }, SEQ),
      ),
    },
    {
      name: 'anonymous sync: anonymous_id is set so Customer.io can attach earlier anonymous events',
      rec: segmentIdentify({ user_properties: { plan: 'pro' } }),
      sync: { ...USERS_ON, anonymous: true },
      result: identify(
        { id: 'u1' },
        { plan: 'pro', anonymous_id: 'anon-1' },
        inStep({ plan: 'pro', anonymous_id: 'anon-1' }, SEQ),
      ),
    },
    {
      name: 'an anonymous_id identifier is an ordinary id',
      rec: segmentIdentify({ user_id: undefined, user_properties: { plan: 'pro' } }),
      sync: { ...USERS_ON, identifier: 'anonymous_id' },
      identifiers: { id: 'anon-1' },
      result: identify({ id: 'anon-1' }, { plan: 'pro' }, inStep({ plan: 'pro' }, SEQ)),
    },
    {
      name: 'no identifier (anonymous_id cannot identify)',
      rec: segmentIdentify({ user_id: undefined, user_properties: { plan: 'pro' } }),
      sync: { ...USERS_ON, anonymous: true },
      result: { kind: 'filtered', reason: 'no_identifier' },
    },
    {
      name: 'identifier over 150 bytes',
      rec: segmentIdentify({ user_id: 'u'.repeat(151) }),
      result: {
        kind: 'dead_letter',
        reason: 'identifier_too_long',
        detail: 'identifier is 151 bytes, limit 150',
      },
    },
    {
      name: 'a Segment track with context.traits identifies nobody',
      rec: record({
        kind: 'track',
        origin: 'segment',
        event_type: 'Paid',
        user_id: 'u1',
        user_properties: { plan: 'pro' },
      }),
      sync: { ...USERS_ON, events: { send: false } },
      result: { kind: 'filtered', reason: 'events_disabled' },
    },
  ]);
});

describe('Amplitude identify: operations against the snapshot', () => {
  run([
    {
      name: '$set and $setOnce of selected properties only; unselected operations ignored',
      rec: amplitudeIdentify({
        user_properties: {
          $set: { plan: 'pro', email: 'a@b.co' },
          $setOnce: { seats: 3 },
          $add: { logins: 1 },
        },
      }),
      result: identify({ id: 'u1' }, { plan: 'pro', seats: 3 }, inStep({ plan: 'pro', seats: 3 }, SEQ)),
    },
    {
      name: '$setOnce after a value exists: no request',
      rec: amplitudeIdentify({ user_properties: { $setOnce: { plan: 'team' } } }),
      snapshot: inStep({ plan: 'pro' }),
      result: { kind: 'filtered', reason: 'user_unchanged' },
    },
    {
      name: 'only an unselected property changes: no request',
      rec: amplitudeIdentify({ user_properties: { $set: { email: 'new@b.co' }, $add: { logins: 1 } } }),
      snapshot: inStep({ plan: 'pro' }),
      result: { kind: 'filtered', reason: 'user_unchanged' },
    },
    {
      name: '$add sends the absolute value',
      rec: amplitudeIdentify({ user_properties: { $add: { seats: 2 } } }),
      snapshot: inStep({ seats: 3 }),
      result: identify({ id: 'u1' }, { seats: 5 }, inStep({ seats: 5 }, SEQ)),
    },
    {
      name: '$unset sends null, which removes the attribute',
      rec: amplitudeIdentify({ user_properties: { $unset: { plan: '-' } } }),
      snapshot: inStep({ plan: 'pro', seats: 3 }),
      result: identify({ id: 'u1' }, { plan: null }, inStep({ seats: 3 }, SEQ)),
    },
    {
      name: '$unset of a property never sent: no request',
      rec: amplitudeIdentify({ user_properties: { $unset: { plan: '-' } } }),
      snapshot: inStep({ seats: 3 }),
      result: { kind: 'filtered', reason: 'user_unchanged' },
    },
    {
      name: '$clearAll removes every selected attribute Customer.io has',
      rec: amplitudeIdentify({ user_properties: { $clearAll: '-' } }),
      snapshot: inStep({ plan: 'pro', seats: 3 }),
      result: identify({ id: 'u1' }, { plan: null, seats: null }, inStep({}, SEQ)),
    },
    {
      name: 'arrays: $append and $remove send the whole list',
      rec: amplitudeIdentify({ user_properties: { $append: { plan: ['b', 'c'] }, $remove: { plan: 'a' } } }),
      snapshot: inStep({ plan: ['a'] }),
      result: identify({ id: 'u1' }, { plan: ['b', 'c'] }, inStep({ plan: ['b', 'c'] }, SEQ)),
    },
    {
      name: 'nothing selected',
      rec: amplitudeIdentify({ user_properties: { $set: { email: 'a@b.co' } } }),
      sync: { users: { send: true } },
      result: { kind: 'filtered', reason: 'no_selected_properties' },
    },
    {
      name: 'a first identify with no selected property: no request, no person',
      rec: amplitudeIdentify({ user_properties: { $set: { email: 'a@b.co' } } }),
      result: { kind: 'filtered', reason: 'user_unchanged' },
    },
    {
      name: 'stringify: values as strings, except created_at (seconds) and removals (null)',
      rec: amplitudeIdentify({
        user_properties: {
          $set: { seats: 3, beta: true, tags: ['a'], created_at: '2006-01-02T18:04:07Z', plan: 'pro' },
          $unset: { gone: '-' },
        },
      }),
      sync: { users: { send: true, properties: '*', stringify: true } },
      snapshot: inStep({ gone: 1 }),
      result: identify(
        { id: 'u1' },
        { seats: '3', beta: 'true', tags: '["a"]', created_at: 1_136_225_047, plan: 'pro', gone: null },
        inStep({ seats: 3, beta: true, tags: ['a'], created_at: '2006-01-02T18:04:07Z', plan: 'pro' }, SEQ),
        { seats: 3, beta: true, tags: ['a'], created_at: '2006-01-02T18:04:07Z', plan: 'pro', gone: null },
      ),
    },
    {
      name: 'identifier from a $set user property',
      rec: amplitudeIdentify({ user_properties: { $set: { email: 'a@b.co', plan: 'pro' } } }),
      sync: { ...USERS_ON, identifier: 'user_properties.email' },
      identifiers: { email: 'a@b.co' },
      result: identify({ email: 'a@b.co' }, { plan: 'pro' }, inStep({ plan: 'pro' }, SEQ)),
    },
  ]);
});

describe('a record the snapshot already holds (retried delivery, replay, redrive)', () => {
  run([
    {
      name: 'in step: nothing is applied twice, nothing sent',
      rec: amplitudeIdentify({ user_properties: { $add: { seats: 1 } } }),
      snapshot: inStep({ seats: 4 }, SEQ),
      result: { kind: 'filtered', reason: 'user_unchanged' },
    },
    {
      name: 'behind (a rejected identify): what Customer.io lacks is sent, nothing applied again',
      rec: amplitudeIdentify({ user_properties: { $add: { seats: 1 } } }),
      snapshot: { attributes: { seats: 3, plan: 'pro' }, state: { seats: 4, plan: 'pro' }, seq: 12 },
      result: identify({ id: 'u1' }, { seats: 4 }, inStep({ seats: 4, plan: 'pro' }, 12)),
    },
  ]);

  it('a later record applies on the state, and sends what was rejected before too', () => {
    const rec = amplitudeIdentify({ user_properties: { $add: { seats: 1 } } });
    const snapshot = { attributes: { seats: 3, plan: 'free' }, state: { seats: 4, plan: 'pro' }, seq: 7 };
    expect(map(rec, USERS_ON, snapshot)).toEqual(
      identify({ id: 'u1' }, { seats: 5, plan: 'pro' }, inStep({ seats: 5, plan: 'pro' }, SEQ)),
    );
  });
});

describe('Amplitude events with user_properties (HTTP V2)', () => {
  const purchase = (overrides: Partial<CanonicalRecord> = {}) =>
    record({
      kind: 'track',
      origin: 'amplitude',
      event_type: 'Purchase',
      user_id: 'u1',
      insert_id: 'ins-1',
      user_properties: { plan: 'pro', $add: { seats: 5 } },
      ...overrides,
    });
  const event = {
    type: 'person',
    action: 'event',
    identifiers: { id: 'u1' },
    name: 'Purchase',
    id: eventUlid(record().time, 'web\u0000ins-1'),
    timestamp: T_SECONDS,
    attributes: {},
  };

  run([
    {
      name: 'an identify of the plain properties, then the event (operations are for $identify only)',
      rec: purchase(),
      result: {
        kind: 'send',
        ops: [
          { type: 'person', action: 'identify', identifiers: { id: 'u1' }, attributes: { plan: 'pro' } },
          event,
        ],
        user: user({ id: 'u1' }, inStep({ plan: 'pro' }, SEQ), { plan: 'pro' }),
      } as MapResult,
    },
    {
      name: 'unchanged properties: the event alone',
      rec: purchase(),
      snapshot: inStep({ plan: 'pro' }),
      result: { kind: 'send', ops: [event] } as MapResult,
    },
    {
      name: 'users.send off: the event alone',
      rec: purchase(),
      sync: {},
      result: { kind: 'send', ops: [event] } as MapResult,
    },
    {
      name: 'the identify goes even when the event is filtered',
      rec: purchase(),
      sync: { ...USERS_ON, events: { filter: { excludeEventTypes: ['Purchase'] } } },
      result: identify({ id: 'u1' }, { plan: 'pro' }, inStep({ plan: 'pro' }, SEQ)),
    },
    {
      name: 'a filtered event with unchanged properties counts under the event reason',
      rec: purchase(),
      sync: { ...USERS_ON, events: { send: false } },
      snapshot: inStep({ plan: 'pro' }),
      result: { kind: 'filtered', reason: 'events_disabled' },
    },
    {
      name: 'a dead-lettered event still lets the identify go',
      rec: purchase({ time: -1 }),
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'identify', identifiers: { id: 'u1' }, attributes: { plan: 'pro' } }],
        deadLetters: [{ reason: 'invalid_time', detail: 'time must be epoch milliseconds, got -1' }],
        user: user({ id: 'u1' }, inStep({ plan: 'pro' }, SEQ), { plan: 'pro' }),
      },
    },
  ]);
});

describe("Customer.io's person limits", () => {
  const sync = { users: { send: true, properties: '*' } };

  it('a value over 1000 bytes is left out and reported once; the rest is sent', () => {
    const rec = segmentIdentify({ user_properties: { plan: 'pro', bio: 'b'.repeat(1001) } });
    const first = map(rec, sync, inStep({}));
    expect(first).toEqual({
      kind: 'send',
      ops: [{ type: 'person', action: 'identify', identifiers: { id: 'u1' }, attributes: { plan: 'pro' } }],
      deadLetters: [{ reason: OVER_LIMITS, detail: "not sent: value of 'bio' is 1001 bytes (limit 1000)" }],
      // The oversized value is recorded as handled: a later update does not report it again.
      user: user({ id: 'u1' }, inStep({ plan: 'pro', bio: 'b'.repeat(1001) }, SEQ), {
        plan: 'pro',
        bio: 'b'.repeat(1001),
      }),
    });
    const next = map(
      segmentIdentify({ user_properties: { plan: 'team', bio: 'b'.repeat(1001) } }),
      sync,
      first.user!.next,
      undefined,
      SEQ + 1,
    );
    expect(next).toMatchObject({ kind: 'send', ops: [{ attributes: { plan: 'team' } }] });
    expect(next).not.toHaveProperty('deadLetters');
  });

  it('a stringified value is measured as sent', () => {
    const tags = Array.from({ length: 200 }, (_, i) => `t${i}`);
    const result = map(amplitudeIdentify({ user_properties: { $set: { tags } } }), {
      users: { send: true, properties: '*', stringify: true },
    });
    expect(result).toMatchObject({
      kind: 'dead_letter',
      reason: OVER_LIMITS,
      detail: `not sent: value of 'tags' is ${JSON.stringify(tags).length} bytes (limit 1000)`,
      user: { next: { attributes: { tags }, state: { tags } }, withOp: false },
    });
  });

  it('a name over 150 bytes is left out', () => {
    const long = 'n'.repeat(151);
    expect(map(segmentIdentify({ user_properties: { [long]: 1, ok: 2 } }), sync)).toMatchObject({
      kind: 'send',
      ops: [{ attributes: { ok: 2 } }],
      deadLetters: [
        { reason: OVER_LIMITS, detail: `not sent: name '${'n'.repeat(40)}…' is 151 bytes (limit 150)` },
      ],
    });
  });

  it('past 300 attributes the rest waits for the next update, which sends it', () => {
    const traits = Object.fromEntries(Array.from({ length: 302 }, (_, i) => [`a${i}`, i]));
    const first = map(
      segmentIdentify({ user_properties: { email: 'ann@example.com', ...traits } }),
      sync,
      inStep({}),
    );
    if (first.kind !== 'send') throw new Error('expected a send');
    const sent = (first.ops[0] as { attributes: Record<string, unknown> }).attributes;
    expect({ count: Object.keys(sent).length, email: sent.email, last: sent.a298, left: sent.a299 }).toEqual({
      count: 300,
      email: 'ann@example.com',
      last: 298,
      left: undefined,
    });
    expect(first.deadLetters).toEqual([
      {
        reason: OVER_LIMITS,
        detail: "not sent: 3 over the 300 attributes of one call: 'a299', 'a300', 'a301'",
      },
    ]);
    expect(Object.keys(first.user!.next.attributes)).toHaveLength(300);

    const later = map(
      segmentIdentify({ user_properties: { a0: 'changed' } }),
      sync,
      first.user!.next,
      undefined,
      SEQ + 1,
    );
    expect(later).toMatchObject({
      kind: 'send',
      ops: [{ attributes: { a0: 'changed', a299: 299, a300: 300, a301: 301 } }],
    });
  });

  it('an operation over 32 KB drops its last attributes until it fits', () => {
    const traits = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, 'x'.repeat(990)]));
    const result = map(segmentIdentify({ user_properties: traits }), sync, inStep({}));
    if (result.kind !== 'send') throw new Error('expected a send');
    const sent = Object.keys((result.ops[0] as { attributes: object }).attributes);
    expect(Buffer.byteLength(JSON.stringify(result.ops[0]))).toBeLessThanOrEqual(32_000);
    expect(sent).toEqual(Object.keys(traits).slice(0, sent.length));
    expect(result.deadLetters?.[0]?.detail).toBe(
      `not sent: ${40 - sent.length} past the 32000 bytes of one operation: ${Object.keys(traits)
        .slice(sent.length)
        .map((k) => `'${k}'`)
        .join(', ')}`,
    );
  });
});

describe('history (a backfill) never rolls a person back', () => {
  const T = 1_700_000_000_000;
  const historical = (plan: string, time: number) =>
    amplitudeIdentify({ user_properties: { plan }, time, historical: true });
  const opsOf = (result: MapResult) => (result.kind === 'send' ? result.ops : []);

  it('sends history to a user the sync has not seen, timed, and marks the snapshot as history', () => {
    const result = map(historical('free', T), USERS_ON);
    expect(opsOf(result)).toEqual([
      {
        type: 'person',
        action: 'identify',
        identifiers: { id: 'u1' },
        attributes: { plan: 'free' },
        timestamp: Math.floor(T / 1000),
      },
    ]);
    expect(result.kind === 'send' && result.user?.next.historyTime).toBe(T);
  });

  it('applies newer history over older history, and never older over newer', () => {
    const fromHistory: UserSnapshot = { ...inStep({ plan: 'free' }), historyTime: T };
    expect(opsOf(map(historical('pro', T + 1000), USERS_ON, fromHistory))).toHaveLength(1);
    expect(map(historical('trial', T - 1000), USERS_ON, fromHistory)).toMatchObject({
      kind: 'filtered',
      reason: 'history_older_than_present',
    });
  });

  it('leaves a user alone once live traffic was applied, and live traffic clears the mark', () => {
    expect(map(historical('free', T + 10_000), USERS_ON, inStep({ plan: 'pro' }))).toMatchObject({
      kind: 'filtered',
      reason: 'history_older_than_present',
    });
    const fromHistory: UserSnapshot = { ...inStep({ plan: 'free' }), historyTime: T };
    const live = map(amplitudeIdentify({ user_properties: { plan: 'pro' } }), USERS_ON, fromHistory);
    expect(opsOf(live)[0]).not.toHaveProperty('timestamp');
    expect(live.kind === 'send' && live.user?.next).not.toHaveProperty('historyTime');
  });
});
