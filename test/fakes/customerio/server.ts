/**
 * A fake Customer.io for tests: one node:http server on 127.0.0.1 that answers both the Track API
 * (`/api/v1/…`, `/api/v2/…`, Basic auth) and the App API (`/v1/…`, Bearer auth), keeps the state those
 * calls change, records every request verbatim, and can be scripted to fail.
 *
 * It models the documented behaviour (Customer.io API research notes, §7 test cases): auth per API, v1 `400
 * {meta:{errors}}` answers, v2 per-item `207` errors with the other items applied, segment membership
 * limits, event dedup by `id`, and it flags timestamps that are not Unix seconds. The documented limit
 * values are the engine's named constants; the checks are the fake's own (limits.ts says why).
 *
 * The parts: this file is the server (listen, routing by API, recording, scripted faults); auth.ts,
 * limits.ts (limits and the throttle), track.ts (Track API v1/v2), app.ts (App API segments) and
 * workspace.ts (the people, events, objects and segments those calls change).
 *
 * Where Customer.io's behaviour is undocumented the fake picks the stricter reading and says so:
 *   - "KB" limits are decimal (item/entity 32,000 B, batch 500,000 B), the smaller of the two readings.
 *   - A whole v2 request over its size limit gets `400 {errors:[…]}` (the documented "whole request
 *     invalid" answer); `oversizeStatus: 413` switches to the other plausible status.
 *   - Track `add_customers`/`remove_customers` on an unknown segment answers `404 {meta:{errors}}`.
 *   - An empty v2 batch is a `400`.
 *   - Events do not create people; only identify does (so "never identified" stays meaningful).
 *   - Deletes and suppressions as the Track API documents them (research notes §1.4, §1.8, pitfall 11): a
 *     `delete` removes the person with their devices, segment memberships and object relationships
 *     (a later identify creates a new person); a `suppress` does the same and blocks the identifier —
 *     and the person's other identifier, as in email+id workspaces — so identifies, events, devices and
 *     merges naming it are answered 200 and dropped, until an `unsuppress` frees them (the profile is
 *     not restored; the next identify creates a fresh person). Objects are kept with their attributes
 *     and relationships, so an object `delete` and `delete_relationships` are observable.
 *   - An identify attribute sent as `null` removes the attribute from the person. This one is observed
 *     rather than documented: grouparoo's Customer.io tests, recorded against the live Track and App
 *     APIs, send `{"email":null,"age":null}` and read the person back without them
 *     (grouparoo/grouparoo plugins/@grouparoo/customerio/__tests__/fixtures/export/export-record.js).
 *     An empty string is stored as an empty string: nothing shows that it removes anything.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { AppApi } from './app.ts';
import { checkAuth, initialCredentials, type FakeCredentials } from './auth.ts';
import { FAKE_DEFAULT_LIMITS, Throttle, type FakeLimits, type FakeRateLimit } from './limits.ts';
import {
  JSON_TYPE,
  retryAfterHeader,
  type FakeApi,
  type FakeIdType,
  type FakeResponse,
  type RecordedRequest,
} from './shared.ts';
import { TrackApi } from './track.ts';
import {
  FakeWorkspace,
  type FakeEvent,
  type FakePerson,
  type FakeSegment,
  type FakeSegmentMember,
} from './workspace.ts';

export interface FakeCustomerIoOptions {
  siteId?: string;
  trackApiKey?: string;
  appApiKey?: string;
  region?: 'us' | 'eu';
  environmentId?: number;
  rateLimit?: FakeRateLimit;
  limits?: Partial<FakeLimits>;
  oversizeStatus?: 400 | 413;
}

export interface FaultMatch {
  /** Exact decoded path, or a RegExp tested against it. */
  path?: string | RegExp;
  method?: string;
  api?: 'track' | 'app';
}

export interface FailSpec extends FaultMatch {
  status: number;
  /** Seconds, a Date (sent as an HTTP-date) or a raw header value. */
  retryAfter?: number | Date | string;
  /** Object → JSON; string → sent as is; absent → empty body. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Process the request (state changes happen) before answering with the failure. Default false. */
  applied?: boolean;
}

interface ScriptEntry {
  kind: 'fail' | 'delay' | 'reset';
  remaining: number;
  match: FaultMatch;
  fail?: FailSpec;
  delayMs?: number;
}

export interface FakeScript {
  /** The next `n` matching requests get `spec.status` (not applied unless `spec.applied`). */
  failNext(n: number, spec: FailSpec): void;
  /**
   * The next `n` matching requests are processed normally (state changes happen at once) but answered
   * after `ms`: a client that times out meanwhile has had its write applied, as in the real world.
   */
  delayNext(n: number, ms: number, match?: FaultMatch): void;
  /** The next `n` matching requests get a TCP reset instead of an answer (not applied). */
  resetConnectionNext(n: number, match?: FaultMatch): void;
  /** Scripted faults still waiting for a request. */
  pending(): number;
  clear(): void;
}

export class FakeCustomerIo {
  readonly url: string;
  readonly requests: RecordedRequest[] = [];
  readonly #ws = new FakeWorkspace();
  readonly people = this.#ws.people;
  readonly events = this.#ws.events;
  /** Events answered 200 but not stored because their `id` was seen before. */
  readonly duplicateEvents = this.#ws.duplicateEvents;
  readonly devices = this.#ws.devices;
  readonly segments = this.#ws.segments;
  /** Ids added to a segment that matched nobody identified at the time. */
  readonly unidentifiedSegmentIds = this.#ws.unidentifiedSegmentIds;
  /** Ids silently skipped by add/remove (value not of the given id_type). */
  readonly ignoredSegmentIds = this.#ws.ignoredSegmentIds;
  /** Requests accepted with 200 that Customer.io would drop (unknown cio_id, suppressed, `_update` miss). */
  readonly drops = this.#ws.drops;
  readonly suppressed = this.#ws.suppressed;
  /** Objects by `<object_type_id>:<object_id>`. */
  readonly objects = this.#ws.objects;
  /** v2 object/delivery (and person relationship) operations, stored as sent. */
  readonly otherOps = this.#ws.otherOps;
  readonly timestampViolations = this.#ws.timestampViolations;
  readonly script: FakeScript;
  credentials: FakeCredentials;
  rateLimit: FakeRateLimit | undefined;
  readonly limits: FakeLimits;

  readonly #server: http.Server;
  readonly #options: FakeCustomerIoOptions;
  readonly #track: TrackApi;
  readonly #app: AppApi;
  readonly #throttle = new Throttle();
  #queue: ScriptEntry[] = [];
  /** Pending delayed answers; reset/close release them so no handler is left hanging. */
  #delays = new Map<NodeJS.Timeout, () => void>();

  constructor(server: http.Server, url: string, options: FakeCustomerIoOptions) {
    this.#server = server;
    this.url = url;
    this.#options = options;
    this.credentials = initialCredentials(options);
    this.rateLimit = options.rateLimit;
    this.limits = { ...FAKE_DEFAULT_LIMITS, ...options.limits };
    this.#track = new TrackApi(this.#ws, this.limits, options);
    this.#app = new AppApi(this.#ws, this.limits);
    this.script = {
      failNext: (n, spec) => this.#enqueue({ kind: 'fail', remaining: n, match: spec, fail: spec }),
      delayNext: (n, ms, match = {}) => this.#enqueue({ kind: 'delay', remaining: n, match, delayMs: ms }),
      resetConnectionNext: (n, match = {}) => this.#enqueue({ kind: 'reset', remaining: n, match }),
      pending: () => this.#queue.reduce((sum, e) => sum + e.remaining, 0),
      clear: () => {
        this.#queue = [];
      },
    };
  }

  /** Both APIs are served from one origin. */
  get hosts(): { trackUrl: string; appUrl: string } {
    return { trackUrl: this.url, appUrl: this.url };
  }

  get pageViews(): FakeEvent[] {
    return this.events.filter((e) => e.type === 'page');
  }

  get screenViews(): FakeEvent[] {
    return this.events.filter((e) => e.type === 'screen');
  }

  /** Requests whose decoded path equals `path` or matches the RegExp. */
  requestsTo(path: string | RegExp, method?: string): RecordedRequest[] {
    return this.requests.filter(
      (r) => pathMatches(r.path, path) && (method === undefined || r.method === method),
    );
  }

  setCredentials(creds: Partial<FakeCredentials>): void {
    this.credentials = { ...this.credentials, ...creds };
  }

  setRateLimit(rateLimit: FakeRateLimit | undefined): void {
    this.rateLimit = rateLimit;
    this.#throttle.clear();
  }

  findPerson(type: FakeIdType | 'phone', value: string): FakePerson | undefined {
    return this.#ws.findPerson(type, value);
  }

  /** Creates a person directly (test setup), as if identified earlier. */
  seedPerson(input: { id?: string; email?: string; attributes?: Record<string, unknown> }): FakePerson {
    return this.#ws.seedPerson(input);
  }

  /** Creates a segment directly; `type: 'dynamic'` gives a data-driven one the API must refuse to edit. */
  seedSegment(input: { name: string; description?: string; type?: 'manual' | 'dynamic' }): FakeSegment {
    return this.#ws.seedSegment(input);
  }

  segmentMembers(segmentId: number): FakeSegmentMember[] {
    return this.#ws.segmentMembers(segmentId);
  }

  /** Member values as given to add_customers (ids, emails or cio_ids). */
  segmentMemberValues(segmentId: number): string[] {
    return this.segmentMembers(segmentId).map((m) => m.value);
  }

  /** Back to a fresh server: state, records, script, throttle and the credentials given at start. */
  reset(): void {
    this.requests.length = 0;
    this.#ws.reset();
    this.#queue = [];
    this.#throttle.clear();
    this.credentials = initialCredentials(this.#options);
    this.rateLimit = this.#options.rateLimit;
    this.#releaseDelays();
  }

  async close(): Promise<void> {
    this.#releaseDelays();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #releaseDelays(): void {
    for (const [t, release] of this.#delays) {
      clearTimeout(t);
      release();
    }
    this.#delays.clear();
  }

  // ---- request handling ------------------------------------------------------------------------------

  /** @internal called by the http server */
  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rec = await this.#record(req);
    const entry = this.#takeFault(rec);

    if (entry?.kind === 'reset') {
      rec.fault = 'reset';
      rec.status = 0;
      req.socket.resetAndDestroy();
      return;
    }

    let response: FakeResponse;
    if (entry?.kind === 'fail' && entry.fail) {
      rec.fault = 'fail';
      if (entry.fail.applied) this.#process(rec);
      response = failResponse(entry.fail);
    } else {
      response = this.#process(rec);
    }

    if (entry?.kind === 'delay') {
      rec.fault = 'delay';
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.#delays.delete(t);
          resolve();
        }, entry.delayMs);
        this.#delays.set(t, resolve);
      });
      if (res.destroyed || req.socket.destroyed) {
        rec.status = response.status;
        rec.responseBody = response.body;
        return;
      }
    }
    this.#send(rec, res, response);
  }

  #process(rec: RecordedRequest): FakeResponse {
    if (rec.api === 'other')
      return { status: 404, body: { errors: [{ detail: 'not found', status: '404' }] } };
    const auth = checkAuth(rec, this.credentials);
    if (auth) return auth;
    const throttled = this.#throttle.check(rec.api, this.rateLimit);
    if (throttled) {
      rec.fault = 'rate_limit';
      return throttled;
    }
    try {
      return rec.api === 'track' ? this.#track.handle(rec) : this.#app.handle(rec);
    } catch (err) {
      return { status: 500, body: { errors: [{ detail: `fake crashed: ${String(err)}`, status: '500' }] } };
    }
  }

  async #record(req: http.IncomingMessage): Promise<RecordedRequest> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const bodyText = Buffer.concat(chunks).toString('utf8');
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const query: Record<string, string> = {};
    if (q !== -1) for (const [k, v] of new URLSearchParams(rawUrl.slice(q + 1))) query[k] = v;
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      path = rawPath;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    }
    let body: unknown;
    if (bodyText.trim() !== '') {
      try {
        body = JSON.parse(bodyText);
      } catch {
        body = undefined;
      }
    }
    const api: FakeApi = rawPath.startsWith('/api/')
      ? 'track'
      : rawPath.startsWith('/v1/') || rawPath === '/v1'
        ? 'app'
        : 'other';
    const rec: RecordedRequest = {
      seq: this.requests.length,
      api,
      method: req.method ?? 'GET',
      rawPath,
      path,
      query,
      headers,
      bodyText,
      body,
      status: undefined,
      responseBody: undefined,
      remotePort: req.socket.remotePort,
      receivedAt: Date.now(),
    };
    this.requests.push(rec);
    return rec;
  }

  #send(rec: RecordedRequest, res: http.ServerResponse, response: FakeResponse): void {
    rec.status = response.status;
    rec.responseBody = response.body;
    const headers: Record<string, string> = { ...response.headers };
    let payload = '';
    if (response.body !== undefined && response.status !== 204) {
      if (typeof response.body === 'string') {
        payload = response.body;
        headers['content-type'] ??= 'text/plain; charset=utf-8';
      } else {
        payload = JSON.stringify(response.body);
        headers['content-type'] ??= JSON_TYPE;
      }
    }
    if (response.status !== 204) headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(response.status, headers);
    res.end(payload);
  }

  #enqueue(entry: ScriptEntry): void {
    if (!Number.isInteger(entry.remaining) || entry.remaining <= 0)
      throw new Error('scripted fault count must be > 0');
    this.#queue.push(entry);
  }

  #takeFault(rec: RecordedRequest): ScriptEntry | undefined {
    const i = this.#queue.findIndex((e) => faultMatches(e.match, rec));
    if (i === -1) return undefined;
    const entry = this.#queue[i]!;
    entry.remaining--;
    if (entry.remaining <= 0) this.#queue.splice(i, 1);
    return entry;
  }
}

export async function startFakeCustomerIo(options: FakeCustomerIoOptions = {}): Promise<FakeCustomerIo> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const fake = new FakeCustomerIo(server, `http://127.0.0.1:${port}`, options);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    fake.handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': JSON_TYPE });
        res.end(JSON.stringify({ errors: [{ detail: `fake crashed: ${String(err)}`, status: '500' }] }));
      }
    });
  });
  return fake;
}

function failResponse(spec: FailSpec): FakeResponse {
  const headers: Record<string, string> = { ...spec.headers };
  const ra = retryAfterHeader(spec.retryAfter);
  if (ra !== undefined) headers['retry-after'] = ra;
  const response: FakeResponse = { status: spec.status, headers };
  if (spec.body !== undefined) response.body = spec.body;
  return response;
}

function faultMatches(match: FaultMatch, rec: RecordedRequest): boolean {
  if (match.api !== undefined && match.api !== rec.api) return false;
  if (match.method !== undefined && match.method.toUpperCase() !== rec.method) return false;
  if (match.path !== undefined && !pathMatches(rec.path, match.path)) return false;
  return true;
}

function pathMatches(path: string, pattern: string | RegExp): boolean {
  return typeof pattern === 'string' ? path === pattern : pattern.test(path);
}
