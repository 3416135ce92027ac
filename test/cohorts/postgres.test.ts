import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestPostgres } from '../helpers/postgres.ts';
import type { TestPostgres } from '../helpers/postgres.ts';
import { CohortSourceConfig } from '../../src/config/cohort-source.ts';
import { CohortSourceError } from '../../src/cohorts/errors.ts';
import { openCohortSource } from '../../src/cohorts/index.ts';
import type { CohortProgress, CohortSource } from '../../src/cohorts/source.ts';

let server: TestPostgres;
let admin: pg.Client;

beforeAll(async () => {
  server = await startTestPostgres();
  admin = new pg.Client({ connectionString: server.connectionString });
  await admin.connect();
  await admin.query(`
    CREATE TABLE users (id serial PRIMARY KEY, external_id text, plan text, signed_up date);
    INSERT INTO users (external_id, plan, signed_up)
      SELECT 'user-' || lpad(i::text, 5, '0'), CASE WHEN i % 2 = 0 THEN 'pro' ELSE 'free' END, DATE '2024-01-01'
      FROM generate_series(1, 10000) AS i;
    CREATE TABLE odd (v text);
    INSERT INTO odd VALUES ('  padded  '), (NULL), (''), ('plain');
  `);
});
afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

function source(query: string, url = server.connectionString): CohortSource {
  return openCohortSource(
    CohortSourceConfig.parse({ from: 'postgres', connectionString: '${DATABASE_URL}', query }),
    { DATABASE_URL: url, CIO_SYNC_COHORT_VARIABLES: 'DATABASE_URL' },
  );
}

async function collect(s: CohortSource, chunkSize = 1000): Promise<string[][]> {
  const chunks: string[][] = [];
  for await (const chunk of s.members({ chunkSize })) chunks.push(chunk);
  return chunks;
}

async function rejection(s: CohortSource): Promise<CohortSourceError> {
  const err = await collect(s).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CohortSourceError);
  return err as CohortSourceError;
}

async function openCursors(): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'cio-sync cohort'",
  );
  return rows[0]?.n ?? -1;
}

describe('postgres source', () => {
  it('reads 10,000 rows through the cursor in chunks', async () => {
    const s = source('SELECT external_id FROM users ORDER BY id;');
    const progress: CohortProgress[] = [];
    const chunks: string[][] = [];
    for await (const chunk of s.members({ chunkSize: 1000, onProgress: (p) => progress.push(p) }))
      chunks.push(chunk);
    expect(chunks).toHaveLength(10);
    expect(chunks.every((c) => c.length === 1000)).toBe(true);
    const ids = chunks.flat();
    expect(ids[0]).toBe('user-00001');
    expect(ids[9999]).toBe('user-10000');
    expect(new Set(ids).size).toBe(10_000);
    expect(progress.map((p) => p.ids)).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000]);
    expect(s.stats).toMatchObject({ ids: 10_000, skippedEmpty: 0 });
    expect(s.description).toBe('postgres query: SELECT external_id FROM users ORDER BY id');
  });

  it('a partial last chunk; integer ids become strings; a WHERE clause', async () => {
    const chunks = await collect(
      source("SELECT id FROM users WHERE plan = 'pro' AND id <= 2500 ORDER BY id"),
      500,
    );
    expect(chunks.map((c) => c.length)).toEqual([500, 500, 250]);
    expect(chunks[0]?.slice(0, 3)).toEqual(['2', '4', '6']);
    expect((await collect(source('SELECT id::bigint * 1000000000 FROM users WHERE id = 3'))).flat()).toEqual([
      '3000000000',
    ]);
  });

  it('trims ids and skips NULL and empty values', async () => {
    const s = source('SELECT v FROM odd');
    expect((await collect(s)).flat()).toEqual(['padded', 'plain']);
    expect(s.stats.skippedEmpty).toBe(2);
  });

  it('an empty answer yields nothing', async () => {
    expect(await collect(source('SELECT external_id FROM users WHERE false'))).toEqual([]);
  });

  it('a query returning other than one column is a permanent query error', async () => {
    const two = await rejection(source('SELECT id, external_id FROM users'));
    expect(two).toMatchObject({ reason: 'query', retryable: false });
    expect(two.message).toBe(
      'postgres query returns 2 columns ("id", "external_id"); it must return exactly one: the member id',
    );
  });

  it('a non-text, non-integer column is a permanent query error', async () => {
    const err = await rejection(source('SELECT signed_up FROM users'));
    expect(err.message).toBe(
      'postgres query: column "signed_up" holds a date values; select a text or integer id (cast it with ::text)',
    );
  });

  it('SQL errors are permanent query errors with their SQLSTATE', async () => {
    const err = await rejection(source('SELECT nope FROM nowhere'));
    expect(err).toMatchObject({ reason: 'query', retryable: false });
    expect(err.message).toBe('postgres query: relation "nowhere" does not exist (SQLSTATE 42P01)');
  });

  it('cannot write: read-only transaction, one statement only', async () => {
    const write = await rejection(source('SELECT external_id FROM users; DELETE FROM users'));
    expect(write.reason).toBe('query');
    const viaFunction = await rejection(source("SELECT 'x' FROM (SELECT setval('users_id_seq', 1)) s"));
    expect(viaFunction.message).toContain('read-only transaction');
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    expect(rows[0]?.n).toBe(10_000);
  });

  it('a refused connection is retryable; an unknown database is a config error', async () => {
    const refused = await rejection(source('SELECT 1', 'postgres://postgres@127.0.0.1:1/postgres'));
    expect(refused).toMatchObject({ reason: 'network', retryable: true });
    const unknownDb = await rejection(
      source('SELECT 1', server.connectionString.replace(/\/\w+$/, '/missing')),
    );
    expect(unknownDb).toMatchObject({ reason: 'config', retryable: false });
  });

  it('stopping early closes the cursor and the connection', async () => {
    const s = source('SELECT external_id FROM users');
    for await (const chunk of s.members({ chunkSize: 100 })) {
      expect(chunk).toHaveLength(100);
      break;
    }
    await expect.poll(openCursors).toBe(0);
  });

  it('an abort stops a read in progress', async () => {
    const controller = new AbortController();
    const s = source('SELECT external_id FROM users');
    const err = await (async () => {
      for await (const _chunk of s.members({ chunkSize: 100, signal: controller.signal })) controller.abort();
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ reason: 'aborted' });
    await expect.poll(openCursors).toBe(0);
  });
});
