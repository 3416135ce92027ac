import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import {
  SYNC_HEALTH,
  type CustomerIoCall,
  type DeliveryMetrics,
  type RecordCounts,
  type SyncHealth,
} from './activities/delivery-metrics.ts';

/**
 * Prometheus metrics of the ingest server and the worker: one registry per process (or per
 * in-process instance in tests), never prom-client's global one, so nothing here is module state.
 * Every name starts with `cio_sync_`; Node's process metrics get the same prefix.
 */

export const METRIC_PREFIX = 'cio_sync_';

export function createMetricsRegistry(options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

/** The text exposition format, with its content type. */
export async function renderMetrics(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/** Which API a request spoke (the Identify APIs are Amplitude's; webhooks are the platforms' destinations). */
export type IngestApi = 'amplitude' | 'segment' | 'amplitude_webhook' | 'segment_webhook' | 'other';

export interface IngestMetrics {
  registry: Registry;
  recordsIngested: Counter<'source' | 'api'>;
  requestsAccepted: Counter<'source' | 'api'>;
  requestsRejected: Counter<'reason'>;
  /** Records a webhook brought again (same insert id already in the log), left out. */
  recordsDuplicate: Counter<'source' | 'api'>;
  requestDuration: Histogram<'api' | 'status'>;
}

export function createIngestMetrics(registry: Registry = createMetricsRegistry()): IngestMetrics {
  return {
    registry,
    recordsIngested: new Counter({
      name: `${METRIC_PREFIX}ingest_records_total`,
      help: "Records committed to a source's event log (acknowledged to the client), by source and API.",
      labelNames: ['source', 'api'],
      registers: [registry],
    }),
    requestsAccepted: new Counter({
      name: `${METRIC_PREFIX}ingest_requests_accepted_total`,
      help: 'Ingest requests answered with success (their records committed), by source and API.',
      labelNames: ['source', 'api'],
      registers: [registry],
    }),
    requestsRejected: new Counter({
      name: `${METRIC_PREFIX}ingest_requests_rejected_total`,
      help: 'Ingest requests not acknowledged, by reason (invalid_api_key, invalid_events, payload_too_large, store_unavailable, …).',
      labelNames: ['reason'],
      registers: [registry],
    }),
    recordsDuplicate: new Counter({
      name: `${METRIC_PREFIX}ingest_duplicate_records_total`,
      help: "Records a webhook delivered again (their insert id already in the source's log): acknowledged, not appended twice.",
      labelNames: ['source', 'api'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: `${METRIC_PREFIX}ingest_request_duration_seconds`,
      help: 'Ingest request latency from receipt to answer (the commit included), by API and HTTP status.',
      labelNames: ['api', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

/** The worker's metrics; implements the activities' DeliveryMetrics hook. */
export class WorkerMetrics implements DeliveryMetrics {
  readonly registry: Registry;
  readonly #delivered: Counter<'sync'>;
  readonly #filtered: Counter<'sync' | 'reason'>;
  readonly #deadLettered: Counter<'sync' | 'reason'>;
  readonly #deliveries: Counter<'sync' | 'outcome'>;
  readonly #retries: Counter<'sync'>;
  readonly #lag: Gauge<'sync'>;
  readonly #cioDuration: Histogram<'destination' | 'api'>;
  readonly #cioResponses: Counter<'destination' | 'api' | 'status' | 'outcome'>;
  readonly #cohortAdded: Counter<'sync'>;
  readonly #cohortRemoved: Counter<'sync'>;
  readonly #failingAttempts: Gauge<'sync'>;
  readonly #syncState: Gauge<'sync' | 'state'>;
  readonly #deletions: Counter<'sync' | 'kind'>;

  constructor(registry: Registry = createMetricsRegistry()) {
    this.registry = registry;
    const registers = [registry];
    this.#delivered = new Counter({
      name: `${METRIC_PREFIX}records_delivered_total`,
      help: 'Records Customer.io accepted (or a dry run recorded), by sync; redriven dead letters included.',
      labelNames: ['sync'],
      registers,
    });
    this.#filtered = new Counter({
      name: `${METRIC_PREFIX}records_filtered_total`,
      help: "Records a sync's config left out on purpose, by sync and reason.",
      labelNames: ['sync', 'reason'],
      registers,
    });
    this.#deadLettered = new Counter({
      name: `${METRIC_PREFIX}records_dead_lettered_total`,
      help: 'Dead letters written (records kept for a redrive), by sync and reason.',
      labelNames: ['sync', 'reason'],
      registers,
    });
    this.#deliveries = new Counter({
      name: `${METRIC_PREFIX}deliveries_total`,
      help: 'Completed delivery activities of stream syncs, by sync and outcome (idle, delivered, credentials_rejected).',
      labelNames: ['sync', 'outcome'],
      registers,
    });
    this.#retries = new Counter({
      name: `${METRIC_PREFIX}delivery_retries_total`,
      help: 'Delivery attempts that retry a failed one (429, 5xx, timeouts, network, a worker shutdown), by sync.',
      labelNames: ['sync'],
      registers,
    });
    this.#lag = new Gauge({
      name: `${METRIC_PREFIX}stream_lag_records`,
      help: "Records in a stream sync's source log past its cursor (head seq - cursor), as this worker's last delivery of it saw them.",
      labelNames: ['sync'],
      registers,
    });
    this.#cioDuration = new Histogram({
      name: `${METRIC_PREFIX}customerio_request_duration_seconds`,
      help: 'Customer.io request latency, by destination and API (track, app); failures included.',
      labelNames: ['destination', 'api'],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#cioResponses = new Counter({
      name: `${METRIC_PREFIX}customerio_responses_total`,
      help: 'Customer.io answers by destination, API, HTTP status ("none" for a timeout or network error) and outcome (ok, item_errors, retryable, rate_limited, permanent).',
      labelNames: ['destination', 'api', 'status', 'outcome'],
      registers,
    });
    this.#failingAttempts = new Gauge({
      name: `${METRIC_PREFIX}sync_failing_attempts`,
      help: 'Consecutive failed delivery attempts of a stream sync, as this worker last saw them (0 once one gets through).',
      labelNames: ['sync'],
      registers,
    });
    this.#syncState = new Gauge({
      name: `${METRIC_PREFIX}sync_state`,
      help: "A stream sync's state as this worker's last delivery of it left it: 1 for the current one of running, stalled, credentials_missing, credentials_rejected, destination_unreachable.",
      labelNames: ['sync', 'state'],
      registers,
    });
    this.#cohortAdded = new Counter({
      name: `${METRIC_PREFIX}cohort_ids_added_total`,
      help: 'Ids a cohort sync added to its segment (or set its attribute on), by sync.',
      labelNames: ['sync'],
      registers,
    });
    this.#deletions = new Counter({
      name: `${METRIC_PREFIX}deletions_total`,
      help: 'Deletes and suppressions Customer.io accepted (or a dry run recorded), by sync and kind (person_delete, person_suppress, person_unsuppress, object_delete, relationship_delete).',
      labelNames: ['sync', 'kind'],
      registers,
    });
    this.#cohortRemoved = new Counter({
      name: `${METRIC_PREFIX}cohort_ids_removed_total`,
      help: 'Ids a cohort sync removed from its segment (or cleared its attribute on), by sync.',
      labelNames: ['sync'],
      registers,
    });
  }

  onRecords(syncId: string, counts: RecordCounts): void {
    // inc(0) still creates the series: a sync shows up at 0 rather than missing.
    this.#delivered.inc({ sync: syncId }, counts.delivered);
    for (const [reason, n] of Object.entries(counts.filtered))
      this.#filtered.inc({ sync: syncId, reason }, n);
    for (const [reason, n] of Object.entries(counts.deadLettered))
      this.#deadLettered.inc({ sync: syncId, reason }, n);
    for (const [kind, n] of Object.entries(counts.deletions ?? {}))
      this.#deletions.inc({ sync: syncId, kind }, n);
  }

  onLag(syncId: string, records: number): void {
    this.#lag.set({ sync: syncId }, records);
  }

  onDelivery(syncId: string, outcome: string): void {
    this.#deliveries.inc({ sync: syncId, outcome });
  }

  onRetry(syncId: string): void {
    this.#retries.inc({ sync: syncId });
  }

  onCustomerIoCall(call: CustomerIoCall): void {
    const { destination, api } = call;
    this.#cioDuration.observe({ destination, api }, call.durationMs / 1000);
    this.#cioResponses.inc({ destination, api, status: call.status ?? 'none', outcome: call.outcome });
  }

  onSyncState(syncId: string, state: SyncHealth, failingAttempts: number): void {
    this.#failingAttempts.set({ sync: syncId }, failingAttempts);
    for (const each of SYNC_HEALTH)
      this.#syncState.set({ sync: syncId, state: each }, each === state ? 1 : 0);
  }

  onCohortIds(syncId: string, change: 'added' | 'removed', count: number): void {
    (change === 'added' ? this.#cohortAdded : this.#cohortRemoved).inc({ sync: syncId }, count);
  }
}
