import type { Command } from 'commander';

import { backfillProgress, backfillSourceOf, describeBackfill } from '../control/backfills.ts';
import { syncStatus } from '../control/syncs.ts';
import type { CliContext } from './context.ts';
import { describeCohort, describeStream } from './format.ts';

async function showStatus(ctx: CliContext, syncId: string): Promise<void> {
  const backfillSource = backfillSourceOf(syncId);
  if (backfillSource !== undefined) {
    const progress = await ctx.withClient((client) => backfillProgress(client, backfillSource));
    return ctx.print(progress, () => describeBackfill(progress));
  }
  const status = await ctx.withClient((client) => syncStatus(client, syncId));
  if (status.type === 'cohort') return ctx.print(status, () => describeCohort(status));
  // The store counts the lag exactly; the workflow's own figure serves when the store is out of reach.
  const lag = await ctx
    .withStore((store) => store.countAfter(status.source, status.cursor))
    .catch(() => status.lag);
  ctx.print({ ...status, lag }, () => describeStream(status, lag));
}

/** `status <sync>`: a stream or cohort sync's progress, or a backfill's (`backfill/<source>`). */
export function registerStatusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status <sync>')
    .description("show a sync's progress, counters and last error (or a backfill's: backfill/<source>)")
    .action((syncId: string) => showStatus(ctx, syncId));
}
