import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { TestProject } from 'vitest/node';

import { openPostgresStore } from '../src/store/postgres.ts';
import { findTemporalCli } from '../src/temporal/dev-server.ts';
import { bundleWorkflows } from '../src/temporal/bundle.ts';
import { SEARCH_ATTRIBUTES } from '../src/workflows/sync-api.ts';
import { createTemplates, startPostgresServer, type TestPostgres } from './helpers/postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
    /** The run's PostgreSQL server (its `postgres` database); '' when no tier in the run needs it. */
    postgresUrl: string;
    postgresDir: string;
  }
}

/** What each tier (vitest project, vitest.config.ts) needs started before its first file. */
const NEEDS: Record<string, { temporal?: boolean; bundle?: boolean; postgres?: boolean }> = {
  unit: {},
  workflow: { bundle: true },
  integration: { temporal: true, bundle: true, postgres: true },
  system: { temporal: true, bundle: true, postgres: true },
};

/**
 * The servers of a run, started once and shared by every test file of every tier that needs them
 * (starting them per file races and is slow): one real Temporal dev server, the workflow bundle
 * built once, and one PostgreSQL server whose tests each get a database cloned from a template
 * (test/helpers/postgres.ts). A run of the unit tier alone starts nothing. CIO_SYNC_NO_TEMPORAL=1
 * skips Temporal and the bundle whatever runs.
 *
 * The Temporal server is @temporalio/testing's local environment on the project's own Temporal CLI
 * binary (`existing-path`: nothing is downloaded), configured as startDevServer configures
 * `make start`: the engine's search attributes registered and eager activity execution on. Tests
 * get its address and connect their own clients and workers, so a test never depends on this
 * process's connections.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const tiers = project.vitest.projects.map((p) => p.name);
  // An unknown project name (a run without the tiers' config) needs everything, as before.
  const needs = (key: 'temporal' | 'bundle' | 'postgres') =>
    tiers.some((tier) => (tier in NEEDS ? NEEDS[tier]?.[key] === true : true));
  const skipTemporal = process.env.CIO_SYNC_NO_TEMPORAL === '1';
  const wantTemporal = needs('temporal') && !skipTemporal;
  const wantBundle = needs('bundle') && !skipTemporal;
  const wantPostgres = needs('postgres');

  const cleanups: Array<() => Promise<void>> = [];
  const teardown = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(console.error);
  };
  try {
    const [env, code, postgres] = await Promise.all([
      wantTemporal ? startLocalEnvironment(await findTemporalCli()) : undefined,
      wantBundle ? bundleWorkflows() : undefined,
      wantPostgres ? startSharedPostgres() : undefined,
    ]);
    if (env) cleanups.push(() => env.teardown());
    if (postgres) cleanups.push(() => postgres.stop());
    let bundlePath = '';
    if (code !== undefined) {
      const dir = await mkdtemp(join(tmpdir(), 'cio-sync-test-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      bundlePath = join(dir, 'workflow-bundle.js');
      await writeFile(bundlePath, code);
    }
    project.provide('temporalAddress', env?.address ?? '');
    project.provide('workflowBundlePath', bundlePath);
    project.provide('postgresUrl', postgres?.connectionString ?? '');
    project.provide('postgresDir', postgres?.dir ?? '');
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}

/** The run's PostgreSQL server, with the empty and the migrated store templates its tests clone. */
async function startSharedPostgres(): Promise<TestPostgres> {
  const server = await startPostgresServer();
  try {
    await createTemplates(server.connectionString, async (url) => {
      const store = await openPostgresStore(url);
      await store.close();
    });
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/**
 * The SDK gives the dev server a few seconds to answer on its port; on a loaded 2-core machine
 * (the workflow bundle builds at the same time) the first start can miss that, so try again.
 */
async function startLocalEnvironment(cli: string, attempts = 3): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: cli },
          ip: '127.0.0.1',
          searchAttributes: SEARCH_ATTRIBUTES,
          extraArgs: ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'],
        },
      });
    } catch (err) {
      if (attempt >= attempts) throw err;
      console.warn(
        `the Temporal dev server did not start (attempt ${attempt} of ${attempts}): ${String(err)}`,
      );
    }
  }
}
