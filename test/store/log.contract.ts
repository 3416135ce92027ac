import { describe, expect, it } from 'vitest';

import { rec, type StoreContract } from './harness.ts';

/** The Store contract for event log, its seqs and waits. */
export function describeLogContract(contract: StoreContract): void {
  const { backend, open, inChildProcess } = contract;
  describe('event log', () => {
    it('reads back appended records in seq order, with limits, per source', async () => {
      const store = await open();
      const seqs = await store.append('web', [rec(1), rec(2), rec(3)]);
      await store.append('web', [rec(4), rec(5)]);

      const all = await store.readAfter('web', 0, 100);
      expect(all.map((r) => r.record.event_type)).toEqual([
        'Event 1',
        'Event 2',
        'Event 3',
        'Event 4',
        'Event 5',
      ]);
      expect(all[0]).toMatchObject({ seq: seqs[0], sourceId: 'web', record: rec(1) });
      expect(all[0]!.record.event_properties).toEqual({ n: 1, nested: { list: [1, 'two', null] } });

      const page = await store.readAfter('web', 0, 2);
      expect(page.map((r) => r.record.event_type)).toEqual(['Event 1', 'Event 2']);
      const next = await store.readAfter('web', page[1]!.seq, 2);
      expect(next.map((r) => r.record.event_type)).toEqual(['Event 3', 'Event 4']);
      expect(await store.readAfter('web', all[4]!.seq, 10)).toEqual([]);
      expect(await store.readAfter('web', 0, 0)).toEqual([]);
      expect(await store.append('web', [])).toEqual([]);
    });

    it('prunes the oldest entries up to a seq and a receive time, a chunk at a time, seqs never reused', async () => {
      let now = 1_000;
      const store = await open({ now: () => now });
      const early = await store.append('web', [rec(1), rec(2), rec(3)]);
      await store.append('other', [rec(9)]);
      now = 5_000;
      const late = await store.append('web', [rec(4)]);
      // Limited: the oldest first.
      expect(await store.pruneLog('web', { throughSeq: late[0]!, receivedBefore: 2_000, limit: 2 })).toBe(2);
      expect((await store.readAfter('web', 0, 10)).map((r) => r.seq)).toEqual([early[2]!, late[0]!]);
      // Received too recently: kept although passed.
      expect(await store.pruneLog('web', { throughSeq: late[0]!, receivedBefore: 2_000, limit: 10 })).toBe(1);
      expect((await store.readAfter('web', 0, 10)).map((r) => r.seq)).toEqual([late[0]!]);
      // Not passed: kept although old.
      expect(
        await store.pruneLog('web', { throughSeq: late[0]! - 1, receivedBefore: 9_000, limit: 10 }),
      ).toBe(0);
      // Other sources are untouched, and a new entry gets a seq above every pruned one.
      expect(await store.countAfter('other', 0)).toBe(1);
      expect(await store.pruneLog('web', { throughSeq: late[0]!, receivedBefore: 9_000, limit: 10 })).toBe(1);
      expect(await store.headSeq('web')).toBe(0);
      const [next] = await store.append('web', [rec(5)]);
      expect(next).toBeGreaterThan(late[0]!);
    });

    it('reads a record back exactly: key order, NUL, emoji, big and fractional numbers', async () => {
      const store = await open();
      const odd = rec(1, {
        event_properties: { z: 1, a: 2, nul: 'a\u0000b', emoji: '🎉 é', big: 2 ** 53 - 1, frac: 0.1 + 0.2 },
      });
      await store.append('web', [odd]);
      const [back] = await store.readAfter('web', 0, 1);
      expect(JSON.stringify(back!.record)).toBe(JSON.stringify(odd));
    });

    it('assigns increasing seqs and keeps sources apart', async () => {
      const store = await open();
      const a1 = await store.append('a', [rec(1), rec(2)]);
      const b1 = await store.append('b', [rec(3)]);
      const a2 = await store.append('a', [rec(4)]);
      const seqs = [...a1, ...b1, ...a2];
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(4);

      expect((await store.readAfter('a', 0, 10)).map((r) => r.seq)).toEqual([...a1, ...a2]);
      expect((await store.readAfter('b', 0, 10)).map((r) => r.seq)).toEqual(b1);
      expect((await store.readAfter('b', 0, 10)).every((r) => r.sourceId === 'b')).toBe(true);
      expect(await store.readAfter('nobody', 0, 10)).toEqual([]);
    });

    it('answers headSeq, countAfter and seqAtTime', async () => {
      let clock = 1_000;
      const store = await open({ now: () => clock });
      expect(await store.headSeq('web')).toBe(0);
      expect(await store.countAfter('web', 0)).toBe(0);
      expect(await store.seqAtTime('web', 0)).toBe(1);

      const early = await store.append('web', [rec(1), rec(2)]);
      clock = 2_000;
      await store.append('other', [rec(3)]);
      const late = await store.append('web', [rec(4)]);

      expect(await store.headSeq('web')).toBe(late[0]);
      expect(await store.countAfter('web', 0)).toBe(3);
      expect(await store.countAfter('web', early[0]!)).toBe(2);
      // At most `limit`: a bounded count.
      expect(await store.countAfter('web', 0, 2)).toBe(2);
      expect(await store.countAfter('web', 0, 5)).toBe(3);
      expect(await store.countAfter('web', early[0]!, 1)).toBe(1);
      expect(await store.countAfter('web', late[0]!)).toBe(0);

      const logged = await store.readAfter('web', 0, 10);
      expect(logged.map((r) => r.receivedAt)).toEqual([1_000, 1_000, 2_000]);
      expect(await store.seqAtTime('web', 0)).toBe(early[0]);
      expect(await store.seqAtTime('web', 1_000)).toBe(early[0]);
      expect(await store.seqAtTime('web', 1_001)).toBe(late[0]);
      expect(await store.seqAtTime('web', 2_000)).toBe(late[0]);
      expect(await store.seqAtTime('web', 2_001)).toBe(late[0]! + 1);
    });

    it('waitForRecords resolves true soon after another connection appends', async () => {
      const reader = await open();
      const writer = await open();
      const head = await reader.headSeq('web');

      const started = performance.now();
      const waiting = reader.waitForRecords('web', head, 5_000);
      setTimeout(() => void writer.append('web', [rec(1)]), 100);
      expect(await waiting).toBe(true);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(90);
      expect(elapsed).toBeLessThan(1_000);

      expect(await reader.waitForRecords('web', head, 5_000)).toBe(true);
    });

    it('waitForRecords resolves false on timeout and ignores other sources', async () => {
      const store = await open();
      const head = await store.headSeq('web');
      setTimeout(() => void store.append('other', [rec(1)]), 20);
      const started = performance.now();
      expect(await store.waitForRecords('web', head, 150)).toBe(false);
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
      expect(await store.waitForRecords('web', head, 0)).toBe(false);
      expect(await store.waitForRecords('other', 0, 0)).toBe(true);
    });

    it('waitForRecords resolves false promptly on abort', async () => {
      const store = await open();
      const controller = new AbortController();
      const started = performance.now();
      const waiting = store.waitForRecords('web', 0, 10_000, controller.signal);
      setTimeout(() => controller.abort(), 50);
      expect(await waiting).toBe(false);
      expect(performance.now() - started).toBeLessThan(1_000);

      await store.append('web', [rec(1)]);
      expect(await store.waitForRecords('web', 0, 10_000, controller.signal)).toBe(false);
    });

    it('waitForRecords resolves false when the store closes under it', async () => {
      const store = await backend.open(contract.location);
      const waiting = store.waitForRecords('web', 0, 10_000);
      await new Promise((r) => setTimeout(r, 50));
      const started = performance.now();
      await store.close();
      expect(await waiting).toBe(false);
      expect(performance.now() - started).toBeLessThan(1_000);
    });

    it('keeps data across close and reopen', async () => {
      const first = await backend.open(contract.location);
      const seqs = await first.append('web', [rec(1), rec(2)]);
      await first.setState('k', 'v');
      await first.addDeadLetters([{ syncId: 's', seq: seqs[0]!, record: rec(1), reason: 'bad' }]);
      await first.close();

      const second = await open();
      expect((await second.readAfter('web', 0, 10)).map((r) => r.record)).toEqual([rec(1), rec(2)]);
      expect(await second.getState('k')).toBe('v');
      expect(await second.countDeadLetters('s')).toBe(1);
      const more = await second.append('web', [rec(3)]);
      expect(more[0]).toBeGreaterThan(seqs[1]!);
    });

    it('loses nothing when two connections append interleaved', async () => {
      const a = await open();
      const b = await open();
      const writes: Promise<number[]>[] = [];
      for (let i = 0; i < 100; i++) {
        writes.push(a.append('web', [rec(i, { insert_id: `a-${i}` })]));
        writes.push(b.append('web', [rec(i, { insert_id: `b-${i}` }), rec(i, { insert_id: `b-${i}-2` })]));
      }
      const seqs = (await Promise.all(writes)).flat();
      expect(new Set(seqs).size).toBe(300);
      const logged = await a.readAfter('web', 0, 1_000);
      expect(logged).toHaveLength(300);
      expect(new Set(logged.map((r) => r.record.insert_id)).size).toBe(300);
    });

    it('never lets a reader see a seq before a smaller one of the same source (concurrent appends)', async () => {
      // Several connections append to one source at once while a reader follows the log the way a
      // sync does (`seq > cursor`). If a seq could commit before a smaller one, the reader would
      // move past the smaller one and only find it later: a record its sync would never deliver.
      const writers = await Promise.all(Array.from({ length: 6 }, () => open()));
      const reader = await open();
      const seen = new Set<number>();
      let cursor = 0;
      let writing = true;
      let appended = 0;
      const following = (async () => {
        while (writing) {
          for (const row of await reader.readAfter('web', cursor, 100_000)) {
            seen.add(row.seq);
            cursor = row.seq;
          }
        }
      })();
      await Promise.all(
        writers.map(async (writer, w) => {
          for (let i = 0; i < 60; i++) {
            // Another source's appends draw from the same sequence and must not interfere.
            const other = i % 5 === 0 ? writer.append('other', [rec(i)]) : Promise.resolve([]);
            const [batch, single] = await Promise.all([
              writer.append(
                'web',
                Array.from({ length: 1 + (i % 7) }, (_, k) => rec(i, { insert_id: `${w}-${i}-${k}` })),
              ),
              writer.append('web', [rec(i, { insert_id: `${w}-${i}-x` })]),
              other,
            ]);
            appended += batch.length + single.length;
          }
        }),
      );
      writing = false;
      await following;
      const all = await reader.readAfter('web', 0, 100_000);
      const skipped = all.filter((row) => row.seq <= cursor && !seen.has(row.seq)).map((row) => row.seq);
      expect({ skipped, total: all.length }).toEqual({ skipped: [], total: appended });
    });

    it('loses nothing when two processes append at the same time', async () => {
      // Created up front so both children find the schema; concurrent creation has its own test.
      await (await backend.open(contract.location)).close();
      const body = `
        const store = await openStore(args[0]);
        const seqs = [];
        for (let i = 0; i < 200; i++) {
          seqs.push(...(await store.append('web', [
            { kind: 'track', origin: 'segment', insert_id: args[1] + '-' + i + '-a', time: i, event_properties: {}, user_properties: {}, context: {} },
            { kind: 'track', origin: 'segment', insert_id: args[1] + '-' + i + '-b', time: i, event_properties: {}, user_properties: {}, context: {} },
          ])));
        }
        await store.close();
        return seqs;
      `;
      const [p, q] = await Promise.all([
        inChildProcess<number[]>(body, contract.location, 'p'),
        inChildProcess<number[]>(body, contract.location, 'q'),
      ]);
      expect(p).toHaveLength(400);
      expect(q).toHaveLength(400);
      expect(new Set([...p, ...q]).size).toBe(800);

      const store = await open();
      const logged = await store.readAfter('web', 0, 10_000);
      expect(logged.map((r) => r.seq)).toEqual([...p, ...q].sort((x, y) => x - y));
      expect(new Set(logged.map((r) => r.record.insert_id)).size).toBe(800);
      // Each batch's two records are adjacent: a transaction is never split by the other process.
      for (let i = 0; i < logged.length; i += 2) {
        expect(logged[i]!.record.insert_id!.replace(/-a$/, '')).toBe(
          logged[i + 1]!.record.insert_id!.replace(/-b$/, ''),
        );
      }
    });
  });
}
