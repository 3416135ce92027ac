import type { Command } from 'commander';

import { timeOrAgo } from '../config/duration.ts';
import { SyncControlError, setCursor, streamStatus } from '../control/syncs.ts';
import type { CliContext } from './context.ts';

/** `replay <sync> --since <time>`: moves a stream sync's cursor back to the first record since then. */
export function registerReplayCommand(program: Command, ctx: CliContext): void {
  program
    .command('replay <sync>')
    .description('rewind a stream sync to a point in time; Customer.io deduplicates events by id')
    .requiredOption('--since <time>', 'ISO time, or a duration ago like 2h')
    .action(async (syncId: string, { since }: { since: string }) => {
      const time = timeOrAgo(since, Date.now());
      if (time === undefined)
        throw new SyncControlError(`--since: expected an ISO time or a duration like 2h, got "${since}"`);
      const status = await ctx.withClient((client) => streamStatus(client, syncId));
      const seq = await ctx.withStore((store) => store.seqAtTime(status.source, time));
      const moved = await ctx.withClient((client) => setCursor(client, syncId, Math.max(0, seq - 1)));
      const sinceIso = new Date(time).toISOString();
      ctx.print(
        { syncId, since: sinceIso, ...moved },
        () => `${syncId}: cursor ${moved.previous} → ${moved.cursor} (records since ${sinceIso})`,
      );
    });
}
