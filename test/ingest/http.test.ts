import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';

import type { InjectOptions } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { writeKeyOf } from '../../src/ingest/segment-routes.ts';
import { failingStore, MOBILE_KEY, startHarness, WEB_KEY, type Harness } from './harness.ts';

/** Hand-written requests for what the official SDKs do not exercise, all in-process (inject). */

const NOW = Date.parse('2026-02-01T00:00:00.000Z');
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ now: () => NOW });
});

afterAll(async () => {
  await h.close();
});

async function send(options: InjectOptions) {
  const response = await h.app.inject(options);
  const type = String(response.headers['content-type'] ?? '');
  return {
    status: response.statusCode,
    body: type.startsWith('application/json') ? response.json() : response.body,
  };
}

/** Runs a request and returns what it added to the web source's log. */
async function added(request: () => Promise<unknown>, sourceId = 'web') {
  const before = (await h.records(sourceId)).length;
  await request();
  return (await h.records(sourceId)).slice(before);
}

describe('Segment: browser one-letter paths and write keys', () => {
  it('/v1/t and /v1/p with text/plain bodies and writeKey in the body', async () => {
    let responses: unknown[] = [];
    const records = await added(async () => {
      responses = await Promise.all(
        [
          {
            url: '/v1/t',
            body: {
              type: 'track',
              event: 'Clicked',
              anonymousId: 'anon-7',
              properties: { button: 'buy' },
              messageId: 'ajs-1',
              timestamp: '2026-01-31T23:59:50.000Z',
              sentAt: '2026-01-31T23:59:59.000Z',
              writeKey: WEB_KEY,
              context: { page: { path: '/' } },
            },
          },
          {
            url: '/v1/p',
            body: {
              type: 'page',
              name: 'Home',
              anonymousId: 'anon-7',
              messageId: 'ajs-2',
              writeKey: WEB_KEY,
            },
          },
        ].map(({ url, body }) =>
          send({
            method: 'POST',
            url,
            headers: { 'content-type': 'text/plain' },
            payload: JSON.stringify(body),
          }),
        ),
      );
    });
    expect(responses).toEqual([
      { status: 200, body: { success: true } },
      { status: 200, body: { success: true } },
    ]);
    expect(records).toEqual([
      {
        kind: 'track',
        origin: 'segment',
        insert_id: 'ajs-1',
        client_time: Date.parse('2026-01-31T23:59:50.000Z'),
        event_type: 'Clicked',
        anonymous_id: 'anon-7',
        // The client clock is 1 s behind the receive clock: timestamp + (receivedAt − sentAt).
        time: NOW - 9_000,
        event_properties: { button: 'buy' },
        user_properties: {},
        context: { page: { path: '/' } },
      },
      {
        kind: 'page',
        origin: 'segment',
        insert_id: 'ajs-2',
        name: 'Home',
        anonymous_id: 'anon-7',
        time: NOW,
        event_properties: {},
        user_properties: {},
        context: {},
      },
    ]);
  });

  it('/v1/b: envelope context merged into every item; the Basic key picks the source', async () => {
    const records = await added(async () => {
      const response = await send({
        method: 'POST',
        url: '/v1/b',
        headers: { 'content-type': 'text/plain', authorization: basic(MOBILE_KEY) },
        payload: JSON.stringify({
          batch: [
            { type: 'identify', userId: 'user-9', traits: { email: 'x@example.com' }, messageId: 'b-1' },
            {
              type: 'screen',
              userId: 'user-9',
              name: 'Settings',
              messageId: 'b-2',
              context: { screen: { width: 3 } },
            },
          ],
          context: { app: { version: '2.0' } },
        }),
      });
      expect(response).toEqual({ status: 200, body: { success: true } });
    }, 'mobile');
    expect(records.map((r) => [r.kind, r.insert_id, r.context])).toEqual([
      ['identify', 'b-1', { app: { version: '2.0' } }],
      ['screen', 'b-2', { app: { version: '2.0' }, screen: { width: 3 } }],
    ]);
  });

  it.each([
    ['Basic with the colon', basic('k1'), undefined, 'k1'],
    ['Basic without the colon', `Basic ${Buffer.from('k2').toString('base64')}`, undefined, 'k2'],
    ['the body when there is no header', undefined, { writeKey: 'k3' }, 'k3'],
    ['the header over the body', basic('k4'), { writeKey: 'k5' }, 'k4'],
    ['none', 'Bearer token', {}, undefined],
  ])('writeKeyOf: %s', (_name, header, body, key) => {
    expect(writeKeyOf(header, body)).toBe(key);
  });

  it('a missing or unknown write key is 401 with a JSON error, and nothing is stored', async () => {
    const track = { type: 'track', event: 'E', userId: 'user-1' };
    const records = await added(async () => {
      expect(await send({ method: 'POST', url: '/v1/track', payload: track })).toEqual({
        status: 401,
        body: {
          success: false,
          reason: 'missing_api_key',
          error: 'no write key: send Authorization: Basic base64(writeKey:) or writeKey',
        },
      });
      expect(
        await send({
          method: 'POST',
          url: '/v1/track',
          headers: { authorization: basic('wrong') },
          payload: track,
        }),
      ).toEqual({
        status: 401,
        body: { success: false, reason: 'invalid_api_key', error: 'Invalid write key' },
      });
    });
    expect(records).toEqual([]);
  });
});

describe('Segment: rejections', () => {
  const headers = { authorization: basic(WEB_KEY), 'content-type': 'application/json' };

  it('an item without userId/anonymousId rejects the whole batch with 400 naming it', async () => {
    const records = await added(async () => {
      const response = await send({
        method: 'POST',
        url: '/v1/batch',
        headers,
        payload: {
          batch: [
            { type: 'track', event: 'Fine', userId: 'user-1' },
            { type: 'track', event: 'Orphan' },
          ],
        },
      });
      expect(response).toEqual({
        status: 400,
        body: {
          success: false,
          reason: 'invalid_events',
          error: 'batch item 1: userId: userId or anonymousId is required',
          errors: [{ index: 1, field: 'userId', message: 'userId or anonymousId is required' }],
        },
      });
    });
    expect(records).toEqual([]);
  });

  it('invalid JSON is 400', async () => {
    expect(await send({ method: 'POST', url: '/v1/track', headers, payload: '{"type":' })).toEqual({
      status: 400,
      body: { success: false, reason: 'invalid_json', error: 'request body is not valid JSON' },
    });
  });

  it('32 KB per call, 32 KB per batch item and 500 KB per batch are 400s', async () => {
    const big = (bytes: number) => ({
      type: 'track',
      event: 'Big',
      userId: 'user-1',
      properties: { pad: 'x'.repeat(bytes) },
    });
    const records = await added(async () => {
      const call = await send({ method: 'POST', url: '/v1/track', headers, payload: big(33 * 1024) });
      expect(call).toEqual({
        status: 400,
        body: { success: false, reason: 'payload_too_large', error: 'request body is over the size limit' },
      });

      const item = await send({
        method: 'POST',
        url: '/v1/batch',
        headers,
        payload: { batch: [big(10), big(33 * 1024)] },
      });
      expect(item.status).toBe(400);
      expect(item.body).toMatchObject({
        reason: 'payload_too_large',
        errors: [{ index: 1, field: 'item', message: expect.stringMatching(/over the 32768 byte limit$/) }],
      });

      const batch = await send({
        method: 'POST',
        url: '/v1/batch',
        headers,
        payload: { batch: Array.from({ length: 17 }, () => big(31 * 1024)) },
      });
      expect(batch).toEqual({
        status: 400,
        body: { success: false, reason: 'payload_too_large', error: 'request body is over the size limit' },
      });
    });
    expect(records).toEqual([]);
  });
});

describe('Amplitude Identify and Group Identify APIs', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  it('form-encoded /identify answers the plain text "success"', async () => {
    const identification = JSON.stringify([
      { user_id: 'user-1', user_properties: { $set: { plan: 'pro' } }, platform: 'iOS' },
      { device_id: 'device-0001', user_properties: { $setOnce: { source: 'ad' } } },
    ]);
    let response: unknown;
    const records = await added(async () => {
      response = await send({
        method: 'POST',
        url: '/identify',
        headers: form,
        payload: new URLSearchParams({ api_key: WEB_KEY, identification }).toString(),
      });
    });
    expect(response).toEqual({ status: 200, body: 'success' });
    expect(records).toEqual([
      {
        kind: 'identify',
        origin: 'amplitude',
        event_type: '$identify',
        user_id: 'user-1',
        time: NOW,
        event_properties: {},
        user_properties: { $set: { plan: 'pro' } },
        context: { platform: 'iOS' },
      },
      {
        kind: 'identify',
        origin: 'amplitude',
        event_type: '$identify',
        anonymous_id: 'device-0001',
        time: NOW,
        event_properties: {},
        user_properties: { $setOnce: { source: 'ad' } },
        context: {},
      },
    ]);
  });

  it('GET /identify with query parameters, and multipart form-data', async () => {
    const records = await added(async () => {
      const query = new URLSearchParams({ api_key: WEB_KEY, identification: '{"user_id":"user-2"}' });
      expect(await send({ method: 'GET', url: `/identify?${query}` })).toEqual({
        status: 200,
        body: 'success',
      });

      const multipart = new FormData();
      multipart.set('api_key', WEB_KEY);
      multipart.set('identification', '{"user_id":"user-3"}');
      const request = new Request('http://x/', { method: 'POST', body: multipart });
      const payload = Buffer.from(await request.arrayBuffer());
      const headers = { 'content-type': request.headers.get('content-type')! };
      expect(await send({ method: 'POST', url: '/identify', headers, payload })).toEqual({
        status: 200,
        body: 'success',
      });
    });
    expect(records.map((r) => r.user_id)).toEqual(['user-2', 'user-3']);
  });

  it('/groupidentify stores the group properties', async () => {
    const identification = JSON.stringify({
      group_type: 'org',
      group_value: 'Acme',
      group_properties: { $set: { seats: 3 } },
    });
    const records = await added(async () => {
      const payload = new URLSearchParams({ api_key: WEB_KEY, identification }).toString();
      expect(await send({ method: 'POST', url: '/groupidentify', headers: form, payload })).toEqual({
        status: 200,
        body: 'success',
      });
    });
    expect(records).toEqual([
      {
        kind: 'group_identify',
        origin: 'amplitude',
        event_type: '$groupidentify',
        time: NOW,
        event_properties: {},
        user_properties: {},
        group_properties: { $set: { seats: 3 } },
        groups: { org: 'Acme' },
        context: {},
      },
    ]);
  });

  it('a missing or malformed identification, or an invalid object, is a 400 with code 400', async () => {
    const post = (fields: Record<string, string>) =>
      send({
        method: 'POST',
        url: '/identify',
        headers: form,
        payload: new URLSearchParams(fields).toString(),
      });
    expect(await post({ api_key: WEB_KEY })).toEqual({
      status: 400,
      body: { code: 400, error: 'missing_event', missing_field: 'identification' },
    });
    expect(await post({ api_key: WEB_KEY, identification: '{oops' })).toEqual({
      status: 400,
      body: { code: 400, error: 'missing_event' },
    });
    expect(
      await post({ api_key: WEB_KEY, identification: '[{"user_id":"user-4"},{"user_properties":{}}]' }),
    ).toEqual({
      status: 400,
      body: {
        code: 400,
        error: 'Request missing required field',
        events_with_missing_fields: { user_id: [1], device_id: [1] },
      },
    });
    expect(await post({ identification: '{"user_id":"user-4"}' })).toEqual({
      status: 400,
      body: { code: 400, error: 'Request missing required field', missing_field: 'api_key' },
    });
  });
});

describe('Amplitude HTTP V2: request-level errors', () => {
  const event = { event_type: 'E', user_id: 'user-1' };
  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    send({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...headers },
      payload: payload as string,
    });

  it('invalid JSON, a missing api_key and an unknown api_key', async () => {
    expect(await post('/2/httpapi', '{"api_key":')).toEqual({
      status: 400,
      body: { code: 400, error: 'Invalid JSON request body' },
    });
    expect(await post('/2/httpapi', { events: [event] })).toEqual({
      status: 400,
      body: { code: 400, error: 'Request missing required field', missing_field: 'api_key' },
    });
    expect(await post('/2/httpapi', { api_key: 'unknown', events: [event] })).toEqual({
      status: 400,
      body: { code: 400, error: 'Invalid API key' },
    });
    expect(await post('/2/httpapi', { api_key: WEB_KEY })).toEqual({
      status: 400,
      body: { code: 400, error: 'Request missing required field', missing_field: 'events' },
    });
  });

  it('413 over 2000 events, over 1 MB, and over 1 MB once decompressed', async () => {
    const tooLarge = { status: 413, body: { code: 413, error: 'Payload too large' } };
    const records = await added(async () => {
      expect(
        await post('/2/httpapi', { api_key: WEB_KEY, events: Array.from({ length: 2001 }, () => event) }),
      ).toEqual(tooLarge);
      const padded = {
        api_key: WEB_KEY,
        events: [{ ...event, event_properties: { pad: 'x'.repeat(1024 * 1024) } }],
      };
      expect(await post('/2/httpapi', JSON.stringify(padded))).toEqual(tooLarge);
      // A few KB of gzip that expands past the limit: the cap applies to the decoded size.
      const bomb = gzipSync(JSON.stringify(padded));
      expect(bomb.length).toBeLessThan(10_000);
      expect(await post('/2/httpapi', bomb, { 'content-encoding': 'gzip' })).toEqual(tooLarge);
      // The same body fits /batch's 20 MB.
      expect(await post('/batch', bomb, { 'content-encoding': 'gzip' })).toMatchObject({
        status: 200,
        body: { code: 200, events_ingested: 1 },
      });
    });
    expect(records).toHaveLength(1);
  });

  it('an unknown path is 404 with code 404', async () => {
    expect(await send({ method: 'POST', url: '/3/httpapi', payload: {} })).toEqual({
      status: 404,
      body: { code: 404, error: 'Invalid request path' },
    });
  });
});

describe('store failures: 503, nothing acknowledged', () => {
  let broken: Harness;

  afterEach(async () => {
    await broken.close();
  });

  it('every family answers 503 when the append fails, and the log stays empty', async () => {
    broken = await startHarness({ wrapStore: (store) => failingStore(store) });
    const amplitude = await broken.app.inject({
      method: 'POST',
      url: '/2/httpapi',
      payload: { api_key: WEB_KEY, events: [{ event_type: 'E', user_id: 'user-1' }] },
    });
    expect([amplitude.statusCode, amplitude.json()]).toEqual([
      503,
      { code: 503, error: 'Service unavailable: nothing was stored, retry the request' },
    ]);
    const segment = await broken.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: { authorization: basic(WEB_KEY) },
      payload: { event: 'E', userId: 'user-1' },
    });
    expect([segment.statusCode, segment.json()]).toEqual([
      503,
      { success: false, reason: 'store_unavailable', error: 'the event log could not be written' },
    ]);
    const identify = await broken.app.inject({
      method: 'GET',
      url: `/identify?${new URLSearchParams({ api_key: WEB_KEY, identification: '{"user_id":"user-1"}' })}`,
    });
    expect(identify.statusCode).toBe(503);
    expect(await broken.records()).toEqual([]);
    expect(broken.counters).toEqual({
      recordsIngested: {},
      requestsAccepted: {},
      requestsRejected: { store_unavailable: 3 },
      recordsDuplicate: {},
    });
  });

  it('/health is 200 with a working store and 503 when it fails', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' });
    broken = await startHarness({ wrapStore: (store) => failingStore(store, { reads: true }) });
    const health = await broken.app.inject({ method: 'GET', url: '/health' });
    expect([health.statusCode, health.json()]).toEqual([
      503,
      { status: 'unavailable', error: 'store check failed' },
    ]);
  });
});

describe('logging', () => {
  it('never writes api keys or Authorization headers', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logged = await startHarness({ logger: { level: 'trace', stream } });
    try {
      const query = new URLSearchParams({ api_key: WEB_KEY, identification: '{"user_id":"user-1"}' });
      await logged.app.inject({ method: 'GET', url: `/identify?${query}` });
      await logged.app.inject({
        method: 'POST',
        url: '/v1/track',
        headers: { authorization: basic(MOBILE_KEY) },
        payload: { event: 'E', userId: 'user-1' },
      });
      await logged.app.inject({
        method: 'POST',
        url: '/2/httpapi',
        payload: { api_key: 'a-wrong-key-123', events: [] },
      });
    } finally {
      await logged.close();
    }
    const text = lines.join('');
    expect(text).toContain('/identify');
    expect(text).toContain('invalid_api_key');
    for (const secret of [WEB_KEY, MOBILE_KEY, 'a-wrong-key-123', basic(MOBILE_KEY).slice(6)]) {
      expect(text).not.toContain(secret);
    }
  });
});
