/**
 * Reading columns out of a row, for both backends: node:sqlite returns integers as numbers (or
 * bigints), node-postgres returns BIGINT as text to keep 64-bit values exact. One set of readers
 * lets each concern decode its rows once (its rows.ts) for both.
 */
export type Row = Readonly<Record<string, unknown>>;

export function num(row: Row | undefined, column: string): number {
  const value = row?.[column];
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value !== '' && !Number.isNaN(Number(value))) return Number(value);
  throw new Error(`store: expected a number in column ${column}, got ${typeof value}`);
}

export function str(row: Row, column: string): string {
  const value = row[column];
  if (typeof value === 'string') return value;
  throw new Error(`store: expected text in column ${column}, got ${typeof value}`);
}

export function optNum(row: Row, column: string): number | undefined {
  return row[column] === null || row[column] === undefined ? undefined : num(row, column);
}

export function optStr(row: Row, column: string): string | undefined {
  return row[column] === null || row[column] === undefined ? undefined : str(row, column);
}

/** A JSON text column, parsed. The store keeps JSON as text on both backends (see migrations). */
export function json<T>(row: Row, column: string): T {
  return JSON.parse(str(row, column)) as T;
}
