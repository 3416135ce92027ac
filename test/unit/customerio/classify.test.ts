import { describe, expect, it } from 'vitest';
import {
  classifyResponse,
  classifyTransportError,
  errorMessage,
  isAuthFailure,
  isRetryableOutcome,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
} from '../../../src/customerio/classify.ts';
import type { CioOutcome } from '../../../src/customerio/classify.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');

function answer(status: number, body: unknown = '', headers: Record<string, string> = {}): CioOutcome {
  const bodyText = typeof body === 'string' ? body : JSON.stringify(body);
  return classifyResponse({ status, headers, bodyText }, NOW);
}

describe('classifyResponse', () => {
  const cases: Array<{ name: string; outcome: () => CioOutcome; expected: CioOutcome }> = [
    { name: '200 {}', outcome: () => answer(200, {}), expected: { kind: 'ok', status: 200, body: {} } },
    {
      name: '200 empty body',
      outcome: () => answer(200, ''),
      expected: { kind: 'ok', status: 200, body: undefined },
    },
    {
      name: '204 empty body',
      outcome: () => answer(204, ''),
      expected: { kind: 'ok', status: 204, body: undefined },
    },
    {
      name: '200 non-JSON body keeps the text',
      outcome: () => answer(200, 'OK'),
      expected: { kind: 'ok', status: 200, body: 'OK' },
    },
    {
      name: '200 with errors lacking batch_index stays ok',
      outcome: () => answer(200, { errors: [] }),
      expected: { kind: 'ok', status: 200, body: { errors: [] } },
    },
    {
      name: '207 item errors',
      outcome: () =>
        answer(207, {
          errors: [
            { batch_index: 1, reason: 'invalid', field: 'identifiers', message: 'two identifiers' },
            { batch_index: 3, reason: 'too_large', field: '', message: 'too big' },
          ],
        }),
      expected: {
        kind: 'item_errors',
        status: 207,
        errors: [
          { batch_index: 1, reason: 'invalid', field: 'identifiers', message: 'two identifiers' },
          { batch_index: 3, reason: 'too_large', field: '', message: 'too big' },
        ],
        body: {
          errors: [
            { batch_index: 1, reason: 'invalid', field: 'identifiers', message: 'two identifiers' },
            { batch_index: 3, reason: 'too_large', field: '', message: 'too big' },
          ],
        },
      },
    },
    {
      name: '207 without a parseable errors list is still item_errors, never ok',
      outcome: () => answer(207, ''),
      expected: { kind: 'item_errors', status: 207, errors: [], body: undefined },
    },
    {
      name: '200 that still carries item errors',
      outcome: () =>
        answer(200, { errors: [{ batch_index: 0, reason: 'r', message: 'm' }, { message: 'no index' }] }),
      expected: {
        kind: 'item_errors',
        status: 200,
        errors: [{ batch_index: 0, reason: 'r', message: 'm' }],
        body: { errors: [{ batch_index: 0, reason: 'r', message: 'm' }, { message: 'no index' }] },
      },
    },
    {
      name: '400 meta.errors',
      outcome: () =>
        answer(400, { meta: { errors: ["value for attribute 'a' cannot be longer than 1000 bytes", 'x'] } }),
      expected: {
        kind: 'permanent',
        status: 400,
        message: "value for attribute 'a' cannot be longer than 1000 bytes; x",
        body: { meta: { errors: ["value for attribute 'a' cannot be longer than 1000 bytes", 'x'] } },
      },
    },
    {
      name: '400 meta.error',
      outcome: () => answer(400, { meta: { error: 'multiple identifiers in primary' } }),
      expected: {
        kind: 'permanent',
        status: 400,
        message: 'multiple identifiers in primary',
        body: { meta: { error: 'multiple identifiers in primary' } },
      },
    },
    {
      name: '400 v2 errors[] with field and message',
      outcome: () =>
        answer(400, { errors: [{ reason: 'invalid_json', field: 'batch', message: 'bad body' }] }),
      expected: {
        kind: 'permanent',
        status: 400,
        message: 'batch: bad body',
        body: { errors: [{ reason: 'invalid_json', field: 'batch', message: 'bad body' }] },
      },
    },
    {
      name: '422 App API errors[].detail',
      outcome: () => answer(422, { errors: [{ detail: 'name is required', status: '422' }] }),
      expected: {
        kind: 'permanent',
        status: 422,
        message: 'name is required',
        body: { errors: [{ detail: 'name is required', status: '422' }] },
      },
    },
    {
      name: '401 without body',
      outcome: () => answer(401, ''),
      expected: { kind: 'permanent', status: 401, message: 'HTTP 401' },
    },
    {
      name: '401 with text body keeps the text',
      outcome: () => answer(401, 'Unauthorized request'),
      expected: { kind: 'permanent', status: 401, message: 'HTTP 401', body: 'Unauthorized request' },
    },
    {
      name: '403',
      outcome: () => answer(403, { errors: [{ detail: 'forbidden', status: '403' }] }),
      expected: {
        kind: 'permanent',
        status: 403,
        message: 'forbidden',
        body: { errors: [{ detail: 'forbidden', status: '403' }] },
      },
    },
    {
      name: '404',
      outcome: () => answer(404, { errors: [{ detail: 'segment not found', status: '404' }] }),
      expected: {
        kind: 'permanent',
        status: 404,
        message: 'segment not found',
        body: { errors: [{ detail: 'segment not found', status: '404' }] },
      },
    },
    {
      name: '301 wrong datacenter is permanent and names the target origin only',
      outcome: () =>
        answer(
          301,
          { errors: [{ detail: 'wrong datacenter', status: '301' }] },
          { Location: 'https://api-eu.customer.io/v1/segments?x=1' },
        ),
      expected: {
        kind: 'permanent',
        status: 301,
        message: 'wrong datacenter (redirected to https://api-eu.customer.io; check the configured region)',
        body: { errors: [{ detail: 'wrong datacenter', status: '301' }] },
      },
    },
    {
      name: '408',
      outcome: () => answer(408, ''),
      expected: { kind: 'retryable', status: 408, message: 'HTTP 408' },
    },
    {
      name: '429 without Retry-After',
      outcome: () => answer(429, ''),
      expected: { kind: 'rate_limited', status: 429, message: 'HTTP 429' },
    },
    {
      name: '429 with Retry-After seconds',
      outcome: () => answer(429, '', { 'Retry-After': '7' }),
      expected: { kind: 'rate_limited', status: 429, message: 'HTTP 429', retryAfterMs: 7000 },
    },
    {
      name: '429 with Retry-After HTTP-date',
      outcome: () => answer(429, '', { 'retry-after': new Date(NOW + 12_000).toUTCString() }),
      expected: { kind: 'rate_limited', status: 429, message: 'HTTP 429', retryAfterMs: 12_000 },
    },
    {
      name: '429 with a huge Retry-After is clamped to 300 s',
      outcome: () => answer(429, '', { 'retry-after': '86400' }),
      expected: { kind: 'rate_limited', status: 429, message: 'HTTP 429', retryAfterMs: 300_000 },
    },
    {
      name: '429 with a past HTTP-date is clamped to 0',
      outcome: () => answer(429, '', { 'retry-after': new Date(NOW - 60_000).toUTCString() }),
      expected: { kind: 'rate_limited', status: 429, message: 'HTTP 429', retryAfterMs: 0 },
    },
    {
      name: '429 with garbage Retry-After ignores it, keeps the body message',
      outcome: () =>
        answer(429, { errors: [{ detail: 'over the 10-per-second limit' }] }, { 'retry-after': 'soon' }),
      expected: {
        kind: 'rate_limited',
        status: 429,
        message: 'over the 10-per-second limit',
        body: { errors: [{ detail: 'over the 10-per-second limit' }] },
      },
    },
    {
      name: '500',
      outcome: () => answer(500, 'Internal Server Error'),
      expected: { kind: 'retryable', status: 500, message: 'HTTP 500', body: 'Internal Server Error' },
    },
    {
      name: '502',
      outcome: () => answer(502, ''),
      expected: { kind: 'retryable', status: 502, message: 'HTTP 502' },
    },
    {
      name: '503 with Retry-After',
      outcome: () => answer(503, '', { 'Retry-After': '3' }),
      expected: { kind: 'retryable', status: 503, message: 'HTTP 503', retryAfterMs: 3000 },
    },
    {
      name: '504',
      outcome: () => answer(504, ''),
      expected: { kind: 'retryable', status: 504, message: 'HTTP 504' },
    },
  ];

  it.each(cases)('$name', ({ outcome, expected }) => {
    expect(outcome()).toStrictEqual(expected);
  });
});

describe('classifyTransportError', () => {
  it('classifies a network error as retryable with the error code', () => {
    const err = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(classifyTransportError(err)).toStrictEqual({
      kind: 'retryable',
      message: 'network error: ECONNRESET: read ECONNRESET',
    });
  });

  it('classifies an undici socket error with its cause', () => {
    const err = Object.assign(new Error('other side closed'), {
      code: 'UND_ERR_SOCKET',
      cause: { code: 'ECONNRESET' },
    });
    expect(classifyTransportError(err)).toStrictEqual({
      kind: 'retryable',
      message: 'network error: UND_ERR_SOCKET: other side closed: cause ECONNRESET',
    });
  });

  it('classifies a caller-flagged timeout with the deadline in the message', () => {
    const err = new DOMException('This operation was aborted', 'AbortError');
    const outcome = classifyTransportError(err, { timedOut: true, timeoutMs: 250 });
    expect(outcome).toStrictEqual({ kind: 'retryable', message: 'request timed out after 250 ms' });
  });

  it('recognises timeout errors by name or undici code', () => {
    const byName = classifyTransportError(new DOMException('signal timed out', 'TimeoutError'));
    const byCode = classifyTransportError(
      Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }),
    );
    expect(byName).toMatchObject({ kind: 'retryable', message: expect.stringMatching(/^request timed out/) });
    expect(byCode).toMatchObject({ kind: 'retryable', message: expect.stringMatching(/^request timed out/) });
  });

  it('copes with thrown non-errors', () => {
    expect(classifyTransportError('boom')).toStrictEqual({
      kind: 'retryable',
      message: 'network error: boom',
    });
  });
});

describe('parseRetryAfter', () => {
  it.each([
    [undefined, undefined],
    ['', undefined],
    ['0', 0],
    ['1', 1000],
    ['1.5', 1500],
    [' 20 ', 20_000],
    ['300', MAX_RETRY_AFTER_MS],
    ['301', MAX_RETRY_AFTER_MS],
    ['-5', 0],
    ['tomorrow', undefined],
  ])('%j → %j', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });

  it('parses an HTTP-date relative to now', () => {
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 13:00:00 GMT', NOW)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe('errorMessage', () => {
  it('combines meta.error, meta.errors and errors[]', () => {
    expect(errorMessage({ meta: { error: 'a', errors: ['b'] }, errors: [{ reason: 'c' }, 'd'] }, 400)).toBe(
      'a; b; c; d',
    );
  });

  it('falls back to HTTP <status> for unknown shapes', () => {
    expect(errorMessage({ foo: 1 }, 418)).toBe('HTTP 418');
    expect(errorMessage([1, 2], 400)).toBe('HTTP 400');
    expect(errorMessage('<html>bad gateway</html>', 502)).toBe('HTTP 502');
  });

  it('truncates very long messages', () => {
    const msg = errorMessage({ meta: { errors: ['x'.repeat(2000)] } }, 400);
    expect(msg.length).toBe(501);
  });
});

describe('predicates', () => {
  it('isAuthFailure is true only for permanent 401/403', () => {
    expect(isAuthFailure(answer(401))).toBe(true);
    expect(isAuthFailure(answer(403))).toBe(true);
    expect(isAuthFailure(answer(400))).toBe(false);
    expect(isAuthFailure(answer(500))).toBe(false);
    expect(isAuthFailure(answer(200, {}))).toBe(false);
  });

  it('isRetryableOutcome covers retryable and rate_limited', () => {
    expect(isRetryableOutcome(answer(429))).toBe(true);
    expect(isRetryableOutcome(answer(503))).toBe(true);
    expect(isRetryableOutcome(classifyTransportError(new Error('x')))).toBe(true);
    expect(isRetryableOutcome(answer(400))).toBe(false);
    expect(isRetryableOutcome(answer(207, { errors: [{ batch_index: 0 }] }))).toBe(false);
  });
});
