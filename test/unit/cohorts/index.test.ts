import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { CohortSourceConfig } from '../../../src/config/cohort-source.ts';
import { CohortSourceError, openCohortSource } from '../../../src/cohorts/index.ts';

const config = (input: unknown) => CohortSourceConfig.parse(input);

it('resolves references from the given env, not process.env, and keeps them out of the description', () => {
  const s = openCohortSource(
    config({ from: 'amplitude', cohortId: 'c', apiKey: '${K}', secretKey: '${S}', region: 'eu' }),
    { K: 'key-value', S: 'secret-value', CIO_SYNC_COHORT_VARIABLES: 'K,S' },
  );
  expect(s.description).toBe('amplitude cohort c (eu, column user_id)');
  expect(s.description).not.toMatch(/key-value|secret-value/);
});

it('an unset variable is a permanent config error naming it (never a value)', () => {
  let err: unknown;
  try {
    openCohortSource(config({ from: 'postgres', connectionString: '${DATABASE_URL}', query: 'SELECT 1' }), {
      CIO_SYNC_COHORT_VARIABLES: 'DATABASE_*',
    });
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

it('a file path is read below CIO_SYNC_COHORT_DIR only, and never resolves references', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cio-sync-cohort-index-'));
  try {
    await mkdir(join(dir, 'cohorts'));
    await writeFile(join(dir, 'cohorts', 'm.ndjson'), '"a"\n"b"\n');
    await writeFile(join(dir, 'secret.ndjson'), '"x"\n');
    await symlink(join(dir, 'secret.ndjson'), join(dir, 'cohorts', 'link.ndjson'));
    const env = { CIO_SYNC_COHORT_DIR: join(dir, 'cohorts'), DATA_DIR: dir };
    const s = openCohortSource(config({ from: 'file', path: 'm.ndjson' }), env);
    const ids: string[] = [];
    for await (const chunk of s.members()) ids.push(...chunk);
    expect(ids).toEqual(['a', 'b']);

    for (const path of ['../secret.ndjson', join(dir, 'secret.ndjson'), '/etc/passwd']) {
      expect(() => openCohortSource(config({ from: 'file', path }), env)).toThrow(
        expect.objectContaining({
          reason: 'config',
          message: expect.stringMatching(
            /is outside .*: this worker reads them only below CIO_SYNC_COHORT_DIR$/,
          ),
        }),
      );
    }
    expect(() => openCohortSource(config({ from: 'file', path: '${DATA_DIR}/secret.ndjson' }), env)).toThrow(
      expect.objectContaining({ message: 'cohort.path: ${VAR} references are not resolved in a file path' }),
    );
    const link = openCohortSource(config({ from: 'file', path: 'link.ndjson' }), env);
    await expect(link.members()[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      reason: 'config',
      message: expect.stringMatching(/\/cohorts\/link\.ndjson: leads outside the cohort directory$/),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('cohort fields resolve only CIO_SYNC_COHORT_VARIABLES, and tokens go only to allowed URL hosts', () => {
  const amplitude = (apiKey: string) =>
    config({ from: 'amplitude', cohortId: 'c', apiKey, secretKey: '${AMP_SECRET_KEY}' });
  const env = { AMP_API_KEY: 'a', AMP_SECRET_KEY: 's', CIO_TRACK_API_KEY: 'track-secret' };
  expect(() => openCohortSource(amplitude('${AMP_API_KEY}'), env)).not.toThrow();
  expect(() => openCohortSource(amplitude('${CIO_TRACK_API_KEY}'), env)).toThrow(
    expect.objectContaining({
      reason: 'config',
      message:
        'environment variable CIO_TRACK_API_KEY (for cohort.apiKey) is not one this worker resolves there: allow it in CIO_SYNC_COHORT_VARIABLES',
    }),
  );
  const url = config({
    from: 'url',
    url: 'https://lists.example.com/m.csv',
    headers: { Authorization: 'Bearer ${CIO_COHORT_TOKEN}' },
  });
  const withToken = { CIO_COHORT_TOKEN: 't' };
  expect(() => openCohortSource(url, withToken)).toThrow(
    expect.objectContaining({
      message: 'cohort.url: its ${VAR} references are resolved only for hosts in CIO_SYNC_COHORT_URL_HOSTS',
    }),
  );
  expect(() =>
    openCohortSource(url, { ...withToken, CIO_SYNC_COHORT_URL_HOSTS: 'lists.example.com' }),
  ).not.toThrow();
  const overridden = config({
    from: 'amplitude',
    cohortId: 'c',
    apiKey: '${AMP_API_KEY}',
    secretKey: '${AMP_SECRET_KEY}',
    url: 'http://127.0.0.1:9/x',
  });
  expect(() => openCohortSource(overridden, env)).toThrow(
    expect.objectContaining({
      message:
        'cohort.url override "127.0.0.1:9" is not allowed by this worker: credentials go only to the region hosts unless CIO_SYNC_OVERRIDE_HOSTS lists the host',
    }),
  );
  expect(() => openCohortSource(overridden, { ...env, CIO_SYNC_OVERRIDE_HOSTS: '127.0.0.1' })).not.toThrow();
});

it('a URL that is not http(s) once resolved is a config error', () => {
  expect(() =>
    openCohortSource(config({ from: 'url', url: 'https://${CIO_COHORT_HOST}/x.csv' }), {
      CIO_COHORT_HOST: '/etc/passwd',
    }),
  ).toThrow(expect.objectContaining({ reason: 'config' }));
});
