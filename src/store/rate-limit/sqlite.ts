import type { StatementSync } from 'node:sqlite';

import { num } from '../columns.ts';
import { type SqliteContext, writeTransaction } from '../sqlite-db.ts';
import { assertRate, type RateLimitStore } from './store.ts';

export class SqliteRateLimit implements RateLimitStore {
  readonly #ctx: SqliteContext;
  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #syncNormal: StatementSync;
  readonly #syncFull: StatementSync;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
    const { db } = ctx;
    this.#get = db.prepare('SELECT next_at FROM rate_limits WHERE key = ?');
    this.#put = db.prepare(
      'INSERT INTO rate_limits (key, next_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at',
    );
    this.#syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.#syncFull = db.prepare('PRAGMA synchronous = FULL');
  }

  async reserveRateSlot(key: string, perSecond: number): Promise<number> {
    assertRate(perSecond);
    // A reservation lost to a power cut only lets a few requests go early, so it is not worth an
    // fsync under the write lock that ingest appends also wait for.
    this.#syncNormal.run();
    try {
      return writeTransaction(this.#ctx.db, () => {
        // Read the clock under the lock so that a reservation never starts before one made earlier.
        const now = this.#ctx.now();
        const row = this.#get.get(key);
        const start = row === undefined ? now : Math.max(now, num(row, 'next_at'));
        this.#put.run(key, start + 1000 / perSecond);
        return start - now;
      });
    } finally {
      this.#syncFull.run();
    }
  }
}
