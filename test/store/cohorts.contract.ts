import { beforeEach, describe, expect, it } from 'vitest';

import type { Store } from '../../src/store/store.ts';
import type { StoreContract } from './harness.ts';

/** The Store contract for cohort snapshots and their diffs. */
export function describeCohortContract({ open }: StoreContract): void {
  let store: Store;

  async function snapshot(runId: string, ids: string[], baseline?: string) {
    await store.cohorts.beginCohortRun('sync', runId);
    await store.cohorts.addCohortMembers('sync', runId, ids);
    return store.cohorts.completeCohortSnapshot('sync', runId, baseline, 0);
  }

  async function allPages(runId: string, other: string | undefined, limit: number): Promise<string[][]> {
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.cohorts.cohortDiffPage('sync', runId, other, after, limit);
      if (page.length === 0) return pages;
      pages.push(page);
      after = page.at(-1);
    }
  }

  describe('cohort snapshots', () => {
    beforeEach(async () => {
      store = await open({ now: () => 1_000 });
    });

    it('says how many ids were new to the run, and completes with that count as with its own', async () => {
      await store.cohorts.beginCohortRun('sync', '1');
      expect(await store.cohorts.addCohortMembers('sync', '1', ['c', 'a', 'b', 'a'])).toBe(3);
      expect(await store.cohorts.addCohortMembers('sync', '1', ['b', 'd'])).toBe(1);
      expect(await store.cohorts.addCohortMembers('sync', '1', [])).toBe(0);
      const counted = await store.cohorts.completeCohortSnapshot('sync', '1', undefined, 0, 4);
      expect(counted).toMatchObject({ members: 4, toAdd: 4, toRemove: 0 });
      await store.cohorts.beginCohortRun('sync', '2');
      expect(await store.cohorts.addCohortMembers('sync', '2', ['a', 'e'])).toBe(2);
      expect(await store.cohorts.completeCohortSnapshot('sync', '2', '1', 0, 2)).toMatchObject({
        members: 2,
        toAdd: 1,
        toRemove: 3,
      });
    });

    it('counts a first run as all joiners and pages them in id order', async () => {
      const run = await snapshot('1', ['c', 'a', 'b', 'a']);
      expect(run).toMatchObject({ phase: 'snapshotted', members: 3, toAdd: 3, toRemove: 0 });
      expect(await allPages('1', undefined, 2)).toEqual([['a', 'b'], ['c']]);
    });

    it('orders ids by their bytes, whatever the database collation', async () => {
      const ids = ['b', 'B', 'a', '_x', 'Z10', 'Z9', 'é', 'e', '10', '9', 'a-b', 'ab', '😀', '\uffef'];
      await snapshot('1', ids);
      const bytewise = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect((await allPages('1', undefined, 3)).flat()).toEqual(bytewise);
    });

    it('diffs joiners and leavers against the baseline with keyset pages', async () => {
      await snapshot('1', ['a', 'b', 'c', 'd']);
      await store.cohorts.completeCohortRun('sync', '1');
      const run = await snapshot('2', ['b', 'c', 'e', 'f', 'g'], '1');
      expect(run).toMatchObject({ members: 5, toAdd: 3, toRemove: 2 });
      expect(await allPages('2', '1', 2)).toEqual([['e', 'f'], ['g']]);
      expect(await allPages('1', '2', 10)).toEqual([['a', 'd']]);
    });

    it('takes large member lists in one call and diffs them', async () => {
      const id = (i: number) => `m${String(i).padStart(6, '0')}`;
      await snapshot(
        '1',
        Array.from({ length: 30_000 }, (_, i) => id(i)),
      );
      await store.cohorts.completeCohortRun('sync', '1');
      // Shifted by 5,000: 5,000 leave at the start, 5,000 join at the end; duplicates are ignored.
      const next = Array.from({ length: 30_000 }, (_, i) => id(i + 5_000));
      const run = await snapshot('2', [...next, ...next.slice(0, 1_000)], '1');
      expect(run).toMatchObject({ members: 30_000, toAdd: 5_000, toRemove: 5_000 });
      const joiners = (await allPages('2', '1', 2_000)).flat();
      expect([joiners.length, joiners[0], joiners.at(-1)]).toEqual([5_000, id(30_000), id(34_999)]);
      const leavers = (await allPages('1', '2', 2_000)).flat();
      expect([leavers.length, leavers[0], leavers.at(-1)]).toEqual([5_000, id(0), id(4_999)]);
    });

    it('keeps the old baseline until the new run completes, then drops the old members', async () => {
      await snapshot('1', ['a']);
      await store.cohorts.completeCohortRun('sync', '1');
      await snapshot('2', ['b'], '1');
      await store.cohorts.saveCohortProgress('sync', '2', { phase: 'add', after: 'b', added: 1, removed: 0 });
      expect((await store.cohorts.lastAppliedCohortRun('sync'))?.runId).toBe('1');
      expect(await store.cohorts.getCohortRun('sync', '2')).toMatchObject({
        phase: 'applying',
        progress: { phase: 'add', after: 'b', added: 1, removed: 0 },
      });
      await store.cohorts.completeCohortRun('sync', '2');
      expect(await store.cohorts.lastAppliedCohortRun('sync')).toMatchObject({
        runId: '2',
        phase: 'applied',
        finishedAt: 1_000,
      });
      expect(await store.cohorts.getCohortRun('sync', '1')).toMatchObject({ phase: 'superseded' });
      expect(await store.cohorts.getCohortRun('sync', 'nope')).toBeUndefined();
      expect(await store.cohorts.cohortDiffPage('sync', '1', undefined, undefined, 10)).toEqual([]);
    });

    it('restarting a snapshot empties what the failed attempt had read', async () => {
      await store.cohorts.beginCohortRun('sync', '1');
      await store.cohorts.addCohortMembers('sync', '1', ['stale-1', 'stale-2']);
      const run = await snapshot('1', ['fresh']);
      expect(run.members).toBe(1);
      expect(await allPages('1', undefined, 10)).toEqual([['fresh']]);
    });

    it('drops people deleted in the same workspace since a time from a baseline, as the id type reads them', async () => {
      let now = 1_000;
      store = await open({ now: () => now });
      await snapshot('1', ['u1', 'u2', 'Ann@Example.com', 'cio_abc', 'def', 'keep']);
      await store.cohorts.completeCohortRun('sync', '1');
      const forget = (destinationId: string, keys: string[]) =>
        store.forgetPeople({
          syncId: 'stream',
          snapshotScopes: ['stream'],
          destinationId,
          changes: keys.map((userKey) => ({ userKey, change: 'delete' as const })),
        });
      await forget('cio', ['id:u2']); // at 1_000: before `since` below
      now = 2_000;
      await forget('cio', ['id:u1', 'email:ann@example.com', 'cio_id:abc', 'cio_id:def']);
      await forget('other-workspace', ['id:keep']);

      const drop = (idType: 'id' | 'email' | 'cio_id') =>
        store.cohorts.dropForgottenMembers('sync', '1', { destinationId: 'cio', idType, since: 1_500 });
      expect(await drop('id')).toBe(1);
      expect(await drop('email')).toBe(1);
      expect(await drop('cio_id')).toBe(2);
      expect(await drop('id')).toBe(0);
      expect((await allPages('1', undefined, 10)).flat()).toEqual(['keep', 'u2']);
      expect((await store.cohorts.getCohortRun('sync', '1'))?.members).toBe(2);
      expect(
        await store.cohorts.dropForgottenMembers('sync', '1', {
          destinationId: 'cio',
          idType: 'id',
          since: 0,
        }),
      ).toBe(1);
    });

    it('keeps cohorts of different syncs apart', async () => {
      await snapshot('1', ['a']);
      await store.cohorts.beginCohortRun('other', '1');
      await store.cohorts.addCohortMembers('other', '1', ['z']);
      expect(await store.cohorts.cohortDiffPage('sync', '1', undefined, undefined, 10)).toEqual(['a']);
      expect(await store.cohorts.cohortDiffPage('other', '1', undefined, undefined, 10)).toEqual(['z']);
    });
  });
}
