import { describe, expect, it } from 'vitest';

import { rec, type StoreContract } from './harness.ts';

/** The Store contract for durable progress: lane cursors, settlements, sequences. */
export function describeProgressContract(contract: StoreContract): void {
  const { open } = contract;
  describe('durable progress', () => {
    it('settles a delivery in one step, only from the cursor its lane read', async () => {
      const store = await open();
      expect(await store.getStreamCursor('s1')).toBeUndefined();
      expect(await store.prepareLanes('s1', 'web', 1, 0)).toEqual([0]);
      const snapshot = { attributes: { plan: 'pro' }, state: { plan: 'pro' }, seq: 3 };
      const ok = await store.settleDelivery({
        syncId: 's1',
        cursor: { lane: 0, from: 0, to: 5 },
        deadLetters: [{ syncId: 's1', seq: 4, record: rec(4), reason: 'unprocessable' }],
        userSnapshots: { scope: 's1', entries: [{ userKey: 'id:u', snapshot }] },
      });
      expect(ok).toBe(true);
      expect(await store.getStreamCursor('s1')).toBe(5);
      expect((await store.getUserSnapshots('s1', ['id:u'])).get('id:u')).toEqual(snapshot);

      // A second settlement of the same delivery (a retry after a crash) writes nothing.
      const again = await store.settleDelivery({
        syncId: 's1',
        cursor: { lane: 0, from: 0, to: 5 },
        deadLetters: [{ syncId: 's1', seq: 4, record: rec(4), reason: 'other' }],
        userSnapshots: { scope: 's1', entries: [{ userKey: 'id:v', snapshot }] },
      });
      expect(again).toBe(false);
      expect((await store.listDeadLetters('s1')).map((l) => l.reason)).toEqual(['unprocessable']);
      expect((await store.getUserSnapshots('s1', ['id:v'])).size).toBe(0);
      expect(await store.getStreamCursor('s1')).toBe(5);
      // A lane that was never prepared cannot be settled.
      expect(await store.settleDelivery({ syncId: 's2', cursor: { lane: 0, from: 0, to: 1 } })).toBe(false);
      expect(await store.getStreamCursor('s2')).toBeUndefined();
    });

    it('keeps one cursor per lane; a new lane count starts every lane at the lowest old cursor', async () => {
      const store = await open();
      expect(await store.prepareLanes('s1', 'web', 3, 10)).toEqual([10, 10, 10]);
      expect(await store.prepareLanes('s1', 'web', 3, 99)).toEqual([10, 10, 10]);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 1, from: 10, to: 40 } })).toBe(true);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 2, from: 10, to: 25 } })).toBe(true);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 2, from: 10, to: 30 } })).toBe(false);
      expect(await store.getLaneCursors('s1')).toEqual({ lanes: 3, cursors: [10, 40, 25] });
      expect(await store.getStreamCursor('s1')).toBe(10);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 0, from: 10, to: 20 } })).toBe(true);

      // Several lanes re-laying out at once agree on one layout.
      const laid = await Promise.all([1, 2, 3].map(() => store.prepareLanes('s1', 'web', 2, 0)));
      expect(laid).toEqual([
        [20, 20],
        [20, 20],
        [20, 20],
      ]);
      expect(await store.getLaneCursors('s1')).toEqual({ lanes: 2, cursors: [20, 20] });
    });

    it("lists every stream sync's lowest cursor with its source", async () => {
      const store = await open();
      expect(await store.streamCursors()).toEqual([]);
      await store.prepareLanes('a', 'web', 2, 0);
      await store.settleDelivery({ syncId: 'a', cursor: { lane: 1, from: 0, to: 7 } });
      await store.prepareLanes('b', 'app', 1, 3);
      const positions = await store.streamCursors();
      expect([...positions].sort((x, y) => x.syncId.localeCompare(y.syncId))).toEqual([
        { syncId: 'a', sourceId: 'web', cursor: 0 },
        { syncId: 'b', sourceId: 'app', cursor: 3 },
      ]);
    });

    it('sets every lane outright and hands out sequence numbers that never repeat', async () => {
      const store = await open();
      expect(await store.setStreamCursor('s1', 'web', 7)).toBeUndefined();
      expect(await store.getLaneCursors('s1')).toEqual({ lanes: 1, cursors: [7] });
      await store.prepareLanes('s1', 'web', 2, 0);
      await store.settleDelivery({ syncId: 's1', cursor: { lane: 1, from: 7, to: 12 } });
      expect(await store.setStreamCursor('s1', 'web', 2)).toBe(7);
      expect(await store.getLaneCursors('s1')).toEqual({ lanes: 2, cursors: [2, 2] });
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 0, from: 7, to: 9 } })).toBe(false);
      expect(await store.settleDelivery({ syncId: 's1', cursor: { lane: 0, from: 2, to: 9 } })).toBe(true);
      expect(await store.getStreamCursor('s1')).toBe(2);

      expect([
        await store.nextSequence('a'),
        await store.nextSequence('a'),
        await store.nextSequence('b'),
      ]).toEqual([1, 2, 1]);
      const reopened = await open();
      expect(await reopened.nextSequence('a')).toBe(3);
      expect(await reopened.getLaneCursors('s1')).toEqual({ lanes: 2, cursors: [9, 2] });
    });
  });
}
