import type { Command } from 'commander';

import { loadConfig } from '../config/load.ts';
import { checkDestination } from '../control/check.ts';
import { SyncControlError } from '../control/syncs.ts';
import { EXIT, type CliContext } from './context.ts';
import { describeCheck } from './format.ts';

/** `check <destination> -f <file>`: asks Customer.io whether a destination's credentials work. */
export function registerCheckCommand(program: Command, ctx: CliContext): void {
  program
    .command('check <destination>')
    .description("verify a destination's Customer.io credentials and region (secrets from this environment)")
    .requiredOption('-f, --file <path>', 'config file')
    .action(async (destinationId: string, { file }: { file: string }) => {
      const config = await loadConfig(file);
      const destination = config.destinations.find((d) => d.id === destinationId);
      if (!destination) {
        throw new SyncControlError(
          `no destination "${destinationId}" in ${file} (destinations: ${config.destinations.map((d) => d.id).join(', ') || 'none'})`,
          true,
        );
      }
      const result = await checkDestination(destination, process.env);
      ctx.print(result, () => describeCheck(destinationId, result));
      if (!result.ok) process.exitCode = EXIT.failure;
    });
}
