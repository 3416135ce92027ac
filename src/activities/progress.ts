import { Context } from '@temporalio/activity';

import type { ActivityDeps } from './index.ts';

/**
 * Moves every lane of a stream sync's stored cursor outright (replay, reset). The store is the
 * system of record: the workflow mirrors what this wrote, and every lane reads it when it starts.
 */
export async function setStreamCursor(
  deps: ActivityDeps,
  { syncId, sourceId, cursor }: { syncId: string; sourceId: string; cursor: number },
): Promise<{ previous: number }> {
  return { previous: (await deps.store.setStreamCursor(syncId, sourceId, cursor)) ?? 0 };
}

/**
 * Waits, heartbeating, until the source's log has a record after `afterSeq` (or `timeoutMs`
 * passes). An idle sync with several lanes holds this one activity, not one per lane.
 */
export async function waitForLog(
  deps: ActivityDeps,
  { sourceId, afterSeq, timeoutMs }: { sourceId: string; afterSeq: number; timeoutMs: number },
): Promise<boolean> {
  const ctx = Context.current();
  ctx.heartbeat();
  const beat = setInterval(() => ctx.heartbeat(), 1000);
  try {
    const stop = deps.shutdownSignal
      ? AbortSignal.any([ctx.cancellationSignal, deps.shutdownSignal])
      : ctx.cancellationSignal;
    return await deps.store.waitForRecords(sourceId, afterSeq, timeoutMs, stop);
  } finally {
    clearInterval(beat);
  }
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
