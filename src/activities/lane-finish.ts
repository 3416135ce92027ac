import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';

import { holdOf } from '../customerio/policy.ts';
import type { LaneSummary } from '../workflows/activity-io.ts';
import type { Hold } from './customerio-send.ts';
import { armWhenQuiet } from './lane-doorbell.ts';
import { ownedBy, type LaneRun } from './lane-run.ts';
import { settle } from './lane-settle.ts';

/**
 * The finish step of a lane run: why it ends (cancellation or shutdown, its time budget, the log
 * far ahead, nothing of its own for its linger, a hold) and what it leaves behind (its position in
 * the store, the doorbell, the summary and metrics).
 */

/**
 * How long a run that has delivered something waits for more before it reports: long enough that
 * a steady trickle keeps one run going (no workflow round trip per record), short enough that a
 * lane gone quiet soon frees its activity slot and `status` hears where it got to.
 */
const SETTLED_LINGER_MS = 2_000;
/** How often a lane given `endWhenBehind` (`lanes: auto`) looks at how far the log's head is ahead. */
const BEHIND_CHECK_MS = 250;

/** Failure type of an attempt handed back because its worker is shutting down. */
export const WORKER_SHUTDOWN_FAILURE = 'WorkerShuttingDown';

/** Checked before each step of the loop: stopped, out of time, or far behind. */
export async function timeToEnd(run: LaneRun): Promise<boolean> {
  const { input } = run;
  if (run.stop.aborted || Date.now() - run.started > input.maxRunMs) return true;
  if (input.endWhenBehind !== undefined && Date.now() - run.behindCheckedAt >= BEHIND_CHECK_MS) {
    // Far behind: end the run, so the workflow grows the sync (the summary carries the head).
    run.behindCheckedAt = Date.now();
    if (await isBehind(run, run.pos, input.endWhenBehind)) return true;
  }
  return false;
}

/**
 * Nothing after the cursor: waits for the log to grow; false (the run ends, quiet) when nothing of
 * the lane's own came. A run that has delivered ends after a short pause, so the workflow (and
 * `status`) hears of it soon. Until then the workflow's `lingerMs` applies: short for a lane of a
 * quiet sync (one waiter takes over), long beside a busy lane.
 */
export async function lingerForMore(run: LaneRun): Promise<boolean> {
  const { deps, input, sync, summary } = run;
  const linger =
    summary.outcome === 'idle' ? input.lingerMs : Math.min(sync.delivery.waitFor, SETTLED_LINGER_MS);
  // Only this lane's records (or a barrier) wake it: its neighbours' traffic costs it nothing.
  const has = deps.logTail
    ? await deps.logTail.waitFor(sync.source, run.pos, (r) => ownedBy(run, r.record), linger, run.stop)
    : await deps.store.waitForRecords(sync.source, run.pos, linger, run.stop);
  if (!has) run.quiet = true;
  return has;
}

/** The loop has ended (not on a hold): hands the attempt back, or writes down where it got to. */
export async function endRun(run: LaneRun): Promise<LaneSummary> {
  const { deps, summary } = run;
  if (run.cancelled.aborted && summary.outcome === 'idle')
    throw new CancelledFailure('delivery cancelled while waiting for records');
  if (deps.shutdownSignal?.aborted && summary.outcome === 'idle') {
    // Nothing was sent: hand the attempt back so a running worker (or this one, restarted) picks
    // it up from the stored cursor.
    throw ApplicationFailure.create({
      type: WORKER_SHUTDOWN_FAILURE,
      message: 'worker shutting down: delivery handed back before sending',
      nextRetryDelay: '1 second',
      // Expected on every deploy: the SDK logs it at debug, not as a failed activity.
      category: ApplicationFailureCategory.BENIGN,
    });
  }
  // Write down how far the lane has looked (refused harmlessly when a replay moved it meanwhile).
  if (run.pos > run.cursor) await settle(run, { from: run.cursor, to: run.pos });
  armWhenQuiet(run);
  return finish(run);
}

/** The run ends on a hold: the summary says which, and the workflow holds the sync. */
export async function endHeld(run: LaneRun, hold: Hold): Promise<LaneSummary> {
  const { summary } = run;
  summary.outcome = hold.hold;
  summary.error = hold.message;
  if (hold.status !== undefined) summary.status = hold.status;
  return finish(run);
}

async function finish(run: LaneRun): Promise<LaneSummary> {
  const { deps, syncId, summary, input } = run;
  summary.cursor = (await deps.store.getLaneCursors(syncId))?.cursors[run.lane] ?? summary.cursor;
  summary.headSeq = await deps.store.headSeq(run.sync.source);
  if (input.endWhenBehind !== undefined)
    summary.behind = await isBehind(run, summary.cursor, input.endWhenBehind);
  return report(run);
}

/** More than `records` of the source's records after `seq` (a bounded count, not a seq difference). */
async function isBehind(run: LaneRun, seq: number, records: number): Promise<boolean> {
  return (await run.deps.store.countAfter(run.sync.source, seq, records + 1)) > records;
}

/** Tells the metrics hook where the sync stands after a run, then returns the summary. */
function report({ deps, syncId, summary }: LaneRun): LaneSummary {
  const metrics = deps.metrics;
  if (!metrics) return summary;
  metrics.onDelivery(syncId, summary.outcome);
  metrics.onLag(syncId, Math.max(0, summary.headSeq - summary.cursor));
  metrics.onSyncState(syncId, holdOf(summary.outcome) ?? 'running', 0);
  return summary;
}
