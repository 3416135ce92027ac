import { describe, expect, it } from 'vitest';

import { classifyResponse, classifyTransportError } from '../../../src/customerio/classify.ts';
import { FAILURE_TYPES, decide } from '../../../src/customerio/policy.ts';

const answer = (status: number, body?: unknown, headers: Record<string, string> = {}) =>
  classifyResponse({ status, headers, bodyText: body === undefined ? '' : JSON.stringify(body) });

describe('the Customer.io send policy', () => {
  it.each([
    [200, 'done'],
    [207, 'done'],
    [400, 'dead_letter'],
    [413, 'dead_letter'],
    [422, 'dead_letter'],
    [401, 'hold'],
    [403, 'hold'],
    [301, 'hold'],
    [302, 'hold'],
    [307, 'hold'],
    [404, 'hold'],
    [405, 'hold'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
  ])('HTTP %i → %s', (status, action) => {
    expect(decide(answer(status, status === 207 ? { errors: [{ batch_index: 0 }] } : {})).action).toBe(
      action,
    );
  });

  it('holds a sync on wrong credentials and on a wrong URL, with reasons an operator can act on', () => {
    expect(decide(answer(401))).toMatchObject({ action: 'hold', hold: 'credentials_rejected', status: 401 });
    const redirect = decide(
      answer(301, undefined, { location: 'https://track-eu.customer.io/api/v2/batch' }),
    );
    expect(redirect).toMatchObject({ action: 'hold', hold: 'destination_unreachable', status: 301 });
    expect(redirect.action === 'hold' && redirect.message).toContain('https://track-eu.customer.io');
    expect(decide(answer(404, { errors: [{ message: 'not found' }] }))).toMatchObject({
      action: 'hold',
      hold: 'destination_unreachable',
      message: expect.stringContaining('check the destination'),
    });
  });

  it('holds on DNS and TLS failures, retries other network failures and timeouts', () => {
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND trak.customer.io'), { code: 'ENOTFOUND' });
    expect(decide(classifyTransportError(dns))).toMatchObject({
      action: 'hold',
      hold: 'destination_unreachable',
    });
    const tls = new Error('fetch failed', {
      cause: Object.assign(new Error('unable to verify'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
    });
    expect(decide(classifyTransportError(tls))).toMatchObject({
      action: 'hold',
      hold: 'destination_unreachable',
    });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(decide(classifyTransportError(reset))).toMatchObject({
      action: 'retry',
      failureType: FAILURE_TYPES.unavailable,
    });
    expect(decide(classifyTransportError(new Error('x'), { timedOut: true, timeoutMs: 10 }))).toMatchObject({
      action: 'retry',
    });
  });

  it('carries Retry-After and names the failure type of a 429', () => {
    expect(decide(answer(429, {}, { 'retry-after': '7' }))).toEqual({
      action: 'retry',
      failureType: FAILURE_TYPES.rateLimited,
      status: 429,
      message: 'Customer.io HTTP 429: HTTP 429',
      retryAfterMs: 7000,
    });
  });

  it('passes 207 item errors on for the caller to dead-letter or skip', () => {
    expect(
      decide(answer(207, { errors: [{ batch_index: 1, reason: 'invalid', field: 'name', message: 'x' }] })),
    ).toMatchObject({ action: 'done', itemErrors: [{ batch_index: 1, reason: 'invalid', field: 'name' }] });
  });
});
