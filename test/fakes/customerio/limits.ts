/**
 * The fake's limits and throttle. The documented values are the engine's named constants
 * (src/customerio/limits.ts, whose own test pins them to the docs), so there is one place that
 * states them; the checks below are the fake's own, written apart from the engine's check functions,
 * so a bug in those cannot hide itself. Messages follow Customer.io's wording where it is known.
 */
import {
  MAX_ATTRIBUTE_NAME_BYTES,
  MAX_ATTRIBUTE_VALUE_BYTES,
  MAX_ATTRIBUTES,
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEM_BYTES,
  MAX_ENTITY_BYTES,
  MAX_EVENT_DATA_BYTES,
  MAX_EVENT_NAME_BYTES,
  MAX_IDENTIFIER_BYTES,
  MAX_SEGMENT_IDS_PER_CALL,
  MAX_SEGMENT_MEMBERSHIP_PAGE,
} from '../../../src/customerio/limits.ts';
import { isRecord, retryAfterHeader, type FakeApi, type FakeResponse } from './shared.ts';

export interface FakeLimits {
  identifierBytes: number;
  attributeNameBytes: number;
  attributeValueBytes: number;
  attributes: number;
  eventNameBytes: number;
  eventDataBytes: number;
  itemBytes: number;
  entityBytes: number;
  batchBytes: number;
  segmentIds: number;
  membershipPage: number;
}

export const FAKE_DEFAULT_LIMITS: Readonly<FakeLimits> = {
  identifierBytes: MAX_IDENTIFIER_BYTES,
  attributeNameBytes: MAX_ATTRIBUTE_NAME_BYTES,
  attributeValueBytes: MAX_ATTRIBUTE_VALUE_BYTES,
  attributes: MAX_ATTRIBUTES,
  eventNameBytes: MAX_EVENT_NAME_BYTES,
  eventDataBytes: MAX_EVENT_DATA_BYTES,
  itemBytes: MAX_BATCH_ITEM_BYTES,
  entityBytes: MAX_ENTITY_BYTES,
  batchBytes: MAX_BATCH_BYTES,
  segmentIds: MAX_SEGMENT_IDS_PER_CALL,
  membershipPage: MAX_SEGMENT_MEMBERSHIP_PAGE,
};

export interface FakeRateLimit {
  /** Accepted Track requests per rolling second before 429. */
  trackPerSecond?: number;
  /** Accepted App requests per rolling second before 429 (Customer.io documents 10). */
  appPerSecond?: number;
  /** `Retry-After` on the 429: seconds, a Date (sent as an HTTP-date) or a raw header value. Default none. */
  retryAfter?: number | Date | string;
}

export function identifierProblem(limits: FakeLimits, value: string): string | undefined {
  if (value === '') return 'identifier cannot be empty';
  const bytes = Buffer.byteLength(value);
  if (bytes > limits.identifierBytes)
    return `identifier cannot be longer than ${limits.identifierBytes} bytes`;
  return undefined;
}

export function attributesProblem(
  limits: FakeLimits,
  attributes: Record<string, unknown>,
): string | undefined {
  const names = Object.keys(attributes);
  if (names.length > limits.attributes) return `cannot set more than ${limits.attributes} attributes`;
  for (const name of names) {
    if (Buffer.byteLength(name) > limits.attributeNameBytes) {
      return `attribute name '${name.slice(0, 40)}' cannot be longer than ${limits.attributeNameBytes} bytes`;
    }
    const value = attributes[name];
    const bytes = Buffer.byteLength(typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));
    if (bytes > limits.attributeValueBytes) {
      return `value for attribute '${name}' cannot be longer than ${limits.attributeValueBytes} bytes`;
    }
  }
  return undefined;
}

export function eventProblem(
  limits: FakeLimits,
  name: unknown,
  type: unknown,
  data: unknown,
): string | undefined {
  if (type !== undefined && type !== 'event' && type !== 'page' && type !== 'screen') {
    return `type must be one of event, page, screen`;
  }
  if (typeof name !== 'string' || name.trim() === '') return 'event name is required';
  if (Buffer.byteLength(name.trim()) > limits.eventNameBytes) {
    return `event name cannot be longer than ${limits.eventNameBytes} bytes`;
  }
  if (data !== undefined && data !== null) {
    if (!isRecord(data)) return 'event data must be an object';
    if (Buffer.byteLength(JSON.stringify(data)) > limits.eventDataBytes) {
      return `event data cannot be larger than ${limits.eventDataBytes} bytes`;
    }
  }
  return undefined;
}

/** Accepted requests per API in a rolling second; the request over the limit gets the 429. */
export class Throttle {
  #trackHits: number[] = [];
  #appHits: number[] = [];

  /** The 429 for a request over `rateLimit`, else undefined (and the request counts). */
  check(api: Exclude<FakeApi, 'other'>, rateLimit: FakeRateLimit | undefined): FakeResponse | undefined {
    const limit = api === 'track' ? rateLimit?.trackPerSecond : rateLimit?.appPerSecond;
    if (limit === undefined) return undefined;
    const now = Date.now();
    const hits = (api === 'track' ? this.#trackHits : this.#appHits).filter((t) => now - t < 1000);
    if (api === 'track') this.#trackHits = hits;
    else this.#appHits = hits;
    if (hits.length >= limit) {
      const headers: Record<string, string> = {};
      const ra = retryAfterHeader(rateLimit?.retryAfter);
      if (ra !== undefined) headers['retry-after'] = ra;
      const body =
        api === 'app'
          ? { errors: [{ detail: `Your request is over the ${limit}-per-second limit`, status: '429' }] }
          : { meta: { errors: ['rate limit exceeded'] } };
      return { status: 429, body, headers };
    }
    hits.push(now);
    return undefined;
  }

  clear(): void {
    this.#trackHits = [];
    this.#appHits = [];
  }
}
