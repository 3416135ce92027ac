import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { SqliteBackfills } from './backfills/sqlite.ts';
import { SqliteCaptures } from './captures/sqlite.ts';
import { SqliteCohorts } from './cohorts/sqlite.ts';
import { composeStore } from './compose.ts';
import { SqliteDeadLetters } from './dead-letters/sqlite.ts';
import { SqliteLog } from './log/sqlite.ts';
import { applySqliteMigrations } from './migrations/apply-sqlite.ts';
import type { Migration } from './migrations/migration.ts';
import { sqliteMigrations } from './migrations/sqlite.ts';
import { SqliteProgress } from './progress/sqlite.ts';
import { SqliteRateLimit } from './rate-limit/sqlite.ts';
import { type SqliteContext, writeTransaction } from './sqlite-db.ts';
import { SqliteState } from './state/sqlite.ts';
import type { Store } from './store.ts';
import { SqliteUsers } from './users/sqlite.ts';

export interface SqliteStoreOptions {
  /**
   * How long a write waits for another connection's write lock before failing (ms). node:sqlite is
   * synchronous, so this wait blocks the event loop; writes here are short, so waits are too.
   */
  busyTimeoutMs?: number;
  /** How often `waitForRecords` looks at the log (ms). */
  pollIntervalMs?: number;
  /** Clock for received_at, created_at and rate slots; tests pin it. */
  now?: () => number;
  /** Schema steps to apply; tests only. */
  migrations?: readonly Migration[];
}

const DEFAULT_BUSY_TIMEOUT_MS = 10_000;
const DEFAULT_POLL_INTERVAL_MS = 25;
const SQLITE_BUSY = 5;

/**
 * Switches the file to WAL. Several processes opening a new file at once (make start, a deployment
 * starting) can get SQLITE_BUSY here at once: the switch needs a lock SQLite does not wait for
 * with the busy handler. So wait ourselves, up to the busy timeout.
 */
async function enableWal(db: DatabaseSync, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      db.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      const busy = (error as { errcode?: unknown }).errcode === SQLITE_BUSY;
      if (!busy || performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
    }
  }
}

/** Opens (creating and migrating if needed) a SQLite store. `':memory:'` gives a private, throwaway one. */
export async function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): Promise<Store> {
  const now = opts.now ?? Date.now;
  const pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) await mkdir(dirname(path), { recursive: true });

  const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  try {
    // WAL lets the ingest server append while workers read, and lets readers see each commit at once.
    if (!inMemory) await enableWal(db, busyTimeoutMs);
    // Acknowledged means durable: with WAL, NORMAL survives a process crash but can lose the last
    // commits on power loss, so every commit is fsynced (FULL) except the redoable ones (settled
    // deliveries, rate slots: see redoableTransaction). The WAL is written in order, so a lost
    // commit never leaves a later one standing.
    db.exec('PRAGMA synchronous = FULL');
    applySqliteMigrations(db, opts.migrations ?? sqliteMigrations, now());
  } catch (error) {
    db.close();
    throw error;
  }
  return composeSqliteStore({ db, now }, pollIntervalMs);
}

/** Every concern on the one connection; settleDelivery's transaction spans several of them. */
function composeSqliteStore(ctx: SqliteContext, pollIntervalMs: number): Store {
  const log = new SqliteLog(ctx, pollIntervalMs);
  const deadLetters = new SqliteDeadLetters(ctx);
  const users = new SqliteUsers(ctx);
  return composeStore({
    log,
    progress: new SqliteProgress(ctx, deadLetters, users),
    deadLetters,
    captures: new SqliteCaptures(ctx),
    rateLimit: new SqliteRateLimit(ctx),
    state: new SqliteState(ctx),
    users,
    cohorts: new SqliteCohorts(ctx.db, ctx.now, (fn) => writeTransaction(ctx.db, fn)),
    backfills: new SqliteBackfills(ctx),
    async close() {
      log.close();
      ctx.db.close();
    },
  });
}
