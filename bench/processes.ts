/**
 * Processes for the benchmarks that run cio-sync as a user would (`make start`'s processes, a
 * Customer.io stand-in, load generators): start a script of this project as its own process, stop
 * it, read its peak memory and CPU time. Every process started here is killed when the benchmark exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

/** Starts a script of this project as its own process; resolves once it prints `ready`. */
export async function spawnScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  nodeArgs: readonly string[] = [],
) {
  const child = spawn(process.execPath, [...nodeArgs, resolve(ROOT, script), ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  const deadline = Date.now() + 60_000;
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
