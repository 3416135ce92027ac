/**
 * The loops of one generation of a stream sync (src/workflows/stream-sync.ts): each lane's run after
 * run of `deliverLane`, the waiter that watches the log while every lane is idle, and the pruner.
 * What they decide comes from stream-lanes.ts; here are the activities, timers and cancellation.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  upsertSearchAttributes,
} from '@temporalio/workflow';

import { AUTO_MAX_LANES, INVALID_SYNC_CONFIG } from '../config/spec-rules.ts';
import type { createActivities } from '../activities/index.ts';
import type { LaneSummary } from './activity-io.ts';
import { SyncStatusAttribute, type SyncStatus } from './sync-api.ts';
import { activitySummary, streamDetails } from './web-ui-details.ts';
import { failureOf, lastErrorOf } from './failures.ts';
import {
  ATTEMPTS_BEFORE_STALLED,
  DEFAULT_LOG_RETENTION_MS,
  DOORBELL_MS,
  IDLE_LANE_RECHECK_MS,
  PRUNE_SHARED_MS,
  allLanesIdle,
  applySummary,
  deliverLaneInputOf,
  idleSleepMsOf,
  isDrowsy,
  lingerMsOf,
  pruneEveryMsOf,
  recordLaneRun,
  recordStalledRound,
  shouldGrow,
  shouldShrink,
  stallWaitMsOf,
  stalledOf,
  statusOf,
  type StreamControl,
} from './stream-lanes.ts';

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

/** The workflow's run: the shared state of stream-lanes.ts, and the activities it has in flight. */
export interface StreamRun extends StreamControl {
  /** Activities in flight, by lane (the waiter is -1): a pause, a new config or a replay cancels them. */
  inFlight: Map<number, CancellationScope>;
  /** The check of a fresh start's spec (see streamSyncWorkflow); handlers wait for it. */
  specChecked: Promise<void> | undefined;
}

/** One generation: the lanes of the current config (and lane count) and one waiter. */
export interface LaneGeneration {
  gen: number;
  count: number;
  auto: boolean;
  /** Still this generation, and no continue-as-new due. */
  current: () => boolean;
  /** Not paused, and no cursor move being written: deliveries may start. */
  ready: () => boolean;
}

/** The Web UI's current details: status, cursor, lag, last delivery. */
export function publish(run: StreamRun): void {
  setCurrentDetails(streamDetails(run.spec, run.state));
}

export function setStatus(run: StreamRun, status: SyncStatus): void {
  if (run.state.status !== status) {
    run.state.status = status;
    upsertSearchAttributes([{ key: SyncStatusAttribute, value: status }]);
  }
  publish(run);
}

/** The sync's status from its lanes': paused, else stalled or held if any lane is, else running. */
export function refreshStatus(run: StreamRun): void {
  run.state.stalled = stalledOf(run.lanes);
  setStatus(run, statusOf(run.state.paused, run.state.stalled, run.lanes));
}

/** Wakes what waits on a hold or stall, and cancels every activity in flight. */
export function interrupt(run: StreamRun): void {
  run.wake = true;
  for (const scope of run.inFlight.values()) scope.cancel();
}

/**
 * Sleeps without an activity until the doorbell rings, `awake()` or the generation ends, at most
 * idleSleepMsOf (IDLE_SLEEP_MS, or until the shrink to one lane is due).
 */
async function sleepOnDoorbell(run: StreamRun, g: LaneGeneration, awake: () => boolean): Promise<void> {
  const forMs = idleSleepMsOf(g.auto, g.count, run.state.autoLanesSince, Date.now());
  const rung = await condition(() => run.rang || awake() || !g.ready() || !g.current(), forMs);
  run.sleptThrough = !rung;
}

/** One lane: run after run of `deliverLane` while the generation lasts. */
export async function runLane(run: StreamRun, g: LaneGeneration, lane: number): Promise<void> {
  const { state } = run;
  const health = run.lanes[lane]!;
  while (g.current()) {
    await condition(() => !g.current() || (g.ready() && !allLanesIdle(run.lanes)));
    if (!g.current()) return;
    run.wake = false;
    run.rang = false;
    const failedAttempts = health.failedAttempts;
    const scope = new CancellationScope();
    run.inFlight.set(lane, scope);
    let summary: LaneSummary;
    try {
      summary = await scope.run(() =>
        deliverLane.executeWithOptions(
          {
            summary: activitySummary.deliverLane(run.spec, lane, g.count, state.lanes[lane] ?? state.cursor),
          },
          [
            deliverLaneInputOf({
              spec: run.spec,
              lane,
              count: g.count,
              auto: g.auto,
              startFrom: state.startFrom,
              failedAttempts,
              lingerMs: lingerMsOf(lane, run.lanes, run.spec.sync.delivery.waitFor, run.sleptThrough),
              drowsy: isDrowsy(run.activeAt, Date.now(), run.spec.sync.delivery.waitFor),
            }),
          ],
        ),
      );
    } catch (err) {
      // Paused, reconfigured or rewound: the lane's stored cursor says where to go on from.
      if (isCancellation(err)) continue;
      if (!(err instanceof ActivityFailure)) throw err;
      // The attempts ran out: show it, wait, try again. Nothing past the stored cursor was
      // settled, so nothing is skipped.
      recordStalledRound(health, state, new Date().toISOString());
      state.lastError = lastErrorOf(failureOf(err));
      refreshStatus(run);
      await condition(() => run.wake || state.paused || !g.current(), stallWaitMsOf(health.failedAttempts));
      continue;
    } finally {
      run.inFlight.delete(lane);
    }
    recordLaneRun(health, summary);
    if (!health.idle) run.activeAt = Date.now();
    applySummary(state, summary, new Date().toISOString());
    refreshStatus(run);
    if (shouldGrow(g.auto, g.count, summary, run.spec.sync.delivery.maxRecords)) {
      // Behind: the next generation splits the log by person into AUTO_MAX_LANES lanes, which
      // all start at this lane's cursor (nothing is sent twice).
      state.autoLanes = AUTO_MAX_LANES;
      state.autoLanesSince = Date.now();
      run.generation++;
      return;
    }
    if (health.hold) {
      // Wait for the fix: retry periodically, or sooner on resume / new config. The status
      // stays until a delivery gets through.
      await condition(
        () => run.wake || state.paused || !g.current(),
        run.spec.sync.delivery.credentialsRetry,
      );
    } else if (summary.armed) {
      await sleepOnDoorbell(run, g, () => run.wake);
    } else {
      run.sleptThrough = false;
    }
  }
}

/** While every lane is idle, one `dispatchLanes` waits on the log and says which lanes have work. */
export async function runWaiter(run: StreamRun, g: LaneGeneration): Promise<void> {
  const { state } = run;
  while (g.current()) {
    await condition(() => !g.current() || (g.ready() && run.lanes.some((l) => l.idle)));
    if (!g.current()) return;
    if (!allLanesIdle(run.lanes)) {
      // Some lane is busy (its run can last LANE_RUN_MS): after a moment, let the idle ones
      // look for records of their own, so nobody waits behind a busy lane.
      await condition(() => !g.current() || !g.ready() || allLanesIdle(run.lanes), IDLE_LANE_RECHECK_MS);
      if (g.current() && g.ready() && !allLanesIdle(run.lanes))
        for (const lane of run.lanes) lane.idle = false;
      continue;
    }
    if (shouldShrink(g.auto, g.count, state.lanes, state.autoLanesSince, Date.now())) {
      // Quiet, and every lane at the same place: one lane again, starting there.
      state.autoLanes = 1;
      run.generation++;
      return;
    }
    // Every lane found nothing: one activity waits on the log and says which lanes have work.
    // Histories from before the doorbell kept that activity waiting for ever.
    const doorbell =
      patched('idle-doorbell') && isDrowsy(run.activeAt, Date.now(), run.spec.sync.delivery.waitFor);
    run.rang = false;
    const scope = new CancellationScope();
    run.inFlight.set(-1, scope);
    let busy: number[];
    try {
      busy = await scope.run(() =>
        dispatchLanes.executeWithOptions({ summary: activitySummary.dispatchLanes(run.spec, g.count) }, [
          {
            syncId: run.spec.sync.id,
            spec: run.spec,
            lanes: g.count,
            startFrom: state.startFrom,
            waitMs: run.sleptThrough ? 0 : run.spec.sync.delivery.waitFor,
            ...(doorbell && { doorbellMs: DOORBELL_MS }),
          },
        ]),
      );
    } catch (err) {
      if (!isCancellation(err) && !(err instanceof ActivityFailure)) throw err;
      // A failed or cancelled wait only delays the lanes: let them look for themselves.
      busy = run.lanes.map((_, lane) => lane);
    } finally {
      run.inFlight.delete(-1);
    }
    for (const lane of busy) run.lanes[lane]!.idle = false;
    // Nothing came: the doorbell is armed, so wait for it without an activity.
    if (doorbell && busy.length === 0) await sleepOnDoorbell(run, g, () => run.lanes.some((l) => !l.idle));
    else run.sleptThrough = false;
  }
}

/** Keeps the source's log bounded: entries every sync has passed and older than the retention go. */
export async function runPruner(run: StreamRun, g: LaneGeneration): Promise<void> {
  // Histories from before log retention replay without it.
  if (!patched('log-retention')) return;
  const retentionMs = run.spec.log?.retention ?? DEFAULT_LOG_RETENTION_MS;
  const every = pruneEveryMsOf(retentionMs);
  while (g.current()) {
    await condition(() => !g.current(), every);
    if (!g.current()) return;
    try {
      await pruneLog.executeWithOptions({ summary: activitySummary.pruneLog(run.spec, retentionMs) }, [
        { sourceId: run.spec.sync.source, retentionMs, sharedWithinMs: PRUNE_SHARED_MS },
      ]);
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      log.warn('pruning the log failed; the next round tries again', { error: String(err.cause ?? err) });
    }
  }
}
