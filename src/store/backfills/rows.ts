import { num, type Row, str } from '../columns.ts';
import type { BackfillHour } from './store.ts';

const HOUR_MS = 3_600_000;

/**
 * Throws unless `hour` is the start of a UTC hour in epoch ms: an hour counted since the epoch (as
 * src/backfill counts them) or a time within the hour would otherwise be stored and never match.
 */
export function checkHour(hour: number): void {
  if (!Number.isSafeInteger(hour) || hour % HOUR_MS !== 0) {
    throw new Error(`store: backfill hour ${hour} is not the start of a UTC hour in epoch ms`);
  }
}

/** Rows of `SELECT hour, records, appended, run_id, done_at FROM backfill_hours`, by hour. */
export function backfillHoursOf(rows: readonly Row[]): Map<number, BackfillHour> {
  const hours = new Map<number, BackfillHour>();
  for (const row of rows) {
    hours.set(num(row, 'hour'), {
      records: num(row, 'records'),
      appended: num(row, 'appended'),
      runId: str(row, 'run_id'),
      doneAt: num(row, 'done_at'),
    });
  }
  return hours;
}
