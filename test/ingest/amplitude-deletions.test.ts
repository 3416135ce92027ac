import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { failingStore, MOBILE_KEY, startHarness, WEB_KEY, type Harness } from './harness.ts';

/**
 * Amplitude's User Privacy API v1 (`POST /api/2/deletions/users`) as a client sends it: JSON or a form,
 * HTTP Basic `api_key:secret_key`. What is checked: the status and body the client reads, and the
 * records the request left in the source's log.
 */

const NOW = Date.parse('2026-12-01T10:00:00.000Z');
const DAY = '2026-12-01';
const SECRET = 'web-secret-0123456789';
const basic = (key: string, secret: string) => `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}`;
const AUTH = basic(WEB_KEY, SECRET);

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    now: () => NOW,
    sources: [
      { id: 'web', apiKey: WEB_KEY, secretKey: SECRET },
      // No secretKey: this source takes events but no deletions.
      { id: 'mobile', apiKey: MOBILE_KEY },
    ],
  });
});

afterAll(async () => {
  await h.close();
});

async function send(options: Partial<InjectOptions>) {
  const response = await h.app.inject({
    method: 'POST',
    url: '/api/2/deletions/users',
    ...options,
  } as InjectOptions);
  return { status: response.statusCode, body: response.json(), headers: response.headers };
}

/** Runs a request and returns what it added to the web source's log. */
async function added(request: () => Promise<unknown>) {
  const before = (await h.records('web')).length;
  await request();
  return (await h.records('web')).slice(before);
}

const deletion = (user_id: string, requester?: string) => ({
  kind: 'user_deletion',
  origin: 'amplitude',
  user_id,
  time: NOW,
  event_properties: requester === undefined ? {} : { requester },
  user_properties: {},
  context: { api: 'user_privacy' },
});

describe('POST /api/2/deletions/users', () => {
  it('stores one deletion per user id (JSON) and answers in Amplitude shape', async () => {
    let answer: Awaited<ReturnType<typeof send>> | undefined;
    const records = await added(async () => {
      answer = await send({
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        payload: { user_ids: ['user-1', 'user-2', 'user-1'], requester: 'dpo@example.com' },
      });
    });
    expect(answer).toMatchObject({
      status: 200,
      body: {
        day: DAY,
        status: 'submitted',
        user_ids: [
          { user_id: 'user-1', requester: 'dpo@example.com', requested_on_day: DAY },
          { user_id: 'user-2', requester: 'dpo@example.com', requested_on_day: DAY },
        ],
        amplitude_ids: [],
      },
    });
    expect(records).toEqual([deletion('user-1', 'dpo@example.com'), deletion('user-2', 'dpo@example.com')]);
  });

  it('takes a form body with repeated fields, as curl --data sends it', async () => {
    let answer: Awaited<ReturnType<typeof send>> | undefined;
    const records = await added(async () => {
      answer = await send({
        headers: { authorization: AUTH, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'user_ids=user-3&user_ids=user-4&requester=somebody',
      });
    });
    expect(answer?.status).toBe(200);
    expect(records).toEqual([deletion('user-3', 'somebody'), deletion('user-4', 'somebody')]);
  });

  it('answers Amplitude IDs as unresolvable next to the user ids it stored', async () => {
    let answer: Awaited<ReturnType<typeof send>> | undefined;
    const records = await added(async () => {
      answer = await send({
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        payload: { user_ids: ['user-5'], amplitude_ids: [356896327775], requester: 'r' },
      });
    });
    expect(answer).toMatchObject({
      status: 200,
      body: {
        user_ids: [{ user_id: 'user-5', requester: 'r', requested_on_day: DAY }],
        amplitude_ids: [
          {
            amplitude_id: 356896327775,
            requester: 'r',
            requested_on_day: DAY,
            status: 'unresolved',
            reason: expect.stringContaining('not by Amplitude ID'),
          },
        ],
      },
    });
    expect(records).toEqual([deletion('user-5', 'r')]);
  });

  it('refuses Amplitude IDs alone (400, nothing stored) unless ignore_invalid_ids lets the rest go ahead', async () => {
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    let ignored: Awaited<ReturnType<typeof send>> | undefined;
    const records = await added(async () => {
      refused = await send({
        headers: { authorization: AUTH, 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'amplitude_ids=1234567890&requester=somebody',
      });
      ignored = await send({
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        payload: { amplitude_ids: [1234567890], ignore_invalid_ids: 'true' },
      });
    });
    expect(refused).toMatchObject({
      status: 400,
      body: {
        error: expect.stringContaining('amplitude_ids cannot be resolved to a Customer.io person'),
        amplitude_ids: [{ amplitude_id: 1234567890, status: 'unresolved' }],
      },
    });
    expect(ignored).toMatchObject({
      status: 200,
      body: { user_ids: [], amplitude_ids: [{ amplitude_id: 1234567890, status: 'unresolved' }] },
    });
    expect(records).toEqual([]);
  });

  it('needs the source key and its secret key (401), and a source with no secretKey takes no deletions', async () => {
    const payload = { user_ids: ['user-9'] };
    const headers = (authorization?: string) => ({
      'content-type': 'application/json',
      ...(authorization === undefined ? {} : { authorization }),
    });
    const records = await added(async () => {
      const answers = await Promise.all([
        send({ headers: headers(), payload }),
        send({ headers: headers(basic(WEB_KEY, 'wrong')), payload }),
        send({ headers: headers(basic('unknown-key', SECRET)), payload }),
        send({ headers: headers(basic(MOBILE_KEY, '')), payload }),
      ]);
      expect(answers.map((a) => [a.status, a.body.error])).toEqual([
        [401, 'Missing HTTP Basic credentials: send your API key and secret key'],
        [401, 'Invalid API key or secret key'],
        [401, 'Invalid API key or secret key'],
        [401, 'This source accepts no deletion requests: its config names no secretKey'],
      ]);
      expect(answers[0]?.headers['www-authenticate']).toBe('Basic realm="cio-sync"');
    });
    expect(records).toEqual([]);
    expect(await h.records('mobile')).toEqual([]);
  });

  it('rejects more than 100 users, no ids and malformed ids with a 400 naming the problem', async () => {
    const post = (payload: Record<string, unknown>) =>
      send({ headers: { authorization: AUTH, 'content-type': 'application/json' }, payload });
    const records = await added(async () => {
      const answers = await Promise.all([
        post({
          user_ids: Array.from({ length: 60 }, (_, i) => `u${i}`),
          amplitude_ids: Array.from({ length: 41 }, (_, i) => i),
        }),
        post({ requester: 'r' }),
        post({ user_ids: ['ok', ''] }),
        post({ user_ids: 'user-1' }),
      ]);
      expect(answers.map((a) => [a.status, a.body.error])).toEqual([
        [400, 'At most 100 users per request (user_ids and amplitude_ids together)'],
        [400, 'Request needs user_ids or amplitude_ids'],
        [400, 'user_ids.1: an id must not be blank'],
        [400, expect.stringMatching(/^user_ids: /)],
      ]);
    });
    expect(records).toEqual([]);
  });

  it('answers 503 and stores nothing when the log cannot be written', async () => {
    const broken = await startHarness({
      wrapStore: (store) => failingStore(store),
      sources: [{ id: 'web', apiKey: WEB_KEY, secretKey: SECRET }],
    });
    try {
      const response = await broken.app.inject({
        method: 'POST',
        url: '/api/2/deletions/users',
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        payload: { user_ids: ['user-1'] },
      });
      expect([response.statusCode, response.json()]).toEqual([
        503,
        { error: 'the event log could not be written' },
      ]);
      expect(await broken.records('web')).toEqual([]);
    } finally {
      await broken.close();
    }
  });
});
