import pg from 'pg';

import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import type { Migration } from './migrations.ts';
import { PostgresCohorts } from './postgres-cohorts.ts';
import { LogListener, logChannel } from './postgres-listener.ts';
import { postgresMigrations } from './postgres-migrations.ts';
import type {
  CapturedRequest,
  DeadLetter,
  DeliverySettlement,
  LaneCursors,
  NewCapturedRequest,
  NewDeadLetter,
  PersonChange,
  Store,
  UserSnapshot,
} from './store.ts';

export interface PostgresStoreOptions {
  /** Pooled connections at most (the LISTEN connection comes on top). */
  maxConnections?: number;
  /**
   * How often `waitForRecords` looks at the log while LISTEN works (ms). NOTIFY wakes a waiter at
   * once; this poll is only a safety net, so it is slow.
   */
  pollIntervalMs?: number;
  /** How often it looks while the LISTEN connection is down (ms). */
  fallbackPollIntervalMs?: number;
  /** Clock for received_at, created_at and rate slots; tests pin it. Rate slots use the server's clock otherwise. */
  now?: () => number;
  /** Schema steps to apply; tests only. */
  migrations?: readonly Migration[];
}

const DEFAULT_MAX_CONNECTIONS = 10;
const DEFAULT_POLL_INTERVAL_MS = 1_000;
const DEFAULT_FALLBACK_POLL_INTERVAL_MS = 100;
/** How often a lost LISTEN connection is tried again (at most; only while someone waits). */
const LISTEN_RETRY_MS = 1_000;
/** Rows per multi-row INSERT of snapshots, dead letters and captures. */
const CHUNK = 5_000;

// Advisory lock keys, two-int form: the first int is this engine's namespace ("cio" + n), so they
// cannot collide with another application's single-bigint locks in the same database.
const APPEND_LOCK = 0x63696f01;
const MIGRATION_LOCK = 0x63696f02;
/** Serializes changes to one sync's lane layout (prepareLanes, setStreamCursor). */
const PROGRESS_LOCK = 0x63696f03;

/** `user:password@` becomes `user:***@`: errors and logs may show where, never the secret. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

function passwordOf(url: string): string | undefined {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === '' ? undefined : password;
  } catch {
    return undefined;
  }
}

/**
 * Opens (creating and migrating if needed) a PostgreSQL store. Any number of processes may open the
 * same database at once: migrations run under an advisory lock, appends to one source are
 * serialized so seqs become visible in order (see Store.append), and rate slots are single-row
 * upserts.
 */
export async function openPostgresStore(
  connectionString: string,
  opts: PostgresStoreOptions = {},
): Promise<Store> {
  const pool = new pg.Pool({
    connectionString,
    max: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    application_name: 'cio-sync',
  });
  // An idle connection that dies (server restart, network) is dropped by the pool; without a
  // listener its 'error' would crash the process.
  pool.on('error', () => {});
  try {
    await applyMigrations(pool, opts.migrations ?? postgresMigrations, (opts.now ?? Date.now)());
  } catch (error) {
    await pool.end().catch(() => {});
    const password = passwordOf(connectionString);
    let message = error instanceof Error ? error.message : String(error);
    if (password !== undefined) message = message.replaceAll(password, '***');
    // No `cause`: a driver error may carry the connection settings (password included) in its
    // properties, and a caller printing the error with its cause would show them.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`cannot open the PostgreSQL store at ${redactUrl(connectionString)}: ${message}`);
  }
  const listener = new LogListener(
    { connectionString, application_name: 'cio-sync listener' },
    LISTEN_RETRY_MS,
  );
  return new PostgresStore(pool, listener, opts);
}

async function applyMigrations(pool: pg.Pool, list: readonly Migration[], now: number): Promise<void> {
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.version <= list[i - 1]!.version)
      throw new Error('store: migrations must have increasing versions');
  }
  const client = await pool.connect();
  let broken = false;
  try {
    // Every pending step with its bookkeeping in one transaction, as SQLite does: a store is either
    // at the new schema or untouched, never halfway.
    await client.query('BEGIN');
    try {
      // Processes starting together queue on this lock (held to the commit); the first applies, the
      // others then find every version applied. CREATE TABLE IF NOT EXISTS alone is not enough: two
      // sessions can both pass its check. A transaction-level lock also works through a pooler in
      // transaction mode.
      await client.query('SELECT pg_advisory_xact_lock($1::int, 0)', [MIGRATION_LOCK]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      for (const migration of list) {
        if (applied.has(migration.version)) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          now,
        ]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}

interface LogRow {
  seq: string;
  received_at: string;
  record: string;
}

interface DeadLetterRow {
  id: string;
  sync_id: string;
  seq: string;
  record: string;
  reason: string;
  detail: string | null;
  created_at: string;
  redriven_at: string | null;
}

interface CapturedRow {
  id: string;
  sync_id: string;
  destination_id: string;
  method: string;
  url: string;
  body: string;
  created_at: string;
}

/** LIMIT NULL is "no limit" in PostgreSQL. */
function limitOf(limit: number | undefined): number | null {
  return limit === undefined ? null : Math.max(0, Math.floor(limit));
}

function laneCursorsOf(rows: ReadonlyArray<{ lanes: number; cursor: string }>): LaneCursors | undefined {
  if (rows.length === 0) return undefined;
  return { lanes: Number(rows[0]!.lanes), cursors: rows.map((r) => Number(r.cursor)) };
}

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #listener: LogListener;
  readonly #now: () => number;
  /** Only when pinned: otherwise rate slots take the database's clock, one clock for every host. */
  readonly #pinnedNow: (() => number) | undefined;
  readonly #pollIntervalMs: number;
  readonly #fallbackPollIntervalMs: number;
  /** Pending `waitForRecords` calls, released when the store closes under them. */
  readonly #waiters = new Set<() => void>();
  /** Cohort snapshots and diffs; the backend's SQL lives in PostgresCohorts. */
  readonly cohorts: PostgresCohorts;
  #closed = false;

  constructor(pool: pg.Pool, listener: LogListener, opts: PostgresStoreOptions) {
    this.#pool = pool;
    this.#listener = listener;
    this.#now = opts.now ?? Date.now;
    this.#pinnedNow = opts.now;
    this.#pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#fallbackPollIntervalMs = opts.fallbackPollIntervalMs ?? DEFAULT_FALLBACK_POLL_INTERVAL_MS;
    this.cohorts = new PostgresCohorts(pool, this.#now, (fn) => this.#tx(fn));
  }

  async #tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async append(sourceId: string, records: CanonicalRecord[]): Promise<number[]> {
    if (records.length === 0) return [];
    const receivedAt = this.#now();
    const texts = records.map((record) => JSON.stringify(record));
    return this.#tx(async (c) => {
      // Appends to one source queue on this lock before they draw seqs, and it is released only
      // after the commit: a source's seqs therefore commit in seq order, and a reader that sees seq
      // N can never later see a smaller one (Store.append). The NOTIFY goes out at the commit.
      await c.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2)), pg_notify($3, $4)', [
        APPEND_LOCK,
        sourceId,
        logChannel(sourceId),
        '',
      ]);
      const { rows } = await c.query<{ seq: string }>(
        'INSERT INTO event_log (source_id, received_at, record)' +
          ' SELECT $1, $2, record FROM unnest($3::text[]) WITH ORDINALITY AS r (record, n) ORDER BY n' +
          ' RETURNING seq',
        [sourceId, receivedAt, texts],
      );
      // Seqs are drawn in row order; RETURNING's own order is not promised.
      return rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
    });
  }

  async readAfter(sourceId: string, afterSeq: number, limit: number): Promise<LoggedRecord[]> {
    if (limit <= 0) return [];
    const { rows } = await this.#pool.query<LogRow>(
      'SELECT seq, received_at, record FROM event_log WHERE source_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [sourceId, afterSeq, Math.floor(limit)],
    );
    return rows.map((row) => ({
      seq: Number(row.seq),
      sourceId,
      receivedAt: Number(row.received_at),
      record: JSON.parse(row.record) as CanonicalRecord,
    }));
  }

  async headSeq(sourceId: string): Promise<number> {
    const { rows } = await this.#pool.query<{ head: string }>(
      'SELECT COALESCE(MAX(seq), 0) AS head FROM event_log WHERE source_id = $1',
      [sourceId],
    );
    return Number(rows[0]!.head);
  }

  async countAfter(sourceId: string, afterSeq: number): Promise<number> {
    const { rows } = await this.#pool.query<{ n: string }>(
      'SELECT COUNT(*) AS n FROM event_log WHERE source_id = $1 AND seq > $2',
      [sourceId, afterSeq],
    );
    return Number(rows[0]!.n);
  }

  async seqAtTime(sourceId: string, time: number): Promise<number> {
    // MIN(seq) rather than the first row by received_at: clocks of several ingest processes may
    // disagree a little, and a replay must not skip a record that got a smaller seq.
    const { rows } = await this.#pool.query<{ seq: string | null }>(
      'SELECT MIN(seq) AS seq FROM event_log WHERE source_id = $1 AND received_at >= $2',
      [sourceId, time],
    );
    const seq = rows[0]?.seq;
    return seq === null || seq === undefined ? (await this.headSeq(sourceId)) + 1 : Number(seq);
  }

  async #hasAfter(sourceId: string, afterSeq: number): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
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
        const pace = this.#listener.listening(channel) ? this.#pollIntervalMs : this.#fallbackPollIntervalMs;
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

  async addDeadLetters(letters: NewDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.#tx((c) => this.#insertDeadLetters(c, letters));
  }

  async #insertDeadLetters(c: pg.PoolClient, letters: readonly NewDeadLetter[]): Promise<void> {
    const createdAt = this.#now();
    for (const part of chunks(letters)) {
      await c.query(
        'INSERT INTO dead_letters (sync_id, seq, record, reason, detail, created_at)' +
          ' SELECT s, q, r, reason, detail, $6 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[])' +
          ' WITH ORDINALITY AS t (s, q, r, reason, detail, n) ORDER BY n ON CONFLICT DO NOTHING',
        [
          part.map((l) => l.syncId),
          part.map((l) => l.seq),
          part.map((l) => JSON.stringify(l.record)),
          part.map((l) => l.reason),
          part.map((l) => l.detail ?? null),
          createdAt,
        ],
      );
    }
  }

  async getLaneCursors(syncId: string): Promise<LaneCursors | undefined> {
    return laneCursorsOf(
      (
        await this.#pool.query<{ lanes: number; cursor: string }>(
          'SELECT lanes, cursor FROM sync_progress WHERE sync_id = $1 ORDER BY lane',
          [syncId],
        )
      ).rows,
    );
  }

  async getStreamCursor(syncId: string): Promise<number | undefined> {
    const found = await this.getLaneCursors(syncId);
    return found && Math.min(...found.cursors);
  }

  async prepareLanes(syncId: string, sourceId: string, lanes: number, start: number): Promise<number[]> {
    const current = await this.getLaneCursors(syncId);
    if (current?.lanes === lanes && current.cursors.length === lanes) return current.cursors;
    return this.#tx(async (c) => {
      // Lanes preparing at once queue on this lock; the later ones find the layout done.
      await c.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [PROGRESS_LOCK, syncId]);
      const { rows } = await c.query<{ lanes: number; cursor: string }>(
        'SELECT lanes, cursor FROM sync_progress WHERE sync_id = $1 ORDER BY lane',
        [syncId],
      );
      const now = laneCursorsOf(rows);
      if (now?.lanes === lanes && now.cursors.length === lanes) return now.cursors;
      const from = now ? Math.min(...now.cursors) : start;
      await c.query('DELETE FROM sync_progress WHERE sync_id = $1', [syncId]);
      await c.query(
        'INSERT INTO sync_progress (sync_id, lane, lanes, source_id, cursor, updated_at)' +
          ' SELECT $1, lane, $2, $3, $4, $5 FROM generate_series(0, $2 - 1) AS lane',
        [syncId, lanes, sourceId, from, this.#now()],
      );
      return Array.from({ length: lanes }, () => from);
    });
  }

  async settleDelivery(settlement: DeliverySettlement): Promise<boolean> {
    const { syncId, cursor, deadLetters = [], userSnapshots, redriven = [] } = settlement;
    return this.#tx(async (c) => {
      const at = this.#now();
      if (cursor) {
        // The row lock makes two settlements of one lane queue up, so the second sees the first's cursor.
        const { rows } = await c.query<{ cursor: string }>(
          'SELECT cursor FROM sync_progress WHERE sync_id = $1 AND lane = $2 FOR UPDATE',
          [syncId, cursor.lane],
        );
        if (rows[0] === undefined || Number(rows[0].cursor) !== cursor.from) return false;
      }
      if (redriven.length > 0) {
        await c.query(
          'UPDATE dead_letters SET redriven_at = $1 WHERE id = ANY($2::bigint[]) AND redriven_at IS NULL',
          [at, [...redriven]],
        );
      }
      await this.#insertDeadLetters(c, deadLetters);
      if (userSnapshots) await this.#putSnapshots(c, userSnapshots.scope, userSnapshots.entries);
      if (cursor) {
        await c.query(
          'UPDATE sync_progress SET cursor = $3, updated_at = $4 WHERE sync_id = $1 AND lane = $2',
          [syncId, cursor.lane, cursor.to, at],
        );
      }
      return true;
    });
  }

  async setStreamCursor(syncId: string, sourceId: string, cursor: number): Promise<number | undefined> {
    return this.#tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [PROGRESS_LOCK, syncId]);
      const { rows } = await c.query<{ lanes: number; cursor: string }>(
        'SELECT lanes, cursor FROM sync_progress WHERE sync_id = $1 ORDER BY lane FOR UPDATE',
        [syncId],
      );
      const before = laneCursorsOf(rows);
      if (before) {
        await c.query('UPDATE sync_progress SET cursor = $2, updated_at = $3 WHERE sync_id = $1', [
          syncId,
          cursor,
          this.#now(),
        ]);
      } else {
        await c.query(
          'INSERT INTO sync_progress (sync_id, lane, lanes, source_id, cursor, updated_at) VALUES ($1, 0, 1, $2, $3, $4)',
          [syncId, sourceId, cursor, this.#now()],
        );
      }
      return before && Math.min(...before.cursors);
    });
  }

  async nextSequence(key: string): Promise<number> {
    const { rows } = await this.#pool.query<{ value: string }>(
      'INSERT INTO sequences (key, value) VALUES ($1, 1)' +
        ' ON CONFLICT (key) DO UPDATE SET value = sequences.value + 1 RETURNING value',
      [key],
    );
    return Number(rows[0]!.value);
  }

  async listDeadLetters(
    syncId: string,
    opts: { includeRedriven?: boolean; limit?: number } = {},
  ): Promise<DeadLetter[]> {
    const { rows } = await this.#pool.query<DeadLetterRow>(
      'SELECT id, sync_id, seq, record, reason, detail, created_at, redriven_at FROM dead_letters' +
        ' WHERE sync_id = $1 AND ($2::boolean OR redriven_at IS NULL) ORDER BY id LIMIT $3',
      [syncId, opts.includeRedriven === true, limitOf(opts.limit)],
    );
    return rows.map((row) => {
      const letter: DeadLetter = {
        id: Number(row.id),
        syncId: row.sync_id,
        seq: Number(row.seq),
        record: JSON.parse(row.record) as CanonicalRecord,
        reason: row.reason,
        createdAt: Number(row.created_at),
      };
      if (row.detail !== null) letter.detail = row.detail;
      if (row.redriven_at !== null) letter.redrivenAt = Number(row.redriven_at);
      return letter;
    });
  }

  async countDeadLetters(syncId: string): Promise<number> {
    const { rows } = await this.#pool.query<{ n: string }>(
      'SELECT COUNT(*) AS n FROM dead_letters WHERE sync_id = $1 AND redriven_at IS NULL',
      [syncId],
    );
    return Number(rows[0]!.n);
  }

  async markRedriven(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    // Only the first redrive is recorded: marking again must not move the time a letter left the queue.
    await this.#pool.query(
      'UPDATE dead_letters SET redriven_at = $1 WHERE id = ANY($2::bigint[]) AND redriven_at IS NULL',
      [this.#now(), ids],
    );
  }

  async captureRequests(requests: NewCapturedRequest[]): Promise<void> {
    if (requests.length === 0) return;
    const createdAt = this.#now();
    await this.#tx(async (c) => {
      for (const part of chunks(requests)) {
        await c.query(
          'INSERT INTO captured_requests (sync_id, destination_id, method, url, body, created_at)' +
            ' SELECT s, d, m, u, b, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])' +
            ' WITH ORDINALITY AS t (s, d, m, u, b, n) ORDER BY n',
          [
            part.map((r) => r.syncId),
            part.map((r) => r.destinationId),
            part.map((r) => r.method),
            part.map((r) => r.url),
            // JSON.stringify(undefined) is undefined; the body reads back as null, as in SQLite.
            part.map((r) => JSON.stringify(r.body) ?? 'null'),
            createdAt,
          ],
        );
      }
    });
  }

  async listCapturedRequests(
    syncId: string,
    opts: { limit?: number; afterId?: number } = {},
  ): Promise<CapturedRequest[]> {
    const { rows } = await this.#pool.query<CapturedRow>(
      'SELECT id, sync_id, destination_id, method, url, body, created_at FROM captured_requests' +
        ' WHERE sync_id = $1 AND id > $2 ORDER BY id LIMIT $3',
      [syncId, opts.afterId ?? 0, limitOf(opts.limit)],
    );
    return rows.map((row) => ({
      id: Number(row.id),
      syncId: row.sync_id,
      destinationId: row.destination_id,
      method: row.method,
      url: row.url,
      body: JSON.parse(row.body) as unknown,
      createdAt: Number(row.created_at),
    }));
  }

  async reserveRateSlot(key: string, perSecond: number): Promise<number> {
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
      throw new RangeError(`reserveRateSlot: perSecond must be a positive number, got ${perSecond}`);
    }
    // GCRA in one statement: the upsert locks the key's row, so processes reserving at once queue on
    // it and each sees the slot the previous one took. Without a pinned clock the database's is used:
    // one clock for every host, so a host whose clock runs ahead cannot hold the others back.
    const { rows } = await this.#pool.query<{ wait: number }>(
      // Whole ms like Date.now(), so that a free slot's wait (start + interval - interval - now) is 0.
      'WITH t AS (SELECT COALESCE($2::float8, floor(extract(epoch FROM clock_timestamp()) * 1000)::float8) AS now)' +
        ' INSERT INTO rate_limits AS r (key, next_at) SELECT $1, t.now + $3::float8 FROM t' +
        ' ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(r.next_at, (SELECT now FROM t)) + $3::float8' +
        ' RETURNING GREATEST(0, r.next_at - $3::float8 - (SELECT now FROM t)) AS wait',
      [key, this.#pinnedNow?.() ?? null, 1000 / perSecond],
    );
    return Number(rows[0]!.wait);
  }

  async getState(key: string): Promise<string | undefined> {
    const { rows } = await this.#pool.query<{ value: string }>(
      'SELECT value FROM engine_state WHERE key = $1',
      [key],
    );
    return rows[0]?.value;
  }

  async setStateIfAbsent(key: string, value: string): Promise<string> {
    await this.#pool.query(
      'INSERT INTO engine_state (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING',
      [key, value, this.#now()],
    );
    // A statement of its own: it sees a row another session committed while the insert waited on it.
    return (await this.getState(key))!;
  }

  async setState(key: string, value: string): Promise<void> {
    await this.#pool.query(
      'INSERT INTO engine_state (key, value, updated_at) VALUES ($1, $2, $3)' +
        ' ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      [key, value, this.#now()],
    );
  }

  async getUserSnapshots(syncId: string, userKeys: readonly string[]): Promise<Map<string, UserSnapshot>> {
    const snapshots = new Map<string, UserSnapshot>();
    if (userKeys.length === 0) return snapshots;
    const { rows } = await this.#pool.query<{
      user_key: string;
      attributes: string;
      state: string;
      seq: string;
    }>(
      'SELECT user_key, attributes, state, seq FROM user_snapshots WHERE sync_id = $1 AND user_key = ANY($2::text[])',
      [syncId, [...new Set(userKeys)]],
    );
    for (const row of rows) {
      snapshots.set(row.user_key, {
        attributes: JSON.parse(row.attributes) as Record<string, unknown>,
        state: JSON.parse(row.state) as Record<string, unknown>,
        seq: Number(row.seq),
      });
    }
    return snapshots;
  }

  async putUserSnapshots(
    syncId: string,
    entries: ReadonlyArray<{ userKey: string; snapshot: UserSnapshot }>,
  ): Promise<void> {
    if (entries.length === 0) return;
    await this.#tx((c) => this.#putSnapshots(c, syncId, entries));
  }

  async #putSnapshots(
    c: pg.PoolClient,
    syncId: string,
    entries: ReadonlyArray<{ userKey: string; snapshot: UserSnapshot }>,
  ): Promise<void> {
    // One row per user: an upsert may not touch a row twice. Keeping the last entry of the highest
    // seq is what upserting them one by one would leave.
    const byUser = new Map<string, UserSnapshot>();
    for (const { userKey, snapshot } of entries) {
      const kept = byUser.get(userKey);
      if (kept === undefined || snapshot.seq >= kept.seq) byUser.set(userKey, snapshot);
    }
    const updatedAt = this.#now();
    for (const part of chunks([...byUser])) {
      await c.query(
        'INSERT INTO user_snapshots (sync_id, user_key, attributes, state, seq, updated_at)' +
          ' SELECT $1, k, a, s, q, $6 FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS t (k, a, s, q)' +
          ' ON CONFLICT (sync_id, user_key) DO UPDATE SET attributes = excluded.attributes, state = excluded.state,' +
          ' seq = excluded.seq, updated_at = excluded.updated_at WHERE excluded.seq >= user_snapshots.seq',
        [
          syncId,
          part.map(([userKey]) => userKey),
          part.map(([, s]) => JSON.stringify(s.attributes)),
          part.map(([, s]) => JSON.stringify(s.state)),
          part.map(([, s]) => s.seq),
          updatedAt,
        ],
      );
    }
  }

  async forgetPeople(input: {
    syncId: string;
    snapshotScopes: readonly string[];
    destinationId?: string;
    changes: ReadonlyArray<{ userKey: string; change: PersonChange }>;
  }): Promise<void> {
    const { syncId, snapshotScopes, destinationId, changes } = input;
    if (changes.length === 0) return;
    const now = this.#now();
    await this.#tx(async (c) => {
      for (const { userKey, change } of changes) {
        if (change === 'unsuppress') {
          await c.query('DELETE FROM suppressed_users WHERE sync_id = $1 AND user_key = $2', [
            syncId,
            userKey,
          ]);
          continue;
        }
        await c.query('DELETE FROM user_snapshots WHERE sync_id = ANY($1::text[]) AND user_key = $2', [
          [...snapshotScopes],
          userKey,
        ]);
        if (change === 'suppress') {
          await c.query(
            'INSERT INTO suppressed_users (sync_id, user_key, suppressed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
            [syncId, userKey, now],
          );
        }
        if (destinationId !== undefined) {
          await c.query(
            'INSERT INTO forgotten_people (destination_id, user_key, forgotten_at) VALUES ($1, $2, $3)' +
              ' ON CONFLICT (destination_id, user_key) DO UPDATE SET forgotten_at = excluded.forgotten_at',
            [destinationId, userKey, now],
          );
        }
      }
    });
  }

  async getSuppressedUsers(syncId: string, userKeys: readonly string[]): Promise<Set<string>> {
    const suppressed = new Set<string>();
    if (userKeys.length === 0) return suppressed;
    const { rows } = await this.#pool.query<{ user_key: string }>(
      'SELECT user_key FROM suppressed_users WHERE sync_id = $1 AND user_key = ANY($2::text[])',
      [syncId, [...new Set(userKeys)]],
    );
    for (const row of rows) suppressed.add(row.user_key);
    return suppressed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const release of [...this.#waiters]) release();
    await this.#listener.close();
    await this.#pool.end();
  }
}
