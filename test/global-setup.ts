import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { TestProject } from 'vitest/node';

import { findTemporalCli } from '../src/temporal/dev-server.ts';
import { bundleWorkflows } from '../src/temporal/bundle.ts';
import { SEARCH_ATTRIBUTES } from '../src/workflows/definitions.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

/**
 * One real Temporal dev server for the whole run (starting one per file races and is slow), and
 * the workflow bundle built once. CIO_SYNC_NO_TEMPORAL=1 skips both for quick unit-only runs.
 *
 * The server is @temporalio/testing's local environment on the project's own Temporal CLI binary
 * (`existing-path`: nothing is downloaded), configured as startDevServer configures `make start`:
 * the engine's search attributes registered and eager activity execution on. Tests get its address
 * and connect their own clients and workers, so a test never depends on this process's connections.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.CIO_SYNC_NO_TEMPORAL === '1') {
    project.provide('temporalAddress', '');
    project.provide('workflowBundlePath', '');
    return async () => {};
  }
  const cli = await findTemporalCli();
  const [env, code] = await Promise.all([startLocalEnvironment(cli), bundleWorkflows()]);
  const dir = await mkdtemp(join(tmpdir(), 'cio-sync-test-'));
  const bundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(bundlePath, code);
  project.provide('temporalAddress', env.address);
  project.provide('workflowBundlePath', bundlePath);
  return () => env.teardown();
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
