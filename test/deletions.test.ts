import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Identify } from '@amplitude/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cohortStatus, redrive, runCohortNow, streamStatus } from '../src/control/syncs.ts';
import { startIngest, type RunningIngest } from '../src/ingest/server.ts';
import { runCliInProcess } from './helpers/cli.ts';
import {
  eventually,
  sourceKeyEnv,
  startEngine,
  testConfig,
  uniqueId,
  type TestEngine,
} from './helpers/engine.ts';
import { amplitudeClient, sendWithSegment } from './helpers/sdk.ts';

/**
 * Deletes and suppressions end to end: the official Segment SDK and raw Amplitude User Privacy API
 * requests → ingest → store → stream-sync workflow on the real dev server → the exact requests at the
 * fake Customer.io, what the fake then holds, the sync's status, and the store's local state.
 */

const SOURCES = [
  'seg-delete',
  'seg-suppress',
  'seg-objects-del',
  'seg-redrive-del',
  'amp-delete',
  'seg-cohort-del',
];
const AMP_SECRET = 'amp-delete-secret';

let engine: TestEngine;
let ingest: RunningIngest;

beforeAll(async () => {
  engine = await startEngine();
  const config = testConfig(engine.fake, '  []', { sources: SOURCES });
  // The Amplitude source names the secret of its deletion API, as Amplitude projects have one.
  const amp = config.sources.find((s) => s.id === 'amp-delete');
  if (amp) amp.secretKey = '${AMP_DELETE_SECRET}';
  ingest = await startIngest({
    config,
    store: engine.store,
    host: '127.0.0.1',
    port: 0,
    env: { ...sourceKeyEnv(SOURCES), AMP_DELETE_SECRET: AMP_SECRET },
    logger: { level: 'silent' },
  });
});

afterAll(async () => {
  await ingest?.close();
  await engine?.close();
});

async function streamSync(source: string, yaml = '') {
  const syncId = uniqueId(source);
  await engine.apply(
    testConfig(
      engine.fake,
      `
  - id: ${syncId}
    type: stream
    source: ${source}
    destination: cio
    delivery: { waitFor: 1s }
${yaml}`,
      { sources: SOURCES },
    ),
  );
  return syncId;
}

/** Waits until the sync has moved past everything in its source. */
async function caughtUp(syncId: string, source: string) {
  const head = await engine.store.headSeq(source);
  await eventually(async () => (await streamStatus(engine.client, syncId)).cursor >= head, 20_000);
  return streamStatus(engine.client, syncId);
}

/** Every batch item Customer.io accepted that mentions `marker`, in the order they were sent. */
function opsFor(marker: string) {
  return engine.fake.requests
    .filter((r) => r.path === '/api/v2/batch' && r.status !== undefined && r.status < 300)
    .flatMap((r) => (r.body as { batch: Array<Record<string, unknown>> }).batch)
    .filter((op) => JSON.stringify(op).includes(marker));
}

const USERS = `    users: { send: true, properties: [plan, seats] }`;

describe('Segment semantic events (official SDK)', () => {
  it('User Deleted ends in exactly one person delete; the next identify starts a new person from scratch', async () => {
    const source = 'seg-delete';
    const syncId = await streamSync(source, USERS);
    const user = uniqueId('del');
    await sendWithSegment(ingest.url, source, (c) => {
      c.identify({ userId: user, traits: { plan: 'pro', seats: 3 } });
      c.track({ userId: user, event: 'Upgraded', messageId: `${user}-1` });
    });
    await caughtUp(syncId, source);
    expect(engine.fake.findPerson('id', user)?.attributes).toEqual({ plan: 'pro', seats: 3 });
    expect(await engine.store.getUserSnapshots(syncId, [`id:${user}`])).toHaveProperty('size', 1);

    await sendWithSegment(ingest.url, source, (c) => {
      c.track({ userId: user, event: 'User Deleted', messageId: `${user}-2` });
    });
    const afterDelete = await caughtUp(syncId, source);
    expect(opsFor(user).filter((op) => op.action === 'delete')).toEqual([
      { type: 'person', action: 'delete', identifiers: { id: user } },
    ]);
    expect(engine.fake.findPerson('id', user)).toBeUndefined();
    expect(afterDelete.counters.deletions).toEqual({ person_delete: 1 });
    // Forgotten locally too: no snapshot is left.
    expect(await engine.store.getUserSnapshots(syncId, [`id:${user}`])).toEqual(new Map());

    // The same traits again: unchanged against the old snapshot, but that is gone, so all of them go.
    await sendWithSegment(ingest.url, source, (c) => {
      c.identify({ userId: user, traits: { plan: 'pro', seats: 3 } });
    });
    await caughtUp(syncId, source);
    expect(opsFor(user).map((op) => [op.action, op.attributes])).toEqual([
      ['identify', { plan: 'pro', seats: 3 }],
      ['event', {}],
      ['delete', undefined],
      ['identify', { plan: 'pro', seats: 3 }],
    ]);
    expect(engine.fake.findPerson('id', user)?.attributes).toEqual({ plan: 'pro', seats: 3 });
  });

  it('a suppressed person gets nothing until unsuppressed, then a fresh person; status counts both', async () => {
    const source = 'seg-suppress';
    const syncId = await streamSync(source, USERS);
    const user = `${uniqueId('sup')}@example.com`;
    await sendWithSegment(ingest.url, source, (c) => {
      c.identify({ userId: user, traits: { plan: 'pro' } });
      c.track({ userId: user, event: 'User Suppressed', messageId: `${user}-1` });
    });
    await caughtUp(syncId, source);
    expect(engine.fake.suppressed.has(`email:${user}`)).toBe(true);
    expect(await engine.store.getSuppressedUsers(syncId, [`email:${user}`])).toEqual(
      new Set([`email:${user}`]),
    );

    // A later delivery: the suppression is read back from the store and holds both records back.
    await sendWithSegment(ingest.url, source, (c) => {
      c.identify({ userId: user, traits: { plan: 'team', seats: 2 } });
      c.track({ userId: user, event: 'Upgraded', messageId: `${user}-2` });
    });
    const held = await caughtUp(syncId, source);
    expect(held.counters.filtered).toMatchObject({ suppressed: 2 });
    expect(opsFor(user).map((op) => op.action)).toEqual(['identify', 'suppress']);

    await sendWithSegment(ingest.url, source, (c) => {
      c.track({ userId: user, event: 'User Unsuppressed', messageId: `${user}-3` });
      c.identify({ userId: user, traits: { seats: 5 } });
    });
    const after = await caughtUp(syncId, source);
    expect(opsFor(user)).toEqual([
      {
        type: 'person',
        action: 'identify',
        identifiers: { email: user },
        attributes: { plan: 'pro' },
      },
      { type: 'person', action: 'suppress', identifiers: { email: user } },
      { type: 'person', action: 'unsuppress', identifiers: { email: user } },
      // A fresh person: nothing of before the suppression is assumed known.
      {
        type: 'person',
        action: 'identify',
        identifiers: { email: user },
        attributes: { seats: 5 },
      },
    ]);
    expect(engine.fake.findPerson('email', user)?.attributes).toEqual({ seats: 5 });
    expect(after.counters.deletions).toEqual({ person_suppress: 1, person_unsuppress: 1 });
    expect(after.counters.filtered).toMatchObject({ suppressed: 2 });
    expect(await engine.store.getSuppressedUsers(syncId, [`email:${user}`])).toEqual(new Set());
    // What an operator reads.
    const text = (await runCliInProcess(engine, ['status', syncId])).stdout;
    expect(text).toContain('deletions person_suppress=1, person_unsuppress=1\n');
    expect(text).toMatch(/^filtered .*suppressed=2/m);
  });

  it('Object Deleted, Relationship Deleted and a group call with the relationship-delete action', async () => {
    const source = 'seg-objects-del';
    const syncId = await streamSync(source);
    const user = uniqueId('obj');
    const [acme, globex] = [`acme-${user}`, `globex-${user}`];
    await sendWithSegment(ingest.url, source, (c) => {
      c.group({ userId: user, groupId: acme, traits: { name: 'Acme' } });
      c.group({ userId: user, groupId: globex, traits: { name: 'Globex', objectTypeId: '2' } });
    });
    await caughtUp(syncId, source);
    expect(engine.fake.objects.get(`1:${acme}`)?.relationships).toEqual([{ type: 'id', value: user }]);

    await sendWithSegment(ingest.url, source, (c) => {
      c.track({ userId: user, event: 'Relationship Deleted', properties: { objectId: acme } });
      c.group({
        userId: user,
        groupId: globex,
        traits: { action: 'delete_relationships', objectTypeId: '2' },
      });
      c.track({ userId: user, event: 'Object Deleted', properties: { objectId: acme } });
    });
    const status = await caughtUp(syncId, source);
    expect(opsFor(user).slice(2)).toEqual([
      {
        type: 'object',
        action: 'delete_relationships',
        identifiers: { object_type_id: '1', object_id: acme },
        cio_relationships: [{ identifiers: { id: user } }],
      },
      {
        type: 'object',
        action: 'delete_relationships',
        identifiers: { object_type_id: '2', object_id: globex },
        cio_relationships: [{ identifiers: { id: user } }],
      },
      { type: 'object', action: 'delete', identifiers: { object_type_id: '1', object_id: acme } },
    ]);
    expect(engine.fake.objects.has(`1:${acme}`)).toBe(false);
    expect(engine.fake.objects.get(`2:${globex}`)?.relationships).toEqual([]);
    expect(status.counters.deletions).toEqual({ relationship_delete: 2, object_delete: 1 });
  });
});

describe('a delete Customer.io rejects', () => {
  it('is dead-lettered and forgets nothing; redriven, it deletes and forgets', async () => {
    const source = 'seg-redrive-del';
    const syncId = await streamSync(source, USERS);
    const user = uniqueId('redrive');
    await sendWithSegment(ingest.url, source, (c) => c.identify({ userId: user, traits: { plan: 'pro' } }));
    await caughtUp(syncId, source);

    engine.fake.script.failNext(1, {
      path: '/api/v2/batch',
      status: 207,
      body: { errors: [{ batch_index: 0, reason: 'internal', field: '', message: 'try again later' }] },
    });
    await sendWithSegment(ingest.url, source, (c) =>
      c.track({ userId: user, event: 'User Deleted', messageId: `${user}-1` }),
    );
    const rejected = await caughtUp(syncId, source);
    expect(rejected.counters.deletions).toBeUndefined();
    expect(engine.fake.findPerson('id', user)).toBeDefined();
    expect(await engine.store.getUserSnapshots(syncId, [`id:${user}`])).toHaveProperty('size', 1);
    const [letter] = await engine.store.listDeadLetters(syncId);
    expect([letter?.reason, letter?.detail, letter?.record.event_type]).toEqual([
      'customerio_rejected_item',
      'internal: try again later',
      'User Deleted',
    ]);

    expect(await redrive(engine.client, syncId)).toMatchObject({
      redriven: 1,
      delivered: 1,
      deletions: { person_delete: 1 },
    });
    expect(engine.fake.findPerson('id', user)).toBeUndefined();
    expect(await engine.store.getUserSnapshots(syncId, [`id:${user}`])).toEqual(new Map());
    expect((await streamStatus(engine.client, syncId)).counters.deletions).toEqual({ person_delete: 1 });
  });
});

describe('Amplitude User Privacy API (raw requests)', () => {
  const endpoint = () => `${ingest.url}/api/2/deletions/users`;
  const auth = `Basic ${Buffer.from(`amp-delete-key:${AMP_SECRET}`).toString('base64')}`;

  it('a deletion request ends in exactly one person delete per user id', async () => {
    const source = 'amp-delete';
    const syncId = await streamSync(source, USERS);
    const [first, second] = [uniqueId('amp-a'), uniqueId('amp-b')];
    const amplitude = await amplitudeClient(ingest.url, source);
    for (const userId of [first, second])
      amplitude.identify(new Identify().set('plan', 'pro'), { user_id: userId });
    await amplitude.flush().promise;
    await caughtUp(syncId, source);
    expect(engine.fake.findPerson('id', first)).toBeDefined();

    const json = await fetch(endpoint(), {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ user_ids: [first], requester: 'dpo@example.com' }),
    });
    const day = new Date().toISOString().slice(0, 10);
    expect([json.status, await json.json()]).toEqual([
      200,
      {
        day,
        status: 'submitted',
        user_ids: [{ user_id: first, requester: 'dpo@example.com', requested_on_day: day }],
        amplitude_ids: [],
      },
    ]);
    // Form-encoded, as `curl -u key:secret --data user_ids=…` sends it.
    const form = await fetch(endpoint(), {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: `user_ids=${encodeURIComponent(second)}&requester=dpo`,
    });
    expect(form.status).toBe(200);
    const onlyAmplitudeIds = await fetch(endpoint(), {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ amplitude_ids: [356896327775] }),
    });
    expect(onlyAmplitudeIds.status).toBe(400);

    const status = await caughtUp(syncId, source);
    expect(opsFor(first).filter((op) => op.action === 'delete')).toEqual([
      { type: 'person', action: 'delete', identifiers: { id: first } },
    ]);
    expect(opsFor(second).filter((op) => op.action === 'delete')).toEqual([
      { type: 'person', action: 'delete', identifiers: { id: second } },
    ]);
    expect(engine.fake.findPerson('id', first)).toBeUndefined();
    expect(engine.fake.findPerson('id', second)).toBeUndefined();
    expect(status.counters.deletions).toEqual({ person_delete: 2 });
    expect(await engine.store.getUserSnapshots(syncId, [`id:${first}`, `id:${second}`])).toEqual(new Map());
  });
});

describe('cohort baselines', () => {
  it('a cohort sync to the same workspace stops listing a deleted id: no remove is sent for it', async () => {
    const source = 'seg-cohort-del';
    const streamId = await streamSync(source, USERS);
    const cohortId = uniqueId('cohort-del');
    const [gone, stays] = [uniqueId('gone'), uniqueId('stays')];
    const path = join(engine.dir, `${cohortId}.csv`);
    await writeFile(path, `user_id\n${gone}\n${stays}\n`);
    await engine.apply(
      testConfig(
        engine.fake,
        `
  - id: ${cohortId}
    type: cohort
    destination: cio
    cohort: { from: file, path: ${path}, column: user_id }
    segment: { name: Segment ${cohortId} }
    identifyJoiners: true
    cadence: once`,
        { sources: [] },
      ),
    );
    await eventually(async () => (await cohortStatus(engine.client, cohortId)).lastRun?.runId === '1');

    await sendWithSegment(ingest.url, source, (c) => {
      c.track({ userId: gone, event: 'User Deleted', messageId: `${gone}-1` });
    });
    await caughtUp(streamId, source);
    expect(engine.fake.findPerson('id', gone)).toBeUndefined();

    // The deleted person also left the cohort: without the baseline forgetting them, this run would
    // send a remove for someone Customer.io no longer has.
    await writeFile(path, `user_id\n${stays}\n`);
    await runCohortNow(engine.client, cohortId);
    const run2 = await eventually(async () => {
      const s = await cohortStatus(engine.client, cohortId);
      return s.lastRun?.runId === '2' && !s.running ? s : undefined;
    }, 30_000);
    expect(run2.lastRun).toMatchObject({ members: 1, added: 0, removed: 0 });
    const segment = [...engine.fake.segments.values()].find((s) => s.name === `Segment ${cohortId}`)!;
    expect(
      engine.fake.requests
        .filter((r) => r.path.startsWith(`/api/v1/segments/${segment.id}/`))
        .map((r) => [r.path.split('/').at(-1), (r.body as { ids: string[] }).ids]),
    ).toEqual([['add_customers', [gone, stays].sort()]]);
    expect(engine.fake.segmentMemberValues(segment.id)).toEqual([stays]);
  });
});
