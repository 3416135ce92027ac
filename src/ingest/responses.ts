import type { IngestError, RejectReason } from './errors.ts';

/**
 * Status and body per API family for a request that was not acknowledged.
 *
 * Amplitude: the SDKs read the status from the body's `code` (not the status line), so `code` always
 * equals the HTTP status. Which events the SDK drops and which it retries follows from the body:
 * `missing_field` or an `error` starting with "Invalid API key" drops the whole batch, the error
 * maps drop the listed indexes and retry the rest, 413 halves the batch, 5xx retries.
 *
 * Segment: the clients look only at the status. 4xx (except 408/410/429/460) drops the batch, 5xx
 * retries it, so every client mistake is a 4xx and only "we could not store it" is a 5xx.
 */

export interface ErrorResponse {
  status: number;
  body: Record<string, unknown>;
}

export const AMPLITUDE_ERROR_STRINGS: Partial<Record<RejectReason, string>> = {
  missing_body: 'Missing request body',
  invalid_json: 'Invalid JSON request body',
  invalid_api_key: 'Invalid API key',
  missing_api_key: 'Request missing required field',
  payload_too_large: 'Payload too large',
  too_many_events: 'Payload too large',
  store_unavailable: 'Service unavailable: nothing was stored, retry the request',
  overloaded: 'Service unavailable: too busy, retry the request',
  internal: 'Internal server error',
};

function amplitudeStatus(reason: RejectReason): number {
  switch (reason) {
    case 'payload_too_large':
    case 'too_many_events':
      return 413;
    case 'store_unavailable':
    case 'overloaded':
      return 503;
    case 'internal':
      return 500;
    default:
      return 400;
  }
}

export function amplitudeErrorResponse(error: IngestError): ErrorResponse {
  const status = amplitudeStatus(error.reason);
  const body: Record<string, unknown> = { code: status };
  const items = error.detail.itemErrors;
  if (items) {
    body.error = items.error;
    if (Object.keys(items.events_with_invalid_fields).length > 0) {
      body.events_with_invalid_fields = items.events_with_invalid_fields;
    }
    if (Object.keys(items.events_with_missing_fields).length > 0) {
      body.events_with_missing_fields = items.events_with_missing_fields;
    }
    if (Object.keys(items.events_with_invalid_id_lengths).length > 0) {
      body.events_with_invalid_id_lengths = items.events_with_invalid_id_lengths;
    }
    if (items.events_over_limits) body.events_over_limits = items.events_over_limits;
  } else {
    body.error = AMPLITUDE_ERROR_STRINGS[error.reason] ?? error.message;
  }
  if (error.detail.missingField) body.missing_field = error.detail.missingField;
  return { status, body };
}

function segmentStatus(reason: RejectReason): number {
  switch (reason) {
    case 'missing_api_key':
    case 'invalid_api_key':
      return 401;
    case 'store_unavailable':
    case 'overloaded':
      return 503;
    case 'internal':
      return 500;
    default:
      // Oversized bodies and items are 400 at Segment, not 413.
      return 400;
  }
}

export function segmentErrorResponse(error: IngestError): ErrorResponse {
  const body: Record<string, unknown> = { success: false, reason: error.reason, error: error.message };
  if (error.detail.problems) body.errors = error.detail.problems;
  return { status: segmentStatus(error.reason), body };
}

/** Unknown paths and /health; `code` equals the status here too, for an Amplitude SDK pointed at a wrong path. */
export function plainErrorResponse(error: IngestError): ErrorResponse {
  const status =
    error.reason === 'not_found'
      ? 404
      : error.reason === 'internal'
        ? 500
        : error.reason === 'store_unavailable' || error.reason === 'overloaded'
          ? 503
          : 400;
  return { status, body: { code: status, error: error.message } };
}

/**
 * The webhook receivers answer as the tracking API does, with two statuses of their own: a source
 * without that webhook is 404, and a body or batch over the limits 413. Both senders retry a 5xx
 * (Segment also 408 and 429, Amplitude anything) and Segment drops every other 4xx, so only
 * "nothing was stored, try again" is a 5xx; a request that can never succeed is a 4xx, whose body
 * names what to fix for whoever reads the destination's log.
 */
export function webhookErrorResponse(error: IngestError): ErrorResponse {
  const answer = segmentErrorResponse(error);
  if (error.reason === 'not_found') return { ...answer, status: 404 };
  if (error.reason === 'payload_too_large' || error.reason === 'too_many_events')
    return { ...answer, status: 413 };
  return answer;
}
