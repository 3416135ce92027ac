import type { PostgresContext } from '../postgres-db.ts';
import { backfillHoursOf, checkHour } from './rows.ts';
import type { BackfillHour, BackfillHourDone, BackfillStore } from './store.ts';

export class PostgresBackfills implements BackfillStore {
  readonly #ctx: PostgresContext;

  constructor(ctx: PostgresContext) {
    this.#ctx = ctx;
  }

  async markHourDone(sourceId: string, hour: number, done: BackfillHourDone): Promise<void> {
    checkHour(hour);
    await this.#ctx.pool.query(
      'INSERT INTO backfill_hours (source_id, hour, records, appended, run_id, done_at) VALUES ($1, $2, $3, $4, $5, $6)' +
        ' ON CONFLICT (source_id, hour) DO UPDATE SET records = excluded.records,' +
        ' appended = excluded.appended, run_id = excluded.run_id, done_at = excluded.done_at',
      [sourceId, hour, done.records, done.appended, done.runId, this.#ctx.now()],
    );
  }

  async doneHours(sourceId: string, fromHour: number, toHour: number): Promise<Map<number, BackfillHour>> {
    checkHour(fromHour);
    checkHour(toHour);
    const { rows } = await this.#ctx.pool.query(
      'SELECT hour, records, appended, run_id, done_at FROM backfill_hours' +
        ' WHERE source_id = $1 AND hour BETWEEN $2 AND $3 ORDER BY hour',
      [sourceId, fromHour, toHour],
    );
    return backfillHoursOf(rows);
  }

  async forgetHours(sourceId: string, fromHour: number, toHour: number): Promise<number> {
    checkHour(fromHour);
    checkHour(toHour);
    const { rowCount } = await this.#ctx.pool.query(
      'DELETE FROM backfill_hours WHERE source_id = $1 AND hour BETWEEN $2 AND $3',
      [sourceId, fromHour, toHour],
    );
    return rowCount ?? 0;
  }
}
