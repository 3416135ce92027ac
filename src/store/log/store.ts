import type { CanonicalRecord, LoggedRecord } from '../../events/record.ts';

/** What appendNew did with the records it was given. */
export interface AppendedNew {
  /** The seqs of the records appended, in the order of `records`. */
  seqs: number[];
  /** The indexes (into `records`) of the records left out as already logged, ascending. */
  skipped: number[];
}

export interface PruneRange {
  throughSeq: number;
  receivedBefore: number;
  limit: number;
}

/** The event log the engine owns: ingest appends to it, each sync reads it with a cursor. */
export interface LogStore {
  /**
   * Appends records to a source's log in one transaction. Resolves only after the commit, so an
   * ingest answer given after it is durable. Returns the seqs assigned, in order.
   *
   * Seqs of a source only grow and become visible in seq order: once a reader can see seq N, no
   * record with a smaller seq can appear later, or a cursor past N would skip it. (SQLite's single
   * writer gives this for free; PostgreSQL serializes appends per source with an advisory lock.)
   *
   * The records are not keyed: appendNew does not know them. (Keeping a random key in an index costs
   * an SQLite append of 500 records four to five times its time, so only sources that can receive
   * one event twice pay it.)
   */
  append(sourceId: string, records: CanonicalRecord[]): Promise<number[]>;

  /**
   * Appends like `append`, with its guarantees, only the records the source's log does not hold yet:
   * a record whose `insert_id` (the source's own dedupe key) is in the log, or came earlier in
   * `records`, is left out; a record without one (or with an empty one) is always appended. For ways one event may arrive
   * twice: a webhook retry, a backfill overlapping live traffic, an SDK call and its webhook copy.
   * The look-up and the append are one transaction, serialized per source as appends are, so calls
   * racing with the same `insert_id` append it once.
   *
   * The log knows a key from the record's appendNew until pruneLog deletes the record; records
   * appended by `append`, or logged before schema step 8, carry no key.
   */
  appendNew(sourceId: string, records: CanonicalRecord[]): Promise<AppendedNew>;

  /** Reads up to `limit` records of a source's log with `seq > afterSeq`, in seq order. */
  readAfter(sourceId: string, afterSeq: number, limit: number): Promise<LoggedRecord[]>;

  /** The highest seq in a source's log (0 when empty). */
  headSeq(sourceId: string): Promise<number>;

  /**
   * How many records of a source's log have `seq > afterSeq`, or `limit` when there are more (a
   * bounded index scan). Seqs are numbered across every source, so a difference of seqs is not a
   * count of one source's records.
   */
  countAfter(sourceId: string, afterSeq: number, limit?: number): Promise<number>;

  /**
   * Deletes up to `limit` of the oldest entries of a source's log with `seq <= throughSeq` that were
   * received before `receivedBefore` (epoch ms); resolves to how many went. Seqs are never reused,
   * so cursors stay meaningful across pruning (log retention, src/activities/log-retention.ts).
   */
  pruneLog(sourceId: string, range: PruneRange): Promise<number>;

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
}
