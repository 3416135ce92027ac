import { expect, it } from 'vitest';

import { parseDuration, timeOrAgo } from '../../../src/config/duration.ts';

it('reads durations with a unit, or bare milliseconds; undefined otherwise', () => {
  expect(parseDuration('250ms')).toBe(250);
  expect(parseDuration('1.5s')).toBe(1500);
  expect(parseDuration('2h')).toBe(7_200_000);
  expect(parseDuration(30)).toBe(30);
  expect(parseDuration('soon')).toBeUndefined();
  expect(parseDuration(-1)).toBeUndefined();
});

it('reads a time as an ISO time or a duration ago, never a bare number as ms ago', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  expect(timeOrAgo('2h', now)).toBe(Date.parse('2026-12-02T10:00:00Z'));
  expect(timeOrAgo('2026-11-30T00:00:00Z', now)).toBe(Date.parse('2026-11-30T00:00:00Z'));
  expect(timeOrAgo('yesterday', now)).toBeUndefined();
  expect(timeOrAgo('5000', now)).toBe(Date.parse('5000'));
});
