import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bundleWorkflowCode } from '@temporalio/worker';

export const WORKFLOWS_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');

/**
 * Evaluated once per workflow thread and shared, frozen, by every workflow; any other module the
 * bundle imports is evaluated again for each cached workflow (the SDK keeps their state apart).
 * The SDK's API module holds no state of its own (a workflow's state is on its activator), and
 * sharing it took 100 syncs' workflow heap from 104 to 73 MB (bench/throughput.ts --phases many).
 * Nothing that mutates itself may go here: freezing breaks it (zod does; it is kept out of the
 * bundle instead, see src/config/spec-rules.ts).
 */
const SHARED_MODULES = ['@temporalio/workflow'];

/** Bundles the workflow code once (webpack), so several workers can start without re-bundling. */
export async function bundleWorkflows(): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    preloadModules: SHARED_MODULES,
    logger: quietLogger,
  });
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
