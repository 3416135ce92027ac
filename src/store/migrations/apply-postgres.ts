import type pg from 'pg';

import { inTransaction, MIGRATION_LOCK } from '../postgres-db.ts';
import { assertIncreasingVersions, type Migration } from './migration.ts';

/** Applies the steps of `list` a PostgreSQL store has not recorded yet, all in one transaction. */
export async function applyPostgresMigrations(
  pool: pg.Pool,
  list: readonly Migration[],
  now: number,
): Promise<void> {
  assertIncreasingVersions(list);
  // Every pending step with its bookkeeping in one transaction, as SQLite does: a store is either
  // at the new schema or untouched, never halfway.
  await inTransaction(pool, async (client) => {
    // Processes starting together queue on this lock (held to the commit); the first applies, the
    // others then find every version applied. CREATE TABLE IF NOT EXISTS alone is not enough: two
    // sessions can both pass its check. A transaction-level lock also works through a pooler in
    // transaction mode.
    await client.query('SELECT pg_advisory_xact_lock($1::int, 0)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
    );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    for (const migration of list) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        now,
      ]);
    }
  });
}
