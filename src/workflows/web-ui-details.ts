/**
 * What the Temporal Web UI shows of a sync while it runs: the workflow's current details (Markdown,
 * kept up to date by the workflow) and the one-line summary each activity is scheduled with, so
 * the history reads as an audit log. Pure and sandbox-safe: strings from state, nothing else.
 */
import type { CohortSyncSpec, StreamSyncSpec } from '../config/schema.ts';
import type { CohortSyncState, LastError, StallInfo, StreamSyncState } from './sync-api.ts';

/** 1234567 → "1,234,567" (Intl is not relied on inside the workflow sandbox). */
export function count(n: number): string {
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 604800000 → "7d", 90000 → "90s": the largest unit that divides it. */
function duration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

function errorLines(lastError: LastError | undefined, stalled: StallInfo | undefined): string[] {
  const lines: string[] = [];
  if (stalled) lines.push(`**stalled** since ${stalled.since} after ${plural(stalled.attempts, 'attempt')}.`);
  if (lastError) {
    const status = lastError.status === undefined ? '' : ` (HTTP ${lastError.status})`;
    const type = lastError.type === undefined ? '' : ` [${lastError.type}]`;
    // One line: a multi-line error would break the Markdown list it sits in.
    lines.push(`last error${status}${type} at ${lastError.at}: ${lastError.message.replace(/\s+/g, ' ')}`);
  }
  return lines;
}

export function streamDetails(spec: StreamSyncSpec, state: StreamSyncState): string {
  const c = state.counters;
  const lag = Math.max(0, state.headSeq - state.cursor);
  const filtered = Object.entries(c.filtered)
    .map(([reason, n]) => `${reason} ${count(n)}`)
    .join(', ');
  const lines = [
    `**${state.status}** · ${spec.sync.source} → ${spec.destination.id} · cursor **${count(state.cursor)}** ` +
      `of ${count(state.headSeq)} (lag ${count(lag)})`,
    '',
    `- delivered ${count(c.delivered)} · dead-lettered ${count(c.deadLettered)}` +
      (filtered ? ` · filtered ${filtered}` : '') +
      ` · retried ${count(c.retried)} · requests ${count(c.requests)}`,
    `- last delivery ${state.lastDeliveryAt ?? 'none yet'}`,
    ...(state.lanes.length > 1 ? [`- lane cursors ${state.lanes.map(count).join(' / ')}`] : []),
    ...errorLines(state.lastError, state.stalled).map((line) => `- ${line}`),
  ];
  return lines.join('\n');
}

export function cohortDetails(spec: CohortSyncSpec, state: CohortSyncState): string {
  const c = state.counters;
  const last = state.lastRun;
  const lines = [
    `**${state.status}** · ${spec.sync.cohort.from} → ${spec.destination.id} (${spec.sync.target})`,
    '',
    state.current
      ? `- run ${state.current.runId} in progress (${state.current.stage}), started ${state.current.startedAt}`
      : `- next run ${state.nextRunAt === undefined ? 'on request' : new Date(state.nextRunAt).toISOString()}`,
    last
      ? `- last run ${last.runId} finished ${last.finishedAt}: ${count(last.members)} members, ` +
        `+${count(last.added)} / −${count(last.removed)}` +
        (last.rejected ? `, ${count(last.rejected)} rejected` : '')
      : '- no run finished yet',
    `- runs ${count(c.runs)} · added ${count(c.added)} · removed ${count(c.removed)} · skipped ${count(c.skipped)}`,
    ...(state.held
      ? [
          `- **held**: run ${state.held.runId} would remove ${count(state.held.toRemove)} of ` +
            `${count(state.held.baselineMembers)} members; \`cio-sync run ${spec.sync.id} --confirm\` applies it`,
        ]
      : []),
    ...errorLines(state.lastError, state.stalled).map((line) => `- ${line}`),
  ];
  return lines.join('\n');
}

/** Activity summaries: one line each, what the activity does and to where. */
export const activitySummary = {
  deliverLane: (spec: StreamSyncSpec, lane: number, lanes: number, after: number) =>
    `${lanes > 1 ? `lane ${lane + 1}/${lanes}: ` : ''}deliver ${spec.sync.source} records after ` +
    `#${count(after)} → Customer.io (${spec.destination.id})`,
  dispatchLanes: (spec: StreamSyncSpec, lanes: number) =>
    `wait for ${spec.sync.source} records (${lanes} lanes idle)`,
  pruneLog: (spec: StreamSyncSpec, retentionMs: number) =>
    `prune ${spec.sync.source} log entries every sync has passed, older than ${duration(retentionMs)}`,
  setStreamCursor: (cursor: number) => `move the cursor to #${count(cursor)} (replay / reset)`,
  redrive: (ids: readonly unknown[] | undefined) =>
    `redrive ${ids === undefined ? 'all open dead letters' : plural(ids.length, 'dead letter')} → Customer.io`,
  checkSpec: (type: string) => `check the ${type} sync's spec against the config schema`,
  startCohortRun: (runNumber: number) => `start cohort run ${runNumber}`,
  ensureSegment: (spec: CohortSyncSpec) =>
    spec.sync.target === 'attribute'
      ? `check the attribute target`
      : spec.sync.segment?.id !== undefined
        ? `use segment ${spec.sync.segment.id}`
        : `find or create segment "${spec.sync.segment?.name ?? ''}"`,
  snapshotCohort: (spec: CohortSyncSpec, runId: string) =>
    `snapshot the ${spec.sync.cohort.from} cohort (run ${runId}) and diff it against the last run`,
  applyCohortDiff: (
    spec: CohortSyncSpec,
    runId: string,
    diff: { toAdd?: number; toRemove?: number } | undefined,
  ) =>
    `apply run ${runId}` +
    (diff?.toAdd !== undefined && diff.toRemove !== undefined
      ? `: +${count(diff.toAdd)} / −${count(diff.toRemove)} members`
      : '') +
    ` → Customer.io ${spec.sync.target === 'attribute' ? 'attribute' : 'segment'} (${spec.destination.id})`,
  nextCohortRunAt: (expression: string) => `next time of cron "${expression}"`,
};
