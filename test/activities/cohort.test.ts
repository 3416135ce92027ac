/**
 * The cohort activities on their own, under @temporalio/testing's MockActivityEnvironment: what
 * they heartbeat, how they stop when cancelled, and which failure each Customer.io answer becomes
 * (the types of src/customerio/policy.ts, which the cohort-sync workflow matches on). A real SQLite
 * store and the fake Customer.io; no Temporal server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  APPLY_WINDOW,
  applyCohortDiff,
  ensureCohortSegment,
  snapshotCohort,
} from '../../src/activities/cohort.ts';
import { CHUNK_RATE_LIMIT_RETRIES } from '../../src/activities/cohort-customerio.ts';
import { FAILURE_TYPES } from '../../src/customerio/policy.ts';
import type { CohortSyncSpec } from '../../src/config/schema.ts';
import { activityFixture, failureOf, mockEnvironment, type ActivityFixture } from './fixture.ts';

let fx: ActivityFixture;
beforeEach(async () => {
  fx = await activityFixture();
});
afterEach(async () => {
  await fx.close();
});

const STARTED = '2026-12-01T00:00:00.000Z';

/** Snapshots `ids` as run `runId` (the real activity), ready for applyCohortDiff. */
async function snapshot(spec: CohortSyncSpec, runId: string, ids: readonly string[]) {
  await fx.members('members.csv', ids);
  return mockEnvironment().env.run(snapshotCohort, fx.deps, { syncId: spec.sync.id, runId, spec });
}

function apply(
  spec: CohortSyncSpec,
  input: { runId: string; baselineRunId?: string; segmentId?: number },
  env = mockEnvironment().env,
) {
  return env.run(applyCohortDiff, fx.deps, { syncId: spec.sync.id, spec, startedAt: STARTED, ...input });
}

const membershipCalls = () =>
  fx.cio.requests
    .filter((r) => /\/api\/v1\/segments\/\d+\/(add|remove)_customers$/.test(r.path))
    .map((r) => [r.path.split('/').at(-1), (r.body as { ids: string[] }).ids] as [string, string[]]);

/** Chunks travel several at a time (APPLY_WINDOW): compare them in id order. */
const sorted = (calls: Array<[string, string[]]>) =>
  [...calls].sort((a, b) => (a[1][0] ?? '').localeCompare(b[1][0] ?? ''));

const pairs = (ids: string[]) =>
  Array.from({ length: Math.ceil(ids.length / 2) }, (_, i) => ids.slice(i * 2, i * 2 + 2));

describe('ensureCohortSegment', () => {
  it('creates the named segment once, with the description it finds again after a crash', async () => {
    const spec = fx.spec();
    const id = Number(
      await mockEnvironment().env.run(ensureCohortSegment, fx.deps, { syncId: 'vips', spec }),
    );
    expect(fx.cio.segments.get(id)).toMatchObject({
      name: 'VIPs',
      description: 'Managed by cio-sync (cohort sync vips)',
      type: 'manual',
    });
    // Known from the store: no App API call at all the second time.
    const before = fx.cio.requests.length;
    expect(await mockEnvironment().env.run(ensureCohortSegment, fx.deps, { syncId: 'vips', spec })).toBe(id);
    expect(fx.cio.requests.length).toBe(before);

    // A crash after Customer.io created it but before the store kept the id: found by description.
    const other = fx.spec({ id: 'other' });
    const existing = fx.cio.seedSegment({
      name: 'Other',
      description: 'Managed by cio-sync (cohort sync other)',
    });
    expect(
      await mockEnvironment().env.run(ensureCohortSegment, fx.deps, { syncId: 'other', spec: other }),
    ).toBe(existing.id);
    expect(fx.cio.requestsTo('/v1/segments', 'POST')).toHaveLength(1);
  });

  it('takes a configured segment id or an attribute target without calling Customer.io', async () => {
    const run = (spec: CohortSyncSpec) =>
      mockEnvironment().env.run(ensureCohortSegment, fx.deps, { syncId: 'vips', spec });
    expect(await run(fx.spec({ segment: { id: 42 } }))).toBe(42);
    expect(await run(fx.spec({ target: 'attribute', segment: undefined }))).toBeUndefined();
    expect(fx.cio.requests).toEqual([]);
  });

  it.each([
    [{ status: 429, retryAfter: 7 }, FAILURE_TYPES.rateLimited, false, 7000],
    [{ status: 503 }, FAILURE_TYPES.unavailable, false, undefined],
    [{ status: 401 }, FAILURE_TYPES.credentialsRejected, true, undefined],
    [{ status: 404 }, FAILURE_TYPES.destinationUnreachable, true, undefined],
  ])('App API answer %o → %s', async (answer, type, nonRetryable, nextRetryDelay) => {
    fx.cio.script.failNext(1, { ...answer, api: 'app', path: '/v1/segments' });
    const failure = await failureOf(
      mockEnvironment().env.run(ensureCohortSegment, fx.deps, { syncId: 'vips', spec: fx.spec() }),
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect({
      type: failure.type,
      nonRetryable: failure.nonRetryable,
      nextRetryDelay: failure.nextRetryDelay,
    }).toEqual({ type, nonRetryable, nextRetryDelay });
    expect(fx.cio.segments.size).toBe(0);
  });

  it('fails non-retryably as CustomerIoRejected when Customer.io refuses to create the segment', async () => {
    fx.cio.script.failNext(1, {
      status: 400,
      api: 'app',
      method: 'POST',
      body: { errors: [{ detail: 'bad name' }] },
    });
    const failure = await failureOf(
      mockEnvironment().env.run(ensureCohortSegment, fx.deps, { syncId: 'vips', spec: fx.spec() }),
    );
    expect(failure).toMatchObject({ type: FAILURE_TYPES.rejected, nonRetryable: true });
    expect(failure.message).toBe('Customer.io refused to create segment: HTTP 400: bad name');
  });

  it('holds as CredentialsMissing when the worker’s environment lacks the key', async () => {
    const spec = fx.spec({}, { trackApiKey: '${NOT_SET_ANYWHERE}' });
    const failure = await failureOf(
      mockEnvironment().env.run(ensureCohortSegment, fx.deps, { syncId: 'vips', spec }),
    );
    expect(failure).toMatchObject({
      type: FAILURE_TYPES.credentialsMissing,
      nonRetryable: true,
      details: [{ hold: 'credentials_missing', status: undefined }],
    });
    expect(fx.cio.requests).toEqual([]);
  });
});

describe('snapshotCohort', () => {
  it('stores the members, skips invalid ids, counts the diff against the last applied run', async () => {
    const spec = fx.spec({ idType: 'email' });
    const { env, heartbeats } = mockEnvironment();
    await fx.members('members.csv', ['a@example.com', 'not-an-email', 'b@example.com']);
    expect(await env.run(snapshotCohort, fx.deps, { syncId: 'vips', runId: '1', spec })).toEqual({
      members: 2,
      skipped: 1,
      toAdd: 2,
      toRemove: 0,
      baselineRunId: undefined,
      baselineMembers: 0,
    });
    // The first heartbeat goes out before the source is read.
    expect(heartbeats[0]).toEqual({ phase: 'requested' });

    await apply(spec, { runId: '1', segmentId: fx.cio.seedSegment({ name: 'VIPs' }).id });
    expect(await snapshot(spec, '2', ['b@example.com', 'c@example.com'])).toEqual({
      members: 2,
      skipped: 0,
      toAdd: 1,
      toRemove: 1,
      baselineRunId: '1',
      baselineMembers: 2,
    });
  });

  describe('from a URL that answers slowly', () => {
    let server: Server;
    let release: () => void = () => {};
    let url: string;
    beforeEach(async () => {
      // Sends the header and two members, then holds the rest until released.
      server = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/csv' });
        res.write('id\nu1\nu2\n');
        release = () => res.end('u3\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/members.csv`;
    });
    afterEach(async () => {
      release();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('heartbeats its progress while the download is slow', async () => {
      const spec = fx.spec({ cohort: { from: 'url', url, format: 'csv' } });
      const { env, heartbeats } = mockEnvironment();
      const running = env.run(snapshotCohort, fx.deps, { syncId: 'vips', runId: '1', spec });
      // keepAlive heartbeats every second with the latest progress.
      await waitFor(() => heartbeats.length >= 2, 5000);
      release();
      expect(await running).toMatchObject({ members: 3, toAdd: 3 });
      // Before the request, then (a second later) what the answer's first bytes showed.
      expect(heartbeats.slice(0, 2)).toEqual([{ phase: 'requested' }, { phase: 'downloading', ids: 0 }]);
    });

    it('stops when cancelled mid-download with a cancellation, not a source failure', async () => {
      const spec = fx.spec({ cohort: { from: 'url', url, format: 'csv' } });
      const { env, heartbeats } = mockEnvironment();
      const running = env.run(snapshotCohort, fx.deps, { syncId: 'vips', runId: '1', spec });
      await waitFor(() => heartbeats.length >= 1, 5000);
      await new Promise((r) => setTimeout(r, 100));
      env.cancel();
      const failure = await failureOf(running);
      // A CancelledFailure is reported as the activity's cancellation, so the workflow keeps the
      // run (a pause); a CohortSourcePermanentError would drop it as a broken source.
      expect(failure).toBeInstanceOf(CancelledFailure);
      expect(await fx.deps.store.cohorts.lastAppliedCohortRun('vips')).toBeUndefined();
    });
  });

  it.each([
    [404, 'CohortSourcePermanentError', true],
    [503, 'CohortSourceError', false],
  ])('a source answering HTTP %i fails as %s', async (status, type, nonRetryable) => {
    const server = createServer((_req, res) => res.writeHead(status).end('nope'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/members.csv`;
      const spec = fx.spec({ cohort: { from: 'url', url, format: 'csv' } });
      const failure = await failureOf(
        mockEnvironment().env.run(snapshotCohort, fx.deps, { syncId: 'vips', runId: '1', spec }),
      );
      expect(failure).toMatchObject({ type, nonRetryable });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses an empty cohort after a non-empty run as CohortEmpty, unless allowEmpty', async () => {
    const spec = fx.spec();
    await snapshot(spec, '1', ['u1', 'u2']);
    await apply(spec, { runId: '1', segmentId: fx.cio.seedSegment({ name: 'VIPs' }).id });
    const failure = await failureOf(snapshot(spec, '2', []));
    expect(failure).toMatchObject({ type: 'CohortEmpty', nonRetryable: true });
    expect(await snapshot(fx.spec({ allowEmpty: true }), '3', [])).toMatchObject({ members: 0, toRemove: 2 });
  });
});

describe('applyCohortDiff', () => {
  it('adds joiners and removes leavers in chunks, saving progress per chunk, and reports the run', async () => {
    const spec = fx.spec({ chunkSize: 2 });
    const segmentId = fx.cio.seedSegment({ name: 'VIPs' }).id;
    for (const id of ['u1', 'u2', 'u3', 'u4']) fx.cio.seedPerson({ id });
    await snapshot(spec, '1', ['u1', 'u2', 'u3']);
    await apply(spec, { runId: '1', segmentId });
    await snapshot(spec, '2', ['u2', 'u3', 'u4']);
    fx.cio.requests.length = 0;
    fx.cohortIds.length = 0;

    const summary = await apply(spec, { runId: '2', baselineRunId: '1', segmentId });
    expect(summary).toEqual({
      runId: '2',
      startedAt: STARTED,
      finishedAt: expect.any(String),
      members: 3,
      added: 1,
      removed: 1,
      skipped: 0,
      // customer_count against the snapshot: every member is known.
      unknown: 0,
    });
    expect(membershipCalls()).toEqual([
      ['add_customers', ['u4']],
      ['remove_customers', ['u1']],
    ]);
    expect(fx.cio.segmentMemberValues(segmentId).sort()).toEqual(['u2', 'u3', 'u4']);
    expect(fx.cohortIds).toEqual([
      { syncId: 'vips', change: 'added', count: 1 },
      { syncId: 'vips', change: 'removed', count: 1 },
    ]);
    expect((await fx.deps.store.cohorts.lastAppliedCohortRun('vips'))?.runId).toBe('2');
  });

  it('heartbeats the progress after each chunk while a chunk is slow', async () => {
    const spec = fx.spec({ chunkSize: 2 });
    const segmentId = fx.cio.seedSegment({ name: 'VIPs' }).id;
    await snapshot(spec, '1', ['u1', 'u2', 'u3', 'u4']);
    // Both chunks are on the wire at once; the second takes longer than keepAlive's one-second
    // heartbeat, which then carries the first one's progress.
    fx.cio.script.delayNext(1, 200, { path: `/api/v1/segments/${segmentId}/add_customers` });
    fx.cio.script.delayNext(1, 1500, { path: `/api/v1/segments/${segmentId}/add_customers` });
    const { env, heartbeats } = mockEnvironment();
    await apply(spec, { runId: '1', segmentId }, env);
    expect(heartbeats[0]).toEqual({ phase: 'add', added: 0, removed: 0 });
    expect(heartbeats).toContainEqual({ phase: 'add', after: 'u2', added: 2, removed: 0 });
  });

  it('stops between chunks when cancelled, and the next attempt resumes after the last chunk applied', async () => {
    const spec = fx.spec({ chunkSize: 2 });
    const segmentId = fx.cio.seedSegment({ name: 'VIPs' }).id;
    // Three windows' worth of chunks; the first is slow, so the window stays full while it lasts.
    const chunks = APPLY_WINDOW * 3;
    const members = Array.from({ length: chunks * 2 }, (_, i) => `u${String(i).padStart(3, '0')}`);
    await snapshot(spec, '1', members);
    fx.cio.script.delayNext(1, 300, { path: `/api/v1/segments/${segmentId}/add_customers` });
    const { env } = mockEnvironment();
    const running = apply(spec, { runId: '1', segmentId }, env);
    await waitFor(() => fx.cio.requests.some((r) => r.path.endsWith('/add_customers')), 5000);
    env.cancel();
    // The chunks on the wire finish (their answers are saved); no further chunk starts.
    expect(await failureOf(running)).toBeInstanceOf(CancelledFailure);
    const firstWindow = members.slice(0, APPLY_WINDOW * 2);
    expect(sorted(membershipCalls())).toEqual(pairs(firstWindow).map((ids) => ['add_customers', ids]));
    expect((await fx.deps.store.cohorts.getCohortRun('vips', '1'))?.progress).toEqual({
      phase: 'add',
      after: firstWindow.at(-1),
      added: firstWindow.length,
      removed: 0,
    });

    const summary = await apply(spec, { runId: '1', segmentId });
    expect(summary).toMatchObject({ added: members.length, removed: 0, members: members.length });
    expect(sorted(membershipCalls())).toEqual(pairs(members).map((ids) => ['add_customers', ids]));
  });

  it.each([
    [{ status: 502 }, FAILURE_TYPES.unavailable, false, undefined],
    [{ status: 401 }, FAILURE_TYPES.credentialsRejected, true, undefined],
  ])('Track answer %o → %s, keeping the run’s place', async (answer, type, nonRetryable, nextRetryDelay) => {
    const spec = fx.spec({ chunkSize: 2 });
    const segmentId = fx.cio.seedSegment({ name: 'VIPs' }).id;
    await snapshot(spec, '1', ['u1', 'u2', 'u3']);
    // The first chunk goes through; the answer is scripted for the second one when it arrives.
    let calls = 0;
    const handle = fx.cio.handle.bind(fx.cio);
    fx.cio.handle = async (req, res) => {
      if (req.url?.includes('/add_customers') && ++calls === 2) fx.cio.script.failNext(1, answer);
      return handle(req, res);
    };
    const failure = await failureOf(apply(spec, { runId: '1', segmentId }));
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect({
      type: failure.type,
      nonRetryable: failure.nonRetryable,
      nextRetryDelay: failure.nextRetryDelay,
    }).toEqual({ type, nonRetryable, nextRetryDelay });
    expect((await fx.deps.store.cohorts.getCohortRun('vips', '1'))?.progress).toEqual({
      phase: 'add',
      after: 'u2',
      added: 2,
      removed: 0,
    });
  });

  it('waits out a 429 in place and resends the chunk; more 429s than it waits out fail the attempt, keeping its place', async () => {
    const spec = fx.spec({ chunkSize: 2 });
    const segmentId = fx.cio.seedSegment({ name: 'VIPs' }).id;
    await snapshot(spec, '1', ['u1', 'u2', 'u3']);
    const path = `/api/v1/segments/${segmentId}/add_customers`;
    fx.cio.script.failNext(1, { status: 429, retryAfter: 1, path });
    const started = Date.now();
    expect(await apply(spec, { runId: '1', segmentId })).toMatchObject({ added: 3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    const adds = fx.cio.requests.filter((r) => r.path === path);
    expect(adds.map((r) => r.status).sort()).toEqual([200, 200, 429]);

    await snapshot(spec, '2', ['u1', 'u2', 'u3', 'u4', 'u5']);
    fx.cio.script.failNext(CHUNK_RATE_LIMIT_RETRIES + 1, { status: 429, retryAfter: 0, path });
    const failure = await failureOf(apply(spec, { runId: '2', baselineRunId: '1', segmentId }));
    expect(failure).toMatchObject({ type: FAILURE_TYPES.rateLimited, nonRetryable: false });
    expect((await fx.deps.store.cohorts.getCohortRun('vips', '2'))?.progress).toEqual({
      phase: 'add',
      added: 0,
      removed: 0,
    });
  });

  it('holds as CustomerIoUnreachable when Customer.io answers 404 for the segment', async () => {
    const spec = fx.spec();
    await snapshot(spec, '1', ['u1']);
    const failure = await failureOf(apply(spec, { runId: '1', segmentId: 999 }));
    expect(failure).toMatchObject({
      type: FAILURE_TYPES.destinationUnreachable,
      nonRetryable: true,
      details: [{ hold: 'destination_unreachable', status: 404 }],
    });
    expect(await fx.deps.store.cohorts.lastAppliedCohortRun('vips')).toBeUndefined();
  });

  it('counts members refused by a 207 as rejected, by reason, and applies the rest', async () => {
    const spec = fx.spec({ target: 'attribute', segment: undefined, attribute: 'vip' });
    await snapshot(spec, '1', ['u1', 'u2', 'u3']);
    fx.cio.script.failNext(1, {
      path: '/api/v2/batch',
      status: 207,
      applied: true,
      body: { errors: [{ batch_index: 1, reason: 'invalid', field: 'attributes', message: 'not allowed' }] },
    });
    const summary = await apply(spec, { runId: '1' });
    expect(summary).toMatchObject({
      members: 3,
      added: 2,
      rejected: 1,
      rejectedReasons: { 'invalid: attributes: not allowed': 1 },
    });
    expect(fx.cio.requestsTo('/api/v2/batch')[0]!.body).toEqual({
      batch: ['u1', 'u2', 'u3'].map((id) => ({
        type: 'person',
        action: 'identify',
        identifiers: { id },
        attributes: { vip: true },
      })),
    });
  });

  it('records the exact requests instead of sending them for a dry-run destination', async () => {
    const spec = fx.spec({ segment: { id: 7 } }, { dryRun: true });
    await snapshot(spec, '1', ['u1', 'u2']);
    const summary = await apply(spec, { runId: '1', segmentId: 7 });
    expect(summary).toMatchObject({ added: 2, members: 2 });
    expect(summary).not.toHaveProperty('unknown');
    expect(fx.cio.requests).toEqual([]);
    const captured = await fx.deps.store.listCapturedRequests('vips', { limit: 10 });
    expect(captured.map((r) => [r.method, r.url, r.body])).toEqual([
      ['POST', `${fx.cio.url}/api/v1/segments/7/add_customers?id_type=id`, { ids: ['u1', 'u2'] }],
    ]);
  });
});

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
