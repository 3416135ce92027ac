import pg from 'pg';

import { PostgresBackfills } from './backfills/postgres.ts';
import { PostgresCaptures } from './captures/postgres.ts';
import { PostgresCohorts } from './cohorts/postgres.ts';
import { composeStore } from './compose.ts';
import { PostgresDeadLetters } from './dead-letters/postgres.ts';
import { PostgresLog } from './log/postgres.ts';
import { LogListener } from './log/postgres-listener.ts';
import { applyPostgresMigrations } from './migrations/apply-postgres.ts';
import type { Migration } from './migrations/migration.ts';
import { postgresMigrations } from './migrations/postgres.ts';
import { inTransaction, type PostgresContext } from './postgres-db.ts';
import { PostgresProgress } from './progress/postgres.ts';
import { PostgresRateLimit } from './rate-limit/postgres.ts';
import { PostgresState } from './state/postgres.ts';
import type { Store } from './store.ts';
import { PostgresUsers } from './users/postgres.ts';

export interface PostgresStoreOptions {
  /** Pooled connections at most (the LISTEN connection comes on top). */
  maxConnections?: number;
  /**
   * How often `waitForRecords` looks at the log while LISTEN works (ms). NOTIFY wakes a waiter at
   * once; this poll is only a safety net, so it is slow.
   */
  pollIntervalMs?: number;
  /** How often it looks while the LISTEN connection is down (ms). */
  fallbackPollIntervalMs?: number;
  /** Clock for received_at, created_at and rate slots; tests pin it. Rate slots use the server's clock otherwise. */
  now?: () => number;
  /** Schema steps to apply; tests only. */
  migrations?: readonly Migration[];
}

const DEFAULT_MAX_CONNECTIONS = 10;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
const DEFAULT_FALLBACK_POLL_INTERVAL_MS = 100;
/** How often a lost LISTEN connection is tried again (at most; only while someone waits). */
const LISTEN_RETRY_MS = 1_000;

/** `user:password@` becomes `user:***@`: errors and logs may show where, never the secret. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

function passwordOf(url: string): string | undefined {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === '' ? undefined : password;
  } catch {
    return undefined;
  }
}

/**
 * Opens (creating and migrating if needed) a PostgreSQL store. Any number of processes may open the
 * same database at once: migrations run under an advisory lock, appends to one source are
 * serialized so seqs become visible in order (see Store.append), and rate slots are single-row
 * upserts.
 */
export async function openPostgresStore(
  connectionString: string,
  opts: PostgresStoreOptions = {},
): Promise<Store> {
  const pool = new pg.Pool({
    connectionString,
    max: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    application_name: 'cio-sync',
  });
  // An idle connection that dies (server restart, network) is dropped by the pool; without a
  // listener its 'error' would crash the process.
  pool.on('error', () => {});
  try {
    await applyPostgresMigrations(pool, opts.migrations ?? postgresMigrations, (opts.now ?? Date.now)());
  } catch (error) {
    await pool.end().catch(() => {});
    const password = passwordOf(connectionString);
    let message = error instanceof Error ? error.message : String(error);
    if (password !== undefined) message = message.replaceAll(password, '***');
    // No `cause`: a driver error may carry the connection settings (password included) in its
    // properties, and a caller printing the error with its cause would show them.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`cannot open the PostgreSQL store at ${redactUrl(connectionString)}: ${message}`);
  }
  const listener = new LogListener(
    { connectionString, application_name: 'cio-sync listener' },
    LISTEN_RETRY_MS,
  );
  return composePostgresStore(pool, listener, opts);
}

/** Every concern on the one pool; settleDelivery's transaction spans several of them. */
function composePostgresStore(pool: pg.Pool, listener: LogListener, opts: PostgresStoreOptions): Store {
  const ctx: PostgresContext = {
    pool,
    now: opts.now ?? Date.now,
    tx: (fn) => inTransaction(pool, fn),
    redoableTx: (fn) => inTransaction(pool, fn, true),
  };
  const log = new PostgresLog(ctx, listener, {
    pollIntervalMs: opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    fallbackPollIntervalMs: opts.fallbackPollIntervalMs ?? DEFAULT_FALLBACK_POLL_INTERVAL_MS,
  });
  return composeStore({
    log,
    progress: new PostgresProgress(ctx),
    deadLetters: new PostgresDeadLetters(ctx),
    captures: new PostgresCaptures(ctx),
    // Only a pinned clock: otherwise rate slots take the database's, one clock for every host.
    rateLimit: new PostgresRateLimit(pool, opts.now),
    state: new PostgresState(ctx),
    users: new PostgresUsers(ctx),
    cohorts: new PostgresCohorts(pool, ctx.now, ctx.tx, ctx.redoableTx),
    backfills: new PostgresBackfills(ctx),
    async close() {
      await log.close();
      await pool.end();
    },
  });
}
