import { ApplicationFailure, Context } from '@temporalio/activity';
import { CronExpressionParser } from 'cron-parser';

import { openCohortSource } from '../cohorts/index.ts';
import { CohortSourceError } from '../cohorts/errors.ts';
import type { CohortSyncSpec } from '../config/schema.ts';
import type { CioOutcome } from '../customerio/classify.ts';
import type { CioCallResult, CustomerIoClient } from '../customerio/client.ts';
import { MAX_SEGMENT_IDS_PER_CALL } from '../customerio/limits.ts';
import { cohortAttributeName, invalidMemberId } from '../mapping/cohort.ts';
import type { CohortApplyProgress } from '../store/cohort-store.ts';
import type { CohortRunSummary } from '../workflows/definitions.ts';
import type { ActivityDeps } from './index.ts';
import { FAILURE_TYPES } from './send-planned.ts';

const SNAPSHOT_CHUNK = 5000;
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

  const client = await cohortClient(deps, spec, syncId);
  const marker = `Managed by cio-sync (cohort sync ${syncId})`;
  await appSlot(deps, spec);
  const listed = expectOk(await client.listSegments(), 'list segments');
  const segments = (listed as { segments?: Array<{ id: number; description?: string }> }).segments ?? [];
  let id = segments.find((s) => s.description === marker)?.id;
  if (id === undefined) {
    await appSlot(deps, spec);
    const created = expectOk(await client.createSegment({ name, description: marker }), 'create segment');
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
      await deps.store.cohorts.addCohortMembers(syncId, runId, valid);
    }
  } catch (err) {
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
  const run = await deps.store.cohorts.completeCohortSnapshot(syncId, runId, baseline?.runId, skipped);
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
  const client = await cohortClient(deps, spec, syncId);
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
      for (;;) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
        const ids = await deps.store.cohorts.cohortDiffPage(syncId, from, other, progress.after, chunkSize);
        if (ids.length === 0) break;
        await sendChunk(deps, client, spec, phase, ids, segmentId);
        deps.metrics?.onCohortIds(syncId, phase === 'add' ? 'added' : 'removed', ids.length);
        progress = {
          ...progress,
          after: ids.at(-1),
          added: progress.added + (phase === 'add' ? ids.length : 0),
          removed: progress.removed + (phase === 'remove' ? ids.length : 0),
        };
        await deps.store.cohorts.saveCohortProgress(syncId, runId, progress);
        alive.update(progress);
      }
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
  };
  const unknown = await unknownMembers(deps, client, spec, segmentId, run.members);
  if (unknown !== undefined) summary.unknown = unknown;
  return summary;
}

async function sendChunk(
  deps: ActivityDeps,
  client: CustomerIoClient,
  spec: CohortSyncSpec,
  phase: 'add' | 'remove',
  ids: string[],
  segmentId: number | undefined,
): Promise<void> {
  const { sync } = spec;
  const identifiers = (id: string) => ({
    [sync.idType]: sync.idType === 'cio_id' ? id.replace(/^cio_/, '') : id,
  });
  if (sync.target === 'attribute') {
    const attribute = cohortAttributeName(sync);
    const ops = ids.map((id) => ({
      type: 'person',
      action: 'identify',
      identifiers: identifiers(id),
      attributes: { [attribute]: phase === 'add' },
    }));
    await trackSlot(deps, spec);
    expectOk(await client.batch(ops), `identify ${ids.length} ${phase === 'add' ? 'joiners' : 'leavers'}`);
    return;
  }
  if (phase === 'add' && sync.identifyJoiners) {
    // Customer.io ignores unknown people in a segment add; identifying them first makes sure they exist.
    const ops = ids.map((id) => ({
      type: 'person',
      action: 'identify',
      identifiers: identifiers(id),
      attributes: {},
    }));
    await trackSlot(deps, spec);
    expectOk(await client.batch(ops), `identify ${ids.length} joiners`);
  }
  await trackSlot(deps, spec);
  const call =
    phase === 'add'
      ? client.addToSegment(segmentId as number, ids, sync.idType)
      : client.removeFromSegment(segmentId as number, ids, sync.idType);
  expectOk(await call, `${phase} ${ids.length} ids`);
}

/** Customer.io's count of the segment versus the snapshot: members it did not know, when it tells. */
async function unknownMembers(
  deps: ActivityDeps,
  client: CustomerIoClient,
  spec: CohortSyncSpec,
  segmentId: number | undefined,
  members: number,
): Promise<number | undefined> {
  if (segmentId === undefined || !spec.destination.appApiKey || deps.clients.isDryRun(spec.destination))
    return undefined;
  await appSlot(deps, spec);
  const result = await client.getSegmentCustomerCount(segmentId);
  if (result.outcome.kind !== 'ok') return undefined;
  const count = (result.outcome.body as { count?: unknown }).count;
  return typeof count === 'number' ? Math.max(0, members - count) : undefined;
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

async function cohortClient(
  deps: ActivityDeps,
  spec: CohortSyncSpec,
  syncId: string,
): Promise<CustomerIoClient> {
  return deps.clients.isDryRun(spec.destination)
    ? deps.clients.dryRunClient(spec.destination, syncId)
    : deps.clients.client(spec.destination);
}

async function trackSlot(deps: ActivityDeps, spec: CohortSyncSpec): Promise<void> {
  const wait = await deps.store.reserveRateSlot(
    `track:${spec.destination.id}`,
    spec.destination.requestsPerSecond,
  );
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

async function appSlot(deps: ActivityDeps, spec: CohortSyncSpec): Promise<void> {
  const wait = await deps.store.reserveRateSlot(
    `app:${spec.destination.id}`,
    spec.destination.appRequestsPerSecond,
  );
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** The answer's body when Customer.io accepted; otherwise a failure Temporal retries (or not) by its kind. */
function expectOk(result: CioCallResult, what: string): unknown {
  const outcome: CioOutcome = result.outcome;
  switch (outcome.kind) {
    case 'ok':
      return outcome.body;
    case 'item_errors':
      // Only identify batches get 207s here; the people concerned are reported, the run goes on.
      return outcome.body;
    case 'rate_limited':
    case 'retryable':
      throw ApplicationFailure.create({
        type: outcome.kind === 'rate_limited' ? FAILURE_TYPES.rateLimited : FAILURE_TYPES.unavailable,
        message: `Customer.io (${what}): ${outcome.message}`,
        nextRetryDelay: outcome.retryAfterMs,
      });
    case 'permanent':
      throw ApplicationFailure.create({
        type:
          outcome.status === 401 || outcome.status === 403
            ? 'CustomerIoCredentialsRejected'
            : 'CustomerIoRejected',
        message: `Customer.io refused to ${what}: HTTP ${outcome.status}: ${outcome.message}`,
        // 401/403 may be fixed by a key change in the worker's environment: keep retrying slowly.
        nonRetryable: !(outcome.status === 401 || outcome.status === 403),
      });
  }
}
