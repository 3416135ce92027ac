import type pg from 'pg';

import { num } from '../columns.ts';
import { assertRate, type RateLimitStore } from './store.ts';

export class PostgresRateLimit implements RateLimitStore {
  readonly #pool: pg.Pool;
  /** Only when pinned: otherwise rate slots take the database's clock, one clock for every host. */
  readonly #pinnedNow: (() => number) | undefined;

  constructor(pool: pg.Pool, pinnedNow: (() => number) | undefined) {
    this.#pool = pool;
    this.#pinnedNow = pinnedNow;
  }

  async reserveRateSlot(key: string, perSecond: number): Promise<number> {
    assertRate(perSecond);
    // GCRA in one statement: the upsert locks the key's row, so processes reserving at once queue on
    // it and each sees the slot the previous one took. Without a pinned clock the database's is used:
    // one clock for every host, so a host whose clock runs ahead cannot hold the others back.
    const { rows } = await this.#pool.query(
      // Whole ms like Date.now(), so that a free slot's wait (start + interval - interval - now) is 0.
      'WITH t AS (SELECT COALESCE($2::float8, floor(extract(epoch FROM clock_timestamp()) * 1000)::float8) AS now)' +
        ' INSERT INTO rate_limits AS r (key, next_at) SELECT $1, t.now + $3::float8 FROM t' +
        ' ON CONFLICT (key) DO UPDATE SET next_at = GREATEST(r.next_at, (SELECT now FROM t)) + $3::float8' +
        ' RETURNING GREATEST(0, r.next_at - $3::float8 - (SELECT now FROM t)) AS wait',
      [key, this.#pinnedNow?.() ?? null, 1000 / perSecond],
    );
    return num(rows[0], 'wait');
  }
}
