import type { ActivityDeps } from './index.ts';

/**
 * Moves a stream sync's stored cursor outright (replay, reset). The store is the system of record:
 * the workflow mirrors what this wrote, and every delivery checks it before it sends.
 */
export async function setStreamCursor(
  deps: ActivityDeps,
  { syncId, cursor }: { syncId: string; cursor: number },
): Promise<{ previous: number }> {
  return { previous: (await deps.store.setStreamCursor(syncId, cursor)) ?? 0 };
}

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
