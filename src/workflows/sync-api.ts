/**
 * What workflows and their callers (CLI, worker, tests) share: ids, messages and
 * search attributes. Sandbox-safe: imports only @temporalio/workflow and types.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { defineSearchAttributeKey } from '@temporalio/common';

import type { CohortSyncSpec, StreamSyncSpec } from '../config/schema.ts';
import type { CohortRunSummary, RedriveSummary } from './activity-io.ts';

export function streamSyncWorkflowId(syncId: string): string {
  return `stream-sync/${syncId}`;
}

// --- Search attributes ----------------------------------------------------------------------
// Registered on the dev server with --search-attribute (see SEARCH_ATTRIBUTES) and shown as
// columns/filters in the Web UI. Keys are plain objects so this module needs no runtime import
// from @temporalio/common.
type KeywordKey = ReturnType<typeof defineSearchAttributeKey<'KEYWORD'>>;

export const SyncIdAttribute: KeywordKey = { name: 'CioSyncId', type: 'KEYWORD' };
export const SyncTypeAttribute: KeywordKey = { name: 'CioSyncType', type: 'KEYWORD' };
export const SyncStatusAttribute: KeywordKey = { name: 'CioSyncStatus', type: 'KEYWORD' };
export const DestinationAttribute: KeywordKey = { name: 'CioDestination', type: 'KEYWORD' };

export const SEARCH_ATTRIBUTES = [
  SyncIdAttribute,
  SyncTypeAttribute,
  SyncStatusAttribute,
  DestinationAttribute,
];

// --- Stream sync ----------------------------------------------------------------------------

/**
 * `running`: delivering or waiting for records; `paused`: by signal or config. Every other status
 * means the sync is not making progress, says why, and returns to `running` by itself once the
 * cause is gone (nothing is skipped meanwhile):
 * - `stalled`: attempts keep failing (Customer.io 5xx/429/timeouts, a store error); `lastError`
 *   and `stalled.attempts` say what and how often;
 * - `credentials_missing`: the worker's environment lacks a credential the applied config names;
 * - `credentials_rejected`: Customer.io answered 401/403;
 * - `destination_unreachable`: a redirect, 404/405, DNS or TLS failure: a wrong region or URL;
 * - `held_large_removal` (cohort): a run would remove more of the segment than `maxRemovalRatio`.
 */
export type SyncStatus =
  | 'running'
  | 'paused'
  | 'stalled'
  | 'credentials_missing'
  | 'credentials_rejected'
  | 'destination_unreachable'
  | 'held_large_removal';

/** Consecutive failed attempts of a sync that is `stalled`, and since when. */
export interface StallInfo {
  attempts: number;
  since: string;
}

export interface StreamCounters {
  /** Records whose Customer.io operations were accepted. */
  delivered: number;
  /** Records left out on purpose, by reason (`no_identifier`, `event_type_excluded`, …). */
  filtered: Record<string, number>;
  deadLettered: number;
  /** Delivery attempts that were retried (429, 5xx, timeouts, network). */
  retried: number;
  /** Delivery activities that sent a request to Customer.io. */
  requests: number;
  /**
   * Deletes and suppressions Customer.io accepted, by kind: `person_delete`, `person_suppress`,
   * `person_unsuppress`, `object_delete`, `relationship_delete`. Absent in state carried over from
   * before deletions existed.
   */
  deletions?: Record<string, number>;
}

export interface LastError {
  message: string;
  at: string;
  status?: number;
  /** The failure type, when an activity raised it (`CustomerIoUnavailable`, …). */
  type?: string;
}

/** Everything a stream sync carries across continue-as-new. No events, no secrets. */
export interface StreamSyncState {
  /** The lowest lane cursor: every record at or below it is settled. */
  cursor: number;
  /** Each lane's cursor, as its last run reported it (the store holds the truth). */
  lanes: number[];
  /** `lanes: auto`: how many lanes it runs now (1, or AUTO_MAX_LANES while a backlog lasts). */
  autoLanes?: number;
  /** `lanes: auto`: when it last grew (workflow time, ms). */
  autoLanesSince?: number;
  /** Where a sync with no stored progress starts (see `startFrom`). */
  startFrom?: 'beginning' | { time: number };
  paused: boolean;
  status: SyncStatus;
  counters: StreamCounters;
  /** Head of the source log when the sync last looked; lag = headSeq - cursor. */
  headSeq: number;
  lastError?: LastError;
  lastDeliveryAt?: string;
  stalled?: StallInfo;
}

export interface StreamSyncInput {
  spec: StreamSyncSpec;
  state?: StreamSyncState;
  /** Continue-as-new once history reaches this many events (tests); Temporal's own hint otherwise. */
  continueAsNewAfterEvents?: number;
}

export interface StreamSyncStatus {
  syncId: string;
  type: 'stream';
  status: SyncStatus;
  cursor: number;
  /** Each delivery lane's cursor. */
  lanes: number[];
  headSeq: number;
  lag: number;
  counters: StreamCounters;
  lastError?: LastError;
  lastDeliveryAt?: string;
  source: string;
  destination: string;
  /** A delivery activity is running (a pause takes effect once it has stopped). */
  delivering: boolean;
  stalled?: StallInfo;
}

export const pauseSignal = defineSignal<[]>('pause');
export const resumeSignal = defineSignal<[]>('resume');
/** The worker's doorbell (src/activities/doorbell.ts): a quiet stream sync's records have arrived. */
export const recordsArrivedSignal = defineSignal<[]>('recordsArrived');
export const statusQuery = defineQuery<StreamSyncStatus>('status');
/** The sync's current config (references only, no secrets). */
export const configQuery = defineQuery<StreamSyncSpec>('config');
/** Replaces the sync's config; rejected (nothing written to history) when invalid. */
export const updateConfigUpdate = defineUpdate<{ accepted: true }, [StreamSyncSpec]>('updateConfig');
/**
 * Moves the cursor back (replay, reset) or forward, in the store first; Customer.io deduplicates
 * replayed events by id.
 */
export const setCursorUpdate = defineUpdate<{ previous: number; cursor: number }, [number]>('setCursor');
/** Sends the sync's dead letters again with its current config; answers with what happened. */
export const redriveUpdate = defineUpdate<RedriveSummary, [{ ids?: number[] }]>('redrive');

// --- Cohort sync ----------------------------------------------------------------------------

export function cohortSyncWorkflowId(syncId: string): string {
  return `cohort-sync/${syncId}`;
}

/** A run held because it would remove too much of the segment (see `maxRemovalRatio`). */
export interface LargeRemovalHold {
  runId: string;
  toRemove: number;
  /** Members of the last applied run. */
  baselineMembers: number;
  members: number;
  maxRemovalRatio: number;
}

export interface CohortCounters {
  runs: number;
  added: number;
  removed: number;
  skipped: number;
  /** Members Customer.io refused. */
  rejected?: number;
}

export interface CohortSyncState {
  paused: boolean;
  status: SyncStatus;
  /** Runs started by this workflow (run ids themselves come from the store, unique for ever). */
  runNumber: number;
  /** The run in progress, kept across pause and continue-as-new so it resumes, not restarts. */
  current?: {
    runId: string;
    startedAt: string;
    stage: 'snapshot' | 'apply';
    baselineRunId?: string;
    /** An operator confirmed this run's large removal (`run --confirm`). */
    confirmed?: boolean;
    /** The snapshot's diff against the baseline, for the apply activity's summary. */
    toAdd?: number;
    toRemove?: number;
  };
  held?: LargeRemovalHold;
  stalled?: StallInfo;
  lastRun?: CohortRunSummary;
  /** Epoch ms of the next scheduled run; absent for `once` after its run. */
  nextRunAt?: number;
  runNowRequested: boolean;
  counters: CohortCounters;
  lastError?: LastError;
}

export interface CohortSyncInput {
  spec: CohortSyncSpec;
  state?: CohortSyncState;
}

export interface CohortSyncStatus {
  syncId: string;
  type: 'cohort';
  status: SyncStatus;
  /** A run is in progress (it may be paused between chunks). */
  running: boolean;
  /** An activity of the run is executing right now (a pause takes effect once this is false). */
  applying: boolean;
  currentRunId?: string;
  lastRun?: CohortRunSummary;
  nextRunAt?: string;
  counters: CohortCounters;
  lastError?: LastError;
  destination: string;
  held?: LargeRemovalHold;
  stalled?: StallInfo;
}

/**
 * Runs a cohort sync now, whatever its cadence (a run in progress just goes on). `confirm` applies
 * a run held for a large removal.
 */
export const runNowSignal = defineSignal<[{ confirm?: boolean }?]>('runNow');
export const cohortStatusQuery = defineQuery<CohortSyncStatus>('status');
export const cohortConfigQuery = defineQuery<CohortSyncSpec>('config');
export const updateCohortConfigUpdate = defineUpdate<{ accepted: true }, [CohortSyncSpec]>('updateConfig');
