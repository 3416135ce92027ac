import { describe, expect, it } from 'vitest';

import { rec, type StoreContract } from './harness.ts';

/** The Store contract for dead letters. */
export function describeDeadLetterContract(contract: StoreContract): void {
  const { open } = contract;
  describe('dead letters', () => {
    it('adds, lists, counts and marks redriven', async () => {
      let clock = 5_000;
      const store = await open({ now: () => clock });
      await store.addDeadLetters([
        { syncId: 's1', seq: 10, record: rec(10), reason: 'invalid_attribute', detail: 'email too long' },
        { syncId: 's1', seq: 11, record: rec(11), reason: 'too_large' },
        { syncId: 's2', seq: 12, record: rec(12), reason: 'other' },
      ]);
      await store.addDeadLetters([]);

      const letters = await store.listDeadLetters('s1');
      expect(letters).toHaveLength(2);
      expect(letters[0]).toEqual({
        id: letters[0]!.id,
        syncId: 's1',
        seq: 10,
        record: rec(10),
        reason: 'invalid_attribute',
        detail: 'email too long',
        createdAt: 5_000,
      });
      expect(letters[1]).not.toHaveProperty('detail');
      expect(letters[1]).not.toHaveProperty('redrivenAt');
      expect(await store.countDeadLetters('s1')).toBe(2);
      expect(await store.countDeadLetters('s2')).toBe(1);
      expect((await store.listDeadLetters('s1', { limit: 1 })).map((l) => l.seq)).toEqual([10]);

      clock = 6_000;
      await store.markRedriven([letters[0]!.id]);
      clock = 7_000;
      await store.markRedriven([letters[0]!.id]);
      await store.markRedriven([]);

      expect((await store.listDeadLetters('s1')).map((l) => l.seq)).toEqual([11]);
      expect(await store.countDeadLetters('s1')).toBe(1);
      const everything = await store.listDeadLetters('s1', { includeRedriven: true });
      expect(everything.map((l) => [l.seq, l.redrivenAt])).toEqual([
        [10, 6_000],
        [11, undefined],
      ]);
      expect(await store.countDeadLetters('s2')).toBe(1);
    });

    it('keeps one open dead letter per record, reason and detail; a redriven one can fail again', async () => {
      const store = await open();
      const letter = {
        syncId: 's1',
        seq: 10,
        record: rec(10),
        reason: 'customerio_rejected_item',
        detail: 'x',
      };
      await store.addDeadLetters([letter, { ...letter }]);
      await store.addDeadLetters([letter, { ...letter, detail: 'y' }, { ...letter, detail: undefined }]);
      const open1 = await store.listDeadLetters('s1');
      expect(open1.map((l) => l.detail)).toEqual(['x', 'y', undefined]);
      await store.settleDelivery({ syncId: 's1', redriven: [open1[0]!.id], deadLetters: [letter] });
      const all = await store.listDeadLetters('s1', { includeRedriven: true });
      expect(all).toHaveLength(4);
      expect(all.filter((l) => l.redrivenAt === undefined).map((l) => l.detail)).toEqual([
        'y',
        undefined,
        'x',
      ]);
    });
  });
}
