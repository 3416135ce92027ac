import type { StatementSync } from 'node:sqlite';

import type { CanonicalRecord, LoggedRecord } from '../../events/record.ts';
import { num, optNum } from '../columns.ts';
import { limitOf, redoableTransaction, type SqliteContext, writeTransaction } from '../sqlite-db.ts';
import { eventKeyOf, eventKeysIn, eventKeysOf, loggedRecordOf, splitNew } from './rows.ts';
import type { AppendedNew, LogStore, PruneRange } from './store.ts';

interface LogWaiter {
  afterSeq: number;
  settle(outcome: boolean | Error): void;
}

interface SourceWatch {
  waiters: Set<LogWaiter>;
  timer: NodeJS.Timeout | undefined;
  start?: () => void;
}

/** The SQLite event log. New records are noticed by polling the log's head (see #watch). */
export class SqliteLog implements LogStore {
  readonly #ctx: SqliteContext;
  readonly #pollIntervalMs: number;
  /** Pending `waitForRecords` calls, released when the store closes under them. */
  readonly #waiters = new Set<() => void>();
  /** The one poll per source that `waitForRecords` callers share. */
  readonly #watches = new Map<string, SourceWatch>();
  #closed = false;

  #writeStatements: { insert: StatementSync; logged: StatementSync } | undefined;
  readonly #readAfter: StatementSync;
  readonly #headSeq: StatementSync;
  readonly #countAfter: StatementSync;
  readonly #seqAtTime: StatementSync;
  readonly #hasAfter: StatementSync;
  readonly #prune: StatementSync;

  constructor(ctx: SqliteContext, pollIntervalMs: number) {
    this.#ctx = ctx;
    this.#pollIntervalMs = pollIntervalMs;
    const { db } = ctx;
    this.#readAfter = db.prepare(
      'SELECT seq, received_at, record FROM event_log WHERE source_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    );
    this.#headSeq = db.prepare('SELECT COALESCE(MAX(seq), 0) AS head FROM event_log WHERE source_id = ?');
    this.#countAfter = db.prepare(
      'SELECT COUNT(*) AS n FROM (SELECT 1 FROM event_log WHERE source_id = ? AND seq > ? LIMIT ?)',
    );
    this.#seqAtTime = db.prepare(
      'SELECT MIN(seq) AS seq FROM event_log WHERE source_id = ? AND received_at >= ?',
    );
    this.#hasAfter = db.prepare('SELECT seq FROM event_log WHERE source_id = ? AND seq > ? LIMIT 1');
    this.#prune = db.prepare(
      'DELETE FROM event_log WHERE seq IN (SELECT seq FROM event_log WHERE source_id = ? AND seq <= ?' +
        ' AND received_at < ? ORDER BY seq LIMIT ?)',
    );
  }

  /** Prepared on first use: a store opened with an older schema (tests of migrations) has no event_key. */
  #writes(): { insert: StatementSync; logged: StatementSync } {
    const { db } = this.#ctx;
    this.#writeStatements ??= {
      insert: db.prepare(
        'INSERT INTO event_log (source_id, received_at, record, event_key) VALUES (?, ?, ?, ?)',
      ),
      // The keys travel as one JSON array: one prepared statement for any number of them, and no
      // brush with SQLite's limit on bound parameters. IN implies NOT NULL: the partial index serves.
      logged: db.prepare(
        'SELECT DISTINCT event_key FROM event_log' +
          ' WHERE source_id = ? AND event_key IN (SELECT value FROM json_each(?))',
      ),
    };
    return this.#writeStatements;
  }

  async append(sourceId: string, records: CanonicalRecord[]): Promise<number[]> {
    if (records.length === 0) return [];
    const receivedAt = this.#ctx.now();
    return writeTransaction(this.#ctx.db, () => this.#insert(sourceId, receivedAt, records, false));
  }

  async appendNew(sourceId: string, records: CanonicalRecord[]): Promise<AppendedNew> {
    if (records.length === 0) return { seqs: [], skipped: [] };
    const receivedAt = this.#ctx.now();
    const keys = eventKeysOf(records);
    const { logged } = this.#writes();
    // Looked up under the write lock: an append of the same key by another connection has either
    // committed before it or waits until we have.
    return writeTransaction(this.#ctx.db, () => {
      const known = keys.length === 0 ? [] : eventKeysIn(logged.all(sourceId, JSON.stringify(keys)));
      const { fresh, skipped } = splitNew(records, known);
      const appended = fresh.map((i) => records[i]!);
      return { seqs: this.#insert(sourceId, receivedAt, appended, true), skipped };
    });
  }

  /** Inserts inside the caller's write transaction, keyed or not; the seqs in the order of `records`. */
  #insert(
    sourceId: string,
    receivedAt: number,
    records: readonly CanonicalRecord[],
    keyed: boolean,
  ): number[] {
    const { insert } = this.#writes();
    return records.map((record) =>
      Number(
        insert.run(sourceId, receivedAt, JSON.stringify(record), keyed ? eventKeyOf(record) : null)
          .lastInsertRowid,
      ),
    );
  }

  async readAfter(sourceId: string, afterSeq: number, limit: number): Promise<LoggedRecord[]> {
    if (limit <= 0) return [];
    return this.#readAfter
      .all(sourceId, afterSeq, Math.floor(limit))
      .map((row) => loggedRecordOf(row, sourceId));
  }

  async headSeq(sourceId: string): Promise<number> {
    return this.#head(sourceId);
  }

  #head(sourceId: string): number {
    return num(this.#headSeq.get(sourceId), 'head');
  }

  async countAfter(sourceId: string, afterSeq: number, limit?: number): Promise<number> {
    return num(this.#countAfter.get(sourceId, afterSeq, limitOf(limit)), 'n');
  }

  async pruneLog(sourceId: string, { throughSeq, receivedBefore, limit }: PruneRange): Promise<number> {
    // A deletion lost to a power cut is made again by the next prune (see redoableTransaction).
    return redoableTransaction(this.#ctx.db, () =>
      Number(this.#prune.run(sourceId, throughSeq, receivedBefore, limit).changes),
    );
  }

  async seqAtTime(sourceId: string, time: number): Promise<number> {
    // MIN(seq) rather than the first row by received_at: clocks of several ingest processes may
    // disagree a little, and a replay must not skip a record that got a smaller seq.
    const row = this.#seqAtTime.get(sourceId, time);
    return optNum(row ?? {}, 'seq') ?? this.#head(sourceId) + 1;
  }

  waitForRecords(
    sourceId: string,
    afterSeq: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    try {
      if (signal?.aborted || this.#closed) return Promise.resolve(false);
      if (this.#hasAfter.get(sourceId, afterSeq) !== undefined) return Promise.resolve(true);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!(timeoutMs > 0)) return Promise.resolve(false);

    return new Promise<boolean>((resolve, reject) => {
      const waiter: LogWaiter = { afterSeq, settle: () => {} };
      const timer = setTimeout(() => waiter.settle(false), timeoutMs);
      const onAbort = (): void => waiter.settle(false);
      const onClose = (): void => waiter.settle(false);
      waiter.settle = (outcome: boolean | Error): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(onClose);
        this.#unwatch(sourceId, waiter);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(onClose);
      this.#watch(sourceId, waiter);
    });
  }

  /** Ends every pending wait (resolving false); the store calls it before closing the database. */
  close(): void {
    this.#closed = true;
    for (const release of [...this.#waiters]) release();
  }

  /**
   * One poll per source, however many deliveries wait on it: a worker with a hundred idle syncs
   * reads the log's head once per interval, not a hundred times.
   */
  #watch(sourceId: string, waiter: LogWaiter): void {
    let watch = this.#watches.get(sourceId);
    if (!watch) {
      const created: SourceWatch = { waiters: new Set(), timer: undefined };
      const poll = (): void => {
        created.timer = undefined;
        let head: number;
        try {
          head = this.#head(sourceId);
        } catch (error) {
          for (const w of [...created.waiters])
            w.settle(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        for (const w of [...created.waiters]) if (head > w.afterSeq) w.settle(true);
        if (created.waiters.size > 0) created.timer = setTimeout(poll, this.#pollIntervalMs);
      };
      created.start = () => {
        created.timer ??= setTimeout(poll, this.#pollIntervalMs);
      };
      this.#watches.set(sourceId, created);
      watch = created;
    }
    watch.waiters.add(waiter);
    watch.start?.();
  }

  #unwatch(sourceId: string, waiter: LogWaiter): void {
    const watch = this.#watches.get(sourceId);
    if (!watch) return;
    watch.waiters.delete(waiter);
    if (watch.waiters.size === 0) {
      clearTimeout(watch.timer);
      this.#watches.delete(sourceId);
    }
  }
}
