import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { SQLOutputValue, StatementSync } from 'node:sqlite';
import type { CanonicalRecord, LoggedRecord } from '../events/record.ts';
import { migrations as defaultMigrations } from './migrations.ts';
import { SqliteCohorts } from './sqlite-cohorts.ts';
import type { Migration } from './migrations.ts';
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

export interface SqliteStoreOptions {
  /**
   * How long a write waits for another connection's write lock before failing (ms). node:sqlite is
   * synchronous, so this wait blocks the event loop; writes here are short, so waits are too.
   */
  busyTimeoutMs?: number;
  /** How often `waitForRecords` looks at the log (ms). */
  pollIntervalMs?: number;
  /** Clock for received_at, created_at and rate slots; tests pin it. */
  now?: () => number;
  /** Schema steps to apply; tests only. */
  migrations?: readonly Migration[];
}

type Row = Record<string, SQLOutputValue>;

interface LogWaiter {
  afterSeq: number;
  settle(outcome: boolean | Error): void;
}

interface SourceWatch {
  waiters: Set<LogWaiter>;
  timer: NodeJS.Timeout | undefined;
  start?: () => void;
}

interface ProgressStatements {
  lanes: StatementSync;
  laneCursor: StatementSync;
  dropLanes: StatementSync;
  putLane: StatementSync;
  moveLane: StatementSync;
  moveAll: StatementSync;
  nextSequence: StatementSync;
}

const DEFAULT_BUSY_TIMEOUT_MS = 10_000;
const DEFAULT_POLL_INTERVAL_MS = 25;
const SQLITE_BUSY = 5;

function num(row: Row | undefined, column: string): number {
  const value = row?.[column];
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  throw new Error(`store: expected a number in column ${column}, got ${typeof value}`);
}

function str(row: Row, column: string): string {
  const value = row[column];
  if (typeof value === 'string') return value;
  throw new Error(`store: expected text in column ${column}, got ${typeof value}`);
}

function optNum(row: Row, column: string): number | undefined {
  return row[column] === null || row[column] === undefined ? undefined : num(row, column);
}

function optStr(row: Row, column: string): string | undefined {
  return row[column] === null || row[column] === undefined ? undefined : str(row, column);
}

/** SQLite reads a negative LIMIT as "no limit". */
function limitOf(limit: number | undefined): number {
  return limit === undefined ? -1 : Math.max(0, Math.floor(limit));
}

/**
 * BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout). A deferred transaction
 * that reads and then writes can instead fail at once with SQLITE_BUSY when another process
 * committed in between, which the busy handler cannot fix.
 */
function writeTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

function applyMigrations(db: DatabaseSync, list: readonly Migration[], now: number): void {
  for (let i = 1; i < list.length; i++) {
    if (list[i]!.version <= list[i - 1]!.version)
      throw new Error('store: migrations must have increasing versions');
  }
  // Creating the bookkeeping table inside the same IMMEDIATE transaction makes a second process that
  // starts at the same moment wait, then see every version already applied.
  writeTransaction(db, () => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const applied = new Set(
      db
        .prepare('SELECT version FROM schema_migrations')
        .all()
        .map((r) => num(r, 'version')),
    );
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const migration of list) {
      if (applied.has(migration.version)) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, now);
    }
  });
}

/**
 * Switches the file to WAL. Several processes opening a new file at once (make start, a deployment
 * starting) can get SQLITE_BUSY here at once: the switch needs a lock SQLite does not wait for
 * with the busy handler. So wait ourselves, up to the busy timeout.
 */
async function enableWal(db: DatabaseSync, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      db.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      const busy = (error as { errcode?: unknown }).errcode === SQLITE_BUSY;
      if (!busy || performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
    }
  }
}

/** Opens (creating and migrating if needed) a SQLite store. `':memory:'` gives a private, throwaway one. */
export async function openSqliteStore(path: string, opts: SqliteStoreOptions = {}): Promise<Store> {
  const now = opts.now ?? Date.now;
  const pollIntervalMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const inMemory = path === ':memory:' || path === '';
  if (!inMemory) await mkdir(dirname(path), { recursive: true });

  const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
  try {
    // WAL lets the ingest server append while workers read, and lets readers see each commit at once.
    if (!inMemory) await enableWal(db, busyTimeoutMs);
    // Acknowledged means durable: with WAL, NORMAL survives a process crash but can lose the last
    // commits on power loss, so every commit is fsynced (FULL) except rate-limit reservations, which
    // switch to NORMAL for their own transaction (see reserveRateSlot).
    db.exec('PRAGMA synchronous = FULL');
    applyMigrations(db, opts.migrations ?? defaultMigrations, now());
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteStore(db, now, pollIntervalMs);
}

class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #pollIntervalMs: number;
  /** Pending `waitForRecords` calls, released when the store closes under them. */
  readonly #waiters = new Set<() => void>();
  /** The one poll per source that `waitForRecords` callers share. */
  readonly #watches = new Map<string, SourceWatch>();
  #closed = false;

  readonly #insertRecord: StatementSync;
  readonly #readAfter: StatementSync;
  readonly #headSeq: StatementSync;
  readonly #countAfter: StatementSync;
  readonly #seqAtTime: StatementSync;
  readonly #hasAfter: StatementSync;
  readonly #insertDeadLetter: StatementSync;
  readonly #listDeadLetters: StatementSync;
  readonly #countDeadLetters: StatementSync;
  readonly #markRedriven: StatementSync;
  readonly #insertCaptured: StatementSync;
  readonly #listCaptured: StatementSync;
  readonly #getRateSlot: StatementSync;
  readonly #putRateSlot: StatementSync;
  readonly #getState: StatementSync;
  readonly #insertStateIfAbsent: StatementSync;
  readonly #putState: StatementSync;
  readonly #syncNormal: StatementSync;
  readonly #syncFull: StatementSync;
  #userSnapshotStatements: { get: StatementSync; put: StatementSync } | undefined;
  #progressStatements: ProgressStatements | undefined;
  /** Cohort snapshots and diffs; the backend's SQL lives in SqliteCohorts. */
  readonly cohorts: SqliteCohorts;

  constructor(db: DatabaseSync, now: () => number, pollIntervalMs: number) {
    this.#db = db;
    this.#now = now;
    this.#pollIntervalMs = pollIntervalMs;
    this.cohorts = new SqliteCohorts(db, now, (fn) => writeTransaction(db, fn));
    this.#insertRecord = db.prepare(
      'INSERT INTO event_log (source_id, received_at, record) VALUES (?, ?, ?)',
    );
    this.#readAfter = db.prepare(
      'SELECT seq, received_at, record FROM event_log WHERE source_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    );
    this.#headSeq = db.prepare('SELECT COALESCE(MAX(seq), 0) AS head FROM event_log WHERE source_id = ?');
    this.#countAfter = db.prepare('SELECT COUNT(*) AS n FROM event_log WHERE source_id = ? AND seq > ?');
    this.#seqAtTime = db.prepare(
      'SELECT MIN(seq) AS seq FROM event_log WHERE source_id = ? AND received_at >= ?',
    );
    this.#hasAfter = db.prepare('SELECT seq FROM event_log WHERE source_id = ? AND seq > ? LIMIT 1');
    this.#insertDeadLetter = db.prepare(
      'INSERT INTO dead_letters (sync_id, seq, record, reason, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)' +
        ' ON CONFLICT DO NOTHING',
    );
    this.#listDeadLetters = db.prepare(
      'SELECT id, sync_id, seq, record, reason, detail, created_at, redriven_at FROM dead_letters' +
        ' WHERE sync_id = ? AND (? = 1 OR redriven_at IS NULL) ORDER BY id LIMIT ?',
    );
    this.#countDeadLetters = db.prepare(
      'SELECT COUNT(*) AS n FROM dead_letters WHERE sync_id = ? AND redriven_at IS NULL',
    );
    // Only the first redrive is recorded: marking again must not move the time a letter left the queue.
    this.#markRedriven = db.prepare(
      'UPDATE dead_letters SET redriven_at = ? WHERE id = ? AND redriven_at IS NULL',
    );
    this.#insertCaptured = db.prepare(
      'INSERT INTO captured_requests (sync_id, destination_id, method, url, body, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#listCaptured = db.prepare(
      'SELECT id, sync_id, destination_id, method, url, body, created_at FROM captured_requests' +
        ' WHERE sync_id = ? AND id > ? ORDER BY id LIMIT ?',
    );
    this.#getRateSlot = db.prepare('SELECT next_at FROM rate_limits WHERE key = ?');
    this.#putRateSlot = db.prepare(
      'INSERT INTO rate_limits (key, next_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at',
    );
    this.#getState = db.prepare('SELECT value FROM engine_state WHERE key = ?');
    this.#insertStateIfAbsent = db.prepare(
      'INSERT INTO engine_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING',
    );
    this.#putState = db.prepare(
      'INSERT INTO engine_state (key, value, updated_at) VALUES (?, ?, ?)' +
        ' ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    );
    this.#syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.#syncFull = db.prepare('PRAGMA synchronous = FULL');
  }

  /** Prepared on first use: a store opened with an older schema (tests of migrations) has no table yet. */
  #userSnapshots(): { get: StatementSync; put: StatementSync } {
    this.#userSnapshotStatements ??= {
      // The keys travel as one JSON array: one prepared statement for any number of them, and no
      // brush with SQLite's limit on bound parameters.
      get: this.#db.prepare(
        'SELECT user_key, attributes, state, seq FROM user_snapshots' +
          ' WHERE sync_id = ? AND user_key IN (SELECT value FROM json_each(?))',
      ),
      put: this.#db.prepare(
        'INSERT INTO user_snapshots (sync_id, user_key, attributes, state, seq, updated_at) VALUES (?, ?, ?, ?, ?, ?)' +
          ' ON CONFLICT (sync_id, user_key) DO UPDATE SET attributes = excluded.attributes, state = excluded.state,' +
          ' seq = excluded.seq, updated_at = excluded.updated_at WHERE excluded.seq >= user_snapshots.seq',
      ),
    };
    return this.#userSnapshotStatements;
  }

  #progress(): ProgressStatements {
    this.#progressStatements ??= {
      lanes: this.#db.prepare(
        'SELECT lane, lanes, cursor FROM sync_progress WHERE sync_id = ? ORDER BY lane',
      ),
      laneCursor: this.#db.prepare('SELECT cursor FROM sync_progress WHERE sync_id = ? AND lane = ?'),
      dropLanes: this.#db.prepare('DELETE FROM sync_progress WHERE sync_id = ?'),
      putLane: this.#db.prepare(
        'INSERT INTO sync_progress (sync_id, lane, lanes, source_id, cursor, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      moveLane: this.#db.prepare(
        'UPDATE sync_progress SET cursor = ?, updated_at = ? WHERE sync_id = ? AND lane = ?',
      ),
      moveAll: this.#db.prepare('UPDATE sync_progress SET cursor = ?, updated_at = ? WHERE sync_id = ?'),
      nextSequence: this.#db.prepare(
        'INSERT INTO sequences (key, value) VALUES (?, 1)' +
          ' ON CONFLICT (key) DO UPDATE SET value = sequences.value + 1 RETURNING value',
      ),
    };
    return this.#progressStatements;
  }

  #laneCursors(syncId: string): LaneCursors | undefined {
    const rows = this.#progress().lanes.all(syncId);
    if (rows.length === 0) return undefined;
    return { lanes: num(rows[0], 'lanes'), cursors: rows.map((r) => num(r, 'cursor')) };
  }

  async append(sourceId: string, records: CanonicalRecord[]): Promise<number[]> {
    if (records.length === 0) return [];
    const receivedAt = this.#now();
    return writeTransaction(this.#db, () =>
      records.map((record) =>
        Number(this.#insertRecord.run(sourceId, receivedAt, JSON.stringify(record)).lastInsertRowid),
      ),
    );
  }

  async readAfter(sourceId: string, afterSeq: number, limit: number): Promise<LoggedRecord[]> {
    if (limit <= 0) return [];
    return this.#readAfter.all(sourceId, afterSeq, Math.floor(limit)).map((row) => ({
      seq: num(row, 'seq'),
      sourceId,
      receivedAt: num(row, 'received_at'),
      record: JSON.parse(str(row, 'record')) as CanonicalRecord,
    }));
  }

  async headSeq(sourceId: string): Promise<number> {
    return this.#head(sourceId);
  }

  #head(sourceId: string): number {
    return num(this.#headSeq.get(sourceId), 'head');
  }

  async countAfter(sourceId: string, afterSeq: number): Promise<number> {
    return num(this.#countAfter.get(sourceId, afterSeq), 'n');
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

  async addDeadLetters(letters: NewDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    writeTransaction(this.#db, () => this.#insertDeadLetters(letters));
  }

  #insertDeadLetters(letters: readonly NewDeadLetter[]): void {
    const createdAt = this.#now();
    for (const letter of letters) {
      this.#insertDeadLetter.run(
        letter.syncId,
        letter.seq,
        JSON.stringify(letter.record),
        letter.reason,
        letter.detail ?? null,
        createdAt,
      );
    }
  }

  async getLaneCursors(syncId: string): Promise<LaneCursors | undefined> {
    return this.#laneCursors(syncId);
  }

  async getStreamCursor(syncId: string): Promise<number | undefined> {
    const found = this.#laneCursors(syncId);
    return found && Math.min(...found.cursors);
  }

  async prepareLanes(syncId: string, sourceId: string, lanes: number, start: number): Promise<number[]> {
    const progress = this.#progress();
    const current = this.#laneCursors(syncId);
    if (current?.lanes === lanes && current.cursors.length === lanes) return current.cursors;
    return writeTransaction(this.#db, () => {
      const now = this.#laneCursors(syncId);
      if (now?.lanes === lanes && now.cursors.length === lanes) return now.cursors;
      const from = now ? Math.min(...now.cursors) : start;
      progress.dropLanes.run(syncId);
      const at = this.#now();
      for (let lane = 0; lane < lanes; lane++) progress.putLane.run(syncId, lane, lanes, sourceId, from, at);
      return Array.from({ length: lanes }, () => from);
    });
  }

  async settleDelivery(settlement: DeliverySettlement): Promise<boolean> {
    const { syncId, cursor, deadLetters = [], userSnapshots, redriven = [] } = settlement;
    const progress = this.#progress();
    return writeTransaction(this.#db, () => {
      if (cursor) {
        const row = progress.laneCursor.get(syncId, cursor.lane);
        if (row === undefined || num(row, 'cursor') !== cursor.from) return false;
      }
      const at = this.#now();
      for (const id of redriven) this.#markRedriven.run(at, id);
      this.#insertDeadLetters(deadLetters);
      if (userSnapshots) this.#putSnapshots(userSnapshots.scope, userSnapshots.entries);
      if (cursor) progress.moveLane.run(cursor.to, at, syncId, cursor.lane);
      return true;
    });
  }

  async setStreamCursor(syncId: string, sourceId: string, cursor: number): Promise<number | undefined> {
    const progress = this.#progress();
    return writeTransaction(this.#db, () => {
      const before = this.#laneCursors(syncId);
      if (before) progress.moveAll.run(cursor, this.#now(), syncId);
      else progress.putLane.run(syncId, 0, 1, sourceId, cursor, this.#now());
      return before && Math.min(...before.cursors);
    });
  }

  async nextSequence(key: string): Promise<number> {
    const next = this.#progress().nextSequence;
    return writeTransaction(this.#db, () => num(next.get(key), 'value'));
  }

  async listDeadLetters(
    syncId: string,
    opts: { includeRedriven?: boolean; limit?: number } = {},
  ): Promise<DeadLetter[]> {
    const rows = this.#listDeadLetters.all(syncId, opts.includeRedriven ? 1 : 0, limitOf(opts.limit));
    return rows.map((row) => {
      const letter: DeadLetter = {
        id: num(row, 'id'),
        syncId: str(row, 'sync_id'),
        seq: num(row, 'seq'),
        record: JSON.parse(str(row, 'record')) as CanonicalRecord,
        reason: str(row, 'reason'),
        createdAt: num(row, 'created_at'),
      };
      const detail = optStr(row, 'detail');
      if (detail !== undefined) letter.detail = detail;
      const redrivenAt = optNum(row, 'redriven_at');
      if (redrivenAt !== undefined) letter.redrivenAt = redrivenAt;
      return letter;
    });
  }

  async countDeadLetters(syncId: string): Promise<number> {
    return num(this.#countDeadLetters.get(syncId), 'n');
  }

  async markRedriven(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    const at = this.#now();
    writeTransaction(this.#db, () => {
      for (const id of ids) this.#markRedriven.run(at, id);
    });
  }

  async captureRequests(requests: NewCapturedRequest[]): Promise<void> {
    if (requests.length === 0) return;
    const createdAt = this.#now();
    writeTransaction(this.#db, () => {
      for (const r of requests) {
        // JSON.stringify(undefined) is undefined, which is not a bindable value.
        const body = JSON.stringify(r.body) ?? 'null';
        this.#insertCaptured.run(r.syncId, r.destinationId, r.method, r.url, body, createdAt);
      }
    });
  }

  async listCapturedRequests(
    syncId: string,
    opts: { limit?: number; afterId?: number } = {},
  ): Promise<CapturedRequest[]> {
    return this.#listCaptured.all(syncId, opts.afterId ?? 0, limitOf(opts.limit)).map((row) => ({
      id: num(row, 'id'),
      syncId: str(row, 'sync_id'),
      destinationId: str(row, 'destination_id'),
      method: str(row, 'method'),
      url: str(row, 'url'),
      body: JSON.parse(str(row, 'body')) as unknown,
      createdAt: num(row, 'created_at'),
    }));
  }

  async reserveRateSlot(key: string, perSecond: number): Promise<number> {
    if (!(perSecond > 0) || !Number.isFinite(perSecond)) {
      throw new RangeError(`reserveRateSlot: perSecond must be a positive number, got ${perSecond}`);
    }
    // A reservation lost to a power cut only lets a few requests go early, so it is not worth an
    // fsync under the write lock that ingest appends also wait for.
    this.#syncNormal.run();
    try {
      return writeTransaction(this.#db, () => {
        // Read the clock under the lock so that a reservation never starts before one made earlier.
        const now = this.#now();
        const row = this.#getRateSlot.get(key);
        const start = row === undefined ? now : Math.max(now, num(row, 'next_at'));
        this.#putRateSlot.run(key, start + 1000 / perSecond);
        return start - now;
      });
    } finally {
      this.#syncFull.run();
    }
  }

  async getState(key: string): Promise<string | undefined> {
    const row = this.#getState.get(key);
    return row === undefined ? undefined : str(row, 'value');
  }

  async setStateIfAbsent(key: string, value: string): Promise<string> {
    return writeTransaction(this.#db, () => {
      this.#insertStateIfAbsent.run(key, value, this.#now());
      return str(this.#getState.get(key)!, 'value');
    });
  }

  async setState(key: string, value: string): Promise<void> {
    this.#putState.run(key, value, this.#now());
  }

  async getUserSnapshots(syncId: string, userKeys: readonly string[]): Promise<Map<string, UserSnapshot>> {
    const snapshots = new Map<string, UserSnapshot>();
    if (userKeys.length === 0) return snapshots;
    for (const row of this.#userSnapshots().get.all(syncId, JSON.stringify([...new Set(userKeys)]))) {
      snapshots.set(str(row, 'user_key'), {
        attributes: JSON.parse(str(row, 'attributes')) as Record<string, unknown>,
        state: JSON.parse(str(row, 'state')) as Record<string, unknown>,
        seq: num(row, 'seq'),
      });
    }
    return snapshots;
  }

  async putUserSnapshots(
    syncId: string,
    entries: ReadonlyArray<{ userKey: string; snapshot: UserSnapshot }>,
  ): Promise<void> {
    if (entries.length === 0) return;
    writeTransaction(this.#db, () => this.#putSnapshots(syncId, entries));
  }

  #putSnapshots(syncId: string, entries: ReadonlyArray<{ userKey: string; snapshot: UserSnapshot }>): void {
    const updatedAt = this.#now();
    const put = this.#userSnapshots().put;
    for (const { userKey, snapshot } of entries) {
      put.run(
        syncId,
        userKey,
        JSON.stringify(snapshot.attributes),
        JSON.stringify(snapshot.state),
        snapshot.seq,
        updatedAt,
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
    const db = this.#db;
    const dropSnapshot = db.prepare('DELETE FROM user_snapshots WHERE sync_id = ? AND user_key = ?');
    const suppress = db.prepare(
      'INSERT INTO suppressed_users (sync_id, user_key, suppressed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    const unsuppress = db.prepare('DELETE FROM suppressed_users WHERE sync_id = ? AND user_key = ?');
    const forget = db.prepare(
      'INSERT INTO forgotten_people (destination_id, user_key, forgotten_at) VALUES (?, ?, ?)' +
        ' ON CONFLICT (destination_id, user_key) DO UPDATE SET forgotten_at = excluded.forgotten_at',
    );
    writeTransaction(db, () => {
      for (const { userKey, change } of changes) {
        if (change === 'unsuppress') {
          unsuppress.run(syncId, userKey);
          continue;
        }
        for (const scope of snapshotScopes) dropSnapshot.run(scope, userKey);
        if (change === 'suppress') suppress.run(syncId, userKey, now);
        if (destinationId !== undefined) forget.run(destinationId, userKey, now);
      }
    });
  }

  async getSuppressedUsers(syncId: string, userKeys: readonly string[]): Promise<Set<string>> {
    const suppressed = new Set<string>();
    if (userKeys.length === 0) return suppressed;
    const rows = this.#db
      .prepare(
        'SELECT user_key FROM suppressed_users WHERE sync_id = ? AND user_key IN (SELECT value FROM json_each(?))',
      )
      .all(syncId, JSON.stringify([...new Set(userKeys)]));
    for (const row of rows) suppressed.add(str(row, 'user_key'));
    return suppressed;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const release of [...this.#waiters]) release();
    this.#db.close();
  }
}
