import { json, num, type Row, str } from '../columns.ts';
import type { CapturedRequest } from './store.ts';

/** A row of `SELECT id, sync_id, destination_id, method, url, body, created_at FROM captured_requests`. */
export function capturedRequestOf(row: Row): CapturedRequest {
  return {
    id: num(row, 'id'),
    syncId: str(row, 'sync_id'),
    destinationId: str(row, 'destination_id'),
    method: str(row, 'method'),
    url: str(row, 'url'),
    body: json<unknown>(row, 'body'),
    createdAt: num(row, 'created_at'),
  };
}

/** The body column's text. JSON.stringify(undefined) is undefined: such a body reads back as null. */
export function bodyText(request: { body: unknown }): string {
  return JSON.stringify(request.body) ?? 'null';
}
