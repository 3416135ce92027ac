import { describe, expect, it } from 'vitest';

import { readPath } from '../../../src/mapping/record-path.ts';
import { record } from '../../helpers/mapping.ts';

const rec = record({
  user_id: 'u1',
  anonymous_id: 'anon-1',
  event_properties: {
    plan: 'pro',
    cart: { total: 42, items: [{ sku: 'A1' }, { sku: 'B2' }] },
    'utm.source': 'newsletter',
    utm: { source: 'nested' },
    '[Amplitude] Page URL': 'https://example.com/',
  },
  user_properties: { $set: { email: 'ann@example.com' }, plan: 'free' },
  context: { device: { token: 'tok' } },
});

describe('readPath', () => {
  it.each([
    { path: 'user_id', value: 'u1' },
    { path: 'anonymous_id', value: 'anon-1' },
    { path: 'event_properties.plan', value: 'pro' },
    { path: 'event_properties.cart.total', value: 42 },
    { path: 'event_properties.cart.items.1.sku', value: 'B2' },
    { path: 'event_properties.cart.items.2.sku', value: undefined },
    { path: 'event_properties.cart.items.length', value: undefined },
    // A key containing dots beats walking into a nested object of the same prefix.
    { path: 'event_properties.utm.source', value: 'newsletter' },
    { path: 'event_properties.[Amplitude] Page URL', value: 'https://example.com/' },
    // user_properties are read through $set.
    { path: 'user_properties.email', value: 'ann@example.com' },
    { path: 'user_properties.plan', value: 'free' },
    { path: 'user_properties.$set', value: undefined },
    { path: 'context.device.token', value: 'tok' },
    { path: 'event_properties.plan.length', value: undefined },
    { path: 'event_properties.missing', value: undefined },
    { path: 'nope', value: undefined },
    { path: 'event_properties.toString', value: undefined },
  ])('$path', ({ path, value }) => {
    expect(readPath(rec, path)).toEqual(value);
  });
});
