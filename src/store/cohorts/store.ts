/**
 * Cohort membership snapshots and their diffs. Members live in the store, never in workflow state
 * or in one JavaScript Set: a run streams its members in, and joiners/leavers are read back in
 * pages by SQL, so memory stays flat however large the cohort is.
 */

/** `applied` is the baseline (one per sync); a later baseline makes it `superseded`. */
export type CohortRunPhase =
  'snapshotting' | 'snapshotted' | 'applying' | 'applied' | 'superseded' | 'failed';

/** Where an apply step got to: the diff is read in member-id order, so a cursor is enough. */
export interface CohortApplyProgress {
  phase: 'add' | 'remove' | 'done';
  /** Last member id applied in `phase` (keyset cursor); absent at the start of a phase. */
  after?: string;
  added: number;
  removed: number;
  /** Members Customer.io refused so far, and its reasons with how many each. */
  rejected?: number;
  rejectedReasons?: Record<string, number>;
}

export interface CohortRun {
  syncId: string;
  runId: string;
  phase: CohortRunPhase;
  members: number;
  skipped: number;
  /** Joiners and leavers against the baseline, counted when the snapshot is complete. */
  toAdd: number;
  toRemove: number;
  progress: CohortApplyProgress;
  startedAt: number;
  finishedAt?: number;
}

export interface CohortStore {
  /** Starts (or restarts, emptying it) the snapshot of run `runId`. */
  beginCohortRun(syncId: string, runId: string): Promise<void>;
  /**
   * Adds members to a run's snapshot (duplicates are ignored); one transaction per call. Returns
   * how many were new to it.
   */
  addCohortMembers(syncId: string, runId: string, memberIds: readonly string[]): Promise<number>;
  /**
   * Marks the snapshot complete and counts the diff against `baselineRunId` (no baseline: every
   * member joins). Returns the run. `members`, the sum of what addCohortMembers returned since
   * beginCohortRun, spares counting the snapshot again (a million rows: about 0.1 s).
   */
  completeCohortSnapshot(
    syncId: string,
    runId: string,
    baselineRunId: string | undefined,
    skipped: number,
    members?: number,
  ): Promise<CohortRun>;
  /** Up to `limit` ids in `runId` but not in `otherRunId`, in id order, after `after`. */
  cohortDiffPage(
    syncId: string,
    runId: string,
    otherRunId: string | undefined,
    after: string | undefined,
    limit: number,
  ): Promise<string[]>;
  saveCohortProgress(syncId: string, runId: string, progress: CohortApplyProgress): Promise<void>;
  /**
   * Makes `runId` the baseline: marks it applied and drops older runs' members. Only called once
   * every chunk was applied, so a crash mid-apply keeps the previous baseline.
   */
  completeCohortRun(syncId: string, runId: string): Promise<void>;
  getCohortRun(syncId: string, runId: string): Promise<CohortRun | undefined>;
  /** The last applied run (the baseline for the next diff). */
  lastAppliedCohortRun(syncId: string): Promise<CohortRun | undefined>;
  /**
   * Removes from run `runId` (a baseline) the members that Store.forgetPeople recorded as deleted or
   * suppressed in workspace `destinationId` at or after `since` (epoch ms), matching member ids as
   * `idType` reads them (emails without regard to case, cio_ids with or without their `cio_`
   * prefix), and lowers the run's member count. Returns how many were removed.
   */
  dropForgottenMembers(
    syncId: string,
    runId: string,
    forgotten: { destinationId: string; idType: 'id' | 'email' | 'cio_id'; since: number },
  ): Promise<number>;
}

/**
 * SQL for the user key (src/mapping/identify.ts userKey) a member id of `column` stands for, read as
 * `idType`: `id:<id>`, `email:<lower-cased email>`, `cio_id:<bare cio_id>`. The same text in SQLite and
 * PostgreSQL (`||`, `lower`, `substr`).
 */
export function memberUserKeySql(idType: 'id' | 'email' | 'cio_id', column: string): string {
  switch (idType) {
    case 'id':
      return `('id:' || ${column})`;
    case 'email':
      return `('email:' || lower(${column}))`;
    case 'cio_id':
      return `('cio_id:' || CASE WHEN substr(${column}, 1, 4) = 'cio_' THEN substr(${column}, 5) ELSE ${column} END)`;
  }
}
