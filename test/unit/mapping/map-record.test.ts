import { describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../../../src/events/record.ts';
import { mapRecord } from '../../../src/mapping/map-record.ts';
import type { MapResult, PersonIdentifiers } from '../../../src/mapping/ops.ts';
import { T, T_SECONDS, record, streamSync } from '../../helpers/mapping.ts';
import { eventUlid } from '../../../src/mapping/ulid.ts';

/** The id mapRecord derives for a record with this dedupe seed, read from source `web`. */
const idFor = (seed: string, time = T) => eventUlid(time, `web\u0000${seed}`);

function event(
  name: string,
  identifiers: object,
  attributes: object = {},
  seed = 'msg-1',
  action = 'event',
): MapResult {
  return {
    kind: 'send',
    ops: [{ type: 'person', action, identifiers, name, id: idFor(seed), timestamp: T_SECONDS, attributes }],
  } as MapResult;
}

type Case = { name: string; rec: CanonicalRecord; sync?: Record<string, unknown>; result: MapResult };

function run(cases: Case[]) {
  it.each(cases)('$name', ({ rec, sync, result }) => {
    expect(mapRecord(rec, streamSync(sync), 'web')).toEqual(result);
  });
}

const purchase = (overrides: Partial<CanonicalRecord> = {}) =>
  record({ kind: 'track', event_type: 'Purchase', user_id: 'u1', insert_id: 'msg-1', ...overrides });

describe('track', () => {
  run([
    {
      name: 'an event with its ULID, Unix-seconds time and empty data',
      rec: purchase(),
      result: event('Purchase', { id: 'u1' }),
    },
    {
      name: 'selected event, user and group properties as flat data',
      rec: purchase({
        event_properties: { plan: 'pro', price: 30, secret: 'x' },
        user_properties: { $set: { email: 'a@b.co', plan: 'free' } },
        group_properties: { company: 'Acme' },
      }),
      sync: { events: { properties: { event: ['plan', 'price'], user: ['email', 'plan'], group: '*' } } },
      result: event('Purchase', { id: 'u1' }, { plan: 'pro', price: 30, email: 'a@b.co', company: 'Acme' }),
    },
    {
      name: 'without an insert_id the id is seeded by the log entry',
      rec: purchase({ insert_id: undefined }),
      result: event('Purchase', { id: 'u1' }, {}, 'log\u00000'),
    },
    {
      name: 'an email-shaped user id',
      rec: purchase({ user_id: 'ann@example.com' }),
      result: event('Purchase', { email: 'ann@example.com' }),
    },
    {
      name: 'a cio_ user id',
      rec: purchase({ user_id: 'cio_a3000001' }),
      result: event('Purchase', { cio_id: 'a3000001' }),
    },
    {
      name: 'identifier from a user property set with $set',
      rec: purchase({ user_properties: { $set: { email: 'ann@example.com' } } }),
      sync: { identifier: 'user_properties.email' },
      result: event('Purchase', { email: 'ann@example.com' }),
    },
    {
      name: 'a numeric identifier property is stringified',
      rec: purchase({ event_properties: { account: { id: 42 } } }),
      sync: { identifier: 'event_properties.account.id' },
      result: event('Purchase', { id: '42' }),
    },
    {
      name: 'no identifier',
      rec: purchase({ user_id: undefined, anonymous_id: 'anon-1' }),
      result: { kind: 'filtered', reason: 'no_identifier' },
    },
    {
      name: 'a blank identifier',
      rec: purchase({ user_id: '  ' }),
      result: { kind: 'filtered', reason: 'no_identifier' },
    },
    {
      name: 'anonymous sync: identified by anonymous_id',
      rec: purchase({ user_id: undefined, anonymous_id: 'anon-1' }),
      sync: { anonymous: true },
      result: event('Purchase', { anonymous_id: 'anon-1' }),
    },
    {
      name: 'anonymous sync still prefers the identifier',
      rec: purchase({ anonymous_id: 'anon-1' }),
      sync: { anonymous: true },
      result: event('Purchase', { id: 'u1' }),
    },
    {
      name: 'anonymous sync without an anonymous_id',
      rec: purchase({ user_id: undefined }),
      sync: { anonymous: true },
      result: { kind: 'filtered', reason: 'no_identifier' },
    },
    {
      name: 'identifier over 150 bytes',
      rec: purchase({ user_id: 'u'.repeat(151) }),
      result: {
        kind: 'dead_letter',
        reason: 'identifier_too_long',
        detail: 'identifier is 151 bytes, limit 150',
      },
    },
    {
      name: 'events.send off',
      rec: purchase(),
      sync: { events: { send: false } },
      result: { kind: 'filtered', reason: 'events_disabled' },
    },
    {
      name: 'event type filter',
      rec: purchase(),
      sync: { events: { filter: { eventTypes: ['Signed Up'] } } },
      result: { kind: 'filtered', reason: 'event_type_not_included' },
    },
    {
      name: 'excluded type',
      rec: purchase(),
      sync: { events: { filter: { excludeEventTypes: ['Purchase'] } } },
      result: { kind: 'filtered', reason: 'event_type_excluded' },
    },
    {
      name: 'requireUserId is checked before the identifier',
      rec: purchase({ user_id: undefined, anonymous_id: 'anon-1' }),
      sync: { anonymous: true, events: { filter: { requireUserId: true } } },
      result: { kind: 'filtered', reason: 'no_user_id' },
    },
    {
      name: 'where condition',
      rec: purchase({ event_properties: { price: 5 } }),
      sync: {
        events: {
          filter: { where: [{ property: 'event_properties.price', op: 'greater_than', value: 10 }] },
        },
      },
      result: { kind: 'filtered', reason: 'condition_not_met:0' },
    },
    {
      name: 'no event type',
      rec: purchase({ event_type: undefined }),
      result: { kind: 'dead_letter', reason: 'event_name_invalid', detail: 'event name is empty' },
    },
    {
      name: 'event name over 100 bytes',
      rec: purchase({ event_type: 'E'.repeat(101) }),
      result: {
        kind: 'dead_letter',
        reason: 'event_name_invalid',
        detail: 'event name is 101 bytes, limit 100',
      },
    },
    {
      name: 'event data over 100,000 bytes',
      rec: purchase({ event_properties: { blob: 'x'.repeat(100_000) } }),
      sync: { events: { properties: { event: '*' } } },
      result: {
        kind: 'dead_letter',
        reason: 'event_data_too_large',
        detail: 'event data is 100011 bytes, limit 100000',
      },
    },
    {
      name: 'operation over 32 KB',
      rec: purchase({ event_properties: { blob: 'x'.repeat(32_000) } }),
      sync: { events: { properties: { event: '*' } } },
      result: {
        kind: 'dead_letter',
        reason: 'item_too_large',
        detail: 'operation is 32160 bytes serialized, limit 32000',
      },
    },
    {
      name: 'a time that is not epoch milliseconds',
      rec: purchase({ time: Number.NaN }),
      result: {
        kind: 'dead_letter',
        reason: 'invalid_time',
        detail: 'time must be epoch milliseconds, got NaN',
      },
    },
  ]);

  it('namespaces the dedupe seed by source, and without a source uses the bare seed', () => {
    expect({
      web: mapRecord(purchase(), streamSync(), 'web'),
      app: mapRecord(purchase(), streamSync(), 'app'),
      none: mapRecord(purchase(), streamSync()),
    }).toEqual({
      web: event('Purchase', { id: 'u1' }),
      app: {
        kind: 'send',
        ops: [{ ...opOf(event('Purchase', { id: 'u1' })), id: eventUlid(T, 'app\u0000msg-1') }],
      },
      none: { kind: 'send', ops: [{ ...opOf(event('Purchase', { id: 'u1' })), id: eventUlid(T, 'msg-1') }] },
    });
  });

  it('maps a redelivered record to the same operation', () => {
    const rec = purchase({ insert_id: undefined, event_properties: { b: 1, a: 2 } });
    const reordered = purchase({ insert_id: undefined, event_properties: { a: 2, b: 1 } });
    expect(mapRecord(reordered, streamSync(), 'web')).toEqual(mapRecord(rec, streamSync(), 'web'));
  });
});

function opOf(result: MapResult): object {
  if (result.kind !== 'send' || result.ops[0] === undefined) throw new Error('expected one op');
  return result.ops[0];
}

const segmentPage = (overrides: Partial<CanonicalRecord> = {}) =>
  record({ kind: 'page', origin: 'segment', user_id: 'u1', insert_id: 'msg-1', ...overrides });
const amplitudePage = (overrides: Partial<CanonicalRecord> = {}) =>
  record({
    kind: 'track',
    origin: 'amplitude',
    event_type: '[Amplitude] Page Viewed',
    user_id: 'u1',
    insert_id: 'msg-1',
    ...overrides,
  });
const longUrl = `https://example.com/pricing/enterprise?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale_2024#plans`;

describe('page', () => {
  run([
    {
      name: 'Segment page with a name',
      rec: segmentPage({ name: 'Pricing' }),
      result: event('Pricing', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'without a name: the URL from properties',
      rec: segmentPage({ event_properties: { url: 'https://example.com/pricing' } }),
      result: event('https://example.com/pricing', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'without a name: the URL from context.page',
      rec: segmentPage({ context: { page: { url: 'https://example.com/a' } } }),
      result: event('https://example.com/a', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'a URL over 100 bytes loses its query and fragment',
      rec: segmentPage({ event_properties: { url: longUrl } }),
      sync: { events: { properties: { event: ['url'] } } },
      result: event(
        'https://example.com/pricing/enterprise',
        { id: 'u1' },
        { url: longUrl },
        'msg-1',
        'page',
      ),
    },
    {
      name: 'a blank name counts as none',
      rec: segmentPage({ name: ' ', event_properties: { page_url: 'https://example.com/b' } }),
      result: event('https://example.com/b', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'no name and no URL',
      rec: segmentPage(),
      result: event('Undefined', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'Amplitude page view, named by its page URL',
      rec: amplitudePage({
        event_properties: {
          '[Amplitude] Page URL': 'https://example.com/',
          '[Amplitude] Page Title': 'Home',
        },
      }),
      sync: { events: { properties: { event: ['[Amplitude] Page Title'] } } },
      result: event(
        'https://example.com/',
        { id: 'u1' },
        { '[Amplitude] Page Title': 'Home' },
        'msg-1',
        'page',
      ),
    },
    {
      name: 'Amplitude page view, by page location',
      rec: amplitudePage({ event_properties: { '[Amplitude] Page Location': 'https://example.com/?q=1' } }),
      result: event('https://example.com/?q=1', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'Amplitude page view with a record name',
      rec: amplitudePage({
        name: 'Home',
        event_properties: { '[Amplitude] Page URL': 'https://example.com/' },
      }),
      result: event('Home', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'custom page view event types',
      rec: amplitudePage({ event_type: 'Page Loaded', event_properties: { url: 'https://example.com/c' } }),
      sync: { events: { pageViews: { eventTypes: ['Page Loaded'] } } },
      result: event('https://example.com/c', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'as events: Amplitude keeps its event type',
      rec: amplitudePage({ event_properties: { '[Amplitude] Page URL': 'https://example.com/' } }),
      sync: { events: { pageViews: { as: 'event' } } },
      result: event('[Amplitude] Page Viewed', { id: 'u1' }),
    },
    {
      name: 'as events: a Segment page becomes Viewed {name} Page',
      rec: segmentPage({ name: 'Pricing' }),
      sync: { events: { pageViews: { as: 'event' } } },
      result: event('Viewed Pricing Page', { id: 'u1' }),
    },
    {
      name: 'as events: a Segment page without a name',
      rec: segmentPage({ event_properties: { url: 'https://example.com/' } }),
      sync: { events: { pageViews: { as: 'event' } } },
      result: event('Viewed Undefined Page', { id: 'u1' }),
    },
    {
      name: 'a type filter matches the Amplitude event type of a native page view',
      rec: amplitudePage({ event_properties: { '[Amplitude] Page URL': 'https://example.com/' } }),
      sync: { events: { filter: { eventTypes: ['[Amplitude] Page Viewed'] } } },
      result: event('https://example.com/', { id: 'u1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'a type filter matches Viewed {name} Page for a Segment page',
      rec: segmentPage({ name: 'Pricing' }),
      sync: { events: { filter: { excludeEventTypes: ['Viewed Pricing Page'] } } },
      result: { kind: 'filtered', reason: 'event_type_excluded' },
    },
    {
      name: 'anonymous page view',
      rec: segmentPage({ user_id: undefined, anonymous_id: 'anon-1', name: 'Home' }),
      sync: { anonymous: true },
      result: event('Home', { anonymous_id: 'anon-1' }, {}, 'msg-1', 'page'),
    },
    {
      name: 'events.send off',
      rec: segmentPage(),
      sync: { events: { send: false } },
      result: { kind: 'filtered', reason: 'events_disabled' },
    },
  ]);
});

const segmentScreen = (overrides: Partial<CanonicalRecord> = {}) =>
  record({ kind: 'screen', origin: 'segment', user_id: 'u1', insert_id: 'msg-1', ...overrides });
const amplitudeScreen = (overrides: Partial<CanonicalRecord> = {}) =>
  record({
    kind: 'track',
    origin: 'amplitude',
    event_type: '[Amplitude] Screen Viewed',
    user_id: 'u1',
    insert_id: 'msg-1',
    ...overrides,
  });

describe('screen', () => {
  run([
    {
      name: 'Segment screen → Viewed {name} Screen',
      rec: segmentScreen({ name: 'Home' }),
      result: event('Viewed Home Screen', { id: 'u1' }),
    },
    { name: 'without a name', rec: segmentScreen(), result: event('Viewed Undefined Screen', { id: 'u1' }) },
    {
      name: 'Amplitude screen, named by [Amplitude] Screen Name',
      rec: amplitudeScreen({ event_properties: { '[Amplitude] Screen Name': 'Settings' } }),
      result: event('Viewed Settings Screen', { id: 'u1' }),
    },
    {
      name: 'as native screens',
      rec: segmentScreen({ name: 'Home', event_properties: { tab: 'feed' } }),
      sync: { events: { screenViews: { as: 'screen' }, properties: { event: '*' } } },
      result: event('Home', { id: 'u1' }, { tab: 'feed' }, 'msg-1', 'screen'),
    },
    {
      name: 'as native screens, without a name',
      rec: amplitudeScreen(),
      sync: { events: { screenViews: { as: 'screen' } } },
      result: event('Undefined', { id: 'u1' }, {}, 'msg-1', 'screen'),
    },
    {
      name: 'custom screen view event types',
      rec: amplitudeScreen({ event_type: 'Screen Shown', name: 'Cart' }),
      sync: { events: { screenViews: { eventTypes: ['Screen Shown'] } } },
      result: event('Viewed Cart Screen', { id: 'u1' }),
    },
    {
      name: 'a type filter on the Viewed … Screen name of a native screen',
      rec: segmentScreen({ name: 'Home' }),
      sync: { events: { screenViews: { as: 'screen' }, filter: { eventTypes: ['Viewed Home Screen'] } } },
      result: event('Home', { id: 'u1' }, {}, 'msg-1', 'screen'),
    },
    {
      name: 'a type filter on the Amplitude event type',
      rec: amplitudeScreen({ name: 'Home' }),
      sync: { events: { filter: { excludeEventTypes: ['[Amplitude] Screen Viewed'] } } },
      result: { kind: 'filtered', reason: 'event_type_excluded' },
    },
  ]);
});

const TOKEN = 'ff15bc0c20c4aa6cd50854ff165fd265c838e5405bfeb9571066395b8c9da449';
const appEvent = (
  event_type: string,
  context: Record<string, unknown>,
  overrides: Partial<CanonicalRecord> = {},
) =>
  record({
    kind: 'track',
    origin: 'segment',
    event_type,
    user_id: 'u1',
    insert_id: 'msg-1',
    context,
    ...overrides,
  });
const iosContext = {
  device: { token: TOKEN, type: 'ios', model: 'iPhone15,2' },
  os: { name: 'iOS', version: '17.2' },
  app: { version: '1.2.3', build: '1234' },
  locale: 'en-US',
};

function addDevice(
  platform: string,
  attributes: Record<string, string> = {},
  identifiers: PersonIdentifiers = { id: 'u1' },
): MapResult {
  return {
    kind: 'send',
    ops: [
      {
        type: 'person',
        action: 'add_device',
        identifiers,
        device: { token: TOKEN, platform, last_used: T_SECONDS, attributes },
      },
    ],
  };
}

describe('devices', () => {
  run([
    {
      name: 'Application Installed adds the device with what the context says about it',
      rec: appEvent('Application Installed', iosContext, {
        event_properties: { version: '1.2.3', build: 1234 },
      }),
      result: addDevice('ios', {
        app_version: '1.2.3',
        device_os: 'iOS 17.2',
        device_model: 'iPhone15,2',
        device_locale: 'en-US',
      }),
    },
    {
      name: 'selected event properties become string device attributes; context wins a clash',
      rec: appEvent(
        'Application Opened',
        { device: { token: TOKEN, type: 'android' }, app: { version: '2.0' } },
        {
          event_properties: { build: 1234, beta: true, app_version: 'stale', meta: { a: 1 }, none: null },
        },
      ),
      sync: { events: { properties: { event: '*' } } },
      result: addDevice('android', { build: '1234', beta: 'true', app_version: '2.0', meta: '{"a":1}' }),
    },
    {
      name: 'Device Created or Updated also adds',
      rec: appEvent('Device Created or Updated', { device: { token: TOKEN, type: 'ios' } }),
      result: addDevice('ios'),
    },
    {
      name: 'an email-identified person',
      rec: appEvent(
        'Application Opened',
        { device: { token: TOKEN, type: 'android' } },
        { user_id: 'a@b.co' },
      ),
      result: addDevice('android', {}, { email: 'a@b.co' }),
    },
    {
      name: 'Application Uninstalled deletes the device',
      rec: appEvent('Application Uninstalled', iosContext),
      result: {
        kind: 'send',
        ops: [
          { type: 'person', action: 'delete_device', identifiers: { id: 'u1' }, device: { token: TOKEN } },
        ],
      },
    },
    {
      name: 'Device Deleted also deletes',
      rec: appEvent('Device Deleted', { device: { token: TOKEN } }),
      result: {
        kind: 'send',
        ops: [
          { type: 'person', action: 'delete_device', identifiers: { id: 'u1' }, device: { token: TOKEN } },
        ],
      },
    },
    {
      name: 'without a token: an ordinary event',
      rec: appEvent('Application Installed', { device: { type: 'ios' } }),
      result: event('Application Installed', { id: 'u1' }),
    },
    {
      name: 'uninstall without a token: an ordinary event',
      rec: appEvent('Application Uninstalled', {}),
      result: event('Application Uninstalled', { id: 'u1' }),
    },
    {
      name: 'without a platform: an ordinary event',
      rec: appEvent('Application Installed', { device: { token: TOKEN } }),
      result: event('Application Installed', { id: 'u1' }),
    },
    {
      name: 'devices off: an ordinary event',
      rec: appEvent('Application Installed', iosContext),
      sync: { events: { devices: false } },
      result: event('Application Installed', { id: 'u1' }),
    },
    {
      name: 'no person identifier: an ordinary (anonymous) event',
      rec: appEvent('Application Opened', iosContext, { user_id: undefined, anonymous_id: 'anon-1' }),
      sync: { anonymous: true },
      result: event('Application Opened', { anonymous_id: 'anon-1' }),
    },
    {
      name: 'no person identifier, anonymous off',
      rec: appEvent('Application Opened', iosContext, { user_id: undefined, anonymous_id: 'anon-1' }),
      result: { kind: 'filtered', reason: 'no_identifier' },
    },
    {
      name: 'Amplitude records are never device events',
      rec: appEvent('Application Installed', iosContext, { origin: 'amplitude' }),
      result: event('Application Installed', { id: 'u1' }),
    },
    {
      name: 'the event filter applies to device events',
      rec: appEvent('Application Opened', iosContext),
      sync: { events: { filter: { eventTypes: ['Purchase'] } } },
      result: { kind: 'filtered', reason: 'event_type_not_included' },
    },
    {
      name: 'a device attribute over 1000 bytes',
      rec: appEvent('Application Opened', { device: { token: TOKEN, type: 'ios', model: 'm'.repeat(1001) } }),
      result: {
        kind: 'dead_letter',
        reason: 'attributes_invalid',
        detail: "device value for attribute 'device_model' is 1001 bytes, limit 1000",
      },
    },
  ]);

  it.each<[{ device?: { type: string }; os?: { name: string } }, string]>([
    [{ device: { type: 'ios' } }, 'ios'],
    [{ device: { type: 'iOS' } }, 'ios'],
    [{ device: { type: 'iPadOS' } }, 'ios'],
    [{ device: { type: 'watchOS' } }, 'ios'],
    [{ device: { type: 'tvos' } }, 'ios'],
    [{ device: { type: 'Android' } }, 'android'],
    [{ device: { type: 'mobile' } }, 'mobile'],
    [{ os: { name: 'iPhone OS' } }, 'ios'],
    [{ os: { name: 'Android' } }, 'android'],
    [{ device: { type: ' ' }, os: { name: 'Android' } }, 'android'],
    [{ device: { type: 'ios' }, os: { name: 'Android' } }, 'ios'],
  ])('platform of %j is %s', (context, platform) => {
    const result = mapRecord(
      appEvent('Application Installed', { ...context, device: { token: TOKEN, ...context.device } }),
      streamSync(),
      'web',
    );
    const attributes: Record<string, string> = context.os === undefined ? {} : { device_os: context.os.name };
    expect(result).toEqual(addDevice(platform, attributes));
  });
});

const alias = (overrides: Partial<CanonicalRecord> = {}) =>
  record({ kind: 'alias', origin: 'segment', user_id: 'u1', previous_id: 'anon-1', ...overrides });

describe('alias', () => {
  run([
    {
      name: 'merges the previous id into the user id',
      rec: alias(),
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'merge', primary: { id: 'u1' }, secondary: { id: 'anon-1' } }],
      },
    },
    {
      name: 'emails and cio ids are recognised on both sides',
      rec: alias({ user_id: 'cio_a300', previous_id: 'old@example.com' }),
      result: {
        kind: 'send',
        ops: [
          {
            type: 'person',
            action: 'merge',
            primary: { cio_id: 'a300' },
            secondary: { email: 'old@example.com' },
          },
        ],
      },
    },
    {
      name: 'uses user_id whatever the sync identifier is',
      rec: alias({ user_properties: { email: 'x@y.co' } }),
      sync: { identifier: 'user_properties.email' },
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'merge', primary: { id: 'u1' }, secondary: { id: 'anon-1' } }],
      },
    },
    {
      name: 'merges off',
      rec: alias(),
      sync: { events: { merges: false } },
      result: { kind: 'filtered', reason: 'merges_disabled' },
    },
    {
      name: 'events.send off does not stop merges',
      rec: alias(),
      sync: { events: { send: false } },
      result: {
        kind: 'send',
        ops: [{ type: 'person', action: 'merge', primary: { id: 'u1' }, secondary: { id: 'anon-1' } }],
      },
    },
    {
      name: 'no previous id',
      rec: alias({ previous_id: undefined }),
      result: {
        kind: 'dead_letter',
        reason: 'merge_missing_identifier',
        detail: 'an alias needs both user_id and previous_id',
      },
    },
    {
      name: 'no user id',
      rec: alias({ user_id: ' ' }),
      result: {
        kind: 'dead_letter',
        reason: 'merge_missing_identifier',
        detail: 'an alias needs both user_id and previous_id',
      },
    },
    {
      name: 'the same person twice',
      rec: alias({ previous_id: 'u1' }),
      result: { kind: 'filtered', reason: 'merge_same_person' },
    },
    {
      name: 'a previous id over 150 bytes',
      rec: alias({ previous_id: 'p'.repeat(151) }),
      result: {
        kind: 'dead_letter',
        reason: 'identifier_too_long',
        detail: 'previous_id: identifier is 151 bytes, limit 150',
      },
    },
  ]);
});

const group = (overrides: Partial<CanonicalRecord> = {}) =>
  record({
    kind: 'group',
    origin: 'segment',
    user_id: 'u1',
    anonymous_id: 'anon-1',
    group_id: 'acme',
    group_properties: { name: 'Acme', plan: 'enterprise', object_type_id: '2' },
    ...overrides,
  });

describe('group', () => {
  run([
    {
      name: 'an object related to the person, with the selected traits',
      rec: group(),
      sync: { events: { properties: { group: '*' } } },
      result: {
        kind: 'send',
        ops: [
          {
            type: 'object',
            action: 'identify',
            identifiers: { object_type_id: '2', object_id: 'acme' },
            attributes: { name: 'Acme', plan: 'enterprise' },
            cio_relationships: [{ identifiers: { id: 'u1' } }],
          },
        ],
      },
    },
    {
      name: 'object type 1 by default, objectTypeId accepted, nothing selected',
      rec: group({ group_properties: { name: 'Acme' } }),
      result: {
        kind: 'send',
        ops: [
          {
            type: 'object',
            action: 'identify',
            identifiers: { object_type_id: '1', object_id: 'acme' },
            attributes: {},
            cio_relationships: [{ identifiers: { id: 'u1' } }],
          },
        ],
      },
    },
    {
      name: 'objectTypeId (Segment camelCase), stringified',
      rec: group({ group_properties: { objectTypeId: 3, name: 'Acme' } }),
      sync: { events: { properties: { group: ['name', 'objectTypeId'] } } },
      result: {
        kind: 'send',
        ops: [
          {
            type: 'object',
            action: 'identify',
            identifiers: { object_type_id: '3', object_id: 'acme' },
            attributes: { name: 'Acme' },
            cio_relationships: [{ identifiers: { id: 'u1' } }],
          },
        ],
      },
    },
    {
      name: 'related by email',
      rec: group({ user_id: 'ann@example.com' }),
      result: {
        kind: 'send',
        ops: [
          {
            type: 'object',
            action: 'identify',
            identifiers: { object_type_id: '2', object_id: 'acme' },
            attributes: {},
            cio_relationships: [{ identifiers: { email: 'ann@example.com' } }],
          },
        ],
      },
    },
    {
      name: 'anonymous: identify_anonymous',
      rec: group({ user_id: undefined }),
      sync: { anonymous: true },
      result: {
        kind: 'send',
        ops: [
          {
            type: 'object',
            action: 'identify_anonymous',
            identifiers: { object_type_id: '2', object_id: 'acme' },
            attributes: {},
            cio_relationships: [{ identifiers: { anonymous_id: 'anon-1' } }],
          },
        ],
      },
    },
    {
      name: 'no person, anonymous off',
      rec: group({ user_id: undefined }),
      result: { kind: 'filtered', reason: 'no_identifier' },
    },
    {
      name: 'groups off',
      rec: group(),
      sync: { events: { groups: false } },
      result: { kind: 'filtered', reason: 'groups_disabled' },
    },
    {
      name: 'no group id',
      rec: group({ group_id: undefined }),
      result: { kind: 'dead_letter', reason: 'missing_group_id', detail: 'a group call needs a group_id' },
    },
    {
      name: 'a group id over 150 bytes',
      rec: group({ group_id: 'g'.repeat(151) }),
      result: {
        kind: 'dead_letter',
        reason: 'object_id_too_long',
        detail: 'identifier is 151 bytes, limit 150',
      },
    },
    {
      name: 'an attribute value over 1000 bytes',
      rec: group({ group_properties: { bio: 'b'.repeat(1001) } }),
      sync: { events: { properties: { group: '*' } } },
      result: {
        kind: 'dead_letter',
        reason: 'attributes_invalid',
        detail: "value for attribute 'bio' is 1001 bytes, limit 1000",
      },
    },
  ]);
});

// Identify records (user forwarding) are covered in identify.test.ts.

describe('group_identify', () => {
  run([
    {
      name: 'not forwarded',
      rec: record({ kind: 'group_identify', origin: 'amplitude', group_properties: { name: 'Acme' } }),
      sync: { users: { send: true } },
      result: { kind: 'filtered', reason: 'group_identify_not_forwarded' },
    },
  ]);
});

describe('event ids', () => {
  const sync = streamSync();
  const idOf = (rec: CanonicalRecord, seq = 1, source = 'web') => {
    const result = mapRecord(rec, sync, source, { seq, snapshots: new Map() });
    if (result.kind !== 'send') throw new Error(`expected an op, got ${result.kind}`);
    return (result.ops[0] as { id: string }).id;
  };

  it('the same client id always gives the same id, whatever time the record was corrected to', () => {
    const first = purchase({ time: T, client_time: T });
    // A client retry: same messageId and timestamp, another sentAt, so another corrected time.
    const retry = purchase({ time: T + 4_000, client_time: T });
    expect(idOf(retry, 2)).toBe(idOf(first, 1));
    expect(idOf(first)).toBe(eventUlid(T, 'web\u0000msg-1'));
  });

  it('a client id without a client time (Amplitude without `time`) gives one id for every upload', () => {
    const first = purchase({ time: T, client_time: undefined });
    const second = purchase({ time: T + 1_000, client_time: undefined });
    expect(idOf(second, 9)).toBe(idOf(first, 3));
    expect(idOf(first)).toBe(eventUlid(0, 'web\u0000msg-1'));
  });

  it('without a client id the log entry fixes the id: same seq same id, another seq another id', () => {
    const rec = purchase({ insert_id: undefined });
    expect(idOf(rec, 5)).toBe(idOf({ ...rec }, 5));
    expect(idOf(rec, 5)).not.toBe(idOf(rec, 6));
    expect(idOf(rec, 5, 'web')).not.toBe(idOf(rec, 5, 'app'));
  });

  it('keeps the corrected event time as the timestamp', () => {
    const result = mapRecord(purchase({ time: T + 4_000, client_time: T }), sync, 'web');
    expect(result.kind === 'send' && (result.ops[0] as { timestamp: number }).timestamp).toBe(T_SECONDS + 4);
  });
});
