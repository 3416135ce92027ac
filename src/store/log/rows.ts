import type { CanonicalRecord, LoggedRecord } from '../../events/record.ts';
import { json, num, type Row, str } from '../columns.ts';

/** A row of `SELECT seq, received_at, record FROM event_log`. */
export function loggedRecordOf(row: Row, sourceId: string): LoggedRecord {
  return {
    seq: num(row, 'seq'),
    sourceId,
    receivedAt: num(row, 'received_at'),
    record: json<CanonicalRecord>(row, 'record'),
  };
}

/**
 * A record's event_key column: its `insert_id`. An empty one is no key: it would make every keyless
 * record of a sender that writes '' a duplicate of the first.
 */
export function eventKeyOf(record: CanonicalRecord): string | null {
  const key = record.insert_id;
  return typeof key === 'string' && key !== '' ? key : null;
}

/** The distinct keys of `records`: what appendNew looks up in the log, in one query. */
export function eventKeysOf(records: readonly CanonicalRecord[]): string[] {
  const keys = new Set<string>();
  for (const record of records) {
    const key = eventKeyOf(record);
    if (key !== null) keys.add(key);
  }
  return [...keys];
}

/**
 * Which of `records` appendNew appends and which it leaves out, as indexes into `records`: it leaves
 * out those whose key is `logged` already or came earlier in `records`.
 */
export function splitNew(
  records: readonly CanonicalRecord[],
  logged: Iterable<string>,
): { fresh: number[]; skipped: number[] } {
  const seen = new Set(logged);
  const fresh: number[] = [];
  const skipped: number[] = [];
  records.forEach((record, index) => {
    const key = eventKeyOf(record);
    if (key !== null && seen.has(key)) return void skipped.push(index);
    if (key !== null) seen.add(key);
    fresh.push(index);
  });
  return { fresh, skipped };
}

/** Rows of `SELECT event_key FROM event_log`. */
export function eventKeysIn(rows: readonly Row[]): string[] {
  return rows.map((row) => str(row, 'event_key'));
}
