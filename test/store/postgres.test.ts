import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { openStore } from '../../src/store/index.ts';
import { sqliteMigrations as migrations } from '../../src/store/migrations/sqlite.ts';
import { openPostgresStore, redactUrl } from '../../src/store/postgres.ts';
import { postgresMigrations } from '../../src/store/migrations/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { describeStoreContract, rec } from './contract.ts';

// One server for the file; every test gets a database of its own.
let server: TestPostgres;
let admin: pg.Client;
let databases = 0;

beforeAll(async () => {
  server = await startTestPostgres();
  admin = new pg.Client({ connectionString: server.connectionString });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

function urlOf(database: string): string {
  const url = new URL(server.connectionString);
  url.pathname = `/${database}`;
  return url.href;
}

/**
 * A new, empty database. Its default collation is linguistic (ICU en-US), as production databases'
 * usually are, rather than the test server's C: a query that silently relied on byte order would
 * show here.
 */
async function freshDatabase(): Promise<string> {
  const name = `store_${process.pid}_${++databases}`;
  await admin.query(
    `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'`,
  );
  return urlOf(name);
}

async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
}

/** Runs `fn` with a plain connection to the store's database. */
async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function inspect(url: string): Promise<{ versions: number[]; tables: string[] }> {
  return withClient(url, async (client) => {
    const tables = (
      await client.query<{ name: string }>(
        'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = \'public\' ORDER BY table_name COLLATE "C"',
      )
    ).rows.map((r) => r.name);
    const versions = tables.includes('schema_migrations')
      ? (
          await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
        ).rows.map((r) => r.version)
      : [];
    return { versions, tables };
  });
}

describeStoreContract({
  migrations: postgresMigrations,
  fresh: freshDatabase,
  dispose: dropDatabase,
  open: (url, opts) => openPostgresStore(url, opts),
  childOpener: {
    moduleUrl: pathToFileURL(join(import.meta.dirname, '../../src/store/postgres.ts')).href,
    exportName: 'openPostgresStore',
  },
  inspect,
  exec: (url, sql) => withClient(url, async (client) => void (await client.query(sql))),
});

describe('PostgreSQL only', () => {
  const stores: Store[] = [];
  async function open(url: string, opts?: Parameters<typeof openPostgresStore>[1]): Promise<Store> {
    const store = await openPostgresStore(url, opts);
    stores.push(store);
    return store;
  }
  afterAll(async () => {
    for (const store of stores) await store.close();
  });

  it('keeps the same schema steps as SQLite: versions, names, tables and columns', async () => {
    expect(postgresMigrations.map((m) => [m.version, m.name])).toEqual(
      migrations.map((m) => [m.version, m.name]),
    );
    const url = await freshDatabase();
    await (await open(url)).close();
    const pgColumns = await withClient(url, async (client) =>
      (
        await client.query<{ t: string; c: string }>(
          "SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = 'public'",
        )
      ).rows.map((r) => `${r.t}.${r.c}`),
    );
    // The SQLite schema, from its migrations in a throwaway database.
    const db = new DatabaseSync(':memory:');
    for (const m of migrations) db.exec(m.sql);
    const sqliteColumns = db
      .prepare(
        "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
      )
      .all()
      .map((r) => `${String(r.t)}.${String(r.c)}`);
    db.close();
    const bookkeeping = [
      'schema_migrations.version',
      'schema_migrations.name',
      'schema_migrations.applied_at',
    ];
    expect(pgColumns.filter((c) => !bookkeeping.includes(c)).sort()).toEqual(sqliteColumns.sort());
  });

  it('appendNew appends an insert_id once even where transactions default to repeatable read', async () => {
    // Its look-up must see what the appends that held the source's lock before it committed, which
    // only a snapshot taken after the lock does: a database whose default isolation takes one at the
    // first statement would let racing calls append the same id twice.
    const url = await freshDatabase();
    await (await openPostgresStore(url)).close();
    const name = new URL(url).pathname.slice(1);
    await admin.query(`ALTER DATABASE ${name} SET default_transaction_isolation = 'repeatable read'`);
    const writers = await Promise.all(Array.from({ length: 4 }, () => open(url)));
    await Promise.all(
      Array.from({ length: 40 }, (_, call) =>
        writers[call % 4]!.appendNew(
          'web',
          Array.from({ length: 10 }, (_, k) => rec(k, { insert_id: `id-${Math.floor(call / 4) + k}` })),
        ),
      ),
    );
    const keys = (await writers[0]!.readAfter('web', 0, 1_000)).map((r) => r.record.insert_id);
    expect(keys.length).toBe(new Set(keys).size);
    expect(keys.length).toBe(19);
  });

  it('wakes a waiter by NOTIFY, without waiting for its poll', async () => {
    const url = await freshDatabase();
    const reader = await open(url, { pollIntervalMs: 60_000, fallbackPollIntervalMs: 60_000 });
    const writer = await open(url);
    const started = performance.now();
    const waiting = reader.waitForRecords('web', 0, 10_000);
    setTimeout(() => void writer.append('web', [rec(1)]), 200);
    expect(await waiting).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    // Appends to another source wake nobody waiting on this one.
    const head = await reader.headSeq('web');
    setTimeout(() => void writer.append('other', [rec(2)]), 50);
    expect(await reader.waitForRecords('web', head, 400)).toBe(false);
  });

  it('falls back to polling when the LISTEN connection is lost, and listens again later', async () => {
    const url = await freshDatabase();
    const reader = await open(url, { pollIntervalMs: 60_000, fallbackPollIntervalMs: 50 });
    const writer = await open(url);
    const first = reader.waitForRecords('web', 0, 500);
    await new Promise((r) => setTimeout(r, 100));
    // Cut the listener's connection the way a network blip or a server restart would.
    const cut = await withClient(
      url,
      async (client) =>
        (
          await client.query<{ ok: boolean }>(
            "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'cio-sync listener' AND datname = current_database()",
          )
        ).rows.length,
    );
    expect(cut).toBe(1);
    expect(await first).toBe(false);

    // No LISTEN now: the waiter still sees the append, by polling.
    const polling = reader.waitForRecords('web', 0, 5_000);
    setTimeout(() => void writer.append('web', [rec(1)]), 100);
    const started = performance.now();
    expect(await polling).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);

    // A later wait reconnects (after the retry pause) and is woken by NOTIFY again.
    await new Promise((r) => setTimeout(r, 1_100));
    const head = await reader.headSeq('web');
    expect(await reader.waitForRecords('web', head, 200)).toBe(false);
    const listeners = await withClient(
      url,
      async (client) =>
        (
          await client.query(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'cio-sync listener' AND datname = current_database()",
          )
        ).rows.length,
    );
    expect(listeners).toBe(1);
  });

  it('openStore opens postgres:// and postgresql:// URLs', async () => {
    const url = await freshDatabase();
    const a = await openStore(url);
    stores.push(a);
    await a.append('web', [rec(1)]);
    const b = await openStore(url.replace(/^postgres:/, 'postgresql:'));
    stores.push(b);
    expect(await b.headSeq('web')).toBe(await a.headSeq('web'));
  });

  it('never echoes a password in an error', async () => {
    const port = server.port;
    // A database that does not exist, and a port nobody listens on.
    for (const url of [
      `postgres://postgres:s3cret-pw@127.0.0.1:${port}/no_such_db`,
      `postgresql://app:s3cret-pw@127.0.0.1:1/cio?connect_timeout=2`,
    ]) {
      const error = await openStore(url).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      const shown = `${(error as Error).message} ${(error as Error).stack ?? ''} ${JSON.stringify(error)}`;
      expect(shown).not.toContain('s3cret-pw');
      expect((error as Error).message).toMatch(
        /cannot open the PostgreSQL store at postgres(ql)?:\/\/\w+:\*\*\*@/,
      );
    }
    expect(redactUrl('postgres://u:p%40ss@h:5432/db?sslmode=require')).toBe(
      'postgres://u:***@h:5432/db?sslmode=require',
    );
    expect(redactUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
  });
});
