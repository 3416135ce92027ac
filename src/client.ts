// The `cio-sync` command (bin/cio-sync.js, `npm run cli`): the program is src/cli/.
import { runCli } from './cli/program.ts';

export { buildCli } from './cli/program.ts';
export { EXIT } from './cli/context.ts';
export { runCli };

if (import.meta.main) {
  process.exitCode = await runCli(process.argv);
}
