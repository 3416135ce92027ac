/**
 * Processes for the benchmarks that run cio-sync as a user would (`make start`'s processes, a
 * Customer.io stand-in, load generators): start a script of this project as its own process (ingest
 * and the worker as `make start` starts them), or run one to its end, stop it, read its peak memory
 * and CPU time. Every process started here is killed when the benchmark exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadSettings } from '../src/settings.ts';
import { workerNodeArgs, workerProcessEnv } from '../src/worker-tuning.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
// A benchmark stopped by a signal (`timeout`, a kill of its pid alone) takes its processes along too.
for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const)
  process.once(signal, () => process.exit(code));

/**
 * Starts a script of this project as its own process; resolves once it prints `ready` (within
 * `readyMs`).
 */
export async function spawnScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  nodeArgs: readonly string[] = [],
  readyMs = 60_000,
) {
  const child = spawn(process.execPath, [...nodeArgs, resolve(ROOT, script), ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  const deadline = Date.now() + readyMs;
  while (!ready.test(out)) {
    if (child.exitCode !== null) throw new Error(`${script} exited (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) throw new Error(`${script} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out, match: ready.exec(out)! };
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** Starts a process's peak RSS (VmHWM) over from its current RSS, so the next peak is one phase's. */
export async function resetPeakRss(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  // "5" resets the peak resident set size (Linux, proc(5)); elsewhere the peak stays the whole run's.
  await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => {});
}

/** Peak RSS (MB, VmHWM) and CPU seconds of a live process, from /proc. */
export async function usage(
  pid: number | undefined,
): Promise<{ peakRssMb: number; cpuSeconds: number } | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    const ticks = Number(stat[11]) + Number(stat[12]);
    return { peakRssMb: Math.round(hwm), cpuSeconds: Math.round((ticks / 100) * 10) / 10 };
  } catch {
    return undefined;
  }
}

/**
 * The ingest server as `make start` runs it (`node src/ingest/server.ts --config <file>`), its own
 * process; `url` is where it listens (CIO_SYNC_INGEST_PORT in `env`, 0 for any free port).
 */
export async function spawnIngest(configPath: string, env: NodeJS.ProcessEnv) {
  const ingest = await spawnScript(
    'src/ingest/server.ts',
    ['--config', configPath],
    { LOG_LEVEL: 'info', ...env },
    /ingest listening at (http:\S+?)"/,
  );
  return { ...ingest, url: ingest.match[1]! };
}

/**
 * The worker as `make start` starts it (CIO_SYNC_WORKER_HEAP_MB, semi-spaces, MALLOC_ARENA_MAX), its
 * own process. BENCH_WORKER_NODE_OPTIONS profiles the worker alone, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 */
export function spawnWorker(env: NodeJS.ProcessEnv) {
  return spawnScript(
    'src/worker.ts',
    [],
    workerProcessEnv({
      ...process.env,
      ...env,
      LOG_LEVEL: 'info',
      NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS ?? '',
    }),
    /worker started/,
    workerNodeArgs(loadSettings()),
  );
}

/** What bench/loadgen.ts prints when it is done. */
export interface LoadResult {
  acked: number;
  failed: number;
  requests: number;
  /** Requests answered with something other than 200, by status (0: no answer). */
  errors: Record<string, number>;
  /** Events the webhook routes answered were in the log already. */
  duplicates: number;
  seconds: number;
  acksPerSecond: number;
  requestsPerSecond: number;
  meanBodyBytes: number;
  ackMs: { p50: number; p95: number; p99: number };
}

/**
 * Runs a script of this project to its end in its own process (stderr passed through); its exit
 * code and what it printed.
 */
export async function runScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [resolve(ROOT, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  // 'close', not 'exit': by then all it printed has been read.
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout };
}

/** Runs bench/loadgen.ts in its own process against `url` (`args` become its `--flags`). */
export async function runLoadgen(
  url: string,
  key: string,
  args: Record<string, string | number>,
): Promise<LoadResult> {
  const argv = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const { stdout } = await runScript('bench/loadgen.ts', ['--url', url, '--key', key, ...argv]);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult;
}
