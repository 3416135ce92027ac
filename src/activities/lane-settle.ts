import { settleUserSnapshots, type BatchPlan } from '../mapping/plan-batch.ts';
import type { NewDeadLetter } from '../store/store.ts';
import type { LaneBatch, LaneRun } from './lane-run.ts';
import { storedCursor } from './lane-read.ts';
import type { LaneRequest } from './lane-send.ts';
import { addCounts, settleDeletions } from './person-deletions.ts';
import type { SendResult } from './send-planned.ts';

/**
 * The settle step of a lane run: what was sent (or passed over) is written in one store
 * transaction (cursor, dead letters, user snapshots), then counted in the run's summary and the
 * metrics. A settlement whose cursor moved meanwhile (a replay, another attempt) writes nothing:
 * the lane then reads on from the stored cursor, and what this attempt sent is deduplicated by id.
 */

/** One settling transaction; false when the lane's stored cursor was no longer at `move.from`. */
export async function settle(
  run: LaneRun,
  move: { from: number; to: number },
  plan?: BatchPlan,
  deliveredSeqs: ReadonlySet<number> = new Set(),
  deadLetters: NewDeadLetter[] = [],
): Promise<boolean> {
  return run.deps.store.settleDelivery({
    syncId: run.syncId,
    cursor: { lane: run.lane, ...move },
    deadLetters,
    ...(plan && {
      userSnapshots: { scope: run.scope, entries: settleUserSnapshots(plan.users, deliveredSeqs) },
    }),
  });
}

/**
 * Only other lanes' records: move past them; in the store only when a barrier is next (the other
 * lanes wait for this one's stored cursor there).
 */
export async function passOver(run: LaneRun, batch: LaneBatch): Promise<void> {
  run.pos = batch.to;
  if (!batch.atBarrier) return;
  if (await settle(run, { from: run.cursor, to: run.pos })) run.cursor = run.pos;
  else run.cursor = run.pos = await storedCursor(run);
}

/** A request with nothing to send (all filtered or refused by the plan): settled as it is. */
export async function settleUnsent(run: LaneRun, request: LaneRequest): Promise<void> {
  const { plan, to, planned } = request;
  if (await settle(run, { from: run.cursor, to }, plan, new Set(), planned)) {
    count(run, request, 0, planned);
    run.cursor = run.pos = to;
  } else {
    run.cursor = run.pos = await storedCursor(run);
  }
}

/** Settles a request Customer.io has answered. */
export async function settleSent(
  run: LaneRun,
  request: LaneRequest,
  sent: Extract<SendResult, { kind: 'sent' }>,
): Promise<void> {
  const { plan, to, planned } = request;
  const deadLetters = [...planned, ...sent.deadLetters];
  // Accepted deletes and suppressions before the settle: they drop snapshots that an identify
  // later in the batch may have begun afresh (the settle writes those). Apart from the settle
  // because it holds whatever happens to the cursor: Customer.io has forgotten the person. A
  // crash in between re-sends the batch, which forgets the same people again.
  const deletions = await settleDeletions(run.deps.store, {
    syncId: run.syncId,
    dryRun: run.dryRun,
    destinationId: run.destination.id,
    deletions: plan.deletions ?? [],
    deliveredSeqs: sent.deliveredSeqs,
  });
  if (await settle(run, { from: run.cursor, to }, plan, sent.deliveredSeqs, deadLetters)) {
    count(run, request, sent.deliveredSeqs.size, deadLetters, deletions);
    run.cursor = run.pos = to;
  } else {
    // Another attempt or a replay moved the cursor: what this one sent is deduplicated by id.
    run.next = undefined;
    run.cursor = run.pos = await storedCursor(run);
  }
}

/** Adds a settled request to the run's summary and the metrics. */
function count(
  run: LaneRun,
  { batch, plan }: LaneRequest,
  delivered: number,
  deadLetters: readonly NewDeadLetter[],
  deletions: Record<string, number> = {},
): void {
  const { summary } = run;
  summary.outcome = 'delivered';
  if (Object.keys(deletions).length > 0) addCounts((summary.deletions ??= {}), deletions);
  summary.records += batch.mine.filter((l) => l.seq <= plan.lastSeq).length;
  summary.delivered += delivered;
  summary.deadLettered += deadLetters.length;
  for (const [reason, n] of Object.entries(plan.filtered))
    summary.filtered[reason] = (summary.filtered[reason] ?? 0) + n;
  run.deps.metrics?.onRecords(run.syncId, {
    delivered,
    filtered: plan.filtered,
    deadLettered: countByReason(deadLetters),
    ...(Object.keys(deletions).length > 0 && { deletions }),
  });
}

export function countByReason(letters: readonly { reason: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const letter of letters) counts[letter.reason] = (counts[letter.reason] ?? 0) + 1;
  return counts;
}
