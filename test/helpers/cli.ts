import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { inject } from 'vitest';

import { WORKER_ENV, type TestEngine } from './engine.ts';
import { ROOT } from './processes.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const workerPolicy = Object.fromEntries(
  Object.entries(WORKER_ENV).filter(([name]) => name.startsWith('CIO_SYNC_')),
);

/** Runs the `cio-sync` CLI as a process against a test engine's Temporal queue and store. */
export async function runCliProcess(
  engine: TestEngine,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'src/client.ts'), ...args],
      {
        env: {
          ...process.env,
          NO_COLOR: '1',
          TEMPORAL_ADDRESS: inject('temporalAddress'),
          CIO_SYNC_STORE: `sqlite:${engine.storePath}`,
          CIO_SYNC_TASK_QUEUE: engine.taskQueue,
          // validate and apply check a config against the worker's policy: the CLI has the worker's.
          ...workerPolicy,
          ...env,
        },
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
