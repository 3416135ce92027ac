import type { Migration } from './migration.ts';

/**
 * The SQLite schema, in order. The PostgreSQL backend keeps the same versions, names, tables and
 * columns with its own column types in postgres.ts (a step added here needs its twin
 * there: a test compares both), so the SQL here stays plain: no SQLite-only clauses beyond
 * AUTOINCREMENT, times as epoch milliseconds, JSON as text.
 */
export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      -- AUTOINCREMENT so a seq is never reused, even once old records are pruned: cursors point at seqs.
      CREATE TABLE event_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        source_id TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        record TEXT NOT NULL
      );
      CREATE INDEX event_log_source_seq ON event_log (source_id, seq);
      CREATE INDEX event_log_source_received_at ON event_log (source_id, received_at);

      CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sync_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        record TEXT NOT NULL,
        reason TEXT NOT NULL,
        detail TEXT,
        created_at INTEGER NOT NULL,
        redriven_at INTEGER
      );
      CREATE INDEX dead_letters_sync_id ON dead_letters (sync_id);

      CREATE TABLE captured_requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sync_id TEXT NOT NULL,
        destination_id TEXT NOT NULL,
        method TEXT NOT NULL,
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX captured_requests_sync_id ON captured_requests (sync_id);

      -- next_at is fractional: 1000 / perSecond is rarely a whole number of ms.
      CREATE TABLE rate_limits (
        key TEXT PRIMARY KEY,
        next_at REAL NOT NULL
      );

      CREATE TABLE engine_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'user_snapshots',
    sql: `
      -- User forwarding: per sync and user, what Customer.io accepted (attributes), the operation-
      -- applied user properties (state) and the seq of the last record applied, all JSON text.
      CREATE TABLE user_snapshots (
        sync_id TEXT NOT NULL,
        user_key TEXT NOT NULL,
        attributes TEXT NOT NULL,
        state TEXT NOT NULL,
        seq INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (sync_id, user_key)
      );
    `,
  },
  {
    version: 3,
    name: 'cohorts',
    sql: `
  -- One row per member per run. Only the baseline run and the run being built are kept.
  CREATE TABLE cohort_members (
    sync_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (sync_id, run_id, member_id)
  );

  CREATE TABLE cohort_runs (
    sync_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    members INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    to_add INTEGER NOT NULL DEFAULT 0,
    to_remove INTEGER NOT NULL DEFAULT 0,
    progress TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (sync_id, run_id)
  );
`,
  },
  {
    version: 4,
    name: 'sync_progress',
    sql: `
  -- A stream sync's durable cursors, one per delivery lane (all \`lanes\` rows of a sync agree on
  -- the count): the system of record, written in the transaction that settles the delivery they
  -- describe. A workflow started for the sync resumes from them.
  CREATE TABLE sync_progress (
    sync_id TEXT NOT NULL,
    lane INTEGER NOT NULL,
    lanes INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (sync_id, lane)
  );
  CREATE INDEX sync_progress_source ON sync_progress (source_id);

  -- Numbers that never repeat for a key (cohort run ids), whatever happens to the workflows.
  CREATE TABLE sequences (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );

  -- One open dead letter per record, reason and detail: a settle that is repeated after a crash
  -- writes nothing twice. Older duplicates are folded into the first before the index is built.
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
      -- Users a sync's Customer.io suppress blocked, until an unsuppress (per snapshot scope).
      CREATE TABLE suppressed_users (
        sync_id TEXT NOT NULL,
        user_key TEXT NOT NULL,
        suppressed_at INTEGER NOT NULL,
        PRIMARY KEY (sync_id, user_key)
      );

      -- People a delete or suppress removed from a Customer.io workspace, by user key, so cohort
      -- syncs writing to the same workspace drop them from their baselines on their next run.
      CREATE TABLE forgotten_people (
        destination_id TEXT NOT NULL,
        user_key TEXT NOT NULL,
        forgotten_at INTEGER NOT NULL,
        PRIMARY KEY (destination_id, user_key)
      );
    `,
  },
  {
    version: 6,
    name: 'cohort_members_without_rowid',
    sql: `
      -- Members are found only by their key: without a rowid the table is its key's one b-tree, so a
      -- snapshot is written once instead of twice (a rowid table and its key's index).
      CREATE TABLE cohort_members_by_key (
        sync_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        PRIMARY KEY (sync_id, run_id, member_id)
      ) WITHOUT ROWID;
      INSERT INTO cohort_members_by_key (sync_id, run_id, member_id)
        SELECT sync_id, run_id, member_id FROM cohort_members;
      DROP TABLE cohort_members;
      ALTER TABLE cohort_members_by_key RENAME TO cohort_members;
    `,
  },
  {
    version: 7,
    name: 'cohort_run_keys',
    sql: `
      -- A member row names its run by a number instead of repeating the sync's and the run's ids,
      -- so a snapshot writes and stores far less per member. run_key is a column of its own (a
      -- rowid may change in a VACUUM); cohort runs are never deleted, so one never names two runs.
      ALTER TABLE cohort_runs ADD COLUMN run_key INTEGER;
      UPDATE cohort_runs SET run_key = rowid;
      CREATE UNIQUE INDEX cohort_runs_by_key ON cohort_runs (run_key);
      CREATE TABLE cohort_members_by_run (
        run_key INTEGER NOT NULL,
        member_id TEXT NOT NULL,
        PRIMARY KEY (run_key, member_id)
      ) WITHOUT ROWID;
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
      -- Each record's own dedupe key (its insert_id: Amplitude's insert_id, Segment's messageId), so
      -- appendNew can leave out an event the source's log already holds: a webhook retry, a backfill
      -- overlapping live traffic. Not unique: append still keeps whatever it is given (Customer.io
      -- deduplicates by event id), so a key may be there twice. Partial: keyless records cost the
      -- index nothing.
      --
      -- Rows logged before this step keep NULL, so dedupe covers what is appended from the upgrade
      -- on. Filling them in would rewrite every row of the log inside this one transaction while
      -- ingest waits (PostgreSQL's twin could not even read the key of a record holding a NUL), and
      -- retention prunes the old rows anyway. Adding the column writes no row; building the index
      -- reads the log once.
      ALTER TABLE event_log ADD COLUMN event_key TEXT;
      CREATE INDEX event_log_source_key ON event_log (source_id, event_key) WHERE event_key IS NOT NULL;

      -- Export API hours a backfill appended to a source's log completely, so a run that stopped
      -- part-way, or is started again, skips them. hour: the UTC hour's start, epoch ms.
      CREATE TABLE backfill_hours (
        source_id TEXT NOT NULL,
        hour INTEGER NOT NULL,
        records INTEGER NOT NULL,
        appended INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        done_at INTEGER NOT NULL,
        PRIMARY KEY (source_id, hour)
      );
    `,
  },
  {
    version: 9,
    name: 'user_snapshot_history_time',
    sql: `
      -- While a user's snapshot holds only history (records a backfill read), the newest such
      -- record's time (epoch ms): history is applied over nothing newer (UserSnapshot.historyTime).
      -- Existing snapshots keep NULL: they were built from the live stream, which history must never
      -- roll back.
      ALTER TABLE user_snapshots ADD COLUMN history_time INTEGER;
    `,
  },
];
