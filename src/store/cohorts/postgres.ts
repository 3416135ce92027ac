import type pg from 'pg';

import { type CohortApplyProgress, type CohortRun, type CohortStore, memberUserKeySql } from './store.ts';
import type { Transaction } from '../postgres-db.ts';
import { cohortRunOf, START } from './rows.ts';

/** Members per INSERT: large enough that a 1,000,000-member cohort is ~100 statements, small enough to bind. */
const INSERT_CHUNK = 10_000;

// Keyset pages over the primary key: an ordered index range scan that stops at the page's end, and
// one index probe per row into the other run, whatever the cohort size (SQLite's plan). The probe is
// a scalar subquery rather than NOT EXISTS on purpose: NOT EXISTS becomes an anti join, and the
// planner, misled by a table still unanalyzed after a bulk insert, may scan or hash the whole other
// run for every page. member_id is COLLATE "C", so `>` and ORDER BY agree with SQLite's byte order.
// Members name their run by its run_key; `$1`/`$2` are the sync and run, `$3` the other run.
const key = (param: string) => `(SELECT run_key FROM cohort_runs WHERE sync_id = $1 AND run_id = ${param})`;
const notInOther = `(SELECT 1 FROM cohort_members o
      WHERE o.run_key = ${key('$3')} AND o.member_id = n.member_id LIMIT 1) IS NULL`;
const DIFF_FIRST = `
  SELECT n.member_id AS id FROM cohort_members n
  WHERE n.run_key = ${key('$2')} AND ${notInOther}
  ORDER BY n.member_id LIMIT $4`;
const DIFF_AFTER = `
  SELECT n.member_id AS id FROM cohort_members n
  WHERE n.run_key = ${key('$2')} AND n.member_id > $4 AND ${notInOther}
  ORDER BY n.member_id LIMIT $5`;
const ALL_FIRST = `
  SELECT member_id AS id FROM cohort_members WHERE run_key = ${key('$2')} ORDER BY member_id LIMIT $3`;
const ALL_AFTER = `
  SELECT member_id AS id FROM cohort_members WHERE run_key = ${key('$2')} AND member_id > $3
  ORDER BY member_id LIMIT $4`;
const COUNT_RUN = `SELECT COUNT(*) AS n FROM cohort_members WHERE run_key = ${key('$2')}`;
const NOT_IN = `
  SELECT COUNT(*) AS n FROM cohort_members n WHERE n.run_key = ${key('$2')} AND NOT EXISTS (
    SELECT 1 FROM cohort_members o WHERE o.run_key = ${key('$3')} AND o.member_id = n.member_id)`;

/** The PostgreSQL side of CohortStore, sharing the store's pool and transaction helper. */
export class PostgresCohorts implements CohortStore {
  readonly #pool: pg.Pool;
  readonly #now: () => number;
  readonly #tx: Transaction;
  readonly #redoableTx: Transaction;

  constructor(pool: pg.Pool, now: () => number, tx: Transaction, redoableTx: Transaction) {
    this.#pool = pool;
    this.#now = now;
    this.#tx = tx;
    this.#redoableTx = redoableTx;
  }

  async beginCohortRun(syncId: string, runId: string): Promise<void> {
    await this.#tx(async (c) => {
      await c.query(
        `INSERT INTO cohort_runs (sync_id, run_id, phase, progress, started_at) VALUES ($1, $2, 'snapshotting', $3, $4)
         ON CONFLICT (sync_id, run_id) DO UPDATE SET phase = 'snapshotting', members = 0, skipped = 0,
           to_add = 0, to_remove = 0, progress = excluded.progress, started_at = excluded.started_at, finished_at = NULL`,
        [syncId, runId, JSON.stringify(START), this.#now()],
      );
      await c.query(`DELETE FROM cohort_members WHERE run_key = ${key('$2')}`, [syncId, runId]);
    });
  }

  async addCohortMembers(syncId: string, runId: string, memberIds: readonly string[]): Promise<number> {
    if (memberIds.length === 0) return 0;
    return this.#tx(async (c) => {
      let added = 0;
      for (let i = 0; i < memberIds.length; i += INSERT_CHUNK) {
        // One statement per chunk, the ids bound as one array; a duplicate (in the chunk or already
        // stored) is skipped like SQLite's INSERT OR IGNORE.
        const inserted = await c.query(
          `INSERT INTO cohort_members (run_key, member_id) SELECT ${key('$2')}, unnest($3::text[])` +
            ' ON CONFLICT DO NOTHING',
          [syncId, runId, memberIds.slice(i, i + INSERT_CHUNK)],
        );
        added += inserted.rowCount ?? 0;
      }
      return added;
    });
  }

  async completeCohortSnapshot(
    syncId: string,
    runId: string,
    baselineRunId: string | undefined,
    skipped: number,
    counted?: number,
  ): Promise<CohortRun> {
    // The run's rows were just bulk-inserted: without fresh statistics the planner takes both runs
    // for a row each and counts the diff with a nested loop, quadratic in the cohort size.
    await this.#pool.query('ANALYZE cohort_members');
    const count = async (sql: string, params: unknown[]): Promise<number> =>
      Number((await this.#pool.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);
    const members = counted ?? (await count(COUNT_RUN, [syncId, runId]));
    const toAdd = baselineRunId ? await count(NOT_IN, [syncId, runId, baselineRunId]) : members;
    const toRemove = baselineRunId ? await count(NOT_IN, [syncId, baselineRunId, runId]) : 0;
    await this.#pool.query(
      `UPDATE cohort_runs SET phase = 'snapshotted', members = $1, skipped = $2, to_add = $3, to_remove = $4
       WHERE sync_id = $5 AND run_id = $6`,
      [members, skipped, toAdd, toRemove, syncId, runId],
    );
    return (await this.getCohortRun(syncId, runId)) as CohortRun;
  }

  async cohortDiffPage(
    syncId: string,
    runId: string,
    otherRunId: string | undefined,
    after: string | undefined,
    limit: number,
  ): Promise<string[]> {
    const query =
      otherRunId === undefined
        ? after === undefined
          ? { text: ALL_FIRST, values: [syncId, runId, limit] }
          : { text: ALL_AFTER, values: [syncId, runId, after, limit] }
        : after === undefined
          ? { text: DIFF_FIRST, values: [syncId, runId, otherRunId, limit] }
          : { text: DIFF_AFTER, values: [syncId, runId, otherRunId, after, limit] };
    const { rows } = await this.#pool.query<{ id: string }>(query);
    return rows.map((r) => r.id);
  }

  async saveCohortProgress(syncId: string, runId: string, progress: CohortApplyProgress): Promise<void> {
    // Once per chunk; lost to a database crash, the chunks after the last saved one are sent again,
    // and adds and removes are idempotent (see inTransaction's `redoable`).
    await this.#redoableTx((c) =>
      c.query(`UPDATE cohort_runs SET phase = 'applying', progress = $1 WHERE sync_id = $2 AND run_id = $3`, [
        JSON.stringify(progress),
        syncId,
        runId,
      ]),
    );
  }

  async completeCohortRun(syncId: string, runId: string): Promise<void> {
    await this.#tx(async (c) => {
      await c.query(
        `UPDATE cohort_runs SET phase = 'applied', finished_at = $1 WHERE sync_id = $2 AND run_id = $3`,
        [this.#now(), syncId, runId],
      );
      // The new baseline is complete: older snapshots are no longer needed.
      await c.query(
        // Only runs not yet superseded or failed can still have members.
        `DELETE FROM cohort_members WHERE run_key IN (SELECT run_key FROM cohort_runs
           WHERE sync_id = $1 AND run_id <> $2 AND phase NOT IN ('superseded', 'failed'))`,
        [syncId, runId],
      );
      // One baseline per sync: the previous one is superseded, unfinished attempts failed.
      await c.query(
        `UPDATE cohort_runs SET phase = CASE phase WHEN 'applied' THEN 'superseded' ELSE 'failed' END
         WHERE sync_id = $1 AND run_id <> $2`,
        [syncId, runId],
      );
    });
  }

  async getCohortRun(syncId: string, runId: string): Promise<CohortRun | undefined> {
    const { rows } = await this.#pool.query('SELECT * FROM cohort_runs WHERE sync_id = $1 AND run_id = $2', [
      syncId,
      runId,
    ]);
    return rows[0] ? cohortRunOf(rows[0]) : undefined;
  }

  async lastAppliedCohortRun(syncId: string): Promise<CohortRun | undefined> {
    const { rows } = await this.#pool.query(
      `SELECT * FROM cohort_runs WHERE sync_id = $1 AND phase = 'applied' LIMIT 1`,
      [syncId],
    );
    return rows[0] ? cohortRunOf(rows[0]) : undefined;
  }

  async dropForgottenMembers(
    syncId: string,
    runId: string,
    forgotten: { destinationId: string; idType: 'id' | 'email' | 'cio_id'; since: number },
  ): Promise<number> {
    const { destinationId, idType, since } = forgotten;
    // Deletions are rare: only when there are some does the baseline get scanned.
    const any = await this.#pool.query(
      'SELECT 1 FROM forgotten_people WHERE destination_id = $1 AND forgotten_at >= $2 LIMIT 1',
      [destinationId, since],
    );
    if (any.rowCount === 0) return 0;
    return this.#tx(async (c) => {
      const deleted = await c.query(
        `DELETE FROM cohort_members WHERE run_key = ${key('$2')} AND ${memberUserKeySql(idType, 'member_id')} IN (
           SELECT user_key FROM forgotten_people WHERE destination_id = $3 AND forgotten_at >= $4)`,
        [syncId, runId, destinationId, since],
      );
      const removed = deleted.rowCount ?? 0;
      if (removed > 0) {
        await c.query(
          'UPDATE cohort_runs SET members = GREATEST(0, members - $1) WHERE sync_id = $2 AND run_id = $3',
          [removed, syncId, runId],
        );
      }
      return removed;
    });
  }
}
