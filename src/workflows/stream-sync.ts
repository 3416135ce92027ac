import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';

import type { StreamSyncSpec } from '../config/schema.ts';
import { assertUpdateShape } from '../config/spec-rules.ts';
import type { createActivities } from '../activities/index.ts';
import {
  configQuery,
  pauseSignal,
  recordsArrivedSignal,
  redriveUpdate,
  resumeSignal,
  setCursorUpdate,
  statusQuery,
  updateConfigUpdate,
  type StreamSyncInput,
  type StreamSyncStatus,
} from './sync-api.ts';
import { activitySummary } from './web-ui-details.ts';
import { checkSpec } from './spec-check.ts';
import { addDeletions, initialStreamState, laneCountOf, resolveStartFrom } from './stream-lanes.ts';
import {
  interrupt,
  publish,
  refreshStatus,
  runLane,
  runPruner,
  runWaiter,
  setStatus,
  type LaneGeneration,
  type StreamRun,
} from './stream-lane-loops.ts';

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

/** An update's check of a replacement config (see assertUpdateShape), and its destination id. */
function validateNewSpec(current: StreamSyncSpec, next: StreamSyncSpec): void {
  assertUpdateShape('stream', current, next);
  if (next.sync.destination !== next.destination.id) throw new Error('destination does not match the sync');
}

/**
 * One long-running workflow per stream sync. It runs `delivery.lanes` lanes side by side, each a
 * `deliverLane` activity moving its own cursor over the source's log (records are split by person,
 * so each person's order holds); records never enter its history, only cursors and counters. The
 * cursors live in the store; the workflow mirrors them from the lanes' summaries.
 */
export async function streamSyncWorkflow(input: StreamSyncInput): Promise<void> {
  // A spec can reach Temporal without the CLI (a start by hand): a fresh start is checked against
  // the config file's schema and fails for good, naming the problems, instead of delivering with
  // it. Continued as new, it was checked when it started.
  // Awaited once the query and update handlers are set (see below).
  const specChecked = input.state === undefined ? checkSpec('stream', input.spec) : undefined;
  const state = input.state ?? initialStreamState(input.spec);
  state.lanes ??= [];
  // `startFrom: now` means when the sync was created, kept across continue-as-new.
  state.startFrom ??= resolveStartFrom(input.spec.sync.startFrom, workflowInfo().startTime.getTime());
  const run: StreamRun = {
    spec: input.spec,
    state,
    wake: false,
    moving: false,
    generation: 0,
    rang: false,
    sleptThrough: false,
    activeAt: Date.now(),
    lanes: [],
    inFlight: new Map(),
    specChecked,
  };

  setQueryAndUpdateHandlers(run);
  // Queries and updates have their handlers before the check: one in the sync's first moments (a
  // status query, a config update right after it was created) would otherwise find none. Nothing
  // they do before the check passes makes a command (the update handlers wait for it), so
  // histories replay as they were recorded. Signals are kept by Temporal until their handler is
  // set, which stays after the check, as it always was: a pause's search attribute goes after it.
  await specChecked;
  setSignalHandlers(run);

  publish(run);
  const continueAsNewDue = () => shouldContinueAsNew(input.continueAsNewAfterEvents);
  for (;;) {
    // One generation: the lanes of the current config and, when they are all idle, one waiter.
    const gen = run.generation;
    const count = laneCountOf(run.spec.sync.delivery.lanes, state.autoLanes);
    const generation: LaneGeneration = {
      gen,
      count,
      auto: run.spec.sync.delivery.lanes === 'auto',
      current: () => run.generation === gen && !continueAsNewDue(),
      ready: () => !state.paused && !run.moving,
    };
    if (state.lanes.length !== count) state.lanes = Array.from({ length: count }, () => state.cursor);
    run.lanes = Array.from({ length: count }, () => ({ idle: false, failedAttempts: 0 }));
    await Promise.all([
      ...Array.from({ length: count }, (_, lane) => runLane(run, generation, lane)),
      runWaiter(run, generation),
      runPruner(run, generation),
    ]);
    if (run.generation === gen && continueAsNewDue()) {
      // Handlers may still be running; a signal mid-CAN would be lost otherwise.
      await condition(allHandlersFinished);
      return continueAsNew<typeof streamSyncWorkflow>({
        spec: run.spec,
        state,
        continueAsNewAfterEvents: input.continueAsNewAfterEvents,
      });
    }
  }
}

function setQueryAndUpdateHandlers(run: StreamRun): void {
  const { state, specChecked } = run;
  setHandler(statusQuery, (): StreamSyncStatus => ({
    syncId: run.spec.sync.id,
    type: 'stream',
    status: state.status,
    cursor: state.cursor,
    lanes: state.lanes,
    headSeq: state.headSeq,
    lag: Math.max(0, state.headSeq - state.cursor),
    counters: state.counters,
    lastError: state.lastError,
    lastDeliveryAt: state.lastDeliveryAt,
    source: run.spec.sync.source,
    destination: run.spec.destination.id,
    delivering: [...run.inFlight.keys()].some((lane) => lane >= 0),
    stalled: state.stalled,
  }));
  setHandler(configQuery, () => run.spec);
  setHandler(redriveUpdate, async ({ ids }) => {
    await specChecked;
    const summary = await redriveDeadLetters.executeWithOptions({ summary: activitySummary.redrive(ids) }, [
      { syncId: run.spec.sync.id, spec: run.spec, ids },
    ]);
    state.counters.delivered += summary.delivered;
    addDeletions(state.counters, summary.deletions);
    if (summary.error)
      state.lastError = { message: summary.error, at: new Date().toISOString(), status: summary.status };
    return summary;
  });
  setHandler(
    updateConfigUpdate,
    async (next) => {
      await specChecked;
      await checkSpec('stream', next);
      run.spec = next;
      upsertMemo({ name: next.sync.name ?? next.sync.id, source: next.sync.source });
      run.generation++;
      interrupt(run);
      return { accepted: true as const };
    },
    { validator: (next) => validateNewSpec(run.spec, next) },
  );
  setHandler(
    setCursorUpdate,
    async (cursor) => {
      // The store is the system of record: stop every lane, write the new cursor there, then
      // mirror it. A delivery settled meanwhile is overruled, which is what a replay means.
      await specChecked;
      run.moving = true;
      try {
        interrupt(run);
        await condition(() => run.inFlight.size === 0);
        const { previous } = await setStreamCursor.executeWithOptions(
          { summary: activitySummary.setStreamCursor(cursor) },
          [{ syncId: run.spec.sync.id, sourceId: run.spec.sync.source, cursor }],
        );
        state.cursor = cursor;
        state.lanes = state.lanes.map(() => cursor);
        publish(run);
        for (const lane of run.lanes) lane.idle = false;
        run.wake = true;
        return { previous, cursor };
      } finally {
        run.moving = false;
      }
    },
    {
      validator: (cursor) => {
        if (!Number.isInteger(cursor) || cursor < 0) throw new Error('cursor must be a non-negative integer');
      },
    },
  );
}

function setSignalHandlers(run: StreamRun): void {
  setHandler(pauseSignal, () => {
    run.state.paused = true;
    setStatus(run, 'paused');
    interrupt(run);
  });
  setHandler(recordsArrivedSignal, () => {
    run.rang = true;
  });
  setHandler(resumeSignal, () => {
    run.state.paused = false;
    refreshStatus(run);
    run.wake = true;
  });
}

function shouldContinueAsNew(afterEvents: number | undefined): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || (afterEvents !== undefined && info.historyLength >= afterEvents);
}
