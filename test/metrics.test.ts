import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';

import { parseConfig } from '../src/config/load.ts';
import { streamStatus } from '../src/control/syncs.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import { startIngest, type RunningIngest } from '../src/ingest/server.ts';
import { startWorker, type RunningWorker } from '../src/worker.ts';
import { eventually, startEngine, testConfig, uniqueId, type TestEngine } from './helpers/engine.ts';

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

function track(userId: string | undefined, event: string): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'segment',
    event_type: event,
    ...(userId !== undefined && { user_id: userId }),
    insert_id: `${userId}/${event}`,
    time: T0,
    event_properties: {},
    user_properties: {},
    context: {},
  };
}

async function scrape(url: string): Promise<string[]> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return (await response.text()).split('\n');
}

describe('worker metrics', () => {
  let engine: TestEngine;
  let worker: RunningWorker;
  beforeAll(async () => {
    engine = await startEngine();
    // The engine's worker has no metrics server; this one, on the same queue and store, has.
    await engine.worker.shutdown();
    worker = await startWorker({
      temporalAddress: inject('temporalAddress'),
      taskQueue: engine.taskQueue,
      store: engine.store,
      workflowBundlePath: inject('workflowBundlePath'),
      env: engine.env,
      metricsPort: 0,
    });
    engine.worker = worker;
  });
  afterAll(async () => {
    await engine?.close();
  });

  it('counts delivered, filtered and dead-lettered records, Customer.io answers, retries and lag', async () => {
    const source = uniqueId('src');
    const syncId = uniqueId('sync');
    await engine.apply(
      testConfig(
        engine.fake,
        `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    delivery: { waitFor: 1s, lanes: 1 }`,
        { sources: [source] },
      ),
    );
    engine.fake.script.failNext(1, { path: '/api/v2/batch', status: 429, retryAfter: 1 });
    const seqs = await engine.store.append(source, [
      track(uniqueId('u'), 'One'),
      track(uniqueId('u'), 'Two'),
      track(undefined, 'Nobody'), // no identifier: filtered
      track(`user-${'x'.repeat(160)}`, 'Too Long'), // over 150 bytes: dead-lettered
    ]);
    await eventually(async () => (await streamStatus(engine.client, syncId)).cursor === seqs.at(-1), 20_000);

    const lines = await scrape(worker.metricsUrl as string);
    const sync = `sync="${syncId}"`;
    const cio = 'destination="cio",api="track"';
    expect(lines).toEqual(
      expect.arrayContaining([
        `cio_sync_records_delivered_total{${sync}} 2`,
        `cio_sync_records_filtered_total{${sync},reason="no_identifier"} 1`,
        `cio_sync_records_dead_lettered_total{${sync},reason="identifier_too_long"} 1`,
        `cio_sync_deliveries_total{${sync},outcome="delivered"} 1`,
        `cio_sync_delivery_retries_total{${sync}} 1`,
        `cio_sync_stream_lag_records{${sync}} 0`,
        `cio_sync_customerio_responses_total{${cio},status="429",outcome="rate_limited"} 1`,
        `cio_sync_customerio_responses_total{${cio},status="200",outcome="ok"} 1`,
        `cio_sync_customerio_request_duration_seconds_count{${cio}} 2`,
        "# HELP cio_sync_stream_lag_records Records in a stream sync's source log past its cursor (head seq - cursor), as this worker's last delivery of it saw them.",
        '# TYPE cio_sync_customerio_request_duration_seconds histogram',
      ]),
    );
    // Node's process metrics carry the same prefix.
    expect(lines.some((l) => l.startsWith('cio_sync_process_cpu_seconds_total '))).toBe(true);
    // Only the answers above: one series per status.
    expect(lines.filter((l) => l.startsWith('cio_sync_customerio_responses_total{'))).toHaveLength(2);
  });

  it('answers /health while running and 404 elsewhere', async () => {
    const health = await fetch(`${worker.metricsUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${worker.metricsUrl}/nope`)).status).toBe(404);
  });
});

describe('ingest metrics', () => {
  let dir: string;
  let ingest: RunningIngest;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cio-sync-ingest-metrics-'));
    ingest = await startIngest({
      config: parseConfig('sources:\n  - id: web\n    apiKey: ${METRICS_WEB_KEY}\n'),
      storeUrl: `sqlite:${join(dir, 'store.db')}`,
      port: 0,
      env: { METRICS_WEB_KEY: 'metrics-web-key' },
    });
  });
  afterAll(async () => {
    await ingest?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown) =>
    fetch(`${ingest.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('counts records and requests by source and API, rejections by reason, and latency', async () => {
    const events = [
      { user_id: 'user-1', event_type: 'A' },
      { user_id: 'user-2', event_type: 'B' },
    ];
    expect((await post('/2/httpapi', { api_key: 'metrics-web-key', events })).status).toBe(200);
    expect(
      (
        await post('/v1/batch', {
          writeKey: 'metrics-web-key',
          batch: [{ type: 'track', userId: 'user-3', event: 'C', messageId: 'm-1' }],
        })
      ).status,
    ).toBe(200);
    const rejected = await post('/2/httpapi', { api_key: 'wrong-key', events });
    expect(rejected.status).toBeGreaterThanOrEqual(400);

    const lines = await scrape(ingest.url);
    expect(lines).toEqual(
      expect.arrayContaining([
        'cio_sync_ingest_records_total{source="web",api="amplitude"} 2',
        'cio_sync_ingest_records_total{source="web",api="segment"} 1',
        'cio_sync_ingest_requests_accepted_total{source="web",api="amplitude"} 1',
        'cio_sync_ingest_requests_accepted_total{source="web",api="segment"} 1',
        'cio_sync_ingest_requests_rejected_total{reason="invalid_api_key"} 1',
        'cio_sync_ingest_request_duration_seconds_count{api="amplitude",status="200"} 1',
        'cio_sync_ingest_request_duration_seconds_count{api="segment",status="200"} 1',
        `cio_sync_ingest_request_duration_seconds_count{api="amplitude",status="${rejected.status}"} 1`,
      ]),
    );
    expect(lines.some((l) => l.startsWith('cio_sync_process_resident_memory_bytes '))).toBe(true);
  });
});
