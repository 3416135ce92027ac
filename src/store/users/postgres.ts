import type pg from 'pg';

import { chunks, type PostgresContext } from '../postgres-db.ts';
import { userKeysOf, userSnapshotsOf } from './rows.ts';
import type { ForgetPeopleInput, UserSnapshot, UserSnapshotEntries, UserStore } from './store.ts';

/** Upserts snapshots in the caller's transaction (settleDelivery's, or putUserSnapshots'). */
export async function putUserSnapshots(
  c: pg.PoolClient,
  syncId: string,
  entries: UserSnapshotEntries,
  updatedAt: number,
): Promise<void> {
  // One row per user: an upsert may not touch a row twice. Keeping the last entry of the highest
  // seq is what upserting them one by one would leave.
  const byUser = new Map<string, UserSnapshot>();
  for (const { userKey, snapshot } of entries) {
    const kept = byUser.get(userKey);
    if (kept === undefined || snapshot.seq >= kept.seq) byUser.set(userKey, snapshot);
  }
  for (const part of chunks([...byUser])) {
    await c.query(
      'INSERT INTO user_snapshots (sync_id, user_key, attributes, state, seq, updated_at, history_time)' +
        ' SELECT $1, k, a, s, q, $6, h FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $7::bigint[])' +
        ' AS t (k, a, s, q, h)' +
        ' ON CONFLICT (sync_id, user_key) DO UPDATE SET attributes = excluded.attributes, state = excluded.state,' +
        ' seq = excluded.seq, updated_at = excluded.updated_at, history_time = excluded.history_time' +
        ' WHERE excluded.seq >= user_snapshots.seq',
      [
        syncId,
        part.map(([userKey]) => userKey),
        part.map(([, s]) => JSON.stringify(s.attributes)),
        part.map(([, s]) => JSON.stringify(s.state)),
        part.map(([, s]) => s.seq),
        updatedAt,
        part.map(([, s]) => s.historyTime ?? null),
      ],
    );
  }
}

export class PostgresUsers implements UserStore {
  readonly #ctx: PostgresContext;

  constructor(ctx: PostgresContext) {
    this.#ctx = ctx;
  }

  async getUserSnapshots(syncId: string, userKeys: readonly string[]): Promise<Map<string, UserSnapshot>> {
    if (userKeys.length === 0) return new Map();
    const { rows } = await this.#ctx.pool.query(
      'SELECT user_key, attributes, state, seq, history_time FROM user_snapshots' +
        ' WHERE sync_id = $1 AND user_key = ANY($2::text[])',
      [syncId, [...new Set(userKeys)]],
    );
    return userSnapshotsOf(rows);
  }

  async putUserSnapshots(syncId: string, entries: UserSnapshotEntries): Promise<void> {
    if (entries.length === 0) return;
    await this.#ctx.tx((c) => putUserSnapshots(c, syncId, entries, this.#ctx.now()));
  }

  async forgetPeople(input: ForgetPeopleInput): Promise<void> {
    const { syncId, snapshotScopes, destinationId, changes } = input;
    if (changes.length === 0) return;
    const now = this.#ctx.now();
    await this.#ctx.tx(async (c) => {
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
    if (userKeys.length === 0) return new Set();
    const { rows } = await this.#ctx.pool.query(
      'SELECT user_key FROM suppressed_users WHERE sync_id = $1 AND user_key = ANY($2::text[])',
      [syncId, [...new Set(userKeys)]],
    );
    return userKeysOf(rows);
  }
}
