import type { Client } from '@temporalio/client';

import type { Store } from '../store/store.ts';
import type { CohortSyncStatus } from '../workflows/sync-api.ts';
import { SyncControlError, cohortStatus } from './syncs.ts';
import { progressBar } from './progress-bar.ts';

/**
 * Waits for the cohort run started after `before` to finish, drawing a progress bar of ids
 * applied (read from the run's stored progress). Returns the sync's status at the end.
 */
export async function waitForCohortRun(
  client: Client,
  store: Store,
  syncId: string,
  before: CohortSyncStatus,
  timeoutMs: number,
  showBar: boolean,
): Promise<CohortSyncStatus> {
  const deadline = Date.now() + timeoutMs;
  const bar = progressBar(' {phase} |{bar}| {value}/{total} ids', showBar);
  let started = false;
  try {
    for (;;) {
      const status = await cohortStatus(client, syncId);
      const finished =
        !status.running &&
        (status.lastRun?.runId !== before.lastRun?.runId || status.lastError?.at !== before.lastError?.at);
      if (finished) {
        if (bar && started) bar.update(bar.getTotal());
        return status;
      }
      if (bar && status.currentRunId) {
        const run = await store.cohorts.getCohortRun(syncId, status.currentRunId);
        if (run) {
          const total = run.phase === 'snapshotting' ? run.members : run.toAdd + run.toRemove;
          const done = run.progress.added + run.progress.removed;
          const phase = run.phase === 'snapshotting' ? 'snapshot' : 'apply';
          if (!started) bar.start(Math.max(total, 1), done, { phase });
          started = true;
          bar.setTotal(Math.max(total, 1));
          bar.update(done, { phase });
        }
      }
      if (Date.now() > deadline)
        throw new SyncControlError(`cohort sync ${syncId}: run still going after the timeout`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    bar?.stop();
  }
}
