/**
 * The HTTP pieces the URL and Amplitude sources share: an undici agent with deadlines, a GET that
 * follows redirects without leaking credentials, and the classification of an unwanted answer.
 */
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';

import { parseRetryAfter } from '../customerio/classify.ts';
import { CohortSourceError, snippet } from './errors.ts';

export type ResponseData = Dispatcher.ResponseData;

/**
 * `timeoutMs` bounds connecting, waiting for the headers, and every pause between body chunks; a
 * large download may take longer in total as long as it keeps moving.
 */
export function createAgent(timeoutMs: number): Agent {
  return new Agent({
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connections: 4,
  });
}

export interface GetOptions {
  dispatcher: Dispatcher;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

export async function httpGet(url: string | URL, options: GetOptions): Promise<ResponseData> {
  return request(url, {
    method: 'GET',
    dispatcher: options.dispatcher,
    headers: options.headers ?? {},
    ...(options.signal !== undefined && { signal: options.signal }),
  });
}

export const MAX_REDIRECTS = 5;

/**
 * GET, following up to MAX_REDIRECTS redirects. The configured headers go to the original origin
 * only, as browsers do with Authorization: a redirect to another host must not receive them.
 */
export async function httpGetFollowing(
  url: string,
  options: GetOptions,
  what: string,
): Promise<ResponseData> {
  const origin = new URL(url).origin;
  let target = new URL(url);
  for (let hop = 0; ; hop++) {
    const sameOrigin = target.origin === origin;
    const answer = await httpGet(target, { ...options, headers: sameOrigin ? (options.headers ?? {}) : {} });
    if (!isRedirect(answer.statusCode)) return answer;
    const location = header(answer.headers, 'location');
    release(answer);
    if (location === undefined) {
      throw new CohortSourceError('http', `${what}: HTTP ${answer.statusCode} without a Location`, {
        status: answer.statusCode,
      });
    }
    if (hop + 1 > MAX_REDIRECTS) {
      throw new CohortSourceError('http', `${what}: more than ${MAX_REDIRECTS} redirects`, {
        status: answer.statusCode,
      });
    }
    target = new URL(location, target);
  }
}

export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

export function header(headers: ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads at most `maxBytes` of an answer's body as text (for error messages), then drops the rest. */
export async function readSnippet(answer: ResponseData, maxBytes = 4096): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of answer.body) {
      const buffer = Buffer.from(chunk as Uint8Array);
      parts.push(buffer);
      size += buffer.length;
      if (size >= maxBytes) break;
    }
  } catch {
    // An error body that breaks off still explains enough through its status.
  }
  release(answer);
  return Buffer.concat(parts).subarray(0, maxBytes).toString('utf8');
}

/**
 * Lets an answer go without reading what is left. undici reports a body destroyed before its end as
 * an 'error' event; nobody is reading it any more, so that event is expected and swallowed.
 */
export function release(answer: ResponseData): void {
  answer.body.on('error', () => {});
  answer.body.destroy();
}

/**
 * The error for a non-2xx answer. 401/403 say the credentials are wrong, 404/410 that the thing is
 * gone, 429/408/5xx that later may work; every other 4xx will keep failing.
 */
export async function statusError(answer: ResponseData, what: string): Promise<CohortSourceError> {
  const status = answer.statusCode;
  const text = snippet(await readSnippet(answer));
  const detail = `${what}: HTTP ${status}${text ? `: ${text}` : ''}`;
  if (status === 401 || status === 403) return new CohortSourceError('auth', detail, { status });
  if (status === 404 || status === 410) return new CohortSourceError('not_found', detail, { status });
  if (status === 429 || status === 408 || status >= 500) {
    const retryAfterMs = parseRetryAfter(header(answer.headers, 'retry-after'));
    return new CohortSourceError(status === 429 ? 'rate_limited' : 'server', detail, {
      status,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    });
  }
  return new CohortSourceError('http', detail, { status });
}

/** Strips the query and credentials off a URL for logs: signed URLs carry secrets in the query. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return url.split(/[?#]/)[0] ?? '';
  }
}
