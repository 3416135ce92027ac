import type { Command } from 'commander';

import { listSyncs } from '../control/syncs.ts';
import type { CliContext } from './context.ts';
import { describeSyncList } from './format.ts';

/** `list`: the running syncs, a row each. */
export function registerListCommand(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('list running syncs with their status, lag and counters')
    .action(async () => {
      const rows = await ctx.withClient((client) => listSyncs(client));
      ctx.print(rows, () => describeSyncList(rows));
    });
}
