/**
 * What every cohort source (Amplitude export, file, URL, SQL query) looks like to the cohort-sync
 * activity: member ids, read in chunks so memory stays flat however large the cohort grows.
 *
 * Contract of `members()`:
 *   - yields non-empty arrays of at most `chunkSize` ids; the arrays are fresh (the consumer may keep them);
 *   - every id is a trimmed, non-empty string; empty values are skipped and counted in `stats`;
 *   - ids are NOT deduplicated: a file may list a member twice, and a source that restarts a download
 *     yields some ids again. The consumer (the store's snapshot) deduplicates;
 *   - every failure of the source (HTTP, network, file, SQL, format) is a CohortSourceError (errors.ts),
 *     classified as retryable or permanent; only a programming error surfaces as itself;
 *   - a failed iteration is not resumable: it starts over from the beginning when called again, so a
 *     consumer that saw an error throws away what it has read or relies on its deduplication;
 *   - breaking out of the loop (or aborting `signal`) releases the connection, file or cursor.
 */

export interface CohortProgress {
  /**
   * `requested`: an export was asked for (Amplitude); `polling`: waiting for it to be ready;
   * `downloading`: ids are being read (every source, once per chunk).
   */
  phase: 'requested' | 'polling' | 'downloading';
  /** Amplitude's export request id, once known. */
  requestId?: string;
  /** Status polls so far (polling). */
  polls?: number;
  /** Ids yielded so far (downloading). */
  ids?: number;
  /** Bytes read so far, where the source reads bytes (downloading). */
  bytes?: number;
  /** Since `members()` was called. */
  elapsedMs: number;
}

export interface CohortReadOptions {
  /** Ids per yielded chunk. Default DEFAULT_CHUNK_SIZE. */
  chunkSize?: number;
  /** Called on every step worth a heartbeat; must not throw. */
  onProgress?: (progress: CohortProgress) => void;
  /** Aborting stops the read (polls, downloads, queries) with a CohortSourceError of reason `aborted`. */
  signal?: AbortSignal;
}

export interface CohortReadStats {
  /** Ids yielded, duplicates included. */
  ids: number;
  /** Empty (or null) values skipped. */
  skippedEmpty: number;
  /** Bytes of the downloaded/read document, where there is one. */
  bytes: number;
}

export interface CohortSource {
  /** Short text for logs and audit lines; never holds a secret or a resolved `${ENV}` value. */
  readonly description: string;
  /** Member ids in chunks; see the contract above. */
  members(options?: CohortReadOptions): AsyncIterable<string[]>;
  /** Counters of the latest (or current) `members()` iteration; run one iteration at a time. */
  readonly stats: Readonly<CohortReadStats>;
}

/** Matches Customer.io's limit of ids per segment add/remove call, so a chunk can be sent as is. */
export const DEFAULT_CHUNK_SIZE = 1000;

/** Trimmed id, or undefined for an empty/absent value. Numbers (integer ids, bigints) become strings. */
export function normalizeId(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }
  if (typeof value === 'number' || typeof value === 'bigint') {
    return typeof value === 'number' && !Number.isFinite(value) ? undefined : String(value);
  }
  return undefined;
}

export function checkChunkSize(chunkSize: number | undefined): number {
  const size = chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunkSize must be an integer >= 1, got ${size}`);
  return size;
}
