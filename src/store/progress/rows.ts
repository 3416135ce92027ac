import { num, str, type Row } from '../columns.ts';
import type { LaneCursors, StreamPosition } from './store.ts';

/** A row of `SELECT sync_id, source_id, MIN(cursor) AS cursor … GROUP BY sync_id, source_id`. */
export function streamPositionOf(row: Row): StreamPosition {
  return { syncId: str(row, 'sync_id'), sourceId: str(row, 'source_id'), cursor: num(row, 'cursor') };
}

/** The rows of `SELECT lanes, cursor FROM sync_progress … ORDER BY lane`; undefined when none. */
export function laneCursorsOf(rows: readonly Row[]): LaneCursors | undefined {
  if (rows.length === 0) return undefined;
  return { lanes: num(rows[0], 'lanes'), cursors: rows.map((r) => num(r, 'cursor')) };
}

/** The stored cursors when they already have the layout `lanes` asks for; otherwise undefined. */
export function cursorsIfLaidOut(current: LaneCursors | undefined, lanes: number): number[] | undefined {
  return current?.lanes === lanes && current.cursors.length === lanes ? current.cursors : undefined;
}

/** The lowest lane cursor: everything at or below it is settled. */
export function lowestCursor(found: LaneCursors | undefined): number | undefined {
  return found && Math.min(...found.cursors);
}
