import type { StatementSync } from 'node:sqlite';

import { type SqliteContext, writeTransaction } from '../sqlite-db.ts';
import { userKeysOf, userSnapshotsOf } from './rows.ts';
import type { ForgetPeopleInput, UserSnapshot, UserSnapshotEntries, UserStore } from './store.ts';

export class SqliteUsers implements UserStore {
  readonly #ctx: SqliteContext;
  #snapshotStatements: { get: StatementSync; put: StatementSync } | undefined;
  #suppressedStatement: StatementSync | undefined;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
  }

  /** Prepared on first use: a store opened with an older schema (tests of migrations) has no table yet. */
  #snapshots(): { get: StatementSync; put: StatementSync } {
    this.#snapshotStatements ??= {
      // The keys travel as one JSON array: one prepared statement for any number of them, and no
      // brush with SQLite's limit on bound parameters.
      get: this.#ctx.db.prepare(
        'SELECT user_key, attributes, state, seq, history_time FROM user_snapshots' +
          ' WHERE sync_id = ? AND user_key IN (SELECT value FROM json_each(?))',
      ),
      put: this.#ctx.db.prepare(
        'INSERT INTO user_snapshots (sync_id, user_key, attributes, state, seq, updated_at, history_time)' +
          ' VALUES (?, ?, ?, ?, ?, ?, ?)' +
          ' ON CONFLICT (sync_id, user_key) DO UPDATE SET attributes = excluded.attributes, state = excluded.state,' +
          ' seq = excluded.seq, updated_at = excluded.updated_at, history_time = excluded.history_time' +
          ' WHERE excluded.seq >= user_snapshots.seq',
      ),
    };
    return this.#snapshotStatements;
  }

  async getUserSnapshots(syncId: string, userKeys: readonly string[]): Promise<Map<string, UserSnapshot>> {
    if (userKeys.length === 0) return new Map();
    return userSnapshotsOf(this.#snapshots().get.all(syncId, JSON.stringify([...new Set(userKeys)])));
  }

  async putUserSnapshots(syncId: string, entries: UserSnapshotEntries): Promise<void> {
    if (entries.length === 0) return;
    writeTransaction(this.#ctx.db, () => this.put(syncId, entries, this.#ctx.now()));
  }

  /** Upserts snapshots inside the caller's write transaction (settleDelivery's, or putUserSnapshots'). */
  put(syncId: string, entries: UserSnapshotEntries, updatedAt: number): void {
    const put = this.#snapshots().put;
    for (const { userKey, snapshot } of entries) {
      put.run(
        syncId,
        userKey,
        JSON.stringify(snapshot.attributes),
        JSON.stringify(snapshot.state),
        snapshot.seq,
        updatedAt,
        snapshot.historyTime ?? null,
      );
    }
  }

  async forgetPeople(input: ForgetPeopleInput): Promise<void> {
    const { syncId, snapshotScopes, destinationId, changes } = input;
    if (changes.length === 0) return;
    const now = this.#ctx.now();
    const db = this.#ctx.db;
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
    if (userKeys.length === 0) return new Set();
    // Asked before every delivery: prepared once (on first use, as the snapshots' statements are).
    this.#suppressedStatement ??= this.#ctx.db.prepare(
      'SELECT user_key FROM suppressed_users WHERE sync_id = ? AND user_key IN (SELECT value FROM json_each(?))',
    );
    return userKeysOf(this.#suppressedStatement.all(syncId, JSON.stringify([...new Set(userKeys)])));
  }
}
