import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify, stripVTControlCharacters } from 'node:util';

import { inject } from 'vitest';

import { runCli } from '../../src/client.ts';
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

/** The environment a CLI run against a test engine's Temporal queue and store sees, over the test's. */
function cliEnv(engine: TestEngine, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    NO_COLOR: '1',
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    CIO_SYNC_STORE: `sqlite:${engine.storePath}`,
    CIO_SYNC_TASK_QUEUE: engine.taskQueue,
    // validate and apply check a config against the worker's policy: the CLI has the worker's.
    ...workerPolicy,
    ...env,
  };
}

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
      { env: { ...process.env, ...cliEnv(engine, env) } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface Capture {
  stdout: string;
  stderr: string;
  /** Set when the program called process.exit: a process would have ended there. */
  exited?: { code: number; stderrLength: number };
}

const captures = new AsyncLocalStorage<Capture>();
let queue: Promise<unknown> = Promise.resolve();

/** An exit the program asked for, thrown so that nothing after it runs (as in a process). */
class ExitCalled extends Error {}

/**
 * Runs the `cio-sync` CLI in this process, as runCliProcess runs it in its own and with the same
 * result (exit code, stdout, stderr), without a process start and module load per run (a second or
 * more each). What it writes to process.stdout and process.stderr is captured; writes made outside
 * the run's own async context (the test engine's worker in this process) pass through untouched.
 * The environment the run sees is the test's with the engine's settings over it, restored after;
 * runs take turns. Colour codes are taken out (a process run gets NO_COLOR=1, but picocolors reads
 * the environment once, at import). A process.exit (commander's, for a usage error) ends the run
 * with its code, as it would end a process.
 */
export function runCliInProcess(
  engine: TestEngine,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  const run = queue.then(() => runInProcess(cliEnv(engine, env), args));
  queue = run.catch(() => {});
  return run;
}

async function runInProcess(env: NodeJS.ProcessEnv, args: string[]): Promise<CliResult> {
  const saved = new Map(Object.keys(env).map((key) => [key, process.env[key]]));
  const savedExitCode = process.exitCode;
  const { stdout, stderr, exit } = process;
  const capture: Capture = { stdout: '', stderr: '' };
  const tty = { stdout: stdout.isTTY, stderr: stderr.isTTY };
  const intercept = (stream: NodeJS.WriteStream, key: 'stdout' | 'stderr') => {
    const write = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      const into = captures.getStore();
      if (into === undefined || into.exited) {
        return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      }
      into[key] += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    } as typeof stream.write;
    return () => {
      stream.write = write;
    };
  };
  const restoreStdout = intercept(stdout, 'stdout');
  const restoreStderr = intercept(stderr, 'stderr');
  // As for a process whose output is a pipe: no progress bar redrawn in place.
  stdout.isTTY = false;
  stderr.isTTY = false;
  process.exit = ((code?: number | string | null) => {
    const into = captures.getStore();
    if (into === undefined) return exit.call(process, code);
    into.exited ??= { code: Number(code ?? process.exitCode ?? 0), stderrLength: into.stderr.length };
    throw new ExitCalled(`process.exit(${String(code)})`);
  }) as typeof process.exit;
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  process.exitCode = undefined;
  try {
    const code = await captures.run(capture, () => runCli([process.execPath, 'cio-sync', ...args]));
    const exited = capture.exited;
    if (code !== 0) console.warn('DEBUG', args, code, capture);
    return {
      code: exited ? exited.code : code,
      stdout: stripVTControlCharacters(capture.stdout),
      stderr: stripVTControlCharacters(
        exited ? capture.stderr.slice(0, exited.stderrLength) : capture.stderr,
      ),
    };
  } finally {
    process.exitCode = savedExitCode;
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    process.exit = exit;
    stdout.isTTY = tty.stdout;
    stderr.isTTY = tty.stderr;
    restoreStdout();
    restoreStderr();
  }
}
