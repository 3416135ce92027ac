/**
 * A Customer.io stand-in for benchmarks, in its own process. Every accepted request is answered after
 * `--latency` ms; the Track API takes at most `--rps` requests a second and the App API `--app-rps`
 * (more get 429 with Retry-After, as Customer.io's limits do). It serves what the engine sends:
 *
 *   - Track `POST /api/v2/batch` (stream delivery): counts events, distinct event ids, and keeps the
 *     arrival time of each event carrying a `bench_t` property (the load generator's send time);
 *   - Track `POST /api/v1/segments/{id}/add_customers|remove_customers?id_type=` (cohort sync): 1 to
 *     1000 ids a call, else 400; unknown segment 404; keeps each segment's members (every id counts as
 *     a known person: the stand-in keeps no people);
 *   - App `GET /v1/segments`, `POST /v1/segments` (an empty manual segment) and
 *     `GET /v1/segments/{id}/customer_count`.
 *
 *   node bench/cio-standin.ts --port 0 [--latency 30] [--rps 100] [--app-rps 10]
 *
 * Prints `standin listening at <url>`; `GET /stats` answers the counts, `POST /reset` clears them
 * (segments keep their members).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';

import {
  APP_API_REQUESTS_PER_SECOND,
  DEFAULT_TRACK_REQUESTS_PER_SECOND,
  MAX_SEGMENT_IDS_PER_CALL,
} from '../src/customerio/limits.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    latency: { type: 'string', default: '30' },
    rps: { type: 'string', default: String(DEFAULT_TRACK_REQUESTS_PER_SECOND) },
    'app-rps': { type: 'string', default: String(APP_API_REQUESTS_PER_SECOND) },
  },
});
const LATENCY_MS = Number(values.latency);
const RPS = Number(values.rps);
const APP_RPS = Number(values['app-rps']);

interface Segment {
  id: number;
  name: string;
  description: string;
  members: Set<string>;
  addRequests: number;
  removeRequests: number;
  idsAdded: number;
  idsRemoved: number;
}

let stats = fresh();
function fresh() {
  return {
    /** Track API requests, accepted or not. */
    requests: 0,
    accepted: 0,
    rejected429: 0,
    events: 0,
    ids: new Set<string>(),
    /** Arrival (answer) time of the first and last accepted Track request. */
    firstAt: 0,
    lastAt: 0,
    /** Milliseconds from `bench_t` to arrival, one per event that carries it. */
    latencies: [] as number[],
    /** Track requests accepted per whole second since the first. */
    perSecond: new Map<number, number>(),
    app: { requests: 0, accepted: 0, rejected429: 0 },
    /** Most Track requests in flight at once (accepted, not yet answered). */
    maxInFlight: 0,
  };
}
const segments = new Map<number, Segment>();
let nextSegmentId = 1;
let inFlight = 0;

/** A sliding one-second window of accepted requests per API: the limit Customer.io applies per workspace. */
const windows = { track: [] as number[], app: [] as number[] };
function overLimit(api: 'track' | 'app', now: number): boolean {
  const window = windows[api];
  while (window.length > 0 && window[0]! <= now - 1000) window.shift();
  if (window.length >= (api === 'track' ? RPS : APP_RPS)) return true;
  window.push(now);
  return false;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

function parse(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function segmentJson(s: Segment) {
  return { id: s.id, name: s.name, description: s.description, type: 'manual', state: 'finished' };
}

/** A Track request, after the limit: the answer, or undefined for a 404. */
function track(req: IncomingMessage, path: string, query: URLSearchParams, raw: Buffer) {
  if (req.method === 'POST' && path === '/api/v2/batch') {
    const body = parse(raw) as
      { batch?: Array<{ id?: string; action?: string; attributes?: { bench_t?: number } }> } | undefined;
    if (body === undefined) return { status: 400, body: { errors: [{ message: 'bad json' }] } };
    return {
      status: 200,
      body: {},
      apply(at: number) {
        for (const op of body.batch ?? []) {
          if (op.action !== 'event') continue;
          stats.events++;
          if (op.id) stats.ids.add(op.id);
          const t = op.attributes?.bench_t;
          if (typeof t === 'number') stats.latencies.push(at - t);
        }
      },
    };
  }
  const m = /^\/api\/v1\/segments\/(\d+)\/(add_customers|remove_customers)$/.exec(path);
  if (req.method === 'POST' && m) {
    const idType = query.get('id_type') ?? 'id';
    if (!['id', 'email', 'cio_id'].includes(idType))
      return { status: 400, body: { meta: { errors: ['id_type must be one of id, email, cio_id'] } } };
    const ids = (parse(raw) as { ids?: unknown } | undefined)?.ids;
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_SEGMENT_IDS_PER_CALL)
      return {
        status: 400,
        body: { meta: { errors: [`ids must hold 1 to ${MAX_SEGMENT_IDS_PER_CALL} ids`] } },
      };
    const segment = segments.get(Number(m[1]));
    if (!segment) return { status: 404, body: { meta: { errors: [`segment ${m[1]} not found`] } } };
    const add = m[2] === 'add_customers';
    return {
      status: 200,
      body: {},
      apply() {
        if (add) segment.addRequests++;
        else segment.removeRequests++;
        for (const id of ids as string[]) {
          if (add) segment.members.add(`${idType}:${id}`);
          else segment.members.delete(`${idType}:${id}`);
        }
        if (add) segment.idsAdded += ids.length;
        else segment.idsRemoved += ids.length;
      },
    };
  }
  return undefined;
}

/** An App request, after the limit: the answer, or undefined for a 404. */
function app(req: IncomingMessage, path: string, raw: Buffer) {
  if (path === '/v1/segments' && req.method === 'GET')
    return { status: 200, body: { segments: [...segments.values()].map(segmentJson) } };
  if (path === '/v1/segments' && req.method === 'POST') {
    const input = (parse(raw) as { segment?: { name?: unknown; description?: unknown } } | undefined)
      ?.segment;
    if (typeof input?.name !== 'string' || input.name === '')
      return { status: 400, body: { errors: [{ detail: 'segment name is required', status: '400' }] } };
    const segment: Segment = {
      id: nextSegmentId++,
      name: input.name,
      description: typeof input.description === 'string' ? input.description : '',
      members: new Set(),
      addRequests: 0,
      removeRequests: 0,
      idsAdded: 0,
      idsRemoved: 0,
    };
    segments.set(segment.id, segment);
    return { status: 200, body: { segment: segmentJson(segment) } };
  }
  const m = /^\/v1\/segments\/(\d+)\/customer_count$/.exec(path);
  if (m && req.method === 'GET') {
    const segment = segments.get(Number(m[1]));
    if (!segment) return { status: 404, body: { errors: [{ detail: 'segment not found', status: '404' }] } };
    return { status: 200, body: { segment_id: segment.id, count: segment.members.size } };
  }
  return undefined;
}

function statsJson() {
  const { ids, latencies, perSecond, ...rest } = stats;
  return {
    ...rest,
    distinctIds: ids.size,
    latencies,
    perSecond: Object.fromEntries(perSecond),
    segments: [...segments.values()].map(({ members, ...s }) => ({ ...s, members: members.size })),
  };
}

const server = createServer((req, res) => {
  // Counted when the request arrives, as a limiter at Customer.io's edge would, not after this
  // process has read and parsed the body (which, on a busy machine, bunches arrivals together).
  const arrivedAt = Date.now();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/stats') return send(res, 200, statsJson());
    if (req.method === 'POST' && path === '/reset') {
      // Counts only: segments keep their members, as Customer.io would between two runs.
      stats = fresh();
      for (const s of segments.values())
        Object.assign(s, { addRequests: 0, removeRequests: 0, idsAdded: 0, idsRemoved: 0 });
      return send(res, 200, {});
    }
    const api = path.startsWith('/api/') ? 'track' : path.startsWith('/v1/') ? 'app' : undefined;
    if (api === undefined) return send(res, 404, { errors: [{ message: 'not found' }] });
    const auth = req.headers.authorization ?? '';
    if (!(api === 'track' ? /^Basic \S+$/ : /^Bearer \S+$/).test(auth)) {
      res.statusCode = 401;
      return res.end('Unauthorized request');
    }
    const raw = Buffer.concat(chunks);
    const answer = api === 'track' ? track(req, path, url.searchParams, raw) : app(req, path, raw);
    if (answer === undefined) return send(res, 404, { errors: [{ message: `no route for ${path}` }] });
    const counts = api === 'track' ? stats : stats.app;
    counts.requests++;
    if (overLimit(api, arrivedAt)) {
      counts.rejected429++;
      res.setHeader('retry-after', '1');
      const body = api === 'track' ? { meta: { errors: ['rate limited'] } } : { errors: [{ status: '429' }] };
      return send(res, 429, body);
    }
    if (api === 'track') stats.maxInFlight = Math.max(stats.maxInFlight, ++inFlight);
    setTimeout(() => {
      const at = Date.now();
      counts.accepted++;
      if (api === 'track') {
        inFlight--;
        if (stats.firstAt === 0) stats.firstAt = at;
        stats.lastAt = at;
        const second = Math.floor((at - stats.firstAt) / 1000);
        stats.perSecond.set(second, (stats.perSecond.get(second) ?? 0) + 1);
      }
      if (answer.status === 200 && 'apply' in answer) answer.apply?.(at);
      send(res, answer.status, answer.body);
    }, LATENCY_MS);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`standin listening at http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
