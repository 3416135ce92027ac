import { describe, expect, it } from 'vitest';

import { canonicalJson, stableHash } from '../../../src/mapping/stable-hash.ts';

describe('canonicalJson', () => {
  it.each([
    {
      value: { b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } },
      json: '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    },
    { value: { a: undefined, b: 'x' }, json: '{"b":"x"}' },
    { value: new Date(0), json: '"1970-01-01T00:00:00.000Z"' },
    { value: undefined, json: 'null' },
  ])('$json', ({ value, json }) => {
    expect(canonicalJson(value)).toEqual(json);
  });
});

describe('stableHash', () => {
  it('ignores key order and is the sha256 of the canonical JSON', () => {
    expect({ a: stableHash({ x: 1, y: 2 }), b: stableHash({ y: 2, x: 1 }), empty: stableHash({}) }).toEqual({
      a: stableHash({ x: 1, y: 2 }),
      b: stableHash({ x: 1, y: 2 }),
      // sha256('{}')
      empty: '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    });
  });
});
