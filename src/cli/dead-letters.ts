import type { Command } from 'commander';

import { redrive } from '../control/syncs.ts';
import type { CliContext } from './context.ts';
import { describeDeadLetters, describeRedrive } from './format.ts';

/** `dead-letters <sync>`: lists a sync's dead letters, or with --redrive sends them again. */
export function registerDeadLettersCommand(program: Command, ctx: CliContext): void {
  program
    .command('dead-letters <sync>')
    .description('list the records a sync could not deliver, or send them again with --redrive')
    .option('--redrive', 'send them again with the current config')
    .option('--limit <n>', 'how many to list', '50')
    .action(async (syncId: string, { redrive: doRedrive, limit }: { redrive?: boolean; limit: string }) => {
      if (doRedrive) {
        const summary = await ctx.withClient((client) => redrive(client, syncId));
        return ctx.print(summary, () => describeRedrive(summary));
      }
      const letters = await ctx.withStore((store) => store.listDeadLetters(syncId, { limit: Number(limit) }));
      ctx.print(letters, () => describeDeadLetters(syncId, letters));
    });
}
