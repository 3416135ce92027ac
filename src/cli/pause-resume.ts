import type { Command } from 'commander';

import { pauseSync, resumeSync } from '../control/syncs.ts';
import type { CliContext } from './context.ts';

/** `pause <sync>` and `resume <sync>`: a signal to the sync's workflow. */
export function registerPauseResumeCommands(program: Command, ctx: CliContext): void {
  for (const [name, fn, done] of [
    ['pause', pauseSync, 'paused'],
    ['resume', resumeSync, 'resumed'],
  ] as const) {
    program
      .command(`${name} <sync>`)
      .description(`${name} a sync (signal); the log keeps growing while it is paused`)
      .action(async (syncId: string) => {
        await ctx.withClient((client) => fn(client, syncId));
        ctx.print({ syncId, [done]: true }, () => `${syncId} ${done}`);
      });
  }
}
