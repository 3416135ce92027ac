import type { Store } from '../store/store.ts';
import {
  applyCohortDiff,
  ensureCohortSegment,
  nextCohortRunAt,
  snapshotCohort,
  type CohortActivityInput,
} from './cohort.ts';
import { deliverBatch } from './deliver-batch.ts';
import { DestinationClients } from './destinations.ts';
import { redriveDeadLetters, type RedriveInput } from './redrive.ts';
import type { DeliverBatchInput } from './types.ts';

/** Hooks the worker's metrics endpoint listens to; optional so tests can leave them out. */
export interface DeliveryMetrics {
  onDelivery(syncId: string, status: number | undefined, durationMs: number | undefined): void;
}

export interface ActivityDeps {
  store: Store;
  clients: DestinationClients;
  /** The worker's own environment: where `${ENV}` references (secrets) are resolved. */
  env: NodeJS.ProcessEnv;
  metrics?: DeliveryMetrics;
}

/** The activities the worker registers, built from their dependencies (no module-level state). */
export function createActivities(deps: { store: Store; env: NodeJS.ProcessEnv; metrics?: DeliveryMetrics }) {
  const full: ActivityDeps = { ...deps, clients: new DestinationClients(deps.store, deps.env) };
  return {
    deliverBatch: (input: DeliverBatchInput) => deliverBatch(full, input),
    redriveDeadLetters: (input: RedriveInput) => redriveDeadLetters(full, input),
    ensureCohortSegment: (input: CohortActivityInput) => ensureCohortSegment(full, input),
    snapshotCohort: (input: Parameters<typeof snapshotCohort>[1]) => snapshotCohort(full, input),
    applyCohortDiff: (input: Parameters<typeof applyCohortDiff>[1]) => applyCohortDiff(full, input),
    nextCohortRunAt: (input: Parameters<typeof nextCohortRunAt>[1]) => nextCohortRunAt(full, input),
  };
}
