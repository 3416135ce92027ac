import type { Context } from '@temporalio/activity';

import type { Destination, StreamSyncSpec } from '../config/schema.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { laneOwns, type LaneBatch } from '../mapping/lane-walk.ts';
import type { DeliverLaneInput, LaneSummary } from '../workflows/activity-io.ts';
import type { OpenDestination, SendSlot } from './customerio-send.ts';
import type { ActivityDeps } from './deps.ts';
import { snapshotScope } from './user-snapshots.ts';

export type { LaneBatch } from '../mapping/lane-walk.ts';

/**
 * What one run of a lane carries from step to step (read, send, settle, finish): its input, where
 * it stands in the log, and what it has done so far. Only the run's own steps change it.
 */
export interface LaneRun {
  readonly deps: ActivityDeps;
  readonly input: DeliverLaneInput;
  readonly syncId: string;
  readonly spec: StreamSyncSpec;
  readonly sync: StreamSyncSpec['sync'];
  readonly destination: Destination;
  readonly lane: number;
  readonly lanes: number;
  readonly dryRun: boolean;
  /** Where the sync's user snapshots are kept (a dry run keeps its own). */
  readonly scope: string;
  /** Temporal's cancellation of this attempt (a pause, a new lane layout). */
  readonly cancelled: AbortSignal;
  /** Cancellation or the worker's shutdown: either ends the run. */
  readonly stop: AbortSignal;
  readonly started: number;
  readonly workflowId: string | undefined;
  /** The run's audit line, returned to the workflow. */
  readonly summary: LaneSummary;
  /**
   * The lane's stored cursor. `pos` is how far it has looked: passing over other lanes' records is
   * written only when it matters (a barrier, the end of the run), not once per record.
   */
  cursor: number;
  pos: number;
  /** The next page, read while the last request was on the wire. */
  next?: Promise<LaneBatch | undefined>;
  /** A slot taken for a request not sent (yet): answered when it goes unused, so the gate frees it. */
  slot?: SendSlot;
  opened?: OpenDestination;
  behindCheckedAt: number;
  /** The run ends because no record of its own came for its linger. */
  quiet: boolean;
}

export function newLaneRun(deps: ActivityDeps, input: DeliverLaneInput, ctx: Context): LaneRun {
  const { syncId, spec, lane, lanes } = input;
  const started = Date.now();
  const dryRun = spec.destination.dryRun === true;
  return {
    deps,
    input,
    syncId,
    spec,
    sync: spec.sync,
    destination: spec.destination,
    lane,
    lanes,
    dryRun,
    scope: snapshotScope(syncId, dryRun),
    cancelled: ctx.cancellationSignal,
    stop: deps.shutdownSignal
      ? AbortSignal.any([ctx.cancellationSignal, deps.shutdownSignal])
      : ctx.cancellationSignal,
    started,
    workflowId: ctx.info.workflowExecution?.workflowId,
    summary: {
      outcome: 'idle',
      lane,
      records: 0,
      delivered: 0,
      filtered: {},
      deadLettered: 0,
      requests: 0,
      cursor: 0,
      headSeq: 0,
      attempt: ctx.info.attempt,
    },
    cursor: 0,
    pos: 0,
    behindCheckedAt: started,
    quiet: false,
  };
}

/** The record is the lane's own, or a barrier every lane meets. */
export function ownedBy(run: LaneRun, record: CanonicalRecord): boolean {
  return laneOwns(record, run.sync, run.lane, run.lanes);
}
