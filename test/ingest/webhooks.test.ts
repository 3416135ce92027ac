import { createHmac } from 'node:crypto';
import { gzipSync } from 'node:zlib';

import { afterEach, describe, expect, it } from 'vitest';

import { exportEvent } from '../fakes/amplitude-export-format.ts';
import { failingStore, SOURCES, startHarness, type Harness } from './harness.ts';

const AMP_SECRET = 'amp-webhook-secret-0123';
const SEG_SECRET = 'seg-shared-secret-0123';
const WEBHOOK_SOURCES = [
  { ...SOURCES[0]!, webhooks: { amplitude: { header: 'x-webhook-secret', secret: AMP_SECRET } } },
  { ...SOURCES[1]!, webhooks: { segment: { secret: SEG_SECRET } } },
];
const AMPLITUDE = '/webhooks/amplitude/web';
const SEGMENT = '/webhooks/segment/mobile';

/** What Amplitude's Webhook destination sends: its two preset headers and the one the user set. */
function amplitudeHeaders(secret: string | null = AMP_SECRET): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'Amplitude/Webhook/1.0',
    ...(secret !== null && { 'x-webhook-secret': secret }),
  };
}

/** What Segment's Webhooks destinations send, signed as Segment signs it. */
function segmentRequest(body: unknown, secret = SEG_SECRET) {
  const payload = JSON.stringify(body);
  const signed = Array.isArray(body) ? JSON.stringify(body[0]) : payload;
  return {
    payload,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Segment.io/1.0',
      'x-signature': createHmac('sha1', secret).update(signed).digest('hex'),
    },
  };
}

function segmentMessage(n: number, extra: Record<string, unknown> = {}) {
  return {
    type: 'track',
    event: 'Order Completed',
    userId: `user-${n}`,
    messageId: `msg-${n}`,
    properties: { total: n },
    originalTimestamp: '2026-11-20T08:59:00.000Z',
    sentAt: '2026-11-20T08:59:01.000Z',
    receivedAt: '2026-11-20T09:00:02.000Z',
    timestamp: '2026-11-20T09:00:01.000Z',
    ...extra,
  };
}

let harness: Harness;
afterEach(async () => harness?.close());

describe('Amplitude webhook receiver', () => {
  it('stores an export-format event, and a retry of it is acknowledged without a second append', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const event = exportEvent({ event_type: 'Order Completed', user_id: 'user-1', $insert_id: 'ins-1' });
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await harness.app.inject({
        method: 'POST',
        url: AMPLITUDE,
        headers: amplitudeHeaders(),
        payload: JSON.stringify(event),
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ success: true, accepted: 1 - attempt, duplicates: attempt });
    }
    const records = await harness.records('web');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      kind: 'track',
      origin: 'amplitude',
      event_type: 'Order Completed',
      user_id: 'user-1',
      insert_id: 'ins-1',
    });
    expect(harness.counters.recordsDuplicate).toEqual({ web: 1 });
  });

  it('takes "Send Users" updates and Identify API objects, one or several per request', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const body = [
      { user_id: 'user-2', user_properties: { $set: { plan: 'pro' } }, platform: 'iOS' },
      exportEvent({ event_type: '$identify', user_id: 'user-3', user_properties: { plan: 'team' } }),
      exportEvent({ event_type: 'Viewed Home', device_id: 'device-4' }),
    ];
    const response = await harness.app.inject({
      method: 'POST',
      url: AMPLITUDE,
      headers: amplitudeHeaders(),
      payload: JSON.stringify(body),
    });
    expect(response.json()).toEqual({ success: true, accepted: 3, duplicates: 0 });
    const records = await harness.records('web');
    expect(records.map((r) => [r.kind, r.user_id ?? r.anonymous_id])).toEqual([
      ['identify', 'user-2'],
      ['identify', 'user-3'],
      ['track', 'device-4'],
    ]);
  });

  it('refuses a missing or wrong header before reading the body, and stores nothing', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    for (const [secret, error] of [
      [null, 'missing x-webhook-secret header'],
      ['not-the-secret', 'wrong x-webhook-secret header'],
    ] as const) {
      const response = await harness.app.inject({
        method: 'POST',
        url: AMPLITUDE,
        headers: amplitudeHeaders(secret),
        // Not even JSON: a request refused on its header is never parsed.
        payload: '{"broken',
      });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ success: false, error });
      expect(response.headers.connection).toBe('close');
    }
    expect(await harness.records('web')).toEqual([]);
  });

  it('answers 404 for a source without an Amplitude webhook, naming the setting', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const response = await harness.app.inject({
      method: 'POST',
      url: '/webhooks/amplitude/mobile',
      headers: amplitudeHeaders(),
      payload: '{}',
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().error).toMatch(/sources\[\]\.webhooks\.amplitude/);
  });

  it('commits the valid events of a request and refuses the bad one with a 400 naming it', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const body = [
      exportEvent({ event_type: 'Good', user_id: 'user-5', $insert_id: 'good-5' }),
      exportEvent({ event_type: 'Bad', user_id: null, device_id: null }),
      exportEvent({ event_type: 'Huge', user_id: 'user-6', event_properties: { blob: 'x'.repeat(200_000) } }),
    ];
    const response = await harness.app.inject({
      method: 'POST',
      url: AMPLITUDE,
      headers: amplitudeHeaders(),
      payload: JSON.stringify(body),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      success: false,
      accepted: 1,
      errors: [
        { index: 1, field: 'user_id' },
        { index: 2, field: 'item' },
      ],
    });
    expect((await harness.records('web')).map((r) => r.insert_id)).toEqual(['good-5']);
  });

  it('answers 503 when the store is down, so Amplitude retries, and a gzipped body is read', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES, wrapStore: (store) => failingStore(store) });
    const response = await harness.app.inject({
      method: 'POST',
      url: AMPLITUDE,
      headers: { ...amplitudeHeaders(), 'content-encoding': 'gzip' },
      payload: gzipSync(JSON.stringify(exportEvent({ user_id: 'user-7' }))),
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ success: false, reason: 'store_unavailable' });
  });
});

describe('Segment webhook receiver', () => {
  it('stores a classic message signed over its exact bytes', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const { payload, headers } = segmentRequest(segmentMessage(1));
    const response = await harness.app.inject({ method: 'POST', url: SEGMENT, headers, payload });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ success: true, accepted: 1, duplicates: 0 });
    expect(await harness.records('mobile')).toMatchObject([
      {
        kind: 'track',
        origin: 'segment',
        insert_id: 'msg-1',
        time: Date.parse('2026-11-20T09:00:01.000Z'),
        client_time: Date.parse('2026-11-20T08:59:00.000Z'),
        event_properties: { total: 1 },
      },
    ]);
  });

  it('stores an Actions batch signed over its first payload, each message once', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const batch = Array.from({ length: 1000 }, (_, n) => segmentMessage(n));
    const { payload, headers } = segmentRequest(batch);
    const first = await harness.app.inject({ method: 'POST', url: SEGMENT, headers, payload });
    expect(first.json()).toEqual({ success: true, accepted: 1000, duplicates: 0 });
    // Segment retries what timed out: the same batch again adds nothing.
    const again = await harness.app.inject({ method: 'POST', url: SEGMENT, headers, payload });
    expect(again.json()).toEqual({ success: true, accepted: 0, duplicates: 1000 });
    expect(await harness.records('mobile')).toHaveLength(1000);
  });

  it('a missing or wrong signature is a 401 and stores nothing', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const { payload, headers } = segmentRequest(segmentMessage(2), 'another-secret');
    const wrong = await harness.app.inject({ method: 'POST', url: SEGMENT, headers, payload });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error: 'X-Signature does not match the shared secret' });
    const { 'x-signature': _signature, ...unsigned } = headers;
    const missing = await harness.app.inject({ method: 'POST', url: SEGMENT, headers: unsigned, payload });
    expect(missing.statusCode).toBe(401);
    // Signed, then changed: the bytes are not the ones signed.
    const good = segmentRequest(segmentMessage(3));
    const tampered = good.payload.replace('"total":3', '"total":4');
    const changed = await harness.app.inject({
      method: 'POST',
      url: SEGMENT,
      headers: good.headers,
      payload: tampered,
    });
    expect(changed.statusCode).toBe(401);
    expect(await harness.records('mobile')).toEqual([]);
  });

  it('maps identify, page, screen, group, alias and the delete message', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const batch = [
      segmentMessage(10, { type: 'identify', event: undefined, traits: { plan: 'pro' } }),
      segmentMessage(11, { type: 'page', event: undefined, name: 'Home' }),
      segmentMessage(12, { type: 'screen', event: undefined, name: 'Home' }),
      segmentMessage(13, { type: 'group', event: undefined, groupId: 'acme' }),
      segmentMessage(14, { type: 'alias', event: undefined, previousId: 'anon-14' }),
      { type: 'delete', userId: 'user-15', messageId: 'msg-15' },
    ];
    const { payload, headers } = segmentRequest(batch);
    const response = await harness.app.inject({ method: 'POST', url: SEGMENT, headers, payload });
    expect(response.json()).toMatchObject({ success: true, accepted: 6 });
    expect((await harness.records('mobile')).map((r) => r.kind)).toEqual([
      'identify',
      'page',
      'screen',
      'group',
      'alias',
      'user_deletion',
    ]);
  });

  it('refuses items over the limits with a 400 (Segment does not retry it) and keeps the rest', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const batch = [
      segmentMessage(20),
      segmentMessage(21, { properties: { blob: 'x'.repeat(40_000) } }),
      segmentMessage(22, { type: 'unknown' }),
    ];
    const { payload, headers } = segmentRequest(batch);
    const response = await harness.app.inject({ method: 'POST', url: SEGMENT, headers, payload });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      accepted: 1,
      errors: [{ index: 1 }, { index: 2, field: 'type' }],
    });
    expect((await harness.records('mobile')).map((r) => r.insert_id)).toEqual(['msg-20']);
  });

  it('more than 4,000 items is a 413 and stores nothing', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const batch = Array.from({ length: 4001 }, (_, n) => ({ type: 'track', event: 'E', userId: `u${n}` }));
    const { payload, headers } = segmentRequest(batch);
    const response = await harness.app.inject({ method: 'POST', url: SEGMENT, headers, payload });
    expect(response.statusCode).toBe(413);
    expect(await harness.records('mobile')).toEqual([]);
  });
});

describe('one event, whichever way it came', () => {
  it('an Amplitude event by the HTTP V2 API and by the webhook is stored once', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const time = Date.UTC(2026, 10, 20, 9, 0, 0, 123);
    const viaApi = await harness.app.inject({
      method: 'POST',
      url: '/2/httpapi',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({
        api_key: SOURCES[0]!.apiKey,
        events: [{ event_type: 'Signed Up', user_id: 'user-30', insert_id: 'same-30', time }],
      }),
    });
    expect(viaApi.json()).toMatchObject({ code: 200, events_ingested: 1 });
    const row = exportEvent({
      event_type: 'Signed Up',
      user_id: 'user-30',
      $insert_id: 'same-30',
      client_event_time: time,
    });
    const viaWebhook = await harness.app.inject({
      method: 'POST',
      url: AMPLITUDE,
      headers: amplitudeHeaders(),
      payload: JSON.stringify(row),
    });
    expect(viaWebhook.json()).toEqual({ success: true, accepted: 0, duplicates: 1 });
    expect(await harness.records('web')).toHaveLength(1);
  });

  it('a Segment call by the tracking API and by the webhook is stored once', async () => {
    harness = await startHarness({ sources: WEBHOOK_SOURCES });
    const viaApi = await harness.app.inject({
      method: 'POST',
      url: '/v1/track',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${SOURCES[1]!.apiKey}:`).toString('base64')}`,
      },
      payload: JSON.stringify({ event: 'Order Completed', userId: 'user-31', messageId: 'msg-31' }),
    });
    expect(viaApi.statusCode).toBe(200);
    const { payload, headers } = segmentRequest(segmentMessage(31));
    const viaWebhook = await harness.app.inject({ method: 'POST', url: SEGMENT, headers, payload });
    expect(viaWebhook.json()).toEqual({ success: true, accepted: 0, duplicates: 1 });
    expect(await harness.records('mobile')).toHaveLength(1);
  });
});
