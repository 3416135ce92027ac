import type { StatementSync } from 'node:sqlite';

import { num } from '../columns.ts';
import { redoableTransaction, type SqliteContext } from '../sqlite-db.ts';
import { assertRate, type RateLimitStore } from './store.ts';

export class SqliteRateLimit implements RateLimitStore {
  readonly #ctx: SqliteContext;
  readonly #get: StatementSync;
  readonly #put: StatementSync;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
    const { db } = ctx;
    this.#get = db.prepare('SELECT next_at FROM rate_limits WHERE key = ?');
    this.#put = db.prepare(
      'INSERT INTO rate_limits (key, next_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at',
    );
  }

  async reserveRateSlot(key: string, perSecond: number): Promise<number> {
    assertRate(perSecond);
    // A reservation lost to a power cut only lets a few requests go early: not worth an fsync.
    return redoableTransaction(this.#ctx.db, () => {
      // Read the clock under the lock so that a reservation never starts before one made earlier.
      const now = this.#ctx.now();
      const row = this.#get.get(key);
      const start = row === undefined ? now : Math.max(now, num(row, 'next_at'));
      this.#put.run(key, start + 1000 / perSecond);
      return start - now;
    });
  }
}
