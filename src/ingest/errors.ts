import type { AmplitudeItemErrors } from '../events/amplitude.ts';
import type { SegmentProblem } from '../events/segment.ts';

/**
 * Why a request was not acknowledged. Errors are classified where they arise (a route knows that a
 * key is unknown, the body reader that a body is too large); responses.ts turns a reason into the
 * status and body each API family's clients expect. The reason is also the rejected-requests
 * counter's label, so keep the set small and stable.
 */
export type RejectReason =
  | 'missing_body'
  | 'invalid_body'
  | 'invalid_json'
  | 'unsupported_encoding'
  | 'missing_api_key'
  | 'invalid_api_key'
  | 'missing_field'
  | 'invalid_events'
  | 'payload_too_large'
  | 'too_many_events'
  | 'not_found'
  | 'store_unavailable'
  | 'overloaded'
  | 'internal';

export interface IngestErrorDetail {
  /** Amplitude `missing_field`: the request-level field that is absent. */
  missingField?: string;
  /** Amplitude per-event error maps. */
  itemErrors?: AmplitudeItemErrors;
  /** Segment: the bad items (or fields of a single call). */
  problems?: SegmentProblem[];
}

export class IngestError extends Error {
  override name = 'IngestError';
  readonly reason: RejectReason;
  readonly detail: IngestErrorDetail;

  constructor(reason: RejectReason, message: string, detail: IngestErrorDetail = {}, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
    this.detail = detail;
  }
}

/**
 * Errors raised by Fastify itself before a handler runs (body limit, a broken stream, a bad
 * Content-Length) become IngestErrors; anything unexpected is `internal`.
 */
export function toIngestError(error: unknown): IngestError {
  if (error instanceof IngestError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new IngestError('payload_too_large', 'request body is over the size limit');
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new IngestError('invalid_body', (error as Error).message || 'bad request', {}, { cause: error });
  }
  return new IngestError('internal', 'internal error', {}, { cause: error });
}
