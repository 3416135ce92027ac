import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../../src/events/record.ts';
import { startHarness, WEB_KEY, type Harness } from './harness.ts';

/** The official Segment Node library against the ingest server. */

const NOW = Date.parse('2026-02-01T00:00:00.000Z');
const AT = new Date('2026-01-31T23:59:00.000Z');

let h: Harness;

beforeAll(async () => {
  // A pinned receive clock makes the clock-skew-corrected time exact.
  h = await startHarness({ listen: true, now: () => NOW });
});

afterAll(async () => {
  await h.close();
});

type Callback = (err?: unknown) => void;
const delivered = (send: (callback: Callback) => void) =>
  new Promise<void>((resolve, reject) => send((err) => (err ? reject(err) : resolve())));

function analytics(writeKey: string) {
  const client = new Analytics({ writeKey, host: h.url, flushAt: 1, maxRetries: 0 });
  const sentAt = new Map<string, number>();
  client.on('http_request', (request) => {
    const body = JSON.parse(request.body) as { batch: Array<{ messageId: string }>; sentAt: string };
    for (const event of body.batch) sentAt.set(event.messageId, Date.parse(body.sentAt));
  });
  const errors: unknown[] = [];
  client.on('error', (error) => errors.push(error));
  return { client, sentAt, errors };
}

describe('@segment/analytics-node → /v1/batch', () => {
  it('track, identify, page, screen, group and alias land as the expected records', async () => {
    const { client, sentAt, errors } = analytics(WEB_KEY);
    const library = { name: '@segment/analytics-node', version: expect.any(String) };
    await Promise.all([
      delivered((cb) =>
        client.track(
          {
            userId: 'user-1',
            event: 'Order Completed',
            properties: { total: 42 },
            timestamp: AT,
            messageId: 'seg-track',
          },
          cb,
        ),
      ),
      delivered((cb) =>
        client.identify(
          {
            userId: 'user-1',
            traits: { email: 'ada@example.com', plan: 'pro' },
            timestamp: AT,
            messageId: 'seg-identify',
          },
          cb,
        ),
      ),
      delivered((cb) =>
        client.page(
          {
            anonymousId: 'anon-1',
            category: 'Docs',
            name: 'Pricing',
            properties: { path: '/pricing' },
            timestamp: AT,
            messageId: 'seg-page',
          },
          cb,
        ),
      ),
      delivered((cb) =>
        client.screen(
          { userId: 'user-1', name: 'Home', properties: { tab: 1 }, timestamp: AT, messageId: 'seg-screen' },
          cb,
        ),
      ),
      delivered((cb) =>
        client.group(
          {
            userId: 'user-1',
            groupId: 'acme',
            traits: { name: 'Acme', seats: 10 },
            timestamp: AT,
            messageId: 'seg-group',
          },
          cb,
        ),
      ),
      delivered((cb) =>
        client.alias({ userId: 'user-1', previousId: 'anon-1', timestamp: AT, messageId: 'seg-alias' }, cb),
      ),
    ]);
    await client.closeAndFlush();
    expect(errors).toEqual([]);

    // Segment's clock-skew correction: receivedAt − (sentAt − timestamp).
    const time = (messageId: string) => NOW - (sentAt.get(messageId)! - AT.getTime());
    const common = (messageId: string) => ({
      origin: 'segment' as const,
      insert_id: messageId,
      client_time: AT.getTime(),
      time: time(messageId),
      context: { library },
      event_properties: {},
      user_properties: {},
    });
    const expected: CanonicalRecord[] = [
      {
        ...common('seg-alias'),
        kind: 'alias',
        user_id: 'user-1',
        previous_id: 'anon-1',
      },
      {
        ...common('seg-group'),
        kind: 'group',
        user_id: 'user-1',
        group_id: 'acme',
        group_properties: { name: 'Acme', seats: 10 },
      },
      {
        ...common('seg-identify'),
        kind: 'identify',
        user_id: 'user-1',
        user_properties: { email: 'ada@example.com', plan: 'pro' },
      },
      {
        ...common('seg-page'),
        kind: 'page',
        anonymous_id: 'anon-1',
        name: 'Pricing',
        event_properties: { path: '/pricing', category: 'Docs' },
      },
      {
        ...common('seg-screen'),
        kind: 'screen',
        user_id: 'user-1',
        name: 'Home',
        event_properties: { tab: 1 },
      },
      {
        ...common('seg-track'),
        kind: 'track',
        user_id: 'user-1',
        event_type: 'Order Completed',
        event_properties: { total: 42 },
      },
    ];
    // flushAt 1 sends each call in its own request, concurrently: compare in messageId order.
    const stored = (await h.records()).sort((a, b) => a.insert_id!.localeCompare(b.insert_id!));
    expect(stored).toEqual(expected);
    expect(h.counters.recordsIngested.web).toBe(6);
  });

  it('a wrong write key: the library emits an error (it drops on 4xx) and nothing is stored', async () => {
    const before = (await h.records()).length;
    const { client, errors } = analytics('not-a-configured-key');
    await expect(
      delivered((cb) => client.track({ userId: 'user-1', event: 'Order Completed' }, cb)),
    ).rejects.toBeDefined();
    await client.closeAndFlush();
    expect(errors).toEqual([
      expect.objectContaining({
        code: 'delivery_failure',
        reason: expect.objectContaining({ message: '[401] Unauthorized' }),
      }),
    ]);
    expect(await h.records()).toHaveLength(before);
  });
});
