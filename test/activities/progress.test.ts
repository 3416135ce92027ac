/**
 * The progress activities under MockActivityEnvironment with a real SQLite store: cursor moves and
 * run ids live in the store (the system of record), so a re-created workflow finds them;
 * dispatchLanes is the one wait an idle stream sync holds, so it must heartbeat and let go at once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { startCohortRun } from '../../src/activities/cohort-run-id.ts';
import { setStreamCursor } from '../../src/activities/lane-cursors.ts';
import { dispatchLanes } from '../../src/activities/lane-dispatch.ts';
import { Destination, StreamSync } from '../../src/config/schema.ts';
import { laneOf } from '../../src/mapping/lanes.ts';
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

describe('dispatchLanes', () => {
  const spec = {
    sync: StreamSync.parse({ id: 'web-to-cio', type: 'stream', source: 'web', destination: 'cio' }),
    destination: Destination.parse({
      id: 'cio',
      siteId: '${CIO_SITE_ID}',
      trackApiKey: '${CIO_TRACK_API_KEY}',
    }),
  };
  const sync = spec.sync;
  const record = (userId: string) =>
    ({
      kind: 'track',
      origin: 'segment',
      user_id: userId,
      event_type: 'E',
      time: 1,
      event_properties: {},
      user_properties: {},
      context: {},
    }) as const;
  /** A user whose records fall in `lane` of `lanes`. */
  const userIn = (lane: number, lanes: number) => {
    for (let i = 0; ; i++) if (laneOf(record(`u${i}`), sync, lanes) === lane) return `u${i}`;
  };
  const input = (waitMs: number) => ({
    syncId: 'web-to-cio',
    spec,
    lanes: 4,
    startFrom: 'beginning' as const,
    waitMs,
  });

  it('starts only the lanes with records of their own, and moves the others past them', async () => {
    const seqs = await fx.deps.store.append('web', [record(userIn(2, 4)), record(userIn(2, 4))]);
    const { env, heartbeats } = mockEnvironment();
    expect(await env.run(dispatchLanes, fx.deps, input(10_000))).toEqual([2]);
    // One heartbeat as it starts, with no details: there is no progress to resume from.
    expect(heartbeats).toEqual([undefined]);
    expect(await fx.deps.store.getLaneCursors('web-to-cio')).toEqual({
      lanes: 4,
      cursors: [seqs[1], seqs[1], 0, seqs[1]],
    });
  });

  it('heartbeats every second while it waits, and wakes when a record is appended', async () => {
    const { env, heartbeats } = mockEnvironment();
    const waiting = env.run(dispatchLanes, fx.deps, input(10_000));
    await new Promise((r) => setTimeout(r, 1300));
    await fx.deps.store.append('web', [record(userIn(1, 4))]);
    expect(await waiting).toEqual([1]);
    expect(heartbeats).toEqual([undefined, undefined]);
  });

  it('answers no lane once waitMs passes with nothing new', async () => {
    const started = Date.now();
    expect(await run(dispatchLanes, input(300))).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('stops waiting as soon as it is cancelled (a pause), answering no lane', async () => {
    const { env } = mockEnvironment();
    const started = Date.now();
    const waiting = env.run(dispatchLanes, fx.deps, input(30_000));
    await new Promise((r) => setTimeout(r, 200));
    env.cancel();
    // The workflow treats "nothing yet" and a cancellation alike: it goes round its loop again.
    expect(await waiting).toEqual([]);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('stops waiting when the worker begins to shut down', async () => {
    const shutdown = new AbortController();
    const deps = { ...fx.deps, shutdownSignal: shutdown.signal };
    const started = Date.now();
    const stopping = mockEnvironment().env.run(dispatchLanes, deps, input(30_000));
    shutdown.abort();
    expect(await stopping).toEqual([]);
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
