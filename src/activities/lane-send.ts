import type { CanonicalRecord } from '../events/record.ts';
import { personKeysOf } from '../mapping/deletions.ts';
import { settledTo } from '../mapping/lane-walk.ts';
import { planBatch, userKeysOf, type BatchPlan } from '../mapping/plan-batch.ts';
import type { NewDeadLetter } from '../store/store.ts';
import { isHold, openDestination, takeSendSlot, type Hold } from './customerio-send.ts';
import { readLane } from './lane-read.ts';
import type { LaneBatch, LaneRun } from './lane-run.ts';
import { loadSuppressed } from './person-deletions.ts';
import { sendPlanned, type SendResult } from './send-planned.ts';
import { loadUserSnapshots } from './user-snapshots.ts';

/** A batch planned into one request, and where the lane's cursor goes once it is settled. */
export interface LaneRequest {
  batch: LaneBatch;
  plan: BatchPlan;
  to: number;
  /** Records the plan itself refused (they never reach Customer.io). */
  planned: NewDeadLetter[];
}

/**
 * Takes the request's place in the destination's budget before it is planned: what arrives while
 * the lane waits for it goes in the same request, so a busy budget means fuller requests rather
 * than a queue. Only a batch with room left waits for its slot this way (a full one, a dry run and
 * a batch of other lanes' records go as they are).
 */
export async function takeSlot(run: LaneRun, batch: LaneBatch | undefined): Promise<LaneBatch | undefined> {
  if (!batch || batch.mine.length === 0 || batch.mine.length >= run.sync.delivery.maxRecords || run.dryRun)
    return batch;
  run.slot = await takeSendSlot(run.deps.store, run.destination, 'track');
  if (run.slot.waitedMs > 0) return (await readLane(run)) ?? batch;
  return batch;
}

/** Plans the lane's records into one request, with the people's snapshots and suppressions. */
export async function planRequest(run: LaneRun, batch: LaneBatch): Promise<LaneRequest> {
  const { deps, syncId, dryRun, sync } = run;
  const snapshots = await loadUserSnapshots(deps.store, syncId, dryRun, userKeysOf(batch.mine, sync));
  // A suppressed person's records are held back until an unsuppress (src/mapping/deletions.ts).
  const suppressed = await loadSuppressed(deps.store, syncId, dryRun, personKeysOf(batch.mine, sync));
  const plan = planBatch(batch.mine, sync, undefined, snapshots, suppressed);
  const to = settledTo(batch, plan.lastSeq);
  const planned: NewDeadLetter[] = plan.deadLetters.map((d) => ({ syncId, ...d }));
  return { batch, plan, to, planned };
}

/**
 * The send step: one `/api/v2/batch` request through the send boundary (its gate and the slot
 * taken for it). While it is on the wire the next page is read, as it does not depend on the
 * answer. A hold (no credentials, a paused destination, an answer that stops the sync) comes back
 * as it is; the run then ends without settling.
 */
export async function sendRequest(
  run: LaneRun,
  { batch, plan, to }: LaneRequest,
): Promise<Hold | Extract<SendResult, { kind: 'sent' }>> {
  const { deps, destination, syncId, summary } = run;
  if (run.opened === undefined) {
    const got = await openDestination(deps.clients, destination, syncId);
    if (isHold(got)) return got;
    run.opened = got;
  }
  const sending = sendPlanned({
    store: deps.store,
    client: run.opened.client,
    destination,
    syncId,
    ops: plan.ops,
    records: new Map<number, CanonicalRecord>(batch.mine.map((l) => [l.seq, l.record])),
    ...(run.slot && { slot: run.slot }),
  });
  run.slot = undefined;
  run.next = readLane(run, to);
  run.next.catch(() => {});
  const sent = await sending;
  if (sent.kind === 'hold') return sent;
  summary.requests += 1;
  summary.status = sent.status;
  summary.durationMs = (summary.durationMs ?? 0) + sent.durationMs;
  summary.dryRun = run.dryRun;
  if (sent.error !== undefined) summary.error = sent.error;
  return sent;
}
