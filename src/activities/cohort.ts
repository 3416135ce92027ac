import { ApplicationFailure, Context } from '@temporalio/activity';
import { CronExpressionParser } from 'cron-parser';

import { openCohortSource } from '../cohorts/index.ts';
import { CohortSourceError } from '../cohorts/errors.ts';
import type { CohortSyncSpec } from '../config/schema.ts';
import type { CioCallResult, CustomerIoClient } from '../customerio/client.ts';
import { MAX_SEGMENT_IDS_PER_CALL } from '../customerio/limits.ts';
import { FAILURE_TYPES } from '../customerio/policy.ts';
import { cohortAttributeName, invalidMemberId } from '../mapping/cohort.ts';
import type { CohortApplyProgress } from '../store/cohorts/store.ts';
import type { CohortRunSummary } from '../workflows/types.ts';
import { holdFailure, isHold, openDestination, sendToCustomerIo } from './customerio-send.ts';
import type { ActivityDeps } from './deps.ts';

/**
 * Ids written to the snapshot per transaction. A crash mid-snapshot reads the cohort again from
 * the start, so commits only bound what a transaction holds: 1M members in chunks of 5,000 took
 * 0.73 s to insert, of 20,000 0.65 s (each chunk about 1 MB and 15 ms of the event loop).
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

interface PhaseTarget {
  client: CustomerIoClient;
  spec: CohortSyncSpec;
  segmentId: number | undefined;
  syncId: string;
  runId: string;
  phase: 'add' | 'remove';
  /** The diff is the members of `from` that `other` lacks. */
  from: string;
  other: string | undefined;
}

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

/** 429s one chunk waits out in place (Retry-After) before the activity fails and Temporal retries it. */
export const CHUNK_RATE_LIMIT_RETRIES = 3;

/**
 * sendChunk, waiting out a 429 in place: failing the activity would resend every chunk on the wire
 * after the saved prefix and wait for Temporal's retry on top of Retry-After.
 */
async function sendChunkPatiently(
  deps: ActivityDeps,
  { client, spec, phase, segmentId }: PhaseTarget,
  ids: string[],
  signal: AbortSignal,
): Promise<Map<string, string>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await sendChunk(deps, client, spec, phase, ids, segmentId);
    } catch (err) {
      const limited = err instanceof ApplicationFailure && err.type === FAILURE_TYPES.rateLimited;
      if (!limited || attempt >= CHUNK_RATE_LIMIT_RETRIES || signal.aborted) throw err;
      // sendToCustomerIo gives Retry-After in ms; 1 s when Customer.io gave none.
      await sleep(typeof err.nextRetryDelay === 'number' ? err.nextRetryDelay : 1000, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
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

/**
 * Sends one chunk of joiners or leavers through the send boundary. Returns the members Customer.io
 * refused, with its reason: item errors of a 207, or every id of a request the data made it refuse
 * (400/413/422). Holds and retries are thrown, so the run keeps its place.
 */
async function sendChunk(
  deps: ActivityDeps,
  client: CustomerIoClient,
  spec: CohortSyncSpec,
  phase: 'add' | 'remove',
  ids: string[],
  segmentId: number | undefined,
): Promise<Map<string, string>> {
  const { sync } = spec;
  const identifiers = (id: string) => ({
    [sync.idType]: sync.idType === 'cio_id' ? id.replace(/^cio_/, '') : id,
  });
  const rejected = new Map<string, string>();
  const identify = async (attributes: (id: string) => Record<string, unknown>) => {
    const ops = ids.map((id) => ({
      type: 'person',
      action: 'identify',
      identifiers: identifiers(id),
      attributes: attributes(id),
    }));
    for (const [id, reason] of await trackCall(deps, spec, ids, () => client.batch(ops)))
      rejected.set(id, reason);
  };
  if (sync.target === 'attribute') {
    const attribute = cohortAttributeName(sync);
    await identify(() => ({ [attribute]: phase === 'add' }));
    return rejected;
  }
  // Customer.io ignores unknown people in a segment add; identifying them first makes sure they exist.
  if (phase === 'add' && sync.identifyJoiners) await identify(() => ({}));
  const members = ids.filter((id) => !rejected.has(id));
  if (members.length === 0) return rejected;
  const call = () =>
    phase === 'add'
      ? client.addToSegment(segmentId as number, members, sync.idType)
      : client.removeFromSegment(segmentId as number, members, sync.idType);
  for (const [id, reason] of await trackCall(deps, spec, members, call)) rejected.set(id, reason);
  return rejected;
}

/** One Track request for `ids` (in request order): the ids Customer.io refused, with its reason. */
async function trackCall(
  deps: ActivityDeps,
  spec: CohortSyncSpec,
  ids: readonly string[],
  request: () => Promise<CioCallResult>,
): Promise<Map<string, string>> {
  const sent = await sendToCustomerIo(deps.store, spec.destination, 'track', request);
  const rejected = new Map<string, string>();
  if (sent.kind === 'hold') throw holdFailure(sent);
  if (sent.kind === 'dead_letter') {
    for (const id of ids) rejected.set(id, `HTTP ${sent.status}: ${sent.message}`.slice(0, 200));
    return rejected;
  }
  for (const e of sent.itemErrors) {
    const id = ids[e.batch_index];
    if (id !== undefined)
      rejected.set(id, [e.reason, e.field, e.message].filter(Boolean).join(': ') || 'rejected');
  }
  return rejected;
}

/** One App API request whose answer the run needs: its body, else a failure (hold, retry, refused). */
async function appCall(
  deps: ActivityDeps,
  spec: CohortSyncSpec,
  what: string,
  request: () => Promise<CioCallResult>,
): Promise<unknown> {
  return bodyOf(await sendToCustomerIo(deps.store, spec.destination, 'app', request), what);
}

function bodyOf(sent: Awaited<ReturnType<typeof sendToCustomerIo>>, what: string): unknown {
  if (sent.kind === 'hold') throw holdFailure(sent);
  if (sent.kind === 'dead_letter') {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.rejected,
      message: `Customer.io refused to ${what}: HTTP ${sent.status}: ${sent.message}`,
      nonRetryable: true,
    });
  }
  return sent.body;
}

/** Customer.io's count of the segment versus the snapshot: members it did not know, when it tells. */
async function unknownMembers(
  deps: ActivityDeps,
  client: CustomerIoClient,
  spec: CohortSyncSpec,
  segmentId: number | undefined,
  members: number,
): Promise<number | undefined> {
  if (segmentId === undefined || !spec.destination.appApiKey) return undefined;
  const sent = await sendToCustomerIo(deps.store, spec.destination, 'app', () =>
    client.getSegmentCustomerCount(segmentId),
  );
  // Only informative: whatever stands in its way must not fail a run that is already applied.
  if (sent.kind !== 'done') return undefined;
  const count = (sent.body as { count?: unknown }).count;
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
): Promise<{ client: CustomerIoClient; dryRun: boolean }> {
  const opened = await openDestination(deps.clients, spec.destination, syncId);
  if (isHold(opened)) throw holdFailure(opened);
  return opened;
}
