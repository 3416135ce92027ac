import type { Command } from 'commander';

import type { CliContext } from './context.ts';
import { describeRequests } from './format.ts';

/** `requests <sync>`: what a dry-run destination recorded instead of sending. */
export function registerRequestsCommand(program: Command, ctx: CliContext): void {
  program
    .command('requests <sync>')
    .description('show the requests a dry-run destination recorded for a sync instead of sending them')
    .option('--limit <n>', 'how many to show', '20')
    .action(async (syncId: string, { limit }: { limit: string }) => {
      const requests = await ctx.withStore((store) =>
        store.listCapturedRequests(syncId, { limit: Number(limit) }),
      );
      ctx.print(requests, () => describeRequests(syncId, requests));
    });
}
