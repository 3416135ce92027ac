import type pg from 'pg';

import { num } from '../columns.ts';
import { insertDeadLetters, markDeadLettersRedriven } from '../dead-letters/postgres.ts';
import { type PostgresContext, PROGRESS_LOCK } from '../postgres-db.ts';
import { putUserSnapshots } from '../users/postgres.ts';
import { cursorsIfLaidOut, laneCursorsOf, lowestCursor, streamPositionOf } from './rows.ts';
import type { DeliverySettlement, LaneCursors, ProgressStore, StreamPosition } from './store.ts';

/** Lanes preparing or resetting at once queue on this lock; the later ones find the layout done. */
async function lockLayout(c: pg.PoolClient, syncId: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2))', [PROGRESS_LOCK, syncId]);
}

/** The sync's stored lanes; `forUpdate` also locks their rows until the transaction ends. */
async function readLanes(
  q: pg.Pool | pg.PoolClient,
  syncId: string,
  forUpdate = false,
): Promise<LaneCursors | undefined> {
  const { rows } = await q.query(
    `SELECT lanes, cursor FROM sync_progress WHERE sync_id = $1 ORDER BY lane${forUpdate ? ' FOR UPDATE' : ''}`,
    [syncId],
  );
  return laneCursorsOf(rows);
}

/**
 * Lane cursors and sequences. settleDelivery also writes dead letters and user snapshots, with
 * their modules' statement-level functions on its own connection, so that all of it is one
 * transaction.
 */
export class PostgresProgress implements ProgressStore {
  readonly #ctx: PostgresContext;

  constructor(ctx: PostgresContext) {
    this.#ctx = ctx;
  }

  async getLaneCursors(syncId: string): Promise<LaneCursors | undefined> {
    return readLanes(this.#ctx.pool, syncId);
  }

  async getStreamCursor(syncId: string): Promise<number | undefined> {
    return lowestCursor(await this.getLaneCursors(syncId));
  }

  async streamCursors(): Promise<StreamPosition[]> {
    const { rows } = await this.#ctx.pool.query(
      'SELECT sync_id, source_id, MIN(cursor) AS cursor FROM sync_progress GROUP BY sync_id, source_id',
    );
    return rows.map(streamPositionOf);
  }

  async prepareLanes(syncId: string, sourceId: string, lanes: number, start: number): Promise<number[]> {
    const current = await this.getLaneCursors(syncId);
    const laidOut = cursorsIfLaidOut(current, lanes);
    if (laidOut) return laidOut;
    return this.#ctx.tx(async (c) => {
      await lockLayout(c, syncId);
      const now = await readLanes(c, syncId);
      const done = cursorsIfLaidOut(now, lanes);
      if (done) return done;
      const from = now ? Math.min(...now.cursors) : start;
      await c.query('DELETE FROM sync_progress WHERE sync_id = $1', [syncId]);
      await c.query(
        'INSERT INTO sync_progress (sync_id, lane, lanes, source_id, cursor, updated_at)' +
          ' SELECT $1, lane, $2, $3, $4, $5 FROM generate_series(0, $2 - 1) AS lane',
        [syncId, lanes, sourceId, from, this.#ctx.now()],
      );
      return Array.from({ length: lanes }, () => from);
    });
  }

  async settleDelivery(settlement: DeliverySettlement): Promise<boolean> {
    const { syncId, cursor, deadLetters = [], userSnapshots, redriven = [] } = settlement;
    // Everything a settlement records is redone when it is lost (see inTransaction's `redoable`).
    return this.#ctx.redoableTx(async (c) => {
      const at = this.#ctx.now();
      if (cursor) {
        // The row lock makes two settlements of one lane queue up, so the second sees the first's cursor.
        const { rows } = await c.query(
          'SELECT cursor FROM sync_progress WHERE sync_id = $1 AND lane = $2 FOR UPDATE',
          [syncId, cursor.lane],
        );
        if (rows[0] === undefined || num(rows[0], 'cursor') !== cursor.from) return false;
      }
      if (redriven.length > 0) await markDeadLettersRedriven(c, redriven, at);
      await insertDeadLetters(c, deadLetters, this.#ctx.now());
      if (userSnapshots) {
        await putUserSnapshots(c, userSnapshots.scope, userSnapshots.entries, this.#ctx.now());
      }
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
    return this.#ctx.tx(async (c) => {
      await lockLayout(c, syncId);
      const before = await readLanes(c, syncId, true);
      if (before) {
        await c.query('UPDATE sync_progress SET cursor = $2, updated_at = $3 WHERE sync_id = $1', [
          syncId,
          cursor,
          this.#ctx.now(),
        ]);
      } else {
        await c.query(
          'INSERT INTO sync_progress (sync_id, lane, lanes, source_id, cursor, updated_at) VALUES ($1, 0, 1, $2, $3, $4)',
          [syncId, sourceId, cursor, this.#ctx.now()],
        );
      }
      return lowestCursor(before);
    });
  }

  async nextSequence(key: string): Promise<number> {
    const { rows } = await this.#ctx.pool.query(
      'INSERT INTO sequences (key, value) VALUES ($1, 1)' +
        ' ON CONFLICT (key) DO UPDATE SET value = sequences.value + 1 RETURNING value',
      [key],
    );
    return num(rows[0], 'value');
  }
}
