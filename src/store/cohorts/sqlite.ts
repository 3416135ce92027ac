import type { DatabaseSync, SQLOutputValue, StatementSync } from 'node:sqlite';

import { redoableTransaction } from '../sqlite-db.ts';
import { type CohortApplyProgress, type CohortRun, type CohortStore, memberUserKeySql } from './store.ts';
import { cohortRunOf, START } from './rows.ts';

type Row = Record<string, SQLOutputValue>;

/** The SQLite side of CohortStore, sharing the store's connection and transaction helper. */
export class SqliteCohorts implements CohortStore {
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #tx: <T>(fn: () => T) => T;
  #prepared: Statements | undefined;

  constructor(db: DatabaseSync, now: () => number, tx: <T>(fn: () => T) => T) {
    this.#db = db;
    this.#now = now;
    this.#tx = tx;
  }

  /** Prepared on first use: a store opened with only older migrations (tests) has no cohort tables. */
  get #s(): Statements {
    this.#prepared ??= prepare(this.#db);
    return this.#prepared;
  }

  /** The number run `runId` of `syncId` goes by in cohort_members (-1, matching no member, for no such run). */
  #key(syncId: string, runId: string): number {
    const row = this.#s.runKey.get(syncId, runId) as Row | undefined;
    return row === undefined ? -1 : Number(row.run_key);
  }

  async beginCohortRun(syncId: string, runId: string): Promise<void> {
    this.#tx(() => {
      // A new run takes the next key (writers take turns in SQLite); one begun again keeps its own.
      this.#db
        .prepare(
          `INSERT INTO cohort_runs (sync_id, run_id, phase, progress, started_at, run_key)
           VALUES (?, ?, 'snapshotting', ?, ?, (SELECT COALESCE(MAX(run_key), 0) + 1 FROM cohort_runs))
           ON CONFLICT (sync_id, run_id) DO UPDATE SET phase = 'snapshotting', members = 0, skipped = 0,
             to_add = 0, to_remove = 0, progress = excluded.progress, started_at = excluded.started_at, finished_at = NULL`,
        )
        .run(syncId, runId, JSON.stringify(START), this.#now());
      this.#db.prepare('DELETE FROM cohort_members WHERE run_key = ?').run(this.#key(syncId, runId));
    });
  }

  async addCohortMembers(syncId: string, runId: string, memberIds: readonly string[]): Promise<number> {
    if (memberIds.length === 0) return 0;
    // One statement per chunk, the ids bound as one JSON array (as PostgreSQL's unnest), since a
    // statement per id costs several times as long. Sorted first, so the index is written in order.
    const ids = JSON.stringify([...memberIds].sort());
    return Number(this.#tx(() => this.#s.insertMembers.run(this.#key(syncId, runId), ids)).changes);
  }

  async completeCohortSnapshot(
    syncId: string,
    runId: string,
    baselineRunId: string | undefined,
    skipped: number,
    counted?: number,
  ): Promise<CohortRun> {
    const count = (sql: string, ...args: number[]) => Number((this.#db.prepare(sql).get(...args) as Row).n);
    const key = this.#key(syncId, runId);
    const members = counted ?? count('SELECT COUNT(*) AS n FROM cohort_members WHERE run_key = ?', key);
    // Joiners and leavers from the members both runs share. INTERSECT of two ORDER BY'd index ranges
    // is a merge (one sequential pass over each run), where a join would probe the baseline's index
    // once per member.
    let toAdd = members;
    let toRemove = 0;
    if (baselineRunId) {
      const baselineKey = this.#key(syncId, baselineRunId);
      const baseline = count('SELECT COUNT(*) AS n FROM cohort_members WHERE run_key = ?', baselineKey);
      const common = count(
        `SELECT COUNT(*) AS n FROM (
           SELECT member_id FROM cohort_members WHERE run_key = ?1
           INTERSECT
           SELECT member_id FROM cohort_members WHERE run_key = ?2
           ORDER BY 1)`,
        key,
        baselineKey,
      );
      toAdd = members - common;
      toRemove = baseline - common;
    }
    this.#tx(() =>
      this.#db
        .prepare(
          `UPDATE cohort_runs SET phase = 'snapshotted', members = ?, skipped = ?, to_add = ?, to_remove = ?
           WHERE sync_id = ? AND run_id = ?`,
        )
        .run(members, skipped, toAdd, toRemove, syncId, runId),
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
    const key = this.#key(syncId, runId);
    let rows: Row[];
    if (otherRunId === undefined) {
      rows = (
        after === undefined
          ? this.#s.diffAllFirst.all(key, limit)
          : this.#s.diffAllAfter.all(key, after, limit)
      ) as Row[];
    } else {
      const other = this.#key(syncId, otherRunId);
      rows = (
        after === undefined
          ? this.#s.diffFirst.all(key, other, limit)
          : this.#s.diffAfter.all(key, after, other, limit)
      ) as Row[];
    }
    return rows.map((r) => String(r.id));
  }

  async saveCohortProgress(syncId: string, runId: string, progress: CohortApplyProgress): Promise<void> {
    // Once per chunk; lost to a power cut, the chunks after the last saved one are sent again, and
    // adds and removes are idempotent (see redoableTransaction).
    redoableTransaction(this.#db, () =>
      this.#db
        .prepare(`UPDATE cohort_runs SET phase = 'applying', progress = ? WHERE sync_id = ? AND run_id = ?`)
        .run(JSON.stringify(progress), syncId, runId),
    );
  }

  async completeCohortRun(syncId: string, runId: string): Promise<void> {
    this.#tx(() => {
      this.#db
        .prepare(`UPDATE cohort_runs SET phase = 'applied', finished_at = ? WHERE sync_id = ? AND run_id = ?`)
        .run(this.#now(), syncId, runId);
      // The new baseline is complete: older snapshots are no longer needed.
      // Only runs not yet superseded or failed can still have members. One range per run: with
      // `run_key IN (…)` SQLite would collect every key before deleting.
      const older = this.#db
        .prepare(
          `SELECT run_key FROM cohort_runs WHERE sync_id = ? AND run_id <> ? AND phase NOT IN ('superseded', 'failed')`,
        )
        .all(syncId, runId);
      const drop = this.#db.prepare('DELETE FROM cohort_members WHERE run_key = ?');
      for (const row of older) drop.run(Number(row.run_key));
      this.#db
        .prepare(
          // One baseline per sync: the previous one is superseded, unfinished attempts failed.
          `UPDATE cohort_runs SET phase = CASE phase WHEN 'applied' THEN 'superseded' ELSE 'failed' END
           WHERE sync_id = ? AND run_id <> ?`,
        )
        .run(syncId, runId);
    });
  }

  async getCohortRun(syncId: string, runId: string): Promise<CohortRun | undefined> {
    const row = this.#s.getRun.get(syncId, runId) as Row | undefined;
    return row ? cohortRunOf(row) : undefined;
  }

  async lastAppliedCohortRun(syncId: string): Promise<CohortRun | undefined> {
    const row = this.#db
      .prepare(`SELECT * FROM cohort_runs WHERE sync_id = ? AND phase = 'applied' LIMIT 1`)
      .get(syncId) as Row | undefined;
    return row ? cohortRunOf(row) : undefined;
  }
  async dropForgottenMembers(
    syncId: string,
    runId: string,
    forgotten: { destinationId: string; idType: 'id' | 'email' | 'cio_id'; since: number },
  ): Promise<number> {
    const { destinationId, idType, since } = forgotten;
    // Deletions are rare: only when there are some does the baseline get scanned.
    const any = this.#db
      .prepare(
        'SELECT 1 AS found FROM forgotten_people WHERE destination_id = ? AND forgotten_at >= ? LIMIT 1',
      )
      .get(destinationId, since);
    if (any === undefined) return 0;
    return this.#tx(() => {
      const removed = Number(
        this.#db
          .prepare(
            `DELETE FROM cohort_members WHERE run_key = ? AND ${memberUserKeySql(idType, 'member_id')} IN (
               SELECT user_key FROM forgotten_people WHERE destination_id = ? AND forgotten_at >= ?)`,
          )
          .run(this.#key(syncId, runId), destinationId, since).changes,
      );
      if (removed > 0) {
        this.#db
          .prepare('UPDATE cohort_runs SET members = MAX(0, members - ?) WHERE sync_id = ? AND run_id = ?')
          .run(removed, syncId, runId);
      }
      return removed;
    });
  }
}

interface Statements {
  insertMembers: StatementSync;
  diffFirst: StatementSync;
  diffAfter: StatementSync;
  diffAllFirst: StatementSync;
  diffAllAfter: StatementSync;
  runKey: StatementSync;
  getRun: StatementSync;
}

function prepare(db: DatabaseSync): Statements {
  // Keyset pages over the primary key. EXCEPT of two index ranges in the same order is a merge that
  // walks both runs side by side from the page's start and stops at the limit, where NOT EXISTS
  // would probe the other run's index once per row.
  // Parameters as the callers bind them: run key, [after,] other run's key, limit.
  const diff = (after: boolean) => {
    const [from, other, limit] = after ? [' AND member_id > ?2', '?3', '?4'] : ['', '?2', '?3'];
    return `
    SELECT member_id AS id FROM cohort_members WHERE run_key = ?1${from}
    EXCEPT
    SELECT member_id FROM cohort_members WHERE run_key = ${other}${from}
    ORDER BY 1 LIMIT ${limit}`;
  };
  const all = (after: boolean) => `
    SELECT member_id AS id FROM cohort_members
    WHERE run_key = ?${after ? ' AND member_id > ?' : ''}
    ORDER BY member_id LIMIT ?`;
  return {
    insertMembers: db.prepare(
      'INSERT OR IGNORE INTO cohort_members (run_key, member_id) SELECT ?, value FROM json_each(?)',
    ),
    diffFirst: db.prepare(diff(false)),
    diffAfter: db.prepare(diff(true)),
    diffAllFirst: db.prepare(all(false)),
    diffAllAfter: db.prepare(all(true)),
    runKey: db.prepare('SELECT run_key FROM cohort_runs WHERE sync_id = ? AND run_id = ?'),
    getRun: db.prepare('SELECT * FROM cohort_runs WHERE sync_id = ? AND run_id = ?'),
  };
}
