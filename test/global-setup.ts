import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { startDevServer, type DevServer } from '../src/temporal/dev-server.ts';
import { bundleWorkflows } from '../src/temporal/bundle.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

/**
 * One real Temporal dev server for the whole run (starting one per file races and is slow), and
 * the workflow bundle built once. CIO_SYNC_NO_TEMPORAL=1 skips both for quick unit-only runs.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.CIO_SYNC_NO_TEMPORAL === '1') {
    project.provide('temporalAddress', '');
    project.provide('workflowBundlePath', '');
    return async () => {};
  }
  const [server, code] = await Promise.all([startDevServer({ uiPort: false }), bundleWorkflows()]);
  const dir = await mkdtemp(join(tmpdir(), 'cio-sync-test-'));
  const bundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(bundlePath, code);
  project.provide('temporalAddress', server.address);
  project.provide('workflowBundlePath', bundlePath);
  return () => (server as DevServer).stop();
}
