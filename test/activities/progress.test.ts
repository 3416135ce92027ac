/**
 * The progress activities under MockActivityEnvironment with a real SQLite store: cursor moves and
 * run ids live in the store (the system of record), so a re-created workflow finds them; waitForLog
 * is the one wait an idle stream sync holds, so it must heartbeat and let go at once when told.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { setStreamCursor, startCohortRun, waitForLog } from '../../src/activities/progress.ts';
import { activityFixture, mockEnvironment, type ActivityFixture } from './fixture.ts';

let fx: ActivityFixture;
beforeEach(async () => {
  fx = await activityFixture();
});
afterEach(async () => {
  await fx.close();
});

const run = <A, R>(fn: (deps: ActivityFixture['deps'], input: A) => Promise<R>, input: A) =>
  mockEnvironment().env.run(fn, fx.deps, input);

describe('setStreamCursor', () => {
  it('moves every lane of the stored cursor and returns the lowest before (0 for a new sync)', async () => {
    const input = { syncId: 'web-to-cio', sourceId: 'web' };
    expect(await run(setStreamCursor, { ...input, cursor: 40 })).toEqual({ previous: 0 });
    expect(await fx.deps.store.getStreamCursor('web-to-cio')).toBe(40);
    // Lanes that have moved apart all land on the one cursor.
    await fx.deps.store.prepareLanes('web-to-cio', 'web', 3, 0);
    expect(await run(setStreamCursor, { ...input, cursor: 12 })).toEqual({ previous: 40 });
    expect(await fx.deps.store.getLaneCursors('web-to-cio')).toMatchObject({ cursors: [12, 12, 12] });
    expect(await fx.deps.store.getStreamCursor('other')).toBeUndefined();
  });

  it('reports no heartbeat: it is one store write', async () => {
    const { env, heartbeats } = mockEnvironment();
    await env.run(setStreamCursor, fx.deps, { syncId: 's', sourceId: 'web', cursor: 1 });
    expect(heartbeats).toEqual([]);
  });
});

describe('waitForLog', () => {
  const record = {
    kind: 'track',
    origin: 'segment',
    time: 1,
    event_properties: {},
    user_properties: {},
    context: {},
  } as const;

  it('answers at once when the log already has a record past afterSeq', async () => {
    await fx.deps.store.append('web', [record]);
    const { env, heartbeats } = mockEnvironment();
    expect(await env.run(waitForLog, fx.deps, { sourceId: 'web', afterSeq: 0, timeoutMs: 10_000 })).toBe(
      true,
    );
    // One heartbeat as it starts, with no details: there is no progress to resume from.
    expect(heartbeats).toEqual([undefined]);
  });

  it('heartbeats every second while it waits, and wakes when a record is appended', async () => {
    const { env, heartbeats } = mockEnvironment();
    const waiting = env.run(waitForLog, fx.deps, { sourceId: 'web', afterSeq: 0, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 1300));
    await fx.deps.store.append('web', [record]);
    expect(await waiting).toBe(true);
    expect(heartbeats).toEqual([undefined, undefined]);
  });

  it('answers false once timeoutMs passes with nothing new', async () => {
    await fx.deps.store.append('web', [record]);
    const started = Date.now();
    expect(await run(waitForLog, { sourceId: 'web', afterSeq: 1, timeoutMs: 300 })).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('stops waiting as soon as it is cancelled (a pause), answering false', async () => {
    const { env } = mockEnvironment();
    const started = Date.now();
    const waiting = env.run(waitForLog, fx.deps, { sourceId: 'web', afterSeq: 0, timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 200));
    env.cancel();
    // The workflow treats "nothing yet" and a cancellation alike: it goes round its loop again.
    expect(await waiting).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('stops waiting when the worker begins to shut down', async () => {
    const shutdown = new AbortController();
    const deps = { ...fx.deps, shutdownSignal: shutdown.signal };
    const started = Date.now();
    const stopping = mockEnvironment().env.run(waitForLog, deps, {
      sourceId: 'web',
      afterSeq: 0,
      timeoutMs: 30_000,
    });
    shutdown.abort();
    expect(await stopping).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('startCohortRun', () => {
  it('draws run ids from a store sequence per sync, never reusing one', async () => {
    expect(await run(startCohortRun, { syncId: 'vips' })).toBe('1');
    expect(await run(startCohortRun, { syncId: 'vips' })).toBe('2');
    expect(await run(startCohortRun, { syncId: 'other' })).toBe('1');
    expect(await run(startCohortRun, { syncId: 'vips' })).toBe('3');
  });

  it('skips ids of runs the store already holds (numbered by an older version)', async () => {
    await fx.deps.store.cohorts.beginCohortRun('vips', '1');
    await fx.deps.store.cohorts.beginCohortRun('vips', '2');
    expect(await run(startCohortRun, { syncId: 'vips' })).toBe('3');
  });
});
