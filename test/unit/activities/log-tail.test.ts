import { describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../../../src/events/record.ts';
import { openSqliteStore } from '../../../src/store/sqlite.ts';
import type { Store } from '../../../src/store/store.ts';
import { LogTail } from '../../../src/activities/log-tail.ts';

const rec = (n: number): CanonicalRecord => ({
  kind: 'track',
  origin: 'segment',
  event_type: `E${n}`,
  time: n,
  event_properties: {},
  user_properties: {},
  context: {},
});

/** The store, with a count of its readAfter calls (the reads the tail makes of it). */
function countingReads(store: Store): { counting: Store; reads: () => number } {
  let reads = 0;
  const counting = Object.assign(Object.create(Object.getPrototypeOf(store)), store, {
    readAfter: (...args: Parameters<Store['readAfter']>) => {
      reads++;
      return store.readAfter(...args);
    },
  }) as Store;
  return { counting, reads: () => reads };
}

describe('LogTail', () => {
  it('answers as the store does, reading each new record once for every reader', async () => {
    const store = await openSqliteStore(':memory:');
    const { counting, reads } = countingReads(store);
    const tail = new LogTail(counting, { capacity: 5, freshMs: 60_000 });
    await store.append('web', [rec(1), rec(2), rec(3)]);
    await store.append('app', [rec(100)]);
    const seqsOf = async (after: number, limit = 10) =>
      (await tail.readAfter('web', after, limit)).map((l) => l.seq);

    expect(await seqsOf(0)).toEqual([1, 2, 3]);
    expect(await seqsOf(1, 1)).toEqual([2]);
    expect(await seqsOf(3)).toEqual([]);
    const before = reads();
    await store.append('web', [rec(5), rec(6)]);
    // Several lanes at the head ask at once: one store read serves them all.
    const seen = await Promise.all([seqsOf(3), seqsOf(3), seqsOf(4)]);
    expect(seen).toEqual([
      [5, 6],
      [5, 6],
      [5, 6],
    ]);
    expect(reads() - before).toBe(1);
    // The window keeps the newest 5; a reader behind it goes to the store.
    await store.append('web', [rec(7), rec(8)]);
    expect(await seqsOf(6)).toEqual([7, 8]);
    expect(await seqsOf(0)).toEqual([1, 2, 3, 5, 6, 7, 8]);
    expect((await tail.readAfter('app', 0, 10)).map((l) => l.record.event_type)).toEqual(['E100']);
    await store.close();
  });
});

describe('LogTail, a read that reaches the window’s end', () => {
  it('finds what the store took since the window was read, unless it was read a moment ago', async () => {
    const store = await openSqliteStore(':memory:');
    const { counting, reads } = countingReads(store);
    const tail = new LogTail(counting, { freshMs: 200 });
    const seqsOf = async (after: number) => (await tail.readAfter('web', after, 10)).map((l) => l.seq);
    await store.append('web', [rec(1), rec(2)]);
    expect(await seqsOf(0)).toEqual([1, 2]);
    // A lane reads ahead while its request is on the wire; new records come meanwhile.
    await store.append('web', [rec(3)]);
    // A moment later the window counts as current: one store read serves readers close together.
    expect(await seqsOf(0)).toEqual([1, 2]);
    expect(reads()).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    // Back from its request, the lane reads the same page again and gets what arrived too.
    expect(await seqsOf(0)).toEqual([1, 2, 3]);
    expect(reads()).toBe(2);
    // A read short of the end stays in memory.
    await store.append('web', [rec(4)]);
    await new Promise((r) => setTimeout(r, 250));
    expect((await tail.readAfter('web', 0, 2)).map((l) => l.seq)).toEqual([1, 2]);
    expect(reads()).toBe(2);
    await store.close();
  });
});

describe('LogTail, idle sources', () => {
  it('gives back the records of a source nobody has read for a while, and reads the store when asked again', async () => {
    const store = await openSqliteStore(':memory:');
    const { counting, reads } = countingReads(store);
    const tail = new LogTail(counting, { capacity: 100, idleMs: 30, freshMs: 60_000 });
    await store.append('web', [rec(1), rec(2)]);
    await store.append('app', [rec(3)]);
    expect((await tail.readAfter('web', 0, 10)).map((l) => l.seq)).toEqual([1, 2]);
    await tail.readAfter('web', 0, 10);
    expect(reads()).toBe(1);
    await new Promise((r) => setTimeout(r, 40));
    // Another source's reader sweeps: web has been idle for longer than 30 ms.
    await tail.readAfter('app', 0, 10);
    expect(reads()).toBe(2);
    expect((await tail.readAfter('web', 0, 10)).map((l) => l.seq)).toEqual([1, 2]);
    expect(reads()).toBe(3);
    await store.close();
  });
});

describe('LogTail.waitFor', () => {
  it('wakes a reader only for a record it wants, and reports false when none came in time', async () => {
    const store = await openSqliteStore(':memory:', { pollIntervalMs: 5 });
    const tail = new LogTail(store);
    await store.append('web', [rec(1)]);
    await tail.readAfter('web', 0, 10);
    const wantsEven = (l: { record: CanonicalRecord }) => l.record.time % 2 === 0;
    const waiting = tail.waitFor('web', 1, wantsEven, 2_000);
    let woke = false;
    void waiting.then(() => (woke = true));
    await store.append('web', [rec(3)]);
    await new Promise((r) => setTimeout(r, 100));
    expect(woke).toBe(false);
    await store.append('web', [rec(4)]);
    expect(await waiting).toBe(true);
    // Seqs 1, 2, 3 hold times 1, 3, 4: after seq 2 there is the even one.
    expect(await tail.waitFor('web', 2, wantsEven, 0)).toBe(true);
    expect(await tail.waitFor('web', 2, () => false, 50)).toBe(false);
    await store.close();
  });
});
