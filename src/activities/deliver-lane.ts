import { Context } from '@temporalio/activity';

import type { DeliverLaneInput, LaneSummary } from '../workflows/activity-io.ts';
import { isHold } from './customerio-send.ts';
import type { ActivityDeps } from './deps.ts';
import { laneStart } from './lane-cursors.ts';
import { disarmOnStart } from './lane-doorbell.ts';
import { endHeld, endRun, lingerForMore, timeToEnd } from './lane-finish.ts';
import { claimLanes } from './lane-ownership.ts';
import { readNext } from './lane-read.ts';
import { newLaneRun, type LaneRun } from './lane-run.ts';
import { planRequest, sendRequest, takeSlot } from './lane-send.ts';
import { passOver, settleSent, settleUnsent } from './lane-settle.ts';

export { WORKER_SHUTDOWN_FAILURE } from './lane-finish.ts';

/** How often a running lane heartbeats (the SDK throttles below heartbeatTimeout). */
const HEARTBEAT_MS = 1000;

/**
 * Delivers one lane of a stream sync: reads the log after the lane's stored cursor, takes the
 * records of its lane (the others' are passed over), plans, sends one `/api/v2/batch` at a time and
 * settles each (cursor, dead letters, user snapshots) in one store transaction once Customer.io has
 * answered. While a request is on the wire the next page is already read.
 *
 * It keeps going while records keep coming, and returns once none arrived for `lingerMs`, after
 * `maxRunMs`, on a hold, or on a pause — with a summary of the whole run, the audit line in history.
 * The store's cursors are the system of record: the lane starts from its stored cursor, and a
 * settlement whose cursor moved meanwhile (a replay, another attempt) writes nothing.
 *
 * Each step is a module of its own: lane-read.ts (the log, read ahead), lane-send.ts (the rate
 * slot, the plan, the request), lane-settle.ts (the settling transaction, counts), lane-finish.ts
 * (why the run ends, and what it leaves), with run ownership in lane-ownership.ts and the doorbell
 * in lane-doorbell.ts.
 */
export async function deliverLane(deps: ActivityDeps, input: DeliverLaneInput): Promise<LaneSummary> {
  const ctx = Context.current();
  const attempt = ctx.info.attempt;
  if (attempt > 1) deps.metrics?.onRetry(input.syncId);
  const failing = (input.failedAttempts ?? 0) + attempt - 1;
  if (failing > 0) deps.metrics?.onSyncState(input.syncId, 'stalled', failing);
  ctx.heartbeat();
  const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
  const run = newLaneRun(deps, input, ctx);
  disarmOnStart(run);
  try {
    const ownership = await startRun(run, ctx);
    for (;;) {
      if (await timeToEnd(run)) break;
      run.slot?.answered();
      run.slot = undefined;
      const batch = await takeSlot(run, await readNext(run));
      if (batch === undefined) {
        if (await lingerForMore(run)) continue;
        break;
      }
      if (batch.mine.length === 0) {
        await passOver(run, batch);
        continue;
      }
      const request = await planRequest(run, batch);
      if (request.plan.ops.length === 0) {
        await settleUnsent(run, request);
        continue;
      }
      if (!(await ownership.held())) break;
      const sent = await sendRequest(run, request);
      if (isHold(sent)) return endHeld(run, sent);
      await settleSent(run, request, sent);
    }
    return await endRun(run);
  } finally {
    run.slot?.answered();
    clearInterval(beat);
  }
}

/** Prepares the sync's lanes, reads this one's stored cursor and claims the lanes for this run. */
async function startRun(run: LaneRun, ctx: Context) {
  const { deps, syncId, sync, lanes } = run;
  const start = await laneStart(deps, syncId, sync.source, run.input.startFrom);
  run.cursor = (await deps.store.prepareLanes(syncId, sync.source, lanes, start))[run.lane]!;
  // The sync's lanes belong to this workflow run from now on (lane-ownership.ts).
  const ownership = await claimLanes(deps.store, syncId, ctx.info);
  run.pos = run.cursor;
  run.summary.cursor = run.cursor;
  return ownership;
}
