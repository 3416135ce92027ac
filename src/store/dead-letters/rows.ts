import type { CanonicalRecord } from '../../events/record.ts';
import { json, num, optNum, optStr, type Row, str } from '../columns.ts';
import type { DeadLetter } from './store.ts';

/** A row of `SELECT id, sync_id, seq, record, reason, detail, created_at, redriven_at FROM dead_letters`. */
export function deadLetterOf(row: Row): DeadLetter {
  const letter: DeadLetter = {
    id: num(row, 'id'),
    syncId: str(row, 'sync_id'),
    seq: num(row, 'seq'),
    record: json<CanonicalRecord>(row, 'record'),
    reason: str(row, 'reason'),
    createdAt: num(row, 'created_at'),
  };
  const detail = optStr(row, 'detail');
  if (detail !== undefined) letter.detail = detail;
  const redrivenAt = optNum(row, 'redriven_at');
  if (redrivenAt !== undefined) letter.redrivenAt = redrivenAt;
  return letter;
}
