import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openSqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cio-cohorts-'));
  store = await openSqliteStore(join(dir, 'store.db'), { now: () => 1_000 });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function snapshot(runId: string, ids: string[], baseline?: string) {
  await store.beginCohortRun('sync', runId);
  await store.addCohortMembers('sync', runId, ids);
  return store.completeCohortSnapshot('sync', runId, baseline, 0);
}

async function allPages(runId: string, other: string | undefined, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.cohortDiffPage('sync', runId, other, after, limit);
    if (page.length === 0) return pages;
    pages.push(page);
    after = page.at(-1);
  }
}

describe('cohort snapshots', () => {
  it('counts a first run as all joiners and pages them in id order', async () => {
    const run = await snapshot('1', ['c', 'a', 'b', 'a']);
    expect(run).toMatchObject({ phase: 'snapshotted', members: 3, toAdd: 3, toRemove: 0 });
    expect(await allPages('1', undefined, 2)).toEqual([['a', 'b'], ['c']]);
  });

  it('diffs joiners and leavers against the baseline with keyset pages', async () => {
    await snapshot('1', ['a', 'b', 'c', 'd']);
    await store.completeCohortRun('sync', '1');
    const run = await snapshot('2', ['b', 'c', 'e', 'f', 'g'], '1');
    expect(run).toMatchObject({ members: 5, toAdd: 3, toRemove: 2 });
    expect(await allPages('2', '1', 2)).toEqual([['e', 'f'], ['g']]);
    expect(await allPages('1', '2', 10)).toEqual([['a', 'd']]);
  });

  it('keeps the old baseline until the new run completes, then drops the old members', async () => {
    await snapshot('1', ['a']);
    await store.completeCohortRun('sync', '1');
    await snapshot('2', ['b'], '1');
    await store.saveCohortProgress('sync', '2', { phase: 'add', after: 'b', added: 1, removed: 0 });
    expect((await store.lastAppliedCohortRun('sync'))?.runId).toBe('1');
    expect(await store.getCohortRun('sync', '2')).toMatchObject({
      phase: 'applying',
      progress: { phase: 'add', after: 'b', added: 1, removed: 0 },
    });
    await store.completeCohortRun('sync', '2');
    expect(await store.lastAppliedCohortRun('sync')).toMatchObject({
      runId: '2',
      phase: 'applied',
      finishedAt: 1_000,
    });
    expect(await store.cohortDiffPage('sync', '1', undefined, undefined, 10)).toEqual([]);
  });

  it('restarting a snapshot empties what the failed attempt had read', async () => {
    await store.beginCohortRun('sync', '1');
    await store.addCohortMembers('sync', '1', ['stale-1', 'stale-2']);
    const run = await snapshot('1', ['fresh']);
    expect(run.members).toBe(1);
    expect(await allPages('1', undefined, 10)).toEqual([['fresh']]);
  });

  it('keeps cohorts of different syncs apart', async () => {
    await snapshot('1', ['a']);
    await store.beginCohortRun('other', '1');
    await store.addCohortMembers('other', '1', ['z']);
    expect(await store.cohortDiffPage('sync', '1', undefined, undefined, 10)).toEqual(['a']);
    expect(await store.cohortDiffPage('other', '1', undefined, undefined, 10)).toEqual(['z']);
  });
});
