import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';

import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MAX_DEPTH, MAX_PROPERTIES } from '../../src/events/record-limits.ts';
import { startHarness, WEB_KEY, type Harness } from './harness.ts';

/** What a hostile client meets: cheap rejection before authentication, record limits, timeouts. */

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
const json = { 'content-type': 'application/json' };
const gzipJson = { ...json, 'content-encoding': 'gzip' };

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { n: value };
  return value;
}

/** 17 MB of JSON in ~17 KB of gzip; the api_key before or after the events. */
function bomb(apiKey: string, keyFirst: boolean): Buffer {
  const events = `[{"event_type":"x","user_id":"attacker","event_properties":{"p":"${'a'.repeat(17 * 1024 * 1024)}"}}]`;
  return gzipSync(
    keyFirst ? `{"api_key":"${apiKey}","events":${events}}` : `{"events":${events},"api_key":"${apiKey}"}`,
  );
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ listen: true });
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

/** Opens a raw connection, writes `head`, and resolves with what comes back and when. */
function raw(url: string, head: string, waitMs = 3000): Promise<{ text: string; closedAfterMs: number }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(head));
    socket.on('data', (chunk) => (text += String(chunk)));
    socket.on('error', () => {});
    const done = () => resolve({ text, closedAfterMs: Date.now() - started });
    socket.on('close', done);
    setTimeout(() => {
      socket.destroy();
    }, waitMs);
  });
}

describe('rejection before the body is read or inflated', () => {
  it('Segment: a wrong write key in the header is refused without reading the body', async () => {
    // Headers announce a 400 KB body that never comes: the answer cannot have waited for it.
    const answer = await raw(
      h.url,
      `POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Authorization: ${basic('not-a-key')}\r\nContent-Length: ${400 * 1024}\r\n\r\n{"batch":[`,
    );
    expect(answer.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.text).toContain('"reason":"invalid_api_key"');
    expect(answer.closedAfterMs).toBeLessThan(2000);
  });

  it('Amplitude: a gzip bomb with a wrong key is refused after its first kilobytes; with the key last, at the pre-auth budget', async () => {
    const started = Date.now();
    expect(
      await send({ method: 'POST', url: '/batch', headers: gzipJson, payload: bomb('wrong', true) }),
    ).toEqual({
      status: 400,
      body: { code: 400, error: 'Invalid API key' },
    });
    expect(
      await send({ method: 'POST', url: '/batch', headers: gzipJson, payload: bomb('wrong', false) }),
    ).toEqual({
      status: 413,
      body: { code: 413, error: 'Payload too large' },
    });
    // With the right key the body is inflated in full, and is then simply too large for /2/httpapi.
    expect(
      await send({ method: 'POST', url: '/2/httpapi', headers: gzipJson, payload: bomb(WEB_KEY, true) }),
    ).toEqual({
      status: 413,
      body: { code: 413, error: 'Payload too large' },
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await h.records()).toEqual([]);
  });
});

describe('record limits, in each API’s error format', () => {
  const event = (extra: Record<string, unknown> = {}) => ({
    event_type: 'Ok',
    user_id: 'user-12345',
    ...extra,
  });

  it('Amplitude /2/httpapi and /batch: the event index in the error maps, and why', async () => {
    for (const url of ['/2/httpapi', '/batch']) {
      const response = await send({
        method: 'POST',
        url,
        headers: json,
        payload: {
          api_key: WEB_KEY,
          events: [
            event(),
            event({ event_properties: { a: nested(MAX_DEPTH) } }),
            event({
              user_properties: Object.fromEntries(
                Array.from({ length: MAX_PROPERTIES + 1 }, (_, i) => [`p${i}`, i]),
              ),
            }),
            event({ library: nested(MAX_DEPTH + 5) }),
          ],
        },
      });
      expect(response).toEqual({
        status: 400,
        body: {
          code: 400,
          error: 'Invalid field values on some events',
          events_with_invalid_fields: { event_properties: [1], user_properties: [2], library: [3] },
          events_over_limits: {
            1: `event_properties.a${'.n'.repeat(MAX_DEPTH - 1)}: nested deeper than ${MAX_DEPTH} levels`,
            2: `user_properties: more than ${MAX_PROPERTIES} properties`,
            3: `library${'.n'.repeat(MAX_DEPTH)}: nested deeper than ${MAX_DEPTH} levels`,
          },
        },
      });
    }
    expect(await h.records()).toEqual([]);
  });

  it('Amplitude: an event over the record size is named by its index', async () => {
    const properties = Object.fromEntries(Array.from({ length: 140 }, (_, i) => [`p${i}`, 'x'.repeat(1000)]));
    const response = await send({
      method: 'POST',
      url: '/batch',
      headers: json,
      payload: { api_key: WEB_KEY, events: [event(), event(), event({ event_properties: properties })] },
    });
    expect(response).toMatchObject({
      status: 400,
      body: {
        error: 'Invalid field values on some events',
        events_with_invalid_fields: { event: [2] },
        events_over_limits: { 2: expect.stringMatching(/bytes as JSON, over the 131072 byte limit$/) },
      },
    });
  });

  it('Amplitude Identify and Group Identify: the same limits, by index', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const identify = await send({
      method: 'POST',
      url: '/identify',
      headers: form,
      payload: new URLSearchParams({
        api_key: WEB_KEY,
        identification: JSON.stringify([
          { user_id: 'user-12345', user_properties: { a: nested(MAX_DEPTH) } },
        ]),
      }).toString(),
    });
    expect(identify).toMatchObject({
      status: 400,
      body: { events_with_invalid_fields: { user_properties: [0] } },
    });
    const group = await send({
      method: 'POST',
      url: '/groupidentify',
      headers: form,
      payload: new URLSearchParams({
        api_key: WEB_KEY,
        identification: JSON.stringify([
          { group_type: 'org', group_value: 'acme', group_properties: {} },
          { group_type: 'org', group_value: 'evil', group_properties: { a: nested(MAX_DEPTH) } },
        ]),
      }).toString(),
    });
    expect(group).toMatchObject({
      status: 400,
      body: { events_with_invalid_fields: { group_properties: [1] } },
    });
  });

  it('Segment batch, one-letter and single calls: per-item errors naming the path', async () => {
    const headers = { ...json, authorization: basic(WEB_KEY) };
    const call = (extra: Record<string, unknown>) => ({ type: 'track', event: 'Ok', userId: 'u1', ...extra });
    expect(
      await send({
        method: 'POST',
        url: '/v1/batch',
        headers,
        payload: { batch: [call({}), call({ properties: { a: nested(MAX_DEPTH) } })] },
      }),
    ).toEqual({
      status: 400,
      body: {
        success: false,
        reason: 'invalid_events',
        error: `batch item 1: properties.a${'.n'.repeat(MAX_DEPTH - 1)}: nested deeper than ${MAX_DEPTH} levels`,
        errors: [
          {
            index: 1,
            field: `properties.a${'.n'.repeat(MAX_DEPTH - 1)}`,
            message: `nested deeper than ${MAX_DEPTH} levels`,
          },
        ],
      },
    });
    for (const url of ['/v1/track', '/v1/t', '/v1/identify', '/v1/i']) {
      const response = await send({
        method: 'POST',
        url,
        headers,
        payload: call({ context: { deep: nested(MAX_DEPTH + 1) } }),
      });
      expect(response).toMatchObject({
        status: 400,
        body: {
          success: false,
          reason: 'invalid_events',
          errors: [{ field: expect.stringMatching(/^context\.deep/) }],
        },
      });
    }
    // The batch envelope's context is merged into every item: its limits are checked too.
    const envelope = await send({
      method: 'POST',
      url: '/v1/batch',
      headers,
      payload: { batch: [call({})], context: { deep: nested(MAX_DEPTH + 1) } },
    });
    expect(envelope).toMatchObject({
      status: 400,
      body: { reason: 'invalid_events', errors: [{ field: expect.stringMatching(/^context\.deep/) }] },
    });
    expect(await h.records()).toEqual([]);
  });
});

describe('connection limits', () => {
  it('a client that trickles its headers is cut at the headers timeout; one over the connection cap is refused', async () => {
    const slow = await startHarness({
      listen: true,
      connections: { headersTimeoutMs: 500, bodyTimeoutMs: 1000, idleTimeoutMs: 2000, maxConnections: 2 },
    });
    try {
      const started = Date.now();
      const { port } = new URL(slow.url);
      const trickle = connect(Number(port), '127.0.0.1');
      trickle.on('error', () => {});
      trickle.write('POST /batch HTTP/1.1\r\nHost: x\r\n');
      const timer = setInterval(() => trickle.write('X-Slow: y\r\n'), 100);
      const closed = new Promise<number>((resolve) =>
        trickle.on('close', () => resolve(Date.now() - started)),
      );

      const second = connect(Number(port), '127.0.0.1');
      second.on('error', () => {});
      await new Promise((r) => second.on('connect', r));
      // A third connection is over the cap of 2: the server drops it at once.
      const third = await raw(slow.url, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 1500);
      expect(third.text).toBe('');
      expect(third.closedAfterMs).toBeLessThan(1000);
      second.destroy();

      const closedAfter = await closed;
      clearInterval(timer);
      expect(closedAfter).toBeGreaterThanOrEqual(400);
      expect(closedAfter).toBeLessThan(2500);
      // And the server still answers once the hostile connections are gone.
      expect((await fetch(`${slow.url}/health`)).status).toBe(200);
    } finally {
      await slow.close();
    }
  });
});
