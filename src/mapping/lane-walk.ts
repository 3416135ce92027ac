/**
 * How one delivery lane walks a sync's log: which records it takes into its next request, which it
 * passes over (other lanes'), and where it stops — a full request, or a barrier (an alias or group
 * call, src/mapping/lanes.ts) that every lane must agree on. Pure: the delivery activity
 * (src/activities/lane-read.ts) feeds it pages read from the store and does the waiting at a
 * barrier; `cio-sync preview` (src/control/preview/stream.ts) feeds it the whole log and plays the
 * lanes one after another, so both make the same requests of the same records.
 */
import type { StreamSync } from '../config/schema.ts';
import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { BARRIER, laneOf } from './lanes.ts';

/** One request's worth of a lane's records, ready to plan. */
export interface LaneBatch {
  /** The lane's records, in log order. */
  mine: LoggedRecord[];
  /** Where the lane's cursor goes once these are settled (every record up to it was looked at). */
  to: number;
  /** The next record is a barrier: the lane's position must be in the store for the others. */
  atBarrier?: boolean;
}

/** Where a lane is in its walk towards its next batch. */
export interface LaneWalk {
  /** Where the walk began (the lane's position when it started reading). */
  readonly from: number;
  mine: LoggedRecord[];
  /** The last seq looked at. */
  to: number;
}

export interface LaneWalkOptions {
  sync: StreamSync;
  lane: number;
  lanes: number;
  /** The lane's stored cursor: before it waits at a barrier it must have caught up with `from`. */
  stored: number;
}

export type LaneStop =
  /** A full request, or the lane's records before a barrier (`atBarrier`). */
  | { kind: 'batch'; batch: LaneBatch }
  /**
   * The lane stands just before a barrier with nothing of its own pending and its cursor stored.
   * Lane 0 sends the barrier alone (`{ mine: [barrier], to: barrier.seq }`) once barrierReady; the
   * other lanes pass over it (passBarrier) once barrierReady, then walk on through `rest`.
   */
  | { kind: 'barrier'; barrier: LoggedRecord; rest: readonly LoggedRecord[] }
  /** Every entry was looked at: read on, or take what the walk holds (walk.mine up to walk.to). */
  | { kind: 'read_on' };

export function startLaneWalk(from: number): LaneWalk {
  return { from, mine: [], to: from };
}

/** Walks `entries` (the log after walk.to, in order) until the lane's next batch ends or a barrier. */
export function walkLane(
  walk: LaneWalk,
  entries: readonly LoggedRecord[],
  options: LaneWalkOptions,
): LaneStop {
  const { sync, lane, lanes, stored } = options;
  const max = sync.delivery.maxRecords;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const owner = laneOf(entry.record, sync, lanes);
    if (owner === BARRIER) {
      if (walk.mine.length > 0 || walk.to !== walk.from || stored < walk.to) {
        return { kind: 'batch', batch: { mine: walk.mine, to: walk.to, atBarrier: true } };
      }
      return { kind: 'barrier', barrier: entry, rest: entries.slice(i + 1) };
    }
    walk.to = entry.seq;
    if (owner === lane) {
      walk.mine.push(entry);
      if (walk.mine.length >= max) return { kind: 'batch', batch: { mine: walk.mine, to: walk.to } };
    }
  }
  return { kind: 'read_on' };
}

/** A lane other than 0 moves past a barrier that lane 0 has settled. */
export function passBarrier(walk: LaneWalk, barrier: LoggedRecord): void {
  walk.to = barrier.seq;
}

/**
 * Whether `lane` may go on at the barrier `barrierSeq`, given every lane's stored cursor: lane 0
 * sends it once every other lane has passed what comes before it; the others pass over it once
 * lane 0 has settled it.
 */
export function barrierReady(lane: number, barrierSeq: number, cursors: readonly number[]): boolean {
  return lane === 0 ? cursors.every((at, i) => i === 0 || at >= barrierSeq - 1) : cursors[0]! >= barrierSeq;
}

/** The batch lane 0 sends for a barrier: the barrier alone. */
export function barrierBatch(barrier: LoggedRecord): LaneBatch {
  return { mine: [barrier], to: barrier.seq };
}

/**
 * Where the lane's cursor goes once a batch is settled: planBatch may stop early (500 KB), and then
 * the cursor goes to just before the first record it left out, so the next request starts there.
 */
export function settledTo(batch: LaneBatch, lastPlannedSeq: number): number {
  const left = batch.mine.find((l) => l.seq > lastPlannedSeq);
  return left === undefined ? batch.to : left.seq - 1;
}

/** The records that wake a lane, or are its to handle: its own and every barrier. */
export function laneOwns(record: CanonicalRecord, sync: StreamSync, lane: number, lanes: number): boolean {
  const owner = laneOf(record, sync, lanes);
  return owner === lane || owner === BARRIER;
}
