import { readFile } from 'node:fs/promises';

import type { Command } from 'commander';

import { loadConfig } from '../config/load.ts';
import { formatPreview, parsePreviewInput, PreviewInputError, previewCalls } from '../control/preview.ts';
import type { CliContext } from './context.ts';

interface PreviewOptions {
  file: string;
  input: string;
  source?: string;
}

/** `preview -f <file> --input <calls>`: the requests each stream sync would send; no Temporal, store or network. */
export function registerPreviewCommand(program: Command, ctx: CliContext): void {
  program
    .command('preview')
    .description(
      'print the Customer.io requests each stream sync would send for a file of sample calls, and why any call is not sent (no Temporal, store or network)',
    )
    .requiredOption('-f, --file <path>', 'config file')
    .requiredOption(
      '--input <path>',
      'sample calls: an Amplitude HTTP V2 body, a Segment call or batch, or NDJSON mixing them (one per line)',
    )
    .option('--source <id>', 'store every call in this source, whatever key it carries')
    .action(async ({ file, input, source }: PreviewOptions) => {
      const config = await loadConfig(file);
      let text: string;
      try {
        text = await readFile(input, 'utf8');
      } catch (err) {
        throw new PreviewInputError(`${input}: cannot read the input file: ${(err as Error).message}`);
      }
      const report = previewCalls(config, parsePreviewInput(text, input), {
        now: Date.now(),
        env: process.env,
        ...(source !== undefined && { sourceId: source }),
      });
      ctx.print(report, () => formatPreview(report));
    });
}
