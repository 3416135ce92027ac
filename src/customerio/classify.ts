/**
 * Pure mapping from what Customer.io answered (or how the transport failed) to what the caller should do
 * next. Nothing here performs I/O, so retry/backoff policy elsewhere can be tested against plain values.
 */
import { isPlainObject } from '../json-values.ts';

export interface CioItemError {
  /** 0-based index into the `batch` array that was sent. */
  batch_index: number;
  reason?: string;
  field?: string;
  message?: string;
}

export type CioOutcome =
  | { kind: 'ok'; status: number; body: unknown }
  | { kind: 'item_errors'; status: number; errors: CioItemError[]; body: unknown }
  | { kind: 'retryable'; status?: number; message: string; body?: unknown; retryAfterMs?: number }
  | { kind: 'rate_limited'; status: 429; message: string; retryAfterMs?: number; body?: unknown }
  | { kind: 'permanent'; status: number; message: string; body?: unknown }
  /** The host could not be reached as configured (DNS, TLS, a malformed URL): retrying will not help. */
  | { kind: 'unreachable'; message: string };

export type CioOutcomeKind = CioOutcome['kind'];

export type CioHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface CioHttpAnswer {
  status: number;
  /** Header names in any case. */
  headers: CioHeaders;
  bodyText: string;
}

/** Upper bound for a server-requested wait; a larger value is more likely a bug than a real instruction. */
export const MAX_RETRY_AFTER_MS = 300_000;

/** Error text taken from a response body is cut to this length so one bad answer cannot flood logs. */
const MAX_MESSAGE_CHARS = 500;

export function classifyResponse(answer: CioHttpAnswer, now: number = Date.now()): CioOutcome {
  const { status } = answer;
  const body = parseBody(answer.bodyText);

  if (status >= 200 && status < 300) {
    const errors = itemErrors(body);
    // 207 means "some items failed, the rest were applied": even when the body names no item, it must not
    // be mistaken for full success. A 200 with item errors is not documented but has been seen by others.
    if (status === 207 || errors.length > 0) return { kind: 'item_errors', status, errors, body };
    return { kind: 'ok', status, body };
  }

  const message = errorMessage(body, status);
  const withBody = body === undefined ? {} : { body };

  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headerValue(answer.headers, 'retry-after'), now);
    return {
      kind: 'rate_limited',
      status,
      message,
      ...withBody,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    };
  }
  if (status === 408 || status >= 500) {
    const retryAfterMs = parseRetryAfter(headerValue(answer.headers, 'retry-after'), now);
    return {
      kind: 'retryable',
      status,
      message,
      ...withBody,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    };
  }
  if (status >= 300 && status < 400) {
    // Redirects are not followed: the usual cause is a workspace in the other region (App API answers
    // "301 wrong datacenter"), which is a configuration error, not something to retry.
    const location = headerValue(answer.headers, 'location');
    const hint = location ? ` (redirected to ${safeLocation(location)}; check the configured region)` : '';
    return { kind: 'permanent', status, message: `${message}${hint}`, ...withBody };
  }
  return { kind: 'permanent', status, message, ...withBody };
}

export interface TransportErrorContext {
  /** The deadline that was in force, used to word timeout messages. */
  timeoutMs?: number;
  /** Set by the caller when its own deadline fired (the resulting error type varies by transport). */
  timedOut?: boolean;
}

/**
 * Any failure before a complete answer was read is retryable: the request may or may not have been
 * applied, which is why writes carry dedup ids (events) or are idempotent (identify, segment membership).
 */
export function classifyTransportError(err: unknown, ctx: TransportErrorContext = {}): CioOutcome {
  const after = ctx.timeoutMs !== undefined ? ` after ${ctx.timeoutMs} ms` : '';
  if (ctx.timedOut) return { kind: 'retryable', message: `request timed out${after}` };
  if (isTimeoutError(err)) return { kind: 'retryable', message: `request timed out (${describeError(err)})` };
  const unreachable = unreachableCause(err);
  if (unreachable) return { kind: 'unreachable', message: `${unreachable}: ${describeError(err)}` };
  return { kind: 'retryable', message: `network error: ${describeError(err)}` };
}

/** DNS names that do not exist and TLS failures are configuration problems, not passing faults. */
const UNREACHABLE_CODES: Record<string, string> = {
  ENOTFOUND: 'host not found',
  ERR_INVALID_URL: 'invalid URL',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS certificate not trusted',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  EPROTO: 'TLS handshake failed',
};

function unreachableCause(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; isPlainObject(e) && depth < 5; e = e['cause'], depth++) {
    const code = e['code'];
    if (typeof code === 'string') {
      if (UNREACHABLE_CODES[code]) return UNREACHABLE_CODES[code];
      if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return 'TLS handshake failed';
    }
  }
  return undefined;
}

export function isAuthFailure(outcome: CioOutcome): boolean {
  return outcome.kind === 'permanent' && (outcome.status === 401 || outcome.status === 403);
}

export function isRetryableOutcome(outcome: CioOutcome): boolean {
  return outcome.kind === 'retryable' || outcome.kind === 'rate_limited';
}

/**
 * `Retry-After` is either delay-seconds or an HTTP-date. Returns milliseconds clamped to
 * [0, MAX_RETRY_AFTER_MS], or undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) {
    ms = Number(text) * 1000;
  } else if (/^-\d+(\.\d+)?$/.test(text)) {
    ms = 0;
  } else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.round(ms)));
}

/**
 * Builds a human-readable message from every error shape Customer.io uses: Track v1 `meta.errors[]`,
 * merge's `meta.error`, v2 and App API `errors[]` objects (`message`, `detail` or `reason`). Falls back
 * to `HTTP <status>`.
 */
export function errorMessage(body: unknown, status: number): string {
  const parts: string[] = [];
  if (isPlainObject(body)) {
    const meta = body['meta'];
    if (isPlainObject(meta)) {
      if (typeof meta['error'] === 'string') parts.push(meta['error']);
      if (Array.isArray(meta['errors'])) for (const e of meta['errors']) pushErrorText(parts, e);
    }
    if (Array.isArray(body['errors'])) for (const e of body['errors']) pushErrorText(parts, e);
    if (parts.length === 0 && typeof body['error'] === 'string') parts.push(body['error']);
    if (parts.length === 0 && typeof body['message'] === 'string') parts.push(body['message']);
  }
  const text = parts
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .join('; ');
  if (text === '') return `HTTP ${status}`;
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

/** Parsed JSON, the raw text when it is not JSON, or undefined for an empty body. */
export function parseBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Item errors that name a batch index; entries without one cannot be attributed and are dropped. */
export function itemErrors(body: unknown): CioItemError[] {
  if (!isPlainObject(body) || !Array.isArray(body['errors'])) return [];
  const out: CioItemError[] = [];
  for (const e of body['errors']) {
    if (!isPlainObject(e)) continue;
    const index = typeof e['batch_index'] === 'string' ? Number(e['batch_index']) : e['batch_index'];
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) continue;
    const item: CioItemError = { batch_index: index };
    if (typeof e['reason'] === 'string') item.reason = e['reason'];
    if (typeof e['field'] === 'string') item.field = e['field'];
    if (typeof e['message'] === 'string') item.message = e['message'];
    out.push(item);
  }
  return out;
}

function pushErrorText(parts: string[], e: unknown): void {
  if (typeof e === 'string') {
    parts.push(e);
    return;
  }
  if (!isPlainObject(e)) return;
  const text = [e['message'], e['detail'], e['reason']].find(
    (v): v is string => typeof v === 'string' && v !== '',
  );
  if (text === undefined) return;
  const field = typeof e['field'] === 'string' && e['field'] !== '' ? e['field'] : undefined;
  const index = typeof e['batch_index'] === 'number' ? `item ${e['batch_index']}: ` : '';
  parts.push(`${index}${field && !text.includes(field) ? `${field}: ` : ''}${text}`);
}

function headerValue(headers: CioHeaders, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    if (value === undefined) return undefined;
    return typeof value === 'string' ? value : value[0];
  }
  return undefined;
}

function safeLocation(location: string): string {
  try {
    const url = new URL(location);
    return url.origin;
  } catch {
    return 'another location';
  }
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
]);

function isTimeoutError(err: unknown): boolean {
  if (!isPlainObject(err)) return false;
  if (err['name'] === 'TimeoutError') return true;
  return typeof err['code'] === 'string' && TIMEOUT_CODES.has(err['code']);
}

/** Error name/code/message only: never the request, whose headers hold credentials. */
function describeError(err: unknown): string {
  if (err instanceof Error || isPlainObject(err)) {
    const e = err as Record<string, unknown>;
    const code = typeof e['code'] === 'string' ? e['code'] : undefined;
    const message = typeof e['message'] === 'string' && e['message'] !== '' ? e['message'] : undefined;
    const name = typeof e['name'] === 'string' ? e['name'] : 'Error';
    const cause =
      isPlainObject(e['cause']) && typeof e['cause']['code'] === 'string' ? e['cause']['code'] : undefined;
    return [code ?? name, message, cause && cause !== code ? `cause ${cause}` : undefined]
      .filter((p) => p !== undefined)
      .join(': ');
  }
  return String(err);
}
