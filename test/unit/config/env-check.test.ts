import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openCohortSource } from '../../../src/cohorts/index.ts';
import { DEFAULT_COHORT_VARIABLES, DEFAULT_DESTINATION_VARIABLES } from '../../../src/settings.ts';
import {
  allowConfigFile,
  assertConfigRuns,
  checkConfigAgainstEnv,
  EnvCheckError,
  formatEnvProblem,
  widenedSettings,
} from '../../../src/config/env-check.ts';
import { ConfigError, parseConfig } from '../../../src/config/load.ts';
import type { CohortSync } from '../../../src/config/schema.ts';
import { cohortFilePath, overrideProblem, workerEnvPolicy } from '../../../src/config/worker-env.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cio-sync-env-check-'));
  await mkdir(join(dir, 'cohorts'));
  await writeFile(join(dir, 'members.csv'), 'id\na\nb\n');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A config whose every line the checks below point at (line numbers in the comments). */
const text = () => `sources:
  - id: web
    apiKey: \${WEB_API_KEY}
    exportUrl: https://export.example.com:8443/api
destinations:
  - id: acc
    siteId: \${ACC_SITE_ID}
    trackApiKey: \${CIO_TRACK_API_KEY}
    trackUrl: http://localhost:9999
  - id: dry
    siteId: \${ANYTHING}
    trackApiKey: \${ANYTHING_ELSE}
    trackUrl: http://dry.example.com
    dryRun: true
syncs:
  - id: file-cohort
    type: cohort
    destination: acc
    segment: { id: 1 }
    cohort:
      from: file
      path: ${join(dir, 'members.csv')}
  - id: url-cohort
    type: cohort
    destination: acc
    segment: { id: 2 }
    cohort:
      from: url
      url: https://lists.example.com/members.csv?token=\${CIO_COHORT_TOKEN}
  - id: amp-cohort
    type: cohort
    destination: acc
    segment: { id: 3 }
    cohort:
      from: amplitude
      cohortId: abc
      apiKey: \${AMP_API_KEY}
      secretKey: \${MY_AMP_SECRET}
      url: https://amp.example.com
`;

const ENV = {
  CIO_SYNC_COHORT_DIR: 'cohorts',
  CIO_TRACK_API_KEY: 'k',
  CIO_COHORT_TOKEN: 't',
  AMP_API_KEY: 'a',
};

function check(env: NodeJS.ProcessEnv = ENV) {
  const source = { file: 'cio-sync.yaml', text: text() };
  return checkConfigAgainstEnv(parseConfig(source.text, source.file), source, env, dir);
}

describe('checkConfigAgainstEnv', () => {
  it('reports what the worker will refuse, each at its config line with the setting that allows it', () => {
    const problems = check();
    expect(problems.map(({ line, field, kind, allow }) => ({ line, field, kind, allow }))).toEqual([
      {
        line: 4,
        field: 'sources[0].exportUrl',
        kind: 'refused',
        allow: { setting: 'CIO_SYNC_OVERRIDE_HOSTS', entry: 'export.example.com:8443' },
      },
      {
        line: 7,
        field: 'destinations[0].siteId',
        kind: 'refused',
        allow: { setting: 'CIO_SYNC_DESTINATION_VARIABLES', entry: 'ACC_SITE_ID' },
      },
      {
        line: 9,
        field: 'destinations[0].trackUrl',
        kind: 'refused',
        allow: { setting: 'CIO_SYNC_OVERRIDE_HOSTS', entry: 'localhost:9999' },
      },
      {
        line: 22,
        field: 'syncs[0].cohort.path',
        kind: 'refused',
        allow: { setting: 'CIO_SYNC_COHORT_DIR', entry: join(dir, 'members.csv') },
      },
      {
        line: 29,
        field: 'syncs[1].cohort.url',
        kind: 'refused',
        allow: { setting: 'CIO_SYNC_COHORT_URL_HOSTS', entry: 'lists.example.com' },
      },
      {
        line: 38,
        field: 'syncs[2].cohort.secretKey',
        kind: 'refused',
        allow: { setting: 'CIO_SYNC_COHORT_VARIABLES', entry: 'MY_AMP_SECRET' },
      },
      {
        line: 39,
        field: 'syncs[2].cohort.url',
        kind: 'refused',
        allow: { setting: 'CIO_SYNC_OVERRIDE_HOSTS', entry: 'amp.example.com' },
      },
    ]);
  });

  it('says each as file:line: message (allow it with SETTING=value), the value keeping what the setting allows', () => {
    const lines = check().map((p) => formatEnvProblem(p, ENV, dir));
    expect(lines[1]).toBe(
      'cio-sync.yaml:7: destination acc siteId: the worker does not resolve ${ACC_SITE_ID} in a destination field ' +
        `(allow it with CIO_SYNC_DESTINATION_VARIABLES=${[...DEFAULT_DESTINATION_VARIABLES, 'ACC_SITE_ID'].join(',')})`,
    );
    // The worker's own message (the one its hold would show), then the setting.
    const policy = workerEnvPolicy(ENV, dir);
    expect(lines[2]).toBe(
      `cio-sync.yaml:9: ${overrideProblem('http://localhost:9999', 'destination acc trackUrl', policy)} ` +
        '(allow it with CIO_SYNC_OVERRIDE_HOSTS=localhost:9999)',
    );
    const file = cohortFilePath(join(dir, 'members.csv'), policy);
    expect(file.ok).toBe(false);
    expect(lines[3]).toBe(
      `cio-sync.yaml:22: ${file.ok ? '' : file.message} ` +
        `(allow it with CIO_SYNC_COHORT_DIR=${join(dir, 'cohorts')}${delimiter}${join(dir, 'members.csv')})`,
    );
    expect(lines[4]).toBe(
      'cio-sync.yaml:29: cohort.url: its ${VAR} references are resolved only for hosts in CIO_SYNC_COHORT_URL_HOSTS ' +
        '(allow it with CIO_SYNC_COHORT_URL_HOSTS=lists.example.com)',
    );
    expect(lines[5]).toBe(
      'cio-sync.yaml:38: cohort.secretKey: the worker does not resolve ${MY_AMP_SECRET} in a cohort source field ' +
        `(allow it with CIO_SYNC_COHORT_VARIABLES=${[...DEFAULT_COHORT_VARIABLES, 'MY_AMP_SECRET'].join(',')})`,
    );
  });

  it('leaves a dry-run destination alone, and calls an allowed variable this environment lacks a warning, not a refusal', () => {
    const problems = check({ ...ENV, CIO_TRACK_API_KEY: undefined });
    expect(problems.some((p) => p.field.startsWith('destinations[1]'))).toBe(false);
    const unset = problems.filter((p) => p.kind === 'unset');
    expect(unset.map((p) => formatEnvProblem(p, ENV, dir))).toEqual([
      'cio-sync.yaml:8: warning: environment variable CIO_TRACK_API_KEY (for destination acc trackApiKey) is not set here: the worker needs it in its own environment',
    ]);
  });

  it('widens each setting by exactly the entries the file names; then nothing is refused, and the worker reads the file', async () => {
    const widened = widenedSettings(check(), ENV, dir);
    expect(widened).toEqual({
      CIO_SYNC_OVERRIDE_HOSTS: 'export.example.com:8443,localhost:9999,amp.example.com',
      CIO_SYNC_DESTINATION_VARIABLES: [...DEFAULT_DESTINATION_VARIABLES, 'ACC_SITE_ID'].join(','),
      CIO_SYNC_COHORT_DIR: [join(dir, 'cohorts'), join(dir, 'members.csv')].join(delimiter),
      CIO_SYNC_COHORT_URL_HOSTS: 'lists.example.com',
      CIO_SYNC_COHORT_VARIABLES: [...DEFAULT_COHORT_VARIABLES, 'MY_AMP_SECRET'].join(','),
    });
    const env = { ...ENV, ...widened, ACC_SITE_ID: 's', MY_AMP_SECRET: 'x' };
    expect(check(env)).toEqual([]);

    // The worker's own cohort opening reads the named file, and only it, outside the directory.
    const sync = parseConfig(text()).syncs[0] as CohortSync;
    const ids: string[] = [];
    for await (const chunk of openCohortSource(sync.cohort, env, { cwd: dir }).members()) ids.push(...chunk);
    expect(ids).toEqual(['a', 'b']);
    await writeFile(join(dir, 'other.csv'), 'id\nz\n');
    expect(() =>
      openCohortSource({ ...sync.cohort, path: join(dir, 'other.csv') } as CohortSync['cohort'], env, {
        cwd: dir,
      }),
    ).toThrow(/is outside .*: this worker reads them only below CIO_SYNC_COHORT_DIR$/);
  });

  it('refuses a ${VAR} in a cohort file path with no setting to allow it', () => {
    const source = {
      file: 'c.yaml',
      text: `sources: []
destinations: [{ id: d, siteId: s, trackApiKey: '\${CIO_TRACK_API_KEY}' }]
syncs:
  - { id: f, type: cohort, destination: d, segment: { id: 1 }, cohort: { from: file, path: '\${HOME}/x.csv' } }
`,
    };
    const problems = checkConfigAgainstEnv(parseConfig(source.text), source, ENV, dir);
    expect(problems.map((p) => formatEnvProblem(p, ENV, dir))).toEqual([
      'c.yaml:4: cohort.path: ${VAR} references are not resolved in a file path (no setting allows it)',
    ]);
  });
});

describe('assertConfigRuns (validate, apply)', () => {
  it('throws an EnvCheckError, a ConfigError (exit 2), naming every refusal; unset variables only warn', async () => {
    const file = join(dir, 'cio-sync.yaml');
    await writeFile(file, text());
    const warnings: string[] = [];
    const env = { ...ENV, CIO_TRACK_API_KEY: undefined };
    const err = await assertConfigRuns(file, parseConfig(text(), file), env, (l) => warnings.push(l)).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EnvCheckError);
    expect(err).toBeInstanceOf(ConfigError);
    const lines = (err as Error).message.split('\n');
    expect(lines[0]).toBe('the worker in this environment would refuse it:');
    expect(lines.slice(1).map((l) => l.split(': ')[0])).toEqual(
      [4, 7, 9, 22, 29, 38, 39].map((line) => `${file}:${line}`),
    );
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`^${file}:8: warning: environment variable CIO_TRACK_API_KEY`)),
    ]);

    await writeFile(
      file,
      'sources: []\ndestinations: [{ id: d, siteId: s, trackApiKey: "${CIO_TRACK_API_KEY}" }]\nsyncs: []\n',
    );
    const fine = parseConfig(await readFile(file, 'utf8'), file);
    await expect(assertConfigRuns(file, fine, env, () => {})).resolves.toBeUndefined();
  });
});

describe('allowConfigFile (make start)', () => {
  it('gives the worker beside a file exactly what the file names, and refuses what no setting allows', async () => {
    const file = join(dir, 'start.yaml');
    await writeFile(file, text());
    const { settings, notes } = await allowConfigFile(file, parseConfig(text(), file), ENV, dir);
    expect(settings).toEqual(widenedSettings(check(), ENV, dir));
    expect(notes).toContain(
      `${file}:9: the worker started here allows localhost:9999 in CIO_SYNC_OVERRIDE_HOSTS`,
    );
    // A setting the environment already has keeps its entries; the others are untouched.
    const own = await allowConfigFile(
      file,
      parseConfig(text(), file),
      { ...ENV, CIO_SYNC_OVERRIDE_HOSTS: 'a.example.com' },
      dir,
    );
    expect(own.settings.CIO_SYNC_OVERRIDE_HOSTS).toBe(
      'a.example.com,export.example.com:8443,localhost:9999,amp.example.com',
    );
    expect(Object.keys(own.settings)).not.toContain('CIO_SYNC_BACKFILL_DIR');

    await writeFile(file, 'sources: []\ndestinations: []\nsyncs: []\n');
    expect(
      await allowConfigFile(file, parseConfig('sources: []\ndestinations: []\nsyncs: []\n'), ENV, dir),
    ).toEqual({ settings: {}, notes: [] });
  });
});
