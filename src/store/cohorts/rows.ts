import { json, num, optNum, type Row, str } from '../columns.ts';
import type { CohortApplyProgress, CohortRun } from './store.ts';

/** The progress a run starts (or restarts) with. */
export const START: CohortApplyProgress = { phase: 'add', added: 0, removed: 0 };

/** A row of `SELECT * FROM cohort_runs`. */
export function cohortRunOf(row: Row): CohortRun {
  const finishedAt = optNum(row, 'finished_at');
  return {
    syncId: str(row, 'sync_id'),
    runId: str(row, 'run_id'),
    phase: str(row, 'phase') as CohortRun['phase'],
    members: num(row, 'members'),
    skipped: num(row, 'skipped'),
    toAdd: num(row, 'to_add'),
    toRemove: num(row, 'to_remove'),
    progress: json<CohortApplyProgress>(row, 'progress'),
    startedAt: num(row, 'started_at'),
    ...(finishedAt === undefined ? {} : { finishedAt }),
  };
}
