import { describe, expect, it } from 'vitest';

import { eventId } from '../../../src/mapping/map-record.ts';
import { fromSegment } from '../../../src/events/normalize.ts';
import { parseSegmentCall } from '../../../src/events/segment.ts';
import { parseSegmentWebhookMessage } from '../../../src/events/segment-webhook.ts';

const RECEIVED = Date.UTC(2026, 10, 20, 9, 0, 5);

/** A track call as Segment delivers it: its own receivedAt, the corrected timestamp, the client's as originalTimestamp. */
const delivered = {
  type: 'track',
  event: 'Order Completed',
  userId: 'user-1',
  anonymousId: 'anon-1',
  messageId: 'msg-1',
  properties: { total: 30 },
  context: { library: { name: 'analytics-node', version: '3.1.0' }, traits: { email: 'a@example.test' } },
  integrations: {},
  originalTimestamp: '2026-11-20T08:59:00.000Z',
  sentAt: '2026-11-20T08:59:01.000Z',
  receivedAt: '2026-11-20T09:00:02.000Z',
  timestamp: '2026-11-20T09:00:01.000Z',
  version: 2,
};

describe('parseSegmentWebhookMessage', () => {
  it('maps a delivered call as the tracking API maps it, keeping Segment’s corrected time', () => {
    const parsed = parseSegmentWebhookMessage(delivered, RECEIVED);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.record).toMatchObject({
      kind: 'track',
      origin: 'segment',
      event_type: 'Order Completed',
      insert_id: 'msg-1',
      user_id: 'user-1',
      anonymous_id: 'anon-1',
      time: Date.parse('2026-11-20T09:00:01.000Z'),
      client_time: Date.parse('2026-11-20T08:59:00.000Z'),
      event_properties: { total: 30 },
      user_properties: { email: 'a@example.test' },
    });
  });

  it('gives the call the Customer.io id the tracking API gives the SDK’s call', () => {
    const sdkCall = parseSegmentCall(
      {
        event: 'Order Completed',
        userId: 'user-1',
        messageId: 'msg-1',
        timestamp: '2026-11-20T08:59:00.000Z',
        sentAt: '2026-11-20T08:59:01.000Z',
      },
      'track',
    );
    if (!sdkCall.ok) throw new Error('fixture');
    const viaApi = fromSegment(sdkCall.calls[0]!, Date.parse('2026-11-20T09:00:02.000Z'));
    const parsed = parseSegmentWebhookMessage(delivered, RECEIVED);
    if (!parsed.ok) throw new Error('fixture');
    expect(eventId(parsed.record, 'seg', 40)).toBe(eventId(viaApi, 'seg', 2));
    expect(parsed.record.time).toBe(viaApi.time);
  });

  it('maps every Segment call type', () => {
    for (const [type, extra] of [
      ['identify', { traits: { plan: 'pro' } }],
      ['page', { name: 'Home', properties: { url: 'https://x.test' } }],
      ['screen', { name: 'Home' }],
      ['group', { groupId: 'g-1', traits: { name: 'Acme' } }],
      ['alias', { previousId: 'anon-1' }],
    ] as const) {
      const parsed = parseSegmentWebhookMessage({ ...delivered, event: undefined, type, ...extra }, RECEIVED);
      expect(parsed.ok && parsed.record.kind, type).toBe(type);
    }
  });

  it('turns a delete message into a user deletion', () => {
    const parsed = parseSegmentWebhookMessage(
      { type: 'delete', userId: 'user-1', messageId: 'del-1', timestamp: '2026-11-20T09:00:00.000Z' },
      RECEIVED,
    );
    expect(parsed).toEqual({
      ok: true,
      record: {
        kind: 'user_deletion',
        origin: 'segment',
        user_id: 'user-1',
        insert_id: 'del-1',
        time: Date.parse('2026-11-20T09:00:00.000Z'),
        event_properties: { requester: 'segment' },
        user_properties: {},
        context: { api: 'segment_webhook' },
      },
    });
  });

  it('names what is wrong, with the batch index', () => {
    expect(parseSegmentWebhookMessage({ ...delivered, type: 'bogus' }, RECEIVED, 3)).toMatchObject({
      ok: false,
      problems: [{ index: 3, field: 'type' }],
    });
    expect(parseSegmentWebhookMessage({ ...delivered, event: undefined }, RECEIVED, 0)).toMatchObject({
      ok: false,
      problems: [{ index: 0, field: 'event' }],
    });
    expect(parseSegmentWebhookMessage({ type: 'delete' }, RECEIVED)).toMatchObject({
      ok: false,
      problems: [{ field: 'userId' }],
    });
    expect(parseSegmentWebhookMessage('x', RECEIVED)).toMatchObject({ ok: false });
  });
});
