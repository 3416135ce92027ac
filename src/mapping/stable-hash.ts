/** Canonical JSON (sorted keys) and stable hashes of values, with the depth bound every walk shares. */
import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level, so two equal values always serialize the same way
 * whatever order their keys were inserted in (ingest and redrive may build records differently).
 * `undefined` members are left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? 'null';
}

/** Hex sha256 of the canonical JSON: the identity of a record that came without a source dedupe id. */
export function stableHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex');
}

/**
 * How deep a value may nest before a walk over it gives up. Ingest refuses records nested deeper
 * than this, so only a record logged before that rule (or by another writer) can reach it; the walk
 * then throws instead of overflowing the stack, and delivery dead-letters that one record.
 */
export const MAX_WALK_DEPTH = 128;

export class TooDeepError extends RangeError {
  override name = 'TooDeepError';
  constructor() {
    super(`value nests deeper than ${MAX_WALK_DEPTH} levels`);
  }
}

function sortKeys(value: unknown, depth = 0): unknown {
  if (depth > MAX_WALK_DEPTH) throw new TooDeepError();
  if (Array.isArray(value)) return value.map((item) => sortKeys(item, depth + 1));
  if (value === null || typeof value !== 'object') return value;
  // Dates and the like: sort what JSON.stringify would have written, not their (empty) own keys.
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return sortKeys(toJSON.call(value), depth + 1);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort())
    out[key] = sortKeys((value as Record<string, unknown>)[key], depth + 1);
  return out;
}
