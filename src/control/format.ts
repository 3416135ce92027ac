import pc from 'picocolors';

import type { CohortSyncStatus, LastError } from '../workflows/definitions.ts';

/** Status words coloured for a terminal (picocolors honours NO_COLOR). */
export function colourStatus(status: string): string {
  if (status.startsWith('running')) return pc.green(status);
  if (status === 'paused') return pc.yellow(status);
  return pc.red(status);
}

export function lastErrorLine(error: LastError | undefined): string {
  return error ? pc.red(`last error (${error.at}): ${error.message}`) : 'no errors';
}

export function describeCohort(status: CohortSyncStatus): string {
  const run = status.lastRun;
  return [
    `${pc.bold(status.syncId)} (cohort → ${status.destination}) ${colourStatus(status.running ? 'running (applying)' : status.status)}`,
    run
      ? `last run ${run.runId} (${run.finishedAt}): members ${run.members}, added ${run.added}, removed ${run.removed}, skipped ${run.skipped}${run.unknown === undefined ? '' : `, unknown to Customer.io ${run.unknown}`}`
      : 'no run yet',
    `next run ${status.nextRunAt ?? 'on demand (run <sync>)'}`,
    `totals: runs ${status.counters.runs}, added ${status.counters.added}, removed ${status.counters.removed}, skipped ${status.counters.skipped}`,
    lastErrorLine(status.lastError),
  ].join('\n');
}
