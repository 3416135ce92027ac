import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';

import type { CanonicalRecord } from '../events/record.ts';
import { personKeysOf } from '../mapping/deletions.ts';
import { planBatch, settleUserSnapshots, userKeysOf } from '../mapping/plan-batch.ts';
import type { NewDeadLetter } from '../store/store.ts';
import { HOLD_REASONS } from '../customerio/policy.ts';
import { isHold, openDestination, type Hold } from './customerio-send.ts';
import type { ActivityDeps } from './index.ts';
import { loadSuppressed, settleDeletions } from './person-deletions.ts';
import { sendPlanned } from './send-planned.ts';
import { loadUserSnapshots, snapshotScope } from './user-snapshots.ts';
import type { DeliverBatchInput, DeliverySummary } from './types.ts';

/** How often a waiting or sending delivery heartbeats (the SDK throttles below heartbeatTimeout). */
const HEARTBEAT_MS = 1000;

/** Failure type of an attempt handed back because its worker is shutting down. */
export const WORKER_SHUTDOWN_FAILURE = 'WorkerShuttingDown';

/**
 * Reads the records after the sync's stored cursor, maps them, sends one Customer.io batch and
 * settles it: cursor, dead letters and user snapshots in one store transaction, only once
 * Customer.io has answered. It waits on the store (heartbeating) until records arrive or `waitFor`
 * passes, so an idle sync costs one workflow round trip per `waitFor`, not one per poll.
 *
 * The store's cursor is the system of record. A delivery that starts from any other position (the
 * workflow was re-created, a replay or another delivery moved it) sends nothing and reports where
 * the cursor is (`moved`), so a re-created workflow picks up where Customer.io was left.
 */
export async function deliverBatch(deps: ActivityDeps, input: DeliverBatchInput): Promise<DeliverySummary> {
  const ctx = Context.current();
  const { syncId, spec, afterSeq } = input;
  const { sync, destination } = spec;
  const attempt = ctx.info.attempt;
  if (attempt > 1) deps.metrics?.onRetry(syncId);
  const failing = (input.failedAttempts ?? 0) + attempt - 1;
  if (failing > 0) deps.metrics?.onSyncState(syncId, 'stalled', failing);
  ctx.heartbeat();
  const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
  try {
    const stored = (await deps.store.getStreamCursor(syncId)) ?? 0;
    const base = { delivered: 0, filtered: {}, deadLettered: 0, attempt, records: 0 };
    if (stored !== afterSeq) {
      const headSeq = await deps.store.headSeq(sync.source);
      return report(deps, syncId, { ...base, outcome: 'moved', cursor: stored, headSeq });
    }
    const stop = deps.shutdownSignal
      ? AbortSignal.any([ctx.cancellationSignal, deps.shutdownSignal])
      : ctx.cancellationSignal;
    const has = await deps.store.waitForRecords(sync.source, afterSeq, sync.delivery.waitFor, stop);
    if (ctx.cancellationSignal.aborted)
      throw new CancelledFailure('delivery cancelled while waiting for records');
    if (deps.shutdownSignal?.aborted) {
      // Nothing was read or sent: hand the attempt back so a running worker (or this one, restarted)
      // picks it up. The cursor has not moved, so the retry reads the same records.
      throw ApplicationFailure.create({
        type: WORKER_SHUTDOWN_FAILURE,
        message: 'worker shutting down: delivery handed back before sending',
        nextRetryDelay: '1 second',
        // Expected on every deploy: the SDK logs it at debug, not as a failed activity.
        category: ApplicationFailureCategory.BENIGN,
      });
    }
    const headSeq = await deps.store.headSeq(sync.source);
    if (!has) return report(deps, syncId, { ...base, outcome: 'idle', cursor: afterSeq, headSeq });

    const logged = await deps.store.readAfter(sync.source, afterSeq, sync.delivery.maxRecords);
    const dryRun = destination.dryRun === true;
    // User forwarding compares each identify with what Customer.io already has of that user.
    const scope = snapshotScope(syncId, dryRun);
    const userKeys = userKeysOf(logged, sync);
    const snapshots = await loadUserSnapshots(deps.store, syncId, dryRun, userKeys);
    // A suppressed person's records are held back until an unsuppress (src/mapping/deletions.ts).
    const suppressed = await loadSuppressed(deps.store, syncId, dryRun, personKeysOf(logged, sync));
    const plan = planBatch(logged, sync, undefined, snapshots, suppressed);
    const records = new Map<number, CanonicalRecord>(logged.map((l) => [l.seq, l.record]));
    const planned: NewDeadLetter[] = plan.deadLetters.map((d) => ({ syncId, ...d }));
    const summary: DeliverySummary = {
      ...base,
      headSeq,
      outcome: 'delivered',
      records: logged.filter((l) => l.seq <= plan.lastSeq).length,
      filtered: plan.filtered,
      cursor: plan.lastSeq,
    };
    const held = (hold: Hold): DeliverySummary =>
      report(deps, syncId, {
        ...base,
        headSeq,
        outcome: hold.hold,
        cursor: afterSeq,
        error: hold.message,
        ...(hold.status !== undefined && { status: hold.status }),
      });
    const settle = async (deliveredSeqs: ReadonlySet<number>, deadLetters: NewDeadLetter[]) => {
      const settled = await deps.store.settleDelivery({
        syncId,
        cursor: { from: afterSeq, to: plan.lastSeq },
        deadLetters,
        userSnapshots: { scope, entries: settleUserSnapshots(plan.users, deliveredSeqs) },
      });
      if (settled) return undefined;
      // Someone moved the cursor while this delivery was sending: what it sent is deduplicated by
      // event id, and nothing of it is recorded twice.
      const now = (await deps.store.getStreamCursor(syncId)) ?? 0;
      return report(deps, syncId, { ...base, headSeq, outcome: 'moved', cursor: now });
    };

    if (plan.ops.length === 0) {
      const moved = await settle(new Set(), planned);
      if (moved) return moved;
      summary.deadLettered = planned.length;
      return report(deps, syncId, summary, planned);
    }

    const opened = await openDestination(deps.clients, destination, syncId);
    if (isHold(opened)) return held(opened);
    const sent = await sendPlanned({
      store: deps.store,
      client: opened.client,
      destination,
      syncId,
      ops: plan.ops,
      records,
    });
    if (sent.kind === 'hold') return held(sent);
    const deadLetters = [...planned, ...sent.deadLetters];
    // Accepted deletes and suppressions before the settle: they drop snapshots that an identify
    // later in the batch may have begun afresh (the settle writes those). Done apart from the settle
    // because it holds whatever happens to the cursor: Customer.io has forgotten the person. A crash
    // in between re-sends the batch, which forgets the same people again.
    const deletions = await settleDeletions(deps.store, {
      syncId,
      dryRun,
      destinationId: destination.id,
      deletions: plan.deletions ?? [],
      deliveredSeqs: sent.deliveredSeqs,
    });
    const moved = await settle(sent.deliveredSeqs, deadLetters);
    if (moved) return moved;
    return report(
      deps,
      syncId,
      {
        ...summary,
        delivered: sent.deliveredSeqs.size,
        deadLettered: deadLetters.length,
        status: sent.status,
        durationMs: sent.durationMs,
        dryRun,
        ...(sent.error !== undefined && { error: sent.error }),
        ...(Object.keys(deletions).length > 0 && { deletions }),
      },
      deadLetters,
    );
  } finally {
    clearInterval(beat);
  }
}

/** Tells the metrics hook what the summary says (and why records were dead-lettered), then returns it. */
function report(
  deps: ActivityDeps,
  syncId: string,
  summary: DeliverySummary,
  deadLetters: readonly NewDeadLetter[] = [],
): DeliverySummary {
  const metrics = deps.metrics;
  if (!metrics) return summary;
  metrics.onDelivery(syncId, summary.outcome);
  const hold = HOLD_REASONS.find((reason) => reason === summary.outcome);
  metrics.onSyncState(syncId, hold ?? 'running', 0);
  metrics.onLag(syncId, Math.max(0, summary.headSeq - summary.cursor));
  if (summary.outcome === 'delivered') {
    metrics.onRecords(syncId, {
      delivered: summary.delivered,
      filtered: summary.filtered,
      deadLettered: countByReason(deadLetters),
      ...(summary.deletions ? { deletions: summary.deletions } : {}),
    });
  }
  return summary;
}

export function countByReason(letters: readonly { reason: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const letter of letters) counts[letter.reason] = (counts[letter.reason] ?? 0) + 1;
  return counts;
}
