import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { streamStatus } from '../src/control/syncs.ts';
import type { RunningIngest } from '../src/ingest/server.ts';
import { ulidTime } from '../src/mapping/ulid.ts';
import {
  eventually,
  startEngine,
  startTestIngest,
  testConfig,
  uniqueId,
  type TestEngine,
} from './helpers/engine.ts';
import { amplitudeClient, sendWithSegment } from './helpers/sdk.ts';

/**
 * The whole path with the official SDKs: SDK → ingest → store → stream-sync workflow on the real
 * dev server → the exact request that reaches the fake Customer.io.
 */

const SOURCES = [
  'seg-ids',
  'seg-views',
  'seg-devices',
  'seg-objects',
  'amp-events',
  'amp-limits',
  'seg-filter',
];
const AT = new Date('2026-11-20T10:00:00.000Z');
const AT_S = AT.getTime() / 1000;

let engine: TestEngine;
let ingest: RunningIngest;

beforeAll(async () => {
  engine = await startEngine();
  ingest = await startTestIngest(engine, SOURCES);
});

afterAll(async () => {
  await ingest?.close();
  await engine?.close();
});

async function sync(source: string, yaml = '') {
  const syncId = uniqueId(source);
  await engine.apply(
    testConfig(
      engine.fake,
      `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    delivery: { waitFor: 1s, lanes: 1 }
${yaml}`,
      { sources: SOURCES },
    ),
  );
  return syncId;
}

/** Waits until the sync has moved past everything in its source, then returns the batch items sent for it. */
async function delivered(syncId: string, source: string, userMarker: string) {
  const head = await engine.store.headSeq(source);
  await eventually(async () => (await streamStatus(engine.client, syncId)).cursor >= head, 20_000);
  return engine.fake.requests
    .filter((r) => r.path === '/api/v2/batch' && r.status !== undefined && r.status < 300)
    .flatMap((r) => (r.body as { batch: Array<Record<string, unknown>> }).batch)
    .filter((op) => JSON.stringify(op).includes(userMarker));
}

describe('Segment → Customer.io', () => {
  it('sends email-shaped ids as email, cio_ ids as cio_id, others as id, with selected data only', async () => {
    const source = 'seg-ids';
    const syncId = await sync(source, `    events: { properties: { event: [plan], user: [email] } }`);
    const marker = uniqueId('m');
    await sendWithSegment(ingest.url, source, (c) => {
      c.track({
        userId: `${marker}@example.com`,
        event: 'Upgraded',
        properties: { plan: 'pro', secret: 's' },
        timestamp: AT,
        messageId: `${marker}-1`,
      });
      c.track({
        userId: `cio_${marker}`,
        event: 'Upgraded',
        properties: { plan: 'team' },
        timestamp: AT,
        messageId: `${marker}-2`,
      });
      c.track({
        userId: `id-${marker}`,
        event: 'Upgraded',
        properties: { plan: 'free' },
        context: { traits: { email: 'ada@example.com', phone: '555' } },
        timestamp: AT,
        messageId: `${marker}-3`,
      });
    });
    const ops = await delivered(syncId, source, marker);
    expect(ops).toEqual([
      {
        type: 'person',
        action: 'event',
        identifiers: { email: `${marker}@example.com` },
        name: 'Upgraded',
        id: expect.any(String),
        timestamp: AT_S,
        attributes: { plan: 'pro' },
      },
      {
        type: 'person',
        action: 'event',
        identifiers: { cio_id: marker },
        name: 'Upgraded',
        id: expect.any(String),
        timestamp: AT_S,
        attributes: { plan: 'team' },
      },
      {
        type: 'person',
        action: 'event',
        identifiers: { id: `id-${marker}` },
        name: 'Upgraded',
        id: expect.any(String),
        timestamp: AT_S,
        attributes: { plan: 'free', email: 'ada@example.com' },
      },
    ]);
    // Deterministic ULIDs carrying the event time (Segment's clock-skew correction moves it by the
    // few ms the request spent in flight): a retry or replay is deduplicated by Customer.io.
    for (const op of ops) expect(Math.floor(ulidTime(op.id as string) / 1000)).toBe(AT_S);
    expect(new Set(ops.map((o) => o.id)).size).toBe(3);
  });

  it('maps page and screen calls', async () => {
    const source = 'seg-views';
    const syncId = await sync(source);
    const user = uniqueId('viewer');
    await sendWithSegment(ingest.url, source, (c) => {
      c.page({
        userId: user,
        name: 'Pricing',
        properties: { url: 'https://example.com/pricing' },
        timestamp: AT,
      });
      c.page({ userId: user, properties: { url: 'https://example.com/about' }, timestamp: AT });
      c.screen({ userId: user, name: 'Home', timestamp: AT });
      c.screen({ userId: user, timestamp: AT });
    });
    const ops = await delivered(syncId, source, user);
    expect(ops.map((o) => [o.action, o.name, o.timestamp])).toEqual([
      ['page', 'Pricing', AT_S],
      ['page', 'https://example.com/about', AT_S],
      ['event', 'Viewed Home Screen', AT_S],
      ['event', 'Viewed Undefined Screen', AT_S],
    ]);
  });

  it('adds and deletes devices from Application Installed / Uninstalled with a push token', async () => {
    const source = 'seg-devices';
    const syncId = await sync(source);
    const user = uniqueId('mobile');
    const device = { token: `tok-${user}`, type: 'iOS', model: 'iPhone15,2' };
    await sendWithSegment(ingest.url, source, (c) => {
      c.track({
        userId: user,
        event: 'Application Installed',
        context: { device, app: { version: '2.1.0' } },
        timestamp: AT,
      });
      c.track({ userId: user, event: 'Application Uninstalled', context: { device }, timestamp: AT });
    });
    const ops = await delivered(syncId, source, user);
    expect(ops).toEqual([
      {
        type: 'person',
        action: 'add_device',
        identifiers: { id: user },
        device: {
          token: `tok-${user}`,
          platform: 'ios',
          last_used: AT_S,
          attributes: expect.objectContaining({ app_version: '2.1.0', device_model: 'iPhone15,2' }),
        },
      },
      {
        type: 'person',
        action: 'delete_device',
        identifiers: { id: user },
        device: { token: `tok-${user}` },
      },
    ]);
    expect(engine.fake.devices.has(`tok-${user}`)).toBe(false);
  });

  it('merges people on alias and relates people to objects on group', async () => {
    const source = 'seg-objects';
    const syncId = await sync(source, `    events: { properties: { group: '*' } }`);
    const user = uniqueId('member');
    await sendWithSegment(ingest.url, source, (c) => {
      c.alias({ userId: user, previousId: `anon-${user}`, timestamp: AT });
      c.group({
        userId: user,
        groupId: `acme-${user}`,
        traits: { name: 'Acme', object_type_id: '2' },
        timestamp: AT,
      });
    });
    const ops = await delivered(syncId, source, user);
    expect(ops).toEqual([
      { type: 'person', action: 'merge', primary: { id: user }, secondary: { id: `anon-${user}` } },
      {
        type: 'object',
        action: 'identify',
        identifiers: { object_type_id: '2', object_id: `acme-${user}` },
        attributes: { name: 'Acme' },
        cio_relationships: [{ identifiers: { id: user } }],
      },
    ]);
  });

  it('filters by event type, user id presence and property conditions, counting each reason', async () => {
    const source = 'seg-filter';
    const syncId = await sync(
      source,
      `    events:
      properties: { event: [total] }
      filter:
        excludeEventTypes: [Heartbeat]
        requireUserId: true
        where: [{ property: event_properties.total, op: greater_than, value: 10 }]`,
    );
    const user = uniqueId('buyer');
    await sendWithSegment(ingest.url, source, (c) => {
      c.track({ userId: user, event: 'Order Completed', properties: { total: 42 }, timestamp: AT });
      c.track({ userId: user, event: 'Order Completed', properties: { total: 5 }, timestamp: AT });
      c.track({ userId: user, event: 'Heartbeat', properties: { total: 99 }, timestamp: AT });
      c.track({
        anonymousId: `anon-${user}`,
        event: 'Order Completed',
        properties: { total: 99 },
        timestamp: AT,
      });
    });
    const ops = await delivered(syncId, source, user);
    expect(ops.map((o) => [o.name, (o.attributes as Record<string, unknown>).total])).toEqual([
      ['Order Completed', 42],
    ]);
    const status = await streamStatus(engine.client, syncId);
    expect(status.counters.filtered).toEqual({
      event_type_excluded: 1,
      'condition_not_met:0': 1,
      no_user_id: 1,
    });
  });
});

describe('Amplitude → Customer.io', () => {
  it('streams events, page views and screen views with times in seconds and insert_id-based ids', async () => {
    const source = 'amp-events';
    const syncId = await sync(source, `    events: { properties: { event: [plan] } }`);
    const user = uniqueId('amp-user');
    const client = await amplitudeClient(ingest.url, source);
    const t = AT.getTime();
    client.track('Purchase', { plan: 'pro', price: 9 }, { user_id: user, time: t, insert_id: `${user}-p` });
    client.track(
      '[Amplitude] Page Viewed',
      { '[Amplitude] Page URL': 'https://example.com/docs' },
      { user_id: user, time: t + 1000, insert_id: `${user}-pv` },
    );
    client.track(
      '[Amplitude] Screen Viewed',
      { '[Amplitude] Screen Name': 'Settings' },
      { user_id: user, time: t + 2000, insert_id: `${user}-sv` },
    );
    // A client retry of the same event (same insert_id) must collapse into one Customer.io event.
    client.track('Purchase', { plan: 'pro', price: 9 }, { user_id: user, time: t, insert_id: `${user}-p` });
    const results = await client.flush().promise;
    void results;
    const ops = await delivered(syncId, source, user);
    expect(ops.map((o) => [o.action, o.name, o.timestamp, o.attributes])).toEqual([
      ['event', 'Purchase', AT_S, { plan: 'pro' }],
      ['page', 'https://example.com/docs', AT_S + 1, {}],
      ['event', 'Viewed Settings Screen', AT_S + 2, {}],
      ['event', 'Purchase', AT_S, { plan: 'pro' }],
    ]);
    expect(ops[3]!.id).toBe(ops[0]!.id);
    const stored = engine.fake.events.filter((e) => e.identifier?.value === user);
    expect(stored.map((e) => e.name)).toEqual([
      'Purchase',
      'https://example.com/docs',
      'Viewed Settings Screen',
    ]);
  });

  it('dead-letters an event whose data exceeds 100 KB and still delivers the rest of the batch', async () => {
    const source = 'amp-limits';
    const syncId = await sync(source, `    events: { properties: { event: '*' } }`);
    const user = uniqueId('big');
    const client = await amplitudeClient(ingest.url, source);
    const huge = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`p${i}`, 'x'.repeat(1000)]));
    client.track('Huge', huge, { user_id: user, time: AT.getTime(), insert_id: `${user}-huge` });
    client.track('Small', { ok: true }, { user_id: user, time: AT.getTime(), insert_id: `${user}-small` });
    await client.flush().promise;
    const ops = await delivered(syncId, source, user);
    expect(ops.map((o) => o.name)).toEqual(['Small']);
    const letters = await engine.store.listDeadLetters(syncId);
    expect(letters.map((l) => [l.reason, l.record.event_type])).toEqual([['event_data_too_large', 'Huge']]);
  });
});
