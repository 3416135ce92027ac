import type { CanonicalRecord, LoggedRecord } from '../../events/record.ts';
import { json, num, type Row } from '../columns.ts';

/** A row of `SELECT seq, received_at, record FROM event_log`. */
export function loggedRecordOf(row: Row, sourceId: string): LoggedRecord {
  return {
    seq: num(row, 'seq'),
    sourceId,
    receivedAt: num(row, 'received_at'),
    record: json<CanonicalRecord>(row, 'record'),
  };
}
