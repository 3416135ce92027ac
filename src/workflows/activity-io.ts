/**
 * What workflows and activities hand each other: activity inputs and the summaries they return.
 * Types only, importing neither side, so both (and the CLI) can share them without a circle.
 */
import type { StreamSyncSpec } from '../config/schema.ts';
import type { HoldReason } from '../customerio/policy.ts';

export interface CheckSyncSpecInput {
  type: 'stream' | 'cohort';
  /** As received: from the CLI, or from whoever started or updated the workflow by hand. */
  spec: unknown;
}

export interface DeliverLaneInput {
  syncId: string;
  spec: StreamSyncSpec;
  /** This lane, 0 … lanes-1; records are split by person (src/mapping/lanes.ts). */
  lane: number;
  lanes: number;
  /**
   * Where a sync with no stored progress starts: after the last record received before `time`
   * (`startFrom: now` is the workflow's start), or at the beginning of the log.
   */
  startFrom?: 'beginning' | { time: number };
  /** Attempts that failed before this run (the workflow's stall count), for the metrics. */
  failedAttempts?: number;
  /** Return once no record has arrived for this long. */
  lingerMs: number;
  /** Return after this long even while busy (an audit line in history, room for continue-as-new). */
  maxRunMs: number;
  /**
   * `lanes: auto` with fewer lanes than it grows to: return early once the log's head is more than
   * this many records past the lane's cursor, so the workflow can grow the sync.
   */
  endWhenBehind?: number;
  /**
   * A run that ends because no record came for `lingerMs` arms the worker's doorbell for this long
   * (src/activities/doorbell.ts) and says so (`armed`): the workflow may then sleep without an
   * activity until it rings. Absent: the lane does not arm it (several lanes: the waiter does).
   */
  doorbellMs?: number;
}

/**
 * What one run of a lane did: its audit line in the sync's history. Small, never an event payload.
 */
export interface LaneSummary {
  /**
   * `idle`: nothing to send came; `delivered`: batches were settled; a hold reason: the run ended
   * on it, the cursor kept (what was settled before it is counted).
   */
  outcome: 'idle' | 'delivered' | HoldReason;
  lane: number;
  /** Records of this lane settled (sent, filtered or dead-lettered). */
  records: number;
  delivered: number;
  filtered: Record<string, number>;
  deadLettered: number;
  /** Customer.io requests sent. */
  requests: number;
  /** The lane's stored cursor when the run ended. */
  cursor: number;
  headSeq: number;
  /**
   * Given `endWhenBehind`: whether more than that many records of the source lay after the lane's
   * cursor when the run ended (counted: seqs are numbered across every source, so headSeq - cursor
   * is no count). Absent in summaries of runs before it existed.
   */
  behind?: boolean;
  /** Customer.io's HTTP status of the last request. */
  status?: number;
  /** Time spent waiting for Customer.io, all requests together. */
  durationMs?: number;
  dryRun?: boolean;
  /** Temporal attempt number; > 1 means earlier attempts failed and were retried. */
  attempt: number;
  error?: string;
  /** Deletes and suppressions Customer.io accepted, by kind (`person_delete`, …); absent when none. */
  deletions?: Record<string, number>;
  /** The run ended quiet and armed the doorbell: the workflow sleeps until it rings. */
  armed?: boolean;
}

export interface RedriveInput {
  syncId: string;
  spec: StreamSyncSpec;
  /** Dead letters to redrive; all open ones of the sync when absent. */
  ids?: number[];
}

export interface RedriveSummary {
  redriven: number;
  delivered: number;
  filtered: Record<string, number>;
  deadLettered: number;
  status?: number;
  dryRun?: boolean;
  /** Set when the destination holds (credentials, unreachable): the letters not yet sent stay open. */
  hold?: string;
  error?: string;
  /** Deletes and suppressions Customer.io accepted, by kind. */
  deletions?: Record<string, number>;
}

/** What one cohort run did; the apply activity's result and the run's audit line. */
export interface CohortRunSummary {
  runId: string;
  startedAt: string;
  finishedAt: string;
  members: number;
  added: number;
  removed: number;
  /** Ids left out because they break Customer.io's rules for the id type. */
  skipped: number;
  /** Members Customer.io did not know, where its answers tell (segment count below the snapshot). */
  unknown?: number;
  /** Members Customer.io refused (207 item errors, a refused chunk), by its reason. */
  rejected?: number;
  rejectedReasons?: Record<string, number>;
}
