import type { DatabaseSync } from 'node:sqlite';

/** What every SQLite concern module works with: the store's one connection and its clock. */
export interface SqliteContext {
  db: DatabaseSync;
  now: () => number;
}

/**
 * BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout). A deferred transaction
 * that reads and then writes can instead fail at once with SQLITE_BUSY when another process
 * committed in between, which the busy handler cannot fix.
 */
export function writeTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

/** SQLite reads a negative LIMIT as "no limit". */
export function limitOf(limit: number | undefined): number {
  return limit === undefined ? -1 : Math.max(0, Math.floor(limit));
}
