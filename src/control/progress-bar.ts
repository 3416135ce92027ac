import { SingleBar } from 'cli-progress';

/** The progress bar the CLI draws on stderr while it waits (a cohort run, a backfill); none when asked not to. */
export function progressBar(format: string, show: boolean): SingleBar | undefined {
  return show ? new SingleBar({ format, stream: process.stderr, hideCursor: true }) : undefined;
}
