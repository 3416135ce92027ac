/**
 * The one error a cohort source throws. It is classified where it arises, because only there is it
 * known whether trying again can help: a 401 will fail the same way until someone fixes the key, a
 * 503 or a reset connection probably will not. The activity maps `retryable: false` to a
 * non-retryable Temporal failure.
 */

export type CohortErrorReason =
  /** The config cannot work as written (unset variable, unknown format, bad option). Permanent. */
  | 'config'
  /** Credentials rejected (401, or Amplitude's 403 "Invalid API/Secret Key combination"). Permanent. */
  | 'auth'
  /** The cohort, file or URL does not exist. Permanent. */
  | 'not_found'
  /** Another 4xx the request will keep getting. Permanent. */
  | 'http'
  /** 429: try again later (`retryAfterMs` when the server said when). Retryable. */
  | 'rate_limited'
  /** 5xx or 408. Retryable. */
  | 'server'
  /** Connection refused/reset, DNS, TLS, a body cut short. Retryable. */
  | 'network'
  /** A request or the whole export took too long. Retryable. */
  | 'timeout'
  /** Reading a local file failed for a reason other than its absence or permissions (EIO, …). Retryable. */
  | 'io'
  /** Amplitude's export (or its download link) expired and asking again did not help. Retryable: a new run requests a new export. */
  | 'export_expired'
  /** The document is not what its format promises (bad CSV/JSON, missing id column, non-scalar id). Permanent. */
  | 'format'
  /** The SQL query failed or returns other than one column. Permanent, except connection failures (`network`). */
  | 'query'
  /** The caller aborted the read. Not retried by the source; the caller decides. */
  | 'aborted';

const RETRYABLE: ReadonlySet<CohortErrorReason> = new Set([
  'rate_limited',
  'server',
  'network',
  'timeout',
  'io',
  'export_expired',
]);

export interface CohortSourceErrorOptions {
  status?: number;
  retryAfterMs?: number;
  cause?: unknown;
}

export class CohortSourceError extends Error {
  override name = 'CohortSourceError';
  readonly reason: CohortErrorReason;
  readonly retryable: boolean;
  /** HTTP status, when an HTTP answer caused it. */
  readonly status: number | undefined;
  /** How long the server asked us to wait (Retry-After), when it did. */
  readonly retryAfterMs: number | undefined;

  constructor(reason: CohortErrorReason, message: string, options: CohortSourceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.retryable = RETRYABLE.has(reason);
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isRetryableReason(reason: CohortErrorReason): boolean {
  return RETRYABLE.has(reason);
}

/** Text from a response body for an error message, cut short so one bad answer cannot flood a log. */
export function snippet(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
