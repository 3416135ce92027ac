/**
 * Load generator for benchmarks, in its own process: posts Amplitude HTTP V2 batches the way the
 * SDKs do (JSON, `api_key`, events with `insert_id` and `time`) over a few keep-alive connections,
 * at full speed or at a set rate, for a bounded time. Each event carries `bench_t` (its send time)
 * so the Customer.io stand-in can time it. Prints one JSON line with what was acknowledged.
 *
 *   node bench/loadgen.ts --url http://127.0.0.1:8788 --key KEY [--rate 0] [--seconds 10]
 *     [--batch 500] [--connections 4] [--users 1000] [--prefix run1]
 */
import { parseArgs } from 'node:util';

import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    key: { type: 'string', default: 'bench-key' },
    rate: { type: 'string', default: '0' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '500' },
    connections: { type: 'string', default: '4' },
    users: { type: 'string', default: '1000' },
    prefix: { type: 'string', default: 'ev' },
  },
});
if (!values.url) throw new Error('--url is required');
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const BATCH = Number(values.batch);
const CONNECTIONS = Number(values.connections);
const USERS = Number(values.users);
const pool = new Pool(values.url, { connections: CONNECTIONS, pipelining: 1, keepAliveTimeout: 60_000 });

const latencies: number[] = [];
let acked = 0;
let failed = 0;
let requests = 0;
let n = 0;
const started = performance.now();
const end = started + SECONDS * 1000;

async function sender(): Promise<void> {
  // At a set rate each of the CONNECTIONS senders owns an equal share of it.
  const interval = RATE > 0 ? (1000 * BATCH * CONNECTIONS) / RATE : 0;
  let next = performance.now();
  while (performance.now() < end) {
    const t = Date.now();
    const events = Array.from({ length: BATCH }, () => {
      const i = n++;
      return {
        user_id: `user-${i % USERS}`,
        event_type: 'Bench',
        insert_id: `${values.prefix}-${i}`,
        time: t,
        event_properties: { bench_t: t, i },
      };
    });
    const body = JSON.stringify({ api_key: values.key, events });
    const began = performance.now();
    try {
      const res = await pool.request({
        path: '/2/httpapi',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      await res.body.text();
      requests++;
      if (res.statusCode === 200) {
        acked += events.length;
        latencies.push(performance.now() - began);
      } else {
        failed += events.length;
      }
    } catch {
      failed += events.length;
    }
    if (interval > 0) {
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
}

await Promise.all(Array.from({ length: CONNECTIONS }, () => sender()));
const seconds = (performance.now() - started) / 1000;
await pool.close();
const sorted = latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  Math.round((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0) * 10) / 10;
process.stdout.write(
  `${JSON.stringify({ acked, failed, requests, seconds, acksPerSecond: acked / seconds, ackMs: { p50: pct(0.5), p95: pct(0.95), p99: pct(0.99) } })}\n`,
);
