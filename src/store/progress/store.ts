import type { NewDeadLetter } from '../dead-letters/store.ts';
import type { UserSnapshotEntries } from '../users/store.ts';

/**
 * Everything one delivery (or one redriven batch) leaves behind, written in one transaction so a
 * crash leaves either all of it or none: the cursor move, the dead letters, the user snapshots and
 * the letters it redrove.
 */
export interface DeliverySettlement {
  syncId: string;
  /**
   * Moves lane `lane` of the sync from `from` to `to`. The whole settlement is refused (nothing
   * written) when the lane's stored cursor is not `from`: another attempt, a replay or a reset moved
   * it meanwhile. Absent for a redrive, which moves no cursor.
   */
  cursor?: { lane: number; from: number; to: number };
  deadLetters?: readonly NewDeadLetter[];
  userSnapshots?: { scope: string; entries: UserSnapshotEntries };
  /** Dead letters this batch redrove; marked before the new letters are written. */
  redriven?: readonly number[];
}

export interface StreamPosition {
  syncId: string;
  sourceId: string;
  cursor: number;
}

/** Where a stream sync's delivery lanes stand: `cursors[i]` is lane i's. */
export interface LaneCursors {
  lanes: number;
  cursors: number[];
}

/** Durable progress: the system of record of where each sync is. */
export interface ProgressStore {
  /** A stream sync's stored lane cursors; undefined when it never started. */
  getLaneCursors(syncId: string): Promise<LaneCursors | undefined>;
  /**
   * The lowest of a stream sync's lane cursors (everything at or below it is settled); undefined
   * when it never started.
   */
  getStreamCursor(syncId: string): Promise<number | undefined>;
  /** Every stream sync's lowest lane cursor, with the source its lanes read (log retention). */
  streamCursors(): Promise<StreamPosition[]>;
  /**
   * Makes the sync's stored lanes `lanes` of source `sourceId` and returns their cursors. A sync
   * with none starts every lane at `start`; one whose lane count changed starts every new lane at
   * the lowest old cursor, so nothing is skipped (what a lane had passed beyond it is read again,
   * and Customer.io deduplicates it by event id). Idempotent; lanes calling it at once agree.
   */
  prepareLanes(syncId: string, sourceId: string, lanes: number, start: number): Promise<number[]>;
  /**
   * Settles a delivery in one transaction (see DeliverySettlement). Resolves false, having written
   * nothing, when `cursor.from` is not the lane's stored cursor. Its commit is not flushed to disk
   * before it returns: a power cut (or database crash) may lose the last settlements whole, and the
   * lane then sends those batches again, as after a worker crash before them.
   */
  settleDelivery(settlement: DeliverySettlement): Promise<boolean>;
  /**
   * Sets every lane of a stream sync to `cursor` (replay, reset); resolves to the lowest cursor
   * before. A sync with no lanes yet gets one.
   */
  setStreamCursor(syncId: string, sourceId: string, cursor: number): Promise<number | undefined>;
  /** The next value of a sequence that starts at 1 and never repeats (cohort run ids). */
  nextSequence(key: string): Promise<number>;
}
