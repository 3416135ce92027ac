import { gzipSync } from 'node:zlib';

import { createInstance, Identify } from '@amplitude/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startHarness, WEB_KEY, type Harness } from './harness.ts';

/**
 * The official Node SDK against the ingest server: the result codes it reports and the records the
 * store holds afterwards.
 */

const NONE = 0; // LogLevel.None: keep the SDK's retry warnings out of the test output.
const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ listen: true });
});

afterAll(async () => {
  await h.close();
});

async function client(path: string, apiKey = WEB_KEY, options: Record<string, unknown> = {}) {
  const amplitude = createInstance();
  await amplitude.init(apiKey, {
    serverUrl: `${h.url}${path}`,
    flushIntervalMillis: 20,
    flushQueueSize: 10,
    flushMaxRetries: 3,
    logLevel: NONE,
    ...options,
  }).promise;
  return amplitude;
}

const amplitudeContext = {
  library: expect.stringMatching(/^amplitude-node-ts\//),
  event_id: expect.any(Number),
};

describe('@amplitude/analytics-node → /2/httpapi', () => {
  it('track and identify: the SDK reports 200 and the store holds the exact records', async () => {
    const before = (await h.records()).length;
    const amplitude = await client('/2/httpapi');
    const tracked = amplitude.track(
      'Signed Up',
      { plan: 'pro', seats: 3 },
      {
        user_id: 'user-0001',
        device_id: 'device-0001',
        time: T0,
        insert_id: 'ins-track-1',
        platform: 'Node',
      },
    );
    const identify = new Identify().set('email', 'ada@example.com').setOnce('first_plan', 'free');
    const identified = amplitude.identify(identify, {
      user_id: 'user-0001',
      time: T0 + 1,
      insert_id: 'ins-identify-1',
    });
    await amplitude.flush().promise;
    const results = await Promise.all([tracked.promise, identified.promise]);
    expect(results.map((r) => r.code)).toEqual([200, 200]);

    expect((await h.records()).slice(before)).toEqual([
      {
        kind: 'track',
        origin: 'amplitude',
        event_type: 'Signed Up',
        insert_id: 'ins-track-1',
        user_id: 'user-0001',
        anonymous_id: 'device-0001',
        time: T0,
        client_time: T0,
        event_properties: { plan: 'pro', seats: 3 },
        user_properties: {},
        context: { ...amplitudeContext, platform: 'Node' },
      },
      {
        kind: 'identify',
        origin: 'amplitude',
        event_type: '$identify',
        insert_id: 'ins-identify-1',
        user_id: 'user-0001',
        time: T0 + 1,
        client_time: T0 + 1,
        event_properties: {},
        user_properties: { $set: { email: 'ada@example.com' }, $setOnce: { first_plan: 'free' } },
        context: amplitudeContext,
      },
    ]);
  });

  it('an invalid event fails alone: the SDK drops it, resends the others, and each is stored once', async () => {
    const before = (await h.records()).length;
    const rejectedBefore = h.counters.requestsRejected.invalid_events ?? 0;
    const amplitude = await client('/2/httpapi');
    // No explicit flush(): that path sends without retry. The scheduled flush is what retries.
    const first = amplitude.track('First', {}, { user_id: 'user-0002', time: T0, insert_id: 'ins-a' });
    const bad = amplitude.track('Bad', {}, { user_id: 'anonymous', time: T0, insert_id: 'ins-b' });
    const third = amplitude.track('Third', {}, { user_id: 'user-0002', time: T0, insert_id: 'ins-c' });
    const results = await Promise.all([first.promise, bad.promise, third.promise]);

    expect(results.map((r) => [r.event.insert_id, r.code])).toEqual([
      ['ins-a', 200],
      ['ins-b', 400],
      ['ins-c', 200],
    ]);
    expect(results[1]!.message).toBe('Invalid field values on some events');
    expect(h.counters.requestsRejected.invalid_events).toBe(rejectedBefore + 1);
    const stored = (await h.records()).slice(before);
    expect(stored.map((r) => [r.event_type, r.insert_id])).toEqual([
      ['First', 'ins-a'],
      ['Third', 'ins-c'],
    ]);
  });

  it('a wrong api key: the SDK reports 400 and nothing is stored', async () => {
    const before = (await h.records()).length;
    const amplitude = await client('/2/httpapi', 'not-a-configured-key');
    const tracked = amplitude.track('Signed Up', {}, { user_id: 'user-0003' });
    await amplitude.flush().promise;
    const result = await tracked.promise;
    expect(result.code).toBe(400);
    expect(result.message).toContain('Invalid API key');
    expect(await h.records()).toHaveLength(before);
  });
});

describe('/batch', () => {
  it('useBatch: the SDK uploads to /batch and the event is stored', async () => {
    const before = (await h.records()).length;
    const amplitude = await client('/batch', WEB_KEY, { useBatch: true });
    const tracked = amplitude.track(
      'Batched',
      { n: 1 },
      { device_id: 'device-0004', time: T0, insert_id: 'ins-batch-1' },
    );
    await amplitude.flush().promise;
    expect((await tracked.promise).code).toBe(200);
    expect((await h.records()).slice(before)).toEqual([
      {
        kind: 'track',
        origin: 'amplitude',
        event_type: 'Batched',
        insert_id: 'ins-batch-1',
        anonymous_id: 'device-0004',
        time: T0,
        client_time: T0,
        event_properties: { n: 1 },
        user_properties: {},
        context: amplitudeContext,
      },
    ]);
  });

  it('a gzip body (as the browser SDK sends it) is decompressed and stored', async () => {
    const before = (await h.records()).length;
    const events = [
      {
        event_type: '[Amplitude] Page Viewed',
        device_id: 'device-0005',
        time: T0,
        insert_id: 'ins-gz-1',
        platform: 'Web',
      },
      { event_type: 'Clicked', user_id: 'user-0005', time: T0 + 5, insert_id: 'ins-gz-2' },
    ];
    const json = JSON.stringify({ api_key: WEB_KEY, events, client_upload_time: new Date(T0).toISOString() });
    const response = await fetch(`${h.url}/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(json),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(200);
    expect(body).toEqual({
      code: 200,
      events_ingested: 2,
      payload_size_bytes: Buffer.byteLength(json),
      server_upload_time: expect.any(Number),
    });
    expect((await h.records()).slice(before)).toEqual([
      {
        kind: 'track',
        origin: 'amplitude',
        event_type: '[Amplitude] Page Viewed',
        insert_id: 'ins-gz-1',
        anonymous_id: 'device-0005',
        time: T0,
        client_time: T0,
        event_properties: {},
        user_properties: {},
        context: { platform: 'Web' },
      },
      {
        kind: 'track',
        origin: 'amplitude',
        event_type: 'Clicked',
        insert_id: 'ins-gz-2',
        user_id: 'user-0005',
        time: T0 + 5,
        client_time: T0 + 5,
        event_properties: {},
        user_properties: {},
        context: {},
      },
    ]);
  });
});
