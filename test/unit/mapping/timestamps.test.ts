import { describe, expect, it } from 'vitest';

import { toUnixSeconds, unixSeconds } from '../../../src/mapping/timestamps.ts';

describe('unixSeconds', () => {
  it.each([
    [0, 0],
    [999, 0],
    [1_700_000_000_123, 1_700_000_000],
    [1_700_000_000_999, 1_700_000_000],
  ])('%s ms → %s s', (ms, s) => {
    expect(unixSeconds(ms)).toEqual(s);
  });
});

describe('toUnixSeconds', () => {
  it.each<[unknown, number | undefined]>([
    [1_136_225_047, 1_136_225_047],
    [1_136_225_047.9, 1_136_225_047],
    [1_136_225_047_123, 1_136_225_047],
    ['1136225047', 1_136_225_047],
    ['1136225047123', 1_136_225_047],
    ['2006-01-02T18:04:07Z', 1_136_225_047],
    ['2006-01-02T18:04:07.999Z', 1_136_225_047],
    ['2006-01-02T18:04:07.1234567Z', 1_136_225_047],
    ['2006-01-02T18:04:07+01:00', 1_136_221_447],
    ['2006-01-02T18:04:07-0800', 1_136_253_847],
    // No offset: UTC, not the machine's zone.
    ['2006-01-02T18:04:07', 1_136_225_047],
    ['2006-01-02 18:04', 1_136_225_040],
    ['2006-01-02', 1_136_160_000],
    ['2024-02-29', 1_709_164_800],
    ['2023-02-29', undefined],
    ['2006-13-01', undefined],
    ['2006-01-02T25:00:00Z', undefined],
    ['Jan 2 2006', undefined],
    ['01/02/2006', undefined],
    ['+1 555 0100', undefined],
    ['', undefined],
    [true, undefined],
    [null, undefined],
    [Number.POSITIVE_INFINITY, undefined],
  ])('%s → %s', (value, seconds) => {
    expect(toUnixSeconds(value)).toEqual(seconds);
  });
});
