import { chunks, limitOf, type PostgresContext } from '../postgres-db.ts';
import { bodyText, capturedRequestOf } from './rows.ts';
import type { CapturedRequest, CaptureStore, NewCapturedRequest } from './store.ts';

export class PostgresCaptures implements CaptureStore {
  readonly #ctx: PostgresContext;

  constructor(ctx: PostgresContext) {
    this.#ctx = ctx;
  }

  async captureRequests(requests: NewCapturedRequest[]): Promise<void> {
    if (requests.length === 0) return;
    const createdAt = this.#ctx.now();
    await this.#ctx.tx(async (c) => {
      for (const part of chunks(requests)) {
        await c.query(
          'INSERT INTO captured_requests (sync_id, destination_id, method, url, body, created_at)' +
            ' SELECT s, d, m, u, b, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])' +
            ' WITH ORDINALITY AS t (s, d, m, u, b, n) ORDER BY n',
          [
            part.map((r) => r.syncId),
            part.map((r) => r.destinationId),
            part.map((r) => r.method),
            part.map((r) => r.url),
            part.map(bodyText),
            createdAt,
          ],
        );
      }
    });
  }

  async listCapturedRequests(
    syncId: string,
    opts: { limit?: number; afterId?: number } = {},
  ): Promise<CapturedRequest[]> {
    const { rows } = await this.#ctx.pool.query(
      'SELECT id, sync_id, destination_id, method, url, body, created_at FROM captured_requests' +
        ' WHERE sync_id = $1 AND id > $2 ORDER BY id LIMIT $3',
      [syncId, opts.afterId ?? 0, limitOf(opts.limit)],
    );
    return rows.map(capturedRequestOf);
  }
}
