import { ApplicationFailure, Context } from '@temporalio/activity';
import { CronExpressionParser } from 'cron-parser';

import { openCohortSource } from '../cohorts/index.ts';
import { CohortSourceError } from '../cohorts/errors.ts';
import type { CohortSyncSpec } from '../config/schema.ts';
import { MAX_SEGMENT_IDS_PER_CALL } from '../customerio/limits.ts';
import { invalidMemberId } from '../mapping/cohort.ts';
import type { CohortApplyProgress } from '../store/cohorts/store.ts';
import type { CohortRunSummary } from '../workflows/activity-io.ts';
import {
  appCall,
  cohortClient,
  sendChunkPatiently,
  unknownMembers,
  type PhaseTarget,
} from './cohort-customerio.ts';
import type { ActivityDeps } from './deps.ts';

/**
 * Ids written to the snapshot per transaction. A crash mid-snapshot reads the cohort again from
 * the start, so commits only bound what a transaction holds: large enough that a transaction's
 * overhead is small beside its inserts, small enough (about 1 MB) that one chunk holds the event
 * loop only briefly.
 */
const SNAPSHOT_CHUNK = 20_000;
const HEARTBEAT_MS = 1000;

/**
 * Heartbeats on a timer with the latest progress, so a slow request (an export poll, a big chunk)
 * does not look like a dead worker, and cancellation (a pause) arrives promptly.
 */
function keepAlive(initial: unknown): { update(details: unknown): void; stop(): void } {
  const ctx = Context.current();
  let details = initial;
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx.heartbeat(details), HEARTBEAT_MS);
  return {
    update(next) {
      details = next;
    },
    stop() {
      clearInterval(timer);
    },
  };
}

export interface CohortActivityInput {
  syncId: string;
  spec: CohortSyncSpec;
}

/**
 * The segment a cohort sync writes to: the configured id, or one created through the App API the
 * first time. Created exactly once, even across a crash: before creating, existing segments are
 * searched for the description this engine writes, and the id is kept in the store.
 */
export async function ensureCohortSegment(
  deps: ActivityDeps,
  { syncId, spec }: CohortActivityInput,
): Promise<number | undefined> {
  const { sync } = spec;
  if (sync.target !== 'segment' || !sync.segment) return undefined;
  if (sync.segment.id !== undefined) return sync.segment.id;
  const name = sync.segment.name as string;
  const key = `cohort-segment:${syncId}`;
  const known = await deps.store.getState(key);
  if (known) return Number(known);

  const { client } = await cohortClient(deps, spec, syncId);
  const marker = `Managed by cio-sync (cohort sync ${syncId})`;
  const listed = await appCall(deps, spec, 'list segments', () => client.listSegments());
  const segments = (listed as { segments?: Array<{ id: number; description?: string }> }).segments ?? [];
  let id = segments.find((s) => s.description === marker)?.id;
  if (id === undefined) {
    const created = await appCall(deps, spec, 'create segment', () =>
      client.createSegment({ name, description: marker }),
    );
    id = (created as { segment: { id: number } }).segment.id;
  }
  return Number(await deps.store.setStateIfAbsent(key, String(id)));
}

export interface SnapshotResult {
  members: number;
  skipped: number;
  toAdd: number;
  toRemove: number;
  baselineRunId?: string;
  /** Members of the baseline run (0 without one): what a large-removal guard compares against. */
  baselineMembers: number;
}

/** Streams the cohort's members into the store as run `runId` and counts the diff. */
export async function snapshotCohort(
  deps: ActivityDeps,
  { syncId, runId, spec }: CohortActivityInput & { runId: string },
): Promise<SnapshotResult> {
  const ctx = Context.current();
  const baseline = await deps.store.cohorts.lastAppliedCohortRun(syncId);
  await deps.store.cohorts.beginCohortRun(syncId, runId);
  const source = openCohortSource(spec.sync.cohort, deps.env);
  let skipped = 0;
  let members = 0;
  const alive = keepAlive({ phase: 'requested' });
  try {
    for await (const chunk of source.members({
      chunkSize: SNAPSHOT_CHUNK,
      signal: ctx.cancellationSignal,
      onProgress: (p) => alive.update({ phase: p.phase, ids: p.ids, polls: p.polls }),
    })) {
      const valid = chunk.filter((id) => {
        const bad = invalidMemberId(id, spec.sync.idType);
        if (bad) skipped++;
        return !bad;
      });
      members += await deps.store.cohorts.addCohortMembers(syncId, runId, valid);
    }
  } catch (err) {
    // Cancelled (a pause, a config change): the source reports the abort as one of its errors, but
    // only a CancelledFailure makes the worker report a cancellation. As a source failure the
    // workflow would take the run for broken and drop it instead of resuming it.
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
    if (err instanceof CohortSourceError) {
      throw ApplicationFailure.create({
        type: err.retryable ? 'CohortSourceError' : 'CohortSourcePermanentError',
        message: `${source.description}: ${err.message}`,
        nonRetryable: !err.retryable,
      });
    }
    throw err;
  } finally {
    alive.stop();
  }
  if (baseline) {
    // People deleted or suppressed in this workspace since the baseline was taken are no longer in
    // the segment: the baseline stops listing them, so one still in the cohort joins again.
    await deps.store.cohorts.dropForgottenMembers(syncId, baseline.runId, {
      destinationId: spec.destination.id,
      idType: spec.sync.idType,
      since: baseline.startedAt,
    });
  }
  const run = await deps.store.cohorts.completeCohortSnapshot(
    syncId,
    runId,
    baseline?.runId,
    skipped,
    members,
  );
  if (run.members === 0 && baseline && baseline.members > 0 && !spec.sync.allowEmpty) {
    throw ApplicationFailure.nonRetryable(
      `${source.description} returned no members (the last applied run had ${baseline.members}); not emptying the ` +
        'segment. Check the source (column, query, export), or set allowEmpty: true if everyone really left.',
      'CohortEmpty',
    );
  }
  return {
    members: run.members,
    skipped,
    toAdd: run.toAdd,
    toRemove: run.toRemove,
    baselineRunId: baseline?.runId,
    baselineMembers: baseline?.members ?? 0,
  };
}

/**
 * Sends the diff between run `runId` and its baseline: joiners then leavers, in chunks of at most
 * 1000 ids, saving progress after each chunk (and heartbeating it), so a killed worker resumes
 * where it stopped. Adds and removes are idempotent, so re-sending the chunk in flight is safe.
 * The run becomes the new baseline only once every chunk is applied.
 */
export async function applyCohortDiff(
  deps: ActivityDeps,
  input: CohortActivityInput & {
    runId: string;
    baselineRunId?: string;
    segmentId?: number;
    startedAt: string;
  },
): Promise<CohortRunSummary> {
  const ctx = Context.current();
  const { syncId, runId, baselineRunId, spec, segmentId } = input;
  const { sync } = spec;
  const run = await deps.store.cohorts.getCohortRun(syncId, runId);
  if (!run)
    throw ApplicationFailure.nonRetryable(
      `cohort run ${runId} of ${syncId} has no snapshot`,
      'CohortRunMissing',
    );
  const { client, dryRun } = await cohortClient(deps, spec, syncId);
  const chunkSize = Math.min(sync.chunkSize, MAX_SEGMENT_IDS_PER_CALL);
  let progress: CohortApplyProgress =
    run.phase === 'applied' ? { phase: 'done', added: run.toAdd, removed: run.toRemove } : run.progress;
  const alive = keepAlive(progress);
  try {
    for (const phase of ['add', 'remove'] as const) {
      if (progress.phase === 'done' || (phase === 'add' && progress.phase === 'remove')) continue;
      // Joiners are in this run and not the baseline; leavers the other way round.
      const [from, other] = phase === 'add' ? [runId, baselineRunId] : [baselineRunId, runId];
      if (from === undefined) {
        progress = { ...progress, phase: 'remove', after: undefined };
        continue;
      }
      progress = await applyPhase(
        deps,
        { client, spec, segmentId, syncId, runId, phase, from, other },
        progress,
        {
          chunkSize,
          signal: ctx.cancellationSignal,
          onProgress: (p) => alive.update(p),
        },
      );
      progress =
        phase === 'add'
          ? { ...progress, phase: 'remove', after: undefined }
          : { ...progress, phase: 'done', after: undefined };
      await deps.store.cohorts.saveCohortProgress(syncId, runId, progress);
    }
  } finally {
    alive.stop();
  }
  await deps.store.cohorts.completeCohortRun(syncId, runId);
  const summary: CohortRunSummary = {
    runId,
    startedAt: input.startedAt,
    finishedAt: new Date().toISOString(),
    members: run.members,
    added: progress.added,
    removed: progress.removed,
    skipped: run.skipped,
    ...(progress.rejected && { rejected: progress.rejected, rejectedReasons: progress.rejectedReasons }),
  };
  const unknown = dryRun ? undefined : await unknownMembers(deps, client, spec, segmentId, run.members);
  if (unknown !== undefined) summary.unknown = unknown;
  return summary;
}

/**
 * Chunks on the wire at once. Each request still takes its slot of the destination's shared
 * budget; the window only keeps Customer.io's latency (tens of ms) from idling that budget: one
 * chunk at a time at 30 ms latency uses a third of 100 requests/s.
 */
export const APPLY_WINDOW = 8;

type ChunkOutcome = { ok: true; rejected: Map<string, string> } | { ok: false; error: unknown };

/**
 * One phase of the diff, up to APPLY_WINDOW chunks in flight. Chunks are settled in id order and
 * progress is saved after each, so what is saved is always a prefix of chunks Customer.io took;
 * chunks past a failure are awaited but not counted, and the retry resends them (adds and removes
 * are idempotent).
 */
async function applyPhase(
  deps: ActivityDeps,
  target: PhaseTarget,
  start: CohortApplyProgress,
  options: { chunkSize: number; signal: AbortSignal; onProgress(progress: CohortApplyProgress): void },
): Promise<CohortApplyProgress> {
  const { syncId, runId, phase, from, other } = target;
  let progress = start;
  let next = start.after;
  let exhausted = false;
  let stopping = false;
  const inFlight: Array<{ ids: string[]; outcome: Promise<ChunkOutcome> }> = [];
  for (;;) {
    while (!exhausted && !stopping && inFlight.length < APPLY_WINDOW && !options.signal.aborted) {
      const ids = await deps.store.cohorts.cohortDiffPage(syncId, from, other, next, options.chunkSize);
      if (ids.length === 0) {
        exhausted = true;
        break;
      }
      next = ids.at(-1);
      const outcome = sendChunkPatiently(deps, target, ids, options.signal).then(
        (rejected): ChunkOutcome => ({ ok: true, rejected }),
        (error: unknown): ChunkOutcome => {
          // A hold or a retry will meet every chunk after this one too: send no more.
          stopping = true;
          return { ok: false, error };
        },
      );
      inFlight.push({ ids, outcome });
    }
    const head = inFlight.shift();
    if (head === undefined) break;
    const outcome = await head.outcome;
    if (!outcome.ok) {
      await Promise.all(inFlight.map((chunk) => chunk.outcome));
      throw outcome.error;
    }
    const applied = head.ids.length - outcome.rejected.size;
    deps.metrics?.onCohortIds(syncId, phase === 'add' ? 'added' : 'removed', applied);
    progress = {
      ...withRejections(progress, outcome.rejected),
      after: head.ids.at(-1),
      added: progress.added + (phase === 'add' ? applied : 0),
      removed: progress.removed + (phase === 'remove' ? applied : 0),
    };
    await deps.store.cohorts.saveCohortProgress(syncId, runId, progress);
    options.onProgress(progress);
  }
  if (options.signal.aborted) throw options.signal.reason ?? new Error('cancelled');
  return progress;
}

/** The next time a cron line fires after `after` (UTC). */
export async function nextCohortRunAt(
  _deps: ActivityDeps,
  { expression, after }: { expression: string; after: number },
): Promise<number> {
  return CronExpressionParser.parse(expression, { currentDate: new Date(after), tz: 'UTC' })
    .next()
    .getTime();
}

/** Adds this chunk's refusals (member id → Customer.io's reason) to the run's progress. */
function withRejections(
  progress: CohortApplyProgress,
  rejected: ReadonlyMap<string, string>,
): CohortApplyProgress {
  if (rejected.size === 0) return progress;
  const reasons = { ...progress.rejectedReasons };
  for (const reason of rejected.values()) reasons[reason] = (reasons[reason] ?? 0) + 1;
  return { ...progress, rejected: (progress.rejected ?? 0) + rejected.size, rejectedReasons: reasons };
}
