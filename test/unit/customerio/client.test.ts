import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeCustomerIo } from '../../fakes/customerio/index.ts';
import type { FakeCustomerIo } from '../../fakes/customerio/index.ts';
import { CustomerIoClient, detectRegion, redactHeaders, USER_AGENT } from '../../../src/customerio/client.ts';
import type { CioRequest, CustomerIoClientOptions } from '../../../src/customerio/client.ts';
import { isAuthFailure } from '../../../src/customerio/classify.ts';
import { resolveHosts } from '../../../src/customerio/hosts.ts';

const SITE = 'site-123';
const TRACK_KEY = 'track-secret-key';
const APP_KEY = 'app-secret-key';
const BASIC = `Basic ${Buffer.from(`${SITE}:${TRACK_KEY}`).toString('base64')}`;

let fake: FakeCustomerIo;
const clients: CustomerIoClient[] = [];

function client(overrides: Partial<CustomerIoClientOptions> = {}): CustomerIoClient {
  const c = new CustomerIoClient({
    hosts: resolveHosts('us', fake.hosts),
    siteId: SITE,
    trackApiKey: TRACK_KEY,
    appApiKey: APP_KEY,
    ...overrides,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  fake = await startFakeCustomerIo({
    siteId: SITE,
    trackApiKey: TRACK_KEY,
    appApiKey: APP_KEY,
    environmentId: 77,
  });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  fake.reset();
});

afterAll(async () => {
  await fake.close();
});

const eventOp = (id: string, name = 'Signed Up', extra: Record<string, unknown> = {}) => ({
  type: 'person',
  identifiers: { id },
  action: 'event',
  id: `01HZX${id.toUpperCase().padStart(21, '0')}`,
  name,
  timestamp: 1_760_000_000,
  attributes: { plan: 'pro' },
  ...extra,
});

describe('hosts', () => {
  it('resolves regions and overrides', () => {
    expect(resolveHosts('us')).toEqual({
      trackUrl: 'https://track.customer.io',
      appUrl: 'https://api.customer.io',
    });
    expect(resolveHosts('eu')).toEqual({
      trackUrl: 'https://track-eu.customer.io',
      appUrl: 'https://api-eu.customer.io',
    });
    expect(resolveHosts('eu', { trackUrl: 'http://127.0.0.1:9/' })).toEqual({
      trackUrl: 'http://127.0.0.1:9',
      appUrl: 'https://api-eu.customer.io',
    });
    expect(() => resolveHosts('us', { appUrl: 'not a url' })).toThrow(/appUrl override is not a valid URL/);
    expect(() => resolveHosts('us', { appUrl: 'https://u:p@x.io' })).toThrow(/must not embed credentials/);
    expect(() => resolveHosts('ap' as 'us')).toThrow(/unknown Customer.io region/);
  });
});

describe('CustomerIoClient requests', () => {
  it('batch: POST /api/v2/batch with Basic auth, JSON body and user agent', async () => {
    const ops = [
      eventOp('u1'),
      { type: 'person', identifiers: { id: 'u2' }, action: 'identify', attributes: { a: 1 } },
    ];
    const result = await client().batch(ops);

    expect(result.outcome).toEqual({ kind: 'ok', status: 200, body: {} });
    expect(result.durationMs).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.rawPath).toBe('/api/v2/batch');
    expect(req.headers['authorization']).toBe(BASIC);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['user-agent']).toBe(USER_AGENT);
    expect(USER_AGENT).toMatch(/^cio-sync\/\d+\.\d+\.\d+/);
    expect(req.body).toEqual({ batch: ops });
    expect(req.bodyText).toBe(JSON.stringify({ batch: ops }));
    expect(fake.events.map((e) => [e.name, e.identifier])).toEqual([
      ['Signed Up', { type: 'id', value: 'u1' }],
    ]);
    expect(fake.findPerson('id', 'u2')?.attributes).toEqual({ a: 1 });
    expect(fake.timestampViolations).toEqual([]);

    // What the caller gets back is safe to log.
    expect(result.request).toMatchObject({
      method: 'POST',
      url: `${fake.url}/api/v2/batch`,
      api: 'track',
      headers: { Authorization: '[redacted]', 'User-Agent': USER_AGENT, 'Content-Type': 'application/json' },
    });
    expect(JSON.stringify(result)).not.toContain(TRACK_KEY);
  });

  it('entity: POST /api/v2/entity with the operation as body', async () => {
    const op = {
      type: 'person',
      identifiers: { email: 'a@b.co' },
      action: 'identify',
      attributes: { x: 'y' },
    };
    const { outcome } = await client().entity(op);
    expect(outcome.kind).toBe('ok');
    expect(fake.requests[0]).toMatchObject({ method: 'POST', rawPath: '/api/v2/entity', body: op });
    expect(fake.findPerson('email', 'A@B.co')?.attributes).toEqual({ x: 'y' });
  });

  it('add/remove segment members: v1 paths, id_type query, { ids } body', async () => {
    const segment = fake.seedSegment({ name: 'Cohort' });
    fake.seedPerson({ id: 'u1' });
    fake.seedPerson({ id: 'u 2+x' });
    fake.seedPerson({ email: 'a+b@x.io' });
    const c = client();
    const add = await c.addToSegment(segment.id, ['u1', 'u 2+x'], 'id');
    const remove = await c.removeFromSegment(segment.id, ['u1']);
    const byEmail = await c.addToSegment(segment.id, ['a+b@x.io'], 'email');

    expect([add.outcome.kind, remove.outcome.kind, byEmail.outcome.kind]).toEqual(['ok', 'ok', 'ok']);
    expect(fake.requests.map((r) => [r.method, r.rawPath, r.query, r.body])).toEqual([
      ['POST', `/api/v1/segments/${segment.id}/add_customers`, { id_type: 'id' }, { ids: ['u1', 'u 2+x'] }],
      ['POST', `/api/v1/segments/${segment.id}/remove_customers`, { id_type: 'id' }, { ids: ['u1'] }],
      ['POST', `/api/v1/segments/${segment.id}/add_customers`, { id_type: 'email' }, { ids: ['a+b@x.io'] }],
    ]);
    expect(fake.requests[0]!.headers['authorization']).toBe(BASIC);
    expect(fake.segmentMemberValues(segment.id)).toEqual(['u 2+x', 'a+b@x.io']);
    expect(add.request.url).toBe(`${fake.url}/api/v1/segments/${segment.id}/add_customers?id_type=id`);
  });

  it('rejects empty and oversized id lists before sending anything', async () => {
    const c = client();
    await expect(c.addToSegment(1, [])).rejects.toThrow('add_customers needs at least one id');
    const many = Array.from({ length: 1001 }, (_, i) => `u${i}`);
    await expect(c.removeFromSegment(1, many)).rejects.toThrow(
      'remove_customers accepts at most 1000 ids per call, got 1001',
    );
    await expect(c.addToSegment('1/../2', ['u'])).rejects.toThrow(/invalid segment id/);
    await expect(c.batch([])).rejects.toThrow(/at least one operation/);
    expect(fake.requests).toHaveLength(0);
  });

  it('App API: createSegment, listSegments, getSegment with Bearer auth', async () => {
    const c = client();
    const created = await c.createSegment({ name: 'Power users', description: 'from cio-sync' });
    expect(created.outcome).toMatchObject({
      kind: 'ok',
      status: 200,
      body: { segment: { id: 1, name: 'Power users', description: 'from cio-sync', type: 'manual' } },
    });
    const second = await c.createSegment({ name: 'No description' });
    const listed = await c.listSegments();
    const one = await c.getSegment(2);
    const missing = await c.getSegment(99);

    expect(fake.requests.map((r) => [r.method, r.rawPath, r.headers['authorization'], r.body])).toEqual([
      [
        'POST',
        '/v1/segments',
        `Bearer ${APP_KEY}`,
        { segment: { name: 'Power users', description: 'from cio-sync' } },
      ],
      ['POST', '/v1/segments', `Bearer ${APP_KEY}`, { segment: { name: 'No description' } }],
      ['GET', '/v1/segments', `Bearer ${APP_KEY}`, undefined],
      ['GET', '/v1/segments/2', `Bearer ${APP_KEY}`, undefined],
      ['GET', '/v1/segments/99', `Bearer ${APP_KEY}`, undefined],
    ]);
    expect(second.request.api).toBe('app');
    expect(listed.outcome).toMatchObject({
      kind: 'ok',
      body: {
        segments: [
          { id: 1, name: 'Power users' },
          { id: 2, name: 'No description' },
        ],
      },
    });
    expect(one.outcome).toMatchObject({ kind: 'ok', body: { segment: { id: 2 } } });
    expect(missing.outcome).toMatchObject({ kind: 'permanent', status: 404, message: 'segment not found' });
  });

  it('deleteSegment answers 204 → ok with no body', async () => {
    const segment = fake.seedSegment({ name: 'Old' });
    const { outcome } = await client().deleteSegment(segment.id);
    expect(outcome).toEqual({ kind: 'ok', status: 204, body: undefined });
    expect(fake.segments.size).toBe(0);
  });

  it('App API calls need an App API key', async () => {
    const c = client({ appApiKey: undefined });
    await expect(c.createSegment({ name: 'x' })).rejects.toThrow(/needs an App API key/);
    await expect(c.listSegments()).rejects.toThrow(/needs an App API key/);
    await expect(c.createSegment({ name: ' ' })).rejects.toThrow(/segment name is required/);
    expect(fake.requests).toHaveLength(0);
  });

  it('getAccountRegion and detectRegion', async () => {
    const { outcome } = await client().getAccountRegion();
    expect(outcome).toEqual({
      kind: 'ok',
      status: 200,
      body: { url: 'https://track.customer.io', region: 'us', environment_id: 77 },
    });
    expect(fake.requests[0]).toMatchObject({ method: 'GET', rawPath: '/api/v1/accounts/region' });
    expect(fake.requests[0]!.headers['authorization']).toBe(BASIC);

    expect(await detectRegion(SITE, TRACK_KEY, { trackUrl: fake.url })).toBe('us');
    await expect(detectRegion(SITE, 'wrong-key', { trackUrl: fake.url })).rejects.toThrow(
      'Customer.io region lookup failed (HTTP 401): HTTP 401',
    );
  });

  it('detectRegion reports an EU workspace', async () => {
    const eu = await startFakeCustomerIo({ siteId: SITE, trackApiKey: TRACK_KEY, region: 'eu' });
    try {
      expect(await detectRegion(SITE, TRACK_KEY, { trackUrl: eu.url })).toBe('eu');
    } finally {
      await eu.close();
    }
  });

  it('percent-encodes path segments', async () => {
    // Segment ids are numeric, so encoding is visible only through the raw path staying clean.
    const segment = fake.seedSegment({ name: 's' });
    await client().addToSegment(String(segment.id), ['x']);
    expect(fake.requests[0]!.rawPath).toBe(`/api/v1/segments/${segment.id}/add_customers`);
  });
});

describe('CustomerIoClient outcomes', () => {
  it('207: bad items come back by batch_index, the others are applied', async () => {
    const ops = [
      eventOp('u1'),
      { type: 'person', identifiers: { id: 'u2', email: 'u2@x.io' }, action: 'identify', attributes: {} },
      eventOp('u3', 'n'.repeat(101)),
      eventOp('u4'),
    ];
    const { outcome } = await client().batch(ops);
    expect(outcome.kind).toBe('item_errors');
    if (outcome.kind !== 'item_errors') return;
    expect(outcome.status).toBe(207);
    expect(outcome.errors.map((e) => [e.batch_index, e.field])).toEqual([
      [1, 'identifiers'],
      [2, 'name'],
    ]);
    expect(fake.events.map((e) => e.identifier?.value)).toEqual(['u1', 'u4']);
  });

  it('429 with Retry-After → rate_limited with the wait', async () => {
    fake.script.failNext(1, { status: 429, retryAfter: 4 });
    const { outcome } = await client().batch([eventOp('u1')]);
    expect(outcome).toEqual({ kind: 'rate_limited', status: 429, message: 'HTTP 429', retryAfterMs: 4000 });
    expect(fake.events).toHaveLength(0);
  });

  it('429 from the per-workspace rate limit, with an HTTP-date Retry-After', async () => {
    fake.setRateLimit({ appPerSecond: 1, retryAfter: new Date(Date.now() + 60_000) });
    const c = client();
    const first = await c.listSegments();
    const second = await c.listSegments();
    expect(first.outcome.kind).toBe('ok');
    expect(second.outcome.kind).toBe('rate_limited');
    if (second.outcome.kind !== 'rate_limited') return;
    expect(second.outcome.message).toBe('Your request is over the 1-per-second limit');
    expect(second.outcome.retryAfterMs).toBeGreaterThan(55_000);
    expect(second.outcome.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it.each([500, 502, 503, 504])('%i → retryable', async (status) => {
    fake.script.failNext(1, { status, body: 'upstream trouble' });
    const { outcome } = await client().batch([eventOp('u1')]);
    expect(outcome).toEqual({
      kind: 'retryable',
      status,
      message: `HTTP ${status}`,
      body: 'upstream trouble',
    });
  });

  it('503 with Retry-After carries the wait', async () => {
    fake.script.failNext(1, { status: 503, retryAfter: 2 });
    const { outcome } = await client().entity(eventOp('u1'));
    expect(outcome).toEqual({ kind: 'retryable', status: 503, message: 'HTTP 503', retryAfterMs: 2000 });
  });

  it('a slow answer beyond the client timeout → retryable timeout; the write was applied anyway', async () => {
    fake.script.delayNext(1, 1000);
    const c = client({ timeoutMs: 150 });
    const result = await c.batch([eventOp('u1')]);
    expect(result.outcome.kind).toBe('retryable');
    expect(result.outcome).toHaveProperty(
      'message',
      expect.stringMatching(/^request timed out after 150 ms/),
    );
    expect(result.durationMs).toBeGreaterThanOrEqual(140);
    expect(result.durationMs).toBeLessThan(900);
    // At-least-once: retrying the same event id is deduplicated by Customer.io.
    const retry = await c.batch([eventOp('u1')]);
    expect(retry.outcome.kind).toBe('ok');
    expect(fake.events).toHaveLength(1);
    expect(fake.duplicateEvents).toHaveLength(1);
  });

  it('a connection reset → retryable network error', async () => {
    fake.script.resetConnectionNext(1);
    const { outcome } = await client().batch([eventOp('u1')]);
    expect(outcome.kind).toBe('retryable');
    expect(outcome).toHaveProperty('message', expect.stringMatching(/^network error: /));
    expect(outcome).not.toHaveProperty('status');
    expect(fake.events).toHaveLength(0);
  });

  it('a refused connection → retryable network error', async () => {
    const c = client({ hosts: { trackUrl: 'http://127.0.0.1:1', appUrl: 'http://127.0.0.1:1' } });
    const { outcome } = await c.getAccountRegion();
    expect(outcome).toMatchObject({ kind: 'retryable', message: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('bad Track credentials → permanent 401, flagged as auth failure, no secret in the result', async () => {
    const c = client({ trackApiKey: 'not-the-key' });
    const result = await c.batch([eventOp('u1')]);
    expect(result.outcome).toEqual({
      kind: 'permanent',
      status: 401,
      message: 'HTTP 401',
      body: 'Unauthorized request',
    });
    expect(isAuthFailure(result.outcome)).toBe(true);
    expect(JSON.stringify(result)).not.toContain('not-the-key');
  });

  it('rotated credentials take effect at once', async () => {
    const c = client();
    expect((await c.getAccountRegion()).outcome.kind).toBe('ok');
    fake.setCredentials({ trackApiKey: 'rotated', appApiKey: 'rotated-app' });
    expect((await c.getAccountRegion()).outcome).toMatchObject({ kind: 'permanent', status: 401 });
    expect((await c.listSegments()).outcome).toMatchObject({ kind: 'permanent', status: 401 });
  });

  it('reuses keep-alive connections across calls', async () => {
    const c = client();
    for (let i = 0; i < 6; i++) await c.getAccountRegion();
    // undici may open a second socket while the first is being released; it must not open one per call.
    const ports = new Set(fake.requests.map((r) => r.remotePort));
    expect(fake.requests).toHaveLength(6);
    expect(ports.size).toBeLessThan(6);
  });

  it('refuses calls after close()', async () => {
    const c = client();
    await c.close();
    await c.close();
    await expect(c.getAccountRegion()).rejects.toThrow(/closed/);
  });
});

describe('transport hook (dry run)', () => {
  it('replaces the network call and sees redacted headers through redactHeaders', async () => {
    const seen: CioRequest[] = [];
    const c = client({
      transport: async (req) => {
        seen.push({ ...req, headers: redactHeaders(req.headers) });
        return { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' };
      },
    });
    const segment = await c.createSegment({ name: 'dry' });
    const batch = await c.batch([eventOp('u1')]);

    expect(fake.requests).toHaveLength(0);
    expect(segment.outcome).toEqual({ kind: 'ok', status: 200, body: {} });
    expect(batch.outcome.kind).toBe('ok');
    expect(seen).toEqual([
      {
        method: 'POST',
        url: `${fake.url}/v1/segments`,
        api: 'app',
        headers: {
          Authorization: '[redacted]',
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'User-Agent': USER_AGENT,
        },
        body: JSON.stringify({ segment: { name: 'dry' } }),
      },
      {
        method: 'POST',
        url: `${fake.url}/api/v2/batch`,
        api: 'track',
        headers: {
          Authorization: '[redacted]',
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'User-Agent': USER_AGENT,
        },
        body: JSON.stringify({ batch: [eventOp('u1')] }),
      },
    ]);
    expect(JSON.stringify(seen)).not.toContain(TRACK_KEY);
    expect(JSON.stringify(seen)).not.toContain(APP_KEY);
  });

  it('the transport receives the real credentials (it replaces the HTTP call)', async () => {
    let auth: string | undefined;
    const c = client({
      transport: async (req) => {
        auth = req.headers['Authorization'];
        return {
          status: 207,
          headers: {},
          body: JSON.stringify({ errors: [{ batch_index: 0, reason: 'r' }] }),
        };
      },
    });
    const { outcome } = await c.batch([eventOp('u1')]);
    expect(auth).toBe(BASIC);
    expect(outcome).toMatchObject({ kind: 'item_errors', errors: [{ batch_index: 0, reason: 'r' }] });
  });

  it('a throwing or hanging transport becomes a retryable outcome', async () => {
    const failing = client({
      transport: async () => {
        throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
      },
    });
    expect((await failing.getAccountRegion()).outcome).toEqual({
      kind: 'retryable',
      message: 'network error: ENOSPC: disk full',
    });
    const hanging = client({ timeoutMs: 50, transport: () => new Promise(() => {}) });
    expect((await hanging.getAccountRegion()).outcome).toMatchObject({
      kind: 'retryable',
      message: expect.stringMatching(/^request timed out after 50 ms/),
    });
  });

  it('redactHeaders is case-insensitive and leaves other headers alone', () => {
    expect(redactHeaders({ authorization: 'Basic x', AUTHORIZATION: 'Bearer y', 'X-Other': 'v' })).toEqual({
      authorization: '[redacted]',
      AUTHORIZATION: '[redacted]',
      'X-Other': 'v',
    });
  });
});
