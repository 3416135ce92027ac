import { Command } from 'commander';
import pc from 'picocolors';

import { ConfigError } from '../config/load.ts';
import { PreviewInputError } from '../control/preview.ts';
import { SyncControlError } from '../control/syncs.ts';
import { SettingsError } from '../settings.ts';
import { registerApplyCommand } from './apply.ts';
import { registerBackfillCommand } from './backfill.ts';
import { registerCheckCommand } from './check.ts';
import { createContext, EXIT, type GlobalOptions } from './context.ts';
import { registerDeadLettersCommand } from './dead-letters.ts';
import { registerListCommand } from './list.ts';
import { registerPauseResumeCommands } from './pause-resume.ts';
import { registerPreviewCommand } from './preview.ts';
import { registerReplayCommand } from './replay.ts';
import { registerRequestsCommand } from './requests.ts';
import { registerResetCommand } from './reset.ts';
import { registerRunCommand } from './run.ts';
import { registerStatusCommand } from './status.ts';
import { registerValidateCommand } from './validate.ts';

/** The `cio-sync` program: the global options, then each command (one file each, in this folder). */
export function buildCli(): Command {
  const program = new Command('cio-sync')
    .description('Run and operate cio-sync: Amplitude/Segment data into Customer.io, durably, on Temporal.')
    .option('--json', 'machine-readable output')
    // Their defaults come from the settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CIO_SYNC_STORE).
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, else 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE, else default)')
    .option('--store <url>', 'store URL, sqlite:path or postgres://… (default: CIO_SYNC_STORE)')
    .showHelpAfterError();
  const ctx = createContext(() => program.opts<GlobalOptions>());

  registerValidateCommand(program, ctx);
  registerApplyCommand(program, ctx);
  registerListCommand(program, ctx);
  registerStatusCommand(program, ctx);
  registerRunCommand(program, ctx);
  registerPauseResumeCommands(program, ctx);
  registerReplayCommand(program, ctx);
  registerResetCommand(program, ctx);
  registerDeadLettersCommand(program, ctx);
  registerRequestsCommand(program, ctx);
  registerPreviewCommand(program, ctx);
  registerCheckCommand(program, ctx);
  registerBackfillCommand(program, ctx);
  return program;
}

/** The message on stderr and the exit code for an error a command threw. */
function reportError(err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`${pc.red('invalid config')}\n${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof SettingsError) {
    process.stderr.write(`${pc.red('invalid environment')}\n${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof PreviewInputError) {
    process.stderr.write(`${pc.red('invalid input')}\n${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof SyncControlError) {
    process.stderr.write(`${pc.red('error:')} ${err.message}\n`);
    return err.notFound ? EXIT.notFound : EXIT.failure;
  }
  process.stderr.write(`${pc.red('error:')} ${(err as Error).stack ?? String(err)}\n`);
  return EXIT.failure;
}

/** Runs the CLI on `argv` (process.argv's shape) and resolves to the exit code (EXIT). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    // Commands that end in a failure they have already reported set process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    return reportError(err);
  }
}
