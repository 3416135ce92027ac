import { existsSync } from 'node:fs';

import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { findPostgresBin, startTestPostgres } from './postgres.ts';
import type { TestPostgres } from './postgres.ts';

let server: TestPostgres;

beforeAll(async () => {
  server = await startTestPostgres();
});
afterAll(async () => {
  await server?.stop();
});

it('finds the PostgreSQL binaries', () => {
  const bin = findPostgresBin();
  expect(existsSync(`${bin}/initdb`)).toBe(true);
});

it('starts a server that takes connections on its loopback port', async () => {
  expect(server.connectionString).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
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

it('stop() shuts the server down and removes its files; a second server is independent', async () => {
  const other = await startTestPostgres();
  expect(other.port).not.toBe(server.port);
  await other.stop();
  expect(existsSync(other.dir)).toBe(false);
  const client = new pg.Client({ connectionString: other.connectionString, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  await expect(client.connect()).rejects.toThrow();
});
