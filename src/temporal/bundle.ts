import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bundleWorkflowCode } from '@temporalio/worker';

export const WORKFLOWS_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');

/** Bundles the workflow code once (webpack), so several workers can start without re-bundling. */
export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  return code;
}

const noop = () => {};
const quietLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: console.warn,
  error: console.error,
  log: noop,
};
