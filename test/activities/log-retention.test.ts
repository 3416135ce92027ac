/**
 * pruneLog under MockActivityEnvironment with a real SQLite store: which entries may go is decided
 * by the running syncs (from Temporal's visibility; injected here) and their stored positions, and
 * by the retention. Whatever a running sync has not passed, or is younger than the retention, stays.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  PRUNE_CHUNK,
  pruneLog,
  type PruneLogResult,
  type RunningStreamSync,
} from '../../src/activities/log-retention.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/store.ts';
import { rec } from '../store/harness.ts';
import { activityFixture, mockEnvironment, type ActivityFixture } from './fixture.ts';

const DAY = 86_400_000;
let fx: ActivityFixture;
let store: Store;
let now = Date.now() - 10 * DAY;
beforeEach(async () => {
  fx = await activityFixture();
  now = Date.now() - 10 * DAY;
  store = await openSqliteStore(':memory:', { now: () => now });
});
afterEach(async () => {
  await store.close();
  await fx.close();
});

const prune = (running: RunningStreamSync[], retentionMs = 7 * DAY) => {
  const { env, heartbeats } = mockEnvironment();
  const deps = { ...fx.deps, store, runningStreamSyncs: async () => running };
  const result: Promise<PruneLogResult> = env.run(pruneLog, deps, { sourceId: 'web', retentionMs });
  return { result, heartbeats };
};

describe('pruneLog', () => {
  it('deletes what every running sync reading the source has passed and is older than the retention', async () => {
    const old = await store.append('web', [rec(1), rec(2), rec(3), rec(4)]); // 10 days ago
    now = Date.now();
    const fresh = await store.append('web', [rec(5)]);
    await store.prepareLanes('a', 'web', 1, old[3]!); // passed all the old ones
    await store.prepareLanes('b', 'web', 1, old[1]!); // passed two
    await store.prepareLanes('gone', 'web', 1, 0); // removed from the config: holds nothing back
    await store.prepareLanes('elsewhere', 'app', 1, 0);

    const { result } = prune([
      { syncId: 'a', sourceId: 'web' },
      { syncId: 'b', sourceId: 'web' },
      { syncId: 'elsewhere' },
    ]);
    expect(await result).toEqual({ pruned: 2, throughSeq: old[1]! });
    expect((await store.readAfter('web', 0, 10)).map((r) => r.seq)).toEqual([old[2]!, old[3]!, fresh[0]!]);

    // Once b has passed everything, only the retention keeps the newest entry.
    await store.setStreamCursor('b', 'web', fresh[0]!);
    await store.setStreamCursor('a', 'web', fresh[0]!);
    expect(await prune([{ syncId: 'a' }, { syncId: 'b' }]).result).toEqual({
      pruned: 2,
      throughSeq: fresh[0]!,
    });
    expect((await store.readAfter('web', 0, 10)).map((r) => r.seq)).toEqual([fresh[0]!]);
  });

  it('prunes nothing while a running sync of the source has no stored position yet', async () => {
    await store.append('web', [rec(1)]);
    await store.prepareLanes('a', 'web', 1, 1);
    expect(await prune([{ syncId: 'a' }, { syncId: 'new', sourceId: 'web' }]).result).toEqual({
      pruned: 0,
      throughSeq: 0,
      skipped: 'sync new has no stored position yet',
    });
    // A new sync of another source holds nothing here.
    expect((await prune([{ syncId: 'a' }, { syncId: 'new', sourceId: 'app' }]).result).pruned).toBe(1);
    expect(await prune([]).result).toEqual({ pruned: 0, throughSeq: 0, skipped: 'no running sync reads it' });
  });

  it('skips the work when a prune of the source started within sharedWithinMs', async () => {
    await store.append('web', [rec(1), rec(2)]);
    await store.prepareLanes('a', 'web', 1, 1);
    const { env } = mockEnvironment();
    const deps = { ...fx.deps, store, runningStreamSyncs: async () => [{ syncId: 'a' }] };
    const input = { sourceId: 'web', retentionMs: 0, sharedWithinMs: 60_000 };
    expect(await env.run(pruneLog, deps, input)).toEqual({ pruned: 1, throughSeq: 1 });
    await store.setStreamCursor('a', 'web', 2);
    // Another sync of the source, a moment later: nothing listed, nothing deleted.
    expect(await env.run(pruneLog, deps, input)).toEqual({
      pruned: 0,
      throughSeq: 0,
      skipped: 'a prune of the source started moments ago',
    });
    expect(await store.countAfter('web', 0)).toBe(1);
    // Without the window (or once it has passed) it prunes.
    expect(await env.run(pruneLog, deps, { sourceId: 'web', retentionMs: 0 })).toEqual({
      pruned: 1,
      throughSeq: 2,
    });
  });

  it('deletes a chunk per transaction and heartbeats between them', async () => {
    const n = PRUNE_CHUNK * 2 + 10;
    const seqs = await store.append(
      'web',
      Array.from({ length: n }, (_, i) => rec(i)),
    );
    await store.prepareLanes('a', 'web', 1, seqs.at(-1)!);
    const { result, heartbeats } = prune([{ syncId: 'a' }]);
    expect((await result).pruned).toBe(n);
    expect(heartbeats).toEqual([{ pruned: 0 }, { pruned: PRUNE_CHUNK }, { pruned: PRUNE_CHUNK * 2 }]);
    expect(await store.countAfter('web', 0)).toBe(0);
  });
});
