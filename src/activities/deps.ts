/** What every activity is given: the store, the worker's environment, clients and metrics hooks. */
import type { Store } from '../store/store.ts';
import type { DeliveryMetrics } from './delivery-metrics.ts';
import type { DestinationClients } from './destinations.ts';
import type { Doorbell } from './doorbell.ts';
import type { LogTail } from './log-tail.ts';

export interface ActivityDeps {
  store: Store;
  /** The newest records of each source, shared by every lane of this worker (log-tail.ts). */
  logTail?: LogTail;
  clients: DestinationClients;
  /** Wakes quiet syncs whose workflows sleep without an activity (doorbell.ts); none in unit tests. */
  doorbell?: Doorbell;
  /** The worker's own environment: where `${ENV}` references (secrets) are resolved. */
  env: NodeJS.ProcessEnv;
  metrics?: DeliveryMetrics;
  /**
   * Aborts when the worker begins to shut down: a delivery still waiting for records hands its
   * attempt back at once instead of holding the shutdown for `waitFor`.
   */
  shutdownSignal?: AbortSignal;
}
