import { describe, expect, it } from 'vitest';

import { type StoreContract } from './harness.ts';

/** The Store contract for user snapshots, deletions and suppressions. */
export function describeUserContract(contract: StoreContract): void {
  const { open } = contract;
  describe('user snapshots', () => {
    const snap = (seq: number, attributes: Record<string, unknown>, state = attributes) => ({
      attributes,
      state,
      seq,
    });

    it('gets only the users asked for, per sync; absent users are absent from the map', async () => {
      const store = await open();
      expect(await store.getUserSnapshots('sync-a', [])).toEqual(new Map());
      await store.putUserSnapshots('sync-a', [
        { userKey: 'id:u1', snapshot: snap(3, { plan: 'pro', tags: ['a', 1, null], nested: { x: true } }) },
        { userKey: 'email:ann@example.com', snapshot: snap(4, { seats: 3 }, { seats: 3, plan: 'team' }) },
      ]);
      await store.putUserSnapshots('sync-b', [{ userKey: 'id:u1', snapshot: snap(9, { plan: 'free' }) }]);

      expect(await store.getUserSnapshots('sync-a', ['id:u1', 'email:ann@example.com', 'id:nobody'])).toEqual(
        new Map([
          ['id:u1', snap(3, { plan: 'pro', tags: ['a', 1, null], nested: { x: true } })],
          ['email:ann@example.com', snap(4, { seats: 3 }, { seats: 3, plan: 'team' })],
        ]),
      );
      expect(await store.getUserSnapshots('sync-b', ['id:u1', 'id:u1'])).toEqual(
        new Map([['id:u1', snap(9, { plan: 'free' })]]),
      );
    });

    it('replaces a snapshot, but never with one of a lower seq', async () => {
      const store = await open();
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(5, { plan: 'pro' }) }]);
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(4, { plan: 'stale' }) }]);
      expect((await store.getUserSnapshots('s', ['id:u1'])).get('id:u1')).toEqual(snap(5, { plan: 'pro' }));
      // Same seq: a redrive settles what was delivered without applying anything new.
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(5, { plan: 'team' }) }]);
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(7, {}, { plan: 'x' }) }]);
      expect((await store.getUserSnapshots('s', ['id:u1'])).get('id:u1')).toEqual(snap(7, {}, { plan: 'x' }));
    });

    it('one call naming a user twice leaves what two calls in a row would', async () => {
      const store = await open();
      await store.putUserSnapshots('s', [
        { userKey: 'id:a', snapshot: snap(2, { v: 'a2' }) },
        { userKey: 'id:a', snapshot: snap(1, { v: 'a1' }) },
        { userKey: 'id:b', snapshot: snap(1, { v: 'b1' }) },
        { userKey: 'id:b', snapshot: snap(1, { v: 'b1-again' }) },
      ]);
      const got = await store.getUserSnapshots('s', ['id:a', 'id:b']);
      expect(got).toEqual(
        new Map([
          ['id:a', snap(2, { v: 'a2' })],
          ['id:b', snap(1, { v: 'b1-again' })],
        ]),
      );
    });

    it('reads many keys at once, and keeps __proto__ keys as data', async () => {
      const store = await open();
      const keys = Array.from({ length: 40_000 }, (_, i) => `id:user-${i}`);
      await store.putUserSnapshots(
        's',
        keys.map((userKey, i) => ({ userKey, snapshot: snap(i + 1, { n: i }) })),
      );
      const all = await store.getUserSnapshots('s', keys);
      expect({ size: all.size, last: all.get('id:user-39999') }).toEqual({
        size: 40_000,
        last: snap(40_000, { n: 39_999 }),
      });

      await store.putUserSnapshots('s', [
        {
          userKey: 'id:p',
          snapshot: snap(1, JSON.parse('{"__proto__":{"admin":true}}') as Record<string, unknown>),
        },
      ]);
      const got = (await store.getUserSnapshots('s', ['id:p'])).get('id:p')!;
      expect({
        keys: Object.keys(got.attributes),
        admin: (got.attributes as { admin?: unknown }).admin,
      }).toEqual({
        keys: ['__proto__'],
        admin: undefined,
      });
    });

    it('survives a reopen, and another connection sees it', async () => {
      const store = await open();
      await store.putUserSnapshots('s', [{ userKey: 'id:u1', snapshot: snap(2, { plan: 'pro' }) }]);
      await store.close();
      const reopened = await open();
      expect((await reopened.getUserSnapshots('s', ['id:u1'])).get('id:u1')).toEqual(
        snap(2, { plan: 'pro' }),
      );
    });
  });

  describe('deletions and suppressions', () => {
    const snap = (seq: number) => ({ attributes: { plan: 'pro' }, state: { plan: 'pro' }, seq });

    it("a delete drops the user's snapshots in every scope named, and only that user's", async () => {
      const store = await open();
      for (const scope of ['s', 's#dry-run', 'other']) {
        await store.putUserSnapshots(scope, [
          { userKey: 'id:u1', snapshot: snap(1) },
          { userKey: 'id:u2', snapshot: snap(1) },
        ]);
      }
      await store.forgetPeople({
        syncId: 's',
        snapshotScopes: ['s', 's#dry-run'],
        changes: [{ userKey: 'id:u1', change: 'delete' }],
      });
      expect([...(await store.getUserSnapshots('s', ['id:u1', 'id:u2'])).keys()]).toEqual(['id:u2']);
      expect([...(await store.getUserSnapshots('s#dry-run', ['id:u1', 'id:u2'])).keys()]).toEqual(['id:u2']);
      expect([...(await store.getUserSnapshots('other', ['id:u1', 'id:u2'])).keys()].sort()).toEqual([
        'id:u1',
        'id:u2',
      ]);
      expect(await store.getSuppressedUsers('s', ['id:u1'])).toEqual(new Set());
    });

    it('suppress drops the snapshot and marks the user suppressed per sync; unsuppress lifts it, in order', async () => {
      const store = await open();
      await store.putUserSnapshots('s', [{ userKey: 'email:ann@example.com', snapshot: snap(3) }]);
      await store.forgetPeople({
        syncId: 's',
        snapshotScopes: ['s'],
        changes: [
          { userKey: 'email:ann@example.com', change: 'suppress' },
          { userKey: 'id:u9', change: 'suppress' },
          { userKey: 'id:u9', change: 'unsuppress' },
        ],
      });
      expect(await store.getUserSnapshots('s', ['email:ann@example.com'])).toEqual(new Map());
      expect(await store.getSuppressedUsers('s', ['email:ann@example.com', 'id:u9', 'id:nobody'])).toEqual(
        new Set(['email:ann@example.com']),
      );
      expect(await store.getSuppressedUsers('other', ['email:ann@example.com'])).toEqual(new Set());
      // Suppressing twice is one suppression; one unsuppress lifts it.
      await store.forgetPeople({
        syncId: 's',
        snapshotScopes: ['s'],
        changes: [{ userKey: 'email:ann@example.com', change: 'suppress' }],
      });
      await store.forgetPeople({
        syncId: 's',
        snapshotScopes: ['s'],
        changes: [{ userKey: 'email:ann@example.com', change: 'unsuppress' }],
      });
      expect(await store.getSuppressedUsers('s', ['email:ann@example.com'])).toEqual(new Set());
      expect(await store.getSuppressedUsers('s', [])).toEqual(new Set());
    });
  });
}
