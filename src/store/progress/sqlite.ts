import type { StatementSync } from 'node:sqlite';

import { num } from '../columns.ts';
import type { SqliteDeadLetters } from '../dead-letters/sqlite.ts';
import { redoableTransaction, type SqliteContext, writeTransaction } from '../sqlite-db.ts';
import type { SqliteUsers } from '../users/sqlite.ts';
import { cursorsIfLaidOut, laneCursorsOf, lowestCursor, streamPositionOf } from './rows.ts';
import type { DeliverySettlement, LaneCursors, ProgressStore, StreamPosition } from './store.ts';

interface ProgressStatements {
  lanes: StatementSync;
  positions: StatementSync;
  laneCursor: StatementSync;
  dropLanes: StatementSync;
  putLane: StatementSync;
  moveLane: StatementSync;
  moveAll: StatementSync;
  nextSequence: StatementSync;
}

/**
 * Lane cursors and sequences. settleDelivery also writes dead letters and user snapshots, through
 * their modules' statement-level methods, so that all of it is one transaction.
 */
export class SqliteProgress implements ProgressStore {
  readonly #ctx: SqliteContext;
  readonly #deadLetters: SqliteDeadLetters;
  readonly #users: SqliteUsers;
  #statements: ProgressStatements | undefined;

  constructor(ctx: SqliteContext, deadLetters: SqliteDeadLetters, users: SqliteUsers) {
    this.#ctx = ctx;
    this.#deadLetters = deadLetters;
    this.#users = users;
  }

  /** Prepared on first use: a store opened with an older schema (tests of migrations) has no table yet. */
  #progress(): ProgressStatements {
    const { db } = this.#ctx;
    this.#statements ??= {
      lanes: db.prepare('SELECT lane, lanes, cursor FROM sync_progress WHERE sync_id = ? ORDER BY lane'),
      laneCursor: db.prepare('SELECT cursor FROM sync_progress WHERE sync_id = ? AND lane = ?'),
      positions: db.prepare(
        'SELECT sync_id, source_id, MIN(cursor) AS cursor FROM sync_progress GROUP BY sync_id, source_id',
      ),
      dropLanes: db.prepare('DELETE FROM sync_progress WHERE sync_id = ?'),
      putLane: db.prepare(
        'INSERT INTO sync_progress (sync_id, lane, lanes, source_id, cursor, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      moveLane: db.prepare(
        'UPDATE sync_progress SET cursor = ?, updated_at = ? WHERE sync_id = ? AND lane = ?',
      ),
      moveAll: db.prepare('UPDATE sync_progress SET cursor = ?, updated_at = ? WHERE sync_id = ?'),
      nextSequence: db.prepare(
        'INSERT INTO sequences (key, value) VALUES (?, 1)' +
          ' ON CONFLICT (key) DO UPDATE SET value = sequences.value + 1 RETURNING value',
      ),
    };
    return this.#statements;
  }

  #laneCursors(syncId: string): LaneCursors | undefined {
    return laneCursorsOf(this.#progress().lanes.all(syncId));
  }

  async getLaneCursors(syncId: string): Promise<LaneCursors | undefined> {
    return this.#laneCursors(syncId);
  }

  async getStreamCursor(syncId: string): Promise<number | undefined> {
    return lowestCursor(this.#laneCursors(syncId));
  }

  async streamCursors(): Promise<StreamPosition[]> {
    return this.#progress().positions.all().map(streamPositionOf);
  }

  async prepareLanes(syncId: string, sourceId: string, lanes: number, start: number): Promise<number[]> {
    const progress = this.#progress();
    const current = this.#laneCursors(syncId);
    const laidOut = cursorsIfLaidOut(current, lanes);
    if (laidOut) return laidOut;
    return writeTransaction(this.#ctx.db, () => {
      const now = this.#laneCursors(syncId);
      const done = cursorsIfLaidOut(now, lanes);
      if (done) return done;
      const from = now ? Math.min(...now.cursors) : start;
      progress.dropLanes.run(syncId);
      const at = this.#ctx.now();
      for (let lane = 0; lane < lanes; lane++) progress.putLane.run(syncId, lane, lanes, sourceId, from, at);
      return Array.from({ length: lanes }, () => from);
    });
  }

  async settleDelivery(settlement: DeliverySettlement): Promise<boolean> {
    const { syncId, cursor, deadLetters = [], userSnapshots, redriven = [] } = settlement;
    const progress = this.#progress();
    // Everything a settlement records is redone when it is lost (see redoableTransaction).
    return redoableTransaction(this.#ctx.db, () => {
      if (cursor) {
        const row = progress.laneCursor.get(syncId, cursor.lane);
        if (row === undefined || num(row, 'cursor') !== cursor.from) return false;
      }
      const at = this.#ctx.now();
      this.#deadLetters.mark(redriven, at);
      this.#deadLetters.insert(deadLetters, this.#ctx.now());
      if (userSnapshots) this.#users.put(userSnapshots.scope, userSnapshots.entries, this.#ctx.now());
      if (cursor) progress.moveLane.run(cursor.to, at, syncId, cursor.lane);
      return true;
    });
  }

  async setStreamCursor(syncId: string, sourceId: string, cursor: number): Promise<number | undefined> {
    const progress = this.#progress();
    return writeTransaction(this.#ctx.db, () => {
      const before = this.#laneCursors(syncId);
      if (before) progress.moveAll.run(cursor, this.#ctx.now(), syncId);
      else progress.putLane.run(syncId, 0, 1, sourceId, cursor, this.#ctx.now());
      return lowestCursor(before);
    });
  }

  async nextSequence(key: string): Promise<number> {
    const next = this.#progress().nextSequence;
    return writeTransaction(this.#ctx.db, () => num(next.get(key), 'value'));
  }
}
