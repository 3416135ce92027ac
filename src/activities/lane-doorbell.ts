import type { ActivityDeps } from './deps.ts';
import { ownedBy, type LaneRun } from './lane-run.ts';

/**
 * The doorbell's side of a lane run and of the waiter (the doorbell itself: doorbell.ts). A run
 * that starts wakes its workflow's doorbell; a run (or the waiter) that ends quiet arms it, so the
 * workflow sleeps without an activity until a record it is waiting for arrives.
 */

/** The workflow is awake: a doorbell armed by an earlier run has nothing left to ring for. */
export function disarmOnStart(run: LaneRun): void {
  if (run.workflowId) run.deps.doorbell?.disarm(run.workflowId);
}

/**
 * Arms the doorbell for a run that ended because nothing of its own came and that sent nothing,
 * when the workflow asked for it (`doorbellMs`) and the run is not being stopped; says so in the
 * summary (`armed`), so the workflow knows it may sleep.
 */
export function armWhenQuiet(run: LaneRun): void {
  const { deps, input, summary, workflowId } = run;
  if (!run.quiet || summary.outcome !== 'idle' || !input.doorbellMs || !deps.doorbell || !workflowId) return;
  if (run.stop.aborted) return;
  deps.doorbell.arm({
    workflowId,
    sourceId: run.sync.source,
    afterSeq: run.pos,
    // Only this lane's records (or a barrier) ring it, as only they would wake the lane.
    wants: (r) => ownedBy(run, r.record),
    forMs: input.doorbellMs,
  });
  summary.armed = true;
}

/**
 * The waiter (dispatchLanes) found the log quiet: any record of the source rings, as any lane may
 * have work in it. Not armed when the workflow did not ask for it or the waiter is being stopped.
 */
export function armForWaiter(
  deps: ActivityDeps,
  workflowId: string | undefined,
  {
    sourceId,
    afterSeq,
    forMs,
    stop,
  }: { sourceId: string; afterSeq: number; forMs: number | undefined; stop: AbortSignal },
): void {
  if (forMs && deps.doorbell && workflowId && !stop.aborted)
    deps.doorbell.arm({ workflowId, sourceId, afterSeq, wants: () => true, forMs });
}
