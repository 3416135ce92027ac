import { describe, expect, it } from 'vitest';

import {
  checkAmplitudeEvents,
  checkAmplitudeGroupIdentifications,
  checkAmplitudeIdentifications,
  countGroupProperties,
  depthOf,
  parseAmplitudeUpload,
  parseIdentification,
  truncateString,
} from '../../../src/events/amplitude.ts';

const ok = { event_type: 'Signed Up', user_id: 'user-1' };

describe('parseAmplitudeUpload', () => {
  it.each([
    ['no api_key', { events: [] }, { error: 'Request missing required field', missingField: 'api_key' }],
    [
      'empty api_key',
      { api_key: '', events: [] },
      { error: 'Request missing required field', missingField: 'api_key' },
    ],
    ['no events', { api_key: 'k' }, { error: 'Request missing required field', missingField: 'events' }],
    ['not an object', [1, 2], { error: 'Request missing required field', missingField: 'api_key' }],
    [
      'events not an array',
      { api_key: 'k', events: {} },
      { error: 'Invalid event JSON: events has the wrong type' },
    ],
  ])('%s → problem', (_name, body, problem) => {
    expect(parseAmplitudeUpload(body)).toEqual({ ok: false, problem });
  });

  it('tolerates the SDK envelope keys and reads min_id_length', () => {
    const body = {
      api_key: 'k',
      events: [ok],
      options: { min_id_length: 3 },
      client_upload_time: '2026-01-01T00:00:00.000Z',
      request_metadata: { sdk: { metrics: { histogram: {} } } },
      something_new: true,
    };
    expect(parseAmplitudeUpload(body)).toEqual({
      ok: true,
      upload: { apiKey: 'k', events: [ok], minIdLength: 3 },
    });
    expect(parseAmplitudeUpload({ api_key: 'k', events: [], options: {} })).toEqual({
      ok: true,
      upload: { apiKey: 'k', events: [], minIdLength: 5 },
    });
  });
});

describe('checkAmplitudeEvents', () => {
  const none = {
    events_with_invalid_fields: {},
    events_with_missing_fields: {},
    events_with_invalid_id_lengths: {},
  };

  it.each([
    [
      'missing event_type',
      [ok, { user_id: 'user-1' }],
      { ...none, error: 'Request missing required field', events_with_missing_fields: { event_type: [1] } },
    ],
    [
      'no id at all',
      [{ event_type: 'x' }],
      {
        ...none,
        error: 'Request missing required field',
        events_with_missing_fields: { user_id: [0], device_id: [0] },
      },
    ],
    [
      'only a short id',
      [ok, { event_type: 'x', user_id: 'abc' }],
      {
        ...none,
        error: 'Invalid id length for user_id or device_id',
        events_with_invalid_id_lengths: { user_id: [1] },
      },
    ],
    [
      'both ids short',
      [{ event_type: 'x', user_id: 'abc', device_id: 'd' }],
      {
        ...none,
        error: 'Invalid id length for user_id or device_id',
        events_with_invalid_id_lengths: { user_id: [0], device_id: [0] },
      },
    ],
    [
      'blocklisted ids, any case',
      [
        { event_type: 'x', user_id: 'Anonymous' },
        { event_type: 'x', user_id: 'user-1', device_id: '00000000-0000-0000-0000-000000000000' },
      ],
      {
        ...none,
        error: 'Invalid field values on some events',
        events_with_invalid_fields: { user_id: [0], device_id: [1] },
      },
    ],
    [
      'time not integer ms',
      [
        { ...ok, time: '2026-01-01T00:00:00Z' },
        { ...ok, time: 1.5 },
        { ...ok, time: -1 },
      ],
      {
        ...none,
        error: 'Invalid field values on some events',
        events_with_invalid_fields: { time: [0, 1, 2] },
      },
    ],
    [
      'wrong types',
      [{ ...ok, event_properties: [1] }, { ...ok, user_id: 12345 }, 'not an event'],
      {
        ...none,
        error: 'Invalid field values on some events',
        events_with_invalid_fields: { event_properties: [0], user_id: [1], event: [2] },
      },
    ],
    [
      'an id over 1024 characters',
      [{ ...ok, user_id: 'u'.repeat(1025) }],
      { ...none, error: 'Invalid field values on some events', events_with_invalid_fields: { user_id: [0] } },
    ],
    [
      'mixed problems',
      [{ user_id: 'user-1' }, { event_type: 'x', user_id: 'ab' }, { ...ok, time: 'now' }],
      {
        error: 'Invalid field values on some events',
        events_with_missing_fields: { event_type: [0] },
        events_with_invalid_id_lengths: { user_id: [1] },
        events_with_invalid_fields: { time: [2] },
      },
    ],
  ])('%s → rejected with indexes', (_name, events, errors) => {
    expect(checkAmplitudeEvents(events, 5)).toEqual({ ok: false, errors });
  });

  it('removes a short id when the other one is valid', () => {
    expect(checkAmplitudeEvents([{ event_type: 'x', user_id: 'abc', device_id: 'device-1' }], 5)).toEqual({
      ok: true,
      items: [{ event_type: 'x', device_id: 'device-1' }],
    });
  });

  it('honours min_id_length', () => {
    expect(checkAmplitudeEvents([{ event_type: 'x', user_id: 'ab' }], 2)).toEqual({
      ok: true,
      items: [{ event_type: 'x', user_id: 'ab' }],
    });
  });

  it('truncates long string values, keeps unknown keys, drops null keys', () => {
    const long = 'é'.repeat(1500);
    const result = checkAmplitudeEvents(
      [{ ...ok, event_properties: { note: long, list: [long] }, city: long, session_id: 7, ip: null }],
      5,
    );
    expect(result).toEqual({
      ok: true,
      items: [
        {
          ...ok,
          event_properties: { note: 'é'.repeat(1024), list: ['é'.repeat(1024)] },
          city: 'é'.repeat(1024),
          session_id: 7,
        },
      ],
    });
  });

  it('rejects values nested deeper than 40 levels', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 41; i++) deep = { a: deep };
    expect(checkAmplitudeEvents([{ ...ok, event_properties: deep }], 5)).toMatchObject({
      ok: false,
      errors: { events_with_invalid_fields: { event_properties: [0] } },
    });
  });
});

describe('Identify API objects', () => {
  it.each([
    ['one object', '{"user_id":"user-1"}', { ok: true, items: [{ user_id: 'user-1' }] }],
    [
      'an array',
      '[{"user_id":"user-1"},{"device_id":"device-1"}]',
      { ok: true, items: [{ user_id: 'user-1' }, { device_id: 'device-1' }] },
    ],
    ['missing', undefined, { ok: false, missing: true }],
    ['empty array', '[]', { ok: false, missing: true }],
    ['not JSON', '{user_id', { ok: false, missing: false }],
    ['a number', '42', { ok: false, missing: false }],
  ])('parseIdentification: %s', (_name, value, expected) => {
    expect(parseIdentification(value)).toEqual(expected);
  });

  it('applies the id rules and forbids mixing operations with plain properties', () => {
    expect(
      checkAmplitudeIdentifications([
        { user_id: 'user-1', user_properties: { $set: { plan: 'pro' } } },
        { user_id: 'user-2', user_properties: { $set: { plan: 'pro' }, age: 3 } },
        { user_properties: { plan: 'pro' } },
      ]),
    ).toEqual({
      ok: false,
      errors: {
        error: 'Invalid field values on some events',
        events_with_invalid_fields: { user_properties: [1] },
        events_with_missing_fields: { user_id: [2], device_id: [2] },
        events_with_invalid_id_lengths: {},
      },
    });
  });

  it('group identify needs group_type and group_value', () => {
    const valid = {
      group_type: 'org',
      group_value: 'Acme',
      group_properties: { $set: { plan: 'pro', seats: 3 } },
    };
    expect(checkAmplitudeGroupIdentifications([valid])).toEqual({ ok: true, items: [valid] });
    expect(
      countGroupProperties([valid, { group_type: 'org', group_value: 'B', group_properties: { x: 1 } }]),
    ).toBe(3);
    expect(
      checkAmplitudeGroupIdentifications([{ group_type: 'org' }, { group_type: 3, group_value: 'x' }]),
    ).toEqual({
      ok: false,
      errors: {
        error: 'Invalid field values on some events',
        events_with_invalid_fields: { group_type: [1] },
        events_with_missing_fields: { group_value: [0] },
        events_with_invalid_id_lengths: {},
      },
    });
  });
});

describe('helpers', () => {
  it('depthOf counts objects and arrays', () => {
    expect([depthOf('x'), depthOf({}), depthOf({ a: [1] }), depthOf([[[]]])]).toEqual([0, 1, 2, 3]);
  });

  it('truncateString cuts at 1024 code points without splitting a surrogate pair', () => {
    const emoji = '😀'.repeat(1100);
    expect([...truncateString(emoji)].length).toBe(1024);
    expect(truncateString('short')).toBe('short');
  });
});
