/**
 * Thin Customer.io HTTP client: one call = one HTTP request, classified into a CioOutcome. It never
 * retries or throttles on its own; those decisions belong to the caller (a Temporal activity), which
 * sees the outcome kind, any Retry-After and the duration.
 *
 * Every method resolves to a CioCallResult:
 *   - `outcome`: what happened (see classify.ts); network failures and timeouts are outcomes, not throws.
 *   - `durationMs`: wall time from sending to the complete answer (or the failure).
 *   - `request`: what was sent, with Authorization redacted, safe to log or store.
 * Methods throw only for caller mistakes detected before any request (empty/oversized id lists, a missing
 * App API key, an invalid segment id) and after close().
 */
import { Agent } from 'undici';
import pkg from '../../package.json' with { type: 'json' };
import { classifyResponse, classifyTransportError } from './classify.ts';
import type { CioHeaders, CioOutcome } from './classify.ts';
import { resolveHosts } from './hosts.ts';
import type { CioHostOverrides, CioHosts, CioRegion } from './hosts.ts';
import { isPlainObject } from '../json-values.ts';
import { MAX_SEGMENT_IDS_PER_CALL } from './limits.ts';

export type CioApi = 'track' | 'app';
export type CioMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';
export type CioIdType = 'id' | 'email' | 'cio_id';

export interface CioRequest {
  method: CioMethod;
  /** Absolute URL, query included. */
  url: string;
  headers: Record<string, string>;
  body?: string;
  api: CioApi;
}

export interface CioRawResponse {
  status: number;
  headers: CioHeaders;
  body: string;
}

/** Replaces the HTTP call, e.g. for a dry run that records requests. It receives the real headers. */
export type CioTransport = (req: CioRequest) => Promise<CioRawResponse>;

export interface CioCallResult {
  outcome: CioOutcome;
  durationMs: number;
  /** The request as sent, Authorization replaced by `[redacted]`. */
  request: CioRequest;
}

export interface CustomerIoClientOptions {
  hosts: CioHosts;
  siteId: string;
  trackApiKey: string;
  /** Needed only for App API calls (segment definitions). */
  appApiKey?: string;
  /** Deadline for the whole exchange (connect, headers and body). Default 10 s. */
  timeoutMs?: number;
  transport?: CioTransport;
  /** Max sockets per origin. Default 16. */
  connections?: number;
  /** Called with every call's result (metrics); it must not throw. */
  onResult?: (result: CioCallResult) => void;
}

export interface CioSegmentInput {
  name: string;
  description?: string;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const USER_AGENT = `cio-sync/${pkg.version}`;
export const REDACTED = '[redacted]';

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

export function redactHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : value;
  }
  return out;
}

export class CustomerIoClient {
  readonly hosts: CioHosts;
  readonly timeoutMs: number;
  readonly #trackAuth: string;
  readonly #appAuth: string | undefined;
  readonly #transport: CioTransport | undefined;
  readonly #connections: number;
  readonly #onResult: ((result: CioCallResult) => void) | undefined;
  #agent: Agent | undefined;
  #closed = false;

  constructor(options: CustomerIoClientOptions) {
    if (!options.siteId) throw new Error('Customer.io client needs a site id');
    if (!options.trackApiKey) throw new Error('Customer.io client needs a Track API key');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new Error(`timeoutMs must be > 0, got ${timeoutMs}`);
    this.hosts = { trackUrl: stripSlash(options.hosts.trackUrl), appUrl: stripSlash(options.hosts.appUrl) };
    this.timeoutMs = timeoutMs;
    this.#trackAuth = `Basic ${Buffer.from(`${options.siteId}:${options.trackApiKey}`).toString('base64')}`;
    this.#appAuth = options.appApiKey ? `Bearer ${options.appApiKey}` : undefined;
    this.#transport = options.transport;
    this.#connections = options.connections ?? 16;
    this.#onResult = options.onResult;
  }

  /** `POST /api/v2/batch` with `{ batch: ops }`; per-item failures come back as `item_errors`. */
  async batch(ops: readonly object[]): Promise<CioCallResult> {
    if (ops.length === 0) throw new Error('Customer.io batch needs at least one operation');
    return this.#send('track', 'POST', '/api/v2/batch', { batch: ops });
  }

  /** `POST /api/v2/entity`: a single v2 operation. */
  async entity(op: object): Promise<CioCallResult> {
    return this.#send('track', 'POST', '/api/v2/entity', op);
  }

  /** Track `add_customers` on a manual segment; 1..1000 ids, all of `idType`. */
  async addToSegment(
    segmentId: number | string,
    ids: readonly string[],
    idType: CioIdType = 'id',
  ): Promise<CioCallResult> {
    return this.#segmentMembership('add_customers', segmentId, ids, idType);
  }

  /** Track `remove_customers` on a manual segment; 1..1000 ids, all of `idType`. */
  async removeFromSegment(
    segmentId: number | string,
    ids: readonly string[],
    idType: CioIdType = 'id',
  ): Promise<CioCallResult> {
    return this.#segmentMembership('remove_customers', segmentId, ids, idType);
  }

  /** App API: creates an empty manual segment; the answer's `body.segment.id` is its numeric id. */
  async createSegment(input: CioSegmentInput): Promise<CioCallResult> {
    if (typeof input.name !== 'string' || input.name.trim() === '')
      throw new Error('segment name is required');
    const segment: Record<string, string> = { name: input.name };
    if (input.description !== undefined) segment['description'] = input.description;
    return this.#send('app', 'POST', '/v1/segments', { segment });
  }

  /** App API: `{ segments: [...] }`. */
  async listSegments(): Promise<CioCallResult> {
    return this.#send('app', 'GET', '/v1/segments');
  }

  /** App API: `{ segment: {...} }`, or a permanent 404 outcome for an unknown id. */
  /** `GET {app}/v1/segments/{id}/customer_count` → `{ segment_id, count }`. */
  async getSegmentCustomerCount(segmentId: number | string): Promise<CioCallResult> {
    return this.#send('app', 'GET', `/v1/segments/${segmentPath(segmentId)}/customer_count`);
  }

  async getSegment(segmentId: number | string): Promise<CioCallResult> {
    return this.#send('app', 'GET', `/v1/segments/${segmentPath(segmentId)}`);
  }

  /** App API: deletes a manual segment (204). */
  async deleteSegment(segmentId: number | string): Promise<CioCallResult> {
    return this.#send('app', 'DELETE', `/v1/segments/${segmentPath(segmentId)}`);
  }

  /** `GET /api/v1/accounts/region`: `{ url, region, environment_id }`; doubles as a credential check. */
  async getAccountRegion(): Promise<CioCallResult> {
    return this.#send('track', 'GET', '/api/v1/accounts/region');
  }

  async close(): Promise<void> {
    this.#closed = true;
    const agent = this.#agent;
    this.#agent = undefined;
    if (agent) await agent.close();
  }

  #segmentMembership(
    action: 'add_customers' | 'remove_customers',
    segmentId: number | string,
    ids: readonly string[],
    idType: CioIdType,
  ): Promise<CioCallResult> {
    if (!Array.isArray(ids) || ids.length === 0) throw new Error(`${action} needs at least one id`);
    if (ids.length > MAX_SEGMENT_IDS_PER_CALL) {
      throw new Error(
        `${action} accepts at most ${MAX_SEGMENT_IDS_PER_CALL} ids per call, got ${ids.length}`,
      );
    }
    if (ids.some((id) => typeof id !== 'string' || id === ''))
      throw new Error(`${action} ids must be non-empty strings`);
    if (idType !== 'id' && idType !== 'email' && idType !== 'cio_id') {
      throw new Error(`unknown id_type ${JSON.stringify(idType)} (use id, email or cio_id)`);
    }
    const path = `/api/v1/segments/${segmentPath(segmentId)}/${action}?id_type=${encodeURIComponent(idType)}`;
    return this.#send('track', 'POST', path, { ids });
  }

  async #send(api: CioApi, method: CioMethod, path: string, body?: unknown): Promise<CioCallResult> {
    if (this.#closed) throw new Error('Customer.io client is closed');
    let authorization: string;
    if (api === 'app') {
      if (this.#appAuth === undefined)
        throw new Error('this Customer.io call needs an App API key (none configured)');
      authorization = this.#appAuth;
    } else {
      authorization = this.#trackAuth;
    }
    const base = api === 'app' ? this.hosts.appUrl : this.hosts.trackUrl;
    const headers: Record<string, string> = {
      Authorization: authorization,
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'User-Agent': USER_AGENT,
    };
    const request: CioRequest = { method, url: `${base}${path}`, headers, api };
    if (body !== undefined) request.body = JSON.stringify(body);
    const redacted: CioRequest = { ...request, headers: redactHeaders(headers) };

    const started = performance.now();
    const outcome = await this.#exchange(request);
    const result: CioCallResult = {
      outcome,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      request: redacted,
    };
    this.#onResult?.(result);
    return result;
  }

  async #exchange(request: CioRequest): Promise<CioOutcome> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DOMException(`Customer.io request exceeded ${this.timeoutMs} ms`, 'TimeoutError'));
    }, this.timeoutMs);
    try {
      const raw = this.#transport
        ? await raceAbort(this.#transport(request), controller.signal)
        : await this.#http(request, controller.signal);
      return classifyResponse({ status: raw.status, headers: raw.headers, bodyText: raw.body });
    } catch (err) {
      return classifyTransportError(err, { timedOut, timeoutMs: this.timeoutMs });
    } finally {
      clearTimeout(timer);
    }
  }

  async #http(request: CioRequest, signal: AbortSignal): Promise<CioRawResponse> {
    const url = new URL(request.url);
    const res = await this.#dispatcher().request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: request.method,
      headers: request.headers,
      body: request.body ?? null,
      signal,
    });
    // Reading the body is covered by the same signal, so a server that stalls mid-body also times out.
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: text };
  }

  #dispatcher(): Agent {
    if (this.#agent === undefined) {
      this.#agent = new Agent({
        connections: this.#connections,
        keepAliveTimeout: 30_000,
        // undici's own timers are backstops; the AbortController deadline is the one that normally fires.
        headersTimeout: this.timeoutMs + 1000,
        bodyTimeout: this.timeoutMs + 1000,
        connect: { timeout: this.timeoutMs },
      });
    }
    return this.#agent;
  }
}

/** The region lookup's answer was not a region; `outcome` says what it was, for the send policy. */
export class RegionLookupError extends Error {
  override name = 'RegionLookupError';
  readonly outcome: CioOutcome;
  constructor(message: string, outcome: CioOutcome) {
    super(message);
    this.outcome = outcome;
  }
}

export interface DetectRegionOptions extends CioHostOverrides {
  timeoutMs?: number;
  transport?: CioTransport;
}

/**
 * Asks the US Track host (or `trackUrl`) which region the workspace lives in; the region endpoint
 * answers correctly from either host. Throws, without credentials in the message, when the lookup fails.
 */
export async function detectRegion(
  siteId: string,
  trackApiKey: string,
  opts: DetectRegionOptions = {},
): Promise<CioRegion> {
  const hosts = resolveHosts('us', opts);
  const client = new CustomerIoClient({
    hosts,
    siteId,
    trackApiKey,
    ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
    ...(opts.transport !== undefined && { transport: opts.transport }),
  });
  try {
    const { outcome } = await client.getAccountRegion();
    if (outcome.kind !== 'ok') {
      const detail = 'message' in outcome ? outcome.message : 'item errors';
      const status = 'status' in outcome && outcome.status !== undefined ? ` (HTTP ${outcome.status})` : '';
      throw new RegionLookupError(`Customer.io region lookup failed${status}: ${detail}`, outcome);
    }
    const region = isPlainObject(outcome.body) ? outcome.body['region'] : undefined;
    if (region !== 'us' && region !== 'eu') {
      throw new Error(`Customer.io region lookup returned an unexpected region ${JSON.stringify(region)}`);
    }
    return region;
  } finally {
    await client.close();
  }
}

function segmentPath(segmentId: number | string): string {
  const text = String(segmentId);
  // Segment ids are int32s; rejecting anything else keeps a stray name or empty value out of the path.
  if (!/^\d{1,10}$/.test(text)) throw new Error(`invalid segment id ${JSON.stringify(segmentId)}`);
  return encodeURIComponent(text);
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
