import type { Store } from '../store/store.ts';
import type { BackfillChunkInput } from '../workflows/backfill-definitions.ts';
import { backfillExport } from './backfill.ts';
import {
  applyCohortDiff,
  ensureCohortSegment,
  nextCohortRunAt,
  snapshotCohort,
  type CohortActivityInput,
} from './cohort.ts';
import { deliverLane } from './deliver-lane.ts';
import type { DeliveryMetrics } from './delivery-metrics.ts';
import type { ActivityDeps } from './deps.ts';
import { pruneLog, type PruneLogInput } from './log-retention.ts';
import { LogTail } from './log-tail.ts';
import { startCohortRun } from './cohort-run-id.ts';
import { setStreamCursor } from './lane-cursors.ts';
import { dispatchLanes } from './lane-dispatch.ts';
import { DestinationClients } from './destinations.ts';
import { Doorbell, type RingWorkflow } from './doorbell.ts';
import { redriveDeadLetters } from './redrive.ts';
import { checkSyncSpec } from './check-sync-spec.ts';
import type { CheckSyncSpecInput, DeliverLaneInput, RedriveInput } from '../workflows/activity-io.ts';

/** The activities the worker registers, built from their dependencies (no module-level state). */
export function createActivities(deps: {
  store: Store;
  env: NodeJS.ProcessEnv;
  metrics?: DeliveryMetrics;
  /** Pass your own to close them on shutdown; built here otherwise. */
  clients?: DestinationClients;
  shutdownSignal?: AbortSignal;
  /** Signals a quiet sync's workflow awake; without it quiet syncs keep an activity waiting. */
  ringWorkflow?: RingWorkflow;
}) {
  const logTail = new LogTail(deps.store);
  const full: ActivityDeps = {
    ...deps,
    logTail,
    clients: deps.clients ?? new DestinationClients(deps.store, deps.env, deps.metrics),
    ...(deps.ringWorkflow && { doorbell: new Doorbell(logTail, deps.ringWorkflow, deps.shutdownSignal) }),
  };
  return {
    checkSyncSpec: (input: CheckSyncSpecInput) => checkSyncSpec(input),
    deliverLane: (input: DeliverLaneInput) => deliverLane(full, input),
    dispatchLanes: (input: Parameters<typeof dispatchLanes>[1]) => dispatchLanes(full, input),
    redriveDeadLetters: (input: RedriveInput) => redriveDeadLetters(full, input),
    setStreamCursor: (input: Parameters<typeof setStreamCursor>[1]) => setStreamCursor(full, input),
    pruneLog: (input: PruneLogInput) => pruneLog(full, input),
    startCohortRun: (input: Parameters<typeof startCohortRun>[1]) => startCohortRun(full, input),
    ensureCohortSegment: (input: CohortActivityInput) => ensureCohortSegment(full, input),
    snapshotCohort: (input: Parameters<typeof snapshotCohort>[1]) => snapshotCohort(full, input),
    applyCohortDiff: (input: Parameters<typeof applyCohortDiff>[1]) => applyCohortDiff(full, input),
    nextCohortRunAt: (input: Parameters<typeof nextCohortRunAt>[1]) => nextCohortRunAt(full, input),
    backfillExport: (input: BackfillChunkInput) => backfillExport(full, input),
  };
}
