import type { StatementSync } from 'node:sqlite';

import { str } from '../columns.ts';
import { type SqliteContext, writeTransaction } from '../sqlite-db.ts';
import type { StateStore } from './store.ts';

export class SqliteState implements StateStore {
  readonly #ctx: SqliteContext;
  readonly #get: StatementSync;
  readonly #insertIfAbsent: StatementSync;
  readonly #put: StatementSync;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
    const { db } = ctx;
    this.#get = db.prepare('SELECT value FROM engine_state WHERE key = ?');
    this.#insertIfAbsent = db.prepare(
      'INSERT INTO engine_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING',
    );
    this.#put = db.prepare(
      'INSERT INTO engine_state (key, value, updated_at) VALUES (?, ?, ?)' +
        ' ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
    );
  }

  async getState(key: string): Promise<string | undefined> {
    const row = this.#get.get(key);
    return row === undefined ? undefined : str(row, 'value');
  }

  async setStateIfAbsent(key: string, value: string): Promise<string> {
    return writeTransaction(this.#ctx.db, () => {
      this.#insertIfAbsent.run(key, value, this.#ctx.now());
      return str(this.#get.get(key)!, 'value');
    });
  }

  async setState(key: string, value: string): Promise<void> {
    this.#put.run(key, value, this.#ctx.now());
  }
}
