import { CancelledFailure, Context } from '@temporalio/activity';

import type { CanonicalRecord } from '../events/record.ts';
import { planBatch, settleUserSnapshots, userKeysOf } from '../mapping/plan-batch.ts';
import type { NewDeadLetter } from '../store/store.ts';
import type { ActivityDeps } from './index.ts';
import { MissingCredentialsError } from './destinations.ts';
import { sendPlanned } from './send-planned.ts';
import { loadUserSnapshots, snapshotScope } from './user-snapshots.ts';
import type { DeliverBatchInput, DeliverySummary } from './types.ts';

/** How often a waiting or sending delivery heartbeats (the SDK throttles below heartbeatTimeout). */
const HEARTBEAT_MS = 1000;

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
  ctx.heartbeat();
  const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
  try {
    const has = await deps.store.waitForRecords(
      sync.source,
      afterSeq,
      sync.delivery.waitFor,
      ctx.cancellationSignal,
    );
    if (ctx.cancellationSignal.aborted)
      throw new CancelledFailure('delivery cancelled while waiting for records');
    const headSeq = await deps.store.headSeq(sync.source);
    const base = { delivered: 0, filtered: {}, deadLettered: 0, attempt, headSeq };
    if (!has) return { ...base, outcome: 'idle', records: 0, cursor: afterSeq };

    const logged = await deps.store.readAfter(sync.source, afterSeq, sync.delivery.maxRecords);
    const dryRun = deps.clients.isDryRun(destination);
    // User forwarding compares each identify with what Customer.io already has of that user.
    const scope = snapshotScope(syncId, dryRun);
    const userKeys = userKeysOf(logged, sync);
    const snapshots = await loadUserSnapshots(deps.store, syncId, dryRun, userKeys);
    const plan = planBatch(logged, sync, undefined, snapshots);
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
      return summary;
    }

    let client;
    try {
      client = dryRun
        ? deps.clients.dryRunClient(destination, syncId)
        : await deps.clients.client(destination);
    } catch (err) {
      if (!(err instanceof MissingCredentialsError)) throw err;
      // Same handling as a 401: keep the cursor, surface the problem, try again later.
      return { ...base, outcome: 'credentials_rejected', records: 0, cursor: afterSeq, error: err.message };
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
      return {
        ...base,
        outcome: 'credentials_rejected',
        records: 0,
        cursor: afterSeq,
        status: sent.status,
        error: sent.error,
      };
    }
    const deadLetters = [...planned, ...sent.deadLetters];
    // Snapshots and dead letters are written only once Customer.io has answered: a delivery retried
    // before that recomputes the same absolute values, and does not store letters twice.
    await deps.store.putUserSnapshots(scope, settleUserSnapshots(plan.users, sent.deliveredSeqs));
    await deps.store.addDeadLetters(deadLetters);
    deps.metrics?.onDelivery(syncId, sent.status, sent.durationMs);
    return {
      ...summary,
      delivered: sent.deliveredSeqs.size,
      deadLettered: deadLetters.length,
      status: sent.status,
      durationMs: sent.durationMs,
      dryRun,
      error: sent.error,
    };
  } finally {
    clearInterval(beat);
  }
}
