import { Context } from '@temporalio/activity';

import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { personKeysOf } from '../mapping/deletions.ts';
import { planBatch, settleUserSnapshots, userKeysOf } from '../mapping/plan-batch.ts';
import type { NewDeadLetter } from '../store/store.ts';
import { countByReason } from './lane-settle.ts';
import type { ActivityDeps } from './deps.ts';
import { isHold, openDestination } from './customerio-send.ts';
import { addCounts, loadSuppressed, settleDeletions } from './person-deletions.ts';
import { sendPlanned } from './send-planned.ts';
import { loadUserSnapshots, snapshotScope } from './user-snapshots.ts';
import type { RedriveInput, RedriveSummary } from '../workflows/activity-io.ts';

/**
 * Sends a sync's dead letters again with its current config (after a fix). Letters are marked
 * redriven once Customer.io has answered; records that fail again become new dead letters.
 */
export async function redriveDeadLetters(deps: ActivityDeps, input: RedriveInput): Promise<RedriveSummary> {
  const ctx = Context.current();
  const { syncId, spec } = input;
  const total: RedriveSummary = { redriven: 0, delivered: 0, filtered: {}, deadLettered: 0 };
  const wanted = input.ids ? new Set(input.ids) : undefined;
  const letters = (await deps.store.listDeadLetters(syncId, { limit: 100_000 })).filter(
    (l) => !wanted || wanted.has(l.id),
  );
  const opened = await openDestination(deps.clients, spec.destination, syncId);
  if (isHold(opened)) return { ...total, hold: opened.hold, error: opened.message, status: opened.status };
  const { client, dryRun } = opened;
  total.dryRun = dryRun;
  const scope = snapshotScope(syncId, dryRun);

  // Redrive in log order, batch by batch, as a delivery would.
  letters.sort((a, b) => a.seq - b.seq || a.id - b.id);
  let i = 0;
  while (i < letters.length) {
    ctx.heartbeat(i);
    const chunk = letters.slice(i, i + spec.sync.delivery.maxRecords);
    const logged: LoggedRecord[] = chunk.map((l) => ({
      seq: l.seq,
      sourceId: spec.sync.source,
      receivedAt: l.createdAt,
      record: l.record,
    }));
    const userKeys = userKeysOf(logged, spec.sync);
    const snapshots = await loadUserSnapshots(deps.store, syncId, dryRun, userKeys);
    const suppressed = await loadSuppressed(deps.store, syncId, dryRun, personKeysOf(logged, spec.sync));
    const plan = planBatch(logged, spec.sync, undefined, snapshots, suppressed);
    const included = chunk.filter((l) => l.seq <= plan.lastSeq);
    const records = new Map<number, CanonicalRecord>(included.map((l) => [l.seq, l.record]));
    const deadLetters: NewDeadLetter[] = plan.deadLetters.map((d) => ({ syncId, ...d }));
    let delivered = 0;
    let deliveredSeqs: ReadonlySet<number> = new Set();
    let deletions: Record<string, number> = {};
    if (plan.ops.length > 0) {
      const sent = await sendPlanned({
        store: deps.store,
        client,
        destination: spec.destination,
        syncId,
        ops: plan.ops,
        records,
      });
      if (sent.kind === 'hold')
        return { ...total, hold: sent.hold, error: sent.message, status: sent.status };
      deadLetters.push(...sent.deadLetters);
      deliveredSeqs = sent.deliveredSeqs;
      delivered = sent.deliveredSeqs.size;
      total.delivered += delivered;
      total.status = sent.status;
      // Before the settle, which may write a fresh snapshot of a person deleted earlier in the batch.
      deletions = await settleDeletions(deps.store, {
        syncId,
        dryRun,
        destinationId: spec.destination.id,
        deletions: plan.deletions ?? [],
        deliveredSeqs: sent.deliveredSeqs,
      });
      if (Object.keys(deletions).length > 0) addCounts((total.deletions ??= {}), deletions);
    }
    // The letters leave the queue in the same transaction that stores what failed again.
    await deps.store.settleDelivery({
      syncId,
      redriven: included.map((l) => l.id),
      deadLetters,
      userSnapshots: { scope, entries: settleUserSnapshots(plan.users, deliveredSeqs) },
    });
    deps.metrics?.onRecords(syncId, {
      delivered,
      filtered: plan.filtered,
      deadLettered: countByReason(deadLetters),
      deletions,
    });
    total.redriven += included.length;
    total.deadLettered += deadLetters.length;
    for (const [reason, n] of Object.entries(plan.filtered))
      total.filtered[reason] = (total.filtered[reason] ?? 0) + n;
    i += Math.max(1, included.length);
  }
  return total;
}
