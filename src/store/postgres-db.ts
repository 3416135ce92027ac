import type pg from 'pg';

/** Runs `fn` in one transaction on one pooled connection. */
export type Transaction = <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;

/** What every PostgreSQL concern module works with: the store's pool, clock and transaction helper. */
export interface PostgresContext {
  pool: pg.Pool;
  now: () => number;
  tx: Transaction;
  /** A transaction whose commit does not wait for the WAL flush (see inTransaction's `redoable`). */
  redoableTx: Transaction;
}

/** Rows per multi-row INSERT of snapshots, dead letters and captures. */
const CHUNK = 5_000;

// Advisory lock keys, two-int form: the first int is this engine's namespace ("cio" + n), so they
// cannot collide with another application's single-bigint locks in the same database.
export const APPEND_LOCK = 0x63696f01;
export const MIGRATION_LOCK = 0x63696f02;
/** Serializes changes to one sync's lane layout (prepareLanes, setStreamCursor). */
export const PROGRESS_LOCK = 0x63696f03;

/**
 * Runs `fn` between BEGIN and COMMIT on a connection of its own, rolling back on error. A
 * connection whose ROLLBACK fails is dropped rather than returned to the pool.
 *
 * `redoable`: the commit returns before the WAL is flushed (synchronous_commit off for this
 * transaction alone), so a database crash can lose it, whole and never in part, and never while a
 * later commit survives — for writes of work that is simply done again when they are lost, exactly
 * as after a crash before them (a settled delivery: its batch is re-sent, deduplicated by event id).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  redoable = false,
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    // READ COMMITTED whatever the database's default: the store's transactions take a lock, then
    // read what those before them committed (migrations, lane layouts, appendNew's look-up), which
    // only a snapshot taken per statement shows.
    const begin = 'BEGIN ISOLATION LEVEL READ COMMITTED';
    await client.query(redoable ? `${begin}; SET LOCAL synchronous_commit = off` : begin);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** LIMIT NULL is "no limit" in PostgreSQL. */
export function limitOf(limit: number | undefined): number | null {
  return limit === undefined ? null : Math.max(0, Math.floor(limit));
}

export function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
