import type { Info } from '@temporalio/activity';

import type { Store } from '../store/store.ts';

/**
 * Run ownership of a stream sync's lanes. Each lane run claims the sync for its workflow run; a
 * lane still running for a run that was terminated (or lost with its Temporal database) finds the
 * claim gone and stops before it sends again.
 */
export interface LaneOwnership {
  /** Whether the sync still belongs to this run's workflow run: asked before each request. */
  held(): Promise<boolean>;
}

/** Claims the sync's lanes for the workflow run of this activity. */
export async function claimLanes(store: Store, syncId: string, info: Info): Promise<LaneOwnership> {
  const ownerKey = `sync-owner:${syncId}`;
  const runId = info.workflowExecution?.runId ?? info.activityId;
  // A write only when another run held it: most runs follow one of their own workflow run.
  if ((await store.getState(ownerKey)) !== runId) await store.setState(ownerKey, runId);
  return { held: async () => (await store.getState(ownerKey)) === runId };
}
