import { describe, expect, it } from 'vitest';

import { AMPLITUDE_OPERATION_ORDER } from '../../../src/events/amplitude.ts';
import {
  type UserPropertiesMode,
  applyPatch,
  applyUserProperties,
  changedProperties,
  jsonEqual,
} from '../../../src/mapping/amplitude-user-operations.ts';

const all = () => true;

interface Case {
  name: string;
  state: Record<string, unknown>;
  props: unknown;
  mode?: UserPropertiesMode;
  tracked?: (name: string) => boolean;
  next: Record<string, unknown>;
}

function run(cases: Case[]) {
  it.each(cases)('$name', ({ state, props, mode = 'operations', tracked = all, next }) => {
    const before = structuredClone(state);
    expect(applyUserProperties(state, props, mode, tracked)).toEqual(next);
    expect(state).toEqual(before);
  });
}

describe('applyUserProperties: each operation', () => {
  run([
    {
      name: '$set adds and overwrites',
      state: { a: 1, b: 2 },
      props: { $set: { b: 3, c: 'x' } },
      next: { a: 1, b: 3, c: 'x' },
    },
    { name: '$set null removes', state: { a: 1, b: 2 }, props: { $set: { a: null } }, next: { b: 2 } },
    {
      name: '$set keeps JSON types',
      state: {},
      props: { $set: { n: 1.5, t: true, l: [1, 'a'], o: { x: 1 } } },
      next: { n: 1.5, t: true, l: [1, 'a'], o: { x: 1 } },
    },
    {
      name: '$setOnce sets a missing property',
      state: { a: 1 },
      props: { $setOnce: { b: 2 } },
      next: { a: 1, b: 2 },
    },
    {
      name: '$setOnce never overwrites a value',
      state: { a: 1 },
      props: { $setOnce: { a: 9 } },
      next: { a: 1 },
    },
    {
      name: '$setOnce over a null counts as unset',
      state: { a: null },
      props: { $setOnce: { a: 9 } },
      next: { a: 9 },
    },
    { name: '$unset removes', state: { a: 1, b: 2 }, props: { $unset: { a: '-', zz: '-' } }, next: { b: 2 } },
    { name: '$unset as a list of names', state: { a: 1, b: 2 }, props: { $unset: ['a'] }, next: { b: 2 } },
    { name: '$add increments', state: { n: 2 }, props: { $add: { n: 3 } }, next: { n: 5 } },
    { name: '$add from nothing starts at 0', state: {}, props: { $add: { n: -2 } }, next: { n: -2 } },
    {
      name: '$add with a numeric string amount and value',
      state: { n: '10' },
      props: { $add: { n: '2.5' } },
      next: { n: 12.5 },
    },
    {
      name: '$add on a non-number is skipped',
      state: { n: 'ten' },
      props: { $add: { n: 1 } },
      next: { n: 'ten' },
    },
    {
      name: '$add of a non-number is skipped',
      state: { n: 1 },
      props: { $add: { n: 'one', m: true } },
      next: { n: 1 },
    },
    {
      name: '$append to a list',
      state: { l: ['a'] },
      props: { $append: { l: 'b' } },
      next: { l: ['a', 'b'] },
    },
    {
      name: '$append a list appends its elements, duplicates kept',
      state: { l: ['a'] },
      props: { $append: { l: ['a', 'c'] } },
      next: { l: ['a', 'a', 'c'] },
    },
    { name: '$append to nothing starts a list', state: {}, props: { $append: { l: 1 } }, next: { l: [1] } },
    {
      name: '$append to a scalar makes it a list',
      state: { l: 'x' },
      props: { $append: { l: 'y' } },
      next: { l: ['x', 'y'] },
    },
    {
      name: '$append of null adds nothing',
      state: { l: ['x'] },
      props: { $append: { l: null } },
      next: { l: ['x'] },
    },
    {
      name: '$prepend to a list, keeping the order of a list value',
      state: { l: ['c'] },
      props: { $prepend: { l: ['a', 'b'] } },
      next: { l: ['a', 'b', 'c'] },
    },
    { name: '$prepend to a scalar', state: { l: 1 }, props: { $prepend: { l: 0 } }, next: { l: [0, 1] } },
    {
      name: '$preInsert skips values already there',
      state: { l: ['b', 'c'] },
      props: { $preInsert: { l: ['a', 'b', 'a'] } },
      next: { l: ['a', 'b', 'c'] },
    },
    {
      name: '$postInsert skips values already there (JSON equality)',
      state: { l: [{ x: 1, y: 2 }] },
      props: { $postInsert: { l: [{ y: 2, x: 1 }, { x: 3 }] } },
      next: { l: [{ x: 1, y: 2 }, { x: 3 }] },
    },
    { name: '$postInsert to nothing', state: {}, props: { $postInsert: { l: 'a' } }, next: { l: ['a'] } },
    {
      name: '$remove every occurrence',
      state: { l: ['a', 'b', 'a', 1] },
      props: { $remove: { l: ['a', 1] } },
      next: { l: ['b'] },
    },
    {
      name: '$remove is typed: 1 is not "1"',
      state: { l: [1, '1'] },
      props: { $remove: { l: '1' } },
      next: { l: [1] },
    },
    {
      name: '$remove from a missing property leaves it missing',
      state: {},
      props: { $remove: { l: 'a' } },
      next: {},
    },
    {
      name: '$remove of a value not in the list changes nothing',
      state: { l: ['a'] },
      props: { $remove: { l: 'z' } },
      next: { l: ['a'] },
    },
    {
      name: '$remove the value of a scalar leaves an empty list',
      state: { l: 'a' },
      props: { $remove: { l: 'a' } },
      next: { l: [] },
    },
    {
      name: '$remove another value from a scalar leaves it',
      state: { l: 'a' },
      props: { $remove: { l: 'b' } },
      next: { l: 'a' },
    },
    { name: '$clearAll removes everything', state: { a: 1, b: [2] }, props: { $clearAll: '-' }, next: {} },
    {
      name: 'plain properties in operations mode are a final $set',
      state: { a: 1 },
      props: { b: 2 },
      next: { a: 1, b: 2 },
    },
    {
      name: 'a non-object operation argument is ignored',
      state: { a: 1 },
      props: { $set: 'nope', $add: 3 },
      next: { a: 1 },
    },
    { name: 'no user properties', state: { a: 1 }, props: undefined, next: { a: 1 } },
    {
      name: 'a __proto__ property is data',
      state: {},
      props: JSON.parse('{"$set":{"__proto__":{"x":1}}}') as unknown,
      next: JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown>,
    },
  ]);
});

describe('applyUserProperties: order within one object', () => {
  it('follows Amplitude: $clearAll, $unset, $set, $setOnce, $add, $append, $prepend, $preInsert, $postInsert, $remove', () => {
    expect(AMPLITUDE_OPERATION_ORDER).toEqual([
      '$clearAll',
      '$unset',
      '$set',
      '$setOnce',
      '$add',
      '$append',
      '$prepend',
      '$preInsert',
      '$postInsert',
      '$remove',
    ]);
  });

  run([
    {
      name: 'key order in the object does not matter',
      state: { keep: 1, gone: 2, n: 1, l: ['x'] },
      props: {
        $remove: { l: 'b' },
        $postInsert: { l: 'b' },
        $add: { n: 10 },
        $setOnce: { s: 'once', keep: 'no' },
        $set: { n: 5, s: 'set' },
        $unset: { gone: '-' },
      },
      // $unset gone; $set n=5, s=set; $setOnce s stays, keep stays; $add n=15; $postInsert b; $remove b.
      next: { keep: 1, n: 15, l: ['x'], s: 'set' },
    },
    {
      name: '$clearAll first: the rest of the object applies to an empty user',
      state: { a: 1, b: 2 },
      props: { $set: { c: 3 }, $clearAll: '-', $setOnce: { a: 9 } },
      next: { c: 3, a: 9 },
    },
    {
      name: '$unset then $set of one property sets it',
      state: { a: 1 },
      props: { $set: { a: 2 }, $unset: { a: '-' } },
      next: { a: 2 },
    },
    {
      name: 'plain keys win over operations (applied last, as the SDK merges them)',
      state: {},
      props: { plan: 'free', $set: { plan: 'pro' }, $add: { n: 1 } },
      next: { plan: 'free', n: 1 },
    },
  ]);
});

describe('applyUserProperties: modes and selection', () => {
  run([
    {
      name: 'plain (Amplitude events): operation keys are ignored, plain keys set',
      state: { n: 1 },
      props: { plan: 'pro', $add: { n: 1 }, $set: { x: 1 } },
      mode: 'plain',
      next: { n: 1, plan: 'pro' },
    },
    {
      name: 'traits (Segment): every key is a value, even one that looks like an operation',
      state: {},
      props: { plan: 'pro', $set: 'literal', gone: null },
      mode: 'traits',
      next: { plan: 'pro', $set: 'literal' },
    },
    {
      name: 'only tracked properties are followed, whatever the operation',
      state: { plan: 'free', other: 'kept as it was' },
      props: { $set: { plan: 'pro', secret: 's' }, $add: { logins: 1 }, $unset: { other: '-' }, extra: 1 },
      tracked: (name) => name === 'plan' || name === 'logins',
      next: { plan: 'pro', other: 'kept as it was', logins: 1 },
    },
  ]);
});

describe('changedProperties', () => {
  it.each([
    { name: 'nothing changed', sent: { a: 1, l: [1] }, next: { l: [1], a: 1 }, changed: [] },
    {
      name: 'a new and a changed value, in next order',
      sent: { a: 1 },
      next: { b: 2, a: 3 },
      changed: ['b', 'a'],
    },
    { name: 'a removed value comes last', sent: { a: 1, b: 2 }, next: { b: 3 }, changed: ['b', 'a'] },
    { name: 'types matter', sent: { a: 1 }, next: { a: '1' }, changed: ['a'] },
    {
      name: 'objects compare by content',
      sent: { o: { x: 1, y: [1, { z: 2 }] } },
      next: { o: { y: [1, { z: 2 }], x: 1 } },
      changed: [],
    },
    { name: 'null and absent are the same', sent: { a: null }, next: {}, changed: [] },
    {
      name: 'untracked differences do not count',
      sent: { secret: 1 },
      next: { secret: 2, plan: 'pro' },
      changed: ['plan'],
      tracked: (n: string) => n === 'plan',
    },
  ])('$name', ({ sent, next, changed, tracked = all }) => {
    expect(changedProperties(sent, next, tracked)).toEqual(changed);
  });
});

describe('jsonEqual and applyPatch', () => {
  it('compares JSON values deeply, without coercion', () => {
    expect([
      jsonEqual({ a: [1, { b: null }] }, { a: [1, { b: null }] }),
      jsonEqual([1, 2], [2, 1]),
      jsonEqual(0, false),
      jsonEqual({ a: undefined }, {}),
      jsonEqual([], {}),
    ]).toEqual([true, false, false, true, false]);
  });

  it('a patch sets values and removes nulls, leaving the input alone', () => {
    const attributes = { a: 1, b: 2 };
    expect(applyPatch(attributes, { b: null, c: [3] })).toEqual({ a: 1, c: [3] });
    expect(attributes).toEqual({ a: 1, b: 2 });
  });
});
