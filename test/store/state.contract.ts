import { describe, expect, it } from 'vitest';

import { type StoreContract } from './harness.ts';

/** The Store contract for key/value state. */
export function describeStateContract(contract: StoreContract): void {
  const { open } = contract;
  describe('state', () => {
    it('gets, sets if absent and sets', async () => {
      const store = await open();
      expect(await store.getState('segment:power-users')).toBeUndefined();
      expect(await store.setStateIfAbsent('segment:power-users', '17')).toBe('17');
      expect(await store.setStateIfAbsent('segment:power-users', '18')).toBe('17');
      expect(await store.getState('segment:power-users')).toBe('17');
      await store.setState('segment:power-users', '19');
      expect(await store.getState('segment:power-users')).toBe('19');

      const other = await open();
      expect(await other.setStateIfAbsent('segment:power-users', '20')).toBe('19');
    });

    it('setStateIfAbsent racing from two connections stores one value, and both get it', async () => {
      const a = await open();
      const b = await open();
      const got = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).setStateIfAbsent('race', `v${i}`)),
      );
      expect(new Set(got).size).toBe(1);
      expect(await a.getState('race')).toBe(got[0]);
    });
  });
}
