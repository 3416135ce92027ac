import { describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../events/record.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { LogTail } from './log-tail.ts';

const rec = (n: number): CanonicalRecord => ({
  kind: 'track',
  origin: 'segment',
  event_type: `E${n}`,
  time: n,
  event_properties: {},
  user_properties: {},
  context: {},
});

describe('LogTail', () => {
  it('answers as the store does, reading each new record once for every reader', async () => {
    const store = await openSqliteStore(':memory:');
    let reads = 0;
    const counting = Object.assign(Object.create(Object.getPrototypeOf(store)), store, {
      readAfter: (...args: Parameters<typeof store.readAfter>) => {
        reads++;
        return store.readAfter(...args);
      },
    }) as typeof store;
    const tail = new LogTail(counting, 5);
    await store.append('web', [rec(1), rec(2), rec(3)]);
    await store.append('app', [rec(100)]);
    const seqsOf = async (after: number, limit = 10) =>
      (await tail.readAfter('web', after, limit)).map((l) => l.seq);

    expect(await seqsOf(0)).toEqual([1, 2, 3]);
    expect(await seqsOf(1, 1)).toEqual([2]);
    expect(await seqsOf(3)).toEqual([]);
    const before = reads;
    await store.append('web', [rec(5), rec(6)]);
    // Several lanes at the head ask at once: one store read serves them all.
    const seen = await Promise.all([seqsOf(3), seqsOf(3), seqsOf(4)]);
    expect(seen).toEqual([
      [5, 6],
      [5, 6],
      [5, 6],
    ]);
    expect(reads - before).toBe(1);
    // The window keeps the newest 5; a reader behind it goes to the store.
    await store.append('web', [rec(7), rec(8)]);
    expect(await seqsOf(6)).toEqual([7, 8]);
    expect(await seqsOf(0)).toEqual([1, 2, 3, 5, 6, 7, 8]);
    expect((await tail.readAfter('app', 0, 10)).map((l) => l.record.event_type)).toEqual(['E100']);
    await store.close();
  });
});
