/**
 * A fake Customer.io for tests: one node:http server on 127.0.0.1 that answers both the Track API
 * (`/api/v1/…`, `/api/v2/…`, Basic auth) and the App API (`/v1/…`, Bearer auth), keeps the state those
 * calls change, records every request verbatim, and can be scripted to fail.
 *
 * It models the documented behaviour (Customer.io API research notes, §7 test cases): auth per API, v1 `400
 * {meta:{errors}}` answers, v2 per-item `207` errors with the other items applied, segment membership
 * limits, event dedup by `id`, and it flags timestamps that are not Unix seconds. Its limit checks are
 * written independently of src/customerio/limits.ts on purpose, so a bug there cannot hide itself.
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

export type FakeIdType = 'id' | 'email' | 'cio_id';
export type FakeApi = 'track' | 'app' | 'other';

export interface FakeLimits {
  identifierBytes: number;
  attributeNameBytes: number;
  attributeValueBytes: number;
  attributes: number;
  eventNameBytes: number;
  eventDataBytes: number;
  itemBytes: number;
  entityBytes: number;
  batchBytes: number;
  segmentIds: number;
  membershipPage: number;
}

export const FAKE_DEFAULT_LIMITS: Readonly<FakeLimits> = {
  identifierBytes: 150,
  attributeNameBytes: 150,
  attributeValueBytes: 1000,
  attributes: 300,
  eventNameBytes: 100,
  eventDataBytes: 100_000,
  itemBytes: 32_000,
  entityBytes: 32_000,
  batchBytes: 500_000,
  segmentIds: 1000,
  membershipPage: 30_000,
};

export interface FakeRateLimit {
  /** Accepted Track requests per rolling second before 429. */
  trackPerSecond?: number;
  /** Accepted App requests per rolling second before 429 (Customer.io documents 10). */
  appPerSecond?: number;
  /** `Retry-After` on the 429: seconds, a Date (sent as an HTTP-date) or a raw header value. Default none. */
  retryAfter?: number | Date | string;
}

export interface FakeCredentials {
  siteId: string;
  trackApiKey: string;
  /** undefined: every App API call is unauthorized. */
  appApiKey: string | undefined;
}

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

export interface FakePerson {
  cio_id: string;
  id?: string;
  email?: string;
  phone?: string;
  attributes: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface FakeEvent {
  type: 'event' | 'page' | 'screen';
  name: string;
  id?: string;
  timestamp?: unknown;
  data: Record<string, unknown>;
  /** The person the event was sent for; absent for anonymous events. */
  identifier?: FakeIdentifier;
  anonymousId?: string;
  via: 'v1' | 'v2';
  requestSeq: number;
}

export interface FakeDevice {
  token: string;
  platform: string;
  last_used?: unknown;
  attributes: Record<string, unknown>;
  identifier: FakeIdentifier;
}

export interface FakeObject {
  object_type_id: string;
  object_id: string;
  attributes: Record<string, unknown>;
  /** People related to the object, by the identifier the relationship named (anonymous ones as `anonymous_id`). */
  relationships: Array<{ type: FakeIdType | 'phone' | 'anonymous_id'; value: string }>;
}

export interface FakeSegment {
  id: number;
  deduplicate_id: string;
  name: string;
  description: string;
  state: 'finished';
  progress: null;
  type: 'manual' | 'dynamic';
  tags: string[];
  created_at: number;
  updated_at: number;
}

export interface FakeSegmentMember {
  idType: FakeIdType;
  value: string;
}

export interface TimestampViolation {
  requestSeq: number;
  path: string;
  /** Dotted location, e.g. `batch[2].timestamp`, `created_at`, `device.last_used`. */
  field: string;
  value: unknown;
  reason: 'milliseconds' | 'string' | 'not_integer' | 'negative' | 'not_a_number';
}

export interface FakeDrop {
  requestSeq: number;
  reason: string;
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

interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface ItemError {
  batch_index?: number;
  reason: string;
  field: string;
  message: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const REGION_URLS = { us: 'https://track.customer.io', eu: 'https://track-eu.customer.io' } as const;
/** Largest plausible Unix-seconds value (year 5138); epoch milliseconds of today are ~1.7e12. */
const MAX_UNIX_SECONDS = 1e11;

export class FakeCustomerIo {
  readonly url: string;
  readonly requests: RecordedRequest[] = [];
  readonly people = new Map<string, FakePerson>();
  readonly events: FakeEvent[] = [];
  /** Events answered 200 but not stored because their `id` was seen before. */
  readonly duplicateEvents: FakeEvent[] = [];
  readonly devices = new Map<string, FakeDevice>();
  readonly segments = new Map<number, FakeSegment>();
  /** Ids added to a segment that matched nobody identified at the time. */
  readonly unidentifiedSegmentIds: Array<FakeSegmentMember & { segmentId: number; requestSeq: number }> = [];
  /** Ids silently skipped by add/remove (value not of the given id_type). */
  readonly ignoredSegmentIds: Array<FakeSegmentMember & { segmentId: number; requestSeq: number }> = [];
  /** Requests accepted with 200 that Customer.io would drop (unknown cio_id, suppressed, `_update` miss). */
  readonly drops: FakeDrop[] = [];
  readonly suppressed = new Set<string>();
  /** Objects by `<object_type_id>:<object_id>`. */
  readonly objects = new Map<string, FakeObject>();
  /** v2 object/delivery (and person relationship) operations, stored as sent. */
  readonly otherOps: unknown[] = [];
  readonly timestampViolations: TimestampViolation[] = [];
  readonly script: FakeScript;
  credentials: FakeCredentials;
  rateLimit: FakeRateLimit | undefined;
  readonly limits: FakeLimits;

  readonly #server: http.Server;
  readonly #options: FakeCustomerIoOptions;
  /** Members per segment, keyed by the person's cio_id: membership is per person, whatever the id type. */
  readonly #members = new Map<number, Map<string, FakeSegmentMember>>();
  readonly #eventIds = new Set<string>();
  /** Suppress keys blocked by one suppress (a person's id and email): an unsuppress of one frees them all. */
  readonly #suppressedTogether = new Map<string, string[]>();
  #queue: ScriptEntry[] = [];
  #trackHits: number[] = [];
  #appHits: number[] = [];
  #nextSegmentId = 1;
  #nextCioId = 1;
  /** Pending delayed answers; reset/close release them so no handler is left hanging. */
  #delays = new Map<NodeJS.Timeout, () => void>();

  constructor(server: http.Server, url: string, options: FakeCustomerIoOptions) {
    this.#server = server;
    this.url = url;
    this.#options = options;
    this.credentials = initialCredentials(options);
    this.rateLimit = options.rateLimit;
    this.limits = { ...FAKE_DEFAULT_LIMITS, ...options.limits };
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
    this.#trackHits = [];
    this.#appHits = [];
  }

  findPerson(type: FakeIdType | 'phone', value: string): FakePerson | undefined {
    if (type === 'cio_id') return this.people.get(value);
    for (const p of this.people.values()) {
      if (type === 'id' && p.id === value) return p;
      if (type === 'email' && p.email !== undefined && p.email.toLowerCase() === value.toLowerCase())
        return p;
      if (type === 'phone' && p.phone === value) return p;
    }
    return undefined;
  }

  /** Creates a person directly (test setup), as if identified earlier. */
  seedPerson(input: { id?: string; email?: string; attributes?: Record<string, unknown> }): FakePerson {
    const person = this.#newPerson();
    if (input.id !== undefined) person.id = input.id;
    if (input.email !== undefined) person.email = input.email;
    Object.assign(person.attributes, input.attributes);
    return person;
  }

  /** Creates a segment directly; `type: 'dynamic'` gives a data-driven one the API must refuse to edit. */
  seedSegment(input: { name: string; description?: string; type?: 'manual' | 'dynamic' }): FakeSegment {
    return this.#newSegment(input.name, input.description ?? '', input.type ?? 'manual');
  }

  segmentMembers(segmentId: number): FakeSegmentMember[] {
    return [...(this.#members.get(segmentId)?.values() ?? [])];
  }

  /** Member values as given to add_customers (ids, emails or cio_ids). */
  segmentMemberValues(segmentId: number): string[] {
    return this.segmentMembers(segmentId).map((m) => m.value);
  }

  /** Back to a fresh server: state, records, script, throttle and the credentials given at start. */
  reset(): void {
    this.requests.length = 0;
    this.people.clear();
    this.events.length = 0;
    this.duplicateEvents.length = 0;
    this.devices.clear();
    this.segments.clear();
    this.unidentifiedSegmentIds.length = 0;
    this.ignoredSegmentIds.length = 0;
    this.drops.length = 0;
    this.suppressed.clear();
    this.#suppressedTogether.clear();
    this.objects.clear();
    this.otherOps.length = 0;
    this.timestampViolations.length = 0;
    this.#members.clear();
    this.#eventIds.clear();
    this.#queue = [];
    this.#trackHits = [];
    this.#appHits = [];
    this.#nextSegmentId = 1;
    this.#nextCioId = 1;
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
    const auth = this.#checkAuth(rec);
    if (auth) return auth;
    const throttled = this.#throttle(rec);
    if (throttled) {
      rec.fault = 'rate_limit';
      return throttled;
    }
    try {
      return rec.api === 'track' ? this.#track(rec) : this.#app(rec);
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

  #checkAuth(rec: RecordedRequest): FakeResponse | undefined {
    const header = rec.headers['authorization'] ?? '';
    const unauthorized: FakeResponse = { status: 401, body: 'Unauthorized request' };
    if (rec.api === 'track') {
      const m = /^Basic\s+(\S+)$/i.exec(header);
      if (!m) return unauthorized;
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon === -1) return unauthorized;
      const site = decoded.slice(0, colon);
      const key = decoded.slice(colon + 1);
      if (site !== this.credentials.siteId || key !== this.credentials.trackApiKey) return unauthorized;
      return undefined;
    }
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m || this.credentials.appApiKey === undefined || m[1] !== this.credentials.appApiKey)
      return unauthorized;
    return undefined;
  }

  #throttle(rec: RecordedRequest): FakeResponse | undefined {
    const limit = rec.api === 'track' ? this.rateLimit?.trackPerSecond : this.rateLimit?.appPerSecond;
    if (limit === undefined) return undefined;
    const now = Date.now();
    const hits = (rec.api === 'track' ? this.#trackHits : this.#appHits).filter((t) => now - t < 1000);
    if (rec.api === 'track') this.#trackHits = hits;
    else this.#appHits = hits;
    if (hits.length >= limit) {
      const headers: Record<string, string> = {};
      const ra = retryAfterHeader(this.rateLimit?.retryAfter);
      if (ra !== undefined) headers['retry-after'] = ra;
      const body =
        rec.api === 'app'
          ? { errors: [{ detail: `Your request is over the ${limit}-per-second limit`, status: '429' }] }
          : { meta: { errors: ['rate limit exceeded'] } };
      return { status: 429, body, headers };
    }
    hits.push(now);
    return undefined;
  }

  // ---- Track API ---------------------------------------------------------------------------------------

  #track(rec: RecordedRequest): FakeResponse {
    const seg = splitPath(rec.rawPath);
    if (seg === undefined) return v1Error(400, 'invalid path encoding');
    const m = rec.method;
    const writes = m === 'POST' || m === 'PUT';
    if (writes && rec.bodyText.trim() !== '' && rec.body === undefined) {
      return seg[1] === 'v2'
        ? v2Error(400, 'invalid_json', '', 'request body is not valid JSON')
        : v1Error(400, 'invalid JSON body');
    }
    const [, version, a, b, c, d, ...rest] = seg;
    if (version === 'v1') {
      if (a === 'accounts' && b === 'region' && c === undefined && m === 'GET') return this.#region();
      if (a === 'customers' && b !== undefined && rest.length === 0) {
        if (c === undefined && m === 'PUT') return this.#v1Identify(rec, b);
        if (c === undefined && m === 'DELETE') return this.#v1Delete(rec, b);
        if (c === 'events' && d === undefined && m === 'POST') return this.#v1Event(rec, b);
        if (c === 'devices' && d === undefined && m === 'PUT') return this.#v1Device(rec, b);
        if (c === 'devices' && d !== undefined && m === 'DELETE') return this.#v1DeleteDevice(rec, d);
        if ((c === 'suppress' || c === 'unsuppress') && d === undefined && m === 'POST') {
          return this.#v1Suppress(b, c === 'suppress');
        }
      }
      if (a === 'events' && b === undefined && m === 'POST') return this.#v1AnonymousEvent(rec);
      if (a === 'merge_customers' && b === undefined && m === 'POST') return this.#v1Merge(rec);
      if (
        a === 'segments' &&
        b !== undefined &&
        (c === 'add_customers' || c === 'remove_customers') &&
        d === undefined
      ) {
        if (m === 'POST') return this.#segmentMembership(rec, b, c === 'add_customers');
      }
    }
    if (version === 'v2' && b === undefined && m === 'POST') {
      if (a === 'entity') return this.#v2Entity(rec);
      if (a === 'batch') return this.#v2Batch(rec);
    }
    return v1Error(404, `no route for ${m} ${rec.path}`);
  }

  #region(): FakeResponse {
    const region = this.#options.region ?? 'us';
    return {
      status: 200,
      body: { url: REGION_URLS[region], region, environment_id: this.#options.environmentId ?? 1 },
    };
  }

  #v1Identify(rec: RecordedRequest, pathId: string): FakeResponse {
    const body = rec.body;
    if (!isRecord(body)) return v1Error(400, 'request body must be a JSON object');
    const ident = inferIdentifier(pathId);
    const problem = this.#identifierProblem(ident.value) ?? this.#attributesProblem(stripReserved(body));
    if (problem) return v1Error(400, problem);
    this.#checkTimestamp(rec, 'created_at', body['created_at']);
    this.#checkTimestamp(rec, '_timestamp', body['_timestamp']);
    this.#identify(rec, ident, body, body['_update'] === true);
    return ok();
  }

  #v1Delete(rec: RecordedRequest, pathId: string): FakeResponse {
    this.#delete(rec, inferIdentifier(pathId), 'delete');
    return ok();
  }

  #v1Suppress(pathId: string, suppress: boolean): FakeResponse {
    const ident = inferIdentifier(pathId);
    if (suppress) this.#suppress(ident);
    else this.#unsuppress(ident);
    return ok();
  }

  #v1Event(rec: RecordedRequest, pathId: string): FakeResponse {
    const body = rec.body;
    if (!isRecord(body)) return v1Error(400, 'request body must be a JSON object');
    const ident = inferIdentifier(pathId);
    const problem =
      this.#identifierProblem(ident.value) ?? this.#eventProblem(body['name'], body['type'], body['data']);
    if (problem) return v1Error(400, problem);
    this.#checkTimestamp(rec, 'timestamp', body['timestamp']);
    if (this.#isSuppressed(ident)) {
      this.drops.push({ requestSeq: rec.seq, reason: 'event: identifier suppressed' });
      return ok();
    }
    this.#storeEvent(rec, body, 'v1', { identifier: ident });
    return ok();
  }

  #v1AnonymousEvent(rec: RecordedRequest): FakeResponse {
    const body = rec.body;
    if (!isRecord(body)) return v1Error(400, 'request body must be a JSON object');
    const problem = this.#eventProblem(body['name'], body['type'], body['data']);
    if (problem) return v1Error(400, problem);
    this.#checkTimestamp(rec, 'timestamp', body['timestamp']);
    const anon =
      typeof body['anonymous_id'] === 'string' && body['anonymous_id'] !== ''
        ? body['anonymous_id']
        : undefined;
    this.#storeEvent(rec, body, 'v1', anon !== undefined ? { anonymousId: anon } : {});
    return ok();
  }

  #v1Device(rec: RecordedRequest, pathId: string): FakeResponse {
    const device = isRecord(rec.body) ? rec.body['device'] : undefined;
    if (!isRecord(device)) return v1Error(400, 'device is required');
    if (typeof device['id'] !== 'string' || device['id'] === '') return v1Error(400, 'device id is required');
    if (typeof device['platform'] !== 'string' || device['platform'] === '')
      return v1Error(400, 'device platform is required');
    this.#checkTimestamp(rec, 'device.last_used', device['last_used']);
    this.#putDevice(inferIdentifier(pathId), device['id'], device);
    return ok();
  }

  #v1DeleteDevice(rec: RecordedRequest, token: string): FakeResponse {
    if (!this.devices.delete(token))
      this.drops.push({ requestSeq: rec.seq, reason: 'delete_device: unknown token' });
    return ok();
  }

  #v1Merge(rec: RecordedRequest): FakeResponse {
    const body = rec.body;
    if (!isRecord(body))
      return { status: 400, body: { meta: { error: 'request body must be a JSON object' } } };
    const primary = singleIdentifier(body['primary']);
    const secondary = singleIdentifier(body['secondary']);
    if (typeof primary === 'string') return { status: 400, body: { meta: { error: `primary: ${primary}` } } };
    if (typeof secondary === 'string')
      return { status: 400, body: { meta: { error: `secondary: ${secondary}` } } };
    this.#merge(rec, primary, secondary);
    return ok();
  }

  #v2Entity(rec: RecordedRequest): FakeResponse {
    const size = Buffer.byteLength(rec.bodyText);
    if (size > this.limits.entityBytes) {
      return v2Error(
        this.#oversizeStatus(),
        'too_large',
        '',
        `request is ${size} bytes, limit ${this.limits.entityBytes}`,
      );
    }
    const error = this.#applyOp(rec, rec.body, 'entity');
    if (error) return { status: 400, body: { errors: [error] } };
    return ok();
  }

  #v2Batch(rec: RecordedRequest): FakeResponse {
    const size = Buffer.byteLength(rec.bodyText);
    if (size > this.limits.batchBytes) {
      return v2Error(
        this.#oversizeStatus(),
        'too_large',
        'batch',
        `request is ${size} bytes, limit ${this.limits.batchBytes}`,
      );
    }
    const batch = isRecord(rec.body) ? rec.body['batch'] : undefined;
    if (!Array.isArray(batch))
      return v2Error(400, 'required', 'batch', 'batch must be an array of operations');
    if (batch.length === 0)
      return v2Error(400, 'invalid', 'batch', 'batch must contain at least one operation');
    const errors: ItemError[] = [];
    batch.forEach((op, index) => {
      const bytes = Buffer.byteLength(JSON.stringify(op) ?? '');
      if (bytes > this.limits.itemBytes) {
        errors.push({
          batch_index: index,
          reason: 'too_large',
          field: '',
          message: `operation is ${bytes} bytes, limit ${this.limits.itemBytes}`,
        });
        return;
      }
      const error = this.#applyOp(rec, op, `batch[${index}]`);
      if (error) errors.push({ batch_index: index, ...error });
    });
    if (errors.length > 0) return { status: 207, body: { errors } };
    return ok();
  }

  #oversizeStatus(): number {
    return this.#options.oversizeStatus ?? 400;
  }

  /** Validates one v2 operation and applies it when valid; returns the error otherwise. */
  #applyOp(rec: RecordedRequest, op: unknown, where: string): ItemError | undefined {
    if (!isRecord(op)) return { reason: 'invalid', field: '', message: 'operation must be an object' };
    const type = op['type'];
    const action = op['action'];
    if (type === 'object' || type === 'delivery') {
      if (!isRecord(op['identifiers']))
        return { reason: 'required', field: 'identifiers', message: 'identifiers are required' };
      if (typeof action !== 'string')
        return { reason: 'required', field: 'action', message: 'action is required' };
      this.otherOps.push(op);
      return type === 'object' ? this.#applyObjectOp(rec, op, action) : undefined;
    }
    if (type !== 'person')
      return { reason: 'invalid', field: 'type', message: `unknown type ${JSON.stringify(type)}` };
    if (typeof action !== 'string')
      return { reason: 'required', field: 'action', message: 'action is required' };

    if (action === 'merge') {
      const primary = singleIdentifier(op['primary']);
      const secondary = singleIdentifier(op['secondary']);
      if (typeof primary === 'string') return { reason: 'invalid', field: 'primary', message: primary };
      if (typeof secondary === 'string') return { reason: 'invalid', field: 'secondary', message: secondary };
      if (this.#isSuppressed(primary) || this.#isSuppressed(secondary)) {
        this.drops.push({ requestSeq: rec.seq, reason: `${where}: merge of a suppressed identifier` });
        return undefined;
      }
      this.#merge(rec, primary, secondary);
      return undefined;
    }

    const ident = singleIdentifier(op['identifiers'], true);
    if (typeof ident === 'string') return { reason: 'invalid', field: 'identifiers', message: ident };
    const idProblem = this.#identifierProblem(ident.value);
    if (idProblem) return { reason: 'too_long', field: `identifiers.${ident.type}`, message: idProblem };
    this.#checkTimestamp(rec, `${where}.timestamp`, op['timestamp']);

    switch (action) {
      case 'identify': {
        const attributes = op['attributes'] ?? {};
        if (!isRecord(attributes))
          return { reason: 'invalid', field: 'attributes', message: 'attributes must be an object' };
        const problem = this.#attributesProblem(stripReserved(attributes));
        if (problem) return { reason: 'invalid', field: 'attributes', message: problem };
        this.#checkTimestamp(rec, `${where}.attributes.created_at`, attributes['created_at']);
        this.#identify(rec, ident, attributes, attributes['_update'] === true);
        return undefined;
      }
      case 'event':
      case 'page':
      case 'screen': {
        const eventType = action === 'event' ? 'event' : action;
        const problem = this.#eventProblem(op['name'], eventType, op['attributes']);
        if (problem) return { reason: 'invalid', field: problemField(problem), message: problem };
        if (this.#isSuppressed(ident)) {
          this.drops.push({ requestSeq: rec.seq, reason: `${where}: identifier suppressed` });
          return undefined;
        }
        this.#storeEvent(rec, { ...op, type: eventType, data: op['attributes'] }, 'v2', {
          identifier: ident,
        });
        return undefined;
      }
      case 'add_device': {
        const device = op['device'];
        if (!isRecord(device)) return { reason: 'required', field: 'device', message: 'device is required' };
        if (typeof device['token'] !== 'string' || device['token'] === '') {
          return { reason: 'required', field: 'device.token', message: 'device token is required' };
        }
        if (typeof device['platform'] !== 'string' || device['platform'] === '') {
          return { reason: 'required', field: 'device.platform', message: 'device platform is required' };
        }
        this.#checkTimestamp(rec, `${where}.device.last_used`, device['last_used']);
        if (this.#isSuppressed(ident)) {
          this.drops.push({ requestSeq: rec.seq, reason: `${where}: identifier suppressed` });
          return undefined;
        }
        this.#putDevice(ident, device['token'], device);
        return undefined;
      }
      case 'delete_device': {
        const device = op['device'];
        if (!isRecord(device) || typeof device['token'] !== 'string') {
          return { reason: 'required', field: 'device.token', message: 'device token is required' };
        }
        this.devices.delete(device['token']);
        return undefined;
      }
      case 'delete':
        this.#delete(rec, ident, `${where}: delete`);
        return undefined;
      case 'suppress':
        this.#suppress(ident);
        return undefined;
      case 'unsuppress':
        this.#unsuppress(ident);
        return undefined;
      case 'add_relationships':
      case 'delete_relationships': {
        this.otherOps.push(op);
        if (this.#isSuppressed(ident)) {
          this.drops.push({ requestSeq: rec.seq, reason: `${where}: identifier suppressed` });
          return undefined;
        }
        const relations = Array.isArray(op['cio_relationships']) ? op['cio_relationships'] : [];
        for (const relation of relations) {
          const objectIds = isRecord(relation) ? relation['identifiers'] : undefined;
          if (!isRecord(objectIds)) continue;
          const object = this.#object(objectIds, action === 'add_relationships');
          if (object === undefined) continue;
          if (action === 'add_relationships') relate(object, ident);
          else unrelate(object, ident);
        }
        return undefined;
      }
      default:
        return {
          reason: 'invalid',
          field: 'action',
          message: `unknown person action ${JSON.stringify(action)}`,
        };
    }
  }

  #segmentMembership(rec: RecordedRequest, rawSegmentId: string, add: boolean): FakeResponse {
    if (!/^\d+$/.test(rawSegmentId)) return v1Error(400, 'segment id must be an integer');
    const segmentId = Number(rawSegmentId);
    const idType = rec.query['id_type'] ?? 'id';
    if (idType !== 'id' && idType !== 'email' && idType !== 'cio_id') {
      return v1Error(400, `id_type must be one of id, email, cio_id`);
    }
    const ids = isRecord(rec.body) ? rec.body['ids'] : undefined;
    if (!Array.isArray(ids)) return v1Error(400, 'ids must be an array');
    if (ids.length === 0) return v1Error(400, 'ids must contain at least 1 item');
    if (ids.length > this.limits.segmentIds)
      return v1Error(400, `ids must contain at most ${this.limits.segmentIds} items`);
    if (ids.some((v) => typeof v !== 'string')) return v1Error(400, 'ids must be strings');
    const segment = this.segments.get(segmentId);
    if (!segment) return v1Error(404, `segment ${segmentId} not found`);
    if (segment.type !== 'manual') return v1Error(400, `segment ${segmentId} is not a manual segment`);

    const members = this.#members.get(segmentId) ?? new Map<string, FakeSegmentMember>();
    this.#members.set(segmentId, members);
    // One pass over people per request (not per id): cohort tests send thousands of ids.
    const index = new Map<string, FakePerson>();
    if (idType !== 'cio_id') {
      for (const p of this.people.values()) {
        const key = idType === 'email' ? p.email?.toLowerCase() : p.id;
        if (key !== undefined && !index.has(key)) index.set(key, p);
      }
    }
    for (const value of ids as string[]) {
      const given: FakeSegmentMember = { idType, value };
      if (idType === 'email' && !value.includes('@')) {
        this.ignoredSegmentIds.push({ ...given, segmentId, requestSeq: rec.seq });
        continue;
      }
      const person =
        idType === 'cio_id'
          ? this.people.get(value.replace(/^cio_/, ''))
          : index.get(idType === 'email' ? value.toLowerCase() : value);
      if (add) {
        // Customer.io ignores people it does not know in a manual-segment add (its manual-segment
        // docs: people must be identified first; Amplitude's cohort sync docs: unknown users are ignored).
        if (!person) {
          this.unidentifiedSegmentIds.push({ ...given, segmentId, requestSeq: rec.seq });
          continue;
        }
        if (!members.has(person.cio_id)) members.set(person.cio_id, given);
      } else if (person) {
        members.delete(person.cio_id);
      }
    }
    segment.updated_at = nowSeconds();
    return ok();
  }

  // ---- App API -----------------------------------------------------------------------------------------

  #app(rec: RecordedRequest): FakeResponse {
    const seg = splitPath(rec.rawPath);
    if (seg === undefined) return appError(400, 'invalid path encoding');
    const [, resource, id, sub, ...rest] = seg;
    const m = rec.method;
    if (resource === 'segments' && rest.length === 0) {
      if (id === undefined) {
        if (m === 'GET') return { status: 200, body: { segments: [...this.segments.values()] } };
        if (m === 'POST') return this.#createSegment(rec);
      } else {
        if (!/^\d+$/.test(id)) return appError(404, 'segment not found');
        const segment = this.segments.get(Number(id));
        if (!segment) return appError(404, 'segment not found');
        if (sub === undefined && m === 'GET') return { status: 200, body: { segment } };
        if (sub === undefined && m === 'DELETE') {
          if (segment.type !== 'manual') return appError(400, 'only manual segments can be deleted');
          this.segments.delete(segment.id);
          this.#members.delete(segment.id);
          return { status: 204 };
        }
        if (sub === 'customer_count' && m === 'GET') {
          return {
            status: 200,
            body: { segment_id: segment.id, count: this.#members.get(segment.id)?.size ?? 0 },
          };
        }
        if (sub === 'membership' && m === 'GET') return this.#membership(rec, segment);
      }
    }
    return appError(404, `no route for ${m} ${rec.path}`);
  }

  #createSegment(rec: RecordedRequest): FakeResponse {
    if (rec.bodyText.trim() !== '' && rec.body === undefined)
      return appError(400, 'request body is not valid JSON');
    const input = isRecord(rec.body) ? rec.body['segment'] : undefined;
    if (!isRecord(input)) return appError(400, 'segment is required');
    const name = input['name'];
    if (typeof name !== 'string' || name.trim() === '') return appError(400, 'segment name is required');
    const description = typeof input['description'] === 'string' ? input['description'] : '';
    return { status: 200, body: { segment: this.#newSegment(name, description, 'manual') } };
  }

  #membership(rec: RecordedRequest, segment: FakeSegment): FakeResponse {
    const limit = rec.query['limit'] === undefined ? 1000 : Number(rec.query['limit']);
    if (!Number.isInteger(limit) || limit < 1 || limit > this.limits.membershipPage) {
      return appError(400, `limit must be between 1 and ${this.limits.membershipPage}`);
    }
    const start =
      rec.query['start'] === undefined || rec.query['start'] === '' ? 0 : Number(rec.query['start']);
    if (!Number.isInteger(start) || start < 0) return appError(400, 'invalid start cursor');
    const members = [...(this.#members.get(segment.id)?.values() ?? [])];
    const page = members.slice(start, start + limit);
    const identifiers = page.map((m) => {
      const person = this.#lookup({ type: m.idType, value: m.value });
      return {
        id: person?.id ?? (m.idType === 'id' ? m.value : ''),
        email: person?.email ?? (m.idType === 'email' ? m.value : ''),
        cio_id: person?.cio_id ?? (m.idType === 'cio_id' ? m.value : ''),
      };
    });
    const body: Record<string, unknown> = { ids: identifiers.map((i) => i.id), identifiers };
    if (start + limit < members.length) body['next'] = String(start + limit);
    return { status: 200, body };
  }

  // ---- state -------------------------------------------------------------------------------------------

  #newPerson(): FakePerson {
    const now = nowSeconds();
    const person: FakePerson = {
      cio_id: (this.#nextCioId++).toString(16).padStart(8, '0'),
      attributes: {},
      createdAt: now,
      updatedAt: now,
    };
    this.people.set(person.cio_id, person);
    return person;
  }

  #newSegment(name: string, description: string, type: 'manual' | 'dynamic'): FakeSegment {
    const now = nowSeconds();
    const id = this.#nextSegmentId++;
    const segment: FakeSegment = {
      id,
      deduplicate_id: `${id}:${now}`,
      name,
      description,
      state: 'finished',
      progress: null,
      type,
      tags: [],
      created_at: now,
      updated_at: now,
    };
    this.segments.set(id, segment);
    return segment;
  }

  #lookup(ident: FakeIdentifier): FakePerson | undefined {
    return this.findPerson(ident.type, ident.value);
  }

  #isSuppressed(ident: FakeIdentifier): boolean {
    return this.suppressed.has(suppressKey(ident));
  }

  /** Identify semantics of the Track API: update the match, else create (unless `_update`). */
  #identify(
    rec: RecordedRequest,
    ident: FakeIdentifier,
    attributes: Record<string, unknown>,
    updateOnly: boolean,
  ): void {
    if (this.#isSuppressed(ident)) {
      this.drops.push({ requestSeq: rec.seq, reason: 'identify: identifier suppressed' });
      return;
    }
    const bodyId = typeof attributes['id'] === 'string' ? attributes['id'] : undefined;
    const bodyEmail = typeof attributes['email'] === 'string' ? attributes['email'] : undefined;
    let person = this.#lookup(ident);
    if (!person && ident.type === 'cio_id') {
      this.drops.push({ requestSeq: rec.seq, reason: 'identify: unknown cio_id' });
      return;
    }
    person ??=
      (bodyId !== undefined ? this.findPerson('id', bodyId) : undefined) ??
      (bodyEmail !== undefined ? this.findPerson('email', bodyEmail) : undefined);
    if (!person) {
      if (updateOnly) {
        this.drops.push({ requestSeq: rec.seq, reason: 'identify: _update and no matching person' });
        return;
      }
      person = this.#newPerson();
    }
    if (ident.type === 'id') person.id = ident.value;
    if (ident.type === 'email') person.email = ident.value;
    if (ident.type === 'phone') person.phone = ident.value;
    if (bodyId !== undefined) person.id = bodyId;
    if (bodyEmail !== undefined) person.email = bodyEmail;
    for (const [name, value] of Object.entries(stripReserved(attributes))) {
      if (value === null) delete person.attributes[name];
      else person.attributes[name] = value;
    }
    person.updatedAt = nowSeconds();
  }

  /** Removes a person and what hangs off them: devices, segment memberships, object relationships. */
  #forget(person: FakePerson): void {
    this.people.delete(person.cio_id);
    const idents: FakeIdentifier[] = [{ type: 'cio_id', value: person.cio_id }];
    if (person.id !== undefined) idents.push({ type: 'id', value: person.id });
    if (person.email !== undefined) idents.push({ type: 'email', value: person.email });
    const keys = new Set(idents.map(suppressKey));
    for (const [token, device] of this.devices)
      if (keys.has(suppressKey(device.identifier))) this.devices.delete(token);
    for (const members of this.#members.values()) members.delete(person.cio_id);
    for (const object of this.objects.values()) for (const ident of idents) unrelate(object, ident);
  }

  #delete(rec: RecordedRequest, ident: FakeIdentifier, what: string): void {
    const person = this.#lookup(ident);
    if (person) this.#forget(person);
    else this.drops.push({ requestSeq: rec.seq, reason: `${what}: person not found` });
  }

  /** Deletes the person and blocks the identifier, and the person's other one (email+id workspaces). */
  #suppress(ident: FakeIdentifier): void {
    const person = this.#lookup(ident);
    const keys = [suppressKey(ident)];
    if (person?.id !== undefined) keys.push(suppressKey({ type: 'id', value: person.id }));
    if (person?.email !== undefined) keys.push(suppressKey({ type: 'email', value: person.email }));
    const together = [...new Set(keys)];
    for (const key of together) {
      this.suppressed.add(key);
      this.#suppressedTogether.set(key, together);
    }
    if (person) this.#forget(person);
  }

  /** Frees the identifier(s) a suppress blocked; the profile is not restored. */
  #unsuppress(ident: FakeIdentifier): void {
    const key = suppressKey(ident);
    for (const k of this.#suppressedTogether.get(key) ?? [key]) {
      this.suppressed.delete(k);
      this.#suppressedTogether.delete(k);
    }
  }

  /** The object named by `{object_type_id, object_id}`; created (empty) when `create`. */
  #object(identifiers: Record<string, unknown>, create: boolean): FakeObject | undefined {
    const typeId = identifiers['object_type_id'];
    const objectId = identifiers['object_id'];
    if ((typeof typeId !== 'string' && typeof typeId !== 'number') || typeof objectId !== 'string')
      return undefined;
    const key = `${String(typeId)}:${objectId}`;
    let object = this.objects.get(key);
    if (!object && create) {
      object = { object_type_id: String(typeId), object_id: objectId, attributes: {}, relationships: [] };
      this.objects.set(key, object);
    }
    return object;
  }

  /** Object `identify`, `identify_anonymous`, `delete`, `add_relationships`, `delete_relationships`. */
  #applyObjectOp(rec: RecordedRequest, op: Record<string, unknown>, action: string): ItemError | undefined {
    const identifiers = op['identifiers'] as Record<string, unknown>;
    if (
      !['identify', 'identify_anonymous', 'delete', 'add_relationships', 'delete_relationships'].includes(
        action,
      )
    ) {
      return {
        reason: 'invalid',
        field: 'action',
        message: `unknown object action ${JSON.stringify(action)}`,
      };
    }
    const creates =
      action === 'identify' || action === 'identify_anonymous' || action === 'add_relationships';
    const object = this.#object(identifiers, creates);
    if (object === undefined) {
      if (typeof identifiers['object_id'] !== 'string')
        return { reason: 'required', field: 'identifiers.object_id', message: 'object_id is required' };
      this.drops.push({ requestSeq: rec.seq, reason: `object ${action}: object not found` });
      return undefined;
    }
    if (action === 'delete') {
      this.objects.delete(`${object.object_type_id}:${object.object_id}`);
      return undefined;
    }
    if (isRecord(op['attributes']) && action !== 'delete_relationships') {
      for (const [name, value] of Object.entries(op['attributes'])) {
        if (value === null) delete object.attributes[name];
        else object.attributes[name] = value;
      }
    }
    const relations = Array.isArray(op['cio_relationships']) ? op['cio_relationships'] : [];
    for (const relation of relations) {
      const who = isRecord(relation) ? relation['identifiers'] : undefined;
      if (isRecord(who) && typeof who['anonymous_id'] === 'string') {
        const anonymous = { type: 'anonymous_id' as const, value: who['anonymous_id'] };
        if (action === 'delete_relationships') unrelate(object, anonymous);
        else relate(object, anonymous);
        continue;
      }
      const ident = singleIdentifier(who, true);
      if (typeof ident === 'string') continue;
      if (action === 'delete_relationships') unrelate(object, ident);
      else if (this.#isSuppressed(ident))
        this.drops.push({ requestSeq: rec.seq, reason: 'relationship: identifier suppressed' });
      else relate(object, ident);
    }
    return undefined;
  }

  #merge(rec: RecordedRequest, primary: FakeIdentifier, secondary: FakeIdentifier): void {
    const p = this.#lookup(primary);
    const s = this.#lookup(secondary);
    if (!p || !s || p === s) {
      this.drops.push({ requestSeq: rec.seq, reason: 'merge: primary or secondary not found' });
      return;
    }
    for (const [k, v] of Object.entries(s.attributes)) if (!(k in p.attributes)) p.attributes[k] = v;
    // Manual-segment memberships move to the primary (Customer.io's merge docs).
    for (const members of this.#members.values()) {
      const member = members.get(s.cio_id);
      if (!member) continue;
      members.delete(s.cio_id);
      if (!members.has(p.cio_id)) {
        members.set(p.cio_id, p.id !== undefined ? { idType: 'id', value: p.id } : member);
      }
    }
    this.people.delete(s.cio_id);
  }

  #storeEvent(
    rec: RecordedRequest,
    body: Record<string, unknown>,
    via: 'v1' | 'v2',
    who: { identifier?: FakeIdentifier; anonymousId?: string },
  ): void {
    const type = body['type'] === 'page' || body['type'] === 'screen' ? body['type'] : 'event';
    const event: FakeEvent = {
      type,
      name: String(body['name']).trim(),
      data: isRecord(body['data']) ? body['data'] : {},
      via,
      requestSeq: rec.seq,
      ...who,
    };
    if (typeof body['id'] === 'string' && body['id'] !== '') event.id = body['id'];
    if (body['timestamp'] !== undefined) event.timestamp = body['timestamp'];
    if (event.id !== undefined) {
      if (this.#eventIds.has(event.id)) {
        this.duplicateEvents.push(event);
        return;
      }
      this.#eventIds.add(event.id);
    }
    this.events.push(event);
  }

  #putDevice(ident: FakeIdentifier, token: string, device: Record<string, unknown>): void {
    const stored: FakeDevice = {
      token,
      platform: String(device['platform']),
      attributes: isRecord(device['attributes']) ? device['attributes'] : {},
      identifier: ident,
    };
    if (device['last_used'] !== undefined) stored.last_used = device['last_used'];
    this.devices.set(token, stored);
  }

  // ---- validation --------------------------------------------------------------------------------------

  #identifierProblem(value: string): string | undefined {
    if (value === '') return 'identifier cannot be empty';
    const bytes = Buffer.byteLength(value);
    if (bytes > this.limits.identifierBytes)
      return `identifier cannot be longer than ${this.limits.identifierBytes} bytes`;
    return undefined;
  }

  #attributesProblem(attributes: Record<string, unknown>): string | undefined {
    const names = Object.keys(attributes);
    if (names.length > this.limits.attributes)
      return `cannot set more than ${this.limits.attributes} attributes`;
    for (const name of names) {
      if (Buffer.byteLength(name) > this.limits.attributeNameBytes) {
        return `attribute name '${name.slice(0, 40)}' cannot be longer than ${this.limits.attributeNameBytes} bytes`;
      }
      const value = attributes[name];
      const bytes = Buffer.byteLength(typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));
      if (bytes > this.limits.attributeValueBytes) {
        return `value for attribute '${name}' cannot be longer than ${this.limits.attributeValueBytes} bytes`;
      }
    }
    return undefined;
  }

  #eventProblem(name: unknown, type: unknown, data: unknown): string | undefined {
    if (type !== undefined && type !== 'event' && type !== 'page' && type !== 'screen') {
      return `type must be one of event, page, screen`;
    }
    if (typeof name !== 'string' || name.trim() === '') return 'event name is required';
    if (Buffer.byteLength(name.trim()) > this.limits.eventNameBytes) {
      return `event name cannot be longer than ${this.limits.eventNameBytes} bytes`;
    }
    if (data !== undefined && data !== null) {
      if (!isRecord(data)) return 'event data must be an object';
      if (Buffer.byteLength(JSON.stringify(data)) > this.limits.eventDataBytes) {
        return `event data cannot be larger than ${this.limits.eventDataBytes} bytes`;
      }
    }
    return undefined;
  }

  #checkTimestamp(rec: RecordedRequest, field: string, value: unknown): void {
    if (value === undefined) return;
    const reason = timestampProblem(value);
    if (reason) this.timestampViolations.push({ requestSeq: rec.seq, path: rec.path, field, value, reason });
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

// ---- helpers -------------------------------------------------------------------------------------------

function initialCredentials(options: FakeCustomerIoOptions): FakeCredentials {
  return {
    siteId: options.siteId ?? 'site-id',
    trackApiKey: options.trackApiKey ?? 'track-key',
    appApiKey: options.appApiKey ?? 'app-key',
  };
}

function ok(): FakeResponse {
  return { status: 200, body: {} };
}

function v1Error(status: number, message: string): FakeResponse {
  return { status, body: { meta: { errors: [message] } } };
}

function v2Error(status: number, reason: string, field: string, message: string): FakeResponse {
  return { status, body: { errors: [{ reason, field, message }] } };
}

function appError(status: number, detail: string): FakeResponse {
  return { status, body: { errors: [{ detail, status: String(status) }] } };
}

function failResponse(spec: FailSpec): FakeResponse {
  const headers: Record<string, string> = { ...spec.headers };
  const ra = retryAfterHeader(spec.retryAfter);
  if (ra !== undefined) headers['retry-after'] = ra;
  const response: FakeResponse = { status: spec.status, headers };
  if (spec.body !== undefined) response.body = spec.body;
  return response;
}

function retryAfterHeader(value: number | Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) return value.toUTCString();
  return String(value);
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

/** Decoded path segments; `['', 'api', 'v1', …]`-style split minus the leading empty one. */
function splitPath(rawPath: string): string[] | undefined {
  try {
    return rawPath
      .split('/')
      .slice(1)
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

/** How the v1 API reads a path identifier: `cio_<id>`, something with `@` (email), else an id. */
function inferIdentifier(value: string): FakeIdentifier {
  if (value.startsWith('cio_')) return { type: 'cio_id', value: value.slice(4) };
  if (value.includes('@')) return { type: 'email', value };
  return { type: 'id', value };
}

/** Exactly one identifier (`id`, `email`, `cio_id`, optionally `phone`), or the reason why not. */
function singleIdentifier(value: unknown, allowPhone = false): FakeIdentifier | string {
  if (!isRecord(value)) return 'identifiers must be an object';
  const keys = Object.keys(value).filter((k) => value[k] !== undefined && value[k] !== null);
  const known = keys.filter(
    (k) => k === 'id' || k === 'email' || k === 'cio_id' || (allowPhone && k === 'phone'),
  );
  if (known.length !== keys.length)
    return `unknown identifier ${JSON.stringify(keys.find((k) => !known.includes(k)))}`;
  if (known.length === 0) return 'exactly one identifier is required, got none';
  if (known.length > 1) return `exactly one identifier is allowed, got ${known.join(', ')}`;
  const type = known[0] as FakeIdType | 'phone';
  const raw = value[type];
  if (typeof raw !== 'string' && typeof raw !== 'number') return `identifier ${type} must be a string`;
  return { type, value: String(raw) };
}

function suppressKey(ident: { type: string; value: string }): string {
  return `${ident.type}:${ident.type === 'email' ? ident.value.toLowerCase() : ident.value}`;
}

function relate(object: FakeObject, who: FakeObject['relationships'][number]): void {
  if (!object.relationships.some((r) => suppressKey(r) === suppressKey(who))) object.relationships.push(who);
}

function unrelate(object: FakeObject, who: { type: string; value: string }): void {
  object.relationships = object.relationships.filter((r) => suppressKey(r) !== suppressKey(who));
}

/** Keys that steer the identify call rather than being stored as attributes. */
function stripReserved(attributes: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attributes)) {
    if (k === '_update' || k === '_timestamp' || k === 'cio_relationships') continue;
    out[k] = v;
  }
  return out;
}

function problemField(problem: string): string {
  if (problem.startsWith('event data')) return 'attributes';
  if (problem.startsWith('type')) return 'type';
  return 'name';
}

function timestampProblem(value: unknown): TimestampViolation['reason'] | undefined {
  if (typeof value === 'string') return 'string';
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'not_a_number';
  if (!Number.isInteger(value)) return 'not_integer';
  if (value < 0) return 'negative';
  if (value >= MAX_UNIX_SECONDS) return 'milliseconds';
  return undefined;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
