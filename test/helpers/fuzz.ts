import { createHmac } from 'node:crypto';
import { gzipSync } from 'node:zlib';

import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { expect } from 'vitest';

/**
 * Generators and checks for fuzzing the ingest endpoints (test/ingest/fuzz.test.ts in-process,
 * test/fuzz-delivery.test.ts through the whole stack): random and mutated bodies, wrong types,
 * deep nesting, invalid UTF-8, broken gzip, odd content types, and what a valid answer to them is.
 */

export const RUNS = Number(process.env.CIO_SYNC_FUZZ_RUNS ?? 40);
export const REQUEST_DEADLINE_MS = 5000;
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

export type Family = 'amplitude' | 'identify' | 'segment' | 'deletions' | 'webhook';
export interface Endpoint {
  family: Family;
  method: 'POST' | 'GET';
  url: string;
  /** A valid body for the endpoint (the mutations start from it). */
  valid: () => unknown;
  /** How a valid body is sent (content type, auth). */
  headers: Record<string, string>;
  encode: (body: unknown) => string;
  /** Headers that depend on the bytes sent (Segment's webhook signature), added to every request. */
  sign?: (body: Buffer | string) => Record<string, string>;
}

/** The webhook secrets of the source the fuzzed webhook endpoints belong to. */
export interface FuzzWebhooks {
  sourceId: string;
  amplitudeSecret: string;
  segmentSecret: string;
}

/** Insert ids differ between calls: ingest stores an insert id once per source, and each valid body must store. */
let ampEvents = 0;
const ampEvent = (i = 0) => ({
  event_type: 'Fuzzed',
  user_id: 'user-12345',
  insert_id: `fz-${i}-${ampEvents++}`,
  time: 1,
});
const segCall = (type: string) => ({
  type,
  userId: 'user-1',
  event: 'Fuzzed',
  groupId: 'g-1',
  previousId: 'p-1',
  traits: { plan: 'pro' },
});
const asJson = (body: unknown) => JSON.stringify(body) ?? 'null';
const asForm = (body: unknown) => {
  const fields = (typeof body === 'object' && body !== null ? body : { x: body }) as Record<string, unknown>;
  return new URLSearchParams(
    Object.entries(fields).map(([k, v]): [string, string] => [
      k,
      typeof v === 'string' ? v : (JSON.stringify(v) ?? ''),
    ]),
  ).toString();
};
const identification = (key: string, group: boolean) => ({
  api_key: key,
  identification: JSON.stringify(
    group
      ? [{ group_type: 'org', group_value: 'acme', group_properties: { size: 3 } }]
      : [{ user_id: 'user-12345', user_properties: { $set: { plan: 'pro' } } }],
  ),
});

const SEGMENT_PATHS: Array<[string, string]> = [
  ['/v1/track', 'track'],
  ['/v1/identify', 'identify'],
  ['/v1/page', 'page'],
  ['/v1/screen', 'screen'],
  ['/v1/group', 'group'],
  ['/v1/alias', 'alias'],
  ['/v1/t', 'track'],
  ['/v1/i', 'identify'],
  ['/v1/p', 'page'],
  ['/v1/s', 'screen'],
  ['/v1/g', 'group'],
  ['/v1/a', 'alias'],
];

/**
 * Every ingest endpoint, with valid bodies for the source whose key is `key` (and, for Amplitude's
 * deletion API, whose secret key is `secret`).
 */
export function ingestEndpoints(key: string, secret?: string, webhooks?: FuzzWebhooks): Endpoint[] {
  return [
    ...(webhooks === undefined ? [] : webhookEndpoints(webhooks)),
    ...(secret === undefined
      ? []
      : [
          {
            family: 'deletions' as const,
            method: 'POST' as const,
            url: '/api/2/deletions/users',
            valid: () => ({ user_ids: ['user-12345'], requester: 'fuzz@example.com' }),
            headers: {
              'content-type': 'application/json',
              authorization: `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}`,
            },
            encode: asJson,
          },
        ]),
    ...['/2/httpapi', '/batch'].map((url): Endpoint => ({
      family: 'amplitude',
      method: 'POST',
      url,
      valid: () => ({ api_key: key, events: [ampEvent(0), ampEvent(1)] }),
      headers: { 'content-type': 'application/json' },
      encode: asJson,
    })),
    ...(['/identify', '/groupidentify'] as const).map((url): Endpoint => ({
      family: 'identify',
      method: 'POST',
      url,
      valid: () => identification(key, url === '/groupidentify'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      encode: asForm,
    })),
    ...SEGMENT_PATHS.map(([url, type]): Endpoint => ({
      family: 'segment',
      method: 'POST',
      url,
      valid: () => segCall(type),
      headers: {
        'content-type': url.length === 5 ? 'text/plain' : 'application/json',
        authorization: basic(key),
      },
      encode: asJson,
    })),
    ...['/v1/batch', '/v1/b'].map((url): Endpoint => ({
      family: 'segment',
      method: 'POST',
      url,
      valid: () => ({ batch: [segCall('track'), segCall('identify')], writeKey: key }),
      headers: { 'content-type': 'application/json' },
      encode: asJson,
    })),
  ];
}

let webhookEvents = 0;

/** The webhook receivers: Amplitude's (header secret) and Segment's (every body signed as sent). */
function webhookEndpoints({ sourceId, amplitudeSecret, segmentSecret }: FuzzWebhooks): Endpoint[] {
  const sign = (body: Buffer | string) => {
    const bytes = Buffer.from(body);
    const signed = bytes[0] === 0x5b ? (firstElementText(bytes) ?? bytes) : bytes;
    return { 'x-signature': createHmac('sha1', segmentSecret).update(signed).digest('hex') };
  };
  return [
    {
      family: 'webhook',
      method: 'POST',
      url: `/webhooks/amplitude/${sourceId}`,
      valid: () => ({
        event_type: 'Fuzzed',
        user_id: 'user-12345',
        $insert_id: `wh-${webhookEvents++}`,
        client_event_time: '2026-01-15 12:00:00.000000',
        event_time: '2026-01-15 12:00:00.000000',
        event_properties: { n: 1 },
        user_properties: { plan: 'pro' },
      }),
      headers: { 'content-type': 'application/json', 'x-webhook-secret': amplitudeSecret },
      encode: asJson,
    },
    {
      family: 'webhook',
      method: 'POST',
      url: `/webhooks/segment/${sourceId}`,
      valid: () => [0, 1].map(() => ({ ...segCall('track'), messageId: `wh-${webhookEvents++}` })),
      headers: { 'content-type': 'application/json' },
      encode: asJson,
      sign,
    },
  ];
}

/** The bytes of a JSON array's first element, as a signer that trusts its own encoder takes them. */
function firstElementText(bytes: Buffer): Buffer | undefined {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as unknown;
    return Array.isArray(parsed) && parsed.length > 0 ? Buffer.from(JSON.stringify(parsed[0])) : undefined;
  } catch {
    return undefined;
  }
}

// --- Generators ------------------------------------------------------------------------------------

/**
 * JSON text nested `depth` levels (built as text: JSON.stringify itself recurses, and would be the
 * first thing to overflow).
 */
function nestedText(depth: number, kind: 'object' | 'array' | 'mixed'): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    const asArray = kind === 'array' || (kind === 'mixed' && i % 2 === 0);
    open += asArray ? '[' : '{"k":';
    close = (asArray ? ']' : '}') + close;
  }
  return `${open}1${close}`;
}

const DEEP = '__DEEP__';

/** A copy of `value` with the thing at a random path replaced (or a key added or removed). */
function mutate(value: unknown, replacement: unknown, pick: number, action: number): unknown {
  const copy = structuredClone(value) as unknown;
  const containers: Array<Record<string, unknown> | unknown[]> = [];
  const stack = [copy];
  while (stack.length > 0 && containers.length < 200) {
    const current = stack.pop();
    if (typeof current === 'object' && current !== null) {
      containers.push(current as Record<string, unknown>);
      stack.push(...Object.values(current));
    }
  }
  if (containers.length === 0) return replacement;
  const target = containers[pick % containers.length]!;
  const keys = Object.keys(target);
  if (Array.isArray(target)) {
    if (action % 3 === 0 || target.length === 0) target.push(replacement);
    else if (action % 3 === 1) target.splice(pick % target.length, 1);
    else target[pick % target.length] = replacement;
  } else if (action % 3 === 0 || keys.length === 0) {
    target[`k${action}`] = replacement;
  } else if (action % 3 === 1) {
    delete target[keys[pick % keys.length]!];
  } else {
    target[keys[pick % keys.length]!] = replacement;
  }
  return copy;
}

const wrongTyped = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.constant([]),
  fc.constant({}),
  fc.constant('null'),
  fc.constant('${WEB_API_KEY}'),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

const CONTENT_TYPES = [
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'multipart/form-data',
  'application/octet-stream',
  'application/json; charset=latin1',
  'image/png',
  '',
  ';;;',
];
const ENCODINGS = [
  undefined,
  'gzip',
  'deflate',
  'br',
  'identity',
  'x-gzip',
  'compress',
  'gzip, gzip',
  ' GZIP ',
];

export interface Case {
  endpoint: number;
  body: Buffer | string;
  contentType?: string;
  contentEncoding?: string;
  authorization?: string;
  method?: 'GET';
  query?: string;
}

export function caseArbitrary(endpoints: readonly Endpoint[], key: string): fc.Arbitrary<Case> {
  const index = fc.nat({ max: endpoints.length - 1 });
  const encoded = (e: number, value: unknown) => endpoints[e]!.encode(value);
  return fc.oneof(
    // Random JSON values.
    fc.record({ endpoint: index, value: fc.jsonValue({ maxDepth: 4 }) }).map(({ endpoint, value }) => ({
      endpoint,
      body: encoded(endpoint, value),
    })),
    // Valid bodies with one thing changed: wrong types, removed or extra fields, random values.
    fc
      .record({
        endpoint: index,
        replacement: fc.oneof(wrongTyped, fc.jsonValue({ maxDepth: 3 })),
        pick: fc.nat(),
        action: fc.nat(),
        times: fc.integer({ min: 1, max: 3 }),
      })
      .map(({ endpoint, replacement, pick, action, times }) => {
        let body = endpoints[endpoint]!.valid();
        for (let i = 0; i < times; i++) body = mutate(body, replacement, pick + i * 7, action + i);
        return { endpoint, body: encoded(endpoint, body) };
      }),
    // Deep nesting, inside a valid body or as the whole body.
    fc
      .record({
        endpoint: index,
        depth: fc.integer({ min: 30, max: 20_000 }),
        kind: fc.constantFrom('object' as const, 'array' as const, 'mixed' as const),
        pick: fc.nat(),
        whole: fc.boolean(),
      })
      .map(({ endpoint, depth, kind, pick, whole }) => {
        const e = endpoints[endpoint]!;
        const text = encoded(endpoint, whole ? DEEP : mutate(e.valid(), DEEP, pick, 2));
        const deep = nestedText(depth, kind);
        const body =
          e.encode === asForm
            ? text
                .replaceAll(`%22${DEEP}%22`, encodeURIComponent(deep))
                .replaceAll(DEEP, encodeURIComponent(deep))
            : text.replaceAll(`"${DEEP}"`, deep);
        return { endpoint, body };
      }),
    // Bytes that are not UTF-8 (or barely), in place of or inside a body.
    fc
      .record({ endpoint: index, bytes: fc.uint8Array({ maxLength: 300 }), splice: fc.boolean() })
      .map(({ endpoint, bytes, splice }) => {
        const valid = Buffer.from(encoded(endpoint, endpoints[endpoint]!.valid()));
        const bad = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, ...bytes]);
        const body = splice
          ? Buffer.concat([valid.subarray(0, valid.length >> 1), bad, valid.subarray(valid.length >> 1)])
          : bad;
        return { endpoint, body };
      }),
    // Broken compression: truncated, flipped, or announced but absent.
    fc
      .record({
        endpoint: index,
        encoding: fc.constantFrom('gzip', 'deflate', 'br'),
        cut: fc.nat(),
        flip: fc.nat(),
        how: fc.constantFrom('truncate', 'flip', 'plain', 'double'),
      })
      .map(({ endpoint, encoding, cut, flip, how }) => {
        const valid = Buffer.from(encoded(endpoint, endpoints[endpoint]!.valid()));
        const zipped = gzipSync(valid);
        let body: Buffer = zipped;
        if (how === 'truncate') body = zipped.subarray(0, cut % zipped.length);
        if (how === 'flip') {
          body = Buffer.from(zipped);
          const at = flip % body.length;
          body[at] = body[at]! ^ 0xff;
        }
        if (how === 'plain') body = valid;
        if (how === 'double') body = gzipSync(zipped);
        return {
          endpoint,
          body,
          contentEncoding: encoding === 'gzip' ? 'gzip' : how === 'plain' ? encoding : 'gzip',
        };
      }),
    // A valid body sent with odd content types, encodings and keys.
    fc
      .record({
        endpoint: index,
        contentType: fc.constantFrom(...CONTENT_TYPES),
        contentEncoding: fc.constantFrom(...ENCODINGS),
        authorization: fc.option(
          fc.oneof(
            fc.constant(basic('wrong-key')),
            fc.constant('Basic '),
            fc.constant('Basic !!!'),
            fc.constant('Bearer x'),
            fc.string(),
          ),
          { nil: undefined },
        ),
      })
      .map(({ endpoint, contentType, contentEncoding, authorization }) => {
        const text = encoded(endpoint, endpoints[endpoint]!.valid());
        const body = contentEncoding?.trim().toLowerCase() === 'gzip' ? gzipSync(text) : text;
        return { endpoint, body, contentType, contentEncoding, authorization };
      }),
    // GET with a query string (the Identify APIs take one; the others have no GET route).
    fc.record({ endpoint: index, query: fc.string({ maxLength: 200 }) }).map(({ endpoint, query }) => ({
      endpoint,
      body: '',
      method: 'GET' as const,
      query: `api_key=${key}&identification=${encodeURIComponent(query)}`,
    })),
  );
}

// --- Checking an answer ----------------------------------------------------------------------------

export interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** The answer is a success, or a 4xx whose body is the endpoint family's own, specific error format. */
export function checkAnswer(endpoint: Endpoint, answer: Answer, label: string): void {
  const { status, text } = answer;
  expect(status, `${label}: ${text}`).toBeGreaterThanOrEqual(200);
  expect(status, `${label}: no 5xx: ${text}`).toBeLessThan(500);
  if (status === 200) return;
  expect(status, `${label}: ${text}`).toBeGreaterThanOrEqual(400);
  expect(answer.contentType, label).toMatch(/^application\/json/);
  const body = JSON.parse(text) as Record<string, unknown>;
  if (status === 404) {
    // A GET on a POST-only path: the plain not-found body.
    expect(body, label).toEqual({ code: 404, error: 'Invalid request path' });
    return;
  }
  if (endpoint.family === 'deletions') {
    // The User Privacy API's own shape: `{ error }`, 401 for credentials.
    expect(typeof body.error === 'string' && body.error !== '', label).toBe(true);
    return;
  }
  if (endpoint.family === 'segment' || endpoint.family === 'webhook') {
    expect(body, label).toMatchObject({
      success: false,
      reason: expect.any(String),
      error: expect.any(String),
    });
    expect(body.reason, label).not.toBe('internal');
  } else {
    expect(body.code, label).toBe(status);
    expect(
      typeof body.error === 'string' && body.error !== '' && body.error !== 'Internal server error',
      label,
    ).toBe(true);
  }
}

export function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer within ${REQUEST_DEADLINE_MS} ms`)),
      REQUEST_DEADLINE_MS,
    );
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export function requestOf(endpoint: Endpoint, c: Case): InjectOptions {
  const headers: Record<string, string> = { ...endpoint.headers };
  if (c.contentType !== undefined) headers['content-type'] = c.contentType;
  if (c.contentType === '') delete headers['content-type'];
  if (c.contentEncoding !== undefined) headers['content-encoding'] = c.contentEncoding;
  if (c.authorization !== undefined) headers.authorization = c.authorization;
  if (c.method === 'GET') return { method: 'GET', url: `${endpoint.url}?${c.query ?? ''}`, headers: {} };
  return {
    method: 'POST',
    url: endpoint.url,
    headers: { ...headers, ...endpoint.sign?.(c.body) },
    payload: c.body,
  };
}
