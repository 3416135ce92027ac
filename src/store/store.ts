import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import type { CohortStore } from './cohort-store.ts';

/** A record that could not be delivered, kept with the reason so it can be inspected and redriven. */
export interface DeadLetter {
  id: number;
  syncId: string;
  seq: number;
  record: CanonicalRecord;
  reason: string;
  detail?: string;
  createdAt: number;
  redrivenAt?: number;
}

export interface NewDeadLetter {
  syncId: string;
  seq: number;
  record: CanonicalRecord;
  reason: string;
  detail?: string;
}

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
  userSnapshots?: { scope: string; entries: ReadonlyArray<{ userKey: string; snapshot: UserSnapshot }> };
  /** Dead letters this batch redrove; marked before the new letters are written. */
  redriven?: readonly number[];
}

/** Where a stream sync's delivery lanes stand: `cursors[i]` is lane i's. */
export interface LaneCursors {
  lanes: number;
  cursors: number[];
}

/** A request a dry-run destination recorded instead of sending (credentials redacted). */
export interface CapturedRequest {
  id: number;
  syncId: string;
  destinationId: string;
  method: string;
  url: string;
  body: unknown;
  createdAt: number;
}

export type NewCapturedRequest = Omit<CapturedRequest, 'id' | 'createdAt'>;

/**
 * What user forwarding remembers about one user of one sync, to send Customer.io only what changed.
 * Kept in the store, not in workflow state: it grows with the number of users, and a delivery reads
 * it for the users of its batch only.
 */
export interface UserSnapshot {
  /**
   * The selected attributes as Customer.io last accepted them: typed values, before `stringify`. An
   * attribute dead-lettered for a name or value over Customer.io's limits is recorded here too, so
   * it is reported once rather than with every later update of the user.
   */
  attributes: Record<string, unknown>;
  /**
   * The selected user properties with every operation applied in log order, whatever Customer.io
   * answered: what `$add` and `$append` build on. Differs from `attributes` only while something
   * was rejected, and the difference is what the next update (or a redrive) sends.
   */
  state: Record<string, unknown>;
  /** The seq of the last record applied to `state`; a record at or below it is not applied again. */
  seq: number;
}

/**
 * Everything the engine persists outside Temporal. One interface, two backends (SQLite in sqlite.ts,
 * PostgreSQL in postgres.ts) held to one test suite (store-contract.ts): every method is async so
 * callers never depend on a backend being in-process.
 */
export interface Store {
  /** Cohort membership snapshots and their diffs (cohort syncs). */
  readonly cohorts: CohortStore;

  /**
   * Appends records to a source's log in one transaction. Resolves only after the commit, so an
   * ingest answer given after it is durable. Returns the seqs assigned, in order.
   *
   * Seqs of a source only grow and become visible in seq order: once a reader can see seq N, no
   * record with a smaller seq can appear later, or a cursor past N would skip it. (SQLite's single
   * writer gives this for free; PostgreSQL serializes appends per source with an advisory lock.)
   */
  append(sourceId: string, records: CanonicalRecord[]): Promise<number[]>;

  /** Reads up to `limit` records of a source's log with `seq > afterSeq`, in seq order. */
  readAfter(sourceId: string, afterSeq: number, limit: number): Promise<LoggedRecord[]>;

  /** The highest seq in a source's log (0 when empty). */
  headSeq(sourceId: string): Promise<number>;

  /** How many records of a source's log have `seq > afterSeq`. */
  countAfter(sourceId: string, afterSeq: number): Promise<number>;

  /** The first seq of a source's log received at or after `time` (epoch ms); the head + 1 if none. */
  seqAtTime(sourceId: string, time: number): Promise<number>;

  /**
   * Resolves when the source's log has a record past `afterSeq`, or when `timeoutMs` passes, or when
   * `signal` aborts. Resolves to whether records are there. Lets a delivery activity learn of new
   * records without a workflow timer per poll.
   */
  waitForRecords(
    sourceId: string,
    afterSeq: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean>;

  /**
   * Stores dead letters. One open (not yet redriven) letter per record, reason and detail: a letter
   * that is already open is not written again, so a repeated write stores nothing twice.
   */
  addDeadLetters(letters: NewDeadLetter[]): Promise<void>;
  /** A sync's dead letters, oldest first; redriven ones only with `includeRedriven`. */
  listDeadLetters(
    syncId: string,
    opts?: { includeRedriven?: boolean; limit?: number },
  ): Promise<DeadLetter[]>;
  /** How many dead letters of a sync have not been redriven yet. */
  countDeadLetters(syncId: string): Promise<number>;
  /** Marks letters as redriven; a letter already marked keeps its first `redrivenAt`. */
  markRedriven(ids: number[]): Promise<void>;

  captureRequests(requests: NewCapturedRequest[]): Promise<void>;
  /** A sync's captured requests with `id > afterId`, oldest first. */
  listCapturedRequests(
    syncId: string,
    opts?: { limit?: number; afterId?: number },
  ): Promise<CapturedRequest[]>;

  /**
   * Reserves the next slot of a shared rate limit (GCRA): returns how many ms the caller must wait
   * before its request may go. Holds across every process that shares the store.
   */
  reserveRateSlot(key: string, perSecond: number): Promise<number>;

  /** Small key/value state (e.g. the id of a segment created for a cohort sync). */
  getState(key: string): Promise<string | undefined>;
  /** Sets `key` only if it is unset; returns the value that is stored afterwards. */
  setStateIfAbsent(key: string, value: string): Promise<string>;
  setState(key: string, value: string): Promise<void>;

  close(): Promise<void>;

  // ---- durable progress: the system of record of where each sync is --------------------------------

  /** A stream sync's stored lane cursors; undefined when it never started. */
  getLaneCursors(syncId: string): Promise<LaneCursors | undefined>;
  /**
   * The lowest of a stream sync's lane cursors (everything at or below it is settled); undefined
   * when it never started.
   */
  getStreamCursor(syncId: string): Promise<number | undefined>;
  /**
   * Makes the sync's stored lanes `lanes` of source `sourceId` and returns their cursors. A sync
   * with none starts every lane at `start`; one whose lane count changed starts every new lane at
   * the lowest old cursor, so nothing is skipped (what a lane had passed beyond it is read again,
   * and Customer.io deduplicates it by event id). Idempotent; lanes calling it at once agree.
   */
  prepareLanes(syncId: string, sourceId: string, lanes: number, start: number): Promise<number[]>;
  /**
   * Settles a delivery in one transaction (see DeliverySettlement). Resolves false, having written
   * nothing, when `cursor.from` is not the lane's stored cursor.
   */
  settleDelivery(settlement: DeliverySettlement): Promise<boolean>;
  /**
   * Sets every lane of a stream sync to `cursor` (replay, reset); resolves to the lowest cursor
   * before. A sync with no lanes yet gets one.
   */
  setStreamCursor(syncId: string, sourceId: string, cursor: number): Promise<number | undefined>;
  /** The next value of a sequence that starts at 1 and never repeats (cohort run ids). */
  nextSequence(key: string): Promise<number>;

  // ---- user forwarding ---------------------------------------------------------------------------

  /** The snapshots of these users of a sync (by user key); users never seen are absent from the map. */
  getUserSnapshots(syncId: string, userKeys: readonly string[]): Promise<Map<string, UserSnapshot>>;
  /**
   * Upserts user snapshots in one transaction. A stored snapshot with a higher `seq` is kept: a
   * redrive running beside a delivery must not roll a user back.
   */
  putUserSnapshots(
    syncId: string,
    entries: ReadonlyArray<{ userKey: string; snapshot: UserSnapshot }>,
  ): Promise<void>;

  // ---- deletions and suppressions --------------------------------------------------------------

  /**
   * What a sync's accepted person deletes and suppressions change locally, applied in order in one
   * transaction: `delete` and `suppress` drop the user's snapshots in every scope of `snapshotScopes`
   * (so a later identify starts from scratch) and, with `destinationId`, record the person as forgotten
   * in that Customer.io workspace (cohort syncs drop them from their baselines, see
   * CohortStore.dropForgottenMembers); `suppress` marks the user suppressed in scope `syncId`;
   * `unsuppress` lifts that.
   */
  forgetPeople(input: {
    syncId: string;
    snapshotScopes: readonly string[];
    destinationId?: string;
    changes: ReadonlyArray<{ userKey: string; change: PersonChange }>;
  }): Promise<void>;
  /** Which of these users are suppressed in scope `syncId`. */
  getSuppressedUsers(syncId: string, userKeys: readonly string[]): Promise<Set<string>>;
}

/** What a person delete, suppress or unsuppress accepted by Customer.io changes in the store. */
export type PersonChange = 'delete' | 'suppress' | 'unsuppress';
