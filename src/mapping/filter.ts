/** A sync's event filter (names, where-conditions) applied to one record. */
import type { EventFilter, WhereCondition } from '../config/schema.ts';
import type { CanonicalRecord } from '../events/record.ts';
import { identifierValue } from './person-identifier.ts';
import { readPath } from './record-path.ts';
import { canonicalJson } from './stable-hash.ts';

/**
 * Whether a record passes a sync's event filter: `undefined` when it does, else the reason, which
 * becomes a "filtered" counter. Checks run cheapest and most general first, so a record excluded by
 * type is counted as such even if it would also fail a condition.
 *
 * `eventNames` are the names the record is known by: the name sent to Customer.io and, when it differs,
 * the source's own event type (`[Amplitude] Page Viewed`, `Viewed Home Screen`…). A type filter matches
 * if any of them is listed, so users can write either the Amplitude/Segment name or the name they see
 * in Customer.io.
 */
export function filterRecord(
  record: CanonicalRecord,
  filter: EventFilter,
  eventNames: string | readonly string[],
): string | undefined {
  const names = typeof eventNames === 'string' ? [eventNames] : eventNames;
  if (filter.eventTypes !== undefined && !names.some((name) => filter.eventTypes?.includes(name))) {
    return 'event_type_not_included';
  }
  if (names.some((name) => filter.excludeEventTypes.includes(name))) return 'event_type_excluded';
  if (filter.requireUserId && identifierValue(record.user_id) === undefined) return 'no_user_id';
  for (let i = 0; i < filter.where.length; i++) {
    const condition = filter.where[i];
    if (condition !== undefined && !conditionHolds(readPath(record, condition.property), condition)) {
      return `condition_not_met:${i}`;
    }
  }
  return undefined;
}

/**
 * One `where` condition against the value found at its path. Absent and `null` are the same thing
 * ("no value"): `exists` fails, `not_equals` / `not_in` / `not_exists` hold. Comparisons are by type:
 * `'5'` does not equal `5`, and `greater_than` / `less_than` only ever match numbers, because guessing
 * at a string's numeric meaning would make a filter's outcome depend on how a client typed a value.
 */
export function conditionHolds(actual: unknown, condition: WhereCondition): boolean {
  const present = actual !== undefined && actual !== null;
  const expected = condition.value;
  switch (condition.op) {
    case 'exists':
      return present;
    case 'not_exists':
      return !present;
    case 'equals':
      return present && sameValue(actual, expected);
    case 'not_equals':
      return !present || !sameValue(actual, expected);
    case 'in':
      return present && Array.isArray(expected) && expected.some((item) => sameValue(actual, item));
    case 'not_in':
      return !present || !Array.isArray(expected) || !expected.some((item) => sameValue(actual, item));
    case 'contains':
      if (typeof actual === 'string') return typeof expected === 'string' && actual.includes(expected);
      if (Array.isArray(actual)) return actual.some((item) => sameValue(item, expected));
      return false;
    case 'greater_than':
      return isNumber(actual) && isNumber(expected) && actual > expected;
    case 'less_than':
      return isNumber(actual) && isNumber(expected) && actual < expected;
  }
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Strict equality for scalars; structural equality (key order ignored) for objects and arrays. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    return canonicalJson(a) === canonicalJson(b);
  }
  return a === b;
}
