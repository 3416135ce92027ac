import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  ApplicationFailure,
} from '@temporalio/workflow';

import type { StreamSyncSpec } from '../config/schema.ts';
import { assertStreamSyncSpec, assertSameCredentialHosts } from '../config/spec-validation.ts';
import type { createActivities } from '../activities/index.ts';
import type { DeliverLaneInput, LaneSummary } from '../activities/types.ts';
import {
  SyncStatusAttribute,
  configQuery,
  pauseSignal,
  redriveUpdate,
  resumeSignal,
  setCursorUpdate,
  statusQuery,
  updateConfigUpdate,
  type StreamSyncInput,
  type StreamSyncState,
  type StreamSyncStatus,
  type SyncStatus,
} from './definitions.ts';
import { failureOf, holdOfOutcome, lastErrorOf } from './failures.ts';
import type { HoldReason } from '../customerio/policy.ts';

/**
 * Attempts of one delivery before the workflow hears of the failure: it then shows the sync as
 * `stalled` (status, search attribute) and tries again itself, so a failure that lasts is visible
 * instead of hidden inside one activity's endless retries.
 */
export const ATTEMPTS_BEFORE_STALLED = 4;
/** Longest wait between two stalled rounds. */
const MAX_STALL_WAIT_MS = 5 * 60_000;

const { setStreamCursor } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const { redriveDeadLetters } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 20,
  },
});

/** A lane's run ends after this long even while busy: an audit line in history every minute. */
const LANE_RUN_MS = 60_000;
/** With several lanes, a lane that found nothing for this long ends and one `waitForLog` takes over. */
const LANE_LINGER_MS = 1_000;

const { waitForLog } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '5 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    maximumAttempts: ATTEMPTS_BEFORE_STALLED,
  },
});

const { deliverLane } = proxyActivities<ReturnType<typeof createActivities>>({
  // A lane delivers batch after batch while records keep coming; heartbeats keep it alive and let
  // a pause cancel it.
  startToCloseTimeout: '10 minutes',
  // Short, because cancellation (a pause) reaches a waiting activity only through a heartbeat.
  heartbeatTimeout: '5 seconds',
  // A pause must not race a delivery: wait until the activity has stopped (it stops at once while
  // waiting for records, and finishes a request it has already sent).
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    // 429/5xx/timeouts are retried here a few times, then by the workflow (as `stalled`) until they
    // succeed: nothing past the cursor is skipped. Customer.io's Retry-After arrives as the
    // failure's nextRetryDelay.
    maximumAttempts: ATTEMPTS_BEFORE_STALLED,
    nonRetryableErrorTypes: ['InvalidSyncConfig'],
  },
});

export function initialStreamState(spec: StreamSyncSpec): StreamSyncState {
  const paused = spec.sync.status === 'paused';
  return {
    cursor: 0,
    lanes: [],
    paused,
    status: paused ? 'paused' : 'running',
    headSeq: 0,
    counters: { delivered: 0, filtered: {}, deadLettered: 0, retried: 0, requests: 0 },
  };
}

/**
 * Validates a replacement config: the config file's schema (no null lists, unknown fields or
 * literal secrets), same sync, same type. Throwing rejects the update before it is applied.
 */
function validateNewSpec(current: StreamSyncSpec, next: StreamSyncSpec): void {
  if (!next?.sync || !next.destination) throw new Error('updateConfig needs { sync, destination }');
  assertStreamSyncSpec(next);
  assertSameCredentialHosts(current, next);
  if (next.sync.id !== current.sync.id)
    throw new Error(`sync id cannot change (${current.sync.id} → ${next.sync.id})`);
  if (next.sync.type !== 'stream') throw new Error('a stream sync cannot become another type');
  if (next.sync.destination !== next.destination.id) throw new Error('destination does not match the sync');
}

/**
 * A spec can reach Temporal without the CLI (a start by hand): a fresh start is checked against the
 * config file's schema and fails for good, naming the problems, instead of delivering with it.
 */
function validateStartSpec(input: { spec: unknown; state?: unknown }): void {
  if (input.state !== undefined) return; // continued as new: already checked when it started
  try {
    assertStreamSyncSpec(input.spec);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidSyncConfig');
  }
}

/**
 * One long-running workflow per stream sync. It runs `delivery.lanes` lanes side by side, each a
 * `deliverLane` activity moving its own cursor over the source's log (records are split by person,
 * so each person's order holds); records never enter its history, only cursors and counters. The
 * cursors live in the store; the workflow mirrors them from the lanes' summaries.
 */
export async function streamSyncWorkflow(input: StreamSyncInput): Promise<void> {
  validateStartSpec(input);
  let spec = input.spec;
  const state: StreamSyncState = input.state ?? initialStreamState(spec);
  state.lanes ??= [];
  // `startFrom: now` means when the sync was created, kept across continue-as-new.
  state.startFrom ??= resolveStartFrom(spec.sync.startFrom, workflowInfo().startTime.getTime());
  let inFlight: CancellationScope | undefined;
  // Set when something a hold or stall waits on changes (resume, new config, cursor move).
  let wake = false;
  // A cursor move is being written to the store: no delivery may start until it is.
  let moving = false;
  // The last round found nothing to do in any lane.
  let idle = false;

  const setStatus = (status: SyncStatus) => {
    if (state.status === status) return;
    state.status = status;
    upsertSearchAttributes([{ key: SyncStatusAttribute, value: status }]);
  };
  const interrupt = () => {
    wake = true;
    inFlight?.cancel();
  };

  setHandler(pauseSignal, () => {
    state.paused = true;
    setStatus('paused');
    interrupt();
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
    setStatus('running');
    wake = true;
  });
  setHandler(statusQuery, (): StreamSyncStatus => ({
    syncId: spec.sync.id,
    type: 'stream',
    status: state.status,
    cursor: state.cursor,
    lanes: state.lanes,
    headSeq: state.headSeq,
    lag: Math.max(0, state.headSeq - state.cursor),
    counters: state.counters,
    lastError: state.lastError,
    lastDeliveryAt: state.lastDeliveryAt,
    source: spec.sync.source,
    destination: spec.destination.id,
    delivering: inFlight !== undefined,
    stalled: state.stalled,
  }));
  setHandler(configQuery, () => spec);
  setHandler(redriveUpdate, async ({ ids }) => {
    const summary = await redriveDeadLetters({ syncId: spec.sync.id, spec, ids });
    state.counters.delivered += summary.delivered;
    addDeletions(state.counters, summary.deletions);
    if (summary.error)
      state.lastError = { message: summary.error, at: new Date().toISOString(), status: summary.status };
    return summary;
  });
  setHandler(
    updateConfigUpdate,
    (next) => {
      spec = next;
      upsertMemo({ name: next.sync.name ?? next.sync.id });
      interrupt();
      return { accepted: true as const };
    },
    { validator: (next) => validateNewSpec(spec, next) },
  );
  setHandler(
    setCursorUpdate,
    async (cursor) => {
      // The store is the system of record: stop the delivery in flight, write the new cursor there,
      // then mirror it. A delivery settled meanwhile is overruled, which is what a replay means.
      moving = true;
      try {
        interrupt();
        await condition(() => inFlight === undefined);
        const { previous } = await setStreamCursor({
          syncId: spec.sync.id,
          sourceId: spec.sync.source,
          cursor,
        });
        state.cursor = cursor;
        state.lanes = state.lanes.map(() => cursor);
        wake = true;
        return { previous, cursor };
      } finally {
        moving = false;
      }
    },
    {
      validator: (cursor) => {
        if (!Number.isInteger(cursor) || cursor < 0) throw new Error('cursor must be a non-negative integer');
      },
    },
  );

  for (;;) {
    await condition(() => !state.paused && !moving);
    if (shouldContinueAsNew(input.continueAsNewAfterEvents)) {
      // Handlers may still be running; a signal mid-CAN would be lost otherwise.
      await condition(allHandlersFinished);
      return continueAsNew<typeof streamSyncWorkflow>({
        spec,
        state,
        continueAsNewAfterEvents: input.continueAsNewAfterEvents,
      });
    }
    wake = false;
    const lanes = spec.sync.delivery.lanes;
    if (idle && lanes > 1) {
      // Every lane found nothing: one activity waits on the log instead of `lanes` of them.
      let has: boolean;
      try {
        inFlight = new CancellationScope();
        has = await inFlight.run(() =>
          waitForLog({
            sourceId: spec.sync.source,
            afterSeq: state.cursor,
            timeoutMs: spec.sync.delivery.waitFor,
          }),
        );
      } catch (err) {
        if (isCancellation(err)) continue;
        throw err;
      } finally {
        inFlight = undefined;
      }
      if (!has) continue;
    }
    const failedAttempts = state.stalled?.attempts;
    const run = (lane: number): DeliverLaneInput => ({
      syncId: spec.sync.id,
      spec,
      lane,
      lanes,
      startFrom: state.startFrom,
      ...(failedAttempts && { failedAttempts }),
      lingerMs:
        lanes === 1 ? spec.sync.delivery.waitFor : Math.min(spec.sync.delivery.waitFor, LANE_LINGER_MS),
      maxRunMs: LANE_RUN_MS,
    });
    inFlight = new CancellationScope();
    const results = await inFlight.run(() =>
      Promise.allSettled(Array.from({ length: lanes }, (_, lane) => deliverLane(run(lane)))),
    );
    inFlight = undefined;

    let failure: ActivityFailure | undefined;
    let hold: HoldReason | undefined;
    const summaries: LaneSummary[] = [];
    for (const result of results) {
      if (result.status === 'fulfilled') {
        summaries.push(result.value);
        hold ??= holdOfOutcome(result.value.outcome);
      } else if (!isCancellation(result.reason)) {
        if (!(result.reason instanceof ActivityFailure)) throw result.reason;
        failure ??= result.reason;
      }
    }
    applySummaries(state, summaries, lanes);
    idle = summaries.length === lanes && summaries.every((s) => s.outcome === 'idle');

    if (failure) {
      // A lane's attempts ran out: show it, wait, try again. Nothing of it was settled past its
      // stored cursor, so nothing is skipped.
      const stalled = state.stalled ?? { attempts: 0, since: new Date().toISOString() };
      stalled.attempts += ATTEMPTS_BEFORE_STALLED;
      state.stalled = stalled;
      state.counters.retried += ATTEMPTS_BEFORE_STALLED;
      state.lastError = lastErrorOf(failureOf(failure));
      setStatus('stalled');
      const rounds = stalled.attempts / ATTEMPTS_BEFORE_STALLED;
      await condition(() => wake || state.paused, Math.min(MAX_STALL_WAIT_MS, 5_000 * 2 ** (rounds - 1)));
      continue;
    }
    if (summaries.length === 0) continue; // every lane was cancelled (pause, new config, replay)
    state.stalled = undefined;
    if (hold) {
      setStatus(hold);
      // Wait for the fix: retry periodically, or sooner on resume / new config. The status stays
      // until a delivery gets through.
      await condition(() => wake || state.paused, spec.sync.delivery.credentialsRetry);
    } else if (state.status !== 'running' && !state.paused) {
      setStatus('running');
    }
  }
}

/** `startFrom` as the lanes take it: a time (the sync's creation for `now`) or the log's beginning. */
function resolveStartFrom(startFrom: string, createdAt: number): 'beginning' | { time: number } {
  if (startFrom === 'beginning') return 'beginning';
  if (startFrom === 'now') return { time: createdAt };
  return { time: Date.parse(startFrom) };
}

function shouldContinueAsNew(afterEvents: number | undefined): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || (afterEvents !== undefined && info.historyLength >= afterEvents);
}

/** Folds the lanes' summaries into the sync's counters and mirrors their cursors. */
function applySummaries(state: StreamSyncState, summaries: readonly LaneSummary[], lanes: number): void {
  if (state.lanes.length !== lanes) state.lanes = Array.from({ length: lanes }, () => state.cursor);
  const c = state.counters;
  for (const summary of summaries) {
    state.headSeq = Math.max(state.headSeq, summary.headSeq);
    state.lanes[summary.lane] = summary.cursor;
    c.retried += Math.max(0, summary.attempt - 1);
    c.delivered += summary.delivered;
    c.deadLettered += summary.deadLettered;
    c.requests += summary.requests;
    for (const [reason, n] of Object.entries(summary.filtered))
      c.filtered[reason] = (c.filtered[reason] ?? 0) + n;
    addDeletions(c, summary.deletions);
    if (summary.outcome !== 'idle') state.lastDeliveryAt = new Date().toISOString();
    if (summary.error) {
      state.lastError = {
        message: summary.error,
        at: new Date().toISOString(),
        ...(summary.status !== undefined && { status: summary.status }),
      };
    }
  }
  // Everything at or below the lowest lane cursor is settled.
  state.cursor = Math.min(...state.lanes);
}

function addDeletions(
  counters: StreamSyncState['counters'],
  deletions: Record<string, number> | undefined,
): void {
  if (deletions === undefined) return;
  const into = (counters.deletions ??= {});
  for (const [kind, n] of Object.entries(deletions)) into[kind] = (into[kind] ?? 0) + n;
}
