import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';

import type { CohortSyncSpec } from '../config/schema.ts';
import { INVALID_SYNC_CONFIG, assertUpdateShape } from '../config/spec-rules.ts';
import type { createActivities } from '../activities/index.ts';
import {
  SyncStatusAttribute,
  cohortConfigQuery,
  cohortStatusQuery,
  pauseSignal,
  resumeSignal,
  runNowSignal,
  updateCohortConfigUpdate,
  type CohortSyncInput,
  type CohortSyncState,
  type CohortSyncStatus,
  type LargeRemovalHold,
  type SyncStatus,
} from './sync-api.ts';
import { activitySummary, cohortDetails } from './web-ui-details.ts';
import { failureOf, lastErrorOf, type FailureInfo } from './failures.ts';
import type { CohortRunSummary } from './activity-io.ts';
import { checkSpec } from './spec-check.ts';

type Activities = ReturnType<typeof createActivities>;

const { snapshotCohort, applyCohortDiff } = proxyActivities<Activities>({
  // Exports can take minutes (Amplitude prepares the file). The activities heartbeat every few
  // seconds, so a dead worker is noticed within the heartbeat timeout and a pause reaches them.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '5 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 12,
    nonRetryableErrorTypes: ['CohortSourcePermanentError', INVALID_SYNC_CONFIG],
  },
});

const { ensureCohortSegment, nextCohortRunAt, startCohortRun } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 10 },
});

export function initialCohortState(spec: CohortSyncSpec): CohortSyncState {
  const paused = spec.sync.status === 'paused';
  return {
    paused,
    status: paused ? 'paused' : 'running',
    runNumber: 0,
    // The first run happens at once; later ones follow the cadence.
    nextRunAt: 0,
    runNowRequested: false,
    counters: { runs: 0, added: 0, removed: 0, skipped: 0 },
  };
}

/** The run in progress: its id, stage and diff. */
type CohortRunProgress = NonNullable<CohortSyncState['current']>;

/** The workflow's run: its config and state, and what its handlers and steps share. */
interface CohortRun {
  spec: CohortSyncSpec;
  state: CohortSyncState;
  /** The run's activities while they run: a pause cancels them. */
  inFlight: CancellationScope | undefined;
  /** Set when something a held or stalled run waits on changes (resume, run now, a new config). */
  wake: boolean;
  /** The check of a fresh start's spec (see cohortSyncWorkflow); the update handler waits for it. */
  specChecked: Promise<void> | undefined;
}

/**
 * One long-running workflow per cohort sync: on its cadence (or a runNow signal) it snapshots the
 * cohort into the store and applies the joiners and leavers to Customer.io. Members never enter
 * history; the run's summary does.
 */
export async function cohortSyncWorkflow(input: CohortSyncInput): Promise<void> {
  // A fresh start by hand is checked against the config file's schema (continued as new: it was).
  // Awaited once the query and update handlers are set (see below).
  const specChecked = input.state === undefined ? checkSpec('cohort', input.spec) : undefined;
  const state: CohortSyncState = input.state ?? initialCohortState(input.spec);
  const run: CohortRun = { spec: input.spec, state, inFlight: undefined, wake: false, specChecked };

  setQueryAndUpdateHandlers(run);
  // Queries and updates have their handlers before the check: one in the sync's first moments (a
  // status query, a config update right after it was created) would otherwise find none. Nothing
  // they do before the check passes makes a command (the update handlers wait for it), so
  // histories replay as they were recorded. Signals are kept by Temporal until their handler is
  // set, which stays after the check, as it always was: a pause's search attribute goes after it.
  await specChecked;
  setSignalHandlers(run);

  publish(run);
  for (;;) {
    const due = () =>
      state.current !== undefined ||
      state.runNowRequested ||
      (state.nextRunAt !== undefined && Date.now() >= state.nextRunAt);
    const ready = () => !state.paused && due();
    if (state.nextRunAt === undefined) await condition(ready);
    else await condition(ready, Math.max(0, state.nextRunAt - Date.now()));
    if (!ready()) continue;

    if (workflowInfo().continueAsNewSuggested && !state.current) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof cohortSyncWorkflow>({ spec: run.spec, state });
    }
    state.runNowRequested = false;
    if (!state.current) await startRun(run);
    const current = state.current!;
    let waitFor: 'cadence' | 'retry' = 'cadence';
    try {
      run.inFlight = new CancellationScope();
      await run.inFlight.run(() => snapshotAndApply(run, current));
    } catch (err) {
      // Paused mid-run: keep `current`, so resume continues this run from its stored progress.
      if (isCancellation(err)) continue;
      if (!(err instanceof ActivityFailure)) throw err;
      waitFor = recordRunFailure(run, failureOf(err));
    } finally {
      run.inFlight = undefined;
    }
    if (isHeldForConfirmation(state)) {
      await holdForConfirmation(run);
      continue;
    }
    if (waitFor === 'retry') {
      // The status stays as it is until a run gets through.
      run.wake = false;
      await condition(() => run.wake || state.paused, run.spec.sync.retryEvery);
      continue;
    }
    if (state.lastError === undefined) state.stalled = undefined;
    if (!state.paused && !state.stalled) setStatus(run, 'running');
    state.nextRunAt = await nextRunAfter(run.spec, Date.now());
    publish(run);
  }
}

/** The Web UI's current details: status, the run in progress, the last run, the next one. */
function publish(run: CohortRun): void {
  setCurrentDetails(cohortDetails(run.spec, run.state));
}

function setStatus(run: CohortRun, status: SyncStatus): void {
  if (run.state.status !== status) {
    run.state.status = status;
    upsertSearchAttributes([{ key: SyncStatusAttribute, value: status }]);
  }
  publish(run);
}

function setQueryAndUpdateHandlers(run: CohortRun): void {
  const { state, specChecked } = run;
  setHandler(cohortConfigQuery, () => run.spec);
  setHandler(cohortStatusQuery, (): CohortSyncStatus => ({
    syncId: run.spec.sync.id,
    type: 'cohort',
    status: state.status,
    running: state.current !== undefined,
    applying: run.inFlight !== undefined,
    currentRunId: state.current?.runId,
    lastRun: state.lastRun,
    nextRunAt: state.nextRunAt === undefined ? undefined : new Date(state.nextRunAt).toISOString(),
    counters: state.counters,
    lastError: state.lastError,
    destination: run.spec.destination.id,
    held: state.held,
    stalled: state.stalled,
  }));
  setHandler(
    updateCohortConfigUpdate,
    async (next) => {
      await specChecked;
      await checkSpec('cohort', next);
      run.spec = next;
      upsertMemo({ name: next.sync.name ?? next.sync.id });
      run.wake = true;
      // A run held for a large removal is judged again under the new config, from a fresh snapshot.
      if (state.current && state.held?.runId === state.current.runId) {
        state.current.stage = 'snapshot';
        state.held = undefined;
      }
      // A new cadence takes effect from now.
      if (!state.current && state.lastRun) state.nextRunAt = await nextRunAfter(next, Date.now());
      return { accepted: true as const };
    },
    { validator: (next) => assertUpdateShape('cohort', run.spec, next) },
  );
}

function setSignalHandlers(run: CohortRun): void {
  const { state } = run;
  setHandler(pauseSignal, () => {
    state.paused = true;
    setStatus(run, 'paused');
    run.inFlight?.cancel();
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
    setStatus(run, 'running');
    run.wake = true;
  });
  setHandler(runNowSignal, (options) => {
    state.runNowRequested = true;
    if (options?.confirm && state.current && state.held?.runId === state.current.runId) {
      state.current.confirmed = true;
    }
    run.wake = true;
  });
}

/** A new run: its id from the store, at the snapshot stage. */
async function startRun(run: CohortRun): Promise<void> {
  const { state } = run;
  state.runNumber += 1;
  state.current = {
    runId: await startCohortRun.executeWithOptions(
      { summary: activitySummary.startCohortRun(state.runNumber) },
      [{ syncId: run.spec.sync.id }],
    ),
    startedAt: new Date().toISOString(),
    stage: 'snapshot',
  };
  publish(run);
}

/**
 * The run's steps: find the segment and (at the snapshot stage) snapshot the cohort and diff it
 * against the last run; hold it if it would remove too many; else apply the diff and count it.
 */
async function snapshotAndApply(run: CohortRun, current: CohortRunProgress): Promise<void> {
  const { state } = run;
  const ensureSegment = () =>
    ensureCohortSegment.executeWithOptions({ summary: activitySummary.ensureSegment(run.spec) }, [
      { syncId: run.spec.sync.id, spec: run.spec },
    ]);
  const takeSnapshot = () =>
    snapshotCohort.executeWithOptions({ summary: activitySummary.snapshotCohort(run.spec, current.runId) }, [
      { syncId: run.spec.sync.id, runId: current.runId, spec: run.spec },
    ]);
  // The segment is found (on a first run created: App API calls, paced at its budget) while
  // the snapshot is read, as neither needs the other. Histories from before did one, then the other.
  const beside = current.stage === 'snapshot' && patched('segment-beside-snapshot');
  const [segmentId, snapshotBeside] = beside
    ? await both(ensureSegment(), takeSnapshot())
    : [await ensureSegment(), undefined];
  if (current.stage === 'snapshot') {
    const snapshot = snapshotBeside ?? (await takeSnapshot());
    current.baselineRunId = snapshot.baselineRunId;
    current.stage = 'apply';
    current.toAdd = snapshot.toAdd;
    current.toRemove = snapshot.toRemove;
    publish(run);
    const held = largeRemovalOf(current.runId, snapshot, run.spec.sync.maxRemovalRatio);
    if (held) state.held = held;
  }
  if (state.held?.runId === current.runId && !current.confirmed) return;
  state.held = undefined;
  const summary = await applyCohortDiff.executeWithOptions(
    { summary: activitySummary.applyCohortDiff(run.spec, current.runId, current) },
    [
      {
        syncId: run.spec.sync.id,
        runId: current.runId,
        baselineRunId: current.baselineRunId,
        spec: run.spec,
        segmentId,
        startedAt: current.startedAt,
      },
    ],
  );
  countRun(state, summary);
  state.lastError = undefined;
  state.current = undefined;
  publish(run);
}

/**
 * A run's failure: a hold (credentials, region) keeps the run and waits to retry; retries that ran
 * out stall it and retry soon; a permanent error drops it, the next run on the cadence starts over.
 */
function recordRunFailure(run: CohortRun, failure: FailureInfo): 'cadence' | 'retry' {
  const { state } = run;
  state.lastError = lastErrorOf(failure);
  if (failure.hold) {
    // The destination holds (credentials, region): keep the run and its progress, try again.
    state.stalled = undefined;
    setStatus(run, failure.hold);
    return 'retry';
  }
  state.stalled = {
    attempts: (state.stalled?.attempts ?? 0) + 1,
    since: state.stalled?.since ?? new Date().toISOString(),
  };
  setStatus(run, 'stalled');
  // Retries ran out: keep the run and try again soon. A permanent error (a broken source, an
  // empty cohort) drops the run instead; the next one, on the cadence, starts over.
  if (failure.nonRetryable) {
    state.current = undefined;
    return 'cadence';
  }
  return 'retry';
}

/**
 * Held for a large removal: nothing to retry, only an operator (run --confirm, a config change)
 * can move it on.
 */
async function holdForConfirmation(run: CohortRun): Promise<void> {
  setStatus(run, 'held_large_removal');
  run.wake = false;
  await condition(() => run.wake || run.state.paused);
  if (!run.state.paused) setStatus(run, 'running');
}

/** The run in progress waits for `run --confirm`: its snapshot would remove too many members. */
export function isHeldForConfirmation(state: CohortSyncState): boolean {
  return !!state.current && state.held?.runId === state.current.runId && !state.current.confirmed;
}

/**
 * The hold of a run whose snapshot removes more than `maxRemovalRatio` of the last run's members
 * (0: never held; a first run, with no members before, never either).
 */
export function largeRemovalOf(
  runId: string,
  snapshot: { toRemove: number; baselineMembers: number; members: number },
  maxRemovalRatio: number,
): LargeRemovalHold | undefined {
  if (
    maxRemovalRatio > 0 &&
    snapshot.baselineMembers > 0 &&
    snapshot.toRemove / snapshot.baselineMembers > maxRemovalRatio
  ) {
    return {
      runId,
      toRemove: snapshot.toRemove,
      baselineMembers: snapshot.baselineMembers,
      members: snapshot.members,
      maxRemovalRatio,
    };
  }
  return undefined;
}

/** Adds an applied run to the sync's counters; it becomes the last run. */
export function countRun(state: CohortSyncState, summary: CohortRunSummary): void {
  state.lastRun = summary;
  state.counters.runs += 1;
  state.counters.added += summary.added;
  state.counters.removed += summary.removed;
  state.counters.skipped += summary.skipped;
  if (summary.rejected) state.counters.rejected = (state.counters.rejected ?? 0) + summary.rejected;
}

/** Intervals are plain arithmetic; cron lines are evaluated by an activity (a cron library is I/O-free but not sandbox-vetted). */
async function nextRunAfter(spec: CohortSyncSpec, after: number): Promise<number | undefined> {
  const cadence = spec.sync.cadence;
  if (cadence.kind === 'once') return undefined;
  if (cadence.kind === 'interval') return after + cadence.everyMs;
  return nextCohortRunAt.executeWithOptions(
    { summary: activitySummary.nextCohortRunAt(cadence.expression) },
    [{ expression: cadence.expression, after }],
  );
}

/**
 * Both results, once both have settled: a failure of one never leaves the other running behind
 * the retry (a snapshot begun again while the previous attempt still writes). The first failure
 * in argument order is thrown.
 */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}
