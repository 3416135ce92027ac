import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { inject } from 'vitest';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface ChildHandle {
  child: ChildProcess;
  output: () => string;
  /** SIGKILL: no shutdown, no goodbye — what a crash looks like. */
  kill(): Promise<void>;
  /** SIGTERM and wait for a graceful exit. */
  stop(): Promise<number | null>;
}

/**
 * Runs one of the engine's entry points as its own process (as deployed), waiting until it prints
 * `readyText`. Output is kept for assertions and failure messages.
 */
export async function spawnEntry(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  readyText: string,
  timeoutMs = 30_000,
): Promise<ChildHandle> {
  const child = spawn(process.execPath, [resolve(ROOT, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + timeoutMs;
  while (!out.includes(readyText)) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${script} did not print "${readyText}" within ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = once(child, 'exit');
  // A test that times out never reaches its cleanup: do not let its processes outlive the run.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  void exited.then(() => process.off('exit', reap));
  return {
    child,
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

/** A worker process on the shared dev server, using the run's pre-built workflow bundle. */
export function spawnWorker(
  env: NodeJS.ProcessEnv & { CIO_SYNC_STORE: string; CIO_SYNC_TASK_QUEUE: string },
) {
  return spawnEntry(
    'src/worker.ts',
    [],
    {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      CIO_SYNC_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
      // Test files run side by side: each worker's metrics server takes a free port.
      CIO_SYNC_METRICS_PORT: '0',
      ...env,
    },
    'worker started',
  );
}
