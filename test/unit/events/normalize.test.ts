import { describe, expect, it } from 'vitest';

import type { AmplitudeEvent } from '../../../src/events/amplitude.ts';
import {
  fromAmplitudeEvent,
  fromAmplitudeGroupIdentify,
  fromAmplitudeIdentify,
  fromSegment,
  segmentTime,
} from '../../../src/events/normalize.ts';
import type { CanonicalRecord } from '../../../src/events/record.ts';
import type { SegmentCall } from '../../../src/events/segment.ts';

const RECEIVED = Date.parse('2026-03-01T12:00:00.000Z');

describe('fromAmplitudeEvent', () => {
  it.each<[string, AmplitudeEvent, CanonicalRecord]>([
    [
      'a track event with device fields',
      {
        event_type: 'Purchase',
        user_id: 'user-1',
        device_id: 'device-1',
        time: 1_700_000_000_000,
        insert_id: 'ins-1',
        event_properties: { price: 9.5 },
        user_properties: { plan: 'pro' },
        platform: 'Web',
        os_name: 'Chrome',
        app_version: '1.2.3',
        device_model: 'Mac',
        session_id: 1_699_999_000_000,
        event_id: 3,
        library: 'amplitude-ts/2.0.0',
        revenue: 9.5,
      },
      {
        kind: 'track',
        origin: 'amplitude',
        event_type: 'Purchase',
        insert_id: 'ins-1',
        client_time: 1_700_000_000_000,
        user_id: 'user-1',
        anonymous_id: 'device-1',
        time: 1_700_000_000_000,
        event_properties: { price: 9.5 },
        user_properties: { plan: 'pro' },
        context: {
          platform: 'Web',
          os_name: 'Chrome',
          app_version: '1.2.3',
          device_model: 'Mac',
          session_id: 1_699_999_000_000,
          event_id: 3,
          library: 'amplitude-ts/2.0.0',
          revenue: 9.5,
        },
      },
    ],
    [
      'no time: the receive time; a page view stays a track event',
      {
        event_type: '[Amplitude] Page Viewed',
        device_id: 'device-1',
        event_properties: { '[Amplitude] Page Path': '/' },
      },
      {
        kind: 'track',
        origin: 'amplitude',
        event_type: '[Amplitude] Page Viewed',
        anonymous_id: 'device-1',
        time: RECEIVED,
        event_properties: { '[Amplitude] Page Path': '/' },
        user_properties: {},
        context: {},
      },
    ],
    [
      '$identify',
      {
        event_type: '$identify',
        user_id: 'user-1',
        user_properties: { $set: { plan: 'pro' } },
        groups: { org: 'Acme' },
      },
      {
        kind: 'identify',
        origin: 'amplitude',
        event_type: '$identify',
        user_id: 'user-1',
        time: RECEIVED,
        event_properties: {},
        user_properties: { $set: { plan: 'pro' } },
        groups: { org: 'Acme' },
        context: {},
      },
    ],
    [
      '$groupidentify',
      {
        event_type: '$groupidentify',
        device_id: 'device-1',
        groups: { org: 'Acme' },
        group_properties: { $set: { seats: 3 } },
      },
      {
        kind: 'group_identify',
        origin: 'amplitude',
        event_type: '$groupidentify',
        anonymous_id: 'device-1',
        time: RECEIVED,
        event_properties: {},
        user_properties: {},
        groups: { org: 'Acme' },
        group_properties: { $set: { seats: 3 } },
        context: {},
      },
    ],
  ])('%s', (_name, event, record) => {
    expect(fromAmplitudeEvent(event, RECEIVED)).toStrictEqual(record);
  });

  it('replaces ip "$remote" with the uploader address', () => {
    const event = { event_type: 'E', device_id: 'device-1', ip: '$remote' };
    expect(fromAmplitudeEvent(event, RECEIVED, { ip: '10.0.0.7' }).context).toEqual({ ip: '10.0.0.7' });
    expect(fromAmplitudeEvent(event, RECEIVED).context).toEqual({ ip: '$remote' });
  });
});

describe('Identify API objects', () => {
  it('fromAmplitudeIdentify', () => {
    expect(
      fromAmplitudeIdentify(
        { user_id: 'user-1', user_properties: { $set: { plan: 'pro' } }, platform: 'iOS', paying: true },
        RECEIVED,
      ),
    ).toStrictEqual({
      kind: 'identify',
      origin: 'amplitude',
      event_type: '$identify',
      user_id: 'user-1',
      time: RECEIVED,
      event_properties: {},
      user_properties: { $set: { plan: 'pro' } },
      context: { platform: 'iOS', paying: true },
    });
  });

  it('fromAmplitudeGroupIdentify', () => {
    expect(
      fromAmplitudeGroupIdentify(
        { group_type: 'org', group_value: 'Acme', group_properties: { $set: { seats: 3 } } },
        RECEIVED,
      ),
    ).toStrictEqual({
      kind: 'group_identify',
      origin: 'amplitude',
      event_type: '$groupidentify',
      time: RECEIVED,
      event_properties: {},
      user_properties: {},
      group_properties: { $set: { seats: 3 } },
      groups: { org: 'Acme' },
      context: {},
    });
  });
});

describe('fromSegment', () => {
  const base = {
    messageId: 'm-1',
    userId: 'user-1',
    anonymousId: 'anon-1',
    timestamp: '2026-03-01T11:00:00.000Z',
  };
  const T = Date.parse(base.timestamp);
  const library = { name: 'analytics.js', version: '1.0.0' };

  it.each<[string, SegmentCall, CanonicalRecord]>([
    [
      'track',
      {
        ...base,
        type: 'track',
        event: 'Order Completed',
        properties: { total: 10 },
        context: { library, traits: { email: 'a@x.io' } },
      },
      {
        kind: 'track',
        origin: 'segment',
        insert_id: 'm-1',
        client_time: T,
        event_type: 'Order Completed',
        user_id: 'user-1',
        anonymous_id: 'anon-1',
        time: T,
        event_properties: { total: 10 },
        user_properties: { email: 'a@x.io' },
        context: { library, traits: { email: 'a@x.io' } },
      },
    ],
    [
      'identify',
      { ...base, type: 'identify', traits: { email: 'a@x.io', plan: 'pro' } },
      {
        kind: 'identify',
        origin: 'segment',
        insert_id: 'm-1',
        client_time: T,
        user_id: 'user-1',
        anonymous_id: 'anon-1',
        time: T,
        event_properties: {},
        user_properties: { email: 'a@x.io', plan: 'pro' },
        context: {},
      },
    ],
    [
      'page with category',
      { ...base, type: 'page', name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } },
      {
        kind: 'page',
        origin: 'segment',
        insert_id: 'm-1',
        client_time: T,
        name: 'Pricing',
        user_id: 'user-1',
        anonymous_id: 'anon-1',
        time: T,
        event_properties: { path: '/pricing', category: 'Docs' },
        user_properties: {},
        context: {},
      },
    ],
    [
      'screen without name',
      { anonymousId: 'anon-1', type: 'screen' },
      {
        kind: 'screen',
        origin: 'segment',
        anonymous_id: 'anon-1',
        time: RECEIVED,
        event_properties: {},
        user_properties: {},
        context: {},
      },
    ],
    [
      'group',
      {
        ...base,
        type: 'group',
        groupId: 'acme',
        traits: { name: 'Acme' },
        integrations: { 'Customer.io': false },
      },
      {
        kind: 'group',
        origin: 'segment',
        insert_id: 'm-1',
        client_time: T,
        user_id: 'user-1',
        anonymous_id: 'anon-1',
        group_id: 'acme',
        time: T,
        event_properties: {},
        user_properties: {},
        group_properties: { name: 'Acme' },
        context: { integrations: { 'Customer.io': false } },
      },
    ],
    [
      'alias',
      { messageId: 'm-2', userId: 'user-1', type: 'alias', previousId: 'anon-1', integrations: {} },
      {
        kind: 'alias',
        origin: 'segment',
        insert_id: 'm-2',
        user_id: 'user-1',
        previous_id: 'anon-1',
        time: RECEIVED,
        event_properties: {},
        user_properties: {},
        context: {},
      },
    ],
  ])('%s', (_name, call, record) => {
    expect(fromSegment(call, RECEIVED)).toStrictEqual(record);
  });
});

describe('segmentTime', () => {
  const received = Date.parse('2026-03-01T12:00:00.000Z');
  it.each<[string, Partial<SegmentCall>, number]>([
    ['no time: receive time', {}, received],
    [
      'timestamp, no sentAt: as sent',
      { timestamp: '2026-03-01T11:00:00.000Z' },
      Date.parse('2026-03-01T11:00:00.000Z'),
    ],
    [
      'originalTimestamp when no timestamp',
      { originalTimestamp: '2026-03-01T11:30:00Z' },
      Date.parse('2026-03-01T11:30:00Z'),
    ],
    [
      // The device clock is 1 h fast: the call happened 5 s before it was sent, so 5 s before receipt.
      'clock skew corrected with sentAt',
      { timestamp: '2026-03-01T12:59:55.000Z', sentAt: '2026-03-01T13:00:00.000Z' },
      received - 5000,
    ],
    [
      'offsets are honoured',
      { timestamp: '2026-03-01T13:00:00.000+02:00' },
      Date.parse('2026-03-01T11:00:00.000Z'),
    ],
  ])('%s', (_name, times, expected) => {
    expect(segmentTime({ type: 'track', event: 'E', userId: 'u', ...times } as SegmentCall, received)).toBe(
      expected,
    );
  });
});
