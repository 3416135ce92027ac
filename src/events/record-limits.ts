import type { CanonicalRecord } from './record.ts';

/**
 * Limits every record must fit, whichever API it came in by: checked at ingest on each raw item
 * (before anything recursive looks at it) and on the record it normalizes to, and again by delivery
 * before mapping, so a record stored before a limit existed (or written to the log by other means)
 * cannot take a worker down either. Pure: no I/O, no recursion (the input is untrusted).
 *
 * The figures leave room above what the vendors' own clients send (Segment caps an item at 32 KB,
 * Amplitude cuts strings at 1024 characters and nests at most 40 levels) while keeping one record
 * small enough that a batch of them cannot exhaust a worker.
 */

/**
 * A whole record (or raw item) as compact JSON, in UTF-8 bytes. Above Customer.io's 100 KB of event
 * data, so an event Customer.io would refuse is still stored and dead-lettered with that reason by
 * delivery; a batch of 500 records stays under 64 MB.
 */
export const MAX_RECORD_BYTES = 128 * 1024;
/** Keys of any one object, and elements of any one array, inside a record. */
export const MAX_PROPERTIES = 1000;
/**
 * Any string value or key, in UTF-16 code units (JavaScript string length). As large as a whole
 * Segment item, so a call Segment accepts is never refused for one long string alone.
 */
export const MAX_STRING_LENGTH = 32 * 1024;
/** Nesting of objects and arrays below a record's top-level field (`{}` is 1), as Amplitude counts it. */
export const MAX_DEPTH = 40;

export type RecordLimit = 'record_size' | 'property_count' | 'string_length' | 'depth';

export interface LimitViolation {
  limit: RecordLimit;
  /** The top-level field the problem is under (`event_properties`, `context`, …), or '' for the whole value. */
  field: string;
  /** Where exactly: `event_properties.cart.items[3]`. */
  path: string;
  /** What is wrong, without the path: `nested deeper than 40 levels`. */
  detail: string;
  /** The path and the detail: `event_properties.a: nested deeper than 40 levels`. */
  message: string;
}

export interface ValueLimitOptions {
  /** Skip string lengths (Amplitude truncates long strings instead of rejecting them). */
  strings?: boolean;
  /** Also measure the value's compact JSON size against this many bytes. */
  maxBytes?: number;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

function topField(path: string): string {
  const match = /^[^.[]*/.exec(path);
  return match?.[0] ?? '';
}

function violation(limit: RecordLimit, path: string, message: string): LimitViolation {
  return {
    limit,
    field: topField(path),
    path,
    detail: message,
    message: path === '' ? message : `${path}: ${message}`,
  };
}

/**
 * Walks a raw item (a parsed JSON value) iteratively and returns the first limit it breaks:
 * depth below its top-level fields, keys or elements per object or array, string length. With
 * `maxBytes`, the compact JSON size too, measured only once the walk has shown the value is
 * shallow (JSON.stringify recurses).
 */
export function checkValueLimits(
  value: unknown,
  options: ValueLimitOptions = {},
): LimitViolation | undefined {
  const strings = options.strings ?? true;
  // [value, path, depth of the object holding it]; the top value is depth -1 so its fields sit at 0.
  const stack: Array<[unknown, string, number]> = [[value, '', -1]];
  while (stack.length > 0) {
    const [current, path, parentDepth] = stack.pop()!;
    if (typeof current === 'string') {
      // A string longer than the whole size budget is a size problem first (UTF-8 never has fewer
      // bytes than UTF-16 code units), and is reported as one.
      if (options.maxBytes !== undefined && current.length > options.maxBytes) {
        return violation(
          'record_size',
          '',
          `at least ${current.length} bytes as JSON, over the ${options.maxBytes} byte limit`,
        );
      }
      if (strings && current.length > MAX_STRING_LENGTH) {
        return violation('string_length', path, `string is longer than ${MAX_STRING_LENGTH} characters`);
      }
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    const depth = parentDepth + 1;
    if (depth > MAX_DEPTH) return violation('depth', path, `nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(current)) {
      if (current.length > MAX_PROPERTIES) {
        return violation('property_count', path, `more than ${MAX_PROPERTIES} elements`);
      }
      for (let i = current.length - 1; i >= 0; i--) stack.push([current[i], join(path, i), depth]);
      continue;
    }
    const keys = Object.keys(current);
    if (keys.length > MAX_PROPERTIES) {
      return violation('property_count', path, `more than ${MAX_PROPERTIES} properties`);
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      if (strings && key.length > MAX_STRING_LENGTH) {
        return violation(
          'string_length',
          join(path, key),
          `key is longer than ${MAX_STRING_LENGTH} characters`,
        );
      }
      stack.push([(current as Record<string, unknown>)[key], join(path, key), depth]);
    }
  }
  if (options.maxBytes !== undefined) {
    const bytes = jsonBytes(value);
    if (bytes > options.maxBytes) {
      return violation('record_size', '', `${bytes} bytes as JSON, over the ${options.maxBytes} byte limit`);
    }
  }
  return undefined;
}

/** Compact JSON size in UTF-8 bytes; call only on a value whose depth is known to be bounded. */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
}

/**
 * A canonical record against every limit (depth, property count, string length, MAX_RECORD_BYTES).
 * Returns the first violation, or undefined when the record fits. Accepts anything, so a record
 * read back from the log needs no trust either.
 */
export function checkRecordLimits(
  record: CanonicalRecord | unknown,
  /** What the caller knows of the record's JSON size (the line it was read from): when that fits, it is not measured again. */
  sizeAtMost?: number,
): LimitViolation | undefined {
  if (sizeAtMost !== undefined && sizeAtMost <= MAX_RECORD_BYTES) return checkValueLimits(record);
  return checkValueLimits(record, { maxBytes: MAX_RECORD_BYTES });
}
