import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';

import type { CanonicalRecord } from '../events/record.ts';
import { personKeysOf } from '../mapping/deletions.ts';
import { planBatch, settleUserSnapshots, userKeysOf } from '../mapping/plan-batch.ts';
import type { NewDeadLetter } from '../store/store.ts';
import type { ActivityDeps } from './index.ts';
import { MissingCredentialsError } from './destinations.ts';
import { loadSuppressed, settleDeletions } from './person-deletions.ts';
import { sendPlanned } from './send-planned.ts';
import { loadUserSnapshots, snapshotScope } from './user-snapshots.ts';
import type { DeliverBatchInput, DeliverySummary } from './types.ts';

/** How often a waiting or sending delivery heartbeats (the SDK throttles below heartbeatTimeout). */
const HEARTBEAT_MS = 1000;

/** Failure type of an attempt handed back because its worker is shutting down. */
export const WORKER_SHUTDOWN_FAILURE = 'WorkerShuttingDown';

/**
 * Reads the records after the cursor, maps them, sends one Customer.io batch and reports what
 * happened. It waits on the store (heartbeating) until records arrive or `waitFor` passes, so an
 * idle sync costs one workflow round trip per `waitFor`, not one per poll.
 */
export async function deliverBatch(deps: ActivityDeps, input: DeliverBatchInput): Promise<DeliverySummary> {
  const ctx = Context.current();
  const { syncId, spec, afterSeq } = input;
  const { sync, destination } = spec;
  const attempt = ctx.info.attempt;
  if (attempt > 1) deps.metrics?.onRetry(syncId);
  ctx.heartbeat();
  const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
  try {
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
    const base = { delivered: 0, filtered: {}, deadLettered: 0, attempt, headSeq };
    if (!has) return report(deps, syncId, { ...base, outcome: 'idle', records: 0, cursor: afterSeq });

    const logged = await deps.store.readAfter(sync.source, afterSeq, sync.delivery.maxRecords);
    const dryRun = deps.clients.isDryRun(destination);
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
      outcome: 'delivered',
      records: logged.filter((l) => l.seq <= plan.lastSeq).length,
      filtered: plan.filtered,
      cursor: plan.lastSeq,
    };
    if (plan.ops.length === 0) {
      await deps.store.putUserSnapshots(scope, settleUserSnapshots(plan.users, new Set()));
      await deps.store.addDeadLetters(planned);
      summary.deadLettered = planned.length;
      return report(deps, syncId, summary, planned);
    }

    let client;
    try {
      client = dryRun
        ? deps.clients.dryRunClient(destination, syncId)
        : await deps.clients.client(destination);
    } catch (err) {
      if (!(err instanceof MissingCredentialsError)) throw err;
      // Same handling as a 401: keep the cursor, surface the problem, try again later.
      return report(deps, syncId, {
        ...base,
        outcome: 'credentials_rejected',
        records: 0,
        cursor: afterSeq,
        error: err.message,
      });
    }
    const sent = await sendPlanned({
      store: deps.store,
      client,
      destination,
      syncId,
      ops: plan.ops,
      records,
    });
    if (sent.kind === 'credentials_rejected') {
      return report(deps, syncId, {
        ...base,
        outcome: 'credentials_rejected',
        records: 0,
        cursor: afterSeq,
        status: sent.status,
        error: sent.error,
      });
    }
    const deadLetters = [...planned, ...sent.deadLetters];
    // Snapshots and dead letters are written only once Customer.io has answered: a delivery retried
    // before that recomputes the same absolute values, and does not store letters twice. Deletions
    // first: they drop snapshots that an identify later in the batch may have begun afresh.
    const deletions = await settleDeletions(deps.store, {
      syncId,
      dryRun,
      destinationId: destination.id,
      deletions: plan.deletions ?? [],
      deliveredSeqs: sent.deliveredSeqs,
    });
    await deps.store.putUserSnapshots(scope, settleUserSnapshots(plan.users, sent.deliveredSeqs));
    await deps.store.addDeadLetters(deadLetters);
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
        error: sent.error,
        ...(Object.keys(deletions).length > 0 ? { deletions } : {}),
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
