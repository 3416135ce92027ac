import { Context } from '@temporalio/activity';

import type { StreamSyncSpec } from '../config/schema.ts';
import { BARRIER, laneOf } from '../mapping/lanes.ts';
import type { ActivityDeps } from './deps.ts';
import { laneStart } from './lane-cursors.ts';
import { armForWaiter } from './lane-doorbell.ts';

/**
 * The waiter of a sync whose lanes are all idle: waits until the log grows past the lowest lane
 * cursor, then says which lanes have records of their own to send. The others are moved past what
 * they have no part in (they are idle, so nothing else moves them meanwhile), so a quiet sync with
 * many lanes starts one lane per person who sent something, not every lane.
 */
export async function dispatchLanes(deps: ActivityDeps, input: DispatchLanesInput): Promise<number[]> {
  const ctx = Context.current();
  const { syncId, spec, lanes } = input;
  const { sync } = spec;
  ctx.heartbeat();
  const beat = setInterval(() => ctx.heartbeat(), 1000);
  try {
    const stop = deps.shutdownSignal
      ? AbortSignal.any([ctx.cancellationSignal, deps.shutdownSignal])
      : ctx.cancellationSignal;
    const start = await laneStart(deps, syncId, sync.source, input.startFrom);
    const cursors = await deps.store.prepareLanes(syncId, sync.source, lanes, start);
    const from = Math.min(...cursors);
    if (!(await deps.store.waitForRecords(sync.source, from, input.waitMs, stop))) {
      armForWaiter(deps, ctx.info.workflowExecution?.workflowId, {
        sourceId: sync.source,
        afterSeq: from,
        forMs: input.doorbellMs,
        stop,
      });
      return [];
    }
    const work = new Set<number>();
    const passed = [...cursors];
    const logged = await (deps.logTail ?? deps.store).readAfter(sync.source, from, DISPATCH_PAGE);
    for (const entry of logged) {
      const owner = laneOf(entry.record, sync, lanes);
      // A barrier concerns every lane: let them all meet it.
      if (owner === BARRIER) return Array.from({ length: lanes }, (_, lane) => lane);
      if (entry.seq > cursors[owner]!) work.add(owner);
      for (let lane = 0; lane < lanes; lane++)
        if (!work.has(lane) && entry.seq > passed[lane]!) passed[lane] = entry.seq;
    }
    for (let lane = 0; lane < lanes; lane++) {
      if (work.has(lane) || passed[lane] === cursors[lane]) continue;
      // Refused when the lane moved meanwhile (another attempt): then it simply looks again.
      await deps.store.settleDelivery({ syncId, cursor: { lane, from: cursors[lane]!, to: passed[lane]! } });
    }
    // A full page may hide more: let every lane look for itself rather than guess.
    if (logged.length === DISPATCH_PAGE) return Array.from({ length: lanes }, (_, lane) => lane);
    return [...work].sort((a, b) => a - b);
  } finally {
    clearInterval(beat);
  }
}

const DISPATCH_PAGE = 2000;

export interface DispatchLanesInput {
  syncId: string;
  spec: StreamSyncSpec;
  lanes: number;
  startFrom?: 'beginning' | { time: number };
  waitMs: number;
  /** Nothing within `waitMs`: arm the doorbell for this long (the workflow then sleeps until it rings). */
  doorbellMs?: number;
}
