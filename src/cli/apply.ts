import type { Command } from 'commander';

import { assertConfigRuns } from '../config/env-check.ts';
import { loadConfig } from '../config/load.ts';
import { applyConfig } from '../control/syncs.ts';
import type { CliContext } from './context.ts';
import { describePlan } from './format.ts';

interface ApplyOptions {
  file: string;
  prune?: boolean;
  dryRun?: boolean;
}

/** `apply -f <file>`: reconciles the running syncs with a config file. */
export function registerApplyCommand(program: Command, ctx: CliContext): void {
  program
    .command('apply')
    .description('start, update, pause and resume syncs to match a config file')
    .requiredOption('-f, --file <path>', 'config file')
    .option('--prune', 'stop running syncs that the file no longer has')
    .option('--dry-run', 'print the plan without changing anything')
    .action(async ({ file, prune, dryRun }: ApplyOptions) => {
      const config = await loadConfig(file);
      await assertConfigRuns(file, config); // what the worker here would refuse: exit 2
      const steps = await ctx.withClient((client) =>
        applyConfig(client, config, { taskQueue: ctx.taskQueue(), prune, dryRun }),
      );
      ctx.print({ dryRun: Boolean(dryRun), steps }, () => describePlan(steps, Boolean(dryRun)));
    });
}
