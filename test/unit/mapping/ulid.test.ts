import { describe, expect, it } from 'vitest';

import { MAX_ULID_TIME, eventUlid, ulidTime } from '../../../src/mapping/ulid.ts';

// sha256('abc') = ba7816bf8f01cfea4141…; its first 80 bits in 5-bit groups are
// 10111 01001 11100 00001 01101 01111 11100 01111 00000 00111 00111 11110 10100 10000 01010 00001
// = 23 9 28 1 13 15 28 15 0 7 7 30 20 16 10 1 → Q9W1DFWF077YMGA1 in Crockford base32.
const ABC = 'Q9W1DFWF077YMGA1';

describe('eventUlid', () => {
  it.each([
    { time: 0, seed: 'abc', ulid: `0000000000${ABC}` },
    { time: 1, seed: 'abc', ulid: `0000000001${ABC}` },
    { time: 31, seed: 'abc', ulid: `000000000Z${ABC}` },
    { time: 32, seed: 'abc', ulid: `0000000010${ABC}` },
    // The ULID spec's reference implementation test vector for encodeTime.
    { time: 1469918176385, seed: 'abc', ulid: `01ARYZ6S41${ABC}` },
    // 2^48 - 1: the largest time, whose first character is 7 (48 bits = 3 + 9 × 5).
    { time: MAX_ULID_TIME, seed: 'abc', ulid: `7ZZZZZZZZZ${ABC}` },
  ])('encodes time $time', ({ time, seed, ulid }) => {
    expect({ ulid: eventUlid(time, seed), time: ulidTime(ulid) }).toEqual({ ulid, time });
  });

  it('is 26 Crockford base32 characters', () => {
    expect(eventUlid(1_700_000_000_123, 'insert-1')).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('is deterministic: same time and seed, same id; another seed, another id', () => {
    const ids = [eventUlid(1000, 'a'), eventUlid(1000, 'a'), eventUlid(1000, 'b')];
    expect({
      same: ids[0] === ids[1],
      different: ids[0] !== ids[2],
      sameTime: ids[0]?.slice(0, 10) === ids[2]?.slice(0, 10),
    }).toEqual({
      same: true,
      different: true,
      sameTime: true,
    });
  });

  it('sorts by time, whatever the seed', () => {
    const times = [0, 1, 999, 1000, 1_600_000_000_000, 1_700_000_000_123, 1_700_000_000_124, MAX_ULID_TIME];
    const ids = times.map((t, i) => eventUlid(t, `seed-${times.length - i}`));
    expect([...ids].sort()).toEqual(ids);
  });

  it.each([-1, 1.5, Number.NaN, MAX_ULID_TIME + 1])('rejects time %s', (time) => {
    expect(() => eventUlid(time, 'x')).toThrow(RangeError);
  });
});
