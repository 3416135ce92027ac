import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeCustomerIo } from './index.ts';
import type { FakeCustomerIo } from './index.ts';

// The fake is exercised with plain fetch, independent of src/customerio/client.ts.

const SITE = 'site';
const KEY = 'key';
const APP = 'app';
const BASIC = `Basic ${Buffer.from(`${SITE}:${KEY}`).toString('base64')}`;
const BEARER = `Bearer ${APP}`;

let fake: FakeCustomerIo;

beforeAll(async () => {
  fake = await startFakeCustomerIo({ siteId: SITE, trackApiKey: KEY, appApiKey: APP });
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.close();
});

interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  auth: string | null = path.startsWith('/api/') ? BASIC : BEARER,
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth !== null) headers['authorization'] = auth;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${fake.url}${path}`, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

const batch = (ops: unknown[]) => call('POST', '/api/v2/batch', { batch: ops });
const person = (id: string, action: string, extra: Record<string, unknown> = {}) => ({
  type: 'person',
  identifiers: { id },
  action,
  ...extra,
});

describe('auth', () => {
  it('Track needs Basic site:key', async () => {
    expect((await call('GET', '/api/v1/accounts/region')).status).toBe(200);
    expect((await call('GET', '/api/v1/accounts/region', undefined, null)).status).toBe(401);
    const wrong = `Basic ${Buffer.from(`${SITE}:nope`).toString('base64')}`;
    expect((await call('GET', '/api/v1/accounts/region', undefined, wrong)).status).toBe(401);
    const bearer = await call('GET', '/api/v1/accounts/region', undefined, `Bearer ${KEY}`);
    expect(bearer.status).toBe(401);
    expect(bearer.text).toBe('Unauthorized request');
  });

  it('App needs Bearer app key; Basic on App is refused', async () => {
    expect((await call('GET', '/v1/segments')).status).toBe(200);
    expect((await call('GET', '/v1/segments', undefined, BASIC)).status).toBe(401);
    expect((await call('GET', '/v1/segments', undefined, 'Bearer other')).status).toBe(401);
  });

  it('credentials can change at runtime; reset restores the initial ones', async () => {
    fake.setCredentials({ siteId: 'new-site', trackApiKey: 'new-key', appApiKey: 'new-app' });
    expect((await call('GET', '/api/v1/accounts/region')).status).toBe(401);
    const fresh = `Basic ${Buffer.from('new-site:new-key').toString('base64')}`;
    expect((await call('GET', '/api/v1/accounts/region', undefined, fresh)).status).toBe(200);
    expect((await call('GET', '/v1/segments', undefined, 'Bearer new-app')).status).toBe(200);
    fake.reset();
    expect((await call('GET', '/api/v1/accounts/region')).status).toBe(200);
  });

  it('a failed auth changes nothing', async () => {
    await call('POST', '/api/v2/batch', { batch: [person('u1', 'identify')] }, null);
    expect(fake.people.size).toBe(0);
  });
});

describe('region and success shapes', () => {
  it('GET /api/v1/accounts/region', async () => {
    const res = await call('GET', '/api/v1/accounts/region');
    expect(res.body).toEqual({ url: 'https://track.customer.io', region: 'us', environment_id: 1 });
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });

  it('v1 writes answer 200 {}', async () => {
    const res = await call('PUT', '/api/v1/customers/u1', {
      email: 'u1@x.io',
      plan: 'pro',
      created_at: 1_700_000_000,
    });
    expect(res).toMatchObject({ status: 200, text: '{}' });
    expect(fake.findPerson('id', 'u1')).toMatchObject({
      id: 'u1',
      email: 'u1@x.io',
      attributes: { plan: 'pro', created_at: 1_700_000_000 },
    });
  });

  it('unknown routes answer 404', async () => {
    expect((await call('GET', '/api/v1/nope')).status).toBe(404);
    expect((await call('GET', '/v1/nope')).status).toBe(404);
    expect((await call('GET', '/elsewhere')).status).toBe(404);
  });
});

describe('people, events, devices', () => {
  it("an identify timed before the profile's last update is dropped; a new person takes it", async () => {
    await batch([person('u1', 'identify', { attributes: { plan: 'pro' } })]);
    await batch([person('u1', 'identify', { attributes: { plan: 'free' }, timestamp: 1_600_000_000 })]);
    expect(fake.findPerson('id', 'u1')!.attributes).toEqual({ plan: 'pro' });
    expect(fake.drops.map((d) => d.reason)).toContain("identify: older than the profile's last update");
    await batch([person('u2', 'identify', { attributes: { plan: 'basic' }, timestamp: 1_600_000_000 })]);
    await batch([person('u2', 'identify', { attributes: { plan: 'team' }, timestamp: 1_600_000_100 })]);
    expect(fake.findPerson('id', 'u2')!.attributes).toEqual({ plan: 'team' });
  });

  it('identify merges attributes across calls and supports cio_id', async () => {
    await batch([person('u1', 'identify', { attributes: { a: 1, b: 2 } })]);
    await call('PUT', '/api/v1/customers/u1', { b: 3, c: 4 });
    const p = fake.findPerson('id', 'u1')!;
    expect(p.attributes).toEqual({ a: 1, b: 3, c: 4 });

    await batch([
      { type: 'person', identifiers: { cio_id: p.cio_id }, action: 'identify', attributes: { d: 5 } },
    ]);
    await call('PUT', `/api/v1/customers/cio_${p.cio_id}`, { e: 6 });
    expect(fake.people.size).toBe(1);
    expect(p.attributes).toEqual({ a: 1, b: 3, c: 4, d: 5, e: 6 });

    // An unknown cio_id is accepted but dropped, as Customer.io does.
    const res = await call('PUT', '/api/v1/customers/cio_ffff', { x: 1 });
    expect(res.status).toBe(200);
    expect(fake.people.size).toBe(1);
    expect(fake.drops).toEqual([{ requestSeq: 4, reason: 'identify: unknown cio_id' }]);
  });

  it('an attribute sent as null is removed; an empty string is a value', async () => {
    await batch([person('u1', 'identify', { attributes: { a: 1, b: 2, c: 3 } })]);
    await batch([person('u1', 'identify', { attributes: { a: null, b: '' } })]);
    await call('PUT', '/api/v1/customers/u1', { c: null, d: null });
    expect(fake.findPerson('id', 'u1')!.attributes).toEqual({ b: '' });
  });

  it('_update on an unknown person is a silent no-op', async () => {
    const res = await batch([person('ghost', 'identify', { attributes: { _update: true, a: 1 } })]);
    expect(res.status).toBe(200);
    expect(fake.people.size).toBe(0);
  });

  it('stores events, page and screen views, and devices', async () => {
    await batch([
      person('u1', 'event', { name: 'Bought', id: '01J0000000000000000000000A', attributes: { total: 3 } }),
      person('u1', 'page', { name: '/pricing' }),
      person('u1', 'screen', { name: 'Home' }),
      person('u1', 'add_device', { device: { token: 'tok', platform: 'ios', last_used: 1_700_000_000 } }),
    ]);
    await call('POST', '/api/v1/customers/u2/events', { name: 'Signed Up', data: { via: 'v1' } });
    await call('POST', '/api/v1/events', { name: 'Anon', anonymous_id: 'anon-1' });
    expect(fake.events.map((e) => [e.type, e.name, e.identifier?.value ?? e.anonymousId, e.via])).toEqual([
      ['event', 'Bought', 'u1', 'v2'],
      ['page', '/pricing', 'u1', 'v2'],
      ['screen', 'Home', 'u1', 'v2'],
      ['event', 'Signed Up', 'u2', 'v1'],
      ['event', 'Anon', 'anon-1', 'v1'],
    ]);
    expect(fake.events[0]!.data).toEqual({ total: 3 });
    expect(fake.pageViews.map((e) => e.name)).toEqual(['/pricing']);
    expect(fake.screenViews.map((e) => e.name)).toEqual(['Home']);
    expect(fake.devices.get('tok')).toMatchObject({
      platform: 'ios',
      identifier: { type: 'id', value: 'u1' },
    });
    await batch([person('u1', 'delete_device', { device: { token: 'tok' } })]);
    expect(fake.devices.size).toBe(0);
  });

  it('deduplicates events by id: 200, applied once', async () => {
    const ev = person('u1', 'event', { name: 'Bought', id: '01J00000000000000000000001' });
    expect((await batch([ev])).status).toBe(200);
    expect((await batch([ev])).status).toBe(200);
    const v1 = await call('POST', '/api/v1/customers/u1/events', {
      name: 'Bought',
      id: '01J00000000000000000000001',
    });
    expect(v1.status).toBe(200);
    expect(fake.events).toHaveLength(1);
    expect(fake.duplicateEvents).toHaveLength(2);
    // Events without an id cannot be deduplicated.
    await batch([person('u1', 'event', { name: 'NoId' }), person('u1', 'event', { name: 'NoId' })]);
    expect(fake.events).toHaveLength(3);
  });

  it('suppress deletes the person and blocks later writes', async () => {
    await batch([person('u1', 'identify', { attributes: { a: 1 } })]);
    await call('POST', '/api/v1/customers/u1/suppress');
    await batch([person('u1', 'identify', { attributes: { a: 2 } }), person('u1', 'event', { name: 'x' })]);
    expect(fake.people.size).toBe(0);
    expect(fake.events).toHaveLength(0);
    await call('POST', '/api/v1/customers/u1/unsuppress');
    await batch([person('u1', 'identify', { attributes: { a: 3 } })]);
    expect(fake.findPerson('id', 'u1')?.attributes).toEqual({ a: 3 });
  });

  it('v2 delete removes the person with devices, segment memberships and relationships; an identify creates a new one', async () => {
    const segment = fake.seedSegment({ name: 'S' });
    await batch([
      person('u1', 'identify', { attributes: { a: 1 } }),
      person('u1', 'add_device', { device: { token: 'tok', platform: 'ios' } }),
      {
        type: 'object',
        action: 'identify',
        identifiers: { object_type_id: '1', object_id: 'acme' },
        attributes: { name: 'Acme' },
        cio_relationships: [{ identifiers: { id: 'u1' } }],
      },
    ]);
    await call('POST', `/api/v1/segments/${segment.id}/add_customers`, { ids: ['u1'] });
    const before = fake.findPerson('id', 'u1')!.cio_id;
    expect(fake.objects.get('1:acme')?.relationships).toEqual([{ type: 'id', value: 'u1' }]);

    expect((await batch([person('u1', 'delete'), person('nobody', 'delete')])).status).toBe(200);
    expect(fake.people.size).toBe(0);
    expect(fake.devices.size).toBe(0);
    expect(fake.segmentMembers(segment.id)).toEqual([]);
    expect(fake.objects.get('1:acme')).toMatchObject({ attributes: { name: 'Acme' }, relationships: [] });
    expect(fake.drops).toEqual([{ requestSeq: 2, reason: 'batch[1]: delete: person not found' }]);

    // Deleting does not block: a later identify creates a new person (research notes pitfall 11).
    await batch([person('u1', 'identify', { attributes: { b: 2 } })]);
    expect(fake.findPerson('id', 'u1')).toMatchObject({ attributes: { b: 2 } });
    expect(fake.findPerson('id', 'u1')?.cio_id).not.toBe(before);
  });

  it('v2 suppress blocks both identifiers of the person until unsuppress frees them; the profile is not restored', async () => {
    await batch([person('u1', 'identify', { attributes: { email: 'ann@example.com', a: 1 } })]);
    await batch([person('u1', 'suppress')]);
    expect(fake.suppressed).toEqual(new Set(['id:u1', 'email:ann@example.com']));
    await batch([
      { type: 'person', identifiers: { email: 'Ann@Example.com' }, action: 'identify', attributes: { a: 2 } },
      person('u1', 'event', { name: 'x' }),
      person('u1', 'add_device', { device: { token: 'tok', platform: 'ios' } }),
    ]);
    expect([fake.people.size, fake.events.length, fake.devices.size]).toEqual([0, 0, 0]);
    expect(fake.drops.map((d) => d.reason)).toEqual([
      'identify: identifier suppressed',
      'batch[1]: identifier suppressed',
      'batch[2]: identifier suppressed',
    ]);

    await batch([person('u1', 'unsuppress')]);
    expect(fake.suppressed).toEqual(new Set());
    await batch([person('u1', 'identify', { attributes: { b: 3 } })]);
    expect(fake.findPerson('id', 'u1')?.attributes).toEqual({ b: 3 });
  });

  it('object delete and delete_relationships', async () => {
    const object = { object_type_id: '2', object_id: 'acme' };
    await batch([
      {
        type: 'object',
        action: 'identify',
        identifiers: object,
        attributes: {},
        cio_relationships: [{ identifiers: { id: 'u1' } }, { identifiers: { email: 'b@x.io' } }],
      },
    ]);
    await batch([
      {
        type: 'object',
        action: 'delete_relationships',
        identifiers: object,
        cio_relationships: [{ identifiers: { id: 'u1' } }],
      },
    ]);
    expect(fake.objects.get('2:acme')?.relationships).toEqual([{ type: 'email', value: 'b@x.io' }]);
    await batch([{ type: 'object', action: 'delete', identifiers: object }]);
    expect(fake.objects.size).toBe(0);
    await batch([{ type: 'object', action: 'delete', identifiers: object }]);
    expect(fake.drops).toEqual([{ requestSeq: 3, reason: 'object delete: object not found' }]);
  });

  it('merge keeps the primary and drops the secondary', async () => {
    await batch([
      person('p', 'identify', { attributes: { a: 1 } }),
      person('s', 'identify', { attributes: { a: 9, b: 2 } }),
    ]);
    const bad = await call('POST', '/api/v1/merge_customers', {
      primary: { id: 'p', email: 'p@x.io' },
      secondary: { id: 's' },
    });
    expect(bad).toMatchObject({
      status: 400,
      body: { meta: { error: expect.stringMatching(/^primary: exactly one/) } },
    });
    expect(
      (await call('POST', '/api/v1/merge_customers', { primary: { id: 'p' }, secondary: { id: 's' } }))
        .status,
    ).toBe(200);
    expect(fake.findPerson('id', 's')).toBeUndefined();
    expect(fake.findPerson('id', 'p')?.attributes).toEqual({ a: 1, b: 2 });
  });
});

describe('v2 batch limits → 207 item errors, other items applied', () => {
  it('reports each bad item at its batch_index', async () => {
    const ops = [
      person('ok-0', 'identify', { attributes: { a: 1 } }),
      person('x'.repeat(151), 'identify'), // id > 150 bytes
      person('ok-2', 'event', { name: 'n'.repeat(101) }), // event name > 100 bytes
      person('ok-3', 'event', { name: 'big', attributes: { pad: 'p'.repeat(25_000) } }), // fits 32 KB item
      person('ok-4', 'identify', { attributes: { v: 'v'.repeat(1001) } }), // value > 1000 bytes
      person('ok-5', 'identify', {
        attributes: Object.fromEntries(Array.from({ length: 301 }, (_, i) => [`a${i}`, i])),
      }), // > 300 attributes
      { type: 'person', identifiers: {}, action: 'identify' }, // no identifier
      { type: 'person', identifiers: { id: 'a', email: 'a@x.io' }, action: 'identify' }, // two identifiers
      person('ok-8', 'event', { name: 'huge', attributes: { pad: 'p'.repeat(33_000) } }), // item > 32 KB
      person('ok-9', 'event', { name: 'last' }),
      person('ok-10', 'frobnicate'),
    ];
    const res = await batch(ops);
    expect(res.status).toBe(207);
    const errors = (res.body as { errors: Array<{ batch_index: number; field: string; reason: string }> })
      .errors;
    expect(errors.map((e) => [e.batch_index, e.reason, e.field])).toEqual([
      [1, 'too_long', 'identifiers.id'],
      [2, 'invalid', 'name'],
      [4, 'invalid', 'attributes'],
      [5, 'invalid', 'attributes'],
      [6, 'invalid', 'identifiers'],
      [7, 'invalid', 'identifiers'],
      [8, 'too_large', ''],
      [10, 'invalid', 'action'],
    ]);
    expect(fake.findPerson('id', 'ok-0')).toBeDefined();
    expect(fake.findPerson('id', 'ok-4')).toBeUndefined();
    expect(fake.events.map((e) => e.name)).toEqual(['big', 'last']);
  });

  it('event data > 100,000 bytes is an item error (v2) and a 400 (v1)', async () => {
    const data = { pad: 'p'.repeat(100_000) };
    // v2 items are capped at 32 KB first, so raise that cap to reach the event-data check.
    const roomy = await startFakeCustomerIo({
      siteId: SITE,
      trackApiKey: KEY,
      limits: { itemBytes: 200_000 },
    });
    try {
      const res = await fetch(`${roomy.url}/api/v2/batch`, {
        method: 'POST',
        headers: { authorization: BASIC, 'content-type': 'application/json' },
        body: JSON.stringify({ batch: [person('u', 'event', { name: 'e', attributes: data })] }),
      });
      expect(res.status).toBe(207);
      expect(await res.json()).toEqual({
        errors: [
          {
            batch_index: 0,
            reason: 'invalid',
            field: 'attributes',
            message: 'event data cannot be larger than 100000 bytes',
          },
        ],
      });
    } finally {
      await roomy.close();
    }
    const v1 = await call('POST', '/api/v1/customers/u/events', { name: 'e', data });
    expect(v1).toMatchObject({
      status: 400,
      body: { meta: { errors: ['event data cannot be larger than 100000 bytes'] } },
    });
  });

  it('whole batch > 500,000 bytes → 400 (413 optional), nothing applied', async () => {
    const ops = Array.from({ length: 20 }, (_, i) =>
      person(`u${i}`, 'event', { name: 'e', attributes: { p: 'x'.repeat(25_000) } }),
    );
    const res = await batch(ops);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ errors: [{ reason: 'too_large', field: 'batch' }] });
    expect(fake.events).toHaveLength(0);

    const strict = await startFakeCustomerIo({ siteId: SITE, trackApiKey: KEY, oversizeStatus: 413 });
    try {
      const r = await fetch(`${strict.url}/api/v2/batch`, {
        method: 'POST',
        headers: { authorization: BASIC },
        body: JSON.stringify({ batch: ops }),
      });
      expect(r.status).toBe(413);
    } finally {
      await strict.close();
    }
  });

  it('malformed JSON → 400 { errors: [...] }', async () => {
    const res = await call('POST', '/api/v2/batch', '{"batch": [');
    expect(res).toMatchObject({ status: 400, body: { errors: [{ reason: 'invalid_json' }] } });
    const notArray = await call('POST', '/api/v2/batch', { batch: {} });
    expect(notArray).toMatchObject({ status: 400, body: { errors: [{ field: 'batch' }] } });
    const v1 = await call('PUT', '/api/v1/customers/u1', 'nope');
    expect(v1).toMatchObject({ status: 400, body: { meta: { errors: ['invalid JSON body'] } } });
  });

  it('entity: a bad op or > 32 KB is a 400', async () => {
    expect(
      (await call('POST', '/api/v2/entity', person('u1', 'identify', { attributes: { a: 1 } }))).status,
    ).toBe(200);
    const two = await call('POST', '/api/v2/entity', {
      type: 'person',
      identifiers: { id: 'a', email: 'b@x.io' },
      action: 'identify',
    });
    expect(two).toMatchObject({ status: 400, body: { errors: [{ field: 'identifiers' }] } });
    const big = await call(
      'POST',
      '/api/v2/entity',
      person('u1', 'event', { name: 'e', attributes: { p: 'x'.repeat(32_000) } }),
    );
    expect(big).toMatchObject({ status: 400, body: { errors: [{ reason: 'too_large' }] } });
  });

  it('v1 identify limits answer 400 meta.errors', async () => {
    const res = await call('PUT', '/api/v1/customers/u1', { myAttribute: 'x'.repeat(1001) });
    expect(res).toMatchObject({
      status: 400,
      body: { meta: { errors: ["value for attribute 'myAttribute' cannot be longer than 1000 bytes"] } },
    });
    const long = await call('PUT', `/api/v1/customers/${'i'.repeat(151)}`, {});
    expect(long.status).toBe(400);
  });
});

describe('timestamps', () => {
  it('flags milliseconds, ISO strings and fractions; accepts integer seconds', async () => {
    await batch([
      person('u1', 'event', { name: 'ok', timestamp: 1_700_000_000 }),
      person('u1', 'event', { name: 'ms', timestamp: 1_700_000_000_000 }),
      person('u1', 'event', { name: 'iso', timestamp: '2026-01-01T00:00:00Z' }),
      person('u1', 'identify', { attributes: { created_at: 1_700_000_000.5 } }),
      person('u1', 'add_device', {
        device: { token: 't', platform: 'android', last_used: 1_700_000_000_000 },
      }),
    ]);
    await call('PUT', '/api/v1/customers/u2', { created_at: '1700000000' });
    await call('POST', '/api/v1/customers/u2/events', { name: 'e', timestamp: 1_700_000_000 });
    expect(fake.timestampViolations.map((v) => [v.field, v.reason])).toEqual([
      ['batch[1].timestamp', 'milliseconds'],
      ['batch[2].timestamp', 'string'],
      ['batch[3].attributes.created_at', 'not_integer'],
      ['batch[4].device.last_used', 'milliseconds'],
      ['created_at', 'string'],
    ]);
  });
});

describe('segments', () => {
  it('App API creates manual segments with incrementing ids, lists and gets them', async () => {
    const a = await call('POST', '/v1/segments', { segment: { name: 'A', description: 'first' } });
    const b = await call('POST', '/v1/segments', { segment: { name: 'B' } });
    expect(a.body).toMatchObject({
      segment: { id: 1, name: 'A', description: 'first', type: 'manual', tags: [] },
    });
    expect(b.body).toMatchObject({ segment: { id: 2, name: 'B', type: 'manual' } });
    expect((await call('GET', '/v1/segments')).body).toMatchObject({ segments: [{ id: 1 }, { id: 2 }] });
    expect((await call('GET', '/v1/segments/2')).body).toMatchObject({ segment: { id: 2, name: 'B' } });
    const missing = await call('GET', '/v1/segments/3');
    expect(missing).toMatchObject({
      status: 404,
      body: { errors: [{ detail: 'segment not found', status: '404' }] },
    });
    expect((await call('POST', '/v1/segments', { segment: {} })).status).toBe(400);
  });

  it('tracks membership by id_type and which ids were never identified', async () => {
    const seg = fake.seedSegment({ name: 'S' });
    await batch([person('known', 'identify', { attributes: { email: 'k@x.io' } })]);
    const add = await call('POST', `/api/v1/segments/${seg.id}/add_customers`, {
      ids: ['known', 'stranger'],
    });
    expect(add).toMatchObject({ status: 200, text: '{}' });
    await call('POST', `/api/v1/segments/${seg.id}/add_customers?id_type=email`, {
      ids: ['k@x.io', 'not-an-email'],
    });
    // Unknown people are ignored by a segment add, as Customer.io does: only `known` is a member.
    expect(fake.segmentMembers(seg.id)).toEqual([{ idType: 'id', value: 'known' }]);
    expect(fake.unidentifiedSegmentIds).toMatchObject([
      { segmentId: seg.id, idType: 'id', value: 'stranger' },
    ]);
    expect(fake.ignoredSegmentIds).toMatchObject([{ idType: 'email', value: 'not-an-email' }]);
    expect((await call('GET', `/v1/segments/${seg.id}/customer_count`)).body).toEqual({
      segment_id: seg.id,
      count: 1,
    });

    // Removing by email removes the member added by id: membership is per person.
    await call('POST', `/api/v1/segments/${seg.id}/remove_customers?id_type=email`, { ids: ['K@x.io'] });
    expect(fake.segmentMemberValues(seg.id)).toEqual([]);
  });

  it('rejects 0 or > 1000 ids, bad id_type, unknown and data-driven segments', async () => {
    const seg = fake.seedSegment({ name: 'S' });
    const dyn = fake.seedSegment({ name: 'D', type: 'dynamic' });
    const empty = await call('POST', `/api/v1/segments/${seg.id}/add_customers`, { ids: [] });
    expect(empty).toMatchObject({
      status: 400,
      body: { meta: { errors: ['ids must contain at least 1 item'] } },
    });
    const many = Array.from({ length: 1001 }, (_, i) => `u${i}`);
    const tooMany = await call('POST', `/api/v1/segments/${seg.id}/remove_customers`, { ids: many });
    expect(tooMany).toMatchObject({
      status: 400,
      body: { meta: { errors: ['ids must contain at most 1000 items'] } },
    });
    const ok = await call('POST', `/api/v1/segments/${seg.id}/add_customers`, { ids: many.slice(0, 1000) });
    expect(ok.status).toBe(200);
    expect(
      (await call('POST', `/api/v1/segments/${seg.id}/add_customers?id_type=phone`, { ids: ['1'] })).status,
    ).toBe(400);
    expect((await call('POST', '/api/v1/segments/999/add_customers', { ids: ['1'] })).status).toBe(404);
    const dynamic = await call('POST', `/api/v1/segments/${dyn.id}/add_customers`, { ids: ['1'] });
    expect(dynamic).toMatchObject({
      status: 400,
      body: { meta: { errors: [`segment ${dyn.id} is not a manual segment`] } },
    });
  });

  it('pages membership and deletes manual segments', async () => {
    const seg = fake.seedSegment({ name: 'S' });
    for (const id of ['a', 'b', 'c']) fake.seedPerson({ id });
    await call('POST', `/api/v1/segments/${seg.id}/add_customers`, { ids: ['a', 'b', 'c'] });
    const page1 = await call('GET', `/v1/segments/${seg.id}/membership?limit=2`);
    expect(page1.body).toMatchObject({ ids: ['a', 'b'], next: '2' });
    const page2 = await call('GET', `/v1/segments/${seg.id}/membership?limit=2&start=2`);
    expect(page2.body).toEqual({
      ids: ['c'],
      identifiers: [{ id: 'c', email: '', cio_id: expect.any(String) }],
    });
    expect((await call('GET', `/v1/segments/${seg.id}/membership?limit=30001`)).status).toBe(400);
    const del = await call('DELETE', `/v1/segments/${seg.id}`);
    expect(del).toMatchObject({ status: 204, text: '' });
    expect((await call('DELETE', `/v1/segments/${seg.id}`)).status).toBe(404);
  });
});

describe('scripted faults', () => {
  it('failNext answers the given status for n requests, with Retry-After and body', async () => {
    fake.script.failNext(2, { status: 429, retryAfter: 7 });
    fake.script.failNext(1, {
      status: 503,
      retryAfter: new Date('2030-01-01T00:00:00Z'),
      body: { meta: { error: 'down' } },
    });
    const r1 = await batch([person('u1', 'identify')]);
    const r2 = await batch([person('u1', 'identify')]);
    const r3 = await batch([person('u1', 'identify')]);
    const r4 = await batch([person('u1', 'identify')]);
    expect([r1.status, r2.status, r3.status, r4.status]).toEqual([429, 429, 503, 200]);
    expect(r1.headers.get('retry-after')).toBe('7');
    expect(r3.headers.get('retry-after')).toBe('Tue, 01 Jan 2030 00:00:00 GMT');
    expect(r3.body).toEqual({ meta: { error: 'down' } });
    expect(fake.requests.map((r) => [r.status, r.fault])).toEqual([
      [429, 'fail'],
      [429, 'fail'],
      [503, 'fail'],
      [200, undefined],
    ]);
    expect(fake.people.size).toBe(1); // only the last one was applied
  });

  it('failNext without Retry-After sends none; applied faults change state', async () => {
    fake.script.failNext(1, { status: 500, applied: true });
    const res = await batch([person('u1', 'event', { name: 'e', id: '01J00000000000000000000009' })]);
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(fake.events).toHaveLength(1);
  });

  it('faults can target a path', async () => {
    fake.script.failNext(1, { status: 502, path: '/v1/segments' });
    expect((await call('GET', '/api/v1/accounts/region')).status).toBe(200);
    expect((await call('GET', '/v1/segments')).status).toBe(502);
    expect(fake.script.pending()).toBe(0);
  });

  it('delayNext answers late but applies at once', async () => {
    fake.script.delayNext(1, 200);
    const started = Date.now();
    const pending = batch([person('u1', 'identify')]);
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.people.size).toBe(1);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(fake.requests[0]!.fault).toBe('delay');
  });

  it('resetConnectionNext resets the TCP connection and applies nothing', async () => {
    fake.script.resetConnectionNext(1);
    await expect(batch([person('u1', 'identify')])).rejects.toThrow();
    expect(fake.requests[0]).toMatchObject({ status: 0, fault: 'reset' });
    expect(fake.people.size).toBe(0);
    expect((await batch([person('u1', 'identify')])).status).toBe(200);
  });

  it('script.clear drops pending faults', () => {
    fake.script.failNext(3, { status: 500 });
    fake.script.resetConnectionNext(2);
    expect(fake.script.pending()).toBe(5);
    fake.script.clear();
    expect(fake.script.pending()).toBe(0);
  });
});

describe('rate limit', () => {
  it('answers 429 above the per-second limit, per API', async () => {
    fake.setRateLimit({ trackPerSecond: 2, appPerSecond: 1 });
    const track = [];
    for (let i = 0; i < 3; i++) track.push((await call('GET', '/api/v1/accounts/region')).status);
    const app = [(await call('GET', '/v1/segments')).status, (await call('GET', '/v1/segments')).status];
    expect(track).toEqual([200, 200, 429]);
    expect(app).toEqual([200, 429]);
    expect(fake.requests.filter((r) => r.fault === 'rate_limit')).toHaveLength(2);
    const throttled = fake.requests.find((r) => r.api === 'app' && r.status === 429)!;
    expect(throttled.responseBody).toEqual({
      errors: [{ detail: 'Your request is over the 1-per-second limit', status: '429' }],
    });
  });

  it('recovers after a second and can send Retry-After', async () => {
    fake.setRateLimit({ trackPerSecond: 1, retryAfter: 1 });
    expect((await call('GET', '/api/v1/accounts/region')).status).toBe(200);
    const limited = await call('GET', '/api/v1/accounts/region');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    await new Promise((r) => setTimeout(r, 1050));
    expect((await call('GET', '/api/v1/accounts/region')).status).toBe(200);
  });
});

describe('request recording', () => {
  it('records method, raw and decoded path, query, lower-case headers, body and status', async () => {
    const seg = fake.seedSegment({ name: 'S' });
    await fetch(`${fake.url}/api/v1/segments/${seg.id}/add_customers?id_type=email`, {
      method: 'POST',
      headers: { Authorization: BASIC, 'X-Retry-Count': '2', 'Content-Type': 'application/json' },
      body: JSON.stringify({ ids: ['a@x.io'] }),
    });
    await call('POST', `/api/v1/customers/${encodeURIComponent('a b/c')}/events`, { name: 'e' });
    expect(fake.requests[0]).toMatchObject({
      seq: 0,
      api: 'track',
      method: 'POST',
      rawPath: `/api/v1/segments/${seg.id}/add_customers`,
      path: `/api/v1/segments/${seg.id}/add_customers`,
      query: { id_type: 'email' },
      headers: { authorization: BASIC, 'x-retry-count': '2', 'content-type': 'application/json' },
      body: { ids: ['a@x.io'] },
      bodyText: '{"ids":["a@x.io"]}',
      status: 200,
      responseBody: {},
    });
    expect(fake.requests[1]).toMatchObject({
      rawPath: '/api/v1/customers/a%20b%2Fc/events',
      path: '/api/v1/customers/a b/c/events',
      status: 200,
    });
    expect(fake.events[0]!.identifier).toEqual({ type: 'id', value: 'a b/c' });
    expect(fake.requestsTo(/\/events$/, 'POST')).toHaveLength(1);
  });
});
