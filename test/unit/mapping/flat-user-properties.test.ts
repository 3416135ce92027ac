import { describe, expect, it } from 'vitest';

import { flattenUserProperties } from '../../../src/mapping/flat-user-properties.ts';

describe('flattenUserProperties', () => {
  it.each([
    {
      name: 'Segment traits pass unchanged',
      props: { email: 'a@b.co', plan: 'pro' },
      flat: { email: 'a@b.co', plan: 'pro' },
    },
    {
      name: '$set is flattened',
      props: { $set: { plan: 'pro', seats: 3 } },
      flat: { plan: 'pro', seats: 3 },
    },
    {
      name: '$setOnce loses to $set and to bare values',
      props: { $setOnce: { plan: 'free', source: 'ad' }, $set: { plan: 'pro' }, source: 'seo' },
      flat: { plan: 'pro', source: 'seo' },
    },
    {
      name: '$set beats a bare value',
      props: { plan: 'free', $set: { plan: 'pro' } },
      flat: { plan: 'pro' },
    },
    {
      name: 'other operations are dropped',
      props: { $add: { logins: 1 }, $unset: { old: '-' }, $append: { tags: 'x' }, $clearAll: '-', keep: 1 },
      flat: { keep: 1 },
    },
    { name: 'a non-object $set is ignored', props: { $set: 'nope', a: 1 }, flat: { a: 1 } },
    { name: 'undefined', props: undefined, flat: {} },
  ])('$name', ({ props, flat }) => {
    expect(flattenUserProperties(props as Record<string, unknown> | undefined)).toEqual(flat);
  });

  it('keeps a __proto__ key as data instead of swapping the prototype', () => {
    const flat = flattenUserProperties(JSON.parse('{"$set":{"__proto__":{"admin":true}}}'));
    expect({ keys: Object.keys(flat), admin: (flat as { admin?: unknown }).admin }).toEqual({
      keys: ['__proto__'],
      admin: undefined,
    });
  });
});
