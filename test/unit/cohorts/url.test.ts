import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { CohortSourceConfig } from '../../../src/config/cohort-source.ts';
import type { UrlCohortSource } from '../../../src/config/cohort-source.ts';
import { CohortSourceError } from '../../../src/cohorts/errors.ts';
import { openCohortSource } from '../../../src/cohorts/index.ts';
import type { CohortSource } from '../../../src/cohorts/source.ts';

interface Route {
  status?: number;
  type?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  host: string;
}

/** Two tiny servers: `a` serves the routes, `b` is "another origin" for redirects. */
let a: http.Server;
let b: http.Server;
let aUrl: string;
let bUrl: string;
const routes = new Map<string, Route>();
const seen: Seen[] = [];

function serve(server: http.Server, name: string) {
  server.on('request', (req, res) => {
    const path = req.url ?? '/';
    seen.push({ path, headers: req.headers, host: name });
    const route = routes.get(`${name}${path}`);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such route');
      return;
    }
    res.writeHead(route.status ?? 200, {
      ...(route.type && { 'content-type': route.type }),
      ...route.headers,
    });
    res.end(route.body ?? '');
  });
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  a = http.createServer();
  b = http.createServer();
  serve(a, 'a');
  serve(b, 'b');
  aUrl = await listen(a);
  bUrl = await listen(b);
});
afterEach(() => {
  routes.clear();
  seen.length = 0;
});
afterAll(async () => {
  a.closeAllConnections();
  b.closeAllConnections();
  await Promise.all([new Promise((r) => a.close(r)), new Promise((r) => b.close(r))]);
});

function source(
  config: Partial<UrlCohortSource> & { url: string },
  env: NodeJS.ProcessEnv = {},
): CohortSource {
  // The test servers listen on 127.0.0.1; this worker lets references resolve for them.
  return openCohortSource(CohortSourceConfig.parse({ from: 'url', ...config }), {
    CIO_SYNC_COHORT_VARIABLES: '*',
    CIO_SYNC_COHORT_URL_HOSTS: '127.0.0.1',
    ...env,
  });
}

async function ids(s: CohortSource): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of s.members()) out.push(...chunk);
  return out;
}

async function rejection(s: CohortSource): Promise<CohortSourceError> {
  const err = await ids(s).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CohortSourceError);
  return err as CohortSourceError;
}

describe('url source', () => {
  it('CSV by the URL extension, with the configured headers (references resolved)', async () => {
    routes.set('a/cohort.csv', {
      type: 'application/octet-stream',
      body: 'user_id,plan\n"u1",pro\n\n" u2 ",free\n,x\n',
    });
    const s = source(
      { url: `${aUrl}/cohort.csv`, headers: { Authorization: 'Bearer ${TOKEN}', Accept: 'text/csv' } },
      { TOKEN: 's3cr3t' },
    );
    expect(await ids(s)).toEqual(['u1', 'u2']);
    expect(s.stats.skippedEmpty).toBe(1);
    expect(seen[0]?.headers['authorization']).toBe('Bearer s3cr3t');
    expect(seen[0]?.headers['accept']).toBe('text/csv');
    expect(s.description).toBe(`url ${aUrl}/cohort.csv (csv, column id|user_id)`);
  });

  it('JSON by content type; NDJSON by explicit format; gzip by its bytes', async () => {
    routes.set('a/members', { type: 'application/json; charset=utf-8', body: '[{"id":"j1"},{"id":"j2"}]' });
    routes.set('a/stream', { type: 'text/plain', body: '"n1"\n"n2"\n' });
    routes.set('a/zipped.json', {
      type: 'application/json',
      body: gzipSync('["g1"]'),
      headers: { 'content-encoding': 'gzip' },
    });
    expect(await ids(source({ url: `${aUrl}/members` }))).toEqual(['j1', 'j2']);
    expect(await ids(source({ url: `${aUrl}/stream`, format: 'ndjson' }))).toEqual(['n1', 'n2']);
    expect(await ids(source({ url: `${aUrl}/zipped.json` }))).toEqual(['g1']);
  });

  it('the description never holds the query (signed URLs) or resolved values', () => {
    const s = source({ url: `${aUrl}/c.csv?sig=\${SIG}` }, { SIG: 'secret-signature' });
    expect(s.description).toBe(`url ${aUrl}/c.csv (csv, column id|user_id)`);
  });

  it('follows redirects; headers go to the original origin only', async () => {
    routes.set('a/start.csv', { status: 302, headers: { location: '/moved.csv' } });
    routes.set('a/moved.csv', { status: 307, headers: { location: `${bUrl}/final.csv` } });
    routes.set('b/final.csv', { type: 'text/csv', body: 'id\nr1\n' });
    const s = source({ url: `${aUrl}/start.csv`, headers: { 'X-Api-Key': '${KEY}' } }, { KEY: 'k' });
    expect(await ids(s)).toEqual(['r1']);
    expect(seen.map((r) => [r.host, r.path, r.headers['x-api-key']])).toEqual([
      ['a', '/start.csv', 'k'],
      ['a', '/moved.csv', 'k'],
      ['b', '/final.csv', undefined],
    ]);
  });

  it('an unknown format is a config error', async () => {
    routes.set('a/what', { type: 'text/plain', body: 'id\nx\n' });
    const err = await rejection(source({ url: `${aUrl}/what` }));
    expect(err).toMatchObject({ reason: 'config', retryable: false });
    expect(err.message).toContain('cannot tell the format from the URL or its content type (text/plain)');
  });

  it.each([
    [404, 'not_found', false],
    [410, 'not_found', false],
    [401, 'auth', false],
    [403, 'auth', false],
    [400, 'http', false],
    [429, 'rate_limited', true],
    [500, 'server', true],
    [503, 'server', true],
  ] as const)('HTTP %i is %s (retryable: %s)', async (status, reason, retryable) => {
    routes.set('a/x.csv', {
      status,
      type: 'application/json',
      body: '{"error":"nope"}',
      headers: { 'retry-after': '7' },
    });
    const err = await rejection(source({ url: `${aUrl}/x.csv` }));
    expect(err).toMatchObject({ reason, retryable, status });
    expect(err.message).toBe(`url ${aUrl}/x.csv: HTTP ${status}: {"error":"nope"}`);
    if (status === 429) expect(err.retryAfterMs).toBe(7000);
  });

  it('a refused connection is a retryable network error', async () => {
    const closed = http.createServer();
    const url = await listen(closed);
    await new Promise((r) => closed.close(r));
    const err = await rejection(source({ url: `${url}/x.csv` }));
    expect(err).toMatchObject({ reason: 'network', retryable: true });
  });

  it('a server that stops answering is a retryable timeout', async () => {
    const slow = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.write('id\na\n');
      // …and nothing more.
    });
    const url = await listen(slow);
    try {
      const err = await rejection(source({ url: `${url}/x.csv`, timeout: 200 } as never));
      expect(err).toMatchObject({ reason: 'timeout', retryable: true });
    } finally {
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });

  it('an unset variable is a config error at open', () => {
    expect(() => source({ url: `${aUrl}/x.csv`, headers: { Authorization: '${NOPE}' } })).toThrow(
      expect.objectContaining({
        reason: 'config',
        message: 'environment variable NOPE (for cohort.headers.Authorization) is not set',
      }),
    );
  });
});
