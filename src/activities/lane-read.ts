import { CancelledFailure } from '@temporalio/activity';

import type { StreamSyncSpec } from '../config/schema.ts';
import type { LoggedRecord } from '../events/record.ts';
import { barrierBatch, barrierReady, passBarrier, startLaneWalk, walkLane } from '../mapping/lane-walk.ts';
import type { ActivityDeps } from './deps.ts';
import type { LaneBatch, LaneRun } from './lane-run.ts';

/** How often a lane at a barrier looks at the other lanes' cursors. */
const BARRIER_POLL_MS = 20;

/**
 * The read step of a lane run: the next request's worth of the lane's records after where it has
 * looked. Read while the last request was on the wire, the page stops at what had arrived when it
 * left: it is read again (the tail is in memory), so what came during the request goes in this one
 * rather than waiting for the next — at a steady rate, a request's wait instead of two.
 */
export async function readNext(run: LaneRun): Promise<LaneBatch | undefined> {
  const preRead = run.next !== undefined;
  const batch = await (run.next ?? readLane(run));
  run.next = undefined;
  if (preRead && batch && !batch.atBarrier && batch.mine.length < run.sync.delivery.maxRecords)
    return (await readLane(run)) ?? batch;
  return batch;
}

/** readBatch from where the run has looked (`from`, by default its position). */
export function readLane(run: LaneRun, from = run.pos): Promise<LaneBatch | undefined> {
  return readBatch(run.deps, run.spec, run.lane, run.lanes, from, run.cursor, run.stop);
}

/** The lane's stored cursor, read again after a settlement was refused. */
export async function storedCursor(run: LaneRun): Promise<number> {
  return (await laneCursors(run.deps, run.syncId, run.lanes))[run.lane]!;
}

/**
 * The next request's worth of the lane's records after `cursor`: reads pages of the log and walks
 * them as every lane does (src/mapping/lane-walk.ts: passes over other lanes' records, stops at
 * `maxRecords` of its own or at a barrier, a record every lane must agree on). Undefined when the
 * log has nothing after `cursor`.
 *
 * At a barrier, lane 0 waits until every other lane has passed everything before it and then sends
 * it alone; the other lanes wait until lane 0 has settled it and pass over it.
 */
async function readBatch(
  deps: ActivityDeps,
  spec: StreamSyncSpec,
  lane: number,
  lanes: number,
  cursor: number,
  /** The lane's stored cursor: before waiting at a barrier it must have caught up with `cursor`. */
  stored: number,
  stop: AbortSignal,
): Promise<LaneBatch | undefined> {
  const { sync } = spec;
  // Every lane reads every record, so pages are large: a lane's share of one is about a request.
  const page = Math.min(5000, sync.delivery.maxRecords * lanes);
  const walk = startLaneWalk(cursor);
  for (;;) {
    const logged = await (deps.logTail ?? deps.store).readAfter(sync.source, walk.to, page);
    if (logged.length === 0) return walk.to === cursor ? undefined : { mine: walk.mine, to: walk.to };
    let entries: readonly LoggedRecord[] = logged;
    for (;;) {
      const step = walkLane(walk, entries, { sync, lane, lanes, stored });
      if (step.kind === 'batch') return step.batch;
      if (step.kind === 'read_on') break;
      const { barrier } = step;
      await waitForLanes(deps, sync.id, lanes, stop, (c) => barrierReady(lane, barrier.seq, c));
      if (lane === 0) return barrierBatch(barrier);
      passBarrier(walk, barrier);
      entries = step.rest;
    }
    // A whole page of other lanes' records: settle what was passed over before reading on.
    if (logged.length < page || walk.mine.length === 0) return { mine: walk.mine, to: walk.to };
  }
}

/** The sync's stored lane cursors; a cancellation when a new lane count has replaced this one. */
async function laneCursors(deps: ActivityDeps, syncId: string, lanes: number): Promise<number[]> {
  const now = await deps.store.getLaneCursors(syncId);
  if (!now || now.lanes !== lanes) throw new CancelledFailure('the lane layout changed under this delivery');
  return now.cursors;
}

/** Waits (polling the store) until the sync's lane cursors satisfy `ready`. */
async function waitForLanes(
  deps: ActivityDeps,
  syncId: string,
  lanes: number,
  stop: AbortSignal,
  ready: (cursors: number[]) => boolean,
): Promise<void> {
  for (;;) {
    if (ready(await laneCursors(deps, syncId, lanes))) return;
    if (stop.aborted) throw new CancelledFailure('delivery cancelled at a barrier');
    await new Promise((r) => setTimeout(r, BARRIER_POLL_MS));
  }
}
