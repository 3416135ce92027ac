import { openPostgresStore } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './store.ts';

export type { CapturedRequest, DeadLetter, NewCapturedRequest, NewDeadLetter, Store } from './store.ts';
export { openPostgresStore } from './postgres.ts';
export type { PostgresStoreOptions } from './postgres.ts';
export { openSqliteStore } from './sqlite.ts';
export type { SqliteStoreOptions } from './sqlite.ts';

/**
 * Opens the store a URL names: `sqlite:<path>` (also `sqlite://<path>`, so `sqlite:///abs/x.db` is an
 * absolute path) or a plain file path for SQLite; `postgres://` / `postgresql://` for PostgreSQL.
 * A SQLite file's directory is created when missing.
 */
export async function openStore(url: string): Promise<Store> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'sqlite') {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw new Error(`store URL ${JSON.stringify(url)} has no file path`);
    return openSqliteStore(path);
  }
  // The whole URL goes to the driver (sslmode, options, …); errors show it with the password masked.
  if (scheme === 'postgres' || scheme === 'postgresql') return openPostgresStore(url);
  // Anything else that looks like a URL is a mistake, not a file called "mysql://…"; a drive letter
  // (C:\data\x.db) has no "//" and stays a path.
  if (scheme !== undefined && /^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new Error(
      `unsupported store URL scheme "${scheme}:" (use sqlite:<path>, a file path or postgres://…)`,
    );
  }
  return openSqliteStore(url);
}
