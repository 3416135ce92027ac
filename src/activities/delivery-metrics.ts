/** The hooks activities report deliveries to (the worker's Prometheus metrics implement them). */
import type { CioApi } from '../customerio/client.ts';
import type { CioOutcomeKind } from '../customerio/classify.ts';
import { HOLD_REASONS, type HoldReason } from '../customerio/policy.ts';

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
