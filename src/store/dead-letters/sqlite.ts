import type { StatementSync } from 'node:sqlite';

import { num } from '../columns.ts';
import { limitOf, type SqliteContext, writeTransaction } from '../sqlite-db.ts';
import { deadLetterOf } from './rows.ts';
import type { DeadLetter, DeadLetterStore, NewDeadLetter } from './store.ts';

export class SqliteDeadLetters implements DeadLetterStore {
  readonly #ctx: SqliteContext;
  readonly #insert: StatementSync;
  readonly #list: StatementSync;
  readonly #count: StatementSync;
  readonly #markRedriven: StatementSync;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
    const { db } = ctx;
    this.#insert = db.prepare(
      'INSERT INTO dead_letters (sync_id, seq, record, reason, detail, created_at) VALUES (?, ?, ?, ?, ?, ?)' +
        ' ON CONFLICT DO NOTHING',
    );
    this.#list = db.prepare(
      'SELECT id, sync_id, seq, record, reason, detail, created_at, redriven_at FROM dead_letters' +
        ' WHERE sync_id = ? AND (? = 1 OR redriven_at IS NULL) ORDER BY id LIMIT ?',
    );
    this.#count = db.prepare(
      'SELECT COUNT(*) AS n FROM dead_letters WHERE sync_id = ? AND redriven_at IS NULL',
    );
    // Only the first redrive is recorded: marking again must not move the time a letter left the queue.
    this.#markRedriven = db.prepare(
      'UPDATE dead_letters SET redriven_at = ? WHERE id = ? AND redriven_at IS NULL',
    );
  }

  async addDeadLetters(letters: NewDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    writeTransaction(this.#ctx.db, () => this.insert(letters, this.#ctx.now()));
  }

  /** Writes letters inside the caller's write transaction (settleDelivery's, or addDeadLetters'). */
  insert(letters: readonly NewDeadLetter[], createdAt: number): void {
    for (const letter of letters) {
      this.#insert.run(
        letter.syncId,
        letter.seq,
        JSON.stringify(letter.record),
        letter.reason,
        letter.detail ?? null,
        createdAt,
      );
    }
  }

  /** Marks letters redriven inside the caller's write transaction. */
  mark(ids: readonly number[], at: number): void {
    for (const id of ids) this.#markRedriven.run(at, id);
  }

  async listDeadLetters(
    syncId: string,
    opts: { includeRedriven?: boolean; limit?: number } = {},
  ): Promise<DeadLetter[]> {
    return this.#list.all(syncId, opts.includeRedriven ? 1 : 0, limitOf(opts.limit)).map(deadLetterOf);
  }

  async countDeadLetters(syncId: string): Promise<number> {
    return num(this.#count.get(syncId), 'n');
  }

  async markRedriven(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    const at = this.#ctx.now();
    writeTransaction(this.#ctx.db, () => this.mark(ids, at));
  }
}
