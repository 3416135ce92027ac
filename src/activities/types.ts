import type { StreamSyncSpec } from '../config/schema.ts';
import type { HoldReason } from '../customerio/policy.ts';

export interface DeliverBatchInput {
  syncId: string;
  spec: StreamSyncSpec;
  afterSeq: number;
  /** Attempts that failed before this delivery (the workflow's stall count), for the metrics. */
  failedAttempts?: number;
}

/**
 * What one delivery did. It is the activity's result, so it is the audit line in the sync's
 * history: small, and never an event payload.
 */
export interface DeliverySummary {
  /**
   * `idle`: no records arrived in time; `delivered`: a batch was handled and settled; `moved`: the
   * stored cursor is not where the workflow thought (nothing was sent; `cursor` says where it is);
   * a hold reason: nothing was applied, the cursor stays, the sync waits for the fix.
   */
  outcome: 'idle' | 'delivered' | 'moved' | HoldReason;
  /** Records read from the log. */
  records: number;
  delivered: number;
  filtered: Record<string, number>;
  deadLettered: number;
  /** The sync's stored cursor after this delivery (unchanged unless `delivered` or `moved`). */
  cursor: number;
  headSeq: number;
  /** Customer.io's HTTP status, when a request was sent. */
  status?: number;
  durationMs?: number;
  dryRun?: boolean;
  /** Temporal attempt number; > 1 means earlier attempts failed and were retried. */
  attempt: number;
  error?: string;
  /** Deletes and suppressions Customer.io accepted, by kind (`person_delete`, …); absent when none. */
  deletions?: Record<string, number>;
}
