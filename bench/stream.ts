/**
 * Stream-sync benchmark: latency from ingest's 200 to the event reaching (fake) Customer.io at low
 * load, and sustained throughput of one sync. Runs its own Temporal dev server, ingest, worker and
 * fake Customer.io, all on loopback, bounded in count and time.
 *
 *   node bench/stream.ts [--events 20000] [--latency-samples 40]
 *
 * Prints the figures and writes bench/reports/stream.json.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Client, Connection } from '@temporalio/client';

import { parseConfig } from '../src/config/load.ts';
import { applyConfig, streamStatus } from '../src/control/syncs.ts';
import { startIngest } from '../src/ingest/server.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { startDevServer } from '../src/temporal/dev-server.ts';
import { startWorker } from '../src/worker.ts';
import { startFakeCustomerIo } from '../test/fakes/customerio/index.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    'latency-samples': { type: 'string', default: '40' },
  },
});
const TOTAL = Number(values.events);
const SAMPLES = Number(values['latency-samples']);
const DEADLINE = Date.now() + 10 * 60_000;

const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const dir = await mkdtemp(join(tmpdir(), 'cio-bench-'));
const server = await startDevServer({ uiPort: false });
const fake = await startFakeCustomerIo({ siteId: 's', trackApiKey: 'k' });
const store = await openSqliteStore(join(dir, 'store.db'));
const config = parseConfig(`
sources: [{ id: bench, apiKey: "\${BENCH_KEY}" }]
destinations:
  - { id: cio, siteId: "\${CIO_SITE_ID}", trackApiKey: "\${CIO_TRACK_API_KEY}", trackUrl: "${fake.url}", appUrl: "${fake.url}", requestsPerSecond: 1000 }
syncs:
  - { id: bench-sync, type: stream, source: bench, destination: cio, events: { properties: { event: "*" } }, delivery: { maxRecords: 500 } }
`);
const ingest = await startIngest({
  config,
  store,
  host: '127.0.0.1',
  port: 0,
  env: { BENCH_KEY: 'bench-key' },
  logger: { level: 'silent' },
});
// The fake Customer.io is on loopback: the worker must allow it as an override host.
const worker = await startWorker({
  temporalAddress: server.address,
  taskQueue: 'bench',
  store,
  env: { CIO_SITE_ID: 's', CIO_TRACK_API_KEY: 'k', CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1' },
});
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });

async function post(events: object[]): Promise<void> {
  const res = await fetch(`${ingest.url}/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ api_key: 'bench-key', events }),
  });
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
}

const event = (i: number, user = `user-${i % 200}`) => ({
  user_id: user,
  event_type: 'Bench Event',
  insert_id: `bench-${i}`,
  time: Date.now(),
  event_properties: { i, plan: 'pro', note: 'x'.repeat(100) },
});

try {
  await applyConfig(client, config, { taskQueue: 'bench' });
  // Warm up: the first delivery includes workflow start.
  await post([event(-1)]);
  while (fake.events.length < 1) await new Promise((r) => setTimeout(r, 20));

  // --- latency at low load: one event every 150 ms ---
  const latencies: number[] = [];
  for (let i = 0; i < SAMPLES && Date.now() < DEADLINE; i++) {
    const marker = `lat-${i}`;
    await post([event(i, marker)]);
    const acked = Date.now();
    for (;;) {
      const hit = fake.events.find((e) => e.identifier?.value === marker);
      if (hit) {
        latencies.push(fake.requests[hit.requestSeq]!.receivedAt - acked);
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 150));
  }

  // --- throughput: TOTAL events ingested in requests of 500, delivered by one sync ---
  const before = fake.events.length;
  const requestsBefore = fake.requests.length;
  const started = Date.now();
  for (let i = 0; i < TOTAL; i += 500)
    await post(Array.from({ length: Math.min(500, TOTAL - i) }, (_, j) => event(1_000_000 + i + j)));
  const ingested = Date.now();
  while (fake.events.length - before < TOTAL && Date.now() < DEADLINE)
    await new Promise((r) => setTimeout(r, 20));
  const done = Date.now();
  const status = await streamStatus(client, 'bench-sync');
  const report = {
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    latency: {
      samples: latencies.length,
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      maxMs: Math.max(...latencies),
    },
    throughput: {
      events: TOTAL,
      delivered: fake.events.length - before,
      ingestSeconds: (ingested - started) / 1000,
      ingestEventsPerSecond: Math.round(TOTAL / ((ingested - started) / 1000)),
      endToEndSeconds: (done - started) / 1000,
      deliveredEventsPerSecond: Math.round(TOTAL / ((done - started) / 1000)),
      customerIoRequests: fake.requests.length - requestsBefore,
    },
    sync: {
      cursor: status.cursor,
      deadLettered: status.counters.deadLettered,
      retried: status.counters.retried,
    },
  };
  console.log(JSON.stringify(report, null, 2));
  await mkdir('bench/reports', { recursive: true });
  await writeFile('bench/reports/stream.json', `${JSON.stringify(report, null, 2)}\n`);
} finally {
  await client.workflow
    .getHandle('stream-sync/bench-sync')
    .terminate('benchmark done')
    .catch(() => {});
  await worker.shutdown();
  await connection.close();
  await ingest.close();
  await store.close();
  await fake.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
