import type { StatementSync } from 'node:sqlite';

import type { SqliteContext } from '../sqlite-db.ts';
import { backfillHoursOf, checkHour } from './rows.ts';
import type { BackfillHour, BackfillHourDone, BackfillStore } from './store.ts';

interface BackfillStatements {
  mark: StatementSync;
  done: StatementSync;
  forget: StatementSync;
}

export class SqliteBackfills implements BackfillStore {
  readonly #ctx: SqliteContext;
  #statements: BackfillStatements | undefined;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  /** Prepared on first use: a store opened with an older schema (tests of migrations) has no table yet. */
  #backfills(): BackfillStatements {
    const { db } = this.#ctx;
    this.#statements ??= {
      mark: db.prepare(
        'INSERT INTO backfill_hours (source_id, hour, records, appended, run_id, done_at) VALUES (?, ?, ?, ?, ?, ?)' +
          ' ON CONFLICT (source_id, hour) DO UPDATE SET records = excluded.records,' +
          ' appended = excluded.appended, run_id = excluded.run_id, done_at = excluded.done_at',
      ),
      done: db.prepare(
        'SELECT hour, records, appended, run_id, done_at FROM backfill_hours' +
          ' WHERE source_id = ? AND hour BETWEEN ? AND ? ORDER BY hour',
      ),
      forget: db.prepare('DELETE FROM backfill_hours WHERE source_id = ? AND hour BETWEEN ? AND ?'),
    };
    return this.#statements;
  }

  async markHourDone(sourceId: string, hour: number, done: BackfillHourDone): Promise<void> {
    checkHour(hour);
    this.#backfills().mark.run(sourceId, hour, done.records, done.appended, done.runId, this.#ctx.now());
  }

  async doneHours(sourceId: string, fromHour: number, toHour: number): Promise<Map<number, BackfillHour>> {
    checkHour(fromHour);
    checkHour(toHour);
    return backfillHoursOf(this.#backfills().done.all(sourceId, fromHour, toHour));
  }

  async forgetHours(sourceId: string, fromHour: number, toHour: number): Promise<number> {
    checkHour(fromHour);
    checkHour(toHour);
    return Number(this.#backfills().forget.run(sourceId, fromHour, toHour).changes);
  }
}
