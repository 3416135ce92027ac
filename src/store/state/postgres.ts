import type { PostgresContext } from '../postgres-db.ts';
import type { StateStore } from './store.ts';

export class PostgresState implements StateStore {
  readonly #ctx: PostgresContext;

  constructor(ctx: PostgresContext) {
    this.#ctx = ctx;
  }

  async getState(key: string): Promise<string | undefined> {
    const { rows } = await this.#ctx.pool.query<{ value: string }>(
      'SELECT value FROM engine_state WHERE key = $1',
      [key],
    );
    return rows[0]?.value;
  }

  async setStateIfAbsent(key: string, value: string): Promise<string> {
    await this.#ctx.pool.query(
      'INSERT INTO engine_state (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING',
      [key, value, this.#ctx.now()],
    );
    // A statement of its own: it sees a row another session committed while the insert waited on it.
    return (await this.getState(key))!;
  }

  async setState(key: string, value: string): Promise<void> {
    await this.#ctx.pool.query(
      'INSERT INTO engine_state (key, value, updated_at) VALUES ($1, $2, $3)' +
        ' ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      [key, value, this.#ctx.now()],
    );
  }
}
