import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { PAGE as ENVIRONMENT_PAGE, withSettings } from '../../scripts/settings-table.ts';
import {
  DEFAULT_WORKER_HEAP_MB,
  loadSettings,
  settingsReference,
  SettingsError,
} from '../../src/settings.ts';
import {
  workerNodeArgs,
  workerProcessEnv,
  WORKER_MALLOC_ARENAS,
  WORKER_SEMI_SPACE_MB,
} from '../../src/worker-tuning.ts';

const ROOT = resolve(import.meta.dirname, '../..');

describe('loadSettings', () => {
  it('fills every default from an empty environment', () => {
    const settings = loadSettings({});
    expect(settings).toMatchObject({
      temporalAddress: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'cio-sync',
      storeUrl: 'sqlite:.data/cio-sync.db',
      ingestHost: '127.0.0.1',
      ingestPort: 8788,
      ingestHeadersTimeoutMs: 10_000,
      ingestBodyTimeoutMs: 30_000,
      ingestIdleTimeoutMs: 15_000,
      ingestMaxConnections: 512,
      ingestMaxDecodes: 8,
      ingestPreAuthBytes: 1_048_576,
      metricsHost: '127.0.0.1',
      metricsPort: 9464,
      logLevel: 'info',
      destinationVariables: ['CIO_SITE_ID', 'CIO_TRACK_API_KEY', 'CIO_APP_API_KEY', 'CIO_DESTINATION_*'],
      overrideHosts: [],
      cohortDir: 'cohorts',
    });
    expect(settings.configFile).toBeUndefined();
    expect(settings.workflowBundle).toBeUndefined();
  });

  it('parses what is set: durations, ports, lists, a level in any case; the store follows the data directory', () => {
    const settings = loadSettings({
      CIO_SYNC_INGEST_HEADERS_TIMEOUT: '2s',
      CIO_SYNC_INGEST_BODY_TIMEOUT: '1500',
      CIO_SYNC_INGEST_PORT: '0',
      CIO_SYNC_OVERRIDE_HOSTS: ' Localhost:8080, ,127.0.0.1 ',
      LOG_LEVEL: ' DEBUG ',
      CIO_SYNC_DATA: '/var/lib/cio-sync',
      TEMPORAL_ADDRESS: '',
    });
    expect(settings.ingestHeadersTimeoutMs).toBe(2000);
    expect(settings.ingestBodyTimeoutMs).toBe(1500);
    expect(settings.ingestPort).toBe(0);
    expect(settings.overrideHosts).toEqual(['localhost:8080', '127.0.0.1']);
    expect(settings.logLevel).toBe('debug');
    expect(settings.storeUrl).toBe('sqlite:/var/lib/cio-sync/cio-sync.db');
    // Empty is unset, except for a list, where it means "none".
    expect(settings.temporalAddress).toBe('127.0.0.1:7233');
    expect(loadSettings({ CIO_SYNC_DESTINATION_VARIABLES: '' }).destinationVariables).toEqual([]);
    expect(loadSettings({ CIO_SYNC_STORE: 'postgres://db/cio', CIO_SYNC_DATA: '/x' }).storeUrl).toBe(
      'postgres://db/cio',
    );
  });

  it('names every variable that does not parse, and what it expected', () => {
    let error: unknown;
    try {
      loadSettings({
        LOG_LEVEL: 'verbose',
        CIO_SYNC_INGEST_PORT: '70000',
        CIO_SYNC_INGEST_IDLE_TIMEOUT: 'soon',
        CIO_SYNC_INGEST_MAX_DECODES: '0',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).problems).toEqual([
      'CIO_SYNC_INGEST_PORT="70000": expected a port 0-65535',
      'CIO_SYNC_INGEST_IDLE_TIMEOUT="soon": expected a duration such as 10s or 500ms',
      'CIO_SYNC_INGEST_MAX_DECODES="0": expected a positive integer',
      'LOG_LEVEL="verbose": expected one of trace, debug, info, warn, error, fatal, silent',
    ]);
    expect(() => loadSettings({ CIO_SYNC_METRICS_PORT: 'x' })).toThrow(
      'invalid setting CIO_SYNC_METRICS_PORT="x": expected a port 0-65535',
    );
  });
});

/** Files below `dir` (skipping node_modules and data), as paths relative to the root. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && !e.parentPath.includes('node_modules') && /\.(ts|js|sh)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe('the settings reference', () => {
  it('is docs/environment.md, variable for variable (npm run docs:settings rewrites it)', async () => {
    const page = await readFile(ENVIRONMENT_PAGE, 'utf8');
    expect(page).toBe(await withSettings(page));
    for (const s of settingsReference()) expect(page).toContain(`\`${s.variable}\``);
  });

  it('names every CIO_SYNC_* and TEMPORAL_* variable the code, scripts and tests read', async () => {
    const known = new Set(settingsReference().map((s) => s.variable));
    const files = [
      ...(await filesUnder('src')),
      ...(await filesUnder('scripts')),
      ...(await filesUnder('test')),
      ...(await filesUnder('bin')),
      join(ROOT, 'Makefile'),
      join(ROOT, '.ci/run'),
    ];
    // docker-compose.yml's own inputs, read by docker compose as it renders the file
    // (docs/deployment.md), never by a cio-sync process.
    const compose = new Set(['CIO_SYNC_CONFIG_FILE', 'TEMPORAL_DB_PASSWORD']);
    const unknown = new Map<string, string>();
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      // A variable named in full (a prefix in a message, `CIO_SYNC_INGEST_`, is not one).
      for (const [name] of text.matchAll(/\b(?:CIO_SYNC|TEMPORAL)_[A-Z0-9_]*[A-Z0-9]\b/g)) {
        if (!known.has(name) && !compose.has(name)) unknown.set(name, file.slice(ROOT.length + 1));
      }
    }
    expect(Object.fromEntries(unknown)).toEqual({});
  });

  it('gives the worker the same heap limit wherever it is started: make start, npm run worker, the image, compose', async () => {
    const flag = `--max-old-space-size=${DEFAULT_WORKER_HEAP_MB}`;
    const young = `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`;
    expect(workerNodeArgs(loadSettings({}))).toEqual([flag, young]);
    expect(workerNodeArgs(loadSettings({ CIO_SYNC_WORKER_HEAP_MB: '512' }))).toEqual([
      '--max-old-space-size=512',
      young,
    ]);
    for (const file of ['Dockerfile', 'docker-compose.yml', 'package.json']) {
      const text = await readFile(join(ROOT, file), 'utf8');
      expect(text.match(/--max-old-space-size=\d+/g), file).toEqual([flag]);
      expect(text.match(/--max-semi-space-size=\d+/g), file).toEqual([young]);
    }
  });

  it('starts the worker with two malloc arenas unless the environment says otherwise, wherever it is started', async () => {
    expect(workerProcessEnv({ A: 'b' })).toEqual({ A: 'b', MALLOC_ARENA_MAX: String(WORKER_MALLOC_ARENAS) });
    expect(workerProcessEnv({ MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX).toBe('8');
    // compose runs the image, which sets it; npm run worker sets it too.
    expect(await readFile(join(ROOT, 'Dockerfile'), 'utf8')).toContain(
      `ENV MALLOC_ARENA_MAX=${WORKER_MALLOC_ARENAS}\n`,
    );
    expect(await readFile(join(ROOT, 'package.json'), 'utf8')).toContain(
      `MALLOC_ARENA_MAX=\${MALLOC_ARENA_MAX:-${WORKER_MALLOC_ARENAS}} node --max-old-space-size=`,
    );
  });
});
