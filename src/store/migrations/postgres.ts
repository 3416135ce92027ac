import type { Migration } from './migration.ts';

/**
 * The PostgreSQL schema: the same versions, names, tables and columns as the SQLite steps in
 * sqlite.ts, with PostgreSQL's types (a test compares both lists and both live schemas, so they
 * cannot drift apart silently). The same rule holds: an applied step is never edited.
 *
 * Type choices, column for column against SQLite:
 * - BIGSERIAL for AUTOINCREMENT keys (never reused: cursors point at seqs), BIGINT for epoch ms.
 * - JSON stays TEXT rather than JSONB: a record must read back exactly as ingest wrote it (key order
 *   decides the order of attributes sent; JSONB sorts keys, drops duplicates and rejects `\u0000`,
 *   which JSON.stringify writes for a NUL in a property).
 * - DOUBLE PRECISION for REAL (rate-limit slots are fractional ms).
 * - Cohort member ids are `COLLATE "C"`: byte order, as SQLite's BINARY, whatever the database's
 *   default collation, so keyset pages come in the same order on both backends (and compare fast).
 */
export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE event_log (
        seq BIGSERIAL PRIMARY KEY,
        source_id TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        record TEXT NOT NULL
      );
      CREATE INDEX event_log_source_seq ON event_log (source_id, seq);
      CREATE INDEX event_log_source_received_at ON event_log (source_id, received_at);

      CREATE TABLE dead_letters (
        id BIGSERIAL PRIMARY KEY,
        sync_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        record TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT,
        created_at BIGINT NOT NULL,
        redriven_at BIGINT
      );
      CREATE INDEX dead_letters_sync_id ON dead_letters (sync_id);

      CREATE TABLE captured_requests (
        id BIGSERIAL PRIMARY KEY,
        sync_id TEXT NOT NULL,
        destination_id TEXT NOT NULL,
        method TEXT NOT NULL,
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX captured_requests_sync_id ON captured_requests (sync_id);

      CREATE TABLE rate_limits (
        key TEXT PRIMARY KEY,
        next_at DOUBLE PRECISION NOT NULL
      );

      CREATE TABLE engine_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'user_snapshots',
    sql: `
      CREATE TABLE user_snapshots (
        sync_id TEXT NOT NULL,
        user_key TEXT NOT NULL,
        attributes TEXT NOT NULL,
        state TEXT NOT NULL,
        seq BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (sync_id, user_key)
      );
    `,
  },
  {
    version: 3,
    name: 'cohorts',
    sql: `
      CREATE TABLE cohort_members (
        sync_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        member_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (sync_id, run_id, member_id)
      );

      CREATE TABLE cohort_runs (
        sync_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        phase TEXT NOT NULL,
        members BIGINT NOT NULL DEFAULT 0,
        skipped BIGINT NOT NULL DEFAULT 0,
        to_add BIGINT NOT NULL DEFAULT 0,
        to_remove BIGINT NOT NULL DEFAULT 0,
        progress TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        PRIMARY KEY (sync_id, run_id)
      );
    `,
  },
  {
    version: 4,
    name: 'sync_progress',
    sql: `
      CREATE TABLE sync_progress (
        sync_id TEXT NOT NULL,
        lane INTEGER NOT NULL,
        lanes INTEGER NOT NULL,
        source_id TEXT NOT NULL,
        cursor BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (sync_id, lane)
      );
      CREATE INDEX sync_progress_source ON sync_progress (source_id);

      CREATE TABLE sequences (
        key TEXT PRIMARY KEY,
        value BIGINT NOT NULL
      );

      DELETE FROM dead_letters WHERE redriven_at IS NULL AND id NOT IN (
        SELECT MIN(id) FROM dead_letters WHERE redriven_at IS NULL
        GROUP BY sync_id, seq, reason, COALESCE(detail, '')
      );
      CREATE UNIQUE INDEX dead_letters_open_unique
        ON dead_letters (sync_id, seq, reason, COALESCE(detail, '')) WHERE redriven_at IS NULL;
    `,
  },
  {
    version: 5,
    name: 'deletions',
    sql: `
      CREATE TABLE suppressed_users (
        sync_id TEXT NOT NULL,
        user_key TEXT NOT NULL,
        suppressed_at BIGINT NOT NULL,
        PRIMARY KEY (sync_id, user_key)
      );

      CREATE TABLE forgotten_people (
        destination_id TEXT NOT NULL,
        user_key TEXT NOT NULL,
        forgotten_at BIGINT NOT NULL,
        PRIMARY KEY (destination_id, user_key)
      );
    `,
  },
  {
    version: 6,
    name: 'cohort_members_without_rowid',
    // SQLite's table layout only: a PostgreSQL table has no rowid. Kept so both backends have the
    // same versions.
    sql: 'SELECT 1',
  },
  {
    version: 7,
    name: 'cohort_run_keys',
    sql: `
      -- Members name their run by a number instead of repeating the sync's and the run's ids
      -- (SQLite's step of the same name says what it saves). BIGSERIAL numbers the existing runs.
      ALTER TABLE cohort_runs ADD COLUMN run_key BIGSERIAL;
      CREATE UNIQUE INDEX cohort_runs_by_key ON cohort_runs (run_key);
      CREATE TABLE cohort_members_by_run (
        run_key BIGINT NOT NULL,
        member_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (run_key, member_id)
      );
      INSERT INTO cohort_members_by_run (run_key, member_id)
        SELECT r.run_key, m.member_id FROM cohort_members m
        JOIN cohort_runs r ON r.sync_id = m.sync_id AND r.run_id = m.run_id;
      DROP TABLE cohort_members;
      ALTER TABLE cohort_members_by_run RENAME TO cohort_members;
    `,
  },
  {
    version: 8,
    name: 'event_keys_and_backfill_hours',
    sql: `
      -- Each record's own dedupe key, for appendNew (SQLite's step of the same name says why it is
      -- not unique and why older rows keep NULL; here, too, ->> fails on a record holding a NUL).
      -- COLLATE "C": keys are only ever compared for equality, bytes compare fastest, and SQLite's
      -- BINARY matches the same keys. Adding a nullable column rewrites no row.
      ALTER TABLE event_log ADD COLUMN event_key TEXT COLLATE "C";
      CREATE INDEX event_log_source_key ON event_log (source_id, event_key) WHERE event_key IS NOT NULL;

      CREATE TABLE backfill_hours (
        source_id TEXT NOT NULL,
        hour BIGINT NOT NULL,
        records BIGINT NOT NULL,
        appended BIGINT NOT NULL,
        run_id TEXT NOT NULL,
        done_at BIGINT NOT NULL,
        PRIMARY KEY (source_id, hour)
      );
    `,
  },
  {
    version: 9,
    name: 'user_snapshot_history_time',
    sql: `
      -- See SQLite's step of the same name.
      ALTER TABLE user_snapshots ADD COLUMN history_time BIGINT;
    `,
  },
];
