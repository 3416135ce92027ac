import { createHmac } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseHourInput } from '../src/backfill/export-hours.ts';
import { parseConfig } from '../src/config/load.ts';
import { backfillInput, startBackfill, waitForBackfill } from '../src/control/backfills.ts';
import { streamStatus } from '../src/control/syncs.ts';
import { fromAmplitudeEvent } from '../src/events/normalize.ts';
import { startIngest, type RunningIngest } from '../src/ingest/server.ts';
import { eventId } from '../src/mapping/map-record.ts';
import { exportEvent } from './fakes/amplitude-export-format.ts';
import { startFakeAmplitudeExport, type FakeAmplitudeExport } from './fakes/amplitude-export.ts';
import { eventually, startEngine, uniqueId, WORKER_ENV, type TestEngine } from './helpers/engine.ts';

/**
 * The sources a team keeps its analytics in, end to end on the dev server: Amplitude's Webhook
 * destination and an Export API backfill overlapping it, and Segment's Webhooks (Actions), into
 * the fake Customer.io. One event reaches Customer.io once with one id whichever way it came, and
 * history does not roll a person back.
 */

const HOOK_SECRET = 'amp-hook-secret-123';
const SEGMENT_SECRET = 'segment-secret-123';
const INGEST_ENV = {
  AMP_KEY: WORKER_ENV.AMP_KEY,
  AMP_HOOK: HOOK_SECRET,
  SEG_KEY: 'seg-write-key',
  SEG_HOOK: SEGMENT_SECRET,
};

const H0 = parseHourInput('2026-11-01T10');
const HOUR_MS = 3_600_000;
const at = (hour: number, minutes: number) => hour * HOUR_MS + minutes * 60_000;

let engine: TestEngine;
let exportApi: FakeAmplitudeExport;
let ingest: RunningIngest;
const amp = uniqueId('amp');
const seg = uniqueId('seg');
const ampSync = uniqueId('amp-sync');
const segSync = uniqueId('seg-sync');

function configYaml(exportUrl: string, fakeUrl: string): string {
  const sync = (id: string, source: string) => `
  - id: ${id}
    type: stream
    source: ${source}
    destination: cio
    events: { send: true }
    users: { send: true, properties: [plan] }
    delivery: { waitFor: 200ms, lanes: 1 }`;
  return `
sources:
  - id: ${amp}
    apiKey: \${AMP_KEY}
    secretKey: \${AMP_SECRET}
    exportUrl: ${exportUrl}
    webhooks:
      amplitude:
        header: X-Webhook-Secret
        secret: \${AMP_HOOK}
  - id: ${seg}
    apiKey: \${SEG_KEY}
    webhooks:
      segment:
        sharedSecret: \${SEG_HOOK}
destinations:
  - id: cio
    siteId: \${CIO_SITE_ID}
    trackApiKey: \${CIO_TRACK_API_KEY}
    trackUrl: ${fakeUrl}
    timeout: 2s
syncs:${sync(ampSync, amp)}${sync(segSync, seg)}
`;
}

/** The three rows of the scenario: old history, and an hour that live webhook traffic also carried. */
const rows = {
  oldEvent: exportEvent({
    event_type: 'Viewed Pricing',
    user_id: 'ann',
    $insert_id: 'ins-old',
    client_event_time: at(H0, 5),
    user_properties: { plan: 'free' },
  }),
  oldIdentify: exportEvent({
    event_type: '$identify',
    user_id: 'ann',
    $insert_id: 'ins-old-identify',
    client_event_time: at(H0, 6),
    user_properties: { plan: 'free' },
  }),
  liveEvent: exportEvent({
    event_type: 'Signed Up',
    user_id: 'ann',
    $insert_id: 'ins-live',
    client_event_time: at(H0 + 2, 1),
    user_properties: { plan: 'pro' },
  }),
  newUser: exportEvent({
    event_type: 'Viewed Home',
    user_id: 'bob',
    $insert_id: 'ins-bob',
    client_event_time: at(H0 + 2, 2),
    user_properties: { plan: 'basic' },
  }),
};

beforeAll(async () => {
  engine = await startEngine();
  exportApi = await startFakeAmplitudeExport({
    projects: [
      {
        apiKey: WORKER_ENV.AMP_KEY,
        secretKey: WORKER_ENV.AMP_SECRET,
        events: [rows.oldEvent, rows.oldIdentify, rows.liveEvent, rows.newUser],
      },
    ],
    partitionRows: 1,
  });
  const config = parseConfig(configYaml(exportApi.url, engine.fake.url));
  await engine.apply(config);
  ingest = await startIngest({
    config,
    store: engine.store,
    host: '127.0.0.1',
    port: 0,
    env: INGEST_ENV,
    logger: { level: 'silent' },
  });
});
afterAll(async () => {
  await ingest?.close();
  await exportApi?.close();
  await engine?.close();
});

const eventsOf = (user: string) => engine.fake.events.filter((e) => e.identifier?.value === user);

async function postAmplitudeWebhook(body: unknown) {
  const response = await fetch(`${ingest.url}/webhooks/amplitude/${amp}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Amplitude/Webhook/1.0',
      'x-webhook-secret': HOOK_SECRET,
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('Amplitude: webhook and Export API backfill', () => {
  it('delivers live webhook traffic, then a backfill overlapping it, each event once and ann not rolled back', async () => {
    expect(await postAmplitudeWebhook(rows.liveEvent)).toEqual({
      status: 200,
      body: { success: true, accepted: 1, duplicates: 0 },
    });
    await eventually(
      () => eventsOf('ann').length === 1 && engine.fake.findPerson('id', 'ann')?.attributes.plan === 'pro',
    );

    const config = parseConfig(configYaml(exportApi.url, engine.fake.url));
    const input = backfillInput(config, { sourceId: amp, from: '2026-11-01T10', to: '2026-11-01T12' });
    await startBackfill(engine.client, engine.taskQueue, input);
    const done = await waitForBackfill(engine.client, amp, false);
    expect(done).toMatchObject({
      status: 'completed',
      hoursTotal: 3,
      tally: { records: 4, appended: 3, duplicates: 1, invalid: 0, hours: 3, skippedHours: 0 },
    });

    await eventually(() => eventsOf('bob').length === 1 && eventsOf('ann').length === 2, 30_000);
    expect(
      eventsOf('ann')
        .map((e) => e.name)
        .sort(),
    ).toEqual(['Signed Up', 'Viewed Pricing']);
    expect(engine.fake.duplicateEvents).toEqual([]);
    // The id the SDK route would have given the same event.
    const viaSdk = fromAmplitudeEvent(
      { event_type: 'Signed Up', user_id: 'ann', insert_id: 'ins-live', time: at(H0 + 2, 1) },
      Date.now(),
    );
    expect(eventsOf('ann').find((e) => e.name === 'Signed Up')?.id).toBe(eventId(viaSdk, amp, 0));
    // History kept its time; ann keeps her present plan, bob (new) gets his.
    expect(eventsOf('ann').find((e) => e.name === 'Viewed Pricing')?.timestamp).toBe(
      Math.floor(at(H0, 5) / 1000),
    );
    await eventually(() => engine.fake.findPerson('id', 'bob')?.attributes.plan === 'basic');
    expect(engine.fake.findPerson('id', 'ann')?.attributes.plan).toBe('pro');
  });

  it('a second run of the same range appends nothing, and asks Amplitude for nothing', async () => {
    const requestsBefore = exportApi.requests.length;
    const config = parseConfig(configYaml(exportApi.url, engine.fake.url));
    await startBackfill(
      engine.client,
      engine.taskQueue,
      backfillInput(config, { sourceId: amp, from: '2026-11-01T10', to: '2026-11-01T12' }),
    );
    const again = await waitForBackfill(engine.client, amp, false);
    expect(again.tally).toMatchObject({ records: 0, appended: 0, hours: 3, skippedHours: 3 });
    expect(exportApi.requests.length).toBe(requestsBefore);
    const status = await streamStatus(engine.client, ampSync);
    expect(status.counters.delivered).toBeGreaterThanOrEqual(3);
  });
});

describe('Segment: Webhooks (Actions) batches', () => {
  it('delivers a signed batch once, and a redelivered batch adds nothing', async () => {
    const batch = ['carla', 'dan'].map((user, n) => ({
      type: 'track',
      event: 'Order Completed',
      userId: user,
      messageId: `seg-msg-${n}`,
      properties: { total: 10 + n },
      originalTimestamp: '2026-11-20T08:59:00.000Z',
      sentAt: '2026-11-20T08:59:01.000Z',
      receivedAt: '2026-11-20T09:00:02.000Z',
      timestamp: '2026-11-20T09:00:01.000Z',
    }));
    const signature = createHmac('sha1', SEGMENT_SECRET).update(JSON.stringify(batch[0])).digest('hex');
    for (const expected of [
      { accepted: 2, duplicates: 0 },
      { accepted: 0, duplicates: 2 },
    ]) {
      const response = await fetch(`${ingest.url}/webhooks/segment/${seg}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-signature': signature },
        body: JSON.stringify(batch),
      });
      expect(await response.json()).toEqual({ success: true, ...expected });
    }
    await eventually(() => eventsOf('carla').length === 1 && eventsOf('dan').length === 1, 30_000);
    expect(eventsOf('carla')[0]).toMatchObject({
      name: 'Order Completed',
      timestamp: Math.floor(Date.parse('2026-11-20T09:00:01.000Z') / 1000),
    });
  });
});
