import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { startFakeAmplitudeCohorts } from './amplitude-cohorts.ts';
import type { FakeAmplitudeCohorts } from './amplitude-cohorts.ts';

// The fake is exercised with plain fetch, independent of src/cohorts/amplitude.ts.

let fake: FakeAmplitudeCohorts;

beforeAll(async () => {
  fake = await startFakeAmplitudeCohorts({
    apiKey: 'key',
    secretKey: 'secret',
    cohorts: {
      small: [
        'alice',
        'bob',
        { user_id: null, amplitude_id: 7 },
        { user_id: 'say "hi", ok', amplitude_id: 8 },
      ],
      big: { count: 2500, member: (i) => ({ user_id: `u${i}`, properties: { email: `u${i}@example.com` } }) },
    },
    inlineMaxMembers: 1000,
  });
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.close();
});

const AUTH = `Basic ${Buffer.from('key:secret').toString('base64')}`;

async function get(path: string, auth: string | null = AUTH) {
  const headers: Record<string, string> = auth === null ? {} : { authorization: auth };
  const res = await fetch(path.startsWith('http') ? path : `${fake.url}${path}`, {
    headers,
    redirect: 'manual',
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* CSV or XML */
  }
  return { status: res.status, headers: res.headers, text, body };
}

async function exportOf(cohortId: string, query = ''): Promise<string> {
  const res = await get(`/api/5/cohorts/request/${cohortId}${query}`);
  expect(res.status).toBe(202);
  return (res.body as { request_id: string }).request_id;
}

describe('auth', () => {
  it('answers 401 without credentials and with a wrong pair', async () => {
    expect((await get('/api/5/cohorts/request/small', null)).status).toBe(401);
    const wrong = await get(
      '/api/5/cohorts/request/small',
      `Basic ${Buffer.from('key:nope').toString('base64')}`,
    );
    expect(wrong.status).toBe(401);
    expect(fake.requests.map((r) => r.authorized)).toEqual([false, false]);
    expect(fake.exports.size).toBe(0);
  });

  it('can answer a wrong pair with 403, as Amplitude has been seen to', async () => {
    fake.wrongKeyStatus = 403;
    const wrong = await get(
      '/api/5/cohorts/request/small',
      `Basic ${Buffer.from('key:nope').toString('base64')}`,
    );
    expect(wrong.status).toBe(403);
    expect(wrong.text).toContain('Invalid API/Secret Key combination');
  });
});

describe('export flow', () => {
  it('request → 202 request_id, status → 200 COMPLETED, file → CSV with a header', async () => {
    const requestId = await exportOf('small');
    const status = await get(`/api/5/cohorts/request-status/${requestId}`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      request_id: requestId,
      cohort_id: 'small',
      async_status: 'JOB COMPLETED',
    });
    const file = await get(`/api/5/cohorts/request/${requestId}/file`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toContain('text/csv');
    expect(file.text).toBe(
      '"amplitude_id","user_id"\n"100000","alice"\n"100001","bob"\n"7",""\n"8","say ""hi"", ok"\n',
    );
    expect(fake.requests.map((r) => [r.step, r.status])).toEqual([
      ['request', 202],
      ['status', 200],
      ['file', 200],
    ]);
  });

  it('unknown cohort → 404', async () => {
    const res = await get('/api/5/cohorts/request/nope');
    expect(res.status).toBe(404);
  });

  it('a slow export answers 202 JOB INPROGRESS the configured number of times; /file before that is 400', async () => {
    fake.pollsUntilReady = 3;
    const requestId = await exportOf('small');
    expect((await get(`/api/5/cohorts/request/${requestId}/file`)).status).toBe(400);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await get(`/api/5/cohorts/request-status/${requestId}`);
      statuses.push(res.status);
      if (res.status === 202) expect(res.body).toMatchObject({ async_status: 'JOB INPROGRESS' });
    }
    expect(statuses).toEqual([202, 202, 202, 200]);
    expect((await get(`/api/5/cohorts/request/${requestId}/file`)).status).toBe(200);
  });

  it('props=1&propKeys adds property columns', async () => {
    const requestId = await exportOf('big', '?props=1&propKeys=email');
    const link = await get(`/api/5/cohorts/request/${requestId}/file`);
    const csv = await get(link.headers.get('location') as string, null);
    const lines = csv.text.trimEnd().split('\n');
    expect(lines[0]).toBe('"amplitude_id","user_id","email"');
    expect(lines[1]).toBe('"100000","u0","u0@example.com"');
    expect(lines).toHaveLength(2501);
  });

  it('unknown or expired request ids → 404', async () => {
    expect((await get('/api/5/cohorts/request-status/nope')).status).toBe(404);
    const requestId = await exportOf('small');
    fake.expireExports();
    expect((await get(`/api/5/cohorts/request-status/${requestId}`)).status).toBe(404);
    expect((await get(`/api/5/cohorts/request/${requestId}/file`)).status).toBe(404);
  });
});

describe('pre-signed download', () => {
  it('a large cohort is a 302 to a link that works without auth and refuses auth', async () => {
    const requestId = await exportOf('big');
    const file = await get(`/api/5/cohorts/request/${requestId}/file`);
    expect(file.status).toBe(302);
    const location = file.headers.get('location') as string;
    expect(location).toMatch(new RegExp(`^${fake.url}/presigned/[^?]+\\?X-Amz-Expires=60&`));
    expect((await get(location, AUTH)).status).toBe(400);
    const csv = await get(location, null);
    expect(csv.status).toBe(200);
    expect(csv.text.split('\n')).toHaveLength(2502); // header, 2500 rows, trailing newline
  });

  it('a link expires after its TTL (403) and /file hands out a fresh one', async () => {
    fake.linkTtlMs = 30;
    const requestId = await exportOf('big');
    const first = (await get(`/api/5/cohorts/request/${requestId}/file`)).headers.get('location') as string;
    await new Promise((r) => setTimeout(r, 60));
    const expired = await get(first, null);
    expect(expired.status).toBe(403);
    expect(expired.text).toContain('Request has expired');
    const second = (await get(`/api/5/cohorts/request/${requestId}/file`)).headers.get('location') as string;
    expect(second).not.toBe(first);
    expect((await get(second, null)).status).toBe(200);
  });

  it('expireNextLinks(n) hands out n links that have already expired', async () => {
    fake.script.expireNextLinks(1);
    const requestId = await exportOf('big');
    const first = (await get(`/api/5/cohorts/request/${requestId}/file`)).headers.get('location') as string;
    const second = (await get(`/api/5/cohorts/request/${requestId}/file`)).headers.get('location') as string;
    expect((await get(first, null)).status).toBe(403);
    expect((await get(second, null)).status).toBe(200);
  });

  it('expireLinks() expires every link handed out so far', async () => {
    const requestId = await exportOf('big');
    const link = (await get(`/api/5/cohorts/request/${requestId}/file`)).headers.get('location') as string;
    fake.expireLinks();
    expect((await get(link, null)).status).toBe(403);
  });
});

describe('script', () => {
  it('failNext answers the scripted status for matching steps only, with Retry-After', async () => {
    fake.script.failNext(2, { step: 'request', status: 429, retryAfter: 3 });
    const a = await get('/api/5/cohorts/request/small');
    expect(a.status).toBe(429);
    expect(a.headers.get('retry-after')).toBe('3');
    expect((await get('/api/5/cohorts/request-status/x')).status).toBe(404);
    expect((await get('/api/5/cohorts/request/small')).status).toBe(429);
    expect((await get('/api/5/cohorts/request/small')).status).toBe(202);
    expect(fake.script.pending()).toBe(0);
  });

  it('failNext scripts 5xx on any step', async () => {
    const requestId = await exportOf('small');
    fake.script.failNext(1, { step: 'status', status: 503 });
    expect((await get(`/api/5/cohorts/request-status/${requestId}`)).status).toBe(503);
    expect((await get(`/api/5/cohorts/request-status/${requestId}`)).status).toBe(200);
  });

  it('resetConnectionNext resets the TCP connection', async () => {
    fake.script.resetConnectionNext(1, { step: 'request' });
    await expect(get('/api/5/cohorts/request/small')).rejects.toThrow();
    expect(fake.requests[0]?.status).toBe(0);
    expect((await get('/api/5/cohorts/request/small')).status).toBe(202);
  });

  it('breakDownloadNext cuts the CSV off after some rows', async () => {
    const requestId = await exportOf('big');
    const link = (await get(`/api/5/cohorts/request/${requestId}/file`)).headers.get('location') as string;
    fake.script.breakDownloadNext(1, 10);
    await expect(get(link, null)).rejects.toThrow();
    expect((await get(link, null)).status).toBe(200);
  });
});

it('streams a million-member cohort', async () => {
  fake.setCohort('huge', { count: 1_000_000, member: (i) => `user-${i}` });
  const requestId = await exportOf('huge');
  const link = (await get(`/api/5/cohorts/request/${requestId}/file`)).headers.get('location') as string;
  const res = await fetch(link);
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
  expect(bytes).toBeGreaterThan(20_000_000);
});
