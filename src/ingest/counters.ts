import type { RejectReason } from './errors.ts';

/**
 * Plain counters the metrics endpoint reads (it turns them into Prometheus series). Monotonic,
 * in-process, reset on restart, like any Prometheus counter.
 */
export interface IngestCounters {
  /** Records appended to each source's log. */
  recordsIngested: Record<string, number>;
  /** Requests answered 200, per source. */
  requestsAccepted: Record<string, number>;
  /** Requests not acknowledged, by reason. */
  requestsRejected: Partial<Record<RejectReason, number>>;
}

export function createIngestCounters(): IngestCounters {
  return { recordsIngested: {}, requestsAccepted: {}, requestsRejected: {} };
}

export function countAccepted(counters: IngestCounters, sourceId: string, records: number): void {
  counters.recordsIngested[sourceId] = (counters.recordsIngested[sourceId] ?? 0) + records;
  counters.requestsAccepted[sourceId] = (counters.requestsAccepted[sourceId] ?? 0) + 1;
}

export function countRejected(counters: IngestCounters, reason: RejectReason): void {
  counters.requestsRejected[reason] = (counters.requestsRejected[reason] ?? 0) + 1;
}
