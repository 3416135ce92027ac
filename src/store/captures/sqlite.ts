import type { StatementSync } from 'node:sqlite';

import { limitOf, type SqliteContext, writeTransaction } from '../sqlite-db.ts';
import { bodyText, capturedRequestOf } from './rows.ts';
import type { CapturedRequest, CaptureStore, NewCapturedRequest } from './store.ts';

export class SqliteCaptures implements CaptureStore {
  readonly #ctx: SqliteContext;
  readonly #insert: StatementSync;
  readonly #list: StatementSync;

  constructor(ctx: SqliteContext) {
    this.#ctx = ctx;
    this.#insert = ctx.db.prepare(
      'INSERT INTO captured_requests (sync_id, destination_id, method, url, body, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.#list = ctx.db.prepare(
      'SELECT id, sync_id, destination_id, method, url, body, created_at FROM captured_requests' +
        ' WHERE sync_id = ? AND id > ? ORDER BY id LIMIT ?',
    );
  }

  async captureRequests(requests: NewCapturedRequest[]): Promise<void> {
    if (requests.length === 0) return;
    const createdAt = this.#ctx.now();
    writeTransaction(this.#ctx.db, () => {
      for (const r of requests) {
        this.#insert.run(r.syncId, r.destinationId, r.method, r.url, bodyText(r), createdAt);
      }
    });
  }

  async listCapturedRequests(
    syncId: string,
    opts: { limit?: number; afterId?: number } = {},
  ): Promise<CapturedRequest[]> {
    return this.#list.all(syncId, opts.afterId ?? 0, limitOf(opts.limit)).map(capturedRequestOf);
  }
}
