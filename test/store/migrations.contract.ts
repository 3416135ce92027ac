import { describe, expect, it } from 'vitest';

import type { CanonicalRecord } from '../../src/events/record.ts';
import { rec, type StoreContract } from './harness.ts';

/** SQL that logs `records` the way the steps before event_key did (received at 1). */
function insertLogged(sourceId: string, records: readonly CanonicalRecord[]): string {
  const quote = (text: string): string => `'${text.replaceAll("'", "''")}'`;
  const rows = records.map((r) => `(${quote(sourceId)}, 1, ${quote(JSON.stringify(r))})`);
  return `INSERT INTO event_log (source_id, received_at, record) VALUES ${rows.join(', ')}`;
}

/** The Store contract for schema migrations. */
export function describeMigrationContract(contract: StoreContract): void {
  const { backend, open, inChildProcess } = contract;
  describe('schema', () => {
    const versions = backend.migrations.map((m) => m.version);

    it('applies migrations once: open, close, reopen', async () => {
      await (await backend.open(contract.location)).close();
      const first = await backend.inspect(contract.location);
      expect(first.versions).toEqual(versions);
      expect(first.tables).toEqual([
        'backfill_hours',
        'captured_requests',
        'cohort_members',
        'cohort_runs',
        'dead_letters',
        'engine_state',
        'event_log',
        'forgotten_people',
        'rate_limits',
        'schema_migrations',
        'sequences',
        'suppressed_users',
        'sync_progress',
        'user_snapshots',
      ]);

      const again = await open();
      await again.append('web', [rec(1)]);
      expect((await backend.inspect(contract.location)).versions).toEqual(first.versions);
    });

    it('applies a later migration to an existing store', async () => {
      await (await backend.open(contract.location)).close();
      const extra = [
        ...backend.migrations,
        { version: 999, name: 'extra', sql: 'CREATE TABLE extra_table (x INTEGER)' },
      ];
      await (await backend.open(contract.location, { migrations: extra })).close();
      await (await backend.open(contract.location, { migrations: extra })).close();
      const after = await backend.inspect(contract.location);
      expect(after.versions).toEqual([...versions, 999]);
      expect(after.tables).toContain('extra_table');
    });

    it('adds user_snapshots (version 2) to a store created at version 1, keeping its data', async () => {
      await (
        await backend.open(contract.location, {
          migrations: backend.migrations.filter((m) => m.version === 1),
        })
      ).close();
      // As version 1 wrote it (the store's code now writes a later layout).
      await backend.exec(contract.location, insertLogged('web', [rec(1)]));
      expect((await backend.inspect(contract.location)).tables).not.toContain('user_snapshots');
      const store = await open();
      expect((await backend.inspect(contract.location)).versions).toEqual(versions);
      expect((await store.readAfter('web', 0, 10)).map((r) => r.record)).toEqual([rec(1)]);
      await store.putUserSnapshots('s', [
        { userKey: 'id:u1', snapshot: { attributes: {}, state: {}, seq: 1 } },
      ]);
      expect((await store.getUserSnapshots('s', ['id:u1'])).size).toBe(1);
    });

    it('keeps the cohort members of a store created at version 5 through the later steps (v6: SQLite without rowid, v7: members keyed by run number)', async () => {
      await (
        await backend.open(contract.location, {
          migrations: backend.migrations.filter((m) => m.version <= 5),
        })
      ).close();
      // Two syncs' runs as version 5 wrote them (the store's code now writes the later layout).
      await backend.exec(
        contract.location,
        `INSERT INTO cohort_runs (sync_id, run_id, phase, members, progress, started_at) VALUES
           ('sync', 'r1', 'applied', 3, '{"phase":"done","added":3,"removed":0}', 1),
           ('other', 'r1', 'snapshotted', 1, '{"phase":"add","added":0,"removed":0}', 2);
         INSERT INTO cohort_members (sync_id, run_id, member_id) VALUES
           ('sync', 'r1', 'b'), ('sync', 'r1', 'a'), ('sync', 'r1', 'c'), ('other', 'r1', 'z');`,
      );
      const store = await open();
      expect((await backend.inspect(contract.location)).versions).toEqual(versions);
      expect(await store.cohorts.cohortDiffPage('sync', 'r1', undefined, undefined, 10)).toEqual([
        'a',
        'b',
        'c',
      ]);
      expect(await store.cohorts.cohortDiffPage('other', 'r1', undefined, undefined, 10)).toEqual(['z']);
      expect((await store.cohorts.lastAppliedCohortRun('sync'))?.members).toBe(3);
      // A new run gets a number of its own: its members and the diff stay apart from the old runs'.
      await store.cohorts.beginCohortRun('sync', 'r2');
      await store.cohorts.addCohortMembers('sync', 'r2', ['c', 'd', 'a', 'd']);
      const run = await store.cohorts.completeCohortSnapshot('sync', 'r2', 'r1', 0);
      expect([run.members, run.toAdd, run.toRemove]).toEqual([3, 1, 1]);
      expect(await store.cohorts.cohortDiffPage('sync', 'r2', 'r1', undefined, 10)).toEqual(['d']);
      expect(await store.cohorts.cohortDiffPage('sync', 'r1', 'r2', undefined, 10)).toEqual(['b']);
      await store.cohorts.completeCohortRun('sync', 'r2');
      expect(await store.cohorts.cohortDiffPage('sync', 'r1', undefined, undefined, 10)).toEqual([]);
      expect(await store.cohorts.cohortDiffPage('other', 'r1', undefined, undefined, 10)).toEqual(['z']);
    });

    it('keeps the event log of a store created at version 7 through step 8 (event keys); old rows carry no key', async () => {
      await (
        await backend.open(contract.location, {
          migrations: backend.migrations.filter((m) => m.version <= 7),
        })
      ).close();
      const old = [
        rec(1, { insert_id: 'k1' }),
        rec(2, { event_properties: { quote: "it's" } }),
        rec(3, { insert_id: 'k3' }),
      ];
      await backend.exec(contract.location, insertLogged('web', old));
      await backend.exec(contract.location, insertLogged('app', [rec(4, { insert_id: 'k1' })]));

      const store = await open();
      const after = await backend.inspect(contract.location);
      expect(after.versions).toEqual(versions);
      expect(after.tables).toContain('backfill_hours');
      const logged = await store.readAfter('web', 0, 10);
      expect(logged.map((r) => r.record)).toEqual(old);
      expect(logged.map((r) => r.receivedAt)).toEqual([1, 1, 1]);
      expect(await store.headSeq('app')).toBe(4);

      // Rows logged before step 8 have no key (the step's comment says why): their ids are new to
      // appendNew, until it has appended them itself.
      expect(await store.appendNew('web', [rec(5, { insert_id: 'k1' })])).toEqual({ seqs: [5], skipped: [] });
      const next = await store.appendNew('web', [rec(6, { insert_id: 'k1' }), rec(7, { insert_id: 'k3' })]);
      expect(next).toEqual({ seqs: [6], skipped: [0] });
      await store.markHourDone('web', 0, { records: 1, appended: 1, runId: 'r' });
      expect((await store.doneHours('web', 0, 0)).size).toBe(1);
    });

    it('keeps the user snapshots of a store created at version 8 through step 9 (history time)', async () => {
      await (
        await backend.open(contract.location, {
          migrations: backend.migrations.filter((m) => m.version <= 8),
        })
      ).close();
      await backend.exec(
        contract.location,
        `INSERT INTO user_snapshots (sync_id, user_key, attributes, state, seq, updated_at)
           VALUES ('s', 'id:u1', '{"plan":"pro"}', '{"plan":"pro"}', 7, 1)`,
      );
      const store = await open();
      // A snapshot from before the step was built from the live stream: no history time.
      const live = { attributes: { plan: 'pro' }, state: { plan: 'pro' }, seq: 7 };
      expect((await store.getUserSnapshots('s', ['id:u1'])).get('id:u1')).toEqual(live);
      const history = { attributes: {}, state: {}, seq: 3, historyTime: 1_700_000_000_000 };
      await store.putUserSnapshots('s', [{ userKey: 'id:u2', snapshot: history }]);
      expect((await store.getUserSnapshots('s', ['id:u2'])).get('id:u2')).toEqual(history);
    });

    it('rolls back a failing migration as a whole', async () => {
      await (await backend.open(contract.location)).close();
      const broken = [
        ...backend.migrations,
        { version: 999, name: 'broken', sql: 'CREATE TABLE t (x INTEGER); SELECT nope FROM nowhere' },
      ];
      await expect(backend.open(contract.location, { migrations: broken })).rejects.toThrow();
      const after = await backend.inspect(contract.location);
      expect(after.tables).not.toContain('t');
      expect(after.versions).toEqual(versions);
    });

    it('rejects migrations out of order', async () => {
      const shuffled = [...backend.migrations].reverse();
      await expect(backend.open(contract.location, { migrations: shuffled })).rejects.toThrow(
        /increasing versions/,
      );
    });

    it('is safe when several processes create the same new store at once', async () => {
      // The children start at one agreed instant, past Node's start-up, so their opens overlap.
      const body = `
        await new Promise((resolve) => setTimeout(resolve, Number(args[1]) - Date.now()));
        const store = await openStore(args[0]);
        const seqs = await store.append('web', [{ kind: 'track', origin: 'segment', time: 1, event_properties: {}, user_properties: {}, context: {} }]);
        await store.close();
        return seqs;
      `;
      const at = String(Date.now() + 1_500);
      const results = await Promise.all(
        Array.from({ length: 4 }, () => inChildProcess<number[]>(body, contract.location, at)),
      );
      expect(new Set(results.flat()).size).toBe(4);
      expect((await backend.inspect(contract.location)).versions).toEqual(versions);
    });
  });
}
