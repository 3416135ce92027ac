import type { Command } from 'commander';

import { SyncControlError, setCursor, streamStatus } from '../control/syncs.ts';
import type { CliContext } from './context.ts';

interface ResetOptions {
  to?: string;
  beginning?: boolean;
  head?: boolean;
}

/** Exactly one of --to, --beginning, --head, and --to a whole number. */
function checkOptions(opts: ResetOptions): void {
  const chosen = [opts.to !== undefined, Boolean(opts.beginning), Boolean(opts.head)].filter(Boolean);
  if (chosen.length !== 1)
    throw new SyncControlError('reset needs exactly one of --to <seq>, --beginning, --head');
  if (opts.to !== undefined && !/^\d+$/.test(opts.to))
    throw new SyncControlError(`--to: expected a seq (a whole number), got "${opts.to}"`);
}

/** `reset <sync>`: sets a stream sync's stored cursor. */
export function registerResetCommand(program: Command, ctx: CliContext): void {
  program
    .command('reset <sync>')
    .description(
      "move a stream sync's stored cursor: to a seq, back to the beginning of the log, or to its head (skip the backlog)",
    )
    .option('--to <seq>', 'the last seq to count as delivered (the next delivery starts after it)')
    .option('--beginning', 'deliver the whole log again (Customer.io deduplicates events by id)')
    .option('--head', 'skip everything logged so far')
    .action(async (syncId: string, opts: ResetOptions) => {
      checkOptions(opts);
      const result = await ctx.withClient(async (client) => {
        const status = await streamStatus(client, syncId);
        const cursor = opts.head
          ? await ctx.withStore((store) => store.headSeq(status.source))
          : opts.beginning
            ? 0
            : Number(opts.to);
        return setCursor(client, syncId, cursor);
      });
      ctx.print({ syncId, ...result }, () => `${syncId}: cursor ${result.previous} → ${result.cursor}`);
    });
}
