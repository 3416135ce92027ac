import type { CioApi } from '../customerio/client.ts';
import type { CioOutcomeKind } from '../customerio/classify.ts';
import { HOLD_REASONS, type HoldReason } from '../customerio/policy.ts';
import type { Store } from '../store/store.ts';
import {
  applyCohortDiff,
  ensureCohortSegment,
  nextCohortRunAt,
  snapshotCohort,
  type CohortActivityInput,
} from './cohort.ts';
import { deliverLane } from './deliver-lane.ts';
import { pruneLog, type PruneLogInput } from './log-retention.ts';
import { LogTail } from './log-tail.ts';
import { dispatchLanes, setStreamCursor, startCohortRun } from './progress.ts';
import { DestinationClients } from './destinations.ts';
import { redriveDeadLetters, type RedriveInput } from './redrive.ts';
import type { DeliverLaneInput } from './types.ts';

export type SyncHealth = 'running' | 'stalled' | HoldReason;
export const SYNC_HEALTH: readonly SyncHealth[] = ['running', 'stalled', ...HOLD_REASONS];

/** What one delivery (or one redriven batch) did with its records. */
export interface RecordCounts {
  delivered: number;
  filtered: Record<string, number>;
  /** Dead letters written, by reason. */
  deadLettered: Record<string, number>;
  /** Deletes and suppressions Customer.io accepted, by kind (`person_delete`, …). */
  deletions?: Record<string, number>;
}

/** One Customer.io request, as a live client saw it (a dry run sends nothing and reports nothing). */
export interface CustomerIoCall {
  destination: string;
  api: CioApi;
  /** HTTP status; undefined for a timeout or network failure. */
  status: number | undefined;
  outcome: CioOutcomeKind;
  durationMs: number;
}

/**
 * Hooks the worker's metrics endpoint listens to (src/metrics.ts implements them); optional so
 * tests and tools can leave them out. Activities call them; they never read them back.
 */
export interface DeliveryMetrics {
  onRecords(syncId: string, counts: RecordCounts): void;
  /** Records in the source's log past the sync's cursor, as the last delivery saw them. */
  onLag(syncId: string, records: number): void;
  /** A delivery's outcome: `idle`, `delivered`, `credentials_rejected`. */
  onDelivery(syncId: string, outcome: string): void;
  /** A delivery attempt that follows a failed one. */
  onRetry(syncId: string): void;
  onCustomerIoCall(call: CustomerIoCall): void;
  /**
   * Where a stream sync stands: `stalled` while attempts fail, a hold reason while it waits for a
   * fix, `running` once a delivery got through; and how many attempts in a row have failed.
   */
  onSyncState(syncId: string, state: SyncHealth, failingAttempts: number): void;
  /** Ids a cohort sync added to or removed from its segment (or attribute). */
  onCohortIds(syncId: string, change: 'added' | 'removed', count: number): void;
}

export interface ActivityDeps {
  store: Store;
  /** The newest records of each source, shared by every lane of this worker (log-tail.ts). */
  logTail?: LogTail;
  clients: DestinationClients;
  /** The worker's own environment: where `${ENV}` references (secrets) are resolved. */
  env: NodeJS.ProcessEnv;
  metrics?: DeliveryMetrics;
  /**
   * Aborts when the worker begins to shut down: a delivery still waiting for records hands its
   * attempt back at once instead of holding the shutdown for `waitFor`.
   */
  shutdownSignal?: AbortSignal;
}

/** The activities the worker registers, built from their dependencies (no module-level state). */
export function createActivities(deps: {
  store: Store;
  env: NodeJS.ProcessEnv;
  metrics?: DeliveryMetrics;
  /** Pass your own to close them on shutdown; built here otherwise. */
  clients?: DestinationClients;
  shutdownSignal?: AbortSignal;
}) {
  const full: ActivityDeps = {
    ...deps,
    logTail: new LogTail(deps.store),
    clients: deps.clients ?? new DestinationClients(deps.store, deps.env, deps.metrics),
  };
  return {
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
  };
}
