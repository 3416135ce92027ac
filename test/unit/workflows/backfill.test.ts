import { describe, expect, it } from 'vitest';

import { backfillDetails, hourLabel, requestRanges, splitRange } from '../../../src/workflows/backfill.ts';

const H = 492_000; // an hour since the epoch: 2026-02-16T00

describe('backfill request ranges', () => {
  it('cuts a range into requests of at most n hours, in upload order', () => {
    expect(requestRanges(H, H + 49, 24)).toEqual([
      [H, H + 23],
      [H + 24, H + 47],
      [H + 48, H + 49],
    ]);
    expect(requestRanges(H, H, 24)).toEqual([[H, H]]);
  });

  it('halves a range over the size limit until one hour is left', () => {
    expect(splitRange([H, H + 5])).toEqual([
      [H, H + 2],
      [H + 3, H + 5],
    ]);
    expect(splitRange([H, H + 2])).toEqual([
      [H, H],
      [H + 1, H + 2],
    ]);
    expect(splitRange([H, H])).toBeUndefined();
  });

  it('labels hours as the CLI takes them', () => {
    expect(hourLabel(H)).toBe('2026-02-16T00');
    expect(hourLabel(H + 29)).toBe('2026-02-17T05');
  });
});

describe('backfillDetails (the Web UI)', () => {
  it('says what is read, how far, and what came of it', () => {
    const text = backfillDetails({
      status: 'running',
      sourceId: 'amplitude',
      range: { from: '2026-02-16T00', to: '2026-02-17T23' },
      hoursTotal: 48,
      tally: { records: 1200, appended: 1100, duplicates: 90, invalid: 10, hours: 24, skippedHours: 2 },
      current: { from: '2026-02-17T00', to: '2026-02-17T23' },
      startedAt: '2026-02-18T00:00:00.000Z',
    });
    expect(text.split('\n')).toEqual([
      '**running** · backfill of amplitude · upload hours 2026-02-16T00 … 2026-02-17T23',
      '- hours 24 of 48 (2 finished before)',
      '- rows 1200: appended 1100, already in the log 90, refused 10',
      '- reading 2026-02-17T00 … 2026-02-17T23',
    ]);
  });
});
