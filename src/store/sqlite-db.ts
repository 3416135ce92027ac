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

/**
 * A write transaction whose commit is not fsynced (synchronous = NORMAL for it alone; the
 * connection stays FULL). A power cut can then lose it, whole and never in part — for writes that
 * record work which is simply done again when they are lost, exactly as after a crash before them:
 * a settled delivery (its batch is re-sent and deduplicated by event id), a rate slot. An fsync
 * costs about 0.2 ms under the write lock ingest also waits for, once per Customer.io request.
 */
export function redoableTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('PRAGMA synchronous = NORMAL');
  try {
    return writeTransaction(db, fn);
  } finally {
    db.exec('PRAGMA synchronous = FULL');
  }
}

/** SQLite reads a negative LIMIT as "no limit". */
export function limitOf(limit: number | undefined): number {
  return limit === undefined ? -1 : Math.max(0, Math.floor(limit));
}
