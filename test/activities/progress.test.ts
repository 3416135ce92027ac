/**
 * The progress activities under MockActivityEnvironment with a real SQLite store: they move the
 * store's records (the system of record) and nothing else, so a re-created workflow finds them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { setStreamCursor, startCohortRun } from '../../src/activities/progress.ts';
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
  it('moves the stored cursor and returns where it was (0 for a sync that never had one)', async () => {
    expect(await run(setStreamCursor, { syncId: 'web-to-cio', cursor: 40 })).toEqual({ previous: 0 });
    expect(await fx.deps.store.getStreamCursor('web-to-cio')).toBe(40);
    // Backwards too: replay and reset move a cursor wherever they are told.
    expect(await run(setStreamCursor, { syncId: 'web-to-cio', cursor: 12 })).toEqual({ previous: 40 });
    expect(await fx.deps.store.getStreamCursor('web-to-cio')).toBe(12);
    expect(await fx.deps.store.getStreamCursor('other')).toBeUndefined();
  });

  it('reports no heartbeat: it is one store write', async () => {
    const { env, heartbeats } = mockEnvironment();
    await env.run(setStreamCursor, fx.deps, { syncId: 's', cursor: 1 });
    expect(heartbeats).toEqual([]);
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
