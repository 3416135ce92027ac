/**
 * What every part of the fake Customer.io shares: the recorded request, identifiers, the answer a
 * handler returns, and the small helpers that build answers in each API's error shape.
 */

export type FakeIdType = 'id' | 'email' | 'cio_id';
export type FakeApi = 'track' | 'app' | 'other';

export interface RecordedRequest {
  /** 0-based position in `requests`. */
  seq: number;
  api: FakeApi;
  method: string;
  /** Path as sent, percent-encoding intact, no query. */
  rawPath: string;
  /** Path after percent-decoding. */
  path: string;
  query: Record<string, string>;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  bodyText: string;
  /** Parsed JSON body; undefined when empty or not JSON. */
  body: unknown;
  /** Response status; undefined while pending, 0 when the connection was reset. */
  status: number | undefined;
  responseBody: unknown;
  /** Client port of the TCP connection: equal values mean a reused keep-alive connection. */
  remotePort: number | undefined;
  /** Which scripted fault or throttle shaped the answer, if any. */
  fault?: 'fail' | 'delay' | 'reset' | 'rate_limit';
  receivedAt: number;
}

export interface FakeIdentifier {
  type: FakeIdType | 'phone';
  value: string;
}

/** What a handler answers; the server writes it. */
export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One v2 item error (`batch_index` only in a `207`). */
export interface ItemError {
  batch_index?: number;
  reason: string;
  field: string;
  message: string;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

export function ok(): FakeResponse {
  return { status: 200, body: {} };
}

/** Track v1 error shape. */
export function v1Error(status: number, message: string): FakeResponse {
  return { status, body: { meta: { errors: [message] } } };
}

/** Track v2 whole-request error shape. */
export function v2Error(status: number, reason: string, field: string, message: string): FakeResponse {
  return { status, body: { errors: [{ reason, field, message }] } };
}

/** App API error shape. */
export function appError(status: number, detail: string): FakeResponse {
  return { status, body: { errors: [{ detail, status: String(status) }] } };
}

export function retryAfterHeader(value: number | Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) return value.toUTCString();
  return String(value);
}

/** Decoded path segments; `['', 'api', 'v1', …]`-style split minus the leading empty one. */
export function splitPath(rawPath: string): string[] | undefined {
  try {
    return rawPath
      .split('/')
      .slice(1)
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
