import { describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../../src/events/record.ts';
import { rec, type StoreContract } from './harness.ts';

/** A record carrying the source's dedupe key `id` (Amplitude insert_id, Segment messageId). */
function keyed(id: string, n = 1): CanonicalRecord {
  return rec(n, { insert_id: id });
}

/** The Store contract for appendNew: appends that leave out what the source's log already holds. */
export function describeAppendNewContract(contract: StoreContract): void {
  const { open } = contract;
  describe('appendNew', () => {
    it('leaves out records whose insert_id the log holds', async () => {
      const store = await open();
      const [first] = (await store.appendNew('web', [keyed('a', 1)])).seqs;
      const fresh = await store.appendNew('web', [keyed('b', 2), keyed('c', 3)]);
      expect(fresh.skipped).toEqual([]);
      expect(fresh.seqs).toHaveLength(2);
      expect(fresh.seqs[0]).toBeGreaterThan(first!);

      const again = await store.appendNew('web', [
        keyed('a', 4),
        keyed('d', 5),
        keyed('b', 6),
        keyed('c', 7),
      ]);
      expect(again.skipped).toEqual([0, 2, 3]);
      expect(again.seqs).toHaveLength(1);
      expect(again.seqs[0]).toBeGreaterThan(fresh.seqs[1]!);
      const logged = await store.readAfter('web', 0, 10);
      expect(logged.map((r) => [r.seq, r.record.insert_id])).toEqual([
        [first, 'a'],
        [fresh.seqs[0], 'b'],
        [fresh.seqs[1], 'c'],
        [again.seqs[0], 'd'],
      ]);
      expect(logged[3]!.record).toEqual(keyed('d', 5));

      // A batch left out whole appends nothing; an empty one neither.
      expect(await store.appendNew('web', [keyed('d', 8), keyed('a', 9)])).toEqual({
        seqs: [],
        skipped: [0, 1],
      });
      expect(await store.appendNew('web', [])).toEqual({ seqs: [], skipped: [] });
      expect(await store.headSeq('web')).toBe(again.seqs[0]);
    });

    it('leaves out repeats within one call and always appends records without an insert_id', async () => {
      const store = await open();
      const plain = rec(1);
      const { seqs, skipped } = await store.appendNew('web', [
        keyed('x', 1),
        plain,
        keyed('x', 2),
        plain,
        rec(3, { insert_id: '' }),
        keyed('y', 4),
        keyed('x', 5),
        rec(6, { insert_id: '' }),
      ]);
      expect(skipped).toEqual([2, 6]);
      expect(seqs).toHaveLength(6);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      // The first of the repeats is the one kept.
      const logged = await store.readAfter('web', 0, 10);
      expect(logged.map((r) => r.seq)).toEqual(seqs);
      expect(logged.map((r) => r.record.event_properties.n)).toEqual([1, 1, 1, 3, 4, 6]);

      const later = await store.appendNew('web', [plain, plain, rec(7, { insert_id: '' })]);
      expect(later).toMatchObject({ skipped: [] });
      expect(later.seqs).toHaveLength(3);
    });

    it('keeps sources apart: one insert_id is new to each source', async () => {
      const store = await open();
      expect((await store.appendNew('web', [keyed('same')])).seqs).toHaveLength(1);
      expect((await store.appendNew('app', [keyed('same')])).seqs).toHaveLength(1);
      expect((await store.appendNew('app', [keyed('same')])).skipped).toEqual([0]);
      expect(await store.countAfter('web', 0)).toBe(1);
      expect(await store.countAfter('app', 0)).toBe(1);
    });

    it('leaves append as it was: it appends every record, unkeyed, and appendNew still knows its own once', async () => {
      const store = await open();
      await store.appendNew('web', [keyed('dup')]);
      expect(await store.append('web', [keyed('dup'), keyed('dup'), keyed('plain')])).toHaveLength(3);
      expect(await store.countAfter('web', 0)).toBe(4);
      expect(await store.appendNew('web', [keyed('dup'), keyed('plain')])).toMatchObject({ skipped: [0] });
      expect(await store.countAfter('web', 0)).toBe(5);
    });

    it('forgets the keys of records pruneLog deleted', async () => {
      let now = 1_000;
      const store = await open({ now: () => now });
      const old = await store.appendNew('web', [keyed('old'), keyed('kept')]);
      await store.pruneLog('web', { throughSeq: old.seqs[0]!, receivedBefore: 2_000, limit: 10 });
      now = 3_000;
      // Retention deleted 'old': the log no longer knows it and takes it again.
      const after = await store.appendNew('web', [keyed('old'), keyed('kept')]);
      expect(after.skipped).toEqual([1]);
      expect((await store.readAfter('web', 0, 10)).map((r) => r.record.insert_id)).toEqual(['kept', 'old']);
    });

    it('appends an insert_id once when calls on several connections race with it', async () => {
      const stores = await Promise.all(Array.from({ length: 4 }, () => open()));
      const ids = (from: number, to: number): string[] =>
        Array.from({ length: to - from }, (_, i) => `id-${from + i}`);
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, call) => {
          // Overlapping windows of ids, some also repeated within the call, and one keyless record.
          const window = ids(call * 5, call * 5 + 20);
          const records = [...window, window[0]!].map((id) => keyed(id, call));
          return stores[call % stores.length]!.appendNew('web', [...records, rec(call)]);
        }),
      );
      const logged = await stores[0]!.readAfter('web', 0, 10_000);
      const keys = logged.map((r) => r.record.insert_id).filter((id) => id !== undefined);
      expect(keys).toHaveLength(new Set(keys).size);
      expect(new Set(keys)).toEqual(new Set(ids(0, 23 * 5 + 20)));
      expect(logged).toHaveLength(keys.length + 24);
      // Every record is either appended or skipped, and the seqs returned are the log's.
      expect(results.reduce((sum, r) => sum + r.seqs.length + r.skipped.length, 0)).toBe(24 * 22);
      expect(results.flatMap((r) => r.seqs).sort((a, b) => a - b)).toEqual(logged.map((r) => r.seq));
    });

    it('never lets a reader see a seq before a smaller one of the same source', async () => {
      // As for append (see the event log's test): a reader following the log the way a sync does
      // must never pass a seq that commits later. Writers mix appendNew (some of it skipped) and append.
      const writers = await Promise.all(Array.from({ length: 4 }, () => open()));
      const reader = await open();
      const seen = new Set<number>();
      let cursor = 0;
      let writing = true;
      const following = (async () => {
        while (writing) {
          for (const row of await reader.readAfter('web', cursor, 100_000)) {
            seen.add(row.seq);
            cursor = row.seq;
          }
        }
      })();
      let appended = 0;
      await Promise.all(
        writers.map(async (writer, w) => {
          for (let i = 0; i < 40; i++) {
            const shared = Array.from({ length: 1 + (i % 5) }, (_, k) => keyed(`${i}-${k}`, i));
            const [fresh, own] = await Promise.all([
              writer.appendNew('web', [...shared, rec(i, { insert_id: `${w}-${i}` })]),
              writer.append('web', [rec(i)]),
            ]);
            appended += fresh.seqs.length + own.length;
          }
        }),
      );
      writing = false;
      await following;
      const all = await reader.readAfter('web', 0, 100_000);
      const skipped = all.filter((row) => row.seq <= cursor && !seen.has(row.seq)).map((row) => row.seq);
      expect({ skipped, total: all.length }).toEqual({ skipped: [], total: appended });
    });
  });
}
