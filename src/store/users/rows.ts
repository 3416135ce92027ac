import { json, num, optNum, type Row, str } from '../columns.ts';
import type { UserSnapshot } from './store.ts';

/** Rows of `SELECT user_key, attributes, state, seq, history_time FROM user_snapshots`, by user key. */
export function userSnapshotsOf(rows: readonly Row[]): Map<string, UserSnapshot> {
  const snapshots = new Map<string, UserSnapshot>();
  for (const row of rows) {
    snapshots.set(str(row, 'user_key'), {
      attributes: json<Record<string, unknown>>(row, 'attributes'),
      state: json<Record<string, unknown>>(row, 'state'),
      seq: num(row, 'seq'),
    });
    const historyTime = optNum(row, 'history_time');
    if (historyTime !== undefined) snapshots.get(str(row, 'user_key'))!.historyTime = historyTime;
  }
  return snapshots;
}

/** Rows of `SELECT user_key FROM suppressed_users`. */
export function userKeysOf(rows: readonly Row[]): Set<string> {
  return new Set(rows.map((row) => str(row, 'user_key')));
}
