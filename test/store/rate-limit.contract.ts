import { describe, expect, it } from 'vitest';

import { type StoreContract } from './harness.ts';

/** The Store contract for the shared rate limit. */
export function describeRateLimitContract(contract: StoreContract): void {
  const { backend, open, inChildProcess } = contract;
  describe('reserveRateSlot', () => {
    it('spaces reservations 1000/perSecond ms apart', async () => {
      const store = await open({ now: () => 1_000_000 });
      const waits: number[] = [];
      for (let i = 0; i < 20; i++) waits.push(await store.reserveRateSlot('cio:track', 100));
      expect(waits).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
      // Another key has its own budget.
      expect(await store.reserveRateSlot('cio:app', 10)).toBe(0);
      expect(await store.reserveRateSlot('cio:app', 10)).toBe(100);
    });

    it('spaces reservations with the real clock', async () => {
      const store = await open();
      const waits: number[] = [];
      for (let i = 0; i < 20; i++) waits.push(await store.reserveRateSlot('k', 100));
      expect(waits[0]).toBe(0);
      for (let i = 1; i < 20; i++) {
        expect(waits[i]).toBeLessThanOrEqual(i * 10);
        expect(waits[i]).toBeGreaterThan(i * 10 - 50);
      }
      expect(waits[19]).toBeGreaterThan(150);
    });

    it('holds across two connections', async () => {
      const now = (): number => 1_000_000;
      const a = await open({ now });
      const b = await open({ now });
      const waits: number[] = [];
      for (let i = 0; i < 10; i++) {
        waits.push(await a.reserveRateSlot('shared', 100));
        waits.push(await b.reserveRateSlot('shared', 100));
      }
      expect(waits).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
      // Reservations racing each other still hand out each slot once.
      const raced = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).reserveRateSlot('raced', 100)),
      );
      expect(raced.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i * 10));
    });

    it('holds across processes', async () => {
      await (await backend.open(contract.location)).close();
      // A pinned clock makes every slot's wait exact, so the two processes together must hand out
      // each slot once, whatever the interleaving.
      const body = `
        const store = await openStore(args[0], { now: () => 1000000 });
        const waits = [];
        for (let i = 0; i < 40; i++) waits.push(await store.reserveRateSlot('shared', 200));
        await store.close();
        return waits;
      `;
      const [p, q] = await Promise.all([
        inChildProcess<number[]>(body, contract.location),
        inChildProcess<number[]>(body, contract.location),
      ]);
      expect([...p, ...q].sort((x, y) => x - y)).toEqual(Array.from({ length: 80 }, (_, i) => i * 5));
    });

    it('rejects a non-positive rate', async () => {
      const store = await open();
      await expect(store.reserveRateSlot('k', 0)).rejects.toThrow(RangeError);
      await expect(store.reserveRateSlot('k', Number.NaN)).rejects.toThrow(RangeError);
    });
  });
}
