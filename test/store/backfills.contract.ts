import { describe, expect, it } from 'vitest';

import { type StoreContract } from './harness.ts';

const HOUR = 3_600_000;
/** 2026-11-01T00:00Z. */
const DAY = Date.UTC(2026, 10, 1);

/** The Store contract for backfill progress: export hours appended completely, per source. */
export function describeBackfillContract(contract: StoreContract): void {
  const { open } = contract;
  describe('backfill hours', () => {
    it('marks hours done and reads a range back, both ends included, per source', async () => {
      let now = 5_000;
      const store = await open({ now: () => now });
      expect(await store.doneHours('amp', DAY, DAY + 23 * HOUR)).toEqual(new Map());

      await store.markHourDone('amp', DAY, { records: 120, appended: 100, runId: 'run-1' });
      await store.markHourDone('amp', DAY + 2 * HOUR, { records: 0, appended: 0, runId: 'run-1' });
      await store.markHourDone('amp', DAY + 24 * HOUR, { records: 7, appended: 7, runId: 'run-1' });
      await store.markHourDone('other', DAY + HOUR, { records: 1, appended: 1, runId: 'run-2' });

      const day = await store.doneHours('amp', DAY, DAY + 23 * HOUR);
      expect([...day.keys()]).toEqual([DAY, DAY + 2 * HOUR]);
      expect(day.get(DAY)).toEqual({ records: 120, appended: 100, runId: 'run-1', doneAt: 5_000 });
      expect(day.get(DAY + 2 * HOUR)).toEqual({ records: 0, appended: 0, runId: 'run-1', doneAt: 5_000 });
      expect([...(await store.doneHours('amp', DAY + 2 * HOUR, DAY + 24 * HOUR)).keys()]).toEqual([
        DAY + 2 * HOUR,
        DAY + 24 * HOUR,
      ]);
      expect([...(await store.doneHours('other', DAY, DAY + 23 * HOUR)).keys()]).toEqual([DAY + HOUR]);

      // Marking an hour again (a forced re-run) replaces what was recorded.
      now = 9_000;
      await store.markHourDone('amp', DAY, { records: 121, appended: 1, runId: 'run-3' });
      expect((await store.doneHours('amp', DAY, DAY)).get(DAY)).toEqual({
        records: 121,
        appended: 1,
        runId: 'run-3',
        doneAt: 9_000,
      });
    });

    it('forgets a range of hours of one source, for a forced re-run', async () => {
      const store = await open();
      for (let h = 0; h < 5; h++) {
        await store.markHourDone('amp', DAY + h * HOUR, { records: h, appended: h, runId: 'r' });
      }
      await store.markHourDone('other', DAY + HOUR, { records: 1, appended: 1, runId: 'r' });
      expect(await store.forgetHours('amp', DAY + HOUR, DAY + 3 * HOUR)).toBe(3);
      expect(await store.forgetHours('amp', DAY + HOUR, DAY + 3 * HOUR)).toBe(0);
      expect([...(await store.doneHours('amp', DAY, DAY + 4 * HOUR)).keys()]).toEqual([DAY, DAY + 4 * HOUR]);
      expect((await store.doneHours('other', DAY, DAY + 4 * HOUR)).size).toBe(1);
    });

    it('refuses an hour that is not the start of a UTC hour in epoch ms', async () => {
      const store = await open();
      const done = { records: 1, appended: 1, runId: 'r' };
      // Whole hours since the epoch (as src/backfill counts them), a time within an hour, a fraction.
      for (const hour of [DAY / HOUR, DAY + 1, DAY + 0.5]) {
        await expect(store.markHourDone('amp', hour, done)).rejects.toThrow(/not the start of a UTC hour/);
        await expect(store.doneHours('amp', DAY, hour)).rejects.toThrow(/not the start of a UTC hour/);
        await expect(store.forgetHours('amp', hour, DAY)).rejects.toThrow(/not the start of a UTC hour/);
      }
      expect((await store.doneHours('amp', 0, DAY + 24 * HOUR)).size).toBe(0);
    });
  });
}
