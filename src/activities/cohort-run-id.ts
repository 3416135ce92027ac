import type { ActivityDeps } from './deps.ts';

/**
 * A new cohort run id, unique for the sync for ever: drawn from a store sequence, so a re-created
 * workflow (terminate + apply, a lost Temporal database) never reuses the id of a run whose
 * members are the baseline. Ids a store already holds (runs numbered by older versions) are skipped.
 */
export async function startCohortRun(deps: ActivityDeps, { syncId }: { syncId: string }): Promise<string> {
  for (;;) {
    const runId = String(await deps.store.nextSequence(`cohort-run:${syncId}`));
    if (!(await deps.store.cohorts.getCohortRun(syncId, runId))) return runId;
  }
}
