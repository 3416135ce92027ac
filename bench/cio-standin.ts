/**
 * A Customer.io Track API stand-in for benchmarks, in its own process: `POST /api/v2/batch`
 * answered after `--latency` ms, at most `--rps` requests a second (more get 429 with
 * Retry-After, as Customer.io's fair-use limit does). It counts requests, events, distinct event
 * ids and 429s, and keeps the arrival time of each event carrying a `bench_t` property (the load
 * generator's send time) for latency figures.
 *
 *   node bench/cio-standin.ts --port 0 [--latency 30] [--rps 100]
 *
 * Prints `standin listening at <url>`; `GET /stats` answers the counts, `POST /reset` clears them.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    latency: { type: 'string', default: '30' },
    rps: { type: 'string', default: '100' },
  },
});
const LATENCY_MS = Number(values.latency);
const RPS = Number(values.rps);

let stats = fresh();
function fresh() {
  return {
    requests: 0,
    accepted: 0,
    rejected429: 0,
    events: 0,
    ids: new Set<string>(),
    firstAt: 0,
    lastAt: 0,
    /** Milliseconds from `bench_t` to arrival, one per event that carries it. */
    latencies: [] as number[],
    /** Requests accepted per whole second since the first. */
    perSecond: new Map<number, number>(),
  };
}

// A sliding one-second window of accepted requests: the limit Customer.io applies per workspace.
const window: number[] = [];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/stats') {
      const { ids, latencies, perSecond, ...rest } = stats;
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          ...rest,
          distinctIds: ids.size,
          latencies,
          perSecond: Object.fromEntries(perSecond),
        }),
      );
      return;
    }
    if (req.method === 'POST' && req.url === '/reset') {
      stats = fresh();
      res.end('{}');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/api/v2/batch') {
      res.statusCode = 404;
      res.end('{"errors":[{"message":"not found"}]}');
      return;
    }
    const now = Date.now();
    stats.requests++;
    while (window.length > 0 && window[0]! <= now - 1000) window.shift();
    if (window.length >= RPS) {
      stats.rejected429++;
      res.statusCode = 429;
      res.setHeader('retry-after', '1');
      res.end('{"errors":[{"message":"rate limited"}]}');
      return;
    }
    window.push(now);
    let body: { batch?: Array<{ id?: string; action?: string; attributes?: { bench_t?: number } }> };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.statusCode = 400;
      res.end('{"errors":[{"message":"bad json"}]}');
      return;
    }
    setTimeout(() => {
      const at = Date.now();
      stats.accepted++;
      if (stats.firstAt === 0) stats.firstAt = at;
      stats.lastAt = at;
      const second = Math.floor((at - stats.firstAt) / 1000);
      stats.perSecond.set(second, (stats.perSecond.get(second) ?? 0) + 1);
      for (const op of body.batch ?? []) {
        if (op.action !== 'event') continue;
        stats.events++;
        if (op.id) stats.ids.add(op.id);
        const t = op.attributes?.bench_t;
        if (typeof t === 'number') stats.latencies.push(at - t);
      }
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    }, LATENCY_MS);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`standin listening at http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
