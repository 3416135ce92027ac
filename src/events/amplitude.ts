import { z } from 'zod';

import { isPlainObject } from '../json-values.ts';
import type { CanonicalRecord } from './record.ts';
import { checkRecordLimits, checkValueLimits, type LimitViolation } from './record-limits.ts';

/**
 * Amplitude's ingest payloads (HTTP V2 `/2/httpapi`, Batch `/batch`, Identify `/identify`, Group
 * Identify `/groupidentify`) and the rules Amplitude documents for them. Pure: no I/O, no clock.
 *
 * Per-item problems are reported in Amplitude's own error-map shape (field name → item indexes),
 * because the Amplitude SDKs read those maps to decide which events to drop and which to retry.
 */

export const DEFAULT_MIN_ID_LENGTH = 5;
/** Amplitude caps every string value at 1024 characters. */
export const MAX_STRING_LENGTH = 1024;
/** Property objects may nest at most 40 levels. */
export const MAX_PROPERTY_DEPTH = 40;

/**
 * Id values Amplitude answers with a 400 (its "Invalid IDs" list). `""` is the two-character string
 * of quotes, not the empty string: an empty id is simply too short and is removed like any short id.
 * Matched case-insensitively, since `NULL` or `Unknown` are the same placeholder as `null`.
 */
export const BLOCKED_IDS: ReadonlySet<string> = new Set([
  'anonymous',
  'nil',
  'none',
  'null',
  'n/a',
  'na',
  'undefined',
  'unknown',
  '""',
  '00000000-0000-0000-0000-000000000000',
  '{}',
  'lmy47d',
  '0',
  '-1',
]);

export function isBlockedId(id: string): boolean {
  return BLOCKED_IDS.has(id.trim().toLowerCase());
}

const Properties = z.record(z.string(), z.unknown());

/** Identifiers and dedupe keys are never truncated: cutting them could merge distinct users or events. */
const Identifier = z.string().max(MAX_STRING_LENGTH);

/**
 * One event of an upload. Unknown keys are kept (`looseObject`): device fields, revenue fields, the
 * SDKs' `library`, `plan`, `ingestion_metadata` and whatever Amplitude adds next all travel on.
 */
export const AmplitudeEventSchema = z.looseObject({
  event_type: z.string().min(1).max(MAX_STRING_LENGTH),
  user_id: Identifier.nullish(),
  device_id: Identifier.nullish(),
  /** Epoch milliseconds; any other format (an ISO string, a fraction) is a 400 at Amplitude. */
  time: z.int().min(0).nullish(),
  insert_id: z.string().min(1).max(MAX_STRING_LENGTH).nullish(),
  event_properties: Properties.nullish(),
  user_properties: Properties.nullish(),
  group_properties: Properties.nullish(),
  groups: Properties.nullish(),
});
export type AmplitudeEvent = z.infer<typeof AmplitudeEventSchema>;

/** One object of the Identify API's `identification` parameter. */
export const AmplitudeIdentificationSchema = z.looseObject({
  user_id: Identifier.nullish(),
  device_id: Identifier.nullish(),
  user_properties: Properties.nullish(),
  groups: Properties.nullish(),
});
export type AmplitudeIdentification = z.infer<typeof AmplitudeIdentificationSchema>;

/** One object of the Group Identify API's `identification` parameter. */
export const AmplitudeGroupIdentificationSchema = z.looseObject({
  group_type: z.string().min(1).max(MAX_STRING_LENGTH),
  group_value: z.string().min(1).max(MAX_STRING_LENGTH),
  group_properties: Properties.nullish(),
});
export type AmplitudeGroupIdentification = z.infer<typeof AmplitudeGroupIdentificationSchema>;

/**
 * The HTTP V2 / Batch request body. The SDKs also send `client_upload_time` and `request_metadata`;
 * those and any other top-level keys are tolerated and ignored.
 */
export const AmplitudeUploadSchema = z.looseObject({
  api_key: z.string().min(1),
  events: z.array(z.unknown()),
  options: z.looseObject({ min_id_length: z.int().min(1).nullish() }).nullish(),
  client_upload_time: z.unknown().optional(),
  request_metadata: z.unknown().optional(),
});

export interface AmplitudeUpload {
  apiKey: string;
  events: unknown[];
  minIdLength: number;
}

/** A request-level problem: Amplitude's `error` string, and `missing_field` when a key is absent. */
export interface AmplitudeRequestProblem {
  error: string;
  missingField?: string;
}

export const ERROR_MISSING_FIELD = 'Request missing required field';
export const ERROR_INVALID_EVENT_JSON = 'Invalid event JSON';
export const ERROR_INVALID_FIELDS = 'Invalid field values on some events';
export const ERROR_INVALID_ID_LENGTH = 'Invalid id length for user_id or device_id';

export type UploadParse =
  { ok: true; upload: AmplitudeUpload } | { ok: false; problem: AmplitudeRequestProblem };

/**
 * Reads the envelope of an HTTP V2 / Batch body. An absent `api_key` or `events` is reported as a
 * missing field (which makes the SDKs drop the batch instead of retrying it); the api key itself is
 * checked by the caller, which knows the configured sources.
 */
export function parseAmplitudeUpload(body: unknown): UploadParse {
  const object = isPlainObject(body) ? body : {};
  for (const field of ['api_key', 'events'] as const) {
    const value = object[field];
    if (value === undefined || value === null || value === '') {
      return { ok: false, problem: { error: ERROR_MISSING_FIELD, missingField: field } };
    }
  }
  const parsed = AmplitudeUploadSchema.safeParse(object);
  if (!parsed.success) {
    const field = String(parsed.error.issues[0]?.path[0] ?? 'events');
    return { ok: false, problem: { error: `${ERROR_INVALID_EVENT_JSON}: ${field} has the wrong type` } };
  }
  const { api_key, events, options } = parsed.data;
  return {
    ok: true,
    upload: { apiKey: api_key, events, minIdLength: options?.min_id_length ?? DEFAULT_MIN_ID_LENGTH },
  };
}

/** Field name → indexes of the items that failed on it, in Amplitude's response shape. */
export type IndexMap = Record<string, number[]>;

export interface AmplitudeItemErrors {
  /** Amplitude's `error` string for the whole response. */
  error: string;
  events_with_invalid_fields: IndexMap;
  events_with_missing_fields: IndexMap;
  events_with_invalid_id_lengths: IndexMap;
  /** Not Amplitude's: index → which record limit the item breaks, for whoever reads the 400. */
  events_over_limits?: Record<string, string>;
}

export type ItemsCheck<T> = { ok: true; items: T[] } | { ok: false; errors: AmplitudeItemErrors };

/** Collects per-item problems; an item is rejected when it has at least one. */
class ErrorMaps {
  readonly invalid: IndexMap = {};
  readonly missing: IndexMap = {};
  readonly idLengths: IndexMap = {};
  readonly overLimits: Record<string, string> = {};
  private failed = new Set<number>();

  add(map: IndexMap, field: string, index: number): void {
    const list = (map[field] ??= []);
    if (!list.includes(index)) list.push(index);
    this.failed.add(index);
  }

  has(index: number): boolean {
    return this.failed.has(index);
  }

  get empty(): boolean {
    return this.failed.size === 0;
  }

  /** A limit violation: an invalid field as the SDKs read it, and the reason beside it. */
  addLimit(found: LimitViolation, index: number, field: string): void {
    this.add(this.invalid, field, index);
    this.overLimits[String(index)] ??= found.message;
  }

  result(): AmplitudeItemErrors {
    const only = (map: IndexMap) => Object.keys(map).length > 0;
    const kinds = [only(this.invalid), only(this.missing), only(this.idLengths)].filter(Boolean).length;
    let error = ERROR_INVALID_FIELDS;
    if (kinds === 1 && only(this.missing)) error = ERROR_MISSING_FIELD;
    if (kinds === 1 && only(this.idLengths)) error = ERROR_INVALID_ID_LENGTH;
    const result: AmplitudeItemErrors = {
      error,
      events_with_invalid_fields: this.invalid,
      events_with_missing_fields: this.missing,
      events_with_invalid_id_lengths: this.idLengths,
    };
    if (Object.keys(this.overLimits).length > 0) result.events_over_limits = this.overLimits;
    return result;
  }
}

/** Records zod issues as missing (the key is absent or null) or invalid (present, wrong value). */
function addSchemaIssues(
  maps: ErrorMaps,
  item: Record<string, unknown>,
  issues: z.core.$ZodIssue[],
  index: number,
) {
  for (const issue of issues) {
    const field = String(issue.path[0] ?? 'event');
    const value = item[field];
    maps.add(value === undefined || value === null ? maps.missing : maps.invalid, field, index);
  }
}

const ID_FIELDS = ['user_id', 'device_id'] as const;

/**
 * Amplitude's id rules: a blocklisted id makes the item invalid; a too-short id is removed, and only
 * an item left with neither id is rejected (`events_with_invalid_id_lengths`, or missing fields when
 * it never had one). Returns the ids that survive.
 */
function checkIds(
  maps: ErrorMaps,
  item: { user_id?: string | null; device_id?: string | null },
  index: number,
  minIdLength: number,
): { user_id?: string; device_id?: string } {
  const kept: { user_id?: string; device_id?: string } = {};
  const short: string[] = [];
  let present = 0;
  for (const field of ID_FIELDS) {
    const id = item[field];
    if (id === undefined || id === null) continue;
    present++;
    if (isBlockedId(id)) maps.add(maps.invalid, field, index);
    else if ([...id].length < minIdLength) short.push(field);
    else kept[field] = id;
  }
  if (maps.has(index)) return kept;
  if (present === 0) {
    for (const field of ID_FIELDS) maps.add(maps.missing, field, index);
  } else if (kept.user_id === undefined && kept.device_id === undefined) {
    for (const field of short) maps.add(maps.idLengths, field, index);
  }
  return kept;
}

/**
 * Depth and property counts of the raw item, before zod or cleanValue look inside it: nothing
 * unbounded reaches a recursive walk. String lengths are left to truncation (Amplitude cuts long
 * strings, it does not reject them); the normalized record is checked in full later.
 */
function checkShape(maps: ErrorMaps, item: Record<string, unknown>, index: number): boolean {
  const found = checkValueLimits(item, { strings: false });
  if (found) maps.addLimit(found, index, found.field || 'event');
  return found === undefined;
}

/** The Amplitude field a canonical record's path comes from (device fields live in `context`). */
function amplitudeField(path: string): string {
  const [top, next] = path.split(/[.[]/, 2);
  if (top === 'context' && next) return next.replace(/\]$/, '');
  if (top === 'anonymous_id') return 'device_id';
  return top || 'event';
}

/**
 * The normalized records of an upload against the record limits (size, strings, …), reported in
 * the same error maps with each record's event index.
 */
export function checkAmplitudeRecordLimits(
  records: readonly CanonicalRecord[],
): AmplitudeItemErrors | undefined {
  const maps = new ErrorMaps();
  records.forEach((record, index) => {
    const found = checkRecordLimits(record);
    if (found) maps.addLimit(found, index, amplitudeField(found.path));
  });
  return maps.empty ? undefined : maps.result();
}

/**
 * The loop every check shares: each raw item must be an object, within the shape limits, that
 * `schema` accepts; `finish` applies the kind's own rules and returns the cleaned item, or undefined
 * once it has recorded why not. Any invalid item fails the whole request.
 */
function checkItems<S extends z.ZodType, T>(
  raws: readonly unknown[],
  notAnObject: string,
  schema: S,
  finish: (maps: ErrorMaps, item: z.infer<S>, index: number) => T | undefined,
): ItemsCheck<T> {
  const maps = new ErrorMaps();
  const items: T[] = [];
  raws.forEach((raw, index) => {
    if (!isPlainObject(raw)) {
      maps.add(maps.invalid, notAnObject, index);
      return;
    }
    if (!checkShape(maps, raw, index)) return;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      addSchemaIssues(maps, raw, parsed.error.issues, index);
      return;
    }
    const item = finish(maps, parsed.data, index);
    if (item !== undefined) items.push(item);
  });
  return maps.empty ? { ok: true, items } : { ok: false, errors: maps.result() };
}

/**
 * Validates the events of an upload. Either every event is valid (returned cleaned: short ids
 * removed, over-long string values truncated, null keys dropped) or the indexes of the invalid ones
 * are returned; the caller answers 400 and stores nothing (see src/ingest for why).
 */
export function checkAmplitudeEvents(
  events: readonly unknown[],
  minIdLength: number,
): ItemsCheck<AmplitudeEvent> {
  return checkItems(events, 'event', AmplitudeEventSchema, (maps, event, index) => {
    const ids = checkIds(maps, event, index, minIdLength);
    if (maps.has(index)) return undefined;
    const { user_id: _u, device_id: _d, ...rest } = event;
    return { ...(cleanValue(rest) as AmplitudeEvent), ...ids };
  });
}

/**
 * Amplitude's user property operations (Identify API, `$identify` events), in the order Amplitude
 * applies them within one `user_properties` object (see src/mapping/amplitude-user-operations.ts).
 */
export const AMPLITUDE_OPERATION_ORDER = [
  '$clearAll',
  '$unset',
  '$set',
  '$setOnce',
  '$add',
  '$append',
  '$prepend',
  '$preInsert',
  '$postInsert',
  '$remove',
] as const;

export const AMPLITUDE_USER_PROPERTY_OPERATIONS: ReadonlySet<string> = new Set(AMPLITUDE_OPERATION_ORDER);

/** The Identify API forbids mixing operations and plain properties in one `user_properties`. */
function mixesOperations(properties: Record<string, unknown> | null | undefined): boolean {
  if (!properties) return false;
  const keys = Object.keys(properties);
  const ops = keys.filter((k) => AMPLITUDE_USER_PROPERTY_OPERATIONS.has(k)).length;
  return ops > 0 && ops < keys.length;
}

/** Validates Identify API objects with the same id rules and error maps as events. */
export function checkAmplitudeIdentifications(
  identifications: readonly unknown[],
  minIdLength = DEFAULT_MIN_ID_LENGTH,
): ItemsCheck<AmplitudeIdentification> {
  return checkItems(identifications, 'identification', AmplitudeIdentificationSchema, (maps, item, index) => {
    const ids = checkIds(maps, item, index, minIdLength);
    if (mixesOperations(item.user_properties)) maps.add(maps.invalid, 'user_properties', index);
    if (maps.has(index)) return undefined;
    const { user_id: _u, device_id: _d, ...rest } = item;
    return { ...(cleanValue(rest) as AmplitudeIdentification), ...ids };
  });
}

/** Validates Group Identify API objects (`group_type`, `group_value`, `group_properties`). */
export function checkAmplitudeGroupIdentifications(
  identifications: readonly unknown[],
): ItemsCheck<AmplitudeGroupIdentification> {
  return checkItems(
    identifications,
    'identification',
    AmplitudeGroupIdentificationSchema,
    (maps, item, index) => (maps.has(index) ? undefined : (cleanValue(item) as AmplitudeGroupIdentification)),
  );
}

/** How many group properties a Group Identify request sets (operations count their inner keys). */
export function countGroupProperties(items: readonly AmplitudeGroupIdentification[]): number {
  let count = 0;
  for (const item of items) {
    for (const [key, value] of Object.entries(item.group_properties ?? {})) {
      count += key.startsWith('$') && isPlainObject(value) ? Object.keys(value).length : 1;
    }
  }
  return count;
}

export type IdentificationParse = { ok: true; items: unknown[] } | { ok: false; missing: boolean };

/**
 * Reads the `identification` parameter: JSON text holding one object or an array of them (a client
 * that posts JSON may also pass the value itself). Amplitude calls any failure here `missing_event`.
 */
export function parseIdentification(value: unknown): IdentificationParse {
  if (value === undefined || value === null || value === '') return { ok: false, missing: true };
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      return { ok: false, missing: false };
    }
  }
  if (Array.isArray(parsed)) {
    return parsed.length > 0 ? { ok: true, items: parsed } : { ok: false, missing: true };
  }
  if (isPlainObject(parsed)) return { ok: true, items: [parsed] };
  return { ok: false, missing: false };
}

/** Nesting depth of objects and arrays (a scalar is 0, `{}` is 1). Iterative: input is untrusted. */
export function depthOf(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    const level = depth + 1;
    if (level > max) max = level;
    if (level > MAX_PROPERTY_DEPTH) return level;
    for (const child of Object.values(current)) stack.push([child, level]);
  }
  return max;
}

/** Cuts a string to MAX_STRING_LENGTH characters (code points, so no surrogate pair is split). */
export function truncateString(value: string): string {
  if (value.length <= MAX_STRING_LENGTH) return value;
  const chars = [...value];
  return chars.length <= MAX_STRING_LENGTH ? value : chars.slice(0, MAX_STRING_LENGTH).join('');
}

/**
 * Truncates string values to Amplitude's cap (Amplitude stores them cut, it does not reject them),
 * and drops keys whose value is null or undefined at the top level so records stay minimal. Depth is
 * bounded by the MAX_PROPERTY_DEPTH check that runs first.
 */
function cleanValue(value: unknown, top = true): unknown {
  if (typeof value === 'string') return truncateString(value);
  if (Array.isArray(value)) return value.map((v) => cleanValue(v, false));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (top && (v === undefined || v === null)) continue;
      out[key] = cleanValue(v, false);
    }
    return out;
  }
  return value;
}
