/**
 * What the backfill workflow and its callers (CLI, worker, tests) share: id, messages, input and
 * progress. Sandbox-safe: imports only @temporalio/workflow and types.
 */
import { defineQuery } from '@temporalio/workflow';

/** Error types the backfill activity raises that no retry can mend. */
export const BACKFILL_ERRORS = {
  tooLarge: 'ExportTooLarge',
  credentials: 'ExportCredentials',
  request: 'ExportRequestRefused',
  config: 'BackfillConfig',
  format: 'ExportFormat',
} as const;

export function backfillWorkflowId(sourceId: string): string {
  return `backfill/${sourceId}`;
}

/**
 * Where a source's export comes from, as the config names it: `${VAR}` references, resolved by the
 * worker (which allows only its Amplitude variables there), never the keys themselves.
 */
export interface BackfillSourceRef {
  sourceId: string;
  apiKey: string;
  secretKey?: string;
  region: 'us' | 'eu';
  exportUrl?: string;
}

export interface BackfillInput {
  source: BackfillSourceRef;
  /** Export API upload hours, both ends included, as whole hours since the epoch (src/backfill/export-hours.ts). */
  range?: { from: number; to: number };
  /** Or an export zip the user downloaded: a path the worker may read (CIO_SYNC_BACKFILL_DIR). */
  file?: string;
  /** Upload hours asked for in one Export API request (a 400 "over 4 GB" halves it). */
  hoursPerRequest: number;
  /** Records appended per second at most, so live syncs keep their share of the store. */
  recordsPerSecond: number;
  /** Read hours a finished backfill already appended again (insert ids still dedupe them). */
  force: boolean;
}

export type BackfillStatus = 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';

/** What one export request (or the file) brought. */
export interface BackfillTally {
  /** Rows read from the export. */
  records: number;
  /** Rows appended to the source's log. */
  appended: number;
  /** Rows whose insert id the log already held (live webhook traffic, an earlier run). */
  duplicates: number;
  /** Rows refused (not an event, over the record limits), counted and logged by the worker. */
  invalid: number;
  /** Upload hours finished, including hours with no data and hours an earlier run finished. */
  hours: number;
  /** Hours an earlier run had finished, left alone. */
  skippedHours: number;
}

export function emptyTally(): BackfillTally {
  return { records: 0, appended: 0, duplicates: 0, invalid: 0, hours: 0, skippedHours: 0 };
}

export interface BackfillChunkInput {
  source: BackfillSourceRef;
  range?: { from: number; to: number };
  file?: string;
  recordsPerSecond: number;
  force: boolean;
  /** Names the run in the store's record of finished hours. */
  runId: string;
}

export interface BackfillProgress {
  status: BackfillStatus;
  sourceId: string;
  range?: { from: string; to: string };
  file?: string;
  hoursTotal?: number;
  tally: BackfillTally;
  /** The upload hours being read now. */
  current?: { from: string; to: string };
  startedAt: string;
  finishedAt?: string;
  lastError?: string;
}

export const backfillProgressQuery = defineQuery<BackfillProgress>('backfillProgress');
