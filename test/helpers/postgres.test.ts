import { existsSync } from 'node:fs';

import pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';

import { findPostgresBin, startPostgresServer, startTestPostgres } from './postgres.ts';
import type { TestPostgres } from './postgres.ts';

let server: TestPostgres;

beforeAll(async () => {
  server = await startTestPostgres();
});
afterAll(async () => {
  await server?.stop();
});

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

it('finds the PostgreSQL binaries', () => {
  const bin = findPostgresBin();
  expect(existsSync(`${bin}/initdb`)).toBe(true);
});

it('gives a test a database of its own on the run`s one server, on its loopback port', async () => {
  expect(server.connectionString).toMatch(
    new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:${server.port}/test_\\w+$`),
  );
  expect(inject('postgresUrl')).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
  const client = new pg.Client({ connectionString: server.connectionString });
  await client.connect();
  try {
    await client.query('CREATE TABLE t (id text)');
    await client.query("INSERT INTO t VALUES ('a'), ('b')");
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM t');
    expect(rows[0]?.n).toBe('2');
  } finally {
    await client.end();
  }
});

it('clones the migrated template on request: the store`s tables are there, the data is not shared', async () => {
  const migrated = await startTestPostgres({ migrated: true });
  try {
    const tables = await query<{ name: string }>(
      migrated.connectionString,
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    expect(tables.map((t) => t.name)).toContain('schema_migrations');
    const empty = await query<{ name: string }>(
      server.connectionString,
      "SELECT table_name AS name FROM information_schema.tables WHERE table_name = 'schema_migrations'",
    );
    expect(empty).toEqual([]);
  } finally {
    await migrated.stop();
  }
});

it('stop() drops a test`s database; a second database is independent', async () => {
  const other = await startTestPostgres();
  expect(other.connectionString).not.toBe(server.connectionString);
  await other.stop();
  const client = new pg.Client({ connectionString: other.connectionString, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  await expect(client.connect()).rejects.toThrow(/does not exist/);
  // The first database is still there.
  expect(await query<{ one: number }>(server.connectionString, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
});

it('a throwaway server (the benchmarks`) stops and removes its files; it is independent of the run`s', async () => {
  const own = await startPostgresServer();
  expect(own.connectionString).toBe(`postgres://postgres@127.0.0.1:${own.port}/postgres`);
  expect(own.port).not.toBe(server.port);
  await own.stop();
  expect(existsSync(own.dir)).toBe(false);
  const client = new pg.Client({ connectionString: own.connectionString, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  await expect(client.connect()).rejects.toThrow();
});
