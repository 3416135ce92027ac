import pc from 'picocolors';

import type { CohortSyncStatus, LastError, StallInfo } from '../workflows/definitions.ts';

/** Status words coloured for a terminal (picocolors honours NO_COLOR). */
export function colourStatus(status: string): string {
  if (status.startsWith('running')) return pc.green(status);
  if (status === 'paused') return pc.yellow(status);
  return pc.red(status);
}

export function lastErrorLine(error: LastError | undefined): string {
  if (!error) return 'no errors';
  const what = [error.type, error.status !== undefined && `HTTP ${error.status}`].filter(Boolean).join(', ');
  return pc.red(`last error (${error.at}${what ? `; ${what}` : ''}): ${error.message}`);
}

/** ` (12 failed attempts since …)` for a stalled sync, else nothing. */
export function stalledNote(stalled: StallInfo | undefined): string {
  return stalled ? pc.red(` (${stalled.attempts} failed attempts since ${stalled.since})`) : '';
}

export function describeCohort(status: CohortSyncStatus): string {
  const run = status.lastRun;
  return [
    `${pc.bold(status.syncId)} (cohort → ${status.destination}) ${colourStatus(status.running && status.status === 'running' ? 'running (applying)' : status.status)}${stalledNote(status.stalled)}`,
    ...(status.held
      ? [
          pc.red(
            `run ${status.held.runId} held: it would remove ${status.held.toRemove} of ${status.held.baselineMembers} members ` +
              `(over maxRemovalRatio ${status.held.maxRemovalRatio}; the source now has ${status.held.members}). ` +
              `Apply it with: cio-sync run ${status.syncId} --confirm`,
          ),
        ]
      : []),
    run
      ? `last run ${run.runId} (${run.finishedAt}): members ${run.members}, added ${run.added}, removed ${run.removed}, skipped ${run.skipped}${run.unknown === undefined ? '' : `, unknown to Customer.io ${run.unknown}`}${rejectedNote(run.rejected, run.rejectedReasons)}`
      : 'no run yet',
    `next run ${status.nextRunAt ?? 'on demand (run <sync>)'}`,
    `totals: runs ${status.counters.runs}, added ${status.counters.added}, removed ${status.counters.removed}, skipped ${status.counters.skipped}, rejected by Customer.io ${status.counters.rejected ?? 0}`,
    lastErrorLine(status.lastError),
  ].join('\n');
}

function rejectedNote(rejected: number | undefined, reasons: Record<string, number> | undefined): string {
  if (!rejected) return '';
  const why = Object.entries(reasons ?? {})
    .map(([reason, n]) => `${reason} ×${n}`)
    .join('; ');
  return pc.red(`, rejected by Customer.io ${rejected}${why ? ` (${why})` : ''}`);
}
