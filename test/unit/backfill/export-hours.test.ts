import { describe, expect, it } from 'vitest';

import {
  addHours,
  checkExportRange,
  describeExportHour,
  ExportHourError,
  exportHourOfMember,
  exportHourOfMs,
  exportHourToMs,
  formatExportHour,
  hoursBetween,
  MAX_RANGE_HOURS,
  parseExportHour,
  parseHourInput,
  splitRange,
} from '../../../src/backfill/export-hours.ts';

const NOV_1_05 = Date.UTC(2026, 10, 1, 5) / 3_600_000;

describe('parseExportHour / formatExportHour', () => {
  it('reads the API form as hours since the epoch, in UTC', () => {
    expect(parseExportHour('20261101T05')).toBe(NOV_1_05);
    expect(exportHourToMs(parseExportHour('19700101T00'))).toBe(0);
    expect(exportHourToMs(parseExportHour('20240229T23'))).toBe(Date.UTC(2024, 1, 29, 23));
  });

  it('writes the API form back, zero-padded', () => {
    expect(formatExportHour(NOV_1_05)).toBe('20261101T05');
    expect(formatExportHour(parseExportHour('20260109T00'))).toBe('20260109T00');
    expect(describeExportHour(NOV_1_05)).toBe('2026-11-01T05:00Z');
  });

  it.each([
    ['2026110105', /expected YYYYMMDDTHH/],
    ['20261101T5', /expected YYYYMMDDTHH/],
    ['20261101T05Z', /expected YYYYMMDDTHH/],
    ['', /expected YYYYMMDDTHH/],
    ['20261101T24', /hour 24 is not between 00 and 23/],
    ['20260230T00', /2026-02-30 is not a date/],
    ['20251301T00', /2025-13-01 is not a date/],
    ['20250229T00', /2025-02-29 is not a date/],
    ['20250100T00', /2025-01-00 is not a date/],
  ])('refuses %j', (text, message) => {
    expect(() => parseExportHour(text)).toThrow(ExportHourError);
    expect(() => parseExportHour(text)).toThrow(message);
  });
});

describe('parseHourInput', () => {
  it.each([
    '20261101T05',
    '2026-11-01T05',
    '2026-11-01T05Z',
    '2026-11-01T05:00',
    '2026-11-01T05:00Z',
    '2026-11-01t05:00z',
    '2026-11-01 05:00:00',
    '2026-11-01T05:00:00.000Z',
    '2026-11-01T05:00:00+00:00',
    '  2026-11-01T05:00Z ',
  ])('reads %j as 2026-11-01 05:00 UTC', (text) => {
    expect(parseHourInput(text)).toBe(NOV_1_05);
  });

  it('takes a bare date as its hour 00', () => {
    expect(parseHourInput('2026-11-01')).toBe(NOV_1_05 - 5);
  });

  it.each([
    ['2026-11-01T05:30Z', /not the start of an hour/],
    ['2026-11-01T05:00:01Z', /not the start of an hour/],
    ['2026-11-01T05:00:00.5Z', /not the start of an hour/],
    ['2026-11-01T05:00+01:00', /give the hour in UTC/],
    ['2026-11-01T24', /hour 24/],
    ['2026-02-29', /2026-02-29 is not a date/],
    ['2026/11/01', /is not an hour: use YYYY-MM-DD/],
    ['yesterday', /is not an hour/],
  ])('refuses %j', (text, message) => {
    expect(() => parseHourInput(text)).toThrow(ExportHourError);
    expect(() => parseHourInput(text)).toThrow(message);
  });
});

describe('arithmetic', () => {
  it('counts both ends of a range', () => {
    expect(hoursBetween(NOV_1_05, NOV_1_05)).toBe(1);
    expect(hoursBetween(parseExportHour('20261101T00'), parseExportHour('20261101T23'))).toBe(24);
    expect(hoursBetween(NOV_1_05, NOV_1_05 - 1)).toBe(0);
  });

  it('adds hours across days, months and years', () => {
    expect(formatExportHour(addHours(parseExportHour('20261231T23'), 1))).toBe('20270101T00');
    expect(formatExportHour(addHours(parseExportHour('20240301T00'), -1))).toBe('20240229T23');
  });

  it('finds the hour an instant falls in', () => {
    expect(exportHourOfMs(Date.UTC(2026, 10, 1, 5, 59, 59, 999))).toBe(NOV_1_05);
    expect(exportHourOfMs(Date.UTC(2026, 10, 1, 6))).toBe(NOV_1_05 + 1);
  });

  it('allows at most 365 days in one request', () => {
    expect(MAX_RANGE_HOURS).toBe(8760);
    const from = parseExportHour('20260101T00');
    expect(() => checkExportRange(from, addHours(from, MAX_RANGE_HOURS - 1))).not.toThrow();
    expect(() => checkExportRange(from, addHours(from, MAX_RANGE_HOURS))).toThrow(/8761 hours/);
    expect(() => checkExportRange(from, from - 1)).toThrow(/end is before the start/);
    expect(() => checkExportRange(0.5, 2)).toThrow(/whole numbers/);
  });

  it('splits a range into two halves that cover it exactly', () => {
    expect(splitRange(10, 19)).toEqual([
      { from: 10, to: 14 },
      { from: 15, to: 19 },
    ]);
    expect(splitRange(10, 12)).toEqual([
      { from: 10, to: 11 },
      { from: 12, to: 12 },
    ]);
    expect(splitRange(10, 11)).toEqual([
      { from: 10, to: 10 },
      { from: 11, to: 11 },
    ]);
    expect(splitRange(10, 10)).toBeUndefined();
    expect(splitRange(10, 9)).toBeUndefined();
  });
});

describe('exportHourOfMember', () => {
  it('reads the upload hour (not zero-padded) and the partition', () => {
    expect(exportHourOfMember('187520/187520_2026-11-01_5#0.json.gz')).toEqual({
      hour: NOV_1_05,
      partition: 0,
    });
    expect(exportHourOfMember('187520/187520_2026-11-01_17#12.json.gz')).toEqual({
      hour: NOV_1_05 + 12,
      partition: 12,
    });
    expect(exportHourOfMember('187520_2026-11-01_05#1.json.gz')).toEqual({ hour: NOV_1_05, partition: 1 });
  });

  it.each([
    '187520/',
    '187520/187520_2026-11-01_5#0.json',
    '187520/187520_2026-11-01_5.json.gz',
    '187520/187520_2026-11-01_24#0.json.gz',
    '187520/187520_2026-02-30_1#0.json.gz',
    '187520/187520_2026-11-01_5_complete',
    'readme.txt',
  ])('gives undefined for %j', (name) => {
    expect(exportHourOfMember(name)).toBeUndefined();
  });
});
