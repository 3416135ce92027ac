/**
 * Load generator for benchmarks, in its own process: posts Amplitude HTTP V2 batches the way the
 * SDKs do (JSON, `api_key`, events with `insert_id` and `time`) over a few keep-alive connections,
 * at full speed or at a set rate, for a bounded time. Each event carries `bench_t` (its send time)
 * so the Customer.io stand-in can time it. Prints one JSON line with what was acknowledged.
 *
 *   node bench/loadgen.ts --url http://127.0.0.1:8788 --key KEY [--rate 0] [--seconds 10]
 *     [--batch 500] [--connections 4] [--users 1000] [--prefix run1]
 *     [--route sdk|amplitude-webhook|segment-webhook --source ID --secret S]
 *
 * `--route` picks what is posted (default `sdk`, the above): `amplitude-webhook` posts what
 * Amplitude's Webhook destination sends to /webhooks/amplitude/<source> (one export-format event
 * per request with `--batch 1`, else an array; the secret in X-Webhook-Secret), `segment-webhook`
 * what Segment's Webhooks (Actions) sends to /webhooks/segment/<source> (a batch array signed in
 * X-Signature over its first payload; `--batch 1`, one message signed whole). Every event has an
 * insert id / messageId of its own (`<prefix>-<n>`).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { Pool } from 'undici';

import { exportEvent, exportTime } from '../test/fakes/amplitude-export-format.ts';

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
    route: { type: 'string', default: 'sdk' },
    source: { type: 'string', default: 'bench' },
    secret: { type: 'string', default: 'bench-secret' },
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

/** One request: where it goes, its headers and body, and how many events it carries. */
interface Post {
  path: string;
  headers: Record<string, string>;
  body: string;
  events: number;
}

/** An export-format row (as the Webhook destination sends it), all 55 columns; times and ids vary. */
const EXPORT_TEMPLATE = exportEvent({
  event_type: 'Bench',
  platform: 'Web',
  os_name: 'Chrome',
  os_version: '126',
  device_type: 'Mac',
  country: 'United States',
  region: 'California',
  city: 'San Francisco',
  language: 'English',
  ip_address: '203.0.113.7',
  library: 'amplitude-ts/2.11.0',
  user_properties: { plan: 'pro', initial_referrer: 'https://www.google.com/' },
});

function amplitudeRow(i: number, t: number): Record<string, unknown> {
  const time = exportTime(t);
  return {
    ...EXPORT_TEMPLATE,
    $insert_id: `${values.prefix}-${i}`,
    client_event_time: time,
    client_upload_time: time,
    event_id: i,
    event_properties: { bench_t: t, i, plan: 'pro' },
    event_time: time,
    processed_time: time,
    server_received_time: time,
    server_upload_time: time,
    user_id: `user-${i % USERS}`,
    uuid: randomUUID(),
  };
}

/** A Segment track call as the Webhooks destinations deliver it (after Segment's own processing). */
function segmentMessage(i: number, t: number): Record<string, unknown> {
  const iso = new Date(t).toISOString();
  return {
    type: 'track',
    event: 'Bench',
    userId: `user-${i % USERS}`,
    anonymousId: `anon-${i % USERS}`,
    messageId: `${values.prefix}-${i}`,
    properties: { bench_t: t, i, plan: 'pro' },
    context: {
      library: { name: 'analytics.js', version: 'npm:next-1.70.0' },
      ip: '203.0.113.7',
      locale: 'en-US',
      page: { path: '/pricing', title: 'Pricing', url: 'https://example.com/pricing' },
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/126.0',
    },
    integrations: {},
    channel: 'client',
    originalTimestamp: iso,
    sentAt: iso,
    receivedAt: iso,
    timestamp: iso,
    version: 2,
  };
}

const posts: Record<string, (t: number) => Post> = {
  sdk(t) {
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
    return { path: '/2/httpapi', headers: { 'content-type': 'application/json' }, body, events: BATCH };
  },
  'amplitude-webhook'(t) {
    const rows = Array.from({ length: BATCH }, () => amplitudeRow(n++, t));
    return {
      path: `/webhooks/amplitude/${values.source}`,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Amplitude/Webhook/1.0',
        'x-webhook-secret': values.secret,
      },
      body: JSON.stringify(BATCH === 1 ? rows[0] : rows),
      events: BATCH,
    };
  },
  'segment-webhook'(t) {
    const messages = Array.from({ length: BATCH }, () => segmentMessage(n++, t));
    const body = JSON.stringify(BATCH === 1 ? messages[0] : messages);
    // Segment signs a batch's first payload as JSON.stringify gives it: the array's first element.
    const signed = BATCH === 1 ? body : JSON.stringify(messages[0]);
    return {
      path: `/webhooks/segment/${values.source}`,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Segment.io/1.0',
        'x-signature': createHmac('sha1', values.secret).update(signed).digest('hex'),
      },
      body,
      events: BATCH,
    };
  },
};
const post = posts[values.route];
if (!post) throw new Error(`--route: one of ${Object.keys(posts).join(', ')}`);

/** Answers other than 200, by status (0: no answer at all). */
const errors: Record<string, number> = {};
let duplicates = 0;
let bodyBytes = 0;

async function sender(): Promise<void> {
  // At a set rate each of the CONNECTIONS senders owns an equal share of it.
  const interval = RATE > 0 ? (1000 * BATCH * CONNECTIONS) / RATE : 0;
  let next = performance.now();
  while (performance.now() < end) {
    const request = post!(Date.now());
    bodyBytes += request.body.length;
    const began = performance.now();
    try {
      const { path, headers, body } = request;
      const res = await pool.request({ path, method: 'POST', headers, body });
      const text = await res.body.text();
      requests++;
      if (res.statusCode === 200) {
        acked += request.events;
        latencies.push(performance.now() - began);
        // The webhook routes say how many of the request's records the log held already.
        if (text.includes('"duplicates"')) duplicates += Number(JSON.parse(text).duplicates) || 0;
      } else {
        failed += request.events;
        errors[res.statusCode] = (errors[res.statusCode] ?? 0) + 1;
      }
    } catch {
      failed += request.events;
      errors[0] = (errors[0] ?? 0) + 1;
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
  `${JSON.stringify({
    acked,
    failed,
    requests,
    errors,
    duplicates,
    seconds,
    acksPerSecond: acked / seconds,
    requestsPerSecond: requests / seconds,
    meanBodyBytes: Math.round(bodyBytes / Math.max(1, requests)),
    ackMs: { p50: pct(0.5), p95: pct(0.95), p99: pct(0.99) },
  })}\n`,
);
