import { stripVTControlCharacters } from 'node:util';

import pc from 'picocolors';

import type { CheckResult } from '../control/check.ts';
import type { PlanStep, SyncListRow } from '../control/syncs.ts';
import type { CapturedRequest, DeadLetter } from '../store/store.ts';
import type { CohortSyncStatus, LastError, StallInfo, StreamSyncStatus } from '../workflows/sync-api.ts';
import type { RedriveSummary } from '../workflows/activity-io.ts';

// The CLI's text output; with --json each command prints its value instead.

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

/** Columns padded to their widest cell (colour codes excluded from the width). */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const plain = (v: string | number) => stripVTControlCharacters(String(v));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => plain(r[i] ?? '').length)));
  const line = (cells: Array<string | number>) =>
    cells
      .map((c, i) => String(c) + ' '.repeat(Math.max(0, widths[i]! - plain(c).length)))
      .join('  ')
      .trimEnd();
  return [line(header.map((h) => pc.bold(h))), ...rows.map(line)].join('\n');
}

/** `apply`: a line per sync, with what was (or, with --dry-run, would be) done. */
export function describePlan(steps: PlanStep[], dryRun: boolean): string {
  return (
    steps.map((s) => `${dryRun ? pc.dim('(plan) ') : ''}${s.syncId}: ${s.actions.join(', ')}`).join('\n') ||
    'no syncs'
  );
}

/** `list`: the running syncs as a table. */
export function describeSyncList(rows: SyncListRow[]): string {
  if (rows.length === 0) return 'no running syncs';
  return table(
    ['SYNC', 'TYPE', 'STATUS', 'LAG', 'DELIVERED', 'DEAD LETTERS', 'LAST ERROR'],
    rows.map((r) => [
      r.syncId,
      r.type ?? '-',
      colourStatus(r.status),
      r.lag ?? '-',
      r.delivered ?? '-',
      r.deadLettered ?? '-',
      r.lastError ?? '',
    ]),
  );
}

function counts(entries: Record<string, number>): string {
  return (
    Object.entries(entries)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ') || 'none'
  );
}

/** `status` of a stream sync, with the lag counted in the store. */
export function describeStream(status: StreamSyncStatus, lag: number): string {
  return [
    `${pc.bold(status.syncId)} (${status.type}: ${status.source} → ${status.destination}) ${colourStatus(status.status)}${stalledNote(status.stalled)}`,
    `cursor ${status.cursor}, lag ${lag}`,
    `delivered ${status.counters.delivered}, dead-lettered ${status.counters.deadLettered}, retried ${status.counters.retried}, requests ${status.counters.requests}`,
    `filtered ${counts(status.counters.filtered)}`,
    `deletions ${counts(status.counters.deletions ?? {})}`,
    lastErrorLine(status.lastError),
  ].join('\n');
}

/** `dead-letters --redrive`. */
export function describeRedrive(summary: RedriveSummary): string {
  return `redriven ${summary.redriven}: delivered ${summary.delivered}, dead-lettered again ${summary.deadLettered}${summary.error ? pc.red(`, error: ${summary.error}`) : ''}`;
}

/** `dead-letters`: each letter with its reason and record. */
export function describeDeadLetters(syncId: string, letters: DeadLetter[]): string {
  if (letters.length === 0) return `no dead letters for ${syncId}`;
  return letters
    .map(
      (l) =>
        `#${l.id} seq ${l.seq} ${new Date(l.createdAt).toISOString()} ${pc.red(l.reason)}${l.detail ? `: ${l.detail}` : ''}\n  ${JSON.stringify(l.record)}`,
    )
    .join('\n');
}

/** `requests`: what a dry-run destination recorded instead of sending. */
export function describeRequests(syncId: string, requests: CapturedRequest[]): string {
  if (requests.length === 0) return `no recorded requests for ${syncId}`;
  return requests
    .map(
      (r) =>
        `${pc.dim(new Date(r.createdAt).toISOString())} ${r.method} ${r.url}\n${JSON.stringify(r.body, null, 2)}`,
    )
    .join('\n');
}

/** `check`: the Track API's answer, and the App API's when a key is configured. */
export function describeCheck(destinationId: string, result: CheckResult): string {
  const mark = (ok: boolean) => (ok ? pc.green('ok') : pc.red('failed'));
  const lines = [
    `${pc.bold(destinationId)}: ${mark(result.ok)}`,
    `  Track API: ${mark(result.track.ok)}${result.track.region ? ` (region ${result.track.region}, workspace ${result.track.environmentId})` : ''}${result.track.message ? ` — ${result.track.message}` : ''}`,
  ];
  if (result.app) {
    lines.push(
      `  App API:   ${mark(result.app.ok)}${result.app.segments !== undefined ? ` (${result.app.segments} segments)` : ''}${result.app.message ? ` — ${result.app.message}` : ''}`,
    );
  }
  return lines.join('\n');
}
