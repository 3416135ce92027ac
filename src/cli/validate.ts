import type { Command } from 'commander';
import pc from 'picocolors';

import { assertConfigRuns } from '../config/env-check.ts';
import { loadConfig } from '../config/load.ts';
import type { CliContext } from './context.ts';

/** `validate -f <file>`: checks a config file; loadConfig reports every problem with its line. */
export function registerValidateCommand(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .description('check a config file and report every problem with its line')
    .requiredOption('-f, --file <path>', 'config file')
    .action(async ({ file }: { file: string }) => {
      const config = await loadConfig(file);
      await assertConfigRuns(file, config); // what the worker here would refuse: exit 2
      const counts = {
        sources: config.sources.length,
        destinations: config.destinations.length,
        syncs: config.syncs.length,
      };
      ctx.print({ valid: true, ...counts }, () =>
        pc.green(
          `${file} is valid: ${counts.sources} source(s), ${counts.destinations} destination(s), ${counts.syncs} sync(s)`,
        ),
      );
    });
}
