/**
 * Integrity at the edges, on the real dev server: a record nothing can map, a client retry, a
 * re-created sync, a worker without the credentials, a wrong URL, a failure that lasts, cohort
 * item errors and a run that would empty most of a segment.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cohortStatus, runCohortNow, setCursor, streamStatus } from '../src/control/syncs.ts';
import type { CanonicalRecord } from '../src/events/record.ts';
import type { RunningIngest } from '../src/ingest/server.ts';
import {
  SyncStatusAttribute,
  cohortSyncWorkflowId,
  streamSyncWorkflowId,
  type CohortSyncStatus,
} from '../src/workflows/sync-api.ts';
import {
  WORKER_ENV,
  eventually,
  startEngine,
  startTestIngest,
  testConfig,
  uniqueId,
  type TestEngine,
} from './helpers/engine.ts';

const T0 = Date.UTC(2026, 10, 20, 9, 0, 0);

function track(userId: string, n: number, extra: Partial<CanonicalRecord> = {}): CanonicalRecord {
  return {
    kind: 'track',
    origin: 'segment',
    event_type: `Event ${n}`,
    user_id: userId,
    insert_id: `${userId}/${n}`,
    time: T0 + n,
    client_time: T0 + n,
    event_properties: { n },
    user_properties: {},
    context: {},
    ...extra,
  };
}

function streamSync(id: string, source: string, extra = ''): string {
  return `
  - id: ${id}
    type: stream
    source: ${source}
    destination: cio
    events: { properties: { event: '*' } }
    delivery: { waitFor: 1s, credentialsRetry: 1s }${extra}`;
}

let engine: TestEngine;
let ingest: RunningIngest;
const sources = Array.from({ length: 12 }, () => uniqueId('src'));

beforeAll(async () => {
  engine = await startEngine();
  ingest = await startTestIngest(engine, sources);
});
afterAll(async () => {
  await ingest?.close();
  await engine?.close();
});

let nextSource = 0;
async function oneSync(
  opts: { extra?: string; destination?: string; env?: NodeJS.ProcessEnv; trackUrl?: string } = {},
) {
  const source = sources[nextSource++]!;
  const syncId = uniqueId('sync');
  const config = testConfig(engine.fake, streamSync(syncId, source, opts.extra), {
    sources: [source],
    destination: opts.destination,
  });
  if (opts.trackUrl) {
    const applied = structuredClone(config);
    applied.destinations[0]!.trackUrl = opts.trackUrl;
    await engine.apply(applied, opts.env);
  } else {
    await engine.apply(config, opts.env);
  }
  return { source, syncId, config };
}

const eventsOf = (user: string) => engine.fake.events.filter((e) => e.identifier?.value === user);
const statusOf = (syncId: string) => streamStatus(engine.client, syncId);

async function indexedStatus(workflowId: string): Promise<unknown> {
  const description = await engine.client.workflow.getHandle(workflowId).describe();
  return description.searchAttributes[SyncStatusAttribute.name]?.[0];
}

describe('a record nothing can map', () => {
  it('is dead-lettered as unprocessable; the records around it are delivered and the cursor moves', async () => {
    const { source, syncId } = await oneSync();
    const user = uniqueId('u');
    let deep: unknown = [];
    for (let i = 0; i < 3000; i++) deep = [deep];
    // Logged as an older version of ingest (or another writer) could have: ingest refuses it today.
    const seqs = await engine.store.append(source, [
      track(user, 1),
      track(user, 2, { insert_id: undefined, event_properties: { deep } }),
      track(user, 3),
    ]);
    await eventually(async () => (await statusOf(syncId)).cursor === seqs[2]);
    expect(eventsOf(user).map((e) => e.name)).toEqual(['Event 1', 'Event 3']);
    const letters = await engine.store.listDeadLetters(syncId);
    expect(letters.map((l) => [l.seq, l.reason, l.detail])).toEqual([
      [seqs[1], 'unprocessable', expect.stringMatching(/^RecordLimitError: .*nested deeper than 40 levels$/)],
    ]);
    const status = await statusOf(syncId);
    expect(status).toMatchObject({ status: 'running', counters: { delivered: 2, deadLettered: 1 } });
  });
});

describe('a client retry', () => {
  it('keeps the Customer.io event id of a Segment message sent again with another sentAt', async () => {
    const { source, syncId } = await oneSync();
    const user = uniqueId('u');
    const auth = `Basic ${Buffer.from(`${source}-key:`).toString('base64')}`;
    for (const sentAt of ['2026-11-20T09:00:01.000Z', '2026-11-20T09:00:04.000Z']) {
      const response = await fetch(`${ingest.url}/v1/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: JSON.stringify({
          type: 'track',
          event: 'Retried',
          userId: user,
          messageId: 'msg-retried-1',
          timestamp: '2026-11-20T09:00:00.000Z',
          sentAt,
        }),
      });
      expect(response.status).toBe(200);
    }
    await eventually(async () => (await statusOf(syncId)).counters.delivered === 2);
    const sent = engine.fake.requests
      .filter((r) => r.path === '/api/v2/batch')
      .flatMap((r) => (r.body as { batch: Array<{ id?: string; identifiers?: { id?: string } }> }).batch)
      .filter((op) => op.identifiers?.id === user);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.id).toBe(sent[1]!.id);
    // Customer.io keeps one event.
    expect(eventsOf(user)).toHaveLength(1);
  });

  it('keeps the id of an Amplitude event without `time` uploaded twice a second apart', async () => {
    const { source, syncId } = await oneSync();
    const user = uniqueId('u');
    for (let i = 0; i < 2; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 1_100));
      const response = await fetch(`${ingest.url}/2/httpapi`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          api_key: `${source}-key`,
          events: [{ event_type: 'Uploaded', user_id: user, insert_id: 'ins-no-time-1' }],
        }),
      });
      expect(response.status).toBe(200);
    }
    await eventually(async () => (await statusOf(syncId)).counters.delivered === 2);
    expect(eventsOf(user)).toHaveLength(1);
    expect(engine.fake.duplicateEvents.filter((e) => e.identifier?.value === user)).toHaveLength(1);
  });
});

describe('a re-created sync', () => {
  it('resumes a stream from the cursor the store holds: nothing is sent twice', async () => {
    const { source, syncId, config } = await oneSync();
    const user = uniqueId('u');
    const seqs = await engine.store.append(source, [track(user, 1), track(user, 2), track(user, 3)]);
    await eventually(async () => (await statusOf(syncId)).cursor === seqs[2]);
    expect(await engine.store.getStreamCursor(syncId)).toBe(seqs[2]);
    const batchesBefore = engine.fake.requestsTo('/api/v2/batch').length;

    await engine.client.workflow.getHandle(streamSyncWorkflowId(syncId)).terminate('operator re-creates it');
    await engine.apply(config);
    const [later] = await engine.store.append(source, [track(user, 4)]);
    await eventually(async () => (await statusOf(syncId)).cursor === later);

    expect(eventsOf(user).map((e) => e.name)).toEqual(['Event 1', 'Event 2', 'Event 3', 'Event 4']);
    expect(engine.fake.duplicateEvents.filter((e) => e.identifier?.value === user)).toEqual([]);
    expect(engine.fake.requestsTo('/api/v2/batch').length).toBe(batchesBefore + 1);
    expect(await engine.store.getStreamCursor(syncId)).toBe(later);
  });

  it('moves the stored cursor on a replay, and only then re-sends', async () => {
    const { source, syncId } = await oneSync();
    const user = uniqueId('u');
    const seqs = await engine.store.append(source, [track(user, 1), track(user, 2)]);
    await eventually(async () => (await statusOf(syncId)).cursor === seqs[1]);
    const moved = await setCursor(engine.client, syncId, seqs[0]! - 1);
    expect(moved).toEqual({ previous: seqs[1], cursor: seqs[0]! - 1 });
    await eventually(async () => (await statusOf(syncId)).cursor === seqs[1]);
    expect(await engine.store.getStreamCursor(syncId)).toBe(seqs[1]);
    // Re-sent under the same ids: Customer.io still keeps one of each.
    expect(eventsOf(user)).toHaveLength(2);
    expect(engine.fake.duplicateEvents.filter((e) => e.identifier?.value === user)).toHaveLength(2);
  });

  it('diffs a cohort against what Customer.io was last sent, with a new run id', async () => {
    const syncId = uniqueId('cohort');
    const path = join(engine.dir, `${syncId}.csv`);
    const prefix = uniqueId('m');
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => `${prefix}-${x}`);
    for (const id of [a, b, c, d]) engine.fake.seedPerson({ id });
    await writeFile(path, `user_id\n${a}\n${b}\n${c}\n`);
    const config = testConfig(engine.fake, cohortSync(syncId, path), { sources: [] });
    await engine.apply(config);
    const first = await afterRun(syncId, '1');
    expect(first.lastRun).toMatchObject({ members: 3, added: 3, removed: 0 });

    await engine.client.workflow.getHandle(cohortSyncWorkflowId(syncId)).terminate('operator re-creates it');
    await writeFile(path, `user_id\n${b}\n${c}\n${d}\n`);
    await engine.apply(config);
    const second = await afterRun(syncId, '2');
    expect(second.lastRun).toMatchObject({ members: 3, added: 1, removed: 1 });
    expect(new Set(engine.fake.segmentMemberValues(segmentOf(syncId)))).toEqual(new Set([b, c, d]));
  });
});

describe('credentials and destinations hold, never drain', () => {
  it('decides `dryRun: auto` when the config is applied; a worker without the key holds the sync', async () => {
    const user = uniqueId('u');
    await engine.worker.shutdown();
    await engine.restartWorker({});
    try {
      // Applied where the credentials are set: live delivery, recorded in the spec.
      const { source, syncId } = await oneSync({ destination: '    dryRun: auto', env: WORKER_ENV });
      const seqs = await engine.store.append(source, [track(user, 1), track(user, 2), track(user, 3)]);
      const held = await eventually(async () => {
        const s = await statusOf(syncId);
        return s.status === 'credentials_missing' ? s : undefined;
      });
      expect(held.cursor).toBeLessThan(seqs[0]!);
      expect(held.lastError?.message).toContain('CIO_SITE_ID');
      expect(await indexedStatus(streamSyncWorkflowId(syncId))).toBe('credentials_missing');
      expect(await engine.store.listCapturedRequests(syncId)).toEqual([]);
      expect(eventsOf(user)).toEqual([]);

      await engine.worker.shutdown();
      await engine.restartWorker(WORKER_ENV);
      await eventually(async () => (await statusOf(syncId)).cursor === seqs[2]);
      expect(eventsOf(user)).toHaveLength(3);
      expect((await statusOf(syncId)).status).toBe('running');
    } finally {
      await engine.worker.shutdown().catch(() => {});
      await engine.restartWorker(WORKER_ENV);
    }
  });

  it('records instead of sending when `dryRun: auto` is applied without credentials', async () => {
    const user = uniqueId('u');
    const { source, syncId } = await oneSync({ destination: '    dryRun: auto', env: {} });
    const [seq] = await engine.store.append(source, [track(user, 1)]);
    await eventually(async () => (await statusOf(syncId)).cursor === seq);
    expect(await engine.store.listCapturedRequests(syncId)).toHaveLength(1);
    expect(eventsOf(user)).toEqual([]);
  });

  it('holds a sync whose trackUrl has a typo as destination_unreachable, then delivers once it is fixed', async () => {
    const { source, syncId, config } = await oneSync({ trackUrl: `${engine.fake.url}/typo` });
    const user = uniqueId('u');
    const seqs = await engine.store.append(source, [track(user, 1), track(user, 2)]);
    const held = await eventually(async () => {
      const s = await statusOf(syncId);
      return s.status === 'destination_unreachable' ? s : undefined;
    });
    expect(held).toMatchObject({ counters: { deadLettered: 0 }, lastError: { status: 404 } });
    expect(held.cursor).toBeLessThan(seqs[0]!);
    expect(await engine.store.listDeadLetters(syncId)).toEqual([]);
    expect(await indexedStatus(streamSyncWorkflowId(syncId))).toBe('destination_unreachable');

    await engine.apply(config);
    await eventually(async () => (await statusOf(syncId)).cursor === seqs[1]);
    expect(eventsOf(user)).toHaveLength(2);
    expect((await statusOf(syncId)).status).toBe('running');
  });
});

describe('a sync that is not making progress', () => {
  it('says so (stalled, the last error and the attempts), and returns to running by itself', async () => {
    const { source, syncId } = await oneSync();
    const user = uniqueId('u');
    // Four attempts fail (the workflow's bound before it shows the stall), then a fifth one.
    engine.fake.script.failNext(5, {
      path: '/api/v2/batch',
      status: 503,
      body: { errors: [{ message: 'down' }] },
    });
    const [seq] = await engine.store.append(source, [track(user, 1)]);
    const stalled = await eventually(async () => {
      const s = await statusOf(syncId);
      return s.status === 'stalled' ? s : undefined;
    }, 30_000);
    expect(stalled.stalled?.attempts).toBe(4);
    expect(stalled.lastError).toMatchObject({ type: 'CustomerIoUnavailable', status: 503 });
    expect(stalled.lastError?.message).toContain('503');
    expect(await indexedStatus(streamSyncWorkflowId(syncId))).toBe('stalled');

    await eventually(async () => (await statusOf(syncId)).cursor === seq, 30_000);
    const recovered = await statusOf(syncId);
    expect(recovered.status).toBe('running');
    expect(recovered.stalled).toBeUndefined();
    expect(await indexedStatus(streamSyncWorkflowId(syncId))).toBe('running');
    expect(eventsOf(user)).toHaveLength(1);
  }, 60_000);
});

function cohortSync(syncId: string, path: string, extra = ''): string {
  return `
  - id: ${syncId}
    type: cohort
    destination: cio
    cohort: { from: file, path: ${path}, column: user_id }
    segment: { name: Segment ${syncId} }
    cadence: once
    retryEvery: 1s
${extra}`;
}

function segmentOf(syncId: string): number {
  const segment = [...engine.fake.segments.values()].find((s) => s.name === `Segment ${syncId}`);
  if (!segment) throw new Error(`no segment for ${syncId}`);
  return segment.id;
}

async function afterRun(syncId: string, runId: string): Promise<CohortSyncStatus> {
  return eventually(async () => {
    const s = await cohortStatus(engine.client, syncId);
    return s.lastRun?.runId === runId && !s.running ? s : undefined;
  }, 30_000);
}

describe('cohort edges', () => {
  it('reports the members Customer.io refused, with its reason', async () => {
    const syncId = uniqueId('cohort');
    const path = join(engine.dir, `${syncId}.csv`);
    const members = ['x', 'y', 'z'].map((x) => uniqueId(x));
    for (const id of members) engine.fake.seedPerson({ id });
    await writeFile(path, `user_id\n${members.join('\n')}\n`);
    engine.fake.script.failNext(1, {
      path: /\/add_customers$/,
      status: 207,
      applied: true,
      body: { errors: [{ batch_index: 1, reason: 'invalid', message: 'person is suppressed' }] },
    });
    await engine.apply(testConfig(engine.fake, cohortSync(syncId, path), { sources: [] }));
    const run = await afterRun(syncId, '1');
    expect(run.lastRun).toMatchObject({
      members: 3,
      added: 2,
      rejected: 1,
      rejectedReasons: { 'invalid: person is suppressed': 1 },
    });
    expect(run.counters.rejected).toBe(1);
  });

  it('holds a run that would remove most of the segment until it is confirmed', async () => {
    const syncId = uniqueId('cohort');
    const path = join(engine.dir, `${syncId}.csv`);
    const members = Array.from({ length: 10 }, (_, i) => uniqueId(`m${i}`));
    for (const id of members) engine.fake.seedPerson({ id });
    await writeFile(path, `user_id\n${members.join('\n')}\n`);
    await engine.apply(testConfig(engine.fake, cohortSync(syncId, path), { sources: [] }));
    await afterRun(syncId, '1');
    const segmentId = segmentOf(syncId);

    // A truncated file: 8 of 10 members seem to have left.
    await writeFile(path, `user_id\n${members.slice(0, 2).join('\n')}\n`);
    await runCohortNow(engine.client, syncId);
    const held = await eventually(async () => {
      const s = await cohortStatus(engine.client, syncId);
      return s.status === 'held_large_removal' ? s : undefined;
    });
    expect(held.held).toMatchObject({ toRemove: 8, baselineMembers: 10, members: 2, maxRemovalRatio: 0.5 });
    expect(await indexedStatus(cohortSyncWorkflowId(syncId))).toBe('held_large_removal');
    expect(engine.fake.segmentMemberValues(segmentId)).toHaveLength(10);

    await runCohortNow(engine.client, syncId, { confirm: true });
    const applied = await afterRun(syncId, held.held!.runId);
    expect(applied.lastRun).toMatchObject({ members: 2, removed: 8 });
    expect(applied.status).toBe('running');
    expect(new Set(engine.fake.segmentMemberValues(segmentId))).toEqual(new Set(members.slice(0, 2)));
  });
});
