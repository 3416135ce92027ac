import type { Destination, StreamSync } from '../../config/schema.ts';
import { AUTO_GROW_BATCHES, maxLanesOf } from '../../config/spec-rules.ts';
import { REGION_HOSTS } from '../../customerio/hosts.ts';
import { MAX_BATCH_BYTES, jsonBytes } from '../../customerio/limits.ts';
import type { LoggedRecord } from '../../events/record.ts';
import {
  barrierBatch,
  barrierReady,
  passBarrier,
  settledTo,
  startLaneWalk,
  walkLane,
  type LaneBatch,
} from '../../mapping/lane-walk.ts';
import { planBatch, settleUserSnapshots, type BatchPlan } from '../../mapping/plan-batch.ts';
import type { UserSnapshot } from '../../store/store.ts';
import type { PreviewRequest, RecordOutcome, SyncPreview } from './types.ts';

/**
 * The deliveries of one stream sync over its source's records, as its lanes would run them from
 * cursor 0: each lane walks the log with the delivery's own lane walk (src/mapping/lane-walk.ts:
 * up to `delivery.maxRecords` of its own records a request, a barrier ending every lane's batch and
 * sent alone by lane 0 once every lane has passed what comes before it), and each batch is planned
 * with planBatch (which may stop earlier at 500 KB: the next request starts at the first record it
 * left out). Lanes run side by side; here they take turns — every lane up to the next barrier, then
 * the barrier — so requests are listed by segment between barriers, then lane, and only the order
 * within a lane is fixed.
 */
export function previewStream(
  sync: StreamSync,
  destination: Destination,
  log: readonly LoggedRecord[],
  refOf: (seq: number) => string,
): SyncPreview {
  // An `auto` sync keeps one lane over a log it can send in a few requests (the one a preview shows,
  // most often), and grows when more than AUTO_GROW_BATCHES full requests wait.
  const auto = sync.delivery.lanes === 'auto';
  const lanes =
    auto && log.length <= AUTO_GROW_BATCHES * sync.delivery.maxRecords ? 1 : maxLanesOf(sync.delivery.lanes);
  const deliveries = new Deliveries(sync, trackUrlOf(destination), refOf);
  walkLanes(sync, lanes, log, (lane, batch) => settledTo(batch, deliveries.deliver(lane, batch.mine)));

  const records = [...deliveries.outcomes.values()].sort((a, b) => a.seq - b.seq);
  return {
    syncId: sync.id,
    type: 'stream',
    source: sync.source,
    destination: sync.destination,
    lanes,
    notes: notesOf(sync, destination, lanes, log.length),
    requests: deliveries.requests,
    records,
    summary: {
      records: records.length,
      sent: records.filter((r) => r.outcome === 'sent').length,
      filtered: deliveries.filtered,
      deadLettered: records.filter((r) => r.outcome === 'dead_letter').length,
    },
  };
}

/**
 * Plays a sync's lanes over a log that is all there before they start, with the delivery's lane
 * walk: each lane in turn takes batches until it stands at the next barrier (or the log's end);
 * then lane 0 sends the barrier and the others pass it. `deliver` sends one batch of a lane and
 * returns where the lane's cursor goes; cursors are settled at once, as if every request succeeded.
 */
export function walkLanes(
  sync: StreamSync,
  lanes: number,
  log: readonly LoggedRecord[],
  deliver: (lane: number, batch: LaneBatch) => number,
): void {
  const cursors = new Array<number>(lanes).fill(0);
  const after = (seq: number) => log.filter((r) => r.seq > seq);
  /** Runs a lane to the next barrier (returned) or to the end of the log (undefined). */
  const run = (lane: number): LoggedRecord | undefined => {
    for (;;) {
      const walk = startLaneWalk(cursors[lane]!);
      const stop = walkLane(walk, after(walk.to), { sync, lane, lanes, stored: cursors[lane]! });
      if (stop.kind === 'barrier') return stop.barrier;
      const batch = stop.kind === 'batch' ? stop.batch : { mine: walk.mine, to: walk.to };
      if (batch.to === walk.from) return undefined;
      cursors[lane] = batch.mine.length === 0 ? batch.to : deliver(lane, batch);
    }
  };
  for (;;) {
    const waiting = Array.from({ length: lanes }, (_, lane) => run(lane));
    const barrier = waiting[0];
    if (barrier === undefined) return;
    if (!waiting.every((b) => b?.seq === barrier.seq) || !barrierReady(0, barrier.seq, cursors)) {
      throw new Error(`preview: the lanes do not agree at the barrier seq ${barrier.seq}`);
    }
    cursors[0] = deliver(0, barrierBatch(barrier));
    for (let lane = 1; lane < lanes; lane++) {
      if (!barrierReady(lane, barrier.seq, cursors))
        throw new Error(`preview: lane 0 did not pass seq ${barrier.seq}`);
      const walk = startLaneWalk(cursors[lane]!);
      passBarrier(walk, barrier);
      cursors[lane] = walk.to;
    }
  }
}

/** The requests of a preview's deliveries, and what became of each record they covered. */
class Deliveries {
  readonly requests: PreviewRequest[] = [];
  readonly outcomes = new Map<number, RecordOutcome>();
  readonly filtered: Record<string, number> = {};
  // What the store would hold between deliveries. Lanes split people, so one map serves them all.
  private readonly snapshots = new Map<string, UserSnapshot>();
  private readonly suppressed = new Set<string>();
  private readonly sync: StreamSync;
  private readonly baseUrl: string;
  private readonly refOf: (seq: number) => string;

  constructor(sync: StreamSync, baseUrl: string, refOf: (seq: number) => string) {
    this.sync = sync;
    this.baseUrl = baseUrl;
    this.refOf = refOf;
  }

  /** One delivery: plans `batch`, explains each record it covers, returns the last seq it planned. */
  deliver(lane: number, batch: readonly LoggedRecord[]): number {
    const { sync, snapshots, suppressed } = this;
    const plan = planBatch(batch, sync, MAX_BATCH_BYTES, snapshots, suppressed);
    const sentSeqs = new Set(plan.ops.map((o) => o.seq));
    const request = this.requests.length + 1;
    // planBatch counts filtered records by reason; a record's own reason comes from planning it
    // alone against the state as it stands before it in the batch (mapping is pure, so it decides
    // as it did inside the batch).
    const local = new Map(snapshots);
    const localSuppressed = new Set(suppressed);
    for (const logged of batch) {
      const { seq } = logged;
      if (seq > plan.lastSeq) break;
      const ref = this.refOf(seq);
      const letters = plan.deadLetters
        .filter((d) => d.seq === seq)
        .map(({ reason, detail }) => (detail === undefined ? { reason } : { reason, detail }));
      const alone = planBatch([logged], sync, MAX_BATCH_BYTES, local, localSuppressed);
      settle(alone, new Set(alone.ops.map((o) => o.seq)), local, localSuppressed);
      if (sentSeqs.has(seq)) {
        const operations = plan.ops.filter((o) => o.seq === seq).length;
        this.outcomes.set(seq, {
          seq,
          ref,
          lane,
          outcome: 'sent',
          request,
          operations,
          deadLetters: letters,
        });
      } else if (letters.length > 0) {
        this.outcomes.set(seq, { seq, ref, lane, outcome: 'dead_letter', deadLetters: letters });
      } else {
        const reason = Object.keys(alone.filtered)[0] ?? 'filtered';
        this.filtered[reason] = (this.filtered[reason] ?? 0) + 1;
        this.outcomes.set(seq, { seq, ref, lane, outcome: 'filtered', reason });
      }
    }
    if (plan.ops.length > 0) {
      const body = { batch: plan.ops.map((o) => o.op) };
      const url = `${this.baseUrl}/api/v2/batch`;
      this.requests.push({ method: 'POST', url, lane, body, bytes: jsonBytes(body), seqs: [...sentSeqs] });
    }
    settle(plan, sentSeqs, snapshots, suppressed);
    return plan.lastSeq;
  }
}

/**
 * What a delivery leaves in the store once Customer.io has accepted `sentSeqs`: accepted deletes and
 * suppressions first (they forget the person), then the batch's user snapshots, as deliverLane
 * settles them (settleDeletions, then settleUserSnapshots).
 */
function settle(
  plan: BatchPlan,
  sentSeqs: ReadonlySet<number>,
  snapshots: Map<string, UserSnapshot>,
  suppressed: Set<string>,
): void {
  for (const { seq, effect } of plan.deletions ?? []) {
    const key = effect.person?.key;
    if (!sentSeqs.has(seq) || key === undefined) continue;
    if (effect.kind === 'person_unsuppress') suppressed.delete(key);
    if (effect.kind === 'person_delete' || effect.kind === 'person_suppress') snapshots.delete(key);
    if (effect.kind === 'person_suppress') suppressed.add(key);
  }
  for (const entry of settleUserSnapshots(plan.users, sentSeqs)) snapshots.set(entry.userKey, entry.snapshot);
}

function trackUrlOf(destination: Destination): string {
  if (destination.trackUrl !== undefined) return destination.trackUrl.replace(/\/+$/, '');
  return destination.region === 'auto' ? '' : REGION_HOSTS[destination.region].trackUrl;
}

/** Why the sync would behave differently from the requests shown, or why none are shown. */
function notesOf(sync: StreamSync, destination: Destination, lanes: number, records: number): string[] {
  const growsAt = AUTO_GROW_BATCHES * sync.delivery.maxRecords;
  const auto = sync.delivery.lanes === 'auto';
  const notes: string[] = [];
  if (sync.status === 'paused')
    notes.push('paused: it sends nothing until resumed; shown as it would send then');
  if (destination.dryRun === true) {
    notes.push(
      `destination ${destination.id} is a dry run: the worker records these requests instead of sending them`,
    );
  } else if (destination.dryRun === 'auto') {
    notes.push(
      `destination ${destination.id} has dryRun: auto: recorded instead of sent when apply finds no credentials`,
    );
  }
  if (destination.region === 'auto' && destination.trackUrl === undefined) {
    notes.push(
      'region: auto: the host (track.customer.io or track-eu.customer.io) is asked of Customer.io at run time',
    );
  }
  if (auto && lanes > 1)
    notes.push(
      `lanes: auto, shown with ${lanes}: over ${growsAt} records (${AUTO_GROW_BATCHES} full requests) it grows to ${lanes} lanes once its first lane finds the backlog, and the requests that lane sent meanwhile are split differently; requests of different lanes are sent side by side, in no fixed order`,
    );
  else if (auto)
    notes.push(
      `lanes: auto: one lane, as for any log of up to ${growsAt} records (${AUTO_GROW_BATCHES} full requests)`,
    );
  else if (lanes > 1)
    notes.push(`${lanes} lanes: requests of different lanes are sent side by side, in no fixed order`);
  if (records === 0) notes.push(`no call of the input reaches source ${sync.source}`);
  return notes;
}
