import { setFlagsFromString } from 'node:v8';

/**
 * The young generation of the SDK's workflow thread, apart from the rest of the worker's.
 *
 * V8 reads `--max-semi-space-size` when it sets up an isolate's heap, and the SDK starts its
 * workflow thread (an isolate of its own) inside `Worker.create` without resource limits: the flag
 * as it stands at that moment is what the thread gets. So the flag is lowered around the call and
 * put back after it; the activities' isolate, set up at start, keeps the process's own value.
 */

const FLAG = /^--max[-_]semi[-_]space[-_]size(?:=(.*))?$/;

/**
 * The process's own `--max-semi-space-size` (MB), from its command line or NODE_OPTIONS (the
 * command line wins, as in Node; the last of each); 0, V8's "choose for me", when neither sets it.
 */
export function semiSpaceFlagOf(execArgv: readonly string[], nodeOptions = ''): number {
  return lastSemiSpace(execArgv) ?? lastSemiSpace(nodeOptions.split(/\s+/).filter(Boolean)) ?? 0;
}

function lastSemiSpace(args: readonly string[]): number | undefined {
  let found: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const match = FLAG.exec(args[i]!);
    if (!match) continue;
    const value = Number(match[1] ?? args[++i]);
    if (Number.isInteger(value) && value >= 0) found = value;
  }
  return found;
}

/**
 * Runs `start` with V8's semi-spaces capped at `semiSpaceMb` for every isolate created meanwhile
 * (the SDK awaits its workflow thread's start inside `Worker.create`), then restores the process's
 * own value (`processEnv`: the environment this process was started with) for isolates created later.
 */
export async function withNewIsolateSemiSpace<T>(
  semiSpaceMb: number,
  processEnv: NodeJS.ProcessEnv,
  start: () => Promise<T>,
): Promise<T> {
  const own = semiSpaceFlagOf(process.execArgv, processEnv.NODE_OPTIONS);
  setFlagsFromString(`--max-semi-space-size=${semiSpaceMb}`);
  try {
    return await start();
  } finally {
    setFlagsFromString(`--max-semi-space-size=${own}`);
  }
}
