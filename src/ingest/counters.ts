import type { IngestApi, IngestMetrics } from '../metrics.ts';
import type { RejectReason } from './errors.ts';

/**
 * Plain counters tests and callers read in-process; when the app has Prometheus metrics (served at
 * GET /metrics), the same counts go there too. Monotonic, in-process, reset on restart, like any
 * Prometheus counter.
 */
export interface IngestCounters {
  /** Records appended to each source's log. */
  recordsIngested: Record<string, number>;
  /** Requests answered 200, per source. */
  requestsAccepted: Record<string, number>;
  /** Requests not acknowledged, by reason. */
  requestsRejected: Partial<Record<RejectReason, number>>;
  /** Records a webhook delivered again, acknowledged without a second append, per source. */
  recordsDuplicate: Record<string, number>;
}

/** Where a count goes: the plain counters, and the Prometheus metrics when there are any. */
export interface IngestTally {
  counters: IngestCounters;
  metrics?: IngestMetrics;
}

export function createIngestCounters(): IngestCounters {
  return { recordsIngested: {}, requestsAccepted: {}, requestsRejected: {}, recordsDuplicate: {} };
}

/** Which API a request came in through (a route's `config.family`): its error bodies and metrics label. */
export type ApiFamily =
  'amplitude' | 'amplitude-identify' | 'segment' | 'amplitude-webhook' | 'segment-webhook' | 'plain';

/** The metrics' `api` label: the Identify APIs count as Amplitude, health and 404s as other. */
export function apiOf(family: ApiFamily): IngestApi {
  switch (family) {
    case 'amplitude':
    case 'amplitude-identify':
      return 'amplitude';
    case 'segment':
      return 'segment';
    case 'amplitude-webhook':
      return 'amplitude_webhook';
    case 'segment-webhook':
      return 'segment_webhook';
    default:
      return 'other';
  }
}

export function countAccepted(tally: IngestTally, sourceId: string, api: IngestApi, records: number): void {
  const { counters, metrics } = tally;
  counters.recordsIngested[sourceId] = (counters.recordsIngested[sourceId] ?? 0) + records;
  counters.requestsAccepted[sourceId] = (counters.requestsAccepted[sourceId] ?? 0) + 1;
  metrics?.recordsIngested.inc({ source: sourceId, api }, records);
  metrics?.requestsAccepted.inc({ source: sourceId, api });
}

export function countDuplicates(tally: IngestTally, sourceId: string, api: IngestApi, records: number): void {
  if (records === 0) return;
  tally.counters.recordsDuplicate[sourceId] = (tally.counters.recordsDuplicate[sourceId] ?? 0) + records;
  tally.metrics?.recordsDuplicate.inc({ source: sourceId, api }, records);
}

export function countRejected(tally: IngestTally, reason: RejectReason): void {
  tally.counters.requestsRejected[reason] = (tally.counters.requestsRejected[reason] ?? 0) + 1;
  tally.metrics?.requestsRejected.inc({ reason });
}
