/**
 * The stream workflow's lane decisions, as pure functions of its state and the workflow's clock:
 * how many lanes run, how long a lane run lingers, when the sync grows to more lanes and shrinks
 * back to one, when it sleeps on the doorbell and for how long, how long a stalled lane waits, and
 * how a lane's summary folds into the sync's state. No Temporal here (src/workflows/stream-sync.ts
 * runs the activities and timers), so each decision is unit-tested on its own
 * (stream-lanes.test.ts). Times are passed in as `now`: inside the workflow that is its
 * deterministic `Date.now()`.
 */
import type { StreamSyncSpec } from '../config/schema.ts';
import { AUTO_GROW_BATCHES, AUTO_MAX_LANES } from '../config/spec-rules.ts';
import { holdOf, type HoldReason } from '../customerio/policy.ts';
import type { StallInfo, StreamSyncState, SyncStatus } from './sync-api.ts';
import type { DeliverLaneInput, LaneSummary } from './activity-io.ts';

/**
 * Attempts of one delivery before the workflow hears of the failure: it then shows the sync as
 * `stalled` (status, search attribute) and tries again itself, so a failure that lasts is visible
 * instead of hidden inside one activity's endless retries.
 */
export const ATTEMPTS_BEFORE_STALLED = 4;
/** Longest wait between two stalled rounds. */
export const MAX_STALL_WAIT_MS = 5 * 60_000;

/** A lane's run ends after this long even while busy: an audit line in history, a fresh `status`. */
export const LANE_RUN_MS = 10_000;
/** With several lanes, a lane that found nothing for this long ends, and `dispatchLanes` takes over. */
export const LANE_LINGER_MS = 100;
/*
 * `lanes: auto` with one lane: a run ends early once it is more than AUTO_GROW_BATCHES full requests
 * behind the log's head (the lane looks every BEHIND_CHECK_MS, src/activities/lane-finish.ts), and
 * the sync grows to AUTO_MAX_LANES.
 */
/** `lanes: auto`: back to one lane once every lane is idle, at the same cursor, this long after growing. */
export const AUTO_SHRINK_AFTER_MS = 30_000;
/** How long idle lanes rest while another lane is busy before they look for records again. */
export const IDLE_LANE_RECHECK_MS = 1_000;

/**
 * A quiet sync holds no activity: once a lane run (or the waiter) finds nothing for its linger it
 * arms the worker's doorbell and the workflow sleeps until the doorbell rings (a record arrived) or
 * this long has passed (the doorbell's worker stopped, say): then it looks again, briefly.
 */
export const IDLE_SLEEP_MS = 60_000;
/** The doorbell stays armed a little longer than the sleep, so no record falls between them. */
export const DOORBELL_MS = IDLE_SLEEP_MS + 5_000;
/**
 * A sync sleeps only after this many `delivery.waitFor`s without a delivery (a minute by default):
 * waking costs a signal and an activity start per sync, which a hundred syncs woken at once by a
 * source's first record pay as a second or two of latency. A busy source's syncs never sleep.
 */
export const QUIET_WAITS_BEFORE_SLEEP = 6;

/** How often a sync prunes its source's log (at most; a short retention prunes more often). */
export const PRUNE_EVERY_MS = 10 * 60_000;
/** A sync skips its prune when another sync of the source started one this recently. */
export const PRUNE_SHARED_MS = 20_000;
/** `log.retention`'s default, for specs written before the setting existed. */
export const DEFAULT_LOG_RETENTION_MS = 7 * 86_400_000;

/** What the workflow knows of one lane of the current config. */
export interface LaneHealth {
  /** Its last run found nothing: it waits (with the others) for the log to grow. */
  idle: boolean;
  hold?: HoldReason;
  /** Consecutive failed attempts, 0 once a run gets through. */
  failedAttempts: number;
  failingSince?: string;
}

/**
 * What the stream workflow's loop and handlers share while it runs, in one object (instead of
 * flags in closures): the config, the state carried across continue-as-new, and the flags below.
 */
export interface StreamControl {
  spec: StreamSyncSpec;
  state: StreamSyncState;
  /** Set when something a hold or stall waits on changes (resume, new config, cursor move). */
  wake: boolean;
  /** A cursor move is being written to the store: no delivery may start until it is. */
  moving: boolean;
  /** Bumped by a new config (or a grow or shrink): the lanes of the old one stop and the new count starts. */
  generation: number;
  /** The doorbell rang: records arrived while the sync slept without an activity. */
  rang: boolean;
  /** The last sleep ended on its timer, not on the doorbell: the next look is brief. */
  sleptThrough: boolean;
  /** When a lane last delivered (or the run started): the sync sleeps once quiet for long enough. */
  activeAt: number;
  /** The lanes of the current generation. */
  lanes: LaneHealth[];
}

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

/** `startFrom` as the lanes take it: a time (the sync's creation for `now`) or the log's beginning. */
export function resolveStartFrom(startFrom: string, createdAt: number): 'beginning' | { time: number } {
  if (startFrom === 'beginning') return 'beginning';
  if (startFrom === 'now') return { time: createdAt };
  return { time: Date.parse(startFrom) };
}

/** How many lanes a generation runs: the fixed count, or under `auto` the current one (1 until grown). */
export function laneCountOf(
  lanes: StreamSyncSpec['sync']['delivery']['lanes'],
  autoLanes: number | undefined,
): number {
  return lanes === 'auto' ? Math.min(AUTO_MAX_LANES, autoLanes ?? 1) : lanes;
}

/** Every lane of several found nothing: one waiter (`dispatchLanes`) watches the log for them all. */
export function allLanesIdle(lanes: readonly LaneHealth[]): boolean {
  return lanes.length > 1 && lanes.every((l) => l.idle);
}

/**
 * How long a lane run waits for a record of its own before it ends. Alone, or beside a busy lane,
 * as long as a run may last: ending would only start it again at once (a Temporal round trip per
 * idle lane and turn). When every other lane is idle too, briefly: then one waiter
 * (`dispatchLanes`) watches the whole quiet sync instead of every lane holding a slot. Alone after
 * a sleep that ran out on its timer, briefly too: the look after such a sleep is short.
 */
export function lingerMsOf(
  lane: number,
  lanes: readonly LaneHealth[],
  waitFor: number,
  sleptThrough: boolean,
): number {
  return (lanes.length === 1 && !sleptThrough) || lanes.some((l, other) => other !== lane && !l.idle)
    ? Math.min(waitFor, LANE_RUN_MS)
    : Math.min(waitFor, LANE_LINGER_MS);
}

/** Quiet long enough (QUIET_WAITS_BEFORE_SLEEP waits) to hand the activity slot back and sleep on the doorbell. */
export function isDrowsy(activeAt: number, now: number, waitFor: number): boolean {
  return now - activeAt >= QUIET_WAITS_BEFORE_SLEEP * waitFor;
}

/**
 * How long a sleep on the doorbell lasts at most: IDLE_SLEEP_MS; under `lanes: auto` with several
 * lanes, no longer than until the shrink to one lane is due (the waiter checks it), but at least
 * IDLE_LANE_RECHECK_MS.
 */
export function idleSleepMsOf(
  auto: boolean,
  count: number,
  autoLanesSince: number | undefined,
  now: number,
): number {
  const shrinkIn = AUTO_SHRINK_AFTER_MS - (now - (autoLanesSince ?? 0));
  return auto && count > 1
    ? Math.min(IDLE_SLEEP_MS, Math.max(IDLE_LANE_RECHECK_MS, shrinkIn))
    : IDLE_SLEEP_MS;
}

/** The wait after a lane's attempts ran out: 5 s after the first round, doubling, at most MAX_STALL_WAIT_MS. */
export function stallWaitMsOf(failedAttempts: number): number {
  const rounds = failedAttempts / ATTEMPTS_BEFORE_STALLED;
  return Math.min(MAX_STALL_WAIT_MS, 5_000 * 2 ** (rounds - 1));
}

/**
 * `lanes: auto` below AUTO_MAX_LANES: the lane's run ended more than AUTO_GROW_BATCHES full
 * requests behind the log's head, so the sync grows. `behind` counts the source's records;
 * summaries of older runs carry only the seqs.
 */
export function shouldGrow(auto: boolean, count: number, summary: LaneSummary, maxRecords: number): boolean {
  const behind = summary.behind ?? summary.headSeq - summary.cursor > AUTO_GROW_BATCHES * maxRecords;
  return auto && count < AUTO_MAX_LANES && behind;
}

/** `lanes: auto` grown to several lanes, every lane at the same cursor, AUTO_SHRINK_AFTER_MS after growing: back to one. */
export function shouldShrink(
  auto: boolean,
  count: number,
  laneCursors: readonly number[],
  autoLanesSince: number | undefined,
  now: number,
): boolean {
  return (
    auto &&
    count > 1 &&
    laneCursors.every((cursor) => cursor === laneCursors[0]) &&
    now - (autoLanesSince ?? 0) >= AUTO_SHRINK_AFTER_MS
  );
}

/** The input of one lane run (`deliverLane`). */
export function deliverLaneInputOf(options: {
  spec: StreamSyncSpec;
  lane: number;
  count: number;
  /** The generation runs `lanes: auto`. */
  auto: boolean;
  startFrom: StreamSyncState['startFrom'];
  failedAttempts: number;
  lingerMs: number;
  drowsy: boolean;
}): DeliverLaneInput {
  const { spec, lane, count, auto, startFrom, failedAttempts, lingerMs, drowsy } = options;
  return {
    syncId: spec.sync.id,
    spec,
    lane,
    lanes: count,
    startFrom,
    ...(failedAttempts && { failedAttempts }),
    lingerMs,
    maxRunMs: LANE_RUN_MS,
    // One lane arms the doorbell itself once the sync is drowsy; several leave it to the waiter.
    ...(count === 1 && drowsy && { doorbellMs: DOORBELL_MS }),
    ...(auto &&
      count < AUTO_MAX_LANES && {
        endWhenBehind: AUTO_GROW_BATCHES * spec.sync.delivery.maxRecords,
      }),
  };
}

/** How often the pruner runs for a retention: half of it, between 30 s and PRUNE_EVERY_MS. */
export function pruneEveryMsOf(retentionMs: number): number {
  return Math.min(PRUNE_EVERY_MS, Math.max(30_000, retentionMs / 2));
}

/** The sync's stall from its lanes': the attempts of every failing lane, since the earliest. */
export function stalledOf(lanes: readonly LaneHealth[]): StallInfo | undefined {
  const failing = lanes.filter((l) => l.failedAttempts > 0);
  return failing.length === 0
    ? undefined
    : {
        attempts: failing.reduce((n, l) => n + l.failedAttempts, 0),
        since: failing.map((l) => l.failingSince!).sort()[0]!,
      };
}

/** The sync's status: paused, else stalled or held if any lane is, else running. */
export function statusOf(
  paused: boolean,
  stalled: StallInfo | undefined,
  lanes: readonly LaneHealth[],
): SyncStatus {
  if (paused) return 'paused';
  if (stalled) return 'stalled';
  return lanes.find((l) => l.hold)?.hold ?? 'running';
}

/** A lane's attempts ran out: one more stalled round, counted as ATTEMPTS_BEFORE_STALLED retries. */
export function recordStalledRound(health: LaneHealth, state: StreamSyncState, nowIso: string): void {
  health.failedAttempts += ATTEMPTS_BEFORE_STALLED;
  health.failingSince ??= nowIso;
  state.counters.retried += ATTEMPTS_BEFORE_STALLED;
}

/** A lane's run got through: no longer failing; idle or holding as its outcome says. */
export function recordLaneRun(health: LaneHealth, summary: LaneSummary): void {
  health.failedAttempts = 0;
  health.failingSince = undefined;
  health.idle = summary.outcome === 'idle';
  health.hold = holdOf(summary.outcome);
}

/** Folds a lane's summary into the sync's counters and mirrors its cursor. */
export function applySummary(state: StreamSyncState, summary: LaneSummary, nowIso: string): void {
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
  if (summary.outcome !== 'idle') state.lastDeliveryAt = nowIso;
  if (summary.error) {
    state.lastError = {
      message: summary.error,
      at: nowIso,
      ...(summary.status !== undefined && { status: summary.status }),
    };
  }
  // Everything at or below the lowest lane cursor is settled.
  state.cursor = Math.min(...state.lanes);
}

export function addDeletions(
  counters: StreamSyncState['counters'],
  deletions: Record<string, number> | undefined,
): void {
  if (deletions === undefined) return;
  const into = (counters.deletions ??= {});
  for (const [kind, n] of Object.entries(deletions)) into[kind] = (into[kind] ?? 0) + n;
}
