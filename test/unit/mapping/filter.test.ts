import { describe, expect, it } from 'vitest';

import { EventFilter, type WhereCondition } from '../../../src/config/schema.ts';
import { conditionHolds, filterRecord } from '../../../src/mapping/filter.ts';
import { record } from '../../helpers/mapping.ts';

const rec = record({
  event_type: 'Purchase',
  user_id: 'u1',
  event_properties: {
    plan: 'pro',
    price: 30,
    tags: ['a', 'b'],
    title: 'Hello world',
    nothing: null,
    price_text: '30',
  },
  user_properties: { $set: { country: 'FR' } },
});

function filter(input: Record<string, unknown>): EventFilter {
  return EventFilter.parse(input);
}

describe('filterRecord', () => {
  it.each([
    { name: 'an empty filter passes everything', f: {}, names: 'Purchase', reason: undefined },
    { name: 'listed type', f: { eventTypes: ['Purchase'] }, names: 'Purchase', reason: undefined },
    {
      name: 'unlisted type',
      f: { eventTypes: ['Signed Up'] },
      names: 'Purchase',
      reason: 'event_type_not_included',
    },
    {
      name: 'an empty list includes nothing',
      f: { eventTypes: [] },
      names: 'Purchase',
      reason: 'event_type_not_included',
    },
    {
      name: 'any of several names matches',
      f: { eventTypes: ['[Amplitude] Page Viewed'] },
      names: ['https://x.co/', '[Amplitude] Page Viewed'],
      reason: undefined,
    },
    {
      name: 'excluded',
      f: { excludeEventTypes: ['Purchase'] },
      names: 'Purchase',
      reason: 'event_type_excluded',
    },
    {
      name: 'excluded by another name',
      f: { excludeEventTypes: ['Viewed Home Screen'] },
      names: ['Home', 'Viewed Home Screen'],
      reason: 'event_type_excluded',
    },
    {
      name: 'both listed and excluded',
      f: { eventTypes: ['Purchase'], excludeEventTypes: ['Purchase'] },
      names: 'Purchase',
      reason: 'event_type_excluded',
    },
    {
      name: 'names are case-sensitive',
      f: { eventTypes: ['purchase'] },
      names: 'Purchase',
      reason: 'event_type_not_included',
    },
    { name: 'user id present', f: { requireUserId: true }, names: 'Purchase', reason: undefined },
    {
      name: 'type is checked before conditions',
      f: { eventTypes: ['X'], where: [{ property: 'user_id', op: 'not_exists' }] },
      names: 'Purchase',
      reason: 'event_type_not_included',
    },
    {
      name: 'first failing condition, by index',
      f: {
        where: [
          { property: 'event_properties.plan', op: 'equals', value: 'pro' },
          { property: 'event_properties.price', op: 'greater_than', value: 50 },
        ],
      },
      names: 'Purchase',
      reason: 'condition_not_met:1',
    },
    {
      name: 'all conditions hold',
      f: {
        where: [
          { property: 'event_properties.plan', op: 'equals', value: 'pro' },
          { property: 'user_properties.country', op: 'in', value: ['FR', 'DE'] },
        ],
      },
      names: 'Purchase',
      reason: undefined,
    },
  ])('$name', ({ f, names, reason }) => {
    expect(filterRecord(rec, filter(f), names)).toEqual(reason);
  });

  it.each([
    { user_id: undefined, reason: 'no_user_id' },
    { user_id: '', reason: 'no_user_id' },
    { user_id: '  ', reason: 'no_user_id' },
    { user_id: 'u2', reason: undefined },
  ])('requireUserId with user_id $user_id', ({ user_id, reason }) => {
    expect(filterRecord(record({ event_type: 'E', user_id }), filter({ requireUserId: true }), 'E')).toEqual(
      reason,
    );
  });
});

describe('conditionHolds', () => {
  const cases: Array<[string, unknown, WhereCondition['op'], unknown, boolean]> = [
    ['equals string', 'pro', 'equals', 'pro', true],
    ['equals other', 'pro', 'equals', 'free', false],
    ['equals is typed', '30', 'equals', 30, false],
    ['equals number', 30, 'equals', 30, true],
    ['equals boolean', false, 'equals', false, true],
    ['equals deep, key order ignored', { a: 1, b: [1, 2] }, 'equals', { b: [1, 2], a: 1 }, true],
    ['equals absent', undefined, 'equals', 'pro', false],
    ['equals null', null, 'equals', null, false],
    ['not_equals other', 'pro', 'not_equals', 'free', true],
    ['not_equals same', 'pro', 'not_equals', 'pro', false],
    ['not_equals absent', undefined, 'not_equals', 'pro', true],
    ['in', 'FR', 'in', ['FR', 'DE'], true],
    ['in, not there', 'US', 'in', ['FR', 'DE'], false],
    ['in is typed', '1', 'in', [1, 2], false],
    ['in absent', undefined, 'in', ['FR'], false],
    ['not_in', 'US', 'not_in', ['FR', 'DE'], true],
    ['not_in, there', 'FR', 'not_in', ['FR', 'DE'], false],
    ['not_in absent', undefined, 'not_in', ['FR'], true],
    ['contains substring', 'Hello world', 'contains', 'lo w', true],
    ['contains substring, case-sensitive', 'Hello world', 'contains', 'hello', false],
    ['contains array member', ['a', 'b'], 'contains', 'b', true],
    ['contains array non-member', ['a', 'b'], 'contains', 'c', false],
    ['contains on a number', 123, 'contains', '2', false],
    ['contains absent', undefined, 'contains', 'a', false],
    ['exists', 'x', 'exists', undefined, true],
    ['exists: empty string is a value', '', 'exists', undefined, true],
    ['exists: false is a value', false, 'exists', undefined, true],
    ['exists: null is not', null, 'exists', undefined, false],
    ['exists absent', undefined, 'exists', undefined, false],
    ['not_exists absent', undefined, 'not_exists', undefined, true],
    ['not_exists null', null, 'not_exists', undefined, true],
    ['not_exists present', 0, 'not_exists', undefined, false],
    ['greater_than', 31, 'greater_than', 30, true],
    ['greater_than equal', 30, 'greater_than', 30, false],
    ['greater_than numeric string never matches', '31', 'greater_than', 30, false],
    ['greater_than absent', undefined, 'greater_than', 30, false],
    ['greater_than NaN', Number.NaN, 'greater_than', 30, false],
    ['less_than', -1, 'less_than', 0, true],
    ['less_than equal', 0, 'less_than', 0, false],
    ['less_than boolean never matches', false, 'less_than', 1, false],
  ];
  it.each(cases)('%s', (_name, actual, op, value, holds) => {
    expect(conditionHolds(actual, { property: 'x', op, value })).toEqual(holds);
  });
});
