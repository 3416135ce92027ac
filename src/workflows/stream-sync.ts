import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';

import type { StreamSyncSpec } from '../config/schema.ts';
import {
  AUTO_GROW_BATCHES,
  AUTO_MAX_LANES,
  INVALID_SYNC_CONFIG,
  assertUpdateShape,
} from '../config/spec-rules.ts';
import type { createActivities } from '../activities/index.ts';
import type { LaneSummary } from './types.ts';
import {
  SyncStatusAttribute,
  configQuery,
  pauseSignal,
  recordsArrivedSignal,
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
import { activitySummary, streamDetails } from './details.ts';
import { failureOf, lastErrorOf } from './failures.ts';
import { holdOf, type HoldReason } from '../customerio/policy.ts';
import { checkSpec } from './spec-check.ts';

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

/** A lane's run ends after this long even while busy: an audit line in history, a fresh `status`. */
const LANE_RUN_MS = 10_000;
/** With several lanes, a lane that found nothing for this long ends, and `dispatchLanes` takes over. */
const LANE_LINGER_MS = 100;
/*
 * `lanes: auto` with one lane: a run ends early once it is more than AUTO_GROW_BATCHES full requests
 * behind the log's head (the lane looks every BEHIND_CHECK_MS, src/activities/deliver-lane.ts), and
 * the sync grows to AUTO_MAX_LANES.
 */
/** `lanes: auto`: back to one lane once every lane is idle, at the same cursor, this long after growing. */
const AUTO_SHRINK_AFTER_MS = 30_000;
/** How long idle lanes rest while another lane is busy before they look for records again. */
const IDLE_LANE_RECHECK_MS = 1_000;

/**
 * A quiet sync holds no activity: once a lane run (or the waiter) finds nothing for its linger it
 * arms the worker's doorbell and the workflow sleeps until the doorbell rings (a record arrived) or
 * this long has passed (the doorbell's worker stopped, say): then it looks again, briefly.
 */
const IDLE_SLEEP_MS = 60_000;
/** The doorbell stays armed a little longer than the sleep, so no record falls between them. */
const DOORBELL_MS = IDLE_SLEEP_MS + 5_000;
/**
 * A sync sleeps only after this many `delivery.waitFor`s without a delivery (a minute by default):
 * waking costs a signal and an activity start per sync, which a hundred syncs woken at once by a
 * source's first record pay as a second or two of latency. A busy source's syncs never sleep.
 */
const QUIET_WAITS_BEFORE_SLEEP = 6;

/** How often a sync prunes its source's log (at most; a short retention prunes more often). */
const PRUNE_EVERY_MS = 10 * 60_000;
/** A sync skips its prune when another sync of the source started one this recently. */
const PRUNE_SHARED_MS = 20_000;
/** `log.retention`'s default, for specs written before the setting existed. */
const DEFAULT_LOG_RETENTION_MS = 7 * 86_400_000;

const { pruneLog } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  // Pruning can always wait for the next round.
  retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
});

const { dispatchLanes } = proxyActivities<ReturnType<typeof createActivities>>({
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
    nonRetryableErrorTypes: [INVALID_SYNC_CONFIG],
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
  let spec = input.spec;
  const state: StreamSyncState = input.state ?? initialStreamState(spec);
  state.lanes ??= [];
  // `startFrom: now` means when the sync was created, kept across continue-as-new.
  state.startFrom ??= resolveStartFrom(spec.sync.startFrom, workflowInfo().startTime.getTime());
  /** Activities in flight, by lane (the waiter is -1): a pause, a new config or a replay cancels them. */
  const inFlight = new Map<number, CancellationScope>();
  // Set when something a hold or stall waits on changes (resume, new config, cursor move).
  let wake = false;
  // A cursor move is being written to the store: no delivery may start until it is.
  let moving = false;
  // Bumped by a new config: the lanes of the old one stop and the new count starts.
  let generation = 0;
  // The doorbell rang: records arrived while the sync slept without an activity.
  let rang = false;
  // The last sleep ended on its timer, not on the doorbell: the next look is brief.
  let sleptThrough = false;
  // When a lane last delivered (or the run started): the sync sleeps once quiet for long enough.
  let activeAt = Date.now();
  let lanes: LaneHealth[] = [];

  /** The Web UI's current details: status, cursor, lag, last delivery. */
  const publish = () => setCurrentDetails(streamDetails(spec, state));
  const setStatus = (status: SyncStatus) => {
    if (state.status !== status) {
      state.status = status;
      upsertSearchAttributes([{ key: SyncStatusAttribute, value: status }]);
    }
    publish();
  };
  /** The sync's status from its lanes': paused, else stalled or held if any lane is, else running. */
  const refreshStatus = () => {
    const failing = lanes.filter((l) => l.failedAttempts > 0);
    state.stalled =
      failing.length === 0
        ? undefined
        : {
            attempts: failing.reduce((n, l) => n + l.failedAttempts, 0),
            since: failing.map((l) => l.failingSince!).sort()[0]!,
          };
    if (state.paused) return setStatus('paused');
    if (state.stalled) return setStatus('stalled');
    const hold = lanes.find((l) => l.hold)?.hold;
    setStatus(hold ?? 'running');
  };
  const interrupt = () => {
    wake = true;
    for (const scope of inFlight.values()) scope.cancel();
  };

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
    delivering: [...inFlight.keys()].some((lane) => lane >= 0),
    stalled: state.stalled,
  }));
  setHandler(configQuery, () => spec);
  setHandler(redriveUpdate, async ({ ids }) => {
    await specChecked;
    const summary = await redriveDeadLetters.executeWithOptions({ summary: activitySummary.redrive(ids) }, [
      { syncId: spec.sync.id, spec, ids },
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
      spec = next;
      upsertMemo({ name: next.sync.name ?? next.sync.id, source: next.sync.source });
      generation++;
      interrupt();
      return { accepted: true as const };
    },
    { validator: (next) => validateNewSpec(spec, next) },
  );
  setHandler(
    setCursorUpdate,
    async (cursor) => {
      // The store is the system of record: stop every lane, write the new cursor there, then
      // mirror it. A delivery settled meanwhile is overruled, which is what a replay means.
      await specChecked;
      moving = true;
      try {
        interrupt();
        await condition(() => inFlight.size === 0);
        const { previous } = await setStreamCursor.executeWithOptions(
          { summary: activitySummary.setStreamCursor(cursor) },
          [{ syncId: spec.sync.id, sourceId: spec.sync.source, cursor }],
        );
        state.cursor = cursor;
        state.lanes = state.lanes.map(() => cursor);
        publish();
        for (const lane of lanes) lane.idle = false;
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
  // Queries and updates have their handlers before the check: one in the sync's first moments (a
  // status query, a config update right after it was created) would otherwise find none. Nothing
  // they do before the check passes makes a command (the update handlers wait for it), so
  // histories replay as they were recorded. Signals are kept by Temporal until their handler is
  // set, which stays after the check, as it always was: a pause's search attribute goes after it.
  await specChecked;
  setHandler(pauseSignal, () => {
    state.paused = true;
    setStatus('paused');
    interrupt();
  });
  setHandler(recordsArrivedSignal, () => {
    rang = true;
  });
  setHandler(resumeSignal, () => {
    state.paused = false;
    refreshStatus();
    wake = true;
  });

  publish();
  const continueAsNewDue = () => shouldContinueAsNew(input.continueAsNewAfterEvents);
  for (;;) {
    // One generation: the lanes of the current config and, when they are all idle, one waiter.
    const gen = generation;
    const auto = spec.sync.delivery.lanes === 'auto';
    const count = auto
      ? Math.min(AUTO_MAX_LANES, state.autoLanes ?? 1)
      : (spec.sync.delivery.lanes as number);
    if (state.lanes.length !== count) state.lanes = Array.from({ length: count }, () => state.cursor);
    lanes = Array.from({ length: count }, () => ({ idle: false, failedAttempts: 0 }));
    const current = () => generation === gen && !continueAsNewDue();
    const ready = () => !state.paused && !moving;
    const allIdle = () => count > 1 && lanes.every((l) => l.idle);

    /**
     * How long a lane run waits for a record of its own before it ends. Alone, or beside a busy
     * lane, as long as a run may last: ending would only start it again at once (a Temporal round
     * trip per idle lane and turn). When every other lane is idle too, briefly: then one waiter
     * (`dispatchLanes`) watches the whole quiet sync instead of every lane holding a slot.
     */
    const lingerFor = (lane: number): number =>
      (count === 1 && !sleptThrough) || lanes.some((l, other) => other !== lane && !l.idle)
        ? Math.min(spec.sync.delivery.waitFor, LANE_RUN_MS)
        : Math.min(spec.sync.delivery.waitFor, LANE_LINGER_MS);
    /** Quiet long enough to hand the activity slot back and sleep on the doorbell. */
    const drowsy = () => Date.now() - activeAt >= QUIET_WAITS_BEFORE_SLEEP * spec.sync.delivery.waitFor;
    /**
     * Sleeps without an activity until the doorbell rings, or IDLE_SLEEP_MS; under `lanes: auto`
     * with several lanes, no longer than until the shrink to one lane is due (the waiter checks it).
     */
    const sleep = async (awake: () => boolean): Promise<void> => {
      const shrinkIn = AUTO_SHRINK_AFTER_MS - (Date.now() - (state.autoLanesSince ?? 0));
      const forMs =
        auto && count > 1 ? Math.min(IDLE_SLEEP_MS, Math.max(IDLE_LANE_RECHECK_MS, shrinkIn)) : IDLE_SLEEP_MS;
      const rung = await condition(() => rang || awake() || !ready() || !current(), forMs);
      sleptThrough = !rung;
    };

    const runLane = async (lane: number): Promise<void> => {
      const health = lanes[lane]!;
      while (current()) {
        await condition(() => !current() || (ready() && !allIdle()));
        if (!current()) return;
        wake = false;
        rang = false;
        const failedAttempts = health.failedAttempts;
        const scope = new CancellationScope();
        inFlight.set(lane, scope);
        let summary: LaneSummary;
        try {
          summary = await scope.run(() =>
            deliverLane.executeWithOptions(
              { summary: activitySummary.deliverLane(spec, lane, count, state.lanes[lane] ?? state.cursor) },
              [
                {
                  syncId: spec.sync.id,
                  spec,
                  lane,
                  lanes: count,
                  startFrom: state.startFrom,
                  ...(failedAttempts && { failedAttempts }),
                  lingerMs: lingerFor(lane),
                  maxRunMs: LANE_RUN_MS,
                  ...(count === 1 && drowsy() && { doorbellMs: DOORBELL_MS }),
                  ...(auto &&
                    count < AUTO_MAX_LANES && {
                      endWhenBehind: AUTO_GROW_BATCHES * spec.sync.delivery.maxRecords,
                    }),
                },
              ],
            ),
          );
        } catch (err) {
          // Paused, reconfigured or rewound: the lane's stored cursor says where to go on from.
          if (isCancellation(err)) continue;
          if (!(err instanceof ActivityFailure)) throw err;
          // The attempts ran out: show it, wait, try again. Nothing past the stored cursor was
          // settled, so nothing is skipped.
          health.failedAttempts += ATTEMPTS_BEFORE_STALLED;
          health.failingSince ??= new Date().toISOString();
          state.counters.retried += ATTEMPTS_BEFORE_STALLED;
          state.lastError = lastErrorOf(failureOf(err));
          refreshStatus();
          const rounds = health.failedAttempts / ATTEMPTS_BEFORE_STALLED;
          await condition(
            () => wake || state.paused || !current(),
            Math.min(MAX_STALL_WAIT_MS, 5_000 * 2 ** (rounds - 1)),
          );
          continue;
        } finally {
          inFlight.delete(lane);
        }
        health.failedAttempts = 0;
        health.failingSince = undefined;
        health.idle = summary.outcome === 'idle';
        if (!health.idle) activeAt = Date.now();
        health.hold = holdOf(summary.outcome);
        applySummary(state, summary);
        refreshStatus();
        // `behind` counts the source's records; summaries of older runs carry only the seqs.
        const behind =
          summary.behind ??
          summary.headSeq - summary.cursor > AUTO_GROW_BATCHES * spec.sync.delivery.maxRecords;
        if (auto && count < AUTO_MAX_LANES && behind) {
          // Behind: the next generation splits the log by person into AUTO_MAX_LANES lanes, which
          // all start at this lane's cursor (nothing is sent twice).
          state.autoLanes = AUTO_MAX_LANES;
          state.autoLanesSince = Date.now();
          generation++;
          return;
        }
        if (health.hold) {
          // Wait for the fix: retry periodically, or sooner on resume / new config. The status
          // stays until a delivery gets through.
          await condition(() => wake || state.paused || !current(), spec.sync.delivery.credentialsRetry);
        } else if (summary.armed) {
          await sleep(() => wake);
        } else {
          sleptThrough = false;
        }
      }
    };

    const runWaiter = async (): Promise<void> => {
      while (current()) {
        await condition(() => !current() || (ready() && lanes.some((l) => l.idle)));
        if (!current()) return;
        if (!allIdle()) {
          // Some lane is busy (its run can last LANE_RUN_MS): after a moment, let the idle ones
          // look for records of their own, so nobody waits behind a busy lane.
          await condition(() => !current() || !ready() || allIdle(), IDLE_LANE_RECHECK_MS);
          if (current() && ready() && !allIdle()) for (const lane of lanes) lane.idle = false;
          continue;
        }
        if (
          auto &&
          count > 1 &&
          state.lanes.every((cursor) => cursor === state.lanes[0]) &&
          Date.now() - (state.autoLanesSince ?? 0) >= AUTO_SHRINK_AFTER_MS
        ) {
          // Quiet, and every lane at the same place: one lane again, starting there.
          state.autoLanes = 1;
          generation++;
          return;
        }
        // Every lane found nothing: one activity waits on the log and says which lanes have work.
        // Histories from before the doorbell kept that activity waiting for ever.
        const doorbell = patched('idle-doorbell') && drowsy();
        rang = false;
        const scope = new CancellationScope();
        inFlight.set(-1, scope);
        let busy: number[];
        try {
          busy = await scope.run(() =>
            dispatchLanes.executeWithOptions({ summary: activitySummary.dispatchLanes(spec, count) }, [
              {
                syncId: spec.sync.id,
                spec,
                lanes: count,
                startFrom: state.startFrom,
                waitMs: sleptThrough ? 0 : spec.sync.delivery.waitFor,
                ...(doorbell && { doorbellMs: DOORBELL_MS }),
              },
            ]),
          );
        } catch (err) {
          if (!isCancellation(err) && !(err instanceof ActivityFailure)) throw err;
          // A failed or cancelled wait only delays the lanes: let them look for themselves.
          busy = lanes.map((_, lane) => lane);
        } finally {
          inFlight.delete(-1);
        }
        for (const lane of busy) lanes[lane]!.idle = false;
        // Nothing came: the doorbell is armed, so wait for it without an activity.
        if (doorbell && busy.length === 0) await sleep(() => lanes.some((l) => !l.idle));
        else sleptThrough = false;
      }
    };

    /** Keeps the source's log bounded: entries every sync has passed and older than the retention go. */
    const runPruner = async (): Promise<void> => {
      // Histories from before log retention replay without it.
      if (!patched('log-retention')) return;
      const retentionMs = spec.log?.retention ?? DEFAULT_LOG_RETENTION_MS;
      const every = Math.min(PRUNE_EVERY_MS, Math.max(30_000, retentionMs / 2));
      while (current()) {
        await condition(() => !current(), every);
        if (!current()) return;
        try {
          await pruneLog.executeWithOptions({ summary: activitySummary.pruneLog(spec, retentionMs) }, [
            { sourceId: spec.sync.source, retentionMs, sharedWithinMs: PRUNE_SHARED_MS },
          ]);
        } catch (err) {
          if (!(err instanceof ActivityFailure)) throw err;
          log.warn('pruning the log failed; the next round tries again', { error: String(err.cause ?? err) });
        }
      }
    };

    await Promise.all([
      ...Array.from({ length: count }, (_, lane) => runLane(lane)),
      runWaiter(),
      runPruner(),
    ]);
    if (generation === gen && continueAsNewDue()) {
      // Handlers may still be running; a signal mid-CAN would be lost otherwise.
      await condition(allHandlersFinished);
      return continueAsNew<typeof streamSyncWorkflow>({
        spec,
        state,
        continueAsNewAfterEvents: input.continueAsNewAfterEvents,
      });
    }
  }
}

/** What the workflow knows of one lane of the current config. */
interface LaneHealth {
  /** Its last run found nothing: it waits (with the others) for the log to grow. */
  idle: boolean;
  hold?: HoldReason;
  /** Consecutive failed attempts, 0 once a run gets through. */
  failedAttempts: number;
  failingSince?: string;
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

/** Folds a lane's summary into the sync's counters and mirrors its cursor. */
function applySummary(state: StreamSyncState, summary: LaneSummary): void {
  const c = state.counters;
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
