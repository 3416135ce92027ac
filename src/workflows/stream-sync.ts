import {
  ActivityCancellationType,
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
import type { DeliverySummary } from '../activities/types.ts';
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

const { deliverBatch } = proxyActivities<ReturnType<typeof createActivities>>({
  // A delivery waits up to `waitFor` for records, then sends one request; heartbeats keep it alive
  // and let a pause cancel the wait.
  startToCloseTimeout: '10 minutes',
  // Short, because cancellation (a pause) reaches a waiting activity only through a heartbeat.
  heartbeatTimeout: '5 seconds',
  // A pause must not race a delivery: wait until the activity has stopped (it stops at once while
  // waiting for records, and finishes a request it has already sent).
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    // 429/5xx/timeouts retry until they succeed: nothing past the cursor is skipped. Customer.io's
    // Retry-After arrives as the failure's nextRetryDelay.
    nonRetryableErrorTypes: ['InvalidSyncConfig'],
  },
});

export function initialStreamState(spec: StreamSyncSpec): StreamSyncState {
  const paused = spec.sync.status === 'paused';
  return {
    cursor: 0,
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
 * One long-running workflow per stream sync. It moves a cursor over the source's log by calling
 * deliverBatch; records never enter its history, only cursors and counters.
 */
export async function streamSyncWorkflow(input: StreamSyncInput): Promise<void> {
  validateStartSpec(input);
  let spec = input.spec;
  const state: StreamSyncState = input.state ?? initialStreamState(spec);
  let inFlight: CancellationScope | undefined;
  // Set when something the credentials wait depends on changes (resume, new config, cursor move).
  let wake = false;

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
    headSeq: state.headSeq,
    lag: Math.max(0, state.headSeq - state.cursor),
    counters: state.counters,
    lastError: state.lastError,
    lastDeliveryAt: state.lastDeliveryAt,
    source: spec.sync.source,
    destination: spec.destination.id,
    delivering: inFlight !== undefined,
  }));
  setHandler(configQuery, () => spec);
  setHandler(redriveUpdate, async ({ ids }) => {
    const summary = await redriveDeadLetters({ syncId: spec.sync.id, spec, ids });
    state.counters.delivered += summary.delivered;
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
    (cursor) => {
      const previous = state.cursor;
      state.cursor = cursor;
      interrupt();
      return { previous, cursor };
    },
    {
      validator: (cursor) => {
        if (!Number.isInteger(cursor) || cursor < 0) throw new Error('cursor must be a non-negative integer');
      },
    },
  );

  for (;;) {
    await condition(() => !state.paused);
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
    const afterSeq = state.cursor;
    let summary: DeliverySummary;
    try {
      inFlight = new CancellationScope();
      summary = await inFlight.run(() => deliverBatch({ syncId: spec.sync.id, spec, afterSeq }));
    } catch (err) {
      // Paused, reconfigured or rewound mid-delivery: the cursor did not move, so the next run
      // re-reads the same records (Customer.io deduplicates events by id).
      if (isCancellation(err)) continue;
      throw err;
    } finally {
      inFlight = undefined;
    }
    applySummary(state, summary, afterSeq);

    if (summary.outcome === 'credentials_rejected') {
      setStatus('credentials_rejected');
      // Wait for the key to be fixed: retry periodically, or sooner on resume / new config.
      await condition(() => wake || state.paused, spec.sync.delivery.credentialsRetry);
      if (!state.paused) setStatus('running');
    } else if (state.status === 'credentials_rejected') {
      setStatus('running');
    }
  }
}

function shouldContinueAsNew(afterEvents: number | undefined): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || (afterEvents !== undefined && info.historyLength >= afterEvents);
}

function applySummary(state: StreamSyncState, summary: DeliverySummary, afterSeq: number): void {
  state.headSeq = Math.max(state.headSeq, summary.headSeq);
  state.counters.retried += Math.max(0, summary.attempt - 1);
  if (summary.outcome === 'credentials_rejected') {
    state.lastError = {
      message: summary.error ?? 'credentials rejected',
      at: new Date().toISOString(),
      status: summary.status,
    };
    return;
  }
  if (summary.outcome === 'idle') return;
  // Only move forward from where this delivery started: a replay (setCursor) during the activity
  // cancels it, so a summary never applies to a cursor it did not read from.
  if (state.cursor === afterSeq) state.cursor = summary.cursor;
  const c = state.counters;
  c.delivered += summary.delivered;
  c.deadLettered += summary.deadLettered;
  if (summary.status !== undefined) c.requests += 1;
  for (const [reason, n] of Object.entries(summary.filtered))
    c.filtered[reason] = (c.filtered[reason] ?? 0) + n;
  state.lastDeliveryAt = new Date().toISOString();
  if (summary.error)
    state.lastError = { message: summary.error, at: state.lastDeliveryAt, status: summary.status };
}
