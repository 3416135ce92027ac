import type { DatabaseSync } from 'node:sqlite';

import { num } from '../columns.ts';
import { writeTransaction } from '../sqlite-db.ts';
import { assertIncreasingVersions, type Migration } from './migration.ts';

/** Applies the steps of `list` a SQLite store has not recorded yet, all in one transaction. */
export function applySqliteMigrations(db: DatabaseSync, list: readonly Migration[], now: number): void {
  assertIncreasingVersions(list);
  // Creating the bookkeeping table inside the same IMMEDIATE transaction makes a second process that
  // starts at the same moment wait, then see every version already applied.
  writeTransaction(db, () => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const applied = new Set(
      db
        .prepare('SELECT version FROM schema_migrations')
        .all()
        .map((r) => num(r, 'version')),
    );
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of list) {
      if (applied.has(migration.version)) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, now);
    }
  });
}
