import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../../../src/events/record.ts';
import { openSqliteStore } from '../../../src/store/sqlite.ts';
import type { Store } from '../../../src/store/store.ts';
import { GroupCommit } from '../../../src/ingest/group-commit.ts';

const record = (insertId?: string): CanonicalRecord => ({
  kind: 'track',
  origin: 'amplitude',
  event_type: 'E',
  user_id: 'user-1',
  time: 1,
  event_properties: {},
  user_properties: {},
  context: {},
  ...(insertId !== undefined && { insert_id: insertId }),
});

/** A store that counts its transactions. */
function counting(store: Store): { store: Store; transactions: () => number } {
  let transactions = 0;
  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'append' || property === 'appendNew') {
        return (...args: unknown[]) => {
          transactions++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, transactions: () => transactions };
}

describe('GroupCommit', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cio-sync-group-'));
    store = await openSqliteStore(join(dir, 'store.db'));
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('commits the requests of one moment together, in arrival order', async () => {
    const { store: wrapped, transactions } = counting(store);
    const commits = new GroupCommit(wrapped);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        commits.append('web', [record(`a-${i}`), record(`b-${i}`)], false),
      ),
    );
    expect(results.every((r) => r.appended === 2 && r.duplicates === 0)).toBe(true);
    // All 50 were made in one turn of the event loop: one transaction.
    expect(transactions()).toBe(1);
    // One made later, while nothing is committing, commits at once in a transaction of its own.
    await commits.append('web', [record('late')], false);
    expect(transactions()).toBe(2);
    const logged = await store.readAfter('web', 0, 1000);
    expect(logged.map((r) => r.record.insert_id)).toEqual([
      ...Array.from({ length: 50 }, (_, i) => [`a-${i}`, `b-${i}`]).flat(),
      'late',
    ]);
  });

  it('tells each request of a deduplicating group which of its records were there', async () => {
    const commits = new GroupCommit(store);
    await commits.append('web', [record('seen')], true);
    const [first, second, third] = await Promise.all([
      commits.append('web', [record('x')], true),
      commits.append('web', [record('seen'), record('y'), record('x')], true),
      commits.append('web', [record(), record('z')], true),
    ]);
    expect(first).toEqual({ appended: 1, duplicates: 0 });
    expect(second).toEqual({ appended: 1, duplicates: 2 });
    expect(third).toEqual({ appended: 2, duplicates: 0 });
    expect(await store.countAfter('web', 0)).toBe(5);
  });

  it('fails every request of a group whose transaction fails, and goes on with the next', async () => {
    let fail = true;
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property === 'append') {
          return async (...args: [string, CanonicalRecord[]]) => {
            if (fail) {
              fail = false;
              throw new Error('disk I/O error');
            }
            return target.append(...args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const commits = new GroupCommit(flaky);
    const outcomes = await Promise.allSettled([
      commits.append('web', [record('1')], false),
      commits.append('web', [record('2')], false),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    await commits.append('web', [record('3')], false);
    expect((await store.readAfter('web', 0, 10)).map((r) => r.record.insert_id)).toEqual(['3']);
  });

  it('splits a group over its record cap', async () => {
    const { store: wrapped, transactions } = counting(store);
    const commits = new GroupCommit(wrapped, 10);
    await Promise.all(
      Array.from({ length: 7 }, (_, i) =>
        commits.append('web', [record(`${i}a`), record(`${i}b`), record(`${i}c`)], false),
      ),
    );
    // 7 × 3 records in groups of at most 10: 3 + 3 + 3, 3 + 3 + 3, 3.
    expect(transactions()).toBe(3);
    expect(await store.countAfter('web', 0)).toBe(21);
  });
});
