import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { APPLY_WINDOW } from '../src/activities/cohort.ts';
import type { CohortSyncSpec } from '../src/config/schema.ts';
import { cohortStatus, pauseSync, resumeSync, runCohortNow, specFor } from '../src/control/syncs.ts';
import { cohortConfigQuery, cohortSyncWorkflowId, type CohortSyncStatus } from '../src/workflows/sync-api.ts';
import {
  eventually,
  startEngine,
  startWithConfigUpdate,
  testConfig,
  uniqueId,
  WORKER_ENV,
  type TestEngine,
} from './helpers/engine.ts';
import { startFakeAmplitudeCohorts, type FakeAmplitudeCohorts } from './fakes/amplitude-cohorts.ts';
import { spawnWorker } from './helpers/processes.ts';

let engine: TestEngine;

beforeAll(async () => {
  engine = await startEngine();
});
afterAll(async () => {
  await engine?.close();
});

/** Writes a CSV cohort file of `ids` and returns its path. */
async function cohortFile(name: string, ids: string[]): Promise<string> {
  const path = join(engine.dir, `${name}.csv`);
  await writeFile(path, `user_id\n${ids.join('\n')}\n`);
  return path;
}

function cohortSync(syncId: string, path: string, extra = ''): string {
  return `
  - id: ${syncId}
    type: cohort
    destination: cio
    cohort: { from: file, path: ${path}, column: user_id }
    segment: { name: Segment ${syncId} }
    cadence: once
${extra}`;
}

async function start(syncId: string, yaml: string) {
  await engine.apply(testConfig(engine.fake, yaml, { sources: [] }));
  return syncId;
}

/** Waits until the sync has finished run number `runId`. */
async function afterRun(syncId: string, runId: string, timeoutMs = 30_000): Promise<CohortSyncStatus> {
  return eventually(async () => {
    const s = await cohortStatus(engine.client, syncId);
    return s.lastRun?.runId === runId && !s.running ? s : undefined;
  }, timeoutMs);
}

const ids = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${prefix}-${String(from + i).padStart(5, '0')}`);

function segmentOf(syncId: string): number {
  const segment = [...engine.fake.segments.values()].find((s) => s.name === `Segment ${syncId}`);
  if (!segment) throw new Error(`no segment for ${syncId}`);
  return segment.id;
}

const membershipCalls = (segmentId: number) =>
  engine.fake.requests.filter((r) => r.path.startsWith(`/api/v1/segments/${segmentId}/`));

/** Chunks travel several at a time (APPLY_WINDOW), so they may arrive in any order: sort by first id. */
const byFirstId = <T extends { body: unknown }>(calls: T[]): T[] =>
  [...calls].sort((a, b) =>
    ((a.body as { ids: string[] }).ids[0] ?? '').localeCompare((b.body as { ids: string[] }).ids[0] ?? ''),
  );

describe('cohort sync', () => {
  it('sends everyone on the first run in chunks of 1000, then only joiners and leavers, then nothing', async () => {
    const syncId = uniqueId('cohort');
    const prefix = uniqueId('m');
    const first = ids(prefix, 0, 2500);
    const path = await cohortFile(syncId, first);
    // identifyJoiners: Customer.io (and the fake) ignore unknown people in a segment add.
    await start(syncId, cohortSync(syncId, path, '    identifyJoiners: true'));
    const run1 = await afterRun(syncId, '1');
    expect(run1.lastRun).toMatchObject({ members: 2500, added: 2500, removed: 0, skipped: 0 });
    const segmentId = segmentOf(syncId);
    const calls1 = membershipCalls(segmentId);
    expect(
      byFirstId(calls1).map((r) => [r.path, r.query.id_type, (r.body as { ids: string[] }).ids.length]),
    ).toEqual([
      [`/api/v1/segments/${segmentId}/add_customers`, 'id', 1000],
      [`/api/v1/segments/${segmentId}/add_customers`, 'id', 1000],
      [`/api/v1/segments/${segmentId}/add_customers`, 'id', 500],
    ]);
    expect(new Set(engine.fake.segmentMemberValues(segmentId))).toEqual(new Set(first));

    // 1 % churn: 25 leave, 25 join.
    const second = [...first.slice(25), ...ids(prefix, 2500, 2525)];
    await cohortFile(syncId, second);
    await runCohortNow(engine.client, syncId);
    const run2 = await afterRun(syncId, '2');
    expect(run2.lastRun).toMatchObject({ members: 2500, added: 25, removed: 25 });
    const calls2 = membershipCalls(segmentId).slice(calls1.length);
    expect(calls2.map((r) => [r.path.split('/').at(-1), (r.body as { ids: string[] }).ids])).toEqual([
      ['add_customers', ids(prefix, 2500, 2525)],
      ['remove_customers', first.slice(0, 25)],
    ]);
    expect(new Set(engine.fake.segmentMemberValues(segmentId))).toEqual(new Set(second));

    await runCohortNow(engine.client, syncId);
    const run3 = await afterRun(syncId, '3');
    expect(run3.lastRun).toMatchObject({ members: 2500, added: 0, removed: 0 });
    expect(membershipCalls(segmentId)).toHaveLength(calls1.length + calls2.length);
    // The segment was created once, for all three runs.
    expect(engine.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/segments')).toHaveLength(
      1,
    );
    expect(run3.counters).toEqual({ runs: 3, added: 2525, removed: 25, skipped: 0 });
  });

  it('uses the email id type, and reports ids that are not emails instead of sending them', async () => {
    const syncId = uniqueId('emails');
    const path = await cohortFile(syncId, ['ada@example.com', 'not-an-email', 'bob@example.com']);
    await start(syncId, cohortSync(syncId, path, '    idType: email'));
    const run = await afterRun(syncId, '1');
    expect(run.lastRun).toMatchObject({ members: 2, added: 2, skipped: 1 });
    const [call] = membershipCalls(segmentOf(syncId));
    expect(call?.query).toEqual({ id_type: 'email' });
    expect(call?.body).toEqual({ ids: ['ada@example.com', 'bob@example.com'] });
  });

  it('sets a snake_cased person attribute true on joining and false on leaving with the attribute target', async () => {
    const syncId = uniqueId('attr');
    const path = await cohortFile(syncId, ['u-1', 'u-2']);
    await start(syncId, cohortSync(syncId, path, '    target: attribute\n    attribute: power_users'));
    await afterRun(syncId, '1');
    await cohortFile(syncId, ['u-2', 'u-3']);
    await runCohortNow(engine.client, syncId);
    await afterRun(syncId, '2');
    const items = engine.fake.requests
      .filter((r) => r.path === '/api/v2/batch' && JSON.stringify(r.body).includes('power_users'))
      .map((r) => (r.body as { batch: unknown[] }).batch);
    expect(items).toEqual([
      [
        { type: 'person', action: 'identify', identifiers: { id: 'u-1' }, attributes: { power_users: true } },
        { type: 'person', action: 'identify', identifiers: { id: 'u-2' }, attributes: { power_users: true } },
      ],
      [{ type: 'person', action: 'identify', identifiers: { id: 'u-3' }, attributes: { power_users: true } }],
      [
        {
          type: 'person',
          action: 'identify',
          identifiers: { id: 'u-1' },
          attributes: { power_users: false },
        },
      ],
    ]);
  });

  it('runs on its cadence without being asked', async () => {
    const syncId = uniqueId('cadence');
    const path = await cohortFile(syncId, ['c-1']);
    await start(syncId, cohortSync(syncId, path).replace('cadence: once', 'cadence: 2s'));
    const status = await afterRun(syncId, '2', 20_000);
    expect(status.counters.runs).toBeGreaterThanOrEqual(2);
    expect(Date.parse(status.nextRunAt!)).toBeGreaterThan(Date.parse(status.lastRun!.finishedAt));
  });

  it('stops between chunks when paused mid-run and finishes the same run on resume', async () => {
    const syncId = uniqueId('pausing');
    // 60 slow chunks: APPLY_WINDOW of them go out every 1.5 s, far fewer than 60 before the pause lands.
    const members = ids(uniqueId('p'), 0, 6000);
    const path = await cohortFile(syncId, members);
    engine.fake.script.delayNext(60, 1500, { path: /\/add_customers$/ });
    await start(syncId, cohortSync(syncId, path, '    chunkSize: 100\n    identifyJoiners: true'));
    const segmentId = await eventually(() => {
      try {
        return segmentOf(syncId);
      } catch {
        return undefined;
      }
    });
    await eventually(() => membershipCalls(segmentId).length >= 1);
    await pauseSync(engine.client, syncId);
    const paused = await eventually(async () => {
      const s = await cohortStatus(engine.client, syncId);
      return s.status === 'paused' && !s.applying ? s : undefined;
    });
    expect(paused.lastRun).toBeUndefined();
    expect(paused.running).toBe(true);
    const sentWhilePaused = membershipCalls(segmentId).length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(membershipCalls(segmentId).length).toBe(sentWhilePaused);
    expect(sentWhilePaused).toBeLessThan(60 - APPLY_WINDOW);
    engine.fake.script.clear();

    await resumeSync(engine.client, syncId);
    const done = await afterRun(syncId, '1');
    expect(done.lastRun).toMatchObject({ members: 6000, added: 6000 });
    expect(new Set(engine.fake.segmentMemberValues(segmentId))).toEqual(new Set(members));
  });
});

describe('cohort sync from Amplitude', () => {
  let amplitude: FakeAmplitudeCohorts;
  beforeAll(async () => {
    amplitude = await startFakeAmplitudeCohorts({
      apiKey: 'amp-key',
      secretKey: 'amp-secret',
      pollsUntilReady: 3,
    });
  });
  afterAll(async () => {
    await amplitude?.close();
  });

  function amplitudeSync(syncId: string, cohortId: string, extra = ''): string {
    return `
  - id: ${syncId}
    type: cohort
    destination: cio
    cohort:
      from: amplitude
      cohortId: ${cohortId}
      apiKey: \${AMP_KEY}
      secretKey: \${AMP_SECRET}
      url: ${amplitude.url}
      pollInterval: 100ms
    segment: { name: Segment ${syncId} }
    cadence: once
${extra}`;
  }

  it('waits out a slow export and reports members Customer.io did not know', async () => {
    const syncId = uniqueId('amp');
    const cohortId = uniqueId('c');
    const known = uniqueId('known');
    engine.fake.seedPerson({ id: known });
    amplitude.setCohort(cohortId, [known, uniqueId('stranger'), uniqueId('stranger')]);
    await start(syncId, amplitudeSync(syncId, cohortId));
    const run = await afterRun(syncId, '1');
    expect(amplitude.requestsTo('status').length).toBeGreaterThanOrEqual(3);
    expect(run.lastRun).toMatchObject({ members: 3, added: 3, unknown: 2 });
    expect(engine.fake.segmentMemberValues(segmentOf(syncId))).toEqual([known]);
  });

  it('identifies joiners first when asked, so nobody is silently ignored', async () => {
    const syncId = uniqueId('ampid');
    const cohortId = uniqueId('c');
    const members = [uniqueId('new'), uniqueId('new')];
    amplitude.setCohort(cohortId, members);
    await start(syncId, amplitudeSync(syncId, cohortId, '    identifyJoiners: true'));
    const run = await afterRun(syncId, '1');
    expect(run.lastRun).toMatchObject({ members: 2, added: 2, unknown: 0 });
    const identify = engine.fake.requests.find(
      (r) => r.path === '/api/v2/batch' && JSON.stringify(r.body).includes(members[0]!),
    );
    expect(identify?.body).toEqual({
      // Joiners go out in id order (the diff is read in pages by id).
      batch: [...members].sort().map((id) => ({
        type: 'person',
        action: 'identify',
        identifiers: { id },
        attributes: {},
      })),
    });
    expect(new Set(engine.fake.segmentMemberValues(segmentOf(syncId)))).toEqual(new Set(members));
  });

  it('fails the run with a clear error on bad Amplitude credentials, without touching the segment', async () => {
    const syncId = uniqueId('ampbad');
    const cohortId = uniqueId('c');
    amplitude.setCohort(cohortId, ['someone']);
    await engine.apply(
      testConfig(
        engine.fake,
        amplitudeSync(syncId, cohortId).replace('${AMP_SECRET}', '${AMP_WRONG_SECRET}'),
        {
          sources: [],
        },
      ),
    );
    const status = await eventually(async () => {
      const s = await cohortStatus(engine.client, syncId);
      return s.lastError && !s.running ? s : undefined;
    });
    expect(status.lastError?.message).toMatch(/401|403|credentials|key/i);
    expect(status.lastRun).toBeUndefined();
  });
});

describe('a cohort worker killed between chunks', () => {
  let crashEngine: TestEngine;
  beforeAll(async () => {
    crashEngine = await startEngine();
    await crashEngine.worker.shutdown();
  });
  afterAll(async () => {
    await crashEngine?.close();
  });

  it('resumes from its saved progress, creates the segment once, and only then moves the baseline', async () => {
    const e = crashEngine;
    const syncId = uniqueId('crash');
    const members = ids(uniqueId('k'), 0, 4000);
    const path = join(e.dir, `${syncId}.csv`);
    await writeFile(path, `user_id\n${members.join('\n')}\n`);
    const env = { ...WORKER_ENV, CIO_SYNC_STORE: `sqlite:${e.storePath}`, CIO_SYNC_TASK_QUEUE: e.taskQueue };
    let worker = await spawnWorker(env);
    // 16 chunks: twice the APPLY_WINDOW that may be on the wire when the worker dies.
    e.fake.script.delayNext(16, 400, { path: /\/add_customers$/ });
    await e.apply(
      testConfig(e.fake, cohortSync(syncId, path, '    chunkSize: 250\n    identifyJoiners: true'), {
        sources: [],
      }),
    );
    const segment = await eventually(() =>
      [...e.fake.segments.values()].find((s) => s.name === `Segment ${syncId}`),
    );
    await eventually(() => e.fake.requestsTo(/\/add_customers$/).filter((r) => r.status === 200).length >= 2);
    await worker.kill();
    const before = await e.store.cohorts.lastAppliedCohortRun(syncId);
    expect(before).toBeUndefined();

    worker = await spawnWorker(env);
    try {
      const status = await eventually(async () => {
        const s = await cohortStatus(e.client, syncId);
        return s.lastRun?.runId === '1' ? s : undefined;
      }, 60_000);
      expect(status.lastRun).toMatchObject({ members: 4000, added: 4000 });
    } finally {
      await worker.stop();
    }
    const adds = e.fake.requestsTo(/\/add_customers$/).filter((r) => r.status === 200);
    // Resumed after the last chunk saved: at most the chunks then on the wire are sent twice, never
    // the whole cohort again.
    expect(adds.length).toBeGreaterThanOrEqual(16);
    expect(adds.length).toBeLessThanOrEqual(16 + APPLY_WINDOW);
    expect(new Set(e.fake.segmentMemberValues(segment.id))).toEqual(new Set(members));
    expect(e.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/segments')).toHaveLength(1);
    expect((await e.store.cohorts.lastAppliedCohortRun(syncId))?.runId).toBe('1');
  });
});

describe('cohort sync history', () => {
  it('finds the segment while it reads the snapshot: both activities start in one workflow task', async () => {
    const syncId = uniqueId('cohort');
    await start(syncId, cohortSync(syncId, await cohortFile(syncId, ids(uniqueId('m'), 0, 10))));
    await afterRun(syncId, '1');
    const { events } = await engine.client.workflow.getHandle(cohortSyncWorkflowId(syncId)).fetchHistory();
    const scheduled = (type: string) =>
      (events ?? []).find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type)
        ?.activityTaskScheduledEventAttributes?.workflowTaskCompletedEventId;
    const segmentTask = scheduled('ensureCohortSegment');
    expect(segmentTask).toBeDefined();
    expect(scheduled('snapshotCohort')?.toString()).toBe(segmentTask?.toString());
    expect(scheduled('applyCohortDiff')).not.toEqual(segmentTask);
  });

  it('takes a config update that reaches it with its start, while its spec check runs', async () => {
    // Update-with-start puts the update in the sync's first workflow task: before the handlers were
    // set ahead of the check, it found none ("No registered handler").
    const syncId = uniqueId('cohort-first-update');
    const path = await cohortFile(syncId, ids(uniqueId('m'), 0, 3));
    const config = testConfig(engine.fake, cohortSync(syncId, path, '    status: paused'), { sources: [] });
    const spec = specFor(config, config.syncs[0]!, engine.env) as CohortSyncSpec;
    const changed = { ...spec, sync: { ...spec.sync, chunkSize: 2 } };
    const { answer, handle } = await startWithConfigUpdate(engine, spec, changed);
    expect(answer).toEqual({ accepted: true });
    expect((await handle.query(cohortConfigQuery)).sync.chunkSize).toBe(2);
    await handle.terminate('test done');
  });
});
