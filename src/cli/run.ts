import type { Command } from 'commander';

import { parseDuration } from '../config/duration.ts';
import { waitForCohortRun } from '../control/cohort-progress.ts';
import { SyncControlError, cohortStatus, runCohortNow } from '../control/syncs.ts';
import { EXIT, type CliContext } from './context.ts';
import { describeCohort } from './format.ts';

interface RunOptions {
  wait?: boolean;
  confirm?: boolean;
  timeout: string;
}

/** Asks for a run; with --wait, the summary once it has finished (with a progress bar unless --json). */
async function runNow(ctx: CliContext, syncId: string, { wait, confirm, timeout }: RunOptions) {
  return ctx.withClient(async (client) => {
    const before = await cohortStatus(client, syncId);
    if (confirm && !before.held)
      throw new SyncControlError(`${syncId} has no run held for a large removal (status ${before.status})`);
    await runCohortNow(client, syncId, { confirm });
    if (!wait) return undefined;
    return ctx.withStore((store) =>
      waitForCohortRun(client, store, syncId, before, parseDuration(timeout) ?? 3_600_000, !ctx.json()),
    );
  });
}

/** `run <sync>`: runs a cohort sync now. */
export function registerRunCommand(program: Command, ctx: CliContext): void {
  program
    .command('run <sync>')
    .description('run a cohort sync now, whatever its cadence')
    .option('--wait', 'wait for the run to finish, with a progress bar of ids applied')
    .option('--confirm', 'apply a run held because it would remove more than maxRemovalRatio of the segment')
    .option('--timeout <duration>', 'give up waiting after this long', '1h')
    .action(async (syncId: string, opts: RunOptions) => {
      const summary = await runNow(ctx, syncId, opts);
      if (!summary) return ctx.print({ syncId, started: true }, () => `${syncId}: run requested`);
      ctx.print(summary, () => describeCohort(summary));
      // The run it waited for failed.
      if (summary.lastError && summary.lastRun?.runId !== summary.currentRunId)
        process.exitCode = EXIT.failure;
    });
}
