import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startFakeAmplitudeCohorts } from '../../fakes/amplitude-cohorts.ts';
import type { FakeAmplitudeCohorts } from '../../fakes/amplitude-cohorts.ts';
import { CohortSourceConfig } from '../../../src/config/cohort-source.ts';
import type { AmplitudeCohortSource } from '../../../src/config/cohort-source.ts';
import { amplitudeCohortSource, AMPLITUDE_HOSTS } from '../../../src/cohorts/amplitude.ts';
import type { AmplitudeSourceOptions } from '../../../src/cohorts/amplitude.ts';
import { CohortSourceError } from '../../../src/cohorts/errors.ts';
import { openCohortSource } from '../../../src/cohorts/index.ts';
import type { CohortProgress, CohortSource } from '../../../src/cohorts/source.ts';

let fake: FakeAmplitudeCohorts;

beforeAll(async () => {
  fake = await startFakeAmplitudeCohorts({
    apiKey: 'amp-key',
    secretKey: 'amp-secret',
    cohorts: {
      small: [
        'alice',
        { user_id: null, amplitude_id: 5 },
        { user_id: '  bob  ' },
        'carol',
        'alice',
        { user_id: 'dave', properties: { email: 'dave@example.com' } },
      ],
      big: {
        count: 2500,
        member: (i) => ({ user_id: `user-${i}`, properties: { email: `m${i}@example.com` } }),
      },
      empty: [],
    },
    inlineMaxMembers: 1000,
  });
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.close();
});

// The fake listens on 127.0.0.1: this worker allows it as an override host, and these variables.
const ENV = {
  AMP_KEY: 'amp-key',
  AMP_SECRET: 'amp-secret',
  CIO_SYNC_COHORT_VARIABLES: 'AMP_*',
  CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1',
};

function source(
  cohortId: string,
  extra: Partial<Record<keyof AmplitudeCohortSource, unknown>> = {},
  options: AmplitudeSourceOptions = {},
): CohortSource {
  const config = CohortSourceConfig.parse({
    from: 'amplitude',
    cohortId,
    apiKey: '${AMP_KEY}',
    secretKey: '${AMP_SECRET}',
    url: fake.url,
    pollInterval: 5,
    ...extra,
  });
  return openCohortSource(config, ENV, { amplitude: options });
}

async function collect(s: CohortSource, chunkSize = 1000, onProgress?: (p: CohortProgress) => void) {
  const chunks: string[][] = [];
  for await (const chunk of s.members({ chunkSize, ...(onProgress && { onProgress }) })) chunks.push(chunk);
  return chunks;
}

async function rejection(s: CohortSource): Promise<CohortSourceError> {
  const err = await collect(s).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CohortSourceError);
  return err as CohortSourceError;
}

describe('export flow', () => {
  it('small cohort: request → status → file body, the user_id column, Basic auth on every API call', async () => {
    const s = source('small');
    expect((await collect(s)).flat()).toEqual(['alice', 'bob', 'carol', 'alice', 'dave']);
    expect(s.stats).toMatchObject({ ids: 5, skippedEmpty: 1 });
    expect(fake.requests.map((r) => [r.step, r.status, r.authorized])).toEqual([
      ['request', 202, true],
      ['status', 200, true],
      ['file', 200, true],
    ]);
    expect(fake.requests[0]?.path).toBe('/api/5/cohorts/request/small');
    expect(fake.requests[0]?.query).toEqual({});
    expect(s.description).toBe(`amplitude cohort small (${new URL(fake.url).host}, column user_id)`);
  });

  it('an empty cohort yields nothing', async () => {
    expect(await collect(source('empty'))).toEqual([]);
  });

  it('a slow export is polled until it completes, reporting progress', async () => {
    fake.pollsUntilReady = 4;
    const progress: CohortProgress[] = [];
    const ids = (await collect(source('small'), 2, (p) => progress.push(p))).flat();
    expect(ids).toEqual(['alice', 'bob', 'carol', 'alice', 'dave']);
    expect(fake.requests.map((r) => [r.step, r.status])).toEqual([
      ['request', 202],
      ['status', 202],
      ['status', 202],
      ['status', 202],
      ['status', 202],
      ['status', 200],
      ['file', 200],
    ]);
    const requestId = [...fake.exports.keys()][0];
    expect(progress.map((p) => [p.phase, p.polls ?? p.ids])).toEqual([
      ['requested', undefined],
      ['polling', 1],
      ['polling', 2],
      ['polling', 3],
      ['polling', 4],
      ['downloading', 0],
      ['downloading', 2],
      ['downloading', 4],
      ['downloading', 5],
    ]);
    expect(progress.every((p) => p.requestId === requestId)).toBe(true);
  });

  it('a large cohort: 302 to the pre-signed link, fetched without the Basic auth header', async () => {
    const chunks = await collect(source('big'));
    expect(chunks.map((c) => c.length)).toEqual([1000, 1000, 500]);
    const ids = chunks.flat();
    expect(ids[0]).toBe('user-0');
    expect(ids[2499]).toBe('user-2499');
    expect(fake.requests.map((r) => [r.step, r.status])).toEqual([
      ['request', 202],
      ['status', 200],
      ['file', 302],
      ['download', 200],
    ]);
    expect(fake.requestsTo('download')[0]?.headers['authorization']).toBeUndefined();
  });

  it('an expired pre-signed link → /file is asked again for a fresh one', async () => {
    fake.script.expireNextLinks(1);
    expect((await collect(source('big'))).flat()).toHaveLength(2500);
    expect(fake.requests.map((r) => [r.step, r.status])).toEqual([
      ['request', 202],
      ['status', 200],
      ['file', 302],
      ['download', 403],
      ['file', 302],
      ['download', 200],
    ]);
  });

  it('links that keep expiring end in a retryable export_expired', async () => {
    fake.linkTtlMs = -1;
    const err = await rejection(source('big', {}, { maxLinkAttempts: 3 }));
    expect(err).toMatchObject({ reason: 'export_expired', retryable: true });
    expect(fake.requestsTo('download').map((r) => r.status)).toEqual([403, 403, 403]);
  });

  it('an export gone from /file (past its 7 days) → a new export is requested', async () => {
    fake.script.failNext(1, { step: 'file', status: 404 });
    expect((await collect(source('small'))).flat()).toEqual(['alice', 'bob', 'carol', 'alice', 'dave']);
    expect(fake.requests.map((r) => [r.step, r.status])).toEqual([
      ['request', 202],
      ['status', 200],
      ['file', 404],
      ['request', 202],
      ['status', 200],
      ['file', 200],
    ]);
  });

  it('idProperty: a user property is asked for with props=1&propKeys and read from its column', async () => {
    const s = source('small', { idProperty: 'email' });
    expect((await collect(s)).flat()).toEqual(['dave@example.com']);
    expect(s.stats.skippedEmpty).toBe(5);
    expect(fake.requests[0]?.query).toEqual({ props: ['1'], propKeys: ['email'] });
  });

  it('idProperty amplitude_id needs no properties', async () => {
    expect((await collect(source('small', { idProperty: 'amplitude_id' }))).flat()).toEqual([
      '100000',
      '5',
      '100002',
      '100003',
      '100004',
      '100005',
    ]);
    expect(fake.requests[0]?.query).toEqual({});
  });
});

describe('errors', () => {
  it('401 (bad credentials) is a permanent auth error', async () => {
    const s = openCohortSource(
      CohortSourceConfig.parse({
        from: 'amplitude',
        cohortId: 'small',
        apiKey: '${AMP_KEY}',
        secretKey: '${AMP_SECRET}',
        url: fake.url,
      }),
      { ...ENV, AMP_SECRET: 'wrong' },
    );
    const err = await rejection(s);
    expect(err).toMatchObject({ reason: 'auth', retryable: false, status: 401 });
    expect(err.message).toMatch(/^amplitude cohort small: export request: HTTP 401: /);
    expect(err.message).not.toContain('wrong');
  });

  it("403 (Amplitude's 'Invalid API/Secret Key combination') is a permanent auth error too", async () => {
    fake.wrongKeyStatus = 403;
    fake.secretKey = 'rotated';
    const err = await rejection(source('small'));
    expect(err).toMatchObject({ reason: 'auth', retryable: false, status: 403 });
    expect(err.message).toContain('Invalid API/Secret Key combination');
  });

  it('404 (unknown cohort) is a permanent not_found error', async () => {
    const err = await rejection(source('nope'));
    expect(err).toMatchObject({ reason: 'not_found', retryable: false, status: 404 });
    expect(fake.requests).toHaveLength(1);
  });

  it('5xx on the export request is a retryable server error', async () => {
    fake.script.failNext(1, { step: 'request', status: 502, body: 'Bad Gateway' });
    const err = await rejection(source('small'));
    expect(err).toMatchObject({ reason: 'server', retryable: true, status: 502 });
    expect(err.message).toBe('amplitude cohort small: export request: HTTP 502: Bad Gateway');
  });

  it('429 carries Retry-After', async () => {
    fake.script.failNext(1, { step: 'request', status: 429, retryAfter: 30 });
    const err = await rejection(source('small'));
    expect(err).toMatchObject({ reason: 'rate_limited', retryable: true, retryAfterMs: 30_000 });
  });

  it('5xx on the pre-signed download is retryable', async () => {
    fake.script.failNext(1, { step: 'download', status: 500 });
    const err = await rejection(source('big'));
    expect(err).toMatchObject({ reason: 'server', retryable: true });
  });

  it('transient failures while polling are ridden out: the export job keeps running', async () => {
    fake.pollsUntilReady = 2;
    fake.script.failNext(1, { step: 'status', status: 503 });
    fake.script.failNext(1, { step: 'status', status: 429, retryAfter: 0 });
    fake.script.resetConnectionNext(1, { step: 'status' });
    expect((await collect(source('small'))).flat()).toHaveLength(5);
    expect(fake.requestsTo('request')).toHaveLength(1);
    expect(fake.requestsTo('status').map((r) => r.status)).toEqual([503, 429, 0, 202, 202, 200]);
  });

  it('…but not forever', async () => {
    fake.script.failNext(10, { step: 'status', status: 503 });
    const err = await rejection(source('small', {}, { maxPollFailures: 2 }));
    expect(err).toMatchObject({ reason: 'server', retryable: true });
    expect(fake.requestsTo('status')).toHaveLength(3);
  });

  it('an export that takes longer than `timeout` is a retryable timeout', async () => {
    fake.pollsUntilReady = 1000;
    const err = await rejection(source('small', { pollInterval: 20, timeout: 100 }));
    expect(err).toMatchObject({ reason: 'timeout', retryable: true });
    expect(err.message).toMatch(/not ready after 0 s \(\d+ polls\)$/);
  });

  it('a download cut off midway is a retryable network error', async () => {
    fake.script.breakDownloadNext(1, 1200);
    const err = await rejection(source('big'));
    expect(err).toMatchObject({ retryable: true });
    expect(['network', 'timeout']).toContain(err.reason);
  });

  it('a missing id column is a permanent format error', async () => {
    fake.script.failNext(1, { step: 'file', status: 200, body: '"amplitude_id","email"\n"1","a@x.io"\n' });
    const err = await rejection(source('small'));
    expect(err).toMatchObject({ reason: 'format', retryable: false });
    expect(err.message).toBe(
      'amplitude cohort small export: the CSV header has no column "user_id" (header: "amplitude_id", "email"); the first line must name the columns',
    );
  });

  it('a requested property nobody has yields no ids, every member counted as skipped', async () => {
    const s = source('small', { idProperty: 'plan' });
    expect(await collect(s)).toEqual([]);
    expect(s.stats).toMatchObject({ ids: 0, skippedEmpty: 6 });
  });

  it('aborting while polling stops at once', async () => {
    fake.pollsUntilReady = 1000;
    const controller = new AbortController();
    const s = source('small', { pollInterval: 10_000 });
    const started = Date.now();
    const pending = (async () => {
      for await (const _ of s.members({ signal: controller.signal })) {
        /* never */
      }
    })();
    await expect.poll(() => fake.requestsTo('status').length).toBe(1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ reason: 'aborted' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('hosts', () => {
  it('us and eu regions', () => {
    const make = (region: 'us' | 'eu') =>
      amplitudeCohortSource({
        config: CohortSourceConfig.parse({
          from: 'amplitude',
          cohortId: 'c1',
          apiKey: '${A}',
          secretKey: '${B}',
          region,
        }) as AmplitudeCohortSource,
        apiKey: 'a',
        secretKey: 'b',
      });
    expect(make('us').description).toBe('amplitude cohort c1 (us, column user_id)');
    expect(make('eu').description).toBe('amplitude cohort c1 (eu, column user_id)');
    expect(AMPLITUDE_HOSTS).toEqual({
      us: 'https://amplitude.com',
      eu: 'https://analytics.eu.amplitude.com',
    });
  });
});
