import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';

import type { StreamSyncSpec } from '../config/schema.ts';
import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { holdOf } from '../customerio/policy.ts';
import { personKeysOf } from '../mapping/deletions.ts';
import { BARRIER, laneOf } from '../mapping/lanes.ts';
import { planBatch, settleUserSnapshots, userKeysOf, type BatchPlan } from '../mapping/plan-batch.ts';
import type { NewDeadLetter } from '../store/store.ts';
import {
  isHold,
  openDestination,
  takeSendSlot,
  type Hold,
  type OpenDestination,
  type SendSlot,
} from './customerio-send.ts';
import type { ActivityDeps } from './deps.ts';
import { addCounts, loadSuppressed, settleDeletions } from './person-deletions.ts';
import { laneStart } from './lane-cursors.ts';
import { sendPlanned } from './send-planned.ts';
import { loadUserSnapshots, snapshotScope } from './user-snapshots.ts';
import type { DeliverLaneInput, LaneSummary } from '../workflows/types.ts';

/** How often a running lane heartbeats (the SDK throttles below heartbeatTimeout). */
const HEARTBEAT_MS = 1000;
/**
 * How long a run that has delivered something waits for more before it reports: long enough that
 * a steady trickle keeps one run going (no workflow round trip per record), short enough that a
 * lane gone quiet soon frees its activity slot and `status` hears where it got to.
 */
const SETTLED_LINGER_MS = 2_000;
/** How often a lane given `endWhenBehind` (`lanes: auto`) looks at how far the log's head is ahead. */
const BEHIND_CHECK_MS = 250;
/** How often a lane at a barrier looks at the other lanes' cursors. */
const BARRIER_POLL_MS = 20;

/** Failure type of an attempt handed back because its worker is shutting down. */
export const WORKER_SHUTDOWN_FAILURE = 'WorkerShuttingDown';

/** One request's worth of a lane's records, read and ready to plan. */
interface LaneBatch {
  /** The lane's records, in log order. */
  mine: LoggedRecord[];
  /** Where the lane's cursor goes once these are settled (every record up to it was looked at). */
  to: number;
  /** The next record is a barrier: the lane's position must be in the store for the others. */
  atBarrier?: boolean;
}

/**
 * Delivers one lane of a stream sync: reads the log after the lane's stored cursor, takes the
 * records of its lane (the others' are passed over), plans, sends one `/api/v2/batch` at a time and
 * settles each (cursor, dead letters, user snapshots) in one store transaction once Customer.io has
 * answered. While a request is on the wire the next page is already read.
 *
 * It keeps going while records keep coming, and returns once none arrived for `lingerMs`, after
 * `maxRunMs`, on a hold, or on a pause — with a summary of the whole run, the audit line in history.
 * The store's cursors are the system of record: the lane starts from its stored cursor, and a
 * settlement whose cursor moved meanwhile (a replay, another attempt) writes nothing.
 */
export async function deliverLane(deps: ActivityDeps, input: DeliverLaneInput): Promise<LaneSummary> {
  const ctx = Context.current();
  const { syncId, spec, lane, lanes } = input;
  const { sync, destination } = spec;
  const attempt = ctx.info.attempt;
  if (attempt > 1) deps.metrics?.onRetry(syncId);
  const failing = (input.failedAttempts ?? 0) + attempt - 1;
  if (failing > 0) deps.metrics?.onSyncState(syncId, 'stalled', failing);
  ctx.heartbeat();
  const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
  const stop = deps.shutdownSignal
    ? AbortSignal.any([ctx.cancellationSignal, deps.shutdownSignal])
    : ctx.cancellationSignal;
  const started = Date.now();
  const dryRun = destination.dryRun === true;
  const scope = snapshotScope(syncId, dryRun);
  const summary: LaneSummary = {
    outcome: 'idle',
    lane,
    records: 0,
    delivered: 0,
    filtered: {},
    deadLettered: 0,
    requests: 0,
    cursor: 0,
    headSeq: 0,
    attempt,
  };
  let opened: OpenDestination | undefined;
  /** A slot taken for a request not sent (yet): answered when it goes unused, so the gate frees it. */
  let slot: SendSlot | undefined;
  const workflowId = ctx.info.workflowExecution?.workflowId;
  // Awake: a doorbell armed by an earlier run has nothing left to ring for.
  if (workflowId) deps.doorbell?.disarm(workflowId);
  /** The run ends because no record of its own came for its linger. */
  let quiet = false;
  const owns = (record: CanonicalRecord): boolean => {
    const owner = laneOf(record, sync, lanes);
    return owner === lane || owner === BARRIER;
  };
  try {
    const start = await laneStart(deps, syncId, sync.source, input.startFrom);
    // `cursor` is the lane's stored cursor, `pos` how far it has looked: passing over other lanes'
    // records is written only when it matters (a barrier, the end of the run), not once per record.
    let cursor = (await deps.store.prepareLanes(syncId, sync.source, lanes, start))[lane]!;
    // The sync's lanes belong to this workflow run from now on: a lane still running for a run
    // that was terminated (or lost with its Temporal database) stops before it sends again.
    const ownerKey = `sync-owner:${syncId}`;
    const runId = ctx.info.workflowExecution?.runId ?? ctx.info.activityId;
    // Each run of the lane claims it again; a write only when another run held it (most runs follow
    // one of their own workflow run).
    if ((await deps.store.getState(ownerKey)) !== runId) await deps.store.setState(ownerKey, runId);
    const ours = async () => (await deps.store.getState(ownerKey)) === runId;
    let pos = cursor;
    summary.cursor = cursor;
    let next: Promise<LaneBatch | undefined> | undefined;
    let behindCheckedAt = started;
    for (;;) {
      if (stop.aborted || Date.now() - started > input.maxRunMs) break;
      if (input.endWhenBehind !== undefined && Date.now() - behindCheckedAt >= BEHIND_CHECK_MS) {
        // Far behind: end the run, so the workflow grows the sync (the summary carries the head).
        behindCheckedAt = Date.now();
        if (await isBehind(pos, input.endWhenBehind)) break;
      }
      slot?.answered();
      slot = undefined;
      const preRead = next !== undefined;
      let batch = await (next ?? readBatch(deps, spec, lane, lanes, pos, cursor, stop));
      next = undefined;
      if (preRead && batch && !batch.atBarrier && batch.mine.length < sync.delivery.maxRecords) {
        // Read while the last request was on the wire, the page stops at what had arrived when it
        // left: read again (the tail is in memory), so what came during the request goes in this
        // one rather than waiting for the next — at a steady rate, a request's wait instead of two.
        batch = (await readBatch(deps, spec, lane, lanes, pos, cursor, stop)) ?? batch;
      }
      if (batch && batch.mine.length > 0 && batch.mine.length < sync.delivery.maxRecords && !dryRun) {
        // Take the request's place in the budget first: what arrives while the lane waits for it
        // goes in the same request, so a busy budget means fuller requests rather than a queue.
        slot = await takeSendSlot(deps.store, destination, 'track');
        if (slot.waitedMs > 0) batch = (await readBatch(deps, spec, lane, lanes, pos, cursor, stop)) ?? batch;
      }
      if (batch === undefined) {
        // Nothing after the cursor: wait for the log to grow, or end the run. A run that has
        // delivered ends after a short pause, so the workflow (and `status`) hears of it soon.
        // Until then the workflow's `lingerMs` applies: short for a lane of a quiet sync (one waiter
        // takes over), long beside a busy lane.
        const linger =
          summary.outcome === 'idle' ? input.lingerMs : Math.min(sync.delivery.waitFor, SETTLED_LINGER_MS);
        // Only this lane's records (or a barrier) wake it: its neighbours' traffic costs it nothing.
        const has = deps.logTail
          ? await deps.logTail.waitFor(sync.source, pos, (r) => owns(r.record), linger, stop)
          : await deps.store.waitForRecords(sync.source, pos, linger, stop);
        if (!has) {
          quiet = true;
          break;
        }
        continue;
      }
      if (batch.mine.length === 0) {
        // Only other lanes' records: move past them; in the store only when a barrier is next (the
        // other lanes wait for this one's stored cursor there).
        pos = batch.to;
        if (batch.atBarrier) {
          if (await settle({ from: cursor, to: pos })) cursor = pos;
          else cursor = pos = await reload();
        }
        continue;
      }
      const snapshots = await loadUserSnapshots(deps.store, syncId, dryRun, userKeysOf(batch.mine, sync));
      // A suppressed person's records are held back until an unsuppress (src/mapping/deletions.ts).
      const suppressed = await loadSuppressed(deps.store, syncId, dryRun, personKeysOf(batch.mine, sync));
      const plan = planBatch(batch.mine, sync, undefined, snapshots, suppressed);
      // planBatch stops at 500 KB: the cursor goes to just before the first record it left out.
      const left = batch.mine.find((l) => l.seq > plan.lastSeq);
      const to = left === undefined ? batch.to : left.seq - 1;
      const planned: NewDeadLetter[] = plan.deadLetters.map((d) => ({ syncId, ...d }));
      const count = (
        delivered: number,
        deadLetters: readonly NewDeadLetter[],
        deletions: Record<string, number> = {},
      ) => {
        summary.outcome = 'delivered';
        if (Object.keys(deletions).length > 0) addCounts((summary.deletions ??= {}), deletions);
        summary.records += batch.mine.filter((l) => l.seq <= plan.lastSeq).length;
        summary.delivered += delivered;
        summary.deadLettered += deadLetters.length;
        for (const [reason, n] of Object.entries(plan.filtered))
          summary.filtered[reason] = (summary.filtered[reason] ?? 0) + n;
        deps.metrics?.onRecords(syncId, {
          delivered,
          filtered: plan.filtered,
          deadLettered: countByReason(deadLetters),
          ...(Object.keys(deletions).length > 0 && { deletions }),
        });
      };
      if (plan.ops.length === 0) {
        if (await settle({ from: cursor, to }, plan, new Set(), planned)) {
          count(0, planned);
          cursor = pos = to;
        } else {
          cursor = pos = await reload();
        }
        continue;
      }
      if (!(await ours())) break;
      if (opened === undefined) {
        const got = await openDestination(deps.clients, destination, syncId);
        if (isHold(got)) return held(got);
        opened = got;
      }
      const sending = sendPlanned({
        store: deps.store,
        client: opened.client,
        destination,
        syncId,
        ops: plan.ops,
        records: new Map<number, CanonicalRecord>(batch.mine.map((l) => [l.seq, l.record])),
        ...(slot && { slot }),
      });
      slot = undefined;
      // Read the next page while this request is on the wire (it does not depend on the answer).
      next = readBatch(deps, spec, lane, lanes, to, cursor, stop);
      next.catch(() => {});
      const sent = await sending;
      if (sent.kind === 'hold') return held(sent);
      summary.requests += 1;
      summary.status = sent.status;
      summary.durationMs = (summary.durationMs ?? 0) + sent.durationMs;
      summary.dryRun = dryRun;
      if (sent.error !== undefined) summary.error = sent.error;
      const deadLetters = [...planned, ...sent.deadLetters];
      // Accepted deletes and suppressions before the settle: they drop snapshots that an identify
      // later in the batch may have begun afresh (the settle writes those). Apart from the settle
      // because it holds whatever happens to the cursor: Customer.io has forgotten the person. A
      // crash in between re-sends the batch, which forgets the same people again.
      const deletions = await settleDeletions(deps.store, {
        syncId,
        dryRun,
        destinationId: destination.id,
        deletions: plan.deletions ?? [],
        deliveredSeqs: sent.deliveredSeqs,
      });
      if (await settle({ from: cursor, to }, plan, sent.deliveredSeqs, deadLetters)) {
        count(sent.deliveredSeqs.size, deadLetters, deletions);
        cursor = pos = to;
      } else {
        // Another attempt or a replay moved the cursor: what this one sent is deduplicated by id.
        next = undefined;
        cursor = pos = await reload();
      }
    }
    if (ctx.cancellationSignal.aborted && summary.outcome === 'idle')
      throw new CancelledFailure('delivery cancelled while waiting for records');
    if (deps.shutdownSignal?.aborted && summary.outcome === 'idle') {
      // Nothing was sent: hand the attempt back so a running worker (or this one, restarted) picks
      // it up from the stored cursor.
      throw ApplicationFailure.create({
        type: WORKER_SHUTDOWN_FAILURE,
        message: 'worker shutting down: delivery handed back before sending',
        nextRetryDelay: '1 second',
        // Expected on every deploy: the SDK logs it at debug, not as a failed activity.
        category: ApplicationFailureCategory.BENIGN,
      });
    }
    // Write down how far the lane has looked (refused harmlessly when a replay moved it meanwhile).
    if (pos > cursor) await settle({ from: cursor, to: pos });
    if (
      quiet &&
      summary.outcome === 'idle' &&
      input.doorbellMs &&
      deps.doorbell &&
      workflowId &&
      !stop.aborted
    ) {
      // Quiet: the workflow sleeps without this activity until one of the lane's records arrives.
      deps.doorbell.arm({
        workflowId,
        sourceId: sync.source,
        afterSeq: pos,
        wants: (r) => owns(r.record),
        forMs: input.doorbellMs,
      });
      summary.armed = true;
    }
    return await finish();
  } finally {
    slot?.answered();
    clearInterval(beat);
  }

  async function settle(
    move: { from: number; to: number },
    plan?: BatchPlan,
    deliveredSeqs: ReadonlySet<number> = new Set(),
    deadLetters: NewDeadLetter[] = [],
  ): Promise<boolean> {
    return deps.store.settleDelivery({
      syncId,
      cursor: { lane, ...move },
      deadLetters,
      ...(plan && { userSnapshots: { scope, entries: settleUserSnapshots(plan.users, deliveredSeqs) } }),
    });
  }

  async function reload(): Promise<number> {
    return (await laneCursors(deps, syncId, lanes))[lane]!;
  }

  async function finish(): Promise<LaneSummary> {
    summary.cursor = (await deps.store.getLaneCursors(syncId))?.cursors[lane] ?? summary.cursor;
    summary.headSeq = await deps.store.headSeq(sync.source);
    if (input.endWhenBehind !== undefined)
      summary.behind = await isBehind(summary.cursor, input.endWhenBehind);
    return report(deps, syncId, summary);
  }

  /** More than `records` of the source's records after `seq` (a bounded count, not a seq difference). */
  async function isBehind(seq: number, records: number): Promise<boolean> {
    return (await deps.store.countAfter(sync.source, seq, records + 1)) > records;
  }

  async function held(hold: Hold): Promise<LaneSummary> {
    summary.outcome = hold.hold;
    summary.error = hold.message;
    if (hold.status !== undefined) summary.status = hold.status;
    return finish();
  }
}

/**
 * The next request's worth of the lane's records after `cursor`: reads pages of the log, passes over
 * other lanes' records, and stops at `maxRecords` of its own or at a barrier (a record every lane
 * must agree on). Undefined when the log has nothing after `cursor`.
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
  const max = sync.delivery.maxRecords;
  // Every lane reads every record, so pages are large: a lane's share of one is about a request.
  const page = Math.min(5000, max * lanes);
  const mine: LoggedRecord[] = [];
  let to = cursor;
  for (;;) {
    const logged = await (deps.logTail ?? deps.store).readAfter(sync.source, to, page);
    if (logged.length === 0) return to === cursor ? undefined : { mine, to };
    for (const entry of logged) {
      const owner = laneOf(entry.record, sync, lanes);
      if (owner === BARRIER) {
        if (mine.length > 0 || to !== cursor || stored < to) return { mine, to, atBarrier: true };
        if (lane === 0) {
          await waitForLanes(deps, spec.sync.id, lanes, stop, (c) =>
            c.every((at, i) => i === 0 || at >= entry.seq - 1),
          );
          return { mine: [entry], to: entry.seq };
        }
        await waitForLanes(deps, spec.sync.id, lanes, stop, (c) => c[0]! >= entry.seq);
        to = entry.seq;
        continue;
      }
      if (owner === lane) {
        mine.push(entry);
        to = entry.seq;
        if (mine.length >= max) return { mine, to };
      } else {
        to = entry.seq;
      }
    }
    if (logged.length < page) return { mine, to };
    // A whole page of other lanes' records: settle what was passed over before reading on.
    if (mine.length === 0) return { mine, to };
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

/** Tells the metrics hook where the sync stands after a run, then returns the summary. */
function report(deps: ActivityDeps, syncId: string, summary: LaneSummary): LaneSummary {
  const metrics = deps.metrics;
  if (!metrics) return summary;
  metrics.onDelivery(syncId, summary.outcome);
  metrics.onLag(syncId, Math.max(0, summary.headSeq - summary.cursor));
  metrics.onSyncState(syncId, holdOf(summary.outcome) ?? 'running', 0);
  return summary;
}

export function countByReason(letters: readonly { reason: string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const letter of letters) counts[letter.reason] = (counts[letter.reason] ?? 0) + 1;
  return counts;
}
