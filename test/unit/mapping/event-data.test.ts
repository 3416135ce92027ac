import { describe, expect, it } from 'vitest';

import type { PropertySelection } from '../../../src/config/schema.ts';
import { eventData, selectProperties } from '../../../src/mapping/event-data.ts';
import { record } from '../../helpers/mapping.ts';

describe('selectProperties', () => {
  const props = { plan: 'pro', price: 30, empty: null, gone: undefined };
  it.each<{ selection: PropertySelection; out: Record<string, unknown> }>([
    { selection: '*', out: { plan: 'pro', price: 30, empty: null } },
    { selection: ['price', 'plan'], out: { price: 30, plan: 'pro' } },
    { selection: ['plan', 'missing', 'gone', 'empty'], out: { plan: 'pro', empty: null } },
    { selection: [], out: {} },
    { selection: ['toString', 'constructor'], out: {} },
  ])('$selection', ({ selection, out }) => {
    expect(selectProperties(props, selection)).toEqual(out);
  });

  it('copies: the result is a new object', () => {
    const out = selectProperties(props, '*');
    out.plan = 'changed';
    expect(props.plan).toEqual('pro');
  });

  it('reads nothing from a missing object', () => {
    expect(selectProperties(undefined, '*')).toEqual({});
  });
});

describe('eventData', () => {
  const rec = record({
    event_properties: { plan: 'event', price: 30 },
    user_properties: { $set: { plan: 'user', email: 'a@b.co' }, country: 'FR' },
    group_properties: { plan: 'group', seats: 5, country: 'group-country' },
  });

  it.each<{
    name: string;
    selection: Record<'event' | 'user' | 'group', PropertySelection>;
    data: Record<string, unknown>;
  }>([
    { name: 'nothing selected', selection: { event: [], user: [], group: [] }, data: {} },
    {
      name: 'event properties win a clash, then user, then group',
      selection: { event: '*', user: '*', group: '*' },
      data: { plan: 'event', price: 30, email: 'a@b.co', country: 'FR', seats: 5 },
    },
    {
      name: 'user beats group when the event does not have it',
      selection: { event: ['price'], user: ['plan'], group: ['plan', 'seats'] },
      data: { price: 30, plan: 'user', seats: 5 },
    },
    { name: 'group only', selection: { event: [], user: [], group: ['plan'] }, data: { plan: 'group' } },
    {
      name: 'user properties are flattened from $set',
      selection: { event: [], user: ['email'], group: [] },
      data: { email: 'a@b.co' },
    },
  ])('$name', ({ selection, data }) => {
    expect(eventData(rec, selection)).toEqual(data);
  });
});
