import type { Store } from '../store/store.ts';
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
  metrics?: DeliveryMetrics;
}

/** The activities the worker registers, built from their dependencies (no module-level state). */
export function createActivities(deps: { store: Store; env: NodeJS.ProcessEnv; metrics?: DeliveryMetrics }) {
  const full: ActivityDeps = { ...deps, clients: new DestinationClients(deps.store, deps.env) };
  return {
    deliverBatch: (input: DeliverBatchInput) => deliverBatch(full, input),
    redriveDeadLetters: (input: RedriveInput) => redriveDeadLetters(full, input),
  };
}
