import type { CanonicalRecord } from '../events/record.ts';
import { MAX_RECORD_BYTES } from '../events/record-limits.ts';
import type { IngestApi, IngestMetrics } from '../metrics.ts';
import { DEFAULT_INGEST_MAX_DECODES, DEFAULT_INGEST_PREAUTH_BYTES } from '../settings.ts';
import type { Store } from '../store/store.ts';
import { countAccepted, countDuplicates, type ApiFamily, type IngestCounters } from './counters.ts';
import type { DecodeSlots } from './decode-slots.ts';
import { IngestError } from './errors.ts';
import type { GroupCommit } from './group-commit.ts';

/**
 * What every ingest route shares, and the one place records are committed.
 *
 * Size limits are in binary units (1 KB = 1024 bytes): the vendors' own clients count that way
 * (@segment/analytics-node caps items at 32 × 1024 bytes), and an ingest endpoint must accept what
 * the official clients send.
 */
export interface IngestLimits {
  /** `/2/httpapi` body, after decompression. */
  amplitudeHttpApiBytes: number;
  /** `/batch` body, after decompression. */
  amplitudeBatchBytes: number;
  /** Events per `/2/httpapi` or `/batch` request. */
  amplitudeMaxEvents: number;
  /** `/identify` and `/groupidentify` bodies. */
  amplitudeIdentifyBytes: number;
  /** Objects per `/groupidentify` request, and group properties across them. */
  amplitudeGroupIdentifyMax: number;
  /** One `/v1/<type>` call. */
  segmentCallBytes: number;
  /** One `/v1/batch` body. */
  segmentBatchBytes: number;
  /** One item of a batch, as compact JSON. */
  segmentItemBytes: number;
  /** Items per batch. */
  segmentMaxItems: number;
  /**
   * Decoded bytes of an Amplitude upload allowed before its `api_key` has been read (the SDKs send
   * it first); past it without a key, 413, which makes the SDKs split the batch.
   */
  preAuthBytes: number;
  /** One webhook request body (a Segment Webhooks (Actions) batch holds up to 4,000 payloads). */
  webhookBytes: number;
  /** Items of one webhook request. */
  webhookMaxItems: number;
  /** One item of an Amplitude webhook request (an export-format row), as compact JSON. */
  webhookItemBytes: number;
  /** Request bodies decoded and parsed at the same time; the others wait for a slot. */
  maxConcurrentDecodes: number;
  /** How long a request waits for a decode slot before it is answered 503 (retried by clients). */
  decodeWaitMs: number;
}

export const DEFAULT_LIMITS: IngestLimits = {
  amplitudeHttpApiBytes: 1024 * 1024,
  amplitudeBatchBytes: 20 * 1024 * 1024,
  amplitudeMaxEvents: 2000,
  amplitudeIdentifyBytes: 1024 * 1024,
  amplitudeGroupIdentifyMax: 1024,
  segmentCallBytes: 32 * 1024,
  segmentBatchBytes: 500 * 1024,
  segmentItemBytes: 32 * 1024,
  segmentMaxItems: 2500,
  webhookBytes: 32 * 1024 * 1024,
  webhookMaxItems: 4000,
  webhookItemBytes: MAX_RECORD_BYTES,
  preAuthBytes: DEFAULT_INGEST_PREAUTH_BYTES,
  maxConcurrentDecodes: DEFAULT_INGEST_MAX_DECODES,
  decodeWaitMs: 10_000,
};

export interface WebhookSecrets {
  /** `header`: the lower-cased name of the header whose value must equal `secret`. */
  amplitude?: { header: string; secret: string };
  /** The shared secret Segment signs `X-Signature` with. */
  segment?: { secret: string };
}

/** Fastify route `config`: which family's response bodies a route's errors get. */
export interface IngestRouteConfig {
  family: ApiFamily;
}

export interface IngestContext {
  store: Store;
  /** Resolved key → source id. */
  sourceByKey: ReadonlyMap<string, string>;
  /** Source id → its resolved webhook secrets (sources without webhooks are absent). */
  webhooks: ReadonlyMap<string, WebhookSecrets>;
  /** Sources whose every route stores an insert id once (appendNew). */
  dedupe: ReadonlySet<string>;
  /** Appends to the store, the requests of one moment in one transaction per source. */
  commits: GroupCommit;
  counters: IngestCounters;
  /** Prometheus metrics, when the app serves GET /metrics. */
  metrics?: IngestMetrics;
  limits: IngestLimits;
  /** The cap on concurrent body decoding (limits.maxConcurrentDecodes). */
  decodes: DecodeSlots;
  now: () => number;
}

/**
 * Appends one request's records in one transaction and only then lets the route answer 200: an
 * acknowledged record is durable. A store failure becomes 503, which every client retries, so
 * nothing the client still holds is lost; nothing of the request was committed, so the retry does
 * not duplicate either. In a source that dedupes (one with webhooks, or `dedupe: true`), a record
 * whose insert id the log already holds (a client retrying a request whose answer it lost, a
 * webhook copy of an SDK call, a backfill overlapping either) is acknowledged without a second
 * append: Customer.io then gets it once, not twice with one id.
 */
export async function commitRecords(
  ctx: IngestContext,
  sourceId: string,
  records: CanonicalRecord[],
  api: IngestApi,
): Promise<{ appended: number; duplicates: number }> {
  let result = { appended: 0, duplicates: 0 };
  if (records.length > 0) {
    try {
      result = await ctx.commits.append(sourceId, records, ctx.dedupe.has(sourceId));
    } catch (cause) {
      throw new IngestError('store_unavailable', 'the event log could not be written', {}, { cause });
    }
  }
  countAccepted(ctx, sourceId, api, result.appended);
  countDuplicates(ctx, sourceId, api, result.duplicates);
  return result;
}
