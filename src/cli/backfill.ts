import type { Command } from 'commander';

import { loadConfig } from '../config/load.ts';
import {
  backfillInput,
  backfillProgress,
  describeBackfill,
  signalBackfill,
  startBackfill,
  waitForBackfill,
  DEFAULT_HOURS_PER_REQUEST,
  DEFAULT_RECORDS_PER_SECOND,
} from '../control/backfills.ts';
import { SyncControlError } from '../control/syncs.ts';
import { EXIT, type CliContext } from './context.ts';

interface BackfillOptions {
  file: string;
  from?: string;
  to?: string;
  zip?: string;
  hoursPerRequest: string;
  rate: string;
  force?: boolean;
  detach?: boolean;
  status?: boolean;
  pause?: boolean;
  resume?: boolean;
  cancel?: boolean;
}

function positiveInteger(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new SyncControlError(`${flag}: expected a whole number above 0, got "${text}"`);
  }
  return Number(text);
}

/** --status, --pause, --resume, --cancel: at most one, acting on the source's backfill. */
function controlAction(opts: BackfillOptions): 'status' | 'pause' | 'resume' | 'cancel' | undefined {
  const chosen = (['status', 'pause', 'resume', 'cancel'] as const).filter((name) => opts[name]);
  if (chosen.length > 1) throw new SyncControlError(`choose one of --${chosen.join(', --')}`);
  return chosen[0];
}

async function control(ctx: CliContext, sourceId: string, action: 'status' | 'pause' | 'resume' | 'cancel') {
  if (action === 'status') {
    const progress = await ctx.withClient((client) => backfillProgress(client, sourceId));
    return ctx.print(progress, () => describeBackfill(progress));
  }
  await ctx.withClient((client) => signalBackfill(client, sourceId, action));
  ctx.print(
    { backfill: `backfill/${sourceId}`, [action]: true },
    () => `backfill/${sourceId}: ${action} sent`,
  );
}

async function start(ctx: CliContext, sourceId: string, opts: BackfillOptions) {
  const config = await loadConfig(opts.file);
  const input = backfillInput(config, {
    sourceId,
    from: opts.from,
    to: opts.to,
    file: opts.zip,
    hoursPerRequest: positiveInteger(opts.hoursPerRequest, '--hours-per-request'),
    recordsPerSecond: positiveInteger(opts.rate, '--rate'),
    force: opts.force,
  });
  const progress = await ctx.withClient(async (client) => {
    await startBackfill(client, ctx.taskQueue(), input);
    return opts.detach ? undefined : waitForBackfill(client, sourceId, !ctx.json());
  });
  if (!progress) {
    return ctx.print(
      { backfill: `backfill/${sourceId}`, started: true },
      () => `backfill/${sourceId} started`,
    );
  }
  ctx.print(progress, () => describeBackfill(progress));
  if (progress.status !== 'completed') process.exitCode = EXIT.failure;
}

export function registerBackfillCommand(program: Command, ctx: CliContext): void {
  program
    .command('backfill <source>')
    .description(
      "append a source's Amplitude history (Export API hours, or an export zip) to its log, once, in time order",
    )
    .requiredOption('-f, --file <path>', 'config file (the source and its Export API keys)')
    .option('--from <hour>', 'first upload hour, UTC: 2026-11-01T00 or 20261101T00')
    .option('--to <hour>', 'last upload hour, included')
    .option('--zip <path>', 'an export zip already downloaded (a path the worker may read)')
    .option(
      '--hours-per-request <n>',
      'upload hours per Export API request',
      String(DEFAULT_HOURS_PER_REQUEST),
    )
    .option('--rate <n>', 'records appended per second at most', String(DEFAULT_RECORDS_PER_SECOND))
    .option('--force', 'read hours an earlier backfill finished again (insert ids still deduplicate)')
    .option('--detach', 'start it and return; watch with --status')
    .option('--status', "show the source's backfill")
    .option('--pause', "pause the source's backfill")
    .option('--resume', "resume the source's backfill")
    .option('--cancel', "stop the source's backfill for good")
    .action(async (sourceId: string, opts: BackfillOptions) => {
      const action = controlAction(opts);
      if (action) return control(ctx, sourceId, action);
      return start(ctx, sourceId, opts);
    });
}
