import type pg from 'pg';

import type { CanonicalRecord, LoggedRecord } from '../../events/record.ts';
import { num } from '../columns.ts';
import { APPEND_LOCK, limitOf, type PostgresContext } from '../postgres-db.ts';
import { type LogListener, logChannel } from './postgres-listener.ts';
import { eventKeyOf, eventKeysIn, eventKeysOf, loggedRecordOf, splitNew } from './rows.ts';
import type { AppendedNew, LogStore, PruneRange } from './store.ts';

export interface PostgresLogPolling {
  /** How often a waiter looks at the log while LISTEN works (ms): only a safety net. */
  pollIntervalMs: number;
  /** How often it looks while the LISTEN connection is down (ms). */
  fallbackPollIntervalMs: number;
}

/** Records as event_log columns, made before the lock is taken: it is held no longer than needed. */
interface EncodedRecords {
  texts: string[];
  keys: (string | null)[];
}

/** JSON texts and, for appendNew, keys (`append` leaves them NULL: see LogStore.append). */
function encode(records: readonly CanonicalRecord[], keyed: boolean): EncodedRecords {
  return {
    texts: records.map((record) => JSON.stringify(record)),
    keys: records.map((record) => (keyed ? eventKeyOf(record) : null)),
  };
}

function pick({ texts, keys }: EncodedRecords, indexes: readonly number[]): EncodedRecords {
  return { texts: indexes.map((i) => texts[i]!), keys: indexes.map((i) => keys[i]!) };
}

/**
 * Makes this transaction's appends to the source wait for the source's earlier ones. Appends to one
 * source queue on this lock before they draw seqs, and it is released only after the commit: a
 * source's seqs therefore commit in seq order, and a reader that sees seq N can never later see a
 * smaller one (LogStore.append). The NOTIFY goes out at the commit.
 */
async function lockSource(c: pg.PoolClient, sourceId: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2)), pg_notify($3, $4)', [
    APPEND_LOCK,
    sourceId,
    logChannel(sourceId),
    '',
  ]);
}

/** Inserts records (their JSON texts and keys) inside the caller's locked transaction; their seqs. */
async function insertRecords(
  c: pg.PoolClient,
  sourceId: string,
  receivedAt: number,
  { texts, keys }: EncodedRecords,
): Promise<number[]> {
  if (texts.length === 0) return [];
  const { rows } = await c.query<{ seq: string }>(
    'INSERT INTO event_log (source_id, received_at, record, event_key)' +
      ' SELECT $1, $2, record, event_key FROM unnest($3::text[], $4::text[])' +
      ' WITH ORDINALITY AS r (record, event_key, n) ORDER BY n RETURNING seq',
    [sourceId, receivedAt, texts, keys],
  );
  // Seqs are drawn in row order; RETURNING's own order is not promised.
  return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
}

/**
 * Which of `keys` the source's log holds. One probe of the key index per key, whatever the planner
 * believes: a LATERAL subquery with LIMIT is always a nested loop, whereas `event_key = ANY($2)`
 * was planned as a scan of the source's whole log while event_key had no statistics yet (a new
 * column, or a table autovacuum had not analyzed since).
 */
async function loggedKeys(c: pg.PoolClient, sourceId: string, keys: readonly string[]): Promise<string[]> {
  const { rows } = await c.query(
    'SELECT k.event_key FROM unnest($2::text[]) AS k (event_key), LATERAL (SELECT 1 FROM event_log e' +
      ' WHERE e.source_id = $1 AND e.event_key = k.event_key LIMIT 1) AS logged',
    [sourceId, keys],
  );
  return eventKeysIn(rows);
}

/** The PostgreSQL event log. Appends NOTIFY the source's channel; waiters LISTEN on it. */
export class PostgresLog implements LogStore {
  readonly #ctx: PostgresContext;
  readonly #listener: LogListener;
  readonly #polling: PostgresLogPolling;
  /** Pending `waitForRecords` calls, released when the store closes under them. */
  readonly #waiters = new Set<() => void>();
  #closed = false;

  constructor(ctx: PostgresContext, listener: LogListener, polling: PostgresLogPolling) {
    this.#ctx = ctx;
    this.#listener = listener;
    this.#polling = polling;
  }

  async append(sourceId: string, records: CanonicalRecord[]): Promise<number[]> {
    if (records.length === 0) return [];
    const receivedAt = this.#ctx.now();
    const encoded = encode(records, false);
    return this.#ctx.tx(async (c) => {
      await lockSource(c, sourceId);
      return insertRecords(c, sourceId, receivedAt, encoded);
    });
  }

  async appendNew(sourceId: string, records: CanonicalRecord[]): Promise<AppendedNew> {
    if (records.length === 0) return { seqs: [], skipped: [] };
    const receivedAt = this.#ctx.now();
    const encoded = encode(records, true);
    const keys = eventKeysOf(records);
    return this.#ctx.tx(async (c) => {
      // Every append of this source that took the lock before us has committed, and a statement
      // after the lock's (READ COMMITTED: each statement sees what committed before it started)
      // sees its keys. Inside the lock's own statement the snapshot would predate the wait. A batch
      // left out whole still NOTIFYs: a waiter looks once and finds nothing new.
      await lockSource(c, sourceId);
      const known = keys.length === 0 ? [] : await loggedKeys(c, sourceId, keys);
      const { fresh, skipped } = splitNew(records, known);
      return { seqs: await insertRecords(c, sourceId, receivedAt, pick(encoded, fresh)), skipped };
    });
  }

  async readAfter(sourceId: string, afterSeq: number, limit: number): Promise<LoggedRecord[]> {
    if (limit <= 0) return [];
    const { rows } = await this.#ctx.pool.query(
      'SELECT seq, received_at, record FROM event_log WHERE source_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [sourceId, afterSeq, Math.floor(limit)],
    );
    return rows.map((row) => loggedRecordOf(row, sourceId));
  }

  async headSeq(sourceId: string): Promise<number> {
    const { rows } = await this.#ctx.pool.query(
      'SELECT COALESCE(MAX(seq), 0) AS head FROM event_log WHERE source_id = $1',
      [sourceId],
    );
    return num(rows[0], 'head');
  }

  async countAfter(sourceId: string, afterSeq: number, limit?: number): Promise<number> {
    const { rows } = await this.#ctx.pool.query(
      'SELECT COUNT(*) AS n FROM (SELECT 1 FROM event_log WHERE source_id = $1 AND seq > $2 LIMIT $3) AS after',
      [sourceId, afterSeq, limitOf(limit)],
    );
    return num(rows[0], 'n');
  }

  async pruneLog(sourceId: string, { throughSeq, receivedBefore, limit }: PruneRange): Promise<number> {
    const { rowCount } = await this.#ctx.pool.query(
      'DELETE FROM event_log WHERE seq IN (SELECT seq FROM event_log WHERE source_id = $1 AND seq <= $2' +
        ' AND received_at < $3 ORDER BY seq LIMIT $4)',
      [sourceId, throughSeq, receivedBefore, limit],
    );
    return rowCount ?? 0;
  }

  async seqAtTime(sourceId: string, time: number): Promise<number> {
    // MIN(seq) rather than the first row by received_at: clocks of several ingest processes may
    // disagree a little, and a replay must not skip a record that got a smaller seq.
    const { rows } = await this.#ctx.pool.query<{ seq: string | null }>(
      'SELECT MIN(seq) AS seq FROM event_log WHERE source_id = $1 AND received_at >= $2',
      [sourceId, time],
    );
    const seq = rows[0]?.seq;
    return seq === null || seq === undefined ? (await this.headSeq(sourceId)) + 1 : Number(seq);
  }

  async #hasAfter(sourceId: string, afterSeq: number): Promise<boolean> {
    const { rowCount } = await this.#ctx.pool.query(
      'SELECT 1 FROM event_log WHERE source_id = $1 AND seq > $2 LIMIT 1',
      [sourceId, afterSeq],
    );
    return (rowCount ?? 0) > 0;
  }

  waitForRecords(
    sourceId: string,
    afterSeq: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    if (signal?.aborted || this.#closed) return Promise.resolve(false);
    const channel = logChannel(sourceId);
    return new Promise<boolean>((resolve, reject) => {
      const deadline = performance.now() + (timeoutMs > 0 ? timeoutMs : 0);
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let unsubscribe = (): void => {};
      // One look at a time; a wake-up during a look asks for another right after it.
      let looking = false;
      let again = false;

      const settle = (outcome: boolean | Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
        this.#waiters.delete(stop);
        unsubscribe();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const stop = (): void => settle(false);
      const look = async (): Promise<void> => {
        if (settled) return;
        if (looking) {
          again = true;
          return;
        }
        looking = true;
        clearTimeout(timer);
        try {
          do {
            again = false;
            if (await this.#hasAfter(sourceId, afterSeq)) return settle(true);
          } while (again && !settled);
        } catch (error) {
          // A store closed under the wait ends it quietly, like SQLite's.
          return settle(this.#closed ? false : error instanceof Error ? error : new Error(String(error)));
        } finally {
          looking = false;
        }
        const left = deadline - performance.now();
        if (left <= 0 || settled) return settle(false);
        const pace = this.#listener.listening(channel)
          ? this.#polling.pollIntervalMs
          : this.#polling.fallbackPollIntervalMs;
        timer = setTimeout(() => void look(), Math.min(pace, left));
      };

      signal?.addEventListener('abort', stop, { once: true });
      this.#waiters.add(stop);
      // LISTEN first, then look: a commit after the look is then sure to wake us.
      void this.#listener
        .subscribe(channel, () => void look())
        .then((unsub) => {
          if (settled) return unsub();
          unsubscribe = unsub;
          void look();
        });
    });
  }

  /** Ends every pending wait (resolving false) and the LISTEN connection. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const release of [...this.#waiters]) release();
    await this.#listener.close();
  }
}
