import type { StreamSyncSpec } from '../config/schema.ts';

export interface DeliverBatchInput {
  syncId: string;
  spec: StreamSyncSpec;
  afterSeq: number;
}

/**
 * What one delivery did. It is the activity's result, so it is the audit line in the sync's
 * history: small, and never an event payload.
 */
export interface DeliverySummary {
  /** `idle`: no records arrived in time; `delivered`: a batch was handled; `credentials_rejected`: 401/403. */
  outcome: 'idle' | 'delivered' | 'credentials_rejected';
  /** Records read from the log. */
  records: number;
  delivered: number;
  filtered: Record<string, number>;
  deadLettered: number;
  /** The sync's cursor after this delivery (unchanged unless outcome is `delivered`). */
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
