import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { CohortSourceConfig } from './config.ts';
import { CohortSourceError, openCohortSource } from './index.ts';

const config = (input: unknown) => CohortSourceConfig.parse(input);

it('resolves references from the given env, not process.env, and keeps them out of the description', () => {
  const s = openCohortSource(
    config({ from: 'amplitude', cohortId: 'c', apiKey: '${K}', secretKey: '${S}', region: 'eu' }),
    { K: 'key-value', S: 'secret-value' },
  );
  expect(s.description).toBe('amplitude cohort c (eu, column user_id)');
  expect(s.description).not.toMatch(/key-value|secret-value/);
});

it('an unset variable is a permanent config error naming it (never a value)', () => {
  let err: unknown;
  try {
    openCohortSource(
      config({ from: 'postgres', connectionString: '${DATABASE_URL}', query: 'SELECT 1' }),
      {},
    );
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CohortSourceError);
  expect(err).toMatchObject({
    reason: 'config',
    retryable: false,
    message: 'environment variable DATABASE_URL (for cohort.connectionString) is not set',
  });
});

it('a file path may use references too', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cio-sync-cohort-index-'));
  try {
    await writeFile(join(dir, 'm.ndjson'), '"a"\n"b"\n');
    const s = openCohortSource(config({ from: 'file', path: '${DATA_DIR}/m.ndjson' }), { DATA_DIR: dir });
    const ids: string[] = [];
    for await (const chunk of s.members()) ids.push(...chunk);
    expect(ids).toEqual(['a', 'b']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('a URL that is not http(s) once resolved is a config error', () => {
  expect(() =>
    openCohortSource(config({ from: 'url', url: 'https://${HOST}/x.csv' }), { HOST: '/etc/passwd' }),
  ).toThrow(expect.objectContaining({ reason: 'config' }));
});
