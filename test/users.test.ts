import { Identify } from '@amplitude/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RunningIngest } from '../src/ingest/server.ts';
import { pauseSignal, redriveUpdate, resumeSignal, statusQuery } from '../src/workflows/sync-api.ts';
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
 * User forwarding through the whole stack: the official Amplitude and Segment SDKs (and Amplitude's
 * Identify API) → ingest → store → stream-sync workflow on the real dev server → the exact identify
 * items that reach the fake Customer.io, update by update.
 */

const SOURCES = [
  'amp-users',
  'amp-events-users',
  'seg-users',
  'amp-restart',
  'amp-rejected',
  'seg-limits',
  'amp-dry-run',
];
const AT = Date.UTC(2026, 10, 20, 10, 0, 0);

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

/** A second destination, recording requests instead of sending them. */
const DRY_RUN_DESTINATION = `  - id: cio-dry
    siteId: dry-site
    trackApiKey: \${DRY_TRACK_KEY:-}
    dryRun: true`;

async function sync(source: string, yaml: string, syncId = uniqueId(source), destination = 'cio') {
  await engine.apply(
    testConfig(
      engine.fake,
      `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: ${destination}
    delivery: { waitFor: 1s, lanes: 1 }
${yaml}`,
      { sources: SOURCES, destination: DRY_RUN_DESTINATION },
    ),
  );
  return syncId;
}

async function status(syncId: string) {
  return engine.client.workflow.getHandle(`stream-sync/${syncId}`).query(statusQuery);
}

/** Waits until the sync has moved past everything its source holds. */
async function settled(syncId: string, source: string) {
  const head = await engine.store.headSeq(source);
  await eventually(async () => (await status(syncId)).cursor >= head, 20_000);
}

type Item = Record<string, unknown>;

/** Every batch item Customer.io accepted (or answered for) that mentions `marker`, in order. */
function items(marker: string): Item[] {
  return engine.fake.requests
    .filter((r) => r.path === '/api/v2/batch' && r.status !== undefined && r.status < 300)
    .flatMap((r) => (r.body as { batch: Item[] }).batch)
    .filter((op) => JSON.stringify(op).includes(marker));
}

/** The identify items for one user that arrived since `from` items had. */
const identifies = (marker: string, from = 0) =>
  items(marker)
    .filter((op) => op.action === 'identify')
    .slice(from);

const identifyOf = (identifiers: Item, attributes: Item) => ({
  type: 'person',
  action: 'identify',
  identifiers,
  attributes,
});

describe('Amplitude Identify (SDK identify)', () => {
  it('sends selected properties only when they change, with $setOnce, $add and $unset applied', async () => {
    const source = 'amp-users';
    const syncId = await sync(source, `    users: { send: true, properties: [plan, logins, first_seen] }`);
    const user = uniqueId('amp-user');
    const client = await amplitudeClient(ingest.url, source);
    let t = AT;
    /** One identify, delivered before the next: returns the identify items it produced. */
    const step = async (identify: Identify) => {
      const before = identifies(user).length;
      client.identify(identify, { user_id: user, time: (t += 1000) });
      await client.flush().promise;
      await settled(syncId, source);
      return identifies(user, before);
    };

    expect(
      await step(
        new Identify()
          .set('plan', 'pro')
          .setOnce('first_seen', '2026-11-20')
          .add('logins', 1)
          .set('email', 'ada@example.com'),
      ),
    ).toEqual([identifyOf({ id: user }, { plan: 'pro', first_seen: '2026-11-20', logins: 1 })]);
    // An unselected property changes: no request.
    expect(await step(new Identify().set('email', 'other@example.com'))).toEqual([]);
    // The same value again: no request.
    expect(await step(new Identify().set('plan', 'pro'))).toEqual([]);
    // $setOnce after a value exists: no request.
    expect(await step(new Identify().setOnce('first_seen', '2027-01-01'))).toEqual([]);
    // $add: absolute values, built on what was sent.
    expect(await step(new Identify().add('logins', 1))).toEqual([identifyOf({ id: user }, { logins: 2 })]);
    expect(await step(new Identify().add('logins', 5))).toEqual([identifyOf({ id: user }, { logins: 7 })]);
    // $unset removes the attribute in Customer.io.
    expect(await step(new Identify().unset('plan'))).toEqual([identifyOf({ id: user }, { plan: null })]);
    expect(engine.fake.findPerson('id', user)?.attributes).toEqual({ first_seen: '2026-11-20', logins: 7 });

    // Three $add in one flush: chained in log order, each an absolute value.
    const before = identifies(user).length;
    for (let i = 0; i < 3; i++)
      client.identify(new Identify().add('logins', 1), { user_id: user, time: (t += 1) });
    await client.flush().promise;
    await settled(syncId, source);
    expect(identifies(user, before)).toEqual([
      identifyOf({ id: user }, { logins: 8 }),
      identifyOf({ id: user }, { logins: 9 }),
      identifyOf({ id: user }, { logins: 10 }),
    ]);
    expect((await status(syncId)).counters.filtered).toEqual({ user_unchanged: 3 });
  });
});

describe('Amplitude HTTP V2 user_properties and the Identify API', () => {
  it('identifies before the event of the same record, keeps per-user order, and reads /identify', async () => {
    const source = 'amp-events-users';
    const syncId = await sync(
      source,
      `    users: { send: true, properties: [plan] }
    events: { properties: { event: [amount] } }`,
    );
    const user = uniqueId('amp-buyer');
    const client = await amplitudeClient(ingest.url, source);
    const event = (name: string, plan: string, amount: number, time: number) =>
      client.track({
        event_type: name,
        user_id: user,
        time,
        insert_id: `${user}-${name}`,
        event_properties: { amount },
        user_properties: { plan, ignored: 'x' },
      });
    client.identify(new Identify().set('plan', 'free'), { user_id: user, time: AT });
    event('Upgraded', 'pro', 30, AT + 1000);
    event('Renewed', 'pro', 30, AT + 2000);
    client.identify(new Identify().set('plan', 'team'), { user_id: user, time: AT + 3000 });
    event('Seats Added', 'enterprise', 90, AT + 4000);
    await client.flush().promise;
    await settled(syncId, source);

    const S = AT / 1000;
    const eventOf = (name: string, amount: number, seconds: number) => ({
      type: 'person',
      action: 'event',
      identifiers: { id: user },
      name,
      id: expect.any(String),
      timestamp: seconds,
      attributes: { amount },
    });
    expect(items(user)).toEqual([
      identifyOf({ id: user }, { plan: 'free' }),
      identifyOf({ id: user }, { plan: 'pro' }),
      eventOf('Upgraded', 30, S + 1),
      // Same user properties again: the event alone.
      eventOf('Renewed', 30, S + 2),
      identifyOf({ id: user }, { plan: 'team' }),
      identifyOf({ id: user }, { plan: 'enterprise' }),
      eventOf('Seats Added', 90, S + 4),
    ]);

    // The Identify API (form-encoded, no SDK of its own): the same operations, the same snapshot.
    const before = items(user).length;
    const identify = (properties: Record<string, unknown>) =>
      fetch(`${ingest.url}/identify`, {
        method: 'POST',
        body: new URLSearchParams({
          api_key: `${source}-key`,
          identification: JSON.stringify([{ user_id: user, user_properties: properties }]),
        }),
      });
    expect((await identify({ $set: { plan: 'enterprise' } })).status).toBe(200);
    expect((await identify({ $unset: { plan: '-' } })).status).toBe(200);
    await settled(syncId, source);
    expect(items(user).slice(before)).toEqual([identifyOf({ id: user }, { plan: null })]);
    expect(engine.fake.findPerson('id', user)?.attributes).toEqual({});
  });
});

describe('Segment identify', () => {
  it('identifies by email, id + email, and cio_id; unsubscribes; passes audiences; only what changed', async () => {
    const source = 'seg-users';
    const syncId = await sync(source, `    users: { send: true, properties: [plan] }`);
    const marker = uniqueId('seg');
    const byEmail = `${marker}@example.com`;
    const byId = `id-${marker}`;
    const existing = engine.fake.seedPerson({ id: `old-${marker}`, email: `old-${marker}@example.com` });
    const audience = { personas: { computation_class: 'audience', computation_key: 'high_value_users' } };

    await sendWithSegment(ingest.url, source, (c) => {
      // A userId that is an email identifies by email.
      c.identify({ userId: byEmail, traits: { plan: 'free', secret: 's' }, timestamp: new Date(AT) });
      // A userId plus an email trait sets both; created_at (ISO) in seconds.
      c.identify({
        userId: byId,
        traits: { email: `${marker}-2@example.com`, plan: 'pro', createdAt: '2026-01-02T03:04:05Z' },
        timestamp: new Date(AT),
      });
      // cio_<id> updates that person and can change its id and email.
      c.identify({
        userId: `cio_${existing.cio_id}`,
        traits: { id: `new-${marker}`, email: `new-${marker}@example.com` },
        timestamp: new Date(AT),
      });
    });
    await settled(syncId, source);
    expect(items(marker)).toEqual([
      identifyOf({ email: byEmail }, { plan: 'free' }),
      identifyOf(
        { id: byId },
        { email: `${marker}-2@example.com`, plan: 'pro', created_at: Date.UTC(2026, 0, 2, 3, 4, 5) / 1000 },
      ),
      identifyOf({ cio_id: existing.cio_id }, { id: `new-${marker}`, email: `new-${marker}@example.com` }),
    ]);
    expect(engine.fake.findPerson('email', byEmail)?.attributes).toEqual({ plan: 'free' });
    expect(engine.fake.findPerson('id', byId)?.email).toBe(`${marker}-2@example.com`);
    expect(engine.fake.people.get(existing.cio_id)).toMatchObject({
      id: `new-${marker}`,
      email: `new-${marker}@example.com`,
    });

    const before = items(marker).length;
    await sendWithSegment(ingest.url, source, (c) => {
      // The same traits again: no request.
      c.identify({ userId: byEmail, traits: { plan: 'free', secret: 'changed' } });
      // Unsubscribe: the flag, with the email that identifies the person.
      c.identify({ userId: byId, traits: { email: `${marker}-2@example.com`, unsubscribed: true } });
      // An Engage audience: its snake_cased boolean passes although not selected.
      c.identify({ userId: byEmail, traits: { high_value_users: true, other: 1 }, context: audience });
    });
    await settled(syncId, source);
    expect(items(marker).slice(before)).toEqual([
      identifyOf({ id: byId }, { email: `${marker}-2@example.com`, unsubscribed: true }),
      identifyOf({ email: byEmail }, { high_value_users: true }),
    ]);
    expect((await status(syncId)).counters.filtered).toEqual({ user_unchanged: 1 });
  });

  it("dead-letters what exceeds Customer.io's person limits and sends the rest", async () => {
    const source = 'seg-limits';
    const syncId = await sync(source, `    users: { send: true, properties: '*' }`);
    const user = uniqueId('seg-big');
    await sendWithSegment(ingest.url, source, (c) => {
      c.identify({ userId: user, traits: { plan: 'pro', bio: 'b'.repeat(1500), ['n'.repeat(160)]: 1 } });
    });
    await settled(syncId, source);
    expect(identifies(user)).toEqual([identifyOf({ id: user }, { plan: 'pro' })]);
    const letters = await engine.store.listDeadLetters(syncId);
    expect(letters.map((l) => [l.reason, l.detail, l.record.user_id])).toEqual([
      [
        'attributes_over_limits',
        `not sent: value of 'bio' is 1500 bytes (limit 1000); name '${'n'.repeat(40)}…' is 160 bytes (limit 150)`,
        user,
      ],
    ]);
    expect((await status(syncId)).counters).toMatchObject({ delivered: 1, deadLettered: 1 });
  });
});

describe('snapshots outlive workers and rejections', () => {
  it('a worker restart between two updates still detects the change', async () => {
    const source = 'amp-restart';
    const syncId = await sync(source, `    users: { send: true, properties: [logins, plan] }`);
    const user = uniqueId('amp-restart');
    const client = await amplitudeClient(ingest.url, source);
    client.identify(new Identify().add('logins', 1).set('plan', 'pro'), { user_id: user, time: AT });
    await client.flush().promise;
    await settled(syncId, source);

    await engine.worker.shutdown();
    client.identify(new Identify().add('logins', 1).set('plan', 'pro'), { user_id: user, time: AT + 1000 });
    await client.flush().promise;
    await engine.restartWorker();
    await settled(syncId, source);

    expect(identifies(user)).toEqual([
      identifyOf({ id: user }, { logins: 1, plan: 'pro' }),
      identifyOf({ id: user }, { logins: 2 }),
    ]);
  });

  it('an identify Customer.io rejects (207) is resent with the next update, increments intact', async () => {
    const source = 'amp-rejected';
    const syncId = await sync(source, `    users: { send: true, properties: [logins, plan] }`);
    const user = uniqueId('amp-207');
    const client = await amplitudeClient(ingest.url, source);
    engine.fake.script.failNext(1, {
      path: '/api/v2/batch',
      status: 207,
      body: { errors: [{ batch_index: 0, reason: 'invalid', field: 'attributes', message: 'rejected' }] },
    });
    client.identify(new Identify().add('logins', 1).set('plan', 'pro'), { user_id: user, time: AT });
    await client.flush().promise;
    await settled(syncId, source);
    expect(engine.fake.findPerson('id', user)).toBeUndefined();
    expect((await engine.store.listDeadLetters(syncId)).map((l) => l.reason)).toEqual([
      'customerio_rejected_item',
    ]);

    client.identify(new Identify().add('logins', 1), { user_id: user, time: AT + 1000 });
    await client.flush().promise;
    await settled(syncId, source);
    expect(identifies(user)).toEqual([
      identifyOf({ id: user }, { logins: 1, plan: 'pro' }),
      identifyOf({ id: user }, { logins: 2, plan: 'pro' }),
    ]);
    expect(engine.fake.findPerson('id', user)?.attributes).toEqual({ logins: 2, plan: 'pro' });

    // Redriving the letter now: Customer.io lacks nothing, and the $add is not applied twice.
    const redrive = () =>
      engine.client.workflow.getHandle(`stream-sync/${syncId}`).executeUpdate(redriveUpdate, { args: [{}] });
    expect(await redrive()).toMatchObject({ redriven: 1, delivered: 0, filtered: { user_unchanged: 1 } });
    expect(identifies(user)).toHaveLength(2);

    // A rejected identify redriven before any later update: what Customer.io lacks is sent.
    const other = uniqueId('amp-207');
    engine.fake.script.failNext(1, {
      path: '/api/v2/batch',
      status: 207,
      body: { errors: [{ batch_index: 0, reason: 'invalid', field: 'attributes', message: 'rejected' }] },
    });
    client.identify(new Identify().add('logins', 3).set('plan', 'team'), { user_id: other, time: AT });
    await client.flush().promise;
    await settled(syncId, source);
    expect(await redrive()).toMatchObject({ redriven: 1, delivered: 1 });
    expect(identifies(other)).toEqual([
      identifyOf({ id: other }, { logins: 3, plan: 'team' }),
      identifyOf({ id: other }, { logins: 3, plan: 'team' }),
    ]);
    expect(engine.fake.findPerson('id', other)?.attributes).toEqual({ logins: 3, plan: 'team' });
  });

  it('a dry run keeps snapshots of its own: going live, Customer.io gets what it never had', async () => {
    const source = 'amp-dry-run';
    const yaml = `    users: { send: true, properties: [logins, plan] }`;
    const syncId = await sync(source, yaml, uniqueId(source), 'cio-dry');
    const user = uniqueId('amp-dry');
    const client = await amplitudeClient(ingest.url, source);
    const captured = async () =>
      (await engine.store.listCapturedRequests(syncId))
        .flatMap((r) => (r.body as { batch: Item[] }).batch)
        .filter((op) => JSON.stringify(op).includes(user));
    client.identify(new Identify().add('logins', 1).set('plan', 'pro'), { user_id: user, time: AT });
    await client.flush().promise;
    await settled(syncId, source);
    client.identify(new Identify().add('logins', 1).set('plan', 'pro'), { user_id: user, time: AT + 1 });
    await client.flush().promise;
    await settled(syncId, source);
    expect(await captured()).toEqual([
      identifyOf({ id: user }, { logins: 1, plan: 'pro' }),
      identifyOf({ id: user }, { logins: 2 }),
    ]);
    expect(identifies(user)).toEqual([]);

    // Switch while paused, so that no delivery of the old config is still waiting for records.
    const handle = engine.client.workflow.getHandle(`stream-sync/${syncId}`);
    await handle.signal(pauseSignal);
    await eventually(async () => !(await status(syncId)).delivering);
    await sync(source, yaml, syncId, 'cio');
    await handle.signal(resumeSignal);
    client.identify(new Identify().add('logins', 1), { user_id: user, time: AT + 2 });
    await client.flush().promise;
    await settled(syncId, source);
    expect(identifies(user)).toEqual([identifyOf({ id: user }, { logins: 3, plan: 'pro' })]);
  });
});
