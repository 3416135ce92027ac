import type pg from 'pg';

import { num } from '../columns.ts';
import { chunks, limitOf, type PostgresContext } from '../postgres-db.ts';
import { deadLetterOf } from './rows.ts';
import type { DeadLetter, DeadLetterStore, NewDeadLetter } from './store.ts';

/** Writes letters in the caller's transaction (settleDelivery's, or addDeadLetters'). */
export async function insertDeadLetters(
  c: pg.PoolClient,
  letters: readonly NewDeadLetter[],
  createdAt: number,
): Promise<void> {
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

/**
 * Marks letters redriven, on the pool or in the caller's transaction. Only the first redrive is
 * recorded: marking again must not move the time a letter left the queue.
 */
export async function markDeadLettersRedriven(
  q: pg.Pool | pg.PoolClient,
  ids: readonly number[],
  at: number,
): Promise<void> {
  await q.query(
    'UPDATE dead_letters SET redriven_at = $1 WHERE id = ANY($2::bigint[]) AND redriven_at IS NULL',
    [at, [...ids]],
  );
}

export class PostgresDeadLetters implements DeadLetterStore {
  readonly #ctx: PostgresContext;

  constructor(ctx: PostgresContext) {
    this.#ctx = ctx;
  }

  async addDeadLetters(letters: NewDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.#ctx.tx((c) => insertDeadLetters(c, letters, this.#ctx.now()));
  }

  async listDeadLetters(
    syncId: string,
    opts: { includeRedriven?: boolean; limit?: number } = {},
  ): Promise<DeadLetter[]> {
    const { rows } = await this.#ctx.pool.query(
      'SELECT id, sync_id, seq, record, reason, detail, created_at, redriven_at FROM dead_letters' +
        ' WHERE sync_id = $1 AND ($2::boolean OR redriven_at IS NULL) ORDER BY id LIMIT $3',
      [syncId, opts.includeRedriven === true, limitOf(opts.limit)],
    );
    return rows.map(deadLetterOf);
  }

  async countDeadLetters(syncId: string): Promise<number> {
    const { rows } = await this.#ctx.pool.query(
      'SELECT COUNT(*) AS n FROM dead_letters WHERE sync_id = $1 AND redriven_at IS NULL',
      [syncId],
    );
    return num(rows[0], 'n');
  }

  async markRedriven(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await markDeadLettersRedriven(this.#ctx.pool, ids, this.#ctx.now());
  }
}
